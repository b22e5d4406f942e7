"""A new user's common mistakes, command by command: each is one short error line (and a hint), exit code 2,
no traceback, and nothing heavy loaded first. One row per mistake: add rows for other commands (judge, serve,
train) to MISTAKES the same way.

A row: (command line after `amr-grpo`, text the error must contain, environment changes). `{data}`, `{run}`,
`{tmp}`, `{model}`, `{csv}`, `{file}`, `{empty_model}` are filled in (in both) from the `places` fixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.data.prepare import PrepareOptions, prepare

ROOT = Path(__file__).resolve().parents[1]
NO_KEYS = {"GROQ_API_KEY": None, "AMR_GRPO_JUDGE_API_KEY": None, "AMR_GRPO_JUDGE_BASE_URL": None}
PHARMACIST = str(ROOT / "data" / "examples" / "pharmacist_decisions.csv")

MISTAKES: list[tuple[str, str, dict]] = [
    # prepare
    ("prepare {tmp}/nope.csv -o {tmp}/o", "file not found", {}),
    ("prepare {tmp} -o {tmp}/o", "is a directory", {}),
    ("prepare {csv}", "give the output directory: -o DIR", {}),
    ("prepare {csv} -o {tmp}/o --map diagnosis=Provisional_dx",
     "--map diagnosis=Provisional_dx: " + PHARMACIST + " has no column 'Provisional_dx'", {}),
    ("prepare {csv} -o {tmp}/o --map diagnosis", "expected FIELD=COLUMN", {}),
    ("prepare {csv} -o {tmp}/o --map dose=Dose", "unknown field 'dose'", {}),
    ("prepare {csv} -o {tmp}/o --map-file {tmp}/none.yaml", "--map-file {tmp}/none.yaml: not found", {}),
    ("prepare {csv} -o {tmp}/o --test-frac 1.5", "--test-frac must be in [0, 1)", {}),
    ("prepare {csv} -o {tmp}/o --format xlsx", "unknown input format 'xlsx'", {}),
    ("prepare {csv} -o {tmp}/o --prompt-format html", "--prompt-format must be one of chat, text", {}),
    ("prepare {csv} -o {data}", "already exists and is not empty", {}),
    ("prepare {file} -o {tmp}/o", "not UTF-8 text", {}),
    ("prepare --inspect {csv} {csv}", "--inspect takes one input file", {}),
    # evaluate
    ("evaluate --model {model} --data {tmp}/nodata -o {tmp}/o", "test.jsonl: not found", {}),
    ("evaluate --model {tmp}/no/model --data {data} -o {tmp}/o", "model path", {}),
    ("evaluate --model {empty_model} --data {data} -o {tmp}/o", "not a model directory", {}),
    ("evaluate --model {model} --data {data} --split dev -o {tmp}/o", "--split 'dev': expected one of", {}),
    ("evaluate --model {model} --data {data} --split val -o {tmp}/o", "val.jsonl: no records", {}),
    ("evaluate --model {model} --data {data} --judge openai -o {tmp}/o", "$GROQ_API_KEY is not set", NO_KEYS),
    ("evaluate --model {model} --data {data} --judge hybrid -o {tmp}/o", "$GROQ_API_KEY is not set", NO_KEYS),
    ("evaluate --model {model} --data {data} --judge local -o {tmp}/o", "the local judge needs a model", {}),
    ("evaluate --model {model} --data {data} --judge gpt -o {tmp}/o", "Invalid value for '--judge'", {}),
    ("evaluate --model {model} --data {data} --judge-opt temprature=0 -o {tmp}/o", "unknown config key 'temprature'",
     {}),
    ("evaluate --model {model} --data {data} --judge-config {tmp}/j.yaml -o {tmp}/o", "config file not found", {}),
    ("evaluate --model {model} --data {data} --max-samples 0 -o {tmp}/o", "--max-samples must be at least 1", {}),
    ("evaluate --model {model} --data {data} --batch-size 0 -o {tmp}/o", "--batch-size must be at least 1", {}),
    ("evaluate --model {model} --data {data} --top-p 2 -o {tmp}/o", "--top-p must be in (0, 1]", {}),
    ("evaluate --model {model} --data {data} -o {file}", "is a file", {}),
    ("evaluate --data {data} -o {tmp}/o", "give --model PATH", {}),
    ("evaluate --model {model} --outputs {run}/results.jsonl --data {data} -o {tmp}/o", "not both", {}),
    ("evaluate --model {model} --data {data} -o {run}", "holds an interrupted evaluation", {}),
    # validate
    ("validate --model {tmp}/no/model --text x", "not found", {}),
    ("validate --model {model}", "exactly one of --case FILE or --text", {}),
    ("validate --model {model} --case {tmp}/case.json", "file not found", {}),
    ("validate --model {model} --text '   '", "the case is empty", {}),
    ("validate --model {model} --text 'cystitis, nitrofurantoin' --judge openai", "$GROQ_API_KEY is not set",
     NO_KEYS),
    # report
    ("report {tmp}/missing -o {tmp}/r", "not a results directory", {}),
    ("report {data} -o {tmp}/r", "no such results file", {}),
    ("report {run} --labels a,b -o {tmp}/r", "--labels has 2 names for 1 results directories", {}),
    ("report {run} {run} -o {tmp}/r", "run labels must differ", {}),
    ("report {run} --train-log {tmp}/metrics.jsonl -o {tmp}/r", "no such training log", {}),
    ("report {run} --baseline best -o {tmp}/r", "--baseline 'best': expected NAME=VALUE", {}),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("mistakes")
    data = tmp / "data"
    prepare([ROOT / "data" / "examples" / "alpaca.jsonl"], data, PrepareOptions(val_size=0, test_size=2))
    run = tmp / "run"  # an interrupted evaluation: one row, no summary.json
    run.mkdir()
    row = {"id": "a", "prompt": "p", "output": "o", "decision": None, "gold_decision": "Approve", "scores": {},
           "weighted_reward": None, "flags": {}, "parse_ok": False, "output_tokens": 3, "judge_error": None}
    (run / "results.jsonl").write_text(json.dumps(row) + "\n")
    (tmp / "empty_model").mkdir()
    (tmp / "latin1.csv").write_bytes("Diagnose,Rx\ncystite,\xe9\n".encode("latin-1"))
    return {"tmp": str(tmp), "data": str(data), "run": str(run), "model": str(ROOT / "assets" / "tiny-policy"),
            "csv": PHARMACIST, "file": str(tmp / "latin1.csv"), "empty_model": str(tmp / "empty_model")}


def _argv(line: str, places: dict[str, str]) -> list[str]:
    import shlex

    return shlex.split(line.format(**places))


@pytest.mark.parametrize("line, message, env", MISTAKES, ids=[m[0].split(" {")[0] + ": " + m[1][:40] for m in MISTAKES])
def test_a_mistake_is_one_line_with_a_hint(places, line, message, env):
    r = CliRunner().invoke(app, _argv(line, places), env=env)
    out = r.output
    assert r.exit_code == 2, out
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)  # nothing unhandled
    assert "Traceback" not in out and message.format(**places) in out, out
    errors = [x for x in out.splitlines() if x.startswith("error:")]
    if errors:  # ours: one error line, at most one hint line, nothing else
        lines = [x for x in out.splitlines() if x.strip()]
        assert len(errors) == 1 and len(lines) <= 2 and all(x.startswith(("error:", "hint:")) for x in lines), out
    else:  # Click's usage error for a bad option value: the usage line and one boxed message
        assert "Usage: amr-grpo" in out and "Try 'amr-grpo" in out, out
