"""One way to name a judge: `--judge`, `--judge-config`, `--judge-model`, `--judge-base-url`, `--judge-set` on every
command that takes one (judge, evaluate, validate, serve), `--model` always the policy; the spellings of earlier
releases still work, hidden, with a one-line notice; the service reads the same judge config file and overrides.

Run: .venv/bin/pytest tests/cli/test_judge_options.py
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from pydantic import ValidationError
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.judge.config import JUDGE_BACKENDS, JudgeConfig
from amr_grpo.service import settings as settings_module
from amr_grpo.service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "judge_requests.jsonl"  # three requests
TINY = str(ROOT / "assets" / "tiny-policy")
NEW = ["--judge", "--judge-config", "--judge-model", "--judge-base-url", "--judge-set"]
NOTICE = re.compile(r"deprecated: (--[\w-]+) is now (--[\w-]+); the old name goes in the next release")


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _no_judge_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith(("AMR_GRPO_", "GROQ_")):
            monkeypatch.delenv(k)


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def notices(output: str) -> list[tuple[str, str]]:
    return NOTICE.findall(output)


@pytest.mark.parametrize("command", ["judge", "evaluate", "validate", "serve"])
def test_every_command_that_takes_a_judge_shows_the_same_options_and_hides_the_old(command):
    r = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert r.exit_code == 0, r.output
    shown = set(re.findall(r"(--[a-z][\w-]*)", r.output))
    assert set(NEW) <= shown, set(NEW) - shown
    assert not shown & {"--backend", "--config", "--base-url", "--set", "--judge-opt"}
    # --model is the policy wherever it is offered; `judge` scores given outputs and has no policy at all
    assert ("--model" in shown) == (command != "judge")


def test_the_backend_list_is_written_once():
    # the type every command, the config and the service use; an unknown backend fails at the option, by name
    assert JUDGE_BACKENDS == ("rules", "openai", "local", "hybrid", "api")
    r = run("judge", "--input", str(SAMPLE), "--judge", "oracle", "-o", "x.jsonl")
    assert r.exit_code == 2 and "Invalid value for '--judge'" in r.output
    assert all(b in r.output for b in JUDGE_BACKENDS)


def _judge_openai(fake, tmp_path, names: list[str], monkeypatch) -> tuple[list[dict], str]:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test")
    out = tmp_path / f"{names[0].strip('-')}.jsonl"
    backend, base_url, model, override = names
    r = run("judge", "--input", str(SAMPLE), backend, "openai", base_url, fake.base_url, model, "fake-named",
            override, "concurrency=1", "--no-cache", "-o", str(out))
    assert r.exit_code == 0, r.output
    return [json.loads(x) for x in out.read_text().splitlines()], r.output


def test_judge_new_and_old_spellings_score_alike_and_the_old_say_so(tmp_path, fake_openai, monkeypatch):
    new_rows, new_out = _judge_openai(fake_openai, tmp_path, ["--judge", "--judge-base-url", "--judge-model",
                                                              "--judge-set"], monkeypatch)
    old_rows, old_out = _judge_openai(fake_openai, tmp_path, ["--backend", "--base-url", "--model", "--set"],
                                      monkeypatch)
    # both reached the fake server with the named model: 3 requests each, every row judged by openai/fake-named
    assert [q.body["model"] for q in fake_openai.requests] == ["fake-named"] * 6
    assert [x["judge"]["model"] for x in new_rows + old_rows] == ["fake-named"] * 6
    assert [x["scores"] for x in new_rows] == [x["scores"] for x in old_rows]
    assert notices(new_out) == []
    assert notices(old_out) == [("--backend", "--judge"), ("--model", "--judge-model"),
                                ("--base-url", "--judge-base-url"), ("--set", "--judge-set")]


def test_judge_config_file_under_both_names(tmp_path):
    cfg = tmp_path / "judge.yaml"
    cfg.write_text("metrics: all\n")
    requests = tmp_path / "req.jsonl"
    first = json.loads(SAMPLE.read_text().splitlines()[0])
    requests.write_text(json.dumps({k: v for k, v in first.items() if k != "metrics"}) + "\n")
    for option in ("--judge-config", "--config"):
        out = tmp_path / "out.jsonl"
        r = run("judge", "--input", str(requests), option, str(cfg), "-o", str(out))
        assert r.exit_code == 0, r.output
        # a line without its own metrics takes the file's (all six), not the default (the three priority ones)
        assert [len(json.loads(x)["scores"]) for x in out.read_text().splitlines()] == [6]
        assert notices(r.output) == ([] if option == "--judge-config" else [("--config", "--judge-config")])


def test_an_old_and_a_new_name_for_one_option_must_agree():
    r = run("judge", "--input", str(SAMPLE), "--backend", "rules", "--judge", "openai", "-o", "x.jsonl")
    assert r.exit_code == 2 and "--backend and --judge are the same option" in r.output
    assert "give --judge only" in r.output


@pytest.mark.parametrize("spelling", ["--judge-set", "--judge-opt"])
def test_evaluate_and_validate_take_judge_set_and_the_old_judge_opt(spelling, tmp_path):
    # the override is read before any data or model: a typo is one line naming the key, under either name
    for args in (["evaluate", "--data", str(tmp_path), "-o", str(tmp_path / "o")],
                 ["validate", "--model", TINY, "--text", "cystitis", "--judge", "rules"]):
        r = run(*args, spelling, "temprature=0")
        assert r.exit_code == 2 and "unknown config key 'temprature'" in r.output, r.output
        assert notices(r.output) == ([] if spelling == "--judge-set" else [("--judge-opt", "--judge-set")])


def test_validate_judge_model_names_the_judge_not_the_policy():
    # --model is the policy (it exists); --judge-model is the local judge's directory, checked before any loading
    r = run("validate", "--model", TINY, "--text", "cystitis", "--judge", "local", "--judge-model", "/nowhere/judge")
    assert r.exit_code == 2 and "/nowhere/judge" in r.output and "judge model" in r.output, r.output


def _busy_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


def test_serve_judge_options_reach_the_services_judge(monkeypatch):
    # a remote URL and a key variable that is not set: the key check names both, so --judge, --judge-base-url and
    # --judge-set all reached the judge config (it stops there: nothing is started)
    monkeypatch.setenv("AMR_GRPO_API_KEYS", "k")
    r = run("serve", "--judge", "openai", "--judge-base-url", "https://judge.example/v1", "--judge-set",
            "api_key_env=MY_JUDGE_KEY", "--no-probe")
    assert r.exit_code == 2 and "https://judge.example/v1" in r.output and "$MY_JUDGE_KEY is not set" in r.output


def test_service_reads_the_judge_config_file_and_overrides(monkeypatch, tmp_path):
    recipe = tmp_path / "judge.yaml"
    recipe.write_text("backend: openai\nmodel: from-file\nquota_fallback: rules\ntimeout_s: 9\n")
    monkeypatch.setenv("AMR_GRPO_JUDGE_CONFIG", str(recipe))
    monkeypatch.setenv("AMR_GRPO_JUDGE_OVERRIDES", '["model=from-overrides"]')
    cfg = Settings().load_judge_config()
    assert isinstance(cfg, JudgeConfig)
    # the file (openai, 9 s, the rules fallback it asks for), then the override (model)
    assert (cfg.backend, cfg.model, cfg.timeout_s, cfg.quota_fallback) == ("openai", "from-overrides", 9.0, "rules")
    monkeypatch.delenv("AMR_GRPO_JUDGE_CONFIG")
    monkeypatch.delenv("AMR_GRPO_JUDGE_OVERRIDES")
    # without a file: the service's own default is no fallback (429/503, the client decides), not JudgeConfig's rules
    assert (Settings().load_judge_config().quota_fallback, JudgeConfig().quota_fallback) == ("none", "rules")


def test_service_reads_the_old_judge_variables_for_one_release(monkeypatch, caplog):
    monkeypatch.setattr(settings_module, "_noticed", set())
    monkeypatch.setenv("AMR_GRPO_JUDGE_BACKEND", "hybrid")
    monkeypatch.setenv("AMR_GRPO_JUDGE_QUOTA_FALLBACK", "rules")
    with caplog.at_level(logging.WARNING, logger="amr_grpo.service"):
        first = Settings().load_judge_config()
        second = Settings().load_judge_config()
    assert (first.backend, first.quota_fallback) == (second.backend, second.quota_fallback) == ("hybrid", "rules")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines  # one notice per variable, not one per read
    assert "AMR_GRPO_JUDGE_BACKEND is now AMR_GRPO_JUDGE_OVERRIDES" in lines[0]


def test_settings_refuse_the_old_keyword_instead_of_dropping_it():
    # Settings(judge_backend="openai") of an earlier release would otherwise serve the rules judge without a word
    with pytest.raises(ValidationError, match="judge_backend"):
        Settings(auth=False, judge_backend="openai")
