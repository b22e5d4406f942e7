"""Model x dataset split -> results.jsonl (one row per case) and summary.json, scored by the JudgeEngine.

Generates a validation for every record of DIR/{split}.jsonl (batched, greedy by default), parses it, scores
all six metrics with the configured judge, and writes:
  results.jsonl  {id, prompt, output, decision, gold_decision, scores: {k: {score, justification}},
                  weighted_reward, flags, parse_ok, output_tokens, judge_error}
  summary.json   run details, amr_grpo.summary numbers (means with bootstrap 95% CIs, decision accuracy,
                 confusion matrix, parse failures, lengths) and the judge ledger.
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

from amr_grpo.data.splits import read_split
from amr_grpo.errors import UserError
from amr_grpo.generation import GenerationSettings, Generator
from amr_grpo.judge.base import EvalRequest, JudgeError
from amr_grpo.metrics import METRIC_KEYS, rubric_version
from amr_grpo.records import Verdict
from amr_grpo.summary import read_results, summarize

SPLITS = ("train", "val", "test")
SCORE_CHUNK = 64  # requests handed to the engine at once (the progress bar advances per chunk)


def load_split(data_dir: str | Path, split: str) -> list[dict[str, Any]]:
    """DIR/{split}.jsonl -> GRPO records, checked: a bad line raises UserError naming file, line and field."""
    if split not in SPLITS:
        raise UserError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    return read_split(Path(data_dir) / f"{split}.jsonl")


def judge_config(backend: str, config_file: str | Path | None = None, overrides: list[str] | None = None) -> Any:
    """JudgeConfig: defaults -> YAML file -> key=value overrides, then the backend given on the command line."""
    from amr_grpo.config import load
    from amr_grpo.judge.engine import JudgeConfig

    return dataclasses.replace(load(JudgeConfig, config_file, list(overrides or [])), backend=backend)


def _row(rec: dict[str, Any], output: str, output_tokens: int | None, verdict: Verdict | JudgeError) -> dict[str, Any]:
    from amr_grpo.reading import read_ground_truth
    from amr_grpo.judge.parse import parse_validation

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
        "flags": {"injection_suspected": verdict.injection_suspected, "critical_error": verdict.critical_error}
        if ok else {},
        "parse_ok": v.parse_ok,
        "output_tokens": output_tokens,
        "judge_error": None if ok else f"{verdict.kind}: {verdict}",
    }


async def _score(engine: Any, reqs: list[EvalRequest], progress: bool) -> list[Verdict | JudgeError]:
    from tqdm.auto import tqdm

    out: list[Verdict | JudgeError] = []
    try:
        with tqdm(total=len(reqs), desc="judging", unit="output", disable=not progress, file=sys.stderr) as bar:
            for i in range(0, len(reqs), SCORE_CHUNK):
                out += await engine.score_many(reqs[i : i + SCORE_CHUNK])
                bar.update(len(reqs[i : i + SCORE_CHUNK]))
    finally:
        await engine.aclose()
    return out


def score_outputs(records: list[dict[str, Any]], outputs: list[tuple[str, int | None]], cfg: Any,
                  progress: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any], tuple[str, str]]:
    """Score (output, output_tokens) per record on all six metrics -> (results rows, judge ledger dict,
    (judge backend, judge model))."""
    from amr_grpo.judge import build_engine

    engine = build_engine(cfg)
    reqs = [EvalRequest(patient_case=r["context"], model_output=o, ground_truth=r.get("ground_truth"),
                        metrics=METRIC_KEYS) for r, (o, _) in zip(records, outputs)]
    verdicts = asyncio.run(_score(engine, reqs, progress))
    rows = [_row(r, o, n, v) for r, (o, n), v in zip(records, outputs, verdicts)]
    return rows, engine.ledger.to_dict(), (engine.judge.backend, engine.judge.model)


def _earlier_outputs(path: Path, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple]]:
    """The records that an earlier results.jsonl answered, with its outputs, in the dataset's order."""
    by_id = {r["id"]: r for r in read_results(path)}
    kept = [r for r in records if str(r["id"]) in by_id]
    if not kept:
        raise UserError(f"{path}: none of its ids are in this split", "rescore with the same --data and --split")
    return kept, [(by_id[str(r["id"])]["output"], by_id[str(r["id"])]["output_tokens"]) for r in kept]


def evaluate(model: str | Path | None, data_dir: str | Path, out_dir: str | Path, judge_cfg: Any,
             split: str = "test", max_samples: int | None = None, gen: GenerationSettings | None = None,
             base_model: str | None = None, outputs: str | Path | None = None) -> dict[str, Any]:
    """Generate (or reuse `outputs`), score, write results.jsonl and summary.json to out_dir; return the summary."""
    if model is None and outputs is None:
        raise UserError("give --model PATH (to generate) or --outputs RESULTS_JSONL (to rescore)")
    gen = gen or GenerationSettings()
    records = load_split(data_dir, split)
    if max_samples is not None:
        if max_samples < 1:
            raise UserError(f"--max-samples must be at least 1, got {max_samples}")
        records = records[:max_samples]
    t0 = time.perf_counter()
    if outputs is not None:
        records, outs = _earlier_outputs(Path(outputs), records)
    else:
        generator = Generator.from_pretrained(model, base_model=base_model, **dataclasses.asdict(gen))
        outs = [(g.text, g.output_tokens) for g in generator.generate([r["prompt"] for r in records])]
    gen_s = time.perf_counter() - t0
    rows, ledger, (judge_backend, judge_model) = score_outputs(records, outs, judge_cfg, progress=gen.progress)
    summary = {
        "model": str(model) if model is not None else None,
        "base_model": base_model,
        "outputs_from": str(outputs) if outputs is not None else None,
        "data": str(data_dir),
        "split": split,
        "judge_backend": judge_backend,
        "judge_model": judge_model,
        "rubric_version": rubric_version(),
        "generation": dataclasses.asdict(gen),
        "generation_seconds": round(gen_s, 3),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **summarize(rows),
        "judge_ledger": ledger,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "results.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    _write_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
