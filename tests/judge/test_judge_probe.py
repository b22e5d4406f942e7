"""The judge's reachability probe in every command that uses a judge: serve, evaluate, validate and train stop in
one line naming the URL when an LLM judge cannot be reached, before anything heavy loads; `--no-probe` (train:
`judge.probe=false`) skips the check, and a judge that answers lets the command go on.

Real HTTP on loopback: an unreachable judge is a port nothing listens on (connection refused at once), a reachable
one the fake OpenAI-compatible server (tests/fake_openai.py), which answers the probe's GET /models.
Run: .venv/bin/pytest tests/judge/test_judge_probe.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from typer.testing import CliRunner

from amr_grpo import config as config_io
from amr_grpo.cli import app
from amr_grpo.data.prepare import PrepareOptions, prepare
from amr_grpo.data.splits import read_split
from amr_grpo.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "assets" / "tiny-policy")
NO_KEYS = ("GROQ_API_KEY", "AMR_GRPO_JUDGE_API_KEY", "AMR_GRPO_JUDGE_BASE_URL", "AMR_GRPO_API_KEYS")


def closed_port_url() -> str:
    """A loopback URL nothing listens on: a connection there is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("probe") / "data"
    prepare([ROOT / "data" / "examples" / "alpaca.jsonl"], out, PrepareOptions(val_size=1, test_size=2))
    return out


@pytest.fixture(scope="module")
def outputs(data_dir) -> Path:
    """A results.jsonl of the test split's cases, for `evaluate --outputs` (rescoring: no model, no generation)."""
    path = data_dir.parent / "earlier" / "results.jsonl"
    path.parent.mkdir()
    rows = [{"id": str(r["id"]), "prompt": r["prompt"], "output": "Step 1 - Clinical picture: x\nDecision: Approve",
             "decision": "Approve", "gold_decision": None, "scores": {}, "weighted_reward": None, "flags": {},
             "parse_ok": True, "output_tokens": 9, "judge_error": None} for r in read_split(data_dir / "test.jsonl")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_an_unreachable_judge_stops_serve_evaluate_and_validate_before_torch_loads(data_dir, tmp_path):
    # a fresh interpreter: each command must fail before torch or transformers is imported (no model load, no
    # generation, no server start), in one error line naming the URL and a hint that says how to skip the check
    url = closed_port_url()
    commands = {
        "serve": ["serve", "--judge", "openai", "--judge-base-url", url],
        "evaluate": ["evaluate", "--model", TINY, "--data", str(data_dir), "--judge", "openai", "--judge-set",
                     f"base_url={url}", "-o", str(tmp_path / "eval")],
        "validate": ["validate", "--model", TINY, "--text", "28F, cystitis, nitrofurantoin 100 mg BD x 5 days",
                     "--judge", "hybrid", "--judge-set", f"base_url={url}"],
    }
    code = ("import json, sys; from typer.testing import CliRunner; from amr_grpo.cli import app\n"
            f"out = {{}}\nfor name, argv in {commands!r}.items():\n"
            "    r = CliRunner().invoke(app, argv)\n"
            "    out[name] = [r.exit_code, r.output, [m for m in ('torch', 'transformers') if m in sys.modules]]\n"
            "print(json.dumps(out))")
    env = {k: v for k, v in os.environ.items() if k not in NO_KEYS} | {"AMR_GRPO_API_KEYS": "k"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name, (exit_code, output, heavy) in json.loads(proc.stdout).items():
        lines = [x for x in output.splitlines() if x.strip()]
        assert exit_code == 2 and heavy == [], (name, output, heavy)
        assert lines[0].startswith(f"error: the judge at {url} cannot be reached"), (name, output)
        assert len(lines) == 2 and lines[1].startswith("hint:") and "--no-probe" in lines[1], (name, output)
    assert not (tmp_path / "eval").exists()


def test_no_probe_skips_the_check_and_a_judge_that_answers_passes_it(data_dir, outputs, tmp_path, monkeypatch):
    for k in NO_KEYS:
        monkeypatch.delenv(k, raising=False)
    url = closed_port_url()
    base = ["evaluate", "--outputs", str(outputs), "--data", str(data_dir), "--judge", "openai", "--judge-set",
            "cache_path=null", "--judge-set", "connect_retries=0"]
    # --no-probe: the command goes on; every call is refused, so the configured fallback (rules) scores each case
    r = CliRunner().invoke(app, [*base, "--judge-set", f"base_url={url}", "--no-probe", "-o", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["judge_ledger"]["fallbacks"] == 2  # the 2 test cases, scored by the rules judge
    # the same with the probe, against a judge that answers: it passes and the judge scores both cases
    with FakeOpenAI() as fake:
        r = CliRunner().invoke(app, [*base, "--judge-set", f"base_url={fake.base_url}", "-o", str(tmp_path / "b")])
        assert r.exit_code == 0, r.output
        assert len(fake.requests) == 2  # the probe's GET /models spends no completion; one call a case
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["judge_ledger"]["fallbacks"] == 0 and summary["judge_ledger"]["calls"] == 2


def test_serve_goes_on_past_the_probe_with_no_probe_or_a_judge_that_answers(monkeypatch):
    # both stop at the busy port, bound after the probe: proof they got past it without starting a server
    for k in NO_KEYS:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AMR_GRPO_API_KEYS", "k")
    with socket.socket() as busy, FakeOpenAI() as fake:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for url, extra in ((closed_port_url(), ["--no-probe"]), (fake.base_url, [])):
            r = CliRunner().invoke(app, ["serve", "--port", port, "--judge", "openai", "--judge-base-url", url, *extra])
            assert r.exit_code == 2 and f"port {port} on 127.0.0.1 is already in use" in r.output, r.output


def test_train_probes_the_judge_before_the_run_dir_or_the_model(data_dir, tmp_path, monkeypatch):
    from amr_grpo.train.checks import check_environment
    from amr_grpo.train.config import TrainConfig

    for k in NO_KEYS:
        monkeypatch.delenv(k, raising=False)
    url, out = closed_port_url(), tmp_path / "run"  # no key set: a judge server on this machine needs none
    args = ["train", "--config", str(ROOT / "configs/train/tiny-cpu.yaml"), f"model.name_or_path={TINY}",
            f"data.dir={data_dir}", f"output_dir={out}", "judge.backend=openai", f"judge.base_url={url}"]
    r = CliRunner().invoke(app, args)
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert lines[-2].startswith(f"error: the judge at {url} cannot be reached"), r.output
    assert lines[-1].startswith("hint:") and "judge.probe=false" in lines[-1]
    assert not out.exists()  # before the run dir, the plan, the dataset and the model
    # judge.probe=false: the same checks pass (the next thing train would do is load the model)
    cfg = config_io.load(TrainConfig, ROOT / "configs/train/tiny-cpu.yaml", [*args[3:], "judge.probe=false"])
    check_environment(cfg, cuda=False)
    with pytest.raises(UserError, match="cannot be reached"):
        check_environment(config_io.load(TrainConfig, ROOT / "configs/train/tiny-cpu.yaml", args[3:]), cuda=False)
