"""Model x dataset split -> results.jsonl (one row per case) and summary.json, scored by the JudgeEngine.

Generates a validation for every record of DIR/{split}.jsonl (batched, greedy by default), parses it, scores
all six metrics with the configured judge, and writes:
  results.jsonl  {id, prompt, output, decision, gold_decision, scores: {k: {score, justification}},
                  weighted_reward, flags, parse_ok, output_tokens, judge_error}, appended batch by batch
  run.json       the run's settings (model, data, split, judge, decoding), which --resume checks
  summary.json   written last: run details, amr_grpo.evaluation.summary numbers (means with bootstrap 95% CIs, decision
                 accuracy, per-class F1, confusion matrix, parse failures, lengths) and the judge ledger.
Cheap checks (options, split, judge key, model path), then one request to an LLM judge (amr_grpo.judge.probe),
come before the model loads. Ctrl-C keeps the rows written so far (results.jsonl without summary.json = an
interrupted run); `resume=True` skips their ids.
`outputs=` rescores the outputs of an earlier results.jsonl with another judge (rules vs LLM on the same outputs).
Try it: amr-grpo evaluate --model assets/tiny-policy --data runs/main/data --split test --judge rules -o runs/eval
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from amr_grpo.config import load
from amr_grpo.data.splits import read_split
from amr_grpo.errors import UserError
from amr_grpo.evaluation.generation import GenerationSettings, Generator
from amr_grpo.evaluation.summary import read_results, summarize
from amr_grpo.judge import build_engine, judge_identity, probe
from amr_grpo.judge.base import EvalRequest, JudgeError
from amr_grpo.judge.engine import JudgeConfig
from amr_grpo.metrics import METRIC_KEYS, rubric_version
from amr_grpo.output_format import parse_validation
from amr_grpo.preflight import check_generation, check_judge_key, check_model_path
from amr_grpo.reading import read_ground_truth
from amr_grpo.records import Verdict

SPLITS = ("train", "val", "test")
SCORE_CHUNK = 64  # outputs scored (and written) at once when rescoring; generating, one generation batch
RUN_FILE = "run.json"  # the settings of the run in this directory, checked by --resume


def load_split(data_dir: str | Path, split: str) -> list[dict[str, Any]]:
    """DIR/{split}.jsonl -> GRPO records, checked: a bad line raises UserError naming file, line and field."""
    if split not in SPLITS:
        raise UserError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    return read_split(Path(data_dir) / f"{split}.jsonl")


def judge_config(backend: str, config_file: str | Path | None = None, overrides: list[str] | None = None,
                 no_probe: bool = False) -> Any:
    """JudgeConfig: defaults -> YAML file -> key=value overrides, then the backend (and --no-probe) given on the
    command line."""
    cfg = dataclasses.replace(load(JudgeConfig, config_file, list(overrides or [])), backend=backend)
    return dataclasses.replace(cfg, probe=False) if no_probe else cfg


def _row(rec: dict[str, Any], output: str, output_tokens: int | None, verdict: Verdict | JudgeError) -> dict[str, Any]:
    v = parse_validation(output)
    gold = read_ground_truth(rec.get("ground_truth")).decision
    ok = isinstance(verdict, Verdict)
    return {
        "id": str(rec["id"]),
        "prompt": rec["prompt"],
        "output": output,
        "decision": v.decision.value if v.decision else None,
        "gold_decision": gold.value if gold else None,
        "scores": {k: {"score": s.score, "justification": s.justification} for k, s in verdict.scores.items()}
        if ok else {},
        "weighted_reward": verdict.weighted_reward if ok else None,
        "flags": {"injection_suspected": verdict.injection_suspected, "critical_error": verdict.critical_error,
                  "case_unread": verdict.case_unread} if ok else {},
        "parse_ok": v.parse_ok,
        "output_tokens": output_tokens,
        "judge_error": None if ok else f"{verdict.kind}: {verdict}",
    }


def _request(rec: dict[str, Any], output: str) -> EvalRequest:
    checklist = rec.get("checklist")  # stored by prepare: what an LLM judge is shown, as during training
    return EvalRequest(patient_case=rec["context"], model_output=output, ground_truth=rec.get("ground_truth"),
                       metrics=METRIC_KEYS, checklist=checklist if isinstance(checklist, dict) else None)


def _earlier_outputs(path: Path, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, tuple]]:
    """The records that an earlier results.jsonl answered (in the dataset's order) and {id: (output, tokens)}."""
    by_id = {r["id"]: r for r in read_results(path)}
    kept = [r for r in records if str(r["id"]) in by_id]
    if not kept:
        raise UserError(f"{path}: none of its ids are in this split", "rescore with the same --data and --split")
    return kept, {str(r["id"]): (by_id[str(r["id"])]["output"], by_id[str(r["id"])]["output_tokens"]) for r in kept}


def _identity(model: Any, base_model: str | None, outputs: Any, data_dir: Any, split: str, judge_cfg: Any,
              gen: GenerationSettings) -> dict[str, Any]:
    """What makes two evaluations the same run: --resume refuses to mix rows made under different settings."""
    backend, judge_model, _ = judge_identity(judge_cfg)
    decoding = {k: v for k, v in dataclasses.asdict(gen).items() if k not in ("progress", "batch_size")}
    return {"model": str(model) if model is not None else None, "base_model": base_model,
            "outputs_from": str(outputs) if outputs is not None else None, "data": str(Path(data_dir).resolve()),
            "split": split, "judge_backend": backend, "judge_model": judge_model, "generation": decoding}


def _read_kept(path: Path) -> list[dict[str, Any]]:
    """The rows an interrupted run left. Rows are written whole and flushed per batch, but a killed process
    (SIGKILL, power loss) can leave half a last line: it is dropped from the file, the rows before it are kept."""
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        head, _, last = text.rpartition("\n")
        try:
            json.loads(last)
            text += "\n"
        except json.JSONDecodeError:
            text = head + "\n" if head else ""
            print(f"{path}: dropped an incomplete last line (the run was killed mid-write)", file=sys.stderr)
        _write_atomic(path, text)
    return read_results(path)


def _prior_rows(out: Path, identity: dict[str, Any], resume: bool, force: bool, wanted: list[str]) -> list[dict]:
    """Rows of an earlier run in `out` that this run keeps: all of them with --resume (checked to be the same
    run), none otherwise. An interrupted run (results.jsonl without summary.json) is never overwritten silently."""
    results = out / "results.jsonl"
    if not results.is_file() or results.stat().st_size == 0:
        return []
    if not resume:
        if not (out / "summary.json").is_file() and not force:
            n = sum(1 for line in results.read_text(encoding="utf-8").splitlines() if line.strip())
            raise UserError(f"{out} holds an interrupted evaluation ({n} cases in results.jsonl, no summary.json)",
                            "add --resume to continue it, or --force to start over")
        return []
    run_file = out / RUN_FILE
    if run_file.is_file():
        try:
            saved = json.loads(run_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            saved = {}
        for key, value in _flat(identity).items():
            was = _flat(saved).get(key, value)
            if was != value:
                raise UserError(f"--resume: {out} was evaluated with {key} {was!r}, this run has {value!r}",
                                "resume with the same settings, or write to another -o DIR")
    rows = list({r["id"]: r for r in _read_kept(results)}.values())  # an id written twice counts once
    wanted_ids = set(wanted)
    extra = [r["id"] for r in rows if r["id"] not in wanted_ids]
    if extra:
        raise UserError(f"--resume: {results} has {len(extra)} case(s) that this run does not cover, e.g. "
                        f"{extra[0]!r}", "resume with the same --data, --split and --max-samples")
    return rows


def _flat(d: dict[str, Any]) -> dict[str, Any]:
    """{"generation": {"seed": 0}} -> {"generation.seed": 0}: one level, enough for the run identity."""
    return {f"{k}.{k2}" if isinstance(v, dict) else k: v2 for k, v in d.items()
            for k2, v2 in (v.items() if isinstance(v, dict) else [(None, v)])}


class EvaluationInterrupted(KeyboardInterrupt):
    """Ctrl-C during evaluate: what was kept on disk, and where. Still a KeyboardInterrupt for callers."""

    def __init__(self, kept: int, total: int, results: Path):
        super().__init__(f"interrupted: {kept} of {total} cases kept in {results}")
        self.kept, self.total, self.results = kept, total, results


def evaluate(model: str | Path | None, data_dir: str | Path, out_dir: str | Path, judge_cfg: Any,
             split: str = "test", max_samples: int | None = None, gen: GenerationSettings | None = None,
             base_model: str | None = None, outputs: str | Path | None = None, resume: bool = False,
             force: bool = False) -> dict[str, Any]:
    """Generate (or reuse `outputs`), score, write results.jsonl and summary.json to out_dir; return the summary.

    Every cheap check (options, the split, the judge's key, the model path, the output dir), then the judge's
    probe, runs before the model loads. Rows are appended to results.jsonl as each batch is scored; Ctrl-C raises EvaluationInterrupted
    with the count kept, and resume=True skips the case ids already there. The summary covers all rows."""
    if (model is None) == (outputs is None):
        raise UserError("give --model PATH (to generate) or --outputs RESULTS_JSONL (to rescore)" if model is None
                        else "give --model or --outputs, not both")
    gen = gen or GenerationSettings()
    check_generation(gen)
    if max_samples is not None and max_samples < 1:
        raise UserError(f"--max-samples must be at least 1, got {max_samples}")
    records = load_split(data_dir, split)[:max_samples]
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"-o {out}: is a file", "give a directory for results.jsonl and summary.json")
    check_judge_key(judge_cfg)
    earlier: dict[str, tuple] | None = None
    if outputs is not None:
        records, earlier = _earlier_outputs(Path(outputs), records)
    else:
        check_model_path(model)
    identity = _identity(model, base_model, outputs, data_dir, split, judge_cfg, gen)
    done = _prior_rows(out, identity, resume, force, [str(r["id"]) for r in records])
    done_ids = {r["id"] for r in done}
    todo = [r for r in records if str(r["id"]) not in done_ids]

    probe(judge_cfg)  # the judge answers (one cheap request; judge_cfg.probe=False skips it): last, as it may wait
    engine = build_engine(judge_cfg)
    results = out / "results.jsonl"
    written: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    try:
        generator = None
        if todo and earlier is None:
            generator = Generator.from_pretrained(model, base_model=base_model,
                                                  **{**dataclasses.asdict(gen), "progress": False})
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").unlink(missing_ok=True)  # from here until the end, the run reads as interrupted
        _write_atomic(out / RUN_FILE, json.dumps({**identity, "started_at": _now()}, indent=2) + "\n")
        if not done:
            results.write_text("", encoding="utf-8")
        _run_batches(todo, generator, earlier, engine, results, gen, len(done), len(records), written)
    except KeyboardInterrupt:
        raise EvaluationInterrupted(len(done) + len(written), len(records), results) from None
    gen_s = time.perf_counter() - t0

    by_id = {r["id"]: r for r in [*done, *written]}
    rows = [by_id[str(r["id"])] for r in records]
    summary = {
        **{k: identity[k] for k in ("model", "base_model", "outputs_from")},
        "data": str(data_dir),
        "split": split,
        "judge_backend": engine.judge.backend,
        "judge_model": engine.judge.model,
        "rubric_version": rubric_version(),
        "generation": dataclasses.asdict(gen),
        "seconds": round(gen_s, 3),  # generation and scoring in this session
        "resumed_rows": len(done),  # rows kept from an interrupted run; the ledger covers this session's calls
        "created_at": _now(),
        **summarize(rows),
        "judge_ledger": engine.ledger.to_dict(),
    }
    _write_atomic(results, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))  # dataset order
    _write_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary


def _run_batches(todo: list[dict[str, Any]], generator: Generator | None, earlier: dict[str, tuple] | None,
                 engine: Any, results: Path, gen: GenerationSettings, done: int, total: int,
                 written: list[dict[str, Any]]) -> None:
    """Generate (or look up) one batch, score it, append its rows to results.jsonl and flush; `written` grows
    as rows reach the disk, so after Ctrl-C it says exactly what was kept."""
    from tqdm.auto import tqdm

    step = gen.batch_size if generator is not None else SCORE_CHUNK
    with asyncio.Runner() as runner, results.open("a", encoding="utf-8") as f, \
            tqdm(total=total, initial=done, desc="evaluating", unit="case", disable=not gen.progress,
                 file=sys.stderr) as bar:
        try:
            for i in range(0, len(todo), step):
                batch = todo[i : i + step]
                if generator is not None:
                    outs = [(g.text, g.output_tokens) for g in generator.generate([r["prompt"] for r in batch])]
                else:
                    outs = [earlier[str(r["id"])] for r in batch]
                verdicts = runner.run(engine.score_many([_request(r, o) for r, (o, _) in zip(batch, outs)]))
                rows = [_row(r, o, n, v) for r, (o, n), v in zip(batch, outs, verdicts)]
                f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
                f.flush()
                written.extend(rows)
                bar.update(len(batch))
        finally:
            runner.run(engine.aclose())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
