"""The README's multi-GPU command, exactly as written, on 2 CPU processes (gloo), with overrides appended.

The command line is read from the README's GPU quickstart (the line starting `.venv/bin/accelerate launch`), so the
test fails when the README changes to a command that does not run. Appended overrides swap the 8B weights for the
bundled tiny policy, the Groq judge for a fake OpenAI-compatible server on loopback (real HTTP), and shorten the run.
Slow (two interpreters load torch + TRL): `pytest -m slow tests/slow`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from amr_grpo.data.prepare import PrepareOptions, prepare

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def readme_command() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = text.split("## Quickstart with a GPU", 1)[1].split("\n## ", 1)[0]
    lines = [x for x in quickstart.splitlines() if x.startswith(".venv/bin/accelerate launch")]
    assert len(lines) == 1, "the GPU quickstart shows one accelerate command"
    return shlex.split(lines[0])


def test_readme_multi_gpu_command_runs_on_two_cpu_processes(tmp_path):
    cmd = readme_command()
    assert cmd[cmd.index("-m") + 1] == "amr_grpo"  # `-m amr_grpo.cli` fails in every rank: a package is not runnable
    data = tmp_path / "data"
    prepare([ROOT / "data" / "examples" / "alpaca.jsonl"], data, PrepareOptions(val_size=1, test_size=1))
    out = tmp_path / "run"
    with FakeOpenAI() as fake:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "AMR_GRPO_JUDGE_API_KEY": "test-key"}
        overrides = [f"model.name_or_path={ROOT / 'assets/tiny-policy'}", "model.dtype=float32", f"data.dir={data}",
                     f"output_dir={out}", "grpo.max_steps=2", "grpo.bf16=false", "grpo.max_completion_length=48",
                     "grpo.report_to=[none]", "grpo.save_steps=100", "grpo.warmup_steps=0",
                     f"judge.base_url={fake.base_url}", "judge.model=fake-judge", "judge.every_n_steps=1",
                     "judge.cache_path=null"]
        proc = subprocess.run(cmd + overrides, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        requests = len(fake.requests)
    summary = json.loads((out / "train_summary.json").read_text())
    # the recipe: 2 completions of 1 prompt per process; 2 processes x 2 steps = 8 completions
    assert summary["global_step"] == summary["planned_steps"] == 2
    ledger = json.loads((out / "judge_ledger.json").read_text())
    assert [r["stats"]["completions"] for r in ledger["per_rank"]] == [4, 4]
    # group mode: one call per prompt (both completions), every step LLM-judged here: 2 ranks x 2 steps = 4 calls
    assert ledger["judge"]["group_calls"] == ledger["judge"]["calls"] == requests == 4
