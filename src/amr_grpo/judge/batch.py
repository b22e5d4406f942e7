"""Score a JSONL file of evaluation requests: what `amr-grpo judge` runs.

Each input line is the HTTP contract's request ({patient_case, model_output, ground_truth, metrics}), plus, to join
the results back to your data, an optional `id` (string or integer) and an optional free `meta` object; both are
echoed in that line's output. Each output line is the contract's response with `line` (the input line number) and
the `id` / `meta` given, or `{"error": {"code", "message", "field"}, "line": N}` for a line that is not a valid
request (reported as `FILE:LINE: ...`) or that the judge could not score. Blank lines are skipped.
Results are written as they finish (each line flushed), so an interrupted run keeps what was done; a finished run
leaves the file in input order. `resume=True` keeps the scored lines already in the output (same line number, and
the same id when the line has one) and scores the rest. The ledger lands beside the output (`OUT.ledger.json`,
added to the previous one on resume). Files are written readable by their owner only (0600).
Try it: amr-grpo judge --input tests/data/judge_requests.jsonl --judge rules -o /tmp/out.jsonl
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from amr_grpo.errors import UserError
from amr_grpo.judge.base import EvalRequest, JudgeError
from amr_grpo.judge.contract import EvaluationRequestModel, error_body, first_error
from amr_grpo.judge.ledger import Ledger
from amr_grpo.judge.redact import scrub
from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.records import Verdict

_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([km]?)\s*[-_ ]?\s*(calls?|tokens?|tok|t)?\s*$", re.I)


@dataclass
class Line:
    number: int  # 1-based line number in the input file
    request: EvalRequest | None = None
    error: str | None = None  # "FILE:LINE: ..." when the line is not a valid request
    echo: dict[str, Any] = field(default_factory=dict)  # the line's `id` and `meta`, written back with its result
    field: str | None = None  # the field at fault (after `echo`: this name hides dataclasses.field below it)


@dataclass
class FileRun:
    """The outcome of a file: one entry per non-blank line, in input order."""

    lines: list[Line]
    outcomes: list[Verdict | JudgeError | None] = field(default_factory=list)  # None: a bad line, or not scored
    ledger: dict[str, Any] = field(default_factory=dict)
    output: Path | None = None
    ledger_path: Path | None = None
    resumed: int = 0  # scored lines kept from the output of an earlier run
    interrupted: bool = False  # stopped by Ctrl-C: `written` lines are in the output, the rest to do
    written: int = 0  # lines in the output file

    @property
    def bad_lines(self) -> list[Line]:
        return [ln for ln in self.lines if ln.error]

    @property
    def failed(self) -> list[tuple[Line, JudgeError]]:
        return [(ln, o) for ln, o in zip(self.lines, self.outcomes, strict=True) if isinstance(o, JudgeError)]

    @property
    def ok(self) -> bool:
        return not self.bad_lines and not self.failed and not self.interrupted

    def summary(self) -> dict[str, Any]:
        verdicts = [o for o in self.outcomes if isinstance(o, Verdict)]
        means = {}
        for k in METRIC_KEYS:
            xs = [v.scores[k].score for v in verdicts if k in v.scores]
            if xs:
                means[k] = round(statistics.fmean(xs), 3)
        rewards = sorted(v.weighted_reward for v in verdicts)
        dist = {}
        if rewards:
            q = statistics.quantiles(rewards, n=4, method="inclusive") if len(rewards) > 1 else [rewards[0]] * 3
            dist = {
                "mean": statistics.fmean(rewards),
                "min": rewards[0],
                "p25": q[0],
                "median": q[1],
                "p75": q[2],
                "max": rewards[-1],
            }
            dist = {k: round(x, 4) for k, x in dist.items()}
        return {
            "lines": len(self.lines),
            "scored": len(verdicts),
            "bad_lines": len(self.bad_lines),
            "could_not_score": dict(Counter(e.kind for _, e in self.failed)),
            "by_backend": dict(Counter(v.backend for v in verdicts)),
            "cached": sum(v.cached for v in verdicts),
            "metric_means": means,
            "weighted_reward": dist,
            "injection_suspected": sum(v.injection_suspected for v in verdicts),
            "critical_error": sum(v.critical_error for v in verdicts),
            "case_unread": sum(v.case_unread for v in verdicts),
        }


def parse_budget(text: str) -> tuple[int, int]:
    """'200' or '200 calls' -> (200, 0); '50k tokens', '50000t' -> (0, 50000)."""
    m = _BUDGET.match(text or "")
    if not m:
        raise UserError(f"--budget {text!r}: expected a number of calls ('200') or tokens ('50k tokens')")
    n = float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    unit = (m.group(3) or "calls").lower()
    return (int(n), 0) if unit.startswith("call") else (0, int(n))


def read_requests(path: str | Path, default_metrics: str | None = None) -> list[Line]:
    """Every non-blank line as a request, or an error naming FILE:LINE and the field. Never raises for bad lines."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"input file not found: {p}")
    lines: list[Line] = []
    with p.open(encoding="utf-8", errors="replace") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as e:
                lines.append(Line(number, error=f"{p}:{number}: not valid JSON ({e.msg}, column {e.colno})"))
                continue
            if not isinstance(data, dict):
                lines.append(Line(number, error=f"{p}:{number}: expected a JSON object, got {type(data).__name__}"))
                continue
            if default_metrics is not None and "metrics" not in data:
                data["metrics"] = default_metrics
            echo, problem = _echo(data)
            if problem:
                lines.append(Line(number, error=f"{p}:{number}: {problem[1]}", field=problem[0]))
                continue
            try:
                req = EvaluationRequestModel.model_validate(data).to_eval_request()
            except ValidationError as e:
                where, message = first_error(e)
                lines.append(Line(number, error=f"{p}:{number}: {message}", field=where))
                continue
            lines.append(Line(number, request=req, echo=echo))
    return lines


def _echo(data: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """Take `id` and `meta` out of a request line: ({id, meta given}, None) or ({}, (field, problem))."""
    echo: dict[str, Any] = {}
    if "id" in data:
        v = data.pop("id")
        if isinstance(v, bool) or not isinstance(v, (str, int)) or v == "":
            return {}, ("id", "id: expected a non-empty string or an integer")
        echo["id"] = v
    if "meta" in data:
        v = data.pop("meta")
        if not isinstance(v, dict):
            return {}, ("meta", "meta: expected a JSON object")
        echo["meta"] = v
    return echo, None


def _record(line: Line, outcome: Verdict | JudgeError | None) -> dict[str, Any]:
    head = {"id": line.echo["id"]} if "id" in line.echo else {}
    tail = {"meta": line.echo["meta"]} if "meta" in line.echo else {}
    if isinstance(outcome, Verdict):
        body = outcome.to_dict()
    elif isinstance(outcome, JudgeError):
        body = error_body(f"judge_{outcome.kind}", f"the judge could not score this request: {scrub(outcome)}")
    else:
        body = error_body("validation_error", line.error or "invalid request", line.field)
    return {**head, **body, **tail, "line": line.number}


def _dump(record: dict[str, Any]) -> str:
    text = json.dumps(record, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate echoed from the input (a JSON "\\ud800"): escape it
        text = json.dumps(record)
    return text + "\n"


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """All of `records`, atomically (a reader never sees half a file), 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)  # mkstemp: mode 0600
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(_dump(r) for r in records)
    os.replace(tmp, path)


def ledger_path_for(output: str | Path) -> Path:
    out = Path(output)
    return out.with_name(out.name.removesuffix(".jsonl") + ".ledger.json")


def done_lines(output: Path, lines: list[Line]) -> dict[int, dict[str, Any]]:
    """The scored records of an earlier run's output that still fit `lines`: same line number, and the same id
    when the line has one. A torn last line (a run killed mid-write) or an error record is not done."""
    if not output.is_file():
        return {}
    by_number = {ln.number: ln for ln in lines if ln.request is not None}
    done: dict[int, dict[str, Any]] = {}
    for raw in output.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError:
            continue
        ln = by_number.get(rec.get("line")) if isinstance(rec, dict) else None
        if ln is not None and "scores" in rec and rec.get("id") == ln.echo.get("id"):
            done[ln.number] = rec
    return done


def judge_file(
    lines: list[Line],
    output: str | Path,
    engine: Any,
    group: bool = False,
    progress: Callable[[int], None] | None = None,
    resume: bool = False,
) -> FileRun:
    """Score the valid lines with `engine`, writing each result to OUT as it finishes; then OUT in input order and
    OUT.ledger.json. On Ctrl-C (KeyboardInterrupt) the run stops, keeps what was written, writes the ledger and
    returns with `interrupted` set."""
    run = FileRun(lines, output=Path(output))
    out = run.output
    kept = done_lines(out, lines) if resume else {}
    run.resumed = len(kept)
    todo = [ln for ln in lines if ln.request is not None and ln.number not in kept]
    outcomes: dict[int, Verdict | JudgeError] = {n: Verdict.from_dict(r) for n, r in kept.items()}
    _write_jsonl(out, [kept[n] for n in sorted(kept)] + [_record(ln, None) for ln in lines if ln.error])
    run.written = len(kept) + len(run.bad_lines)

    with out.open("a", encoding="utf-8") as f:

        def write(i: int, outcome: Verdict | JudgeError) -> None:
            outcomes[todo[i].number] = outcome
            f.write(_dump(_record(todo[i], outcome)))
            f.flush()
            run.written += 1

        async def go() -> None:
            try:
                await engine.score_many([ln.request for ln in todo], group=group, progress=progress, on_result=write)
            finally:
                await engine.aclose()

        try:
            if todo:
                asyncio.run(go())
        except KeyboardInterrupt:
            run.interrupted = True
    run.outcomes = [outcomes.get(ln.number) for ln in lines]
    if not run.interrupted:
        _write_jsonl(out, [_record(ln, o) if ln.number not in kept else kept[ln.number]
                           for ln, o in zip(lines, run.outcomes, strict=True)])
    ledger = engine.ledger
    previous = ledger_path_for(out)
    if resume and previous.is_file():
        try:
            ledger.merge(Ledger.load(previous))
        except (ValueError, KeyError, TypeError) as e:
            ledger.note(f"the earlier run's ledger {previous} could not be read ({e}); this one counts this run only")
    run.ledger = ledger.to_dict()
    run.ledger_path = ledger.write(previous)
    return run
