"""Two hand-written evaluation runs (results.jsonl + summary.json) whose numbers the report tests compute by hand:
the report's own tests (tests/evaluation/test_report.py) and the report opened in Chromium (tests/service/test_web.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from amr_grpo.metrics import METRIC_KEYS


def row(i: int, ca: int, other: int, reward: float, decision: str | None, gold: str, tokens: int,
         parse_ok: bool = True, output: str = "base answer") -> dict:
    scores = {k: {"score": other, "justification": f"{k} ok"} for k in METRIC_KEYS}
    scores["clinical_accuracy"] = {"score": ca, "justification": "hand-written"}
    return {"id": f"c{i}", "prompt": "p", "output": f"{output} {i}", "decision": decision, "gold_decision": gold,
            "scores": scores, "weighted_reward": reward, "flags": {}, "parse_ok": parse_ok, "output_tokens": tokens}


# base: clinical_accuracy 2,3,4,3 -> mean 3.00; other metrics all 2; rewards 0.4,0.5,0.6,0.5 -> mean 0.500;
# decisions right on c0 and c3 only -> accuracy 2/4 = 0.50; c2 has no decision -> parse failure 1/4 = 0.25.
BASE = [
    row(0, 2, 2, 0.4, "Approve", "Approve", 100),
    row(1, 3, 2, 0.5, "Approve", "Modify", 120),
    row(2, 4, 2, 0.6, None, "Reject", 140, parse_ok=False),
    row(3, 3, 2, 0.5, "Modify", "Modify", 160),
]
# trained: clinical_accuracy 4,5,4,5 -> 4.50; other metrics all 5; rewards 0.8,0.9,0.8,0.9 -> 0.850;
# every decision right -> 1.00; no parse failure.
TRAINED = [
    row(0, 4, 5, 0.8, "Approve", "Approve", 90, output="trained answer"),
    row(1, 5, 5, 0.9, "Modify", "Modify", 95, output="trained answer"),
    row(2, 4, 5, 0.8, "Reject", "Reject", 100, output="trained answer"),
    row(3, 5, 5, 0.9, "Modify", "Modify", 105, output="trained answer"),
]


def write_run(d: Path, rows: list[dict], **meta) -> Path:
    d.mkdir(parents=True)
    (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "summary.json").write_text(json.dumps({"model": meta.get("model", "m"), "split": "test",
                                                "judge_backend": "rules", "judge_ledger": {"calls": 4}}))
    return d
