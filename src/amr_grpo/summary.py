"""Evaluation results -> summary numbers: per-metric means with bootstrap 95% intervals, weighted reward
(mean, interval, bootstrap standard error), decision accuracy and confusion matrix, parse failures, lengths.

Pure (numpy only): `amr-grpo evaluate` writes its summary.json with it and `amr-grpo report` recomputes the
same numbers from results.jsonl, so a report never disagrees with the rows it shows.
Try it: python -m amr_grpo.summary runs/eval-base/results.jsonl
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from amr_grpo.errors import UserError
from amr_grpo.metrics import METRIC_KEYS

DECISIONS = ("Approve", "Modify", "Reject")
UNPARSED = "unparsed"  # the predicted-decision column for outputs with no readable decision
N_BOOT = 2000  # bootstrap resamples; the interval's Monte Carlo error is ~1% of its width at this size
ROW_KEYS = ("id", "output", "decision", "gold_decision", "scores", "weighted_reward", "parse_ok", "output_tokens")


def bootstrap(values: Sequence[float], n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Mean, percentile-bootstrap 95% interval and bootstrap standard error of the mean; n = 0 gives Nones."""
    x = np.asarray([v for v in values if v is not None], dtype=float)  # (n,)
    if x.size == 0:
        return {"mean": None, "ci95": None, "se": None, "n": 0}
    idx = np.random.default_rng(seed).integers(0, x.size, size=(n_boot, x.size))  # (n_boot, n)
    means = x[idx].mean(axis=1)  # (n_boot,)
    lo, hi = np.percentile(means, [2.5, 97.5])
    se = float(means.std(ddof=1)) if n_boot > 1 else 0.0
    return {"mean": float(x.mean()), "ci95": [float(lo), float(hi)], "se": se, "n": int(x.size)}


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Correlation of output length and reward (the verbosity-hacking check); None when undefined."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len(pairs) < 3:
        return None
    a = np.asarray(pairs, dtype=float)  # (n, 2)
    if a[:, 0].std() == 0 or a[:, 1].std() == 0:
        return None
    return float(np.corrcoef(a[:, 0], a[:, 1])[0, 1])


def confusion(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Gold decision (rows) x predicted decision (columns, plus 'unparsed'); rows without a gold decision skipped."""
    cols = [*DECISIONS, UNPARSED]
    counts = [[0] * len(cols) for _ in DECISIONS]
    for r in rows:
        gold, pred = r.get("gold_decision"), r.get("decision")
        if gold not in DECISIONS:
            continue
        counts[DECISIONS.index(gold)][cols.index(pred if pred in DECISIONS else UNPARSED)] += 1
    return {"gold": list(DECISIONS), "predicted": cols, "counts": counts}


def summarize(rows: Sequence[dict[str, Any]], metrics: Sequence[str] = METRIC_KEYS) -> dict[str, Any]:
    """The numbers of summary.json from results rows. A metric a judge could not score is left out of that
    metric's mean (its n says how many were scored), never counted as 0."""
    per_metric = {}
    for k in metrics:
        vals = [r["scores"][k]["score"] for r in rows if k in (r.get("scores") or {})]
        per_metric[k] = bootstrap(vals)
    rewards = [r.get("weighted_reward") for r in rows]
    gold_rows = [r for r in rows if r.get("gold_decision") in DECISIONS]
    correct = [1.0 if r.get("decision") == r["gold_decision"] else 0.0 for r in gold_rows]
    lengths = [r.get("output_tokens") for r in rows]
    known_len = [n for n in lengths if n is not None]
    return {
        "n": len(rows),
        "metrics": per_metric,
        "weighted_reward": bootstrap(rewards),
        "decision_accuracy": bootstrap(correct),
        "confusion_matrix": confusion(rows),
        "parse_failure_rate": (sum(1 for r in rows if not r.get("parse_ok")) / len(rows)) if rows else None,
        "judge_failures": sum(1 for r in rows if r.get("weighted_reward") is None),
        "mean_output_tokens": float(np.mean(known_len)) if known_len else None,
        "length_reward_correlation": pearson(lengths, rewards),
    }


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """results.jsonl -> rows, checked: a line that is not a JSON object or lacks a field raises UserError
    naming the file, the line and the field."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such results file", "point at a directory written by `amr-grpo evaluate`")
    rows = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{p}:{n}: not JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{p}:{n}: expected a JSON object")
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise UserError(f"{p}:{n}: missing field {missing[0]!r}", f"a results row has {', '.join(ROW_KEYS)}")
        if not isinstance(row["scores"], dict):
            raise UserError(f"{p}:{n}: field 'scores' must be an object")
        for k, v in row["scores"].items():
            if not isinstance(v, dict) or not isinstance(v.get("score"), (int, float)) or isinstance(v["score"], bool):
                raise UserError(f"{p}:{n}: field 'scores.{k}.score' must be a number")
        wr = row["weighted_reward"]
        if wr is not None and (not isinstance(wr, (int, float)) or math.isnan(wr)):
            raise UserError(f"{p}:{n}: field 'weighted_reward' must be a number or null")
        rows.append(row)
    return rows


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m amr_grpo.summary RESULTS_JSONL")
    sys.stdout.write(json.dumps(summarize(read_results(sys.argv[1])), indent=2) + "\n")
