"""Two-process data-parallel GRPO on CPU (gloo) through `accelerate launch --config_file configs/accelerate/ddp.yaml`.

Each rank scores only its own completions, so the LLM judge (the fake OpenAI server, real HTTP on loopback) gets one
call per completion, not one per process. Slow (two interpreters load torch+TRL, ~30-60 s on 2 cores): run with
`pytest -m slow tests/slow`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from amr_grpo.data.prepare import PrepareOptions, prepare

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_ddp_two_ranks_score_each_completion_once(tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    assert accelerate, "accelerate is a dependency of amr-grpo"
    data = tmp_path / "data"
    prepare([ROOT / "data" / "examples" / "alpaca.jsonl"], data, PrepareOptions(val_size=1, test_size=1))
    out = tmp_path / "run"
    with FakeOpenAI() as fake:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "AMR_GRPO_JUDGE_API_KEY": "test-key"}
        cmd = [accelerate, "launch", "--config_file", str(ROOT / "configs/accelerate/ddp.yaml"), "--num_processes", "2",
               "-m", "amr_grpo", "train", "--config", str(ROOT / "configs/train/tiny-cpu.yaml"),
               f"model.name_or_path={ROOT / 'assets/tiny-policy'}", f"data.dir={data}", f"output_dir={out}",
               "grpo.max_steps=2", "grpo.per_device_train_batch_size=8", "grpo.num_generations=4",
               "grpo.max_completion_length=48", "grpo.report_to=[none]",
               "grpo.logging_steps=1",  # the recipe logs every 5 steps: 2 steps would leave metrics.jsonl empty
               "judge.backend=openai", f"judge.base_url={fake.base_url}", "judge.model=fake-judge",
               "judge.metrics=priority", "judge.rpm=0", "judge.tpm=0", "judge.cache_path=null"]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        requests = len(fake.requests)
    ledger = json.loads((out / "judge_ledger.json").read_text())
    # 2 ranks x 8 completions per rank x 2 steps = 32 completions, scored once each across both ranks
    assert [r["stats"]["completions"] for r in ledger["per_rank"]] == [16, 16]
    assert ledger["judge"]["evaluations"] == 32
    # HTTP calls = evaluations less those answered by an identical completion in flight (never more)
    assert requests == ledger["judge"]["calls"] == 32 - ledger["judge"]["dedup_hits"] - ledger["judge"]["cache_hits"]
    assert ledger["stats"]["naive_calls"] == 32 * 3  # priority metrics: what one call per metric would cost
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]
