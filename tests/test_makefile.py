"""`make run` re-run after a Ctrl-C at any step continues where it stopped, and draws the red team's reference lines
when bench/reward_hacking.py has written them.

`make -n` prints the commands `make run` would run, for a run directory in each state a Ctrl-C can leave it in
(`-o data`: the data step is taken as done, nothing is installed or prepared); the evaluate, train and report
commands must carry --resume and --baseline-json exactly when that state calls for them. That an interrupted
evaluation is results.jsonl without summary.json is evaluate's contract (tests/evaluation/test_evaluate.py).
Run: .venv/bin/pytest tests/test_makefile.py
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(run: Path, baseline: Path) -> dict[str, str]:
    """The command lines of `make run` for RUN=run, by step."""
    out = subprocess.run(["make", "-n", "-o", "data", "run", f"RUN={run}", f"BASELINE_JSON={baseline}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    steps = {"eval-before": f"-o {run}/eval-before", "warm": "warm start: kept", "eval-warm": f"-o {run}/eval-warm",
             "train": " train ", "eval-after": f"-o {run}/eval-after", "report": " report ",
             "reference": "reference lines"}
    if any(" sft " in x for x in out):  # the warm start runs, or a finished one is kept
        steps["warm"] = " sft "
    return {step: next(x for x in out if mark in x) for step, mark in steps.items()}


def test_a_fresh_run_resumes_nothing_and_has_no_reference_line(tmp_path):
    cmds = dry_run(tmp_path / "run", tmp_path / "bench.json")
    assert not any("--resume" in cmds[s] for s in ("eval-before", "eval-warm", "train", "eval-after"))
    # the warm start runs (SFT on the train split), and GRPO starts from what it wrote
    assert cmds["warm"].startswith(".venv/bin/amr-grpo sft ") and f"output_dir={tmp_path / 'run'}/warm" in cmds["warm"]
    assert f"model.name_or_path={tmp_path / 'run'}/warm " in cmds["train"]
    assert "--baseline-json" not in cmds["report"]
    assert f"none: bench/reward_hacking.py writes {tmp_path / 'bench.json'}" in cmds["reference"]


def test_each_interrupted_step_is_resumed(tmp_path):
    run = tmp_path / "run"
    (run / "eval-before").mkdir(parents=True)  # finished: results and summary
    (run / "eval-before" / "results.jsonl").write_text('{"id": "a"}\n')
    (run / "eval-before" / "summary.json").write_text("{}")
    (run / "train" / "checkpoint-2").mkdir(parents=True)  # a checkpoint to resume from
    (run / "eval-after").mkdir()  # Ctrl-C mid-way: rows kept, no summary.json yet
    (run / "eval-after" / "results.jsonl").write_text('{"id": "a"}\n')
    cmds = dry_run(run, tmp_path / "bench.json")
    # a finished evaluation runs again from the start (the same command, the same results), never --resume
    assert "--resume" not in cmds["eval-before"]
    assert cmds["train"].rstrip().endswith("--resume") and cmds["eval-after"].rstrip().endswith("--resume")
    (run / "eval-after" / "summary.json").write_text("{}")  # and once it finished, it is not resumed again
    assert "--resume" not in dry_run(run, tmp_path / "bench.json")["eval-after"]


def test_a_finished_warm_start_is_kept_and_an_unfinished_one_starts_over(tmp_path):
    run = tmp_path / "run"
    (run / "warm").mkdir(parents=True)  # Ctrl-C during the SFT: a model may be half written, no warm_start.json
    (run / "warm" / "config.json").write_text("{}")
    assert " sft " in dry_run(run, tmp_path / "bench.json")["warm"]
    (run / "warm" / "warm_start.json").write_text("{}")  # written last: the warm start finished
    assert dry_run(run, tmp_path / "bench.json")["warm"] == f'echo "warm start: kept {run}/warm"'


def test_the_red_teams_reference_lines_reach_the_report(tmp_path):
    bench = tmp_path / "reward_hacking.json"
    bench.write_text('[{"name": "best constant", "weighted_reward": 0.31, "split": "test"}]')
    cmds = dry_run(tmp_path / "run", bench)
    assert f"--baseline-json {bench} " in cmds["report"]
    assert cmds["reference"].strip().endswith(f'{bench}"')
