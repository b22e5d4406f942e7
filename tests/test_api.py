"""The Python API as the README shows it: the README's "Python API" block is run as written (from a folder that
has the repository's assets/ and data/), then its results are checked; importing amr_grpo stays light."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import amr_grpo
from amr_grpo.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def readme_block() -> str:
    section = (ROOT / "README.md").read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    for d in ("assets", "data"):
        (tmp_path / d).symlink_to(ROOT / d)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(readme_block(), "README.md", "exec"), {})  # noqa: S102  (our own README, on purpose)
    lines = out.getvalue().splitlines()
    # the rules judge on an approvable cystitis case with a thin validation: a reward and six scores 1-5
    reward, scores = lines[0].split(" ", 1)
    assert 0.2 <= float(reward) <= 1.0 and len(ast.literal_eval(scores)) == 6
    rows = [json.loads(x) for x in (tmp_path / "runs/api/eval/results.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["weighted_reward"] is not None for r in rows)  # test_size=4
    assert (tmp_path / "runs/api/report/report.html").is_file() and lines[2].endswith("report.html")
    assert (tmp_path / "runs/api/report/tables/scores.csv").is_file()
    assert lines[3].split(" ", 1)[0].startswith(("Decision.", "None"))


def test_judge_case_scores_like_the_cli_contract_and_works_in_a_running_loop():
    case = {"patient": "34F, no allergies", "diagnosis": "uncomplicated cystitis",
            "prescription": "Tab Nitrofurantoin 100 mg BD x 5 days"}
    out = "Step 1 - Clinical picture: cystitis.\nDecision: Approve\nReference: NCDC/ICMR NTG 2025"
    v = amr_grpo.judge_case(case, out, {"decision": "Approve"}, metrics="priority")
    assert list(v.scores) == ["clinical_accuracy", "guideline_adherence", "reasoning_completeness"]

    async def inside_a_loop():  # a notebook runs cells inside an event loop: asyncio.run would refuse
        return amr_grpo.judge_case(case, out, {"decision": "Approve"}, metrics="priority")

    assert asyncio.run(inside_a_loop()).to_dict() == v.to_dict()  # the rules judge is deterministic


@pytest.mark.parametrize("call, message", [
    (lambda: amr_grpo.judge_case("x", "y", metrics=["clinical_acuracy"]), "clinical_acuracy"),
    (lambda: amr_grpo.judge_case("x", "y", judge="rules", temprature=0), "unknown judge option(s): temprature"),
    (lambda: amr_grpo.evaluate_model("m", "d", "o", max_tokens=3), "unknown generation setting(s): max_tokens"),
    (lambda: amr_grpo.prepare(["x.csv"], "o", tets_size=3), "unknown prepare option(s): tets_size"),
])
def test_api_mistakes_are_user_errors(call, message):
    with pytest.raises(UserError, match=re.escape(message)):
        call()


def test_importing_amr_grpo_loads_no_torch():
    code = ("import sys, amr_grpo; assert callable(amr_grpo.judge_case) and callable(amr_grpo.evaluate_model); "
            "print(sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
