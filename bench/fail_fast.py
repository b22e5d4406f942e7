"""Benchmark: how long a user mistake costs before its error, against the work it used to wait behind.

A missing judge key used to surface only after the policy had loaded and generated (evaluate: every output of
the split; validate: one). Measured in one run, each in a fresh process (what a user pays, imports included):
  ours      - `amr-grpo validate --judge openai` and `amr-grpo evaluate --judge openai` with no key: the error
  baseline  - what the old order paid before the same error: load the policy and generate (one case for
              validate, the whole split for evaluate), then build the judge
Prints seconds and the ratio baseline / ours. Research tool, not for clinical use.
Run: .venv/bin/python bench/fail_fast.py [--model assets/tiny-policy] [--cases 20] [--max-new-tokens 128]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "amr-grpo")
CASE = "28-year-old woman, cystitis, ciprofloxacin 500 mg BD x 3 days"
BASELINE = """
import sys
from amr_grpo.evaluation.evaluate import judge_config, load_split
from amr_grpo.evaluation.generation import Generator
from amr_grpo.judge import build_engine
from amr_grpo.errors import UserError
model, data, n, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
prompts = [r["prompt"] for r in load_split(data, "test")[:n]] if data else [[{"role": "user", "content": %r}]]
Generator.from_pretrained(model, max_new_tokens=tokens).generate(prompts)
try:
    build_engine(judge_config("openai"))
except UserError:
    sys.exit(2)
""" % CASE


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True).returncode
    if rc != 2:
        sys.exit(f"expected exit 2 (the missing key), got {rc}: {' '.join(cmd)}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="assets/tiny-policy")
    ap.add_argument("--cases", type=int, default=20, help="test cases evaluate generates in the baseline")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("GROQ_API_KEY", "AMR_GRPO_JUDGE_API_KEY")}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run([CLI, "prepare", "data/cases.jsonl", "-o", str(data), "--test-size", str(args.cases)],
                       cwd=ROOT, check=True, capture_output=True)
        n, tok = str(args.cases), str(args.max_new_tokens)
        rows = [
            ("validate", [CLI, "validate", "--model", args.model, "--text", CASE, "--judge", "openai"],
             [sys.executable, "-c", BASELINE, args.model, "", "1", tok]),
            (f"evaluate ({args.cases} cases)",
             [CLI, "evaluate", "--model", args.model, "--data", str(data), "--judge", "openai",
              "--max-new-tokens", tok, "-o", str(Path(tmp) / "out")],
             [sys.executable, "-c", BASELINE, args.model, str(data), n, tok]),
        ]
        print(f"{'command, missing judge key':<28} {'ours (s)':>9} {'baseline (s)':>13} {'ratio':>7}")
        for name, ours_cmd, base_cmd in rows:
            ours, base = timed(ours_cmd, env), timed(base_cmd, env)
            print(f"{name:<28} {ours:>9.2f} {base:>13.2f} {base / ours:>6.1f}x")


if __name__ == "__main__":
    main()
