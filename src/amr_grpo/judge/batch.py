"""Score a JSONL file of evaluation requests: what `amr-grpo judge` runs.

Each input line is the HTTP contract's request ({patient_case, model_output, ground_truth, metrics}); each output line,
in input order, is the contract's response, or `{"error": {"code", "message", "field"}, "line": N}` for a line that is
not a valid request (reported as `FILE:LINE: ...`) or that the judge could not score. Blank lines are skipped. The
output is written atomically and the ledger lands beside it (`OUT.ledger.json`).
Try it: amr-grpo judge --input tests/data/judge_requests.jsonl --backend rules -o /tmp/out.jsonl
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
from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.records import Verdict

_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([km]?)\s*[-_ ]?\s*(calls?|tokens?|tok|t)?\s*$", re.I)


@dataclass
class Line:
    number: int  # 1-based line number in the input file
    request: EvalRequest | None = None
    error: str | None = None  # "FILE:LINE: ..." when the line is not a valid request
    field: str | None = None


@dataclass
class FileRun:
    """The outcome of a file: one entry per non-blank line, in input order."""

    lines: list[Line]
    outcomes: list[Verdict | JudgeError | None] = field(default_factory=list)  # None for a bad line
    ledger: dict[str, Any] = field(default_factory=dict)
    output: Path | None = None
    ledger_path: Path | None = None

    @property
    def bad_lines(self) -> list[Line]:
        return [ln for ln in self.lines if ln.error]

    @property
    def failed(self) -> list[tuple[Line, JudgeError]]:
        return [(ln, o) for ln, o in zip(self.lines, self.outcomes, strict=True) if isinstance(o, JudgeError)]

    @property
    def ok(self) -> bool:
        return not self.bad_lines and not self.failed

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
            try:
                req = EvaluationRequestModel.model_validate(data).to_eval_request()
            except ValidationError as e:
                where, message = first_error(e)
                lines.append(Line(number, error=f"{p}:{number}: {message}", field=where))
                continue
            lines.append(Line(number, request=req))
    return lines


def _record(line: Line, outcome: Verdict | JudgeError | None) -> dict[str, Any]:
    if isinstance(outcome, Verdict):
        return outcome.to_dict()
    if isinstance(outcome, JudgeError):
        body = error_body(f"judge_{outcome.kind}", f"the judge could not score this request: {outcome}")
    else:
        body = error_body("validation_error", line.error or "invalid request", line.field)
    return {**body, "line": line.number}


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def ledger_path_for(output: str | Path) -> Path:
    out = Path(output)
    return out.with_name(out.name.removesuffix(".jsonl") + ".ledger.json")


def judge_file(
    lines: list[Line],
    output: str | Path,
    engine: Any,
    group: bool = False,
    progress: Callable[[int], None] | None = None,
) -> FileRun:
    """Score the valid lines with `engine`, write OUT (one record per line, in order) and OUT.ledger.json."""
    run = FileRun(lines)
    reqs = [ln.request for ln in lines if ln.request is not None]

    async def go() -> list[Verdict | JudgeError]:
        try:
            return await engine.score_many(reqs, group=group, progress=progress)
        finally:
            await engine.aclose()

    scored = iter(asyncio.run(go()) if reqs else [])
    run.outcomes = [next(scored) if ln.request is not None else None for ln in lines]
    run.output = Path(output)
    _write_jsonl(run.output, [_record(ln, o) for ln, o in zip(lines, run.outcomes, strict=True)])
    run.ledger = engine.ledger.to_dict()
    run.ledger_path = engine.ledger.write(ledger_path_for(output))
    return run
