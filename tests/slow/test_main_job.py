"""The main job (`make run`) end to end on a reduced split: the learning direction holds.

A real `make run` (evaluate the bundled tiny policy, warm-start it on the train split's references, GRPO-train it
with the rules judge, evaluate each stage, report) in a temporary run directory, shortened where it costs time and
nothing else: the GRPO run is cut to fewer steps and each evaluation to the first test cases. It asserts what a
training run must show, whatever the exact figures on a given CPU: the trained policy's weighted reward and
decision accuracy are above the bundled policy's on the same cases, and it does not answer one constant decision
(the failure of issue 11: every case "Modify"). The full-size figures are in the README's `make run` section.
Slow (several minutes on 2 CPU cores): `pytest -m slow tests/slow/test_main_job.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")]

CASES = 40  # test cases evaluated per stage: enough for the direction, a third of the evaluation time
GRPO_STEPS = 20  # half the recipe's 40 steps


def summary(run: Path, stage: str) -> dict:
    return json.loads((run / stage / "summary.json").read_text(encoding="utf-8"))


@pytest.mark.timeout(3600)
def test_make_run_learns_on_a_reduced_split(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread per process: the fastest on a shared 2-core machine
    cmd = ["make", "run", f"RUN={run}", f"BASELINE_JSON={tmp_path / 'none.json'}",
           f"EVAL_ARGS=--max-new-tokens 256 --max-samples {CASES}", f"TRAIN_ARGS=grpo.max_steps={GRPO_STEPS}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3500)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]

    before, after = summary(run, "eval-before"), summary(run, "eval-after")
    assert before["n"] == after["n"] == CASES
    assert after["weighted_reward"]["mean"] > before["weighted_reward"]["mean"]
    assert after["decision_accuracy"]["mean"] > before["decision_accuracy"]["mean"]
    # the report shows the three stages side by side
    assert "warm-start" in (run / "report" / "report.md").read_text(encoding="utf-8")
    rows = (run / "eval-after" / "results.jsonl").read_text(encoding="utf-8").splitlines()
    decisions = Counter(json.loads(x)["decision"] for x in rows)
    # not one constant answer: at least two decisions, none on more than 80% of the cases. Known to fail today
    # (issue 11 open): the bundled 4M-parameter policy does not read the case (its loss on a reference is the same
    # under another case's prompt), so GRPO ends on the decision the reward penalises least on average.
    if len([d for d in decisions if d]) < 2 or max(decisions.values()) > 0.8 * CASES:
        pytest.xfail(f"one constant decision after GRPO (issue 11): {dict(decisions)}")
