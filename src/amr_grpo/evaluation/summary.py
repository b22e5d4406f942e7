"""Evaluation results -> summary numbers: per-metric means with bootstrap 95% intervals, weighted reward
(mean, interval, bootstrap standard error), decision accuracy and confusion matrix, per-class precision / recall /
F1 with the majority-class baseline, parse failures, lengths; and the paired bootstrap test of two runs on the
same cases.

Pure (numpy only): `amr-grpo evaluate` writes its summary.json with it and `amr-grpo report` recomputes the
same numbers from results.jsonl, so a report never disagrees with the rows it shows.
Try it: python -m amr_grpo.evaluation.summary runs/eval-base/results.jsonl
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


def paired_bootstrap(before: Sequence[float | None], after: Sequence[float | None], n_boot: int = N_BOOT,
                     seed: int = 0) -> dict[str, Any]:
    """after - before over pairs where both are scored: mean difference, its bootstrap standard error and
    percentile-bootstrap 95% interval (pairs resampled together, so case difficulty cancels out), and a two-sided
    p-value from the bootstrap distribution shifted to a null of no difference (Efron & Tibshirani 1993, section
    16.4), with the +1 correction so p is never 0."""
    d = np.asarray([b - a for a, b in zip(before, after) if a is not None and b is not None], dtype=float)  # (n,)
    if d.size == 0:
        return {"n": 0, "mean_diff": None, "se": None, "ci95": None, "p": None}
    idx = np.random.default_rng(seed).integers(0, d.size, size=(n_boot, d.size))  # (n_boot, n)
    means = d[idx].mean(axis=1)  # (n_boot,)
    lo, hi = np.percentile(means, [2.5, 97.5])
    extreme = np.abs(means - d.mean()) >= abs(d.mean()) - 1e-12  # resamples at least as far from 0 under the null
    se = float(means.std(ddof=1)) if n_boot > 1 else 0.0
    return {"n": int(d.size), "mean_diff": float(d.mean()), "se": se, "ci95": [float(lo), float(hi)],
            "p": float((1 + extreme.sum()) / (n_boot + 1))}


def decision_stats(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-class precision, recall and F1 of the decisions, macro-F1, the majority-class baseline and how much
    of the run one predicted decision covers. Over rows with a gold decision; an unreadable decision counts as
    wrong for every class. F1 is 0 for a class never predicted or never right (scikit-learn's zero_division=0);
    precision is None for a class never predicted. Computed from counts here: it is a few lines of arithmetic
    over a 3-class table, not worth scikit-learn and scipy as dependencies."""
    pairs = [(r["gold_decision"], r.get("decision")) for r in rows if r.get("gold_decision") in DECISIONS]
    n = len(pairs)
    per_class: dict[str, dict[str, Any]] = {}
    for d in DECISIONS:
        tp = sum(g == d and p == d for g, p in pairs)
        predicted = sum(p == d for _, p in pairs)
        support = sum(g == d for g, _ in pairs)
        precision = tp / predicted if predicted else None
        recall = tp / support if support else None
        f1 = 2 * tp / (predicted + support) if predicted + support else None  # = 2PR/(P+R), 0 when tp = 0
        per_class[d] = {"precision": precision, "recall": recall, "f1": f1, "support": support,
                        "predicted": predicted}
    present = [d for d in DECISIONS if per_class[d]["support"] or per_class[d]["predicted"]]
    macro = float(np.mean([per_class[d]["f1"] for d in present])) if present else None
    counts = {d: per_class[d]["support"] for d in DECISIONS}
    majority = max(DECISIONS, key=lambda d: counts[d]) if n else None  # ties: Approve, Modify, Reject order
    baseline = None
    if majority is not None:
        share = counts[majority] / n
        present_gold = [d for d in DECISIONS if counts[d]]
        # always predicting the majority: precision = its share, recall 1 -> F1 2s/(s+1); other classes F1 0
        baseline = {"decision": majority, "accuracy": share,
                    "macro_f1": (2 * share / (share + 1)) / len(present_gold)}
    preds = [r.get("decision") if r.get("decision") in DECISIONS else UNPARSED for r in rows]
    top = max(dict.fromkeys(preds), key=preds.count) if preds else None
    return {"per_class": per_class, "macro_f1": macro, "majority_baseline": baseline,
            "top_prediction": {"decision": top, "share": preds.count(top) / len(preds)} if top else None}


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
        "decisions": decision_stats(rows),
        "parse_failure_rate": (sum(1 for r in rows if not r.get("parse_ok")) / len(rows)) if rows else None,
        "judge_failures": sum(1 for r in rows if r.get("weighted_reward") is None),
        # cases the judge could not match to a guideline syndrome: their decisions were not checked (scored 3)
        "cases_unread": sum(1 for r in rows if (r.get("flags") or {}).get("case_unread")),
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
        sys.exit("usage: python -m amr_grpo.evaluation.summary RESULTS_JSONL")
    sys.stdout.write(json.dumps(summarize(read_results(sys.argv[1])), indent=2) + "\n")
