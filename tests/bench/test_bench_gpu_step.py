"""bench/gpu_step.py on a machine without a GPU: one line saying so, exit 0 (its logic runs in tests/slow on a tiny
model with --device cpu --tiny)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def test_without_a_gpu_it_says_so_in_one_line():
    if torch.cuda.is_available():
        import pytest

        pytest.skip("this machine has a GPU: the benchmark would run")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_step.py")], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1 and "no CUDA GPU" in lines[0] and "--device cpu --tiny" in lines[0]
