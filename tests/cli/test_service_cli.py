"""`amr-grpo serve` as a user runs it, and the last-resort guard that keeps a crash from leaking a traceback.

Run: .venv/bin/pytest tests/cli/test_service_cli.py
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from live_service import capture_logs
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.service.middleware import RequestGuard
from amr_grpo.service.settings import Settings

SECRET = "OKAPI-SECRET-CASE-1001"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMR_GRPO_")}
    return env | extra


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["serve"], {}, "no API keys configured"),
        (["serve", "--judge", "oracle"], {"AMR_GRPO_API_KEYS": "k"}, "Invalid value for '--judge'"),
        (["serve", "--model", "/nonexistent/policy"], {"AMR_GRPO_API_KEYS": "k"}, "does not exist"),
        (["serve"], {"AMR_GRPO_API_KEYS": "k", "AMR_GRPO_MAX_BODY_BYTES": "lots"}, "max_body_bytes"),
        (
            ["serve"],
            {"AMR_GRPO_API_KEYS": "k", "AMR_GRPO_JUDGE_OVERRIDES": '["retries=9"]'},
            "unknown config key 'retries'",
        ),
        # issue 16: a key no client can send; issue 15: an LLM judge without its key (was a traceback in start-up)
        (["serve"], {"AMR_GRPO_API_KEYS": "k,clé"}, "api_keys: key 2 has a character outside printable ASCII"),
        (["serve", "--judge", "openai"], {"AMR_GRPO_API_KEYS": "k"}, "no API key for https://api.groq.com/openai/v1: "
                                                                      "$GROQ_API_KEY is not set"),
        (["serve", "--judge", "hybrid"], {"AMR_GRPO_API_KEYS": "k", "GROQ_API_KEY": " "}, "GROQ_API_KEY is not set"),
    ],
)
def test_serve_refuses_bad_setup_in_one_line(monkeypatch, args, env, message):
    for k in list(os.environ):
        if k.startswith(("AMR_GRPO_", "GROQ_")):
            monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_serve_reports_a_busy_port_before_loading_the_model(monkeypatch):
    # issue 15: the busy port came out after a 9 s model load; now the port is bound first. The model path does
    # not even exist as a model (an empty folder would fail to load): the port error must come before any loading.
    monkeypatch.setenv("AMR_GRPO_API_KEYS", "k")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port), "--model", "assets/tiny-policy"])
    assert result.exit_code == 2, result.output
    assert f"port {port} on 127.0.0.1 is already in use" in result.output and f"--port {port + 1}" in result.output
    assert "Traceback" not in result.output and "loaded" not in result.output


def test_serve_accepts_a_local_judge_server_without_a_key(monkeypatch):
    # vLLM or Ollama on this machine usually takes any key: no key needed, so the check lets it through (it then
    # stops at the busy port, which proves it got past the key check without starting a server; --no-probe: nothing
    # listens at the judge's URL, and the probe is tested in test_judge_probe.py)
    for k in list(os.environ):
        if k.startswith(("AMR_GRPO_", "GROQ_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("AMR_GRPO_API_KEYS", "k")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["serve", "--port", str(port), "--judge", "openai", "--judge-base-url", "http://127.0.0.1:9/v1",
                "--no-probe"]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "already in use" in result.output, result.output


def test_settings_from_the_environment(monkeypatch, tmp_path):
    recipe = tmp_path / "judge.yaml"
    recipe.write_text("backend: openai\nmax_retries: 5\ntimeout_s: 9\n")
    monkeypatch.setenv("AMR_GRPO_API_KEYS", " key-one, key-two ,,")
    monkeypatch.setenv("AMR_GRPO_CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("AMR_GRPO_JUDGE_CONFIG", str(recipe))
    monkeypatch.setenv("AMR_GRPO_JUDGE_OVERRIDES", '["max_retries=1"]')
    monkeypatch.setenv("AMR_GRPO_CACHE_PATH", str(tmp_path / "c.sqlite"))
    settings = Settings()
    assert [k.get_secret_value() for k in settings.api_keys] == ["key-one", "key-two"]
    assert "key-one" not in repr(settings)  # SecretStr: printing the settings shows no key
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    cfg = settings.load_judge_config()
    # defaults -> the service's quota_fallback=none -> YAML (openai, 5 retries, 9 s) -> overrides (1 retry) -> cache
    assert (cfg.backend, cfg.max_retries, cfg.timeout_s) == ("openai", 1, 9.0)
    assert (cfg.cache_path, cfg.quota_fallback) == (str(tmp_path / "c.sqlite"), "none")


def test_serve_no_auth_warns_and_logs_json(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("amr-grpo")
    err = open(tmp_path / "stderr.txt", "w+b")  # noqa: SIM115 - closed below, after the process
    proc = subprocess.Popen(
        [str(exe), "serve", "--no-auth", "--port", str(port)],
        env=_env(AMR_GRPO_CACHE_PATH=str(tmp_path / "c.sqlite")),
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr.txt").read_text()
            time.sleep(0.2)
        body = {"patient_case": f"F 30y, cystitis {SECRET}", "model_output": "Decision: Approve"}
        r = httpx.post(url + "/v1/evaluate", json=body, timeout=30)  # no key needed
        assert r.status_code == 200, r.text
        assert httpx.get(url + "/healthz").json()["auth"] is False
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        err.close()
    text = (tmp_path / "stderr.txt").read_text()
    assert "authentication is OFF" in text and "not for clinical use" in text
    access = [json.loads(line) for line in text.splitlines() if line.startswith('{"event": "access"')]
    assert {(a["path"], a["status"]) for a in access} >= {("/healthz", 200), ("/v1/evaluate", 200)}
    assert SECRET not in text


def test_an_unhandled_exception_is_a_500_error_body_without_traceback():
    async def broken(scope, receive, send):
        raise RuntimeError(f"boom with case text {SECRET}")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=RequestGuard(broken, max_body_bytes=1000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.post("/v1/evaluate", json={"patient_case": SECRET})

    with capture_logs() as logs:
        r = asyncio.run(call())
    assert r.status_code == 500
    assert r.json() == {
        "error": {"code": "internal_error", "message": "internal error; see the server log", "field": None}
    }
    assert "Traceback" not in r.text and SECRET not in r.text and r.headers["x-request-id"]
    assert '"type": "RuntimeError"' in logs.text and "middleware.py" in logs.text  # where, for the operator
    assert SECRET not in logs.text  # the exception message may hold case text: never logged
