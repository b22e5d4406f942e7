"""A new user's common mistakes, command by command: each is one short error line (and a hint), exit code 2,
no traceback, and nothing heavy loaded first. One row per mistake, for every command.

A row: (command line after `amr-grpo`, text the error must contain, environment changes). `{data}`, `{run}`,
`{tmp}`, `{model}`, `{csv}`, `{cases}`, `{file}`, `{empty_model}`, `{bad}`, `{bad_data}`, `{bad_yaml}`, `{req}`,
`{recipe}`, `{unreachable}`, `{port}` are filled in (in both) from the `places` fixture. Every `serve` row binds
the busy `{port}`: a mistake serve failed to catch ends there too (the row fails) instead of starting a server.
`judge` and `lint-labels` report a bad line of their input as FILE:LINE and carry on with the others, and
`review export` / `review import` list every bad row at once (their own tests check it), so a bad JSON line is a
mistake row for the commands that stop at the first one.
"""

from __future__ import annotations

import importlib.util
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.data.prepare import PrepareOptions, prepare

ROOT = Path(__file__).resolve().parents[2]
NO_KEYS = {"GROQ_API_KEY": None, "AMR_GRPO_JUDGE_API_KEY": None, "AMR_GRPO_JUDGE_BASE_URL": None}
SERVE = {"AMR_GRPO_API_KEYS": "k", "AMR_GRPO_JUDGE_OVERRIDES": None, "AMR_GRPO_REVIEWER_KEYS": None}
NO_DB = {"AMR_GRPO_DATABASE_URL": None}
TRAIN = "train --config {recipe} data.dir={data} output_dir={tmp}/t"
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
    ("evaluate --model {model} --data {data} --judge-set temprature=0 -o {tmp}/o", "unknown config key 'temprature'",
     {}),
    ("evaluate --model {model} --data {data} --judge-config {tmp}/j.yaml -o {tmp}/o", "config file not found", {}),
    ("evaluate --model {model} --data {data} --max-samples 0 -o {tmp}/o", "--max-samples must be at least 1", {}),
    ("evaluate --model {model} --data {data} --batch-size 0 -o {tmp}/o", "--batch-size must be at least 1", {}),
    ("evaluate --model {model} --data {data} --top-p 2 -o {tmp}/o", "--top-p must be in (0, 1]", {}),
    ("evaluate --model {model} --data {data} -o {file}", "is a file", {}),
    ("evaluate --data {data} -o {tmp}/o", "give --model PATH", {}),
    ("evaluate --model {model} --outputs {run}/results.jsonl --data {data} -o {tmp}/o", "not both", {}),
    ("evaluate --model {model} --data {data} -o {run}", "holds an interrupted evaluation", {}),
    ("evaluate --model {model} --data {bad_data} -o {tmp}/o", "{bad_data}/test.jsonl:2: not JSON", {}),
    ("evaluate --model {model} --data {data} --judge-config {bad_yaml} -o {tmp}/o", "{bad_yaml}:2: not valid YAML",
     {}),
    ("evaluate --model {model} --data {data} --judge openai --judge-set base_url={unreachable} -o {tmp}/o",
     "the judge at {unreachable} cannot be reached", NO_KEYS),
    # validate
    ("validate --model {tmp}/no/model --text x", "not found", {}),
    ("validate --model {model}", "exactly one of --case FILE or --text", {}),
    ("validate --model {model} --case {tmp}/case.json", "file not found", {}),
    ("validate --model {model} --text '   '", "the case is empty", {}),
    ("validate --model {model} --text 'cystitis, nitrofurantoin' --judge openai", "$GROQ_API_KEY is not set",
     NO_KEYS),
    ("validate --model {model} --text 'cystitis' --judge hybrid --judge-set base_url={unreachable}",
     "the judge at {unreachable} cannot be reached", NO_KEYS),
    ("validate --model {model} --case {file}", "{file}: not UTF-8 text", {}),
    # report
    ("report {tmp}/missing -o {tmp}/r", "not a results directory", {}),
    ("report {data} -o {tmp}/r", "no such results file", {}),
    ("report {run} --labels a,b -o {tmp}/r", "--labels has 2 names for 1 results directories", {}),
    ("report {run} {run} -o {tmp}/r", "run labels must differ", {}),
    ("report {run} --train-log {tmp}/metrics.jsonl -o {tmp}/r", "no such training log", {}),
    ("report {run} --baseline best -o {tmp}/r", "--baseline 'best': expected NAME=VALUE", {}),
    # judge
    ("judge --input {tmp}/nope.jsonl -o {tmp}/j.jsonl", "input file not found", {}),
    ("judge --input {req} -o {tmp}/j.jsonl --metrics clinical_acuracy", "unknown metric(s) 'clinical_acuracy'", {}),
    ("judge --input {req} -o {tmp}/j.jsonl --judge-set metrics=clinical_acuracy",
     "unknown metric(s) 'clinical_acuracy'", {}),
    ("judge --input {req} -o {tmp}/j.jsonl --judge-set temprature=0", "unknown config key 'temprature'", {}),
    ("judge --input {req} -o {tmp}/j.jsonl --judge-config {bad_yaml}", "{bad_yaml}:2: not valid YAML", {}),
    ("judge --input {req} -o {tmp}/j.jsonl --judge openai", "no API key for the openai judge", NO_KEYS),
    ("judge --input {req} -o {tmp}/j.jsonl --judge openai --judge-base-url {unreachable}",
     "the judge at {unreachable} cannot be reached", NO_KEYS),
    ("judge --input {req} -o {tmp}/j.jsonl --budget lots", "--budget 'lots': expected a number of calls", {}),
    ("judge --input {req}", "--output is required", {}),
    ("judge --input {req} -o {tmp}", "--output {tmp}: is a directory", {}),
    ("judge --input {req} -o {file}/j.jsonl", "{file} is a file, not a folder", {}),
    ("judge --input {req} -o {tmp}/j.jsonl --judge gpt", "Invalid value for '--judge'", {}),
    # serve
    ("serve --port {port}", "port {port} on 127.0.0.1 is already in use", SERVE),
    ("serve --port 70000", "Invalid value for '--port'", SERVE),
    ("serve --port {port}", "no API keys configured", {**SERVE, "AMR_GRPO_API_KEYS": None}),
    ("serve --judge openai --port {port}", "$GROQ_API_KEY is not set", {**SERVE, **NO_KEYS}),
    ("serve --judge openai --judge-base-url {unreachable} --port {port}", "the judge at {unreachable} cannot be reached",
     {**SERVE, **NO_KEYS}),
    ("serve --judge-config {tmp}/none.yaml --port {port}", "config file not found", SERVE),
    ("serve --judge-config {bad_yaml} --port {port}", "{bad_yaml}:2: not valid YAML", SERVE),
    ("serve --port {port}", "unknown config key 'temprature'", {**SERVE, "AMR_GRPO_JUDGE_OVERRIDES": '["temprature=0"]'}),
    ("serve --port {port}", "AMR_GRPO_JUDGE_OVERRIDES: not valid JSON", {**SERVE, "AMR_GRPO_JUDGE_OVERRIDES": "rpm=0"}),
    ("serve --judge oracle --port {port}", "Invalid value for '--judge'", SERVE),
    ("serve --model {tmp}/no/model --port {port}", "does not exist", SERVE),
    ("serve --review {tmp}/nope --port {port}", "review mode needs reviewer keys", SERVE),
    ("serve --review {tmp}/nope --port {port}", "{tmp}/nope: no items.jsonl",
     {**SERVE, "AMR_GRPO_REVIEWER_KEYS": "ann:0123456789abcdef"}),
    # train (and its --plan and --print-config)
    ("train --config {tmp}/none.yaml", "config file not found", {}),
    ("train --config {bad_yaml} --plan", "{bad_yaml}:2: not valid YAML", {}),
    ("train --config {recipe} judge.metrics=clinical_acuracy", "judge.metrics: unknown metric(s) 'clinical_acuracy'",
     {}),
    ("train --config {recipe} judge.metrics=clinical_acuracy --plan", "unknown metric(s) 'clinical_acuracy'", {}),
    ("train --config {recipe} judge.metrics=clinical_acuracy --print-config", "unknown metric(s) 'clinical_acuracy'",
     {}),
    ("train --config {recipe} grpo.report_to=[wandb]", "grpo.report_to: wandb is not installed", {}),
    ("train --config {recipe} grpo.report_to=[wandb] --plan", "grpo.report_to: wandb is not installed", {}),
    ("train --config {recipe} grpo.max_stepz=7 --plan", "unknown config key 'grpo.max_stepz'", {}),
    ("train --config {recipe} grpo.learning_rate=fast --print-config", "grpo.learning_rate: expected float", {}),
    ("train --config {recipe} grpo", "override 'grpo' is not key=value", {}),
    ("train --config {recipe} --plan --world-size -1", "Invalid value for '--world-size'", {}),
    ("train --config {recipe} data.dir={bad_data} --plan", "{bad_data}/train.jsonl:2: not JSON", {}),
    ("train --config {recipe} data.dir={tmp}/nodata output_dir={tmp}/t", "data.dir: {tmp}/nodata/train.jsonl not found",
     {}),
    (TRAIN + " judge.backend=openai", "$GROQ_API_KEY is not set", NO_KEYS),
    (TRAIN + " judge.backend=openai judge.base_url={unreachable}", "the judge at {unreachable} cannot be reached",
     NO_KEYS),
    (TRAIN + " model.name_or_path={tmp}/no/model", "model.name_or_path '{tmp}/no/model': no such directory", {}),
    (TRAIN + " --resume", "--resume: no checkpoint-N directory in {tmp}/t", {}),
    # sft (the warm start)
    ("sft --config {tmp}/none.yaml", "config file not found", {}),
    ("sft --config {sft_recipe} sft.learning_rat=1", "unknown config key 'sft.learning_rat'", {}),
    ("sft --config {sft_recipe} data.dir={data} data.split=test", "the warm start learns from the train split only",
     {}),
    ("sft --config {sft_recipe} data.dir={tmp}/nodata output_dir={tmp}/w", "{tmp}/nodata/train.jsonl: not found", {}),
    ("sft --config {sft_recipe} data.dir={bad_data} output_dir={tmp}/w", "{bad_data}/train.jsonl:2: not JSON", {}),
    ("sft --config {sft_recipe} data.dir={data} output_dir={tmp}/w model.name_or_path={tmp}/no/model",
     "model.name_or_path path {tmp}/no/model: not found", {}),
    ("sft --config {sft_recipe} data.dir={data} output_dir={tmp}/w sft.max_steps=0 sft.num_train_epochs=0",
     "sft: no step to take", {}),
    # synth
    ("synth -n 0 -o {tmp}/s.jsonl", "-n must be at least 1, got 0", {}),
    ("synth -n lots -o {tmp}/s.jsonl", "Invalid value for '-n'", {}),
    ("synth -n 5 --notes 1.5 -o {tmp}/s.jsonl", "--notes must be a share between 0 and 1", {}),
    ("synth -n 5 -o {tmp}", "-o {tmp}: is a directory", {}),
    ("synth -n 5 -o {file}/cases.jsonl", "{file} is a file, not a folder", {}),
    # lint-labels
    ("lint-labels {tmp}/nope.jsonl", "{tmp}/nope.jsonl: not found", {}),
    ("lint-labels {file}", "{file}: not UTF-8 text", {}),
    ("lint-labels {csv} --format xlsx", "unknown input format 'xlsx'", {}),
    ("lint-labels {csv} --map dose=Dose", "unknown field 'dose'", {}),
    ("lint-labels {csv} --show -1", "Invalid value for '--show'", {}),
    ("lint-labels {csv} -o {tmp}", "-o {tmp}: is a directory", {}),
    ("lint-labels {csv} -o {file}/r.json", "{file} is a file, not a folder", {}),
    # explain
    ("explain", "give exactly one of FILE[:LINE] or --text", {}),
    ("explain {tmp}/nope.jsonl", "file not found: {tmp}/nope.jsonl", {}),
    ("explain {bad}:2", "{bad}:2: not valid JSON", {}),
    ("explain {bad}:9", "{bad}:9: no case on that line", {}),
    ("explain {bad}:0", "{bad}:0: no case on that line", {}),
    ("explain --text '   '", "--text is empty", {}),
    ("explain {file}", "{file}: not UTF-8 text", {}),
    # review export | import | agreement | to-cases
    ("review export {tmp}/nope -o {tmp}/rv", "input not found", {}),
    ("review export {bad} -o {tmp}/rv", "{bad}:2: not valid JSON", {}),
    ("review export {cases} -o {tmp}/rv -n 0", "-n must be at least 1, got 0", {}),
    ("review export {cases} -o {file}", "-o {file}: not a directory", {}),
    ("review export {cases} -o {tmp}/rv --requests {tmp}/nope.jsonl", "file not found", {}),
    ("review import {tmp}/nope.csv --db {tmp}/r.sqlite", "labels file not found", {}),
    ("review import {tmp}/empty.csv --db {tmp}/r.sqlite", "{tmp}/empty.csv: no rows", {}),
    ("review import {csv} --db mysql://u@localhost/db", "review database URL mysql://u@localhost/db", {}),
    ("review agreement -o {tmp}/ag", "no review database given", NO_DB),
    ("review agreement -o {tmp}/ag --db {tmp}/r.sqlite --n-boot 0", "Invalid value for --n-boot", {}),
    ("review to-cases -o {tmp}/c.jsonl", "no review database given", NO_DB),
    ("review to-cases -o {tmp} --db {tmp}/r.sqlite", "-o {tmp}: is a directory", {}),
    ("review to-cases -o {tmp}/c.jsonl --db {tmp}/r.sqlite", "no reviewed item with a clinician decision", {}),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> Iterator[dict[str, str]]:
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
    bad = tmp / "bad.jsonl"  # a good line, then one that is not JSON
    bad.write_text(json.dumps({"patient_case": "cystitis", "model_output": "Decision: Approve"}) + "\n{not json\n")
    bad_data = tmp / "bad_data"  # prepared splits, each with a broken second line
    bad_data.mkdir()
    for split in ("train", "test"):
        first = (data / "test.jsonl").read_text().splitlines()[0]
        (bad_data / f"{split}.jsonl").write_text(first + "\n{not json\n")
    (tmp / "bad.yaml").write_text("backend: rules\nrpm: a: b\n")  # line 2: "mapping values are not allowed here"
    (tmp / "empty.csv").write_text("")
    with socket.socket() as s:  # a port nothing listens on: a judge there is refused at once
        s.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with socket.socket() as busy:  # a port already taken, for serve
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield {"tmp": str(tmp), "data": str(data), "run": str(run), "model": str(ROOT / "assets" / "tiny-policy"),
               "csv": PHARMACIST, "file": str(tmp / "latin1.csv"), "empty_model": str(tmp / "empty_model"),
               "bad": str(bad), "bad_data": str(bad_data), "bad_yaml": str(tmp / "bad.yaml"),
               "req": str(ROOT / "tests" / "data" / "judge_requests.jsonl"),
               "recipe": str(ROOT / "configs" / "train" / "tiny-cpu.yaml"), "unreachable": unreachable,
               "sft_recipe": str(ROOT / "configs" / "train" / "tiny-sft.yaml"),
               "cases": str(ROOT / "data" / "examples" / "alpaca.jsonl"),
               "port": str(busy.getsockname()[1])}


def _argv(line: str, places: dict[str, str]) -> list[str]:
    import shlex

    return shlex.split(line.format(**places))


@pytest.mark.parametrize("line, message, env", MISTAKES, ids=[m[0].split(" {")[0] + ": " + m[1][:40] for m in MISTAKES])
def test_a_mistake_is_one_line_with_a_hint(places, line, message, env):
    if "report_to=[wandb]" in line and importlib.util.find_spec("wandb"):
        pytest.skip("wandb is installed here")
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
