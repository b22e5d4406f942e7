"""bench/gpu_step.py's logic on CPU: a tiny random Llama-3.1-shaped model runs GRPO steps of the 8B recipe through
amr-grpo's training code and the script prints seconds a step and generated tokens a second. Slow: `pytest -m slow`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_gpu_step_bench_runs_the_recipe_on_a_tiny_model_on_cpu():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_step.py"), "--device", "cpu", "--tiny",
                           "--steps", "2"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "recipe llama31-8b-lora.yaml" in proc.stdout
    row = re.search(r"^generate\s+([\d.]+)\s+([\d,]+)\s+n/a \(CPU\)$", proc.stdout, re.M)
    assert row, proc.stdout
    # 2 completions of at most 16 tokens a step: a positive step time and a positive token rate
    assert float(row.group(1)) > 0 and int(row.group(2).replace(",", "")) > 0
