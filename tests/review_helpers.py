"""Shared pieces of the clinician-review tests: a small real evaluate run built from shipped cases (their reference
validations and content-free mutations, scored by the real rules judge through `evaluate(outputs=...)`), and a
labels.csv writer.

    run = build_evaluate_run(tmp_path)          # tmp_path/eval: results.jsonl + summary.json, 12 outputs
    write_labels(path, [{"item_id": ..., "reviewer": "ana", "clinical_accuracy": 4, ...}])
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from amr_grpo.data.prepare import PrepareOptions, prepare
from amr_grpo.evaluation.evaluate import evaluate, judge_config
from amr_grpo.review.export import CSV_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "data" / "cases.jsonl"


def first_cases(path: Path, n: int) -> Path:
    """The first n shipped cases, as a file of their own."""
    lines = CASES.read_text(encoding="utf-8").splitlines()[:n]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build_evaluate_run(tmp: Path, n_cases: int = 12) -> Path:
    """A real evaluate run dir over n test cases: even rows answer with the reference validation, odd rows with a
    content-free "Decision: Approve" (the judge scores those near the floor), so decisions and scores vary."""
    data = tmp / "data"
    prepare([first_cases(tmp / "cases.jsonl", n_cases * 2)], data,
            PrepareOptions(test_size=n_cases, val_size=0))
    records = [json.loads(line) for line in (data / "test.jsonl").read_text().splitlines()]
    earlier = tmp / "outputs.jsonl"
    with earlier.open("w", encoding="utf-8") as f:
        for i, r in enumerate(records):
            out = r["reference"] if i % 2 == 0 else "Decision: Approve\nReference: none"
            f.write(json.dumps({"id": r["id"], "output": out, "decision": None, "gold_decision": None, "scores": {},
                                "weighted_reward": None, "parse_ok": True, "output_tokens": 10}) + "\n")
    evaluate(None, data, tmp / "eval", judge_config("rules"), outputs=earlier)
    return tmp / "eval"


def write_labels(path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...] = CSV_COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), restval="")
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return path
