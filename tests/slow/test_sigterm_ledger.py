"""A training run killed by SIGTERM keeps its judge ledger, and `--resume` adds to it.

Real processes and a real signal: `amr-grpo train` with the LLM judge on a fake OpenAI-compatible server (real
HTTP on loopback, no cache, so every judged completion is one request) is sent SIGTERM once step 2 is logged, then
resumed from its checkpoint. Every request the server answered must be in the final ledger: before this fix a kill
lost the first process's calls. Slow: `pytest -m slow tests/slow`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from amr_grpo.data.prepare import PrepareOptions, prepare

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_sigterm_flushes_the_ledger_and_resume_adds_to_it(tmp_path):
    data = tmp_path / "data"
    prepare([ROOT / "data" / "examples" / "alpaca.jsonl"], data, PrepareOptions(val_size=1, test_size=1))
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AMR_GRPO_JUDGE_API_KEY": "test-key"}
    with FakeOpenAI() as fake:
        cmd = [sys.executable, "-m", "amr_grpo", "train", "--config", str(ROOT / "configs/train/tiny-cpu.yaml"),
               f"model.name_or_path={ROOT / 'assets/tiny-policy'}", f"data.dir={data}", f"output_dir={out}",
               "grpo.max_steps=4", "grpo.save_steps=1", "grpo.logging_steps=1", "grpo.per_device_train_batch_size=8",
               "grpo.num_generations=4", "grpo.max_completion_length=48", "grpo.report_to=[none]",
               "judge.backend=openai", f"judge.base_url={fake.base_url}", "judge.model=fake-judge", "judge.rpm=0",
               "judge.tpm=0", "judge.cache_path=null", "judge.metrics=priority"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        metrics = out / "metrics.jsonl"
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if metrics.is_file() and len(metrics.read_text().splitlines()) >= 2:
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
        assert proc.returncode != 0  # it was killed, not finished
        first = json.loads((out / "judge_ledger.json").read_text())
        assert first["segments"][-1]["end"] == "SIGTERM"
        # 8 completions a step, one request each: steps 1-2 at least. A request still in flight when the signal came
        # (at most one step's 8) reached the server but never came back: it cannot be in any ledger
        in_flight = len(fake.requests) - first["judge"]["calls"]
        assert first["judge"]["calls"] >= 16 and 0 <= in_flight <= 8
        resumed = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        total = len(fake.requests)
    ledger = json.loads((out / "judge_ledger.json").read_text())
    assert ledger["judge"]["calls"] == total - in_flight  # both processes' answered requests, none counted twice
    assert ledger["judge"]["calls"] > first["judge"]["calls"]
    assert [s["end"] for s in ledger["segments"]] == ["SIGTERM", "finished"]
    assert json.loads((out / "train_summary.json").read_text())["global_step"] == 4
