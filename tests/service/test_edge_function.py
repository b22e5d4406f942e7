"""The Supabase Edge Function against the Python package: the copies it carries, its Deno tests, end-to-end parity
with the Python service, and the deploy script.

Parity: the fake OpenAI-compatible server (tests/fake_openai.py) answers both services; the Edge Function is served
by Deno on a loopback port (index.ts, Deno.serve) and the Python service by uvicorn (tests/live_service.py); every
vector of tests/vectors/evaluate.json marked parity goes to both, and the answers must be equal.
Deno comes from `make tools` (.tools/node_modules/.bin/deno) or $AMR_GRPO_DENO; without it these tests skip, except
in CI (env CI set), where a missing Deno fails.
Run: .venv/bin/pytest tests/service/test_edge_function.py
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_openai import FakeOpenAI
from live_service import LiveService

from amr_grpo.judge.api import ApiJudge
from amr_grpo.judge.base import EvalRequest, JudgeError
from amr_grpo.metrics import resolve_metrics
from amr_grpo.service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = ROOT / "supabase" / "functions" / "evaluate-prescription"
PACKAGE = ROOT / "src" / "amr_grpo"
VECTORS = json.loads((ROOT / "tests" / "vectors" / "evaluate.json").read_text(encoding="utf-8"))["vectors"]
PARITY = [v for v in VECTORS if v["parity"]]
DEPLOY = ROOT / "scripts" / "deploy_supabase.sh"
PATH = "/evaluate-prescription"  # Supabase serves the function at /functions/v1/evaluate-prescription
SERVICE_PATH = "/functions/v1/evaluate-prescription"
EDGE_KEY = "gsk_edge_parity_key_never_echoed"
JUDGE_MODEL = "fake-judge"


def deno_binary() -> str | None:
    """$AMR_GRPO_DENO, else the one `make tools` installs, else deno on PATH."""
    if os.environ.get("AMR_GRPO_DENO"):
        return os.environ["AMR_GRPO_DENO"]
    local = ROOT / ".tools" / "node_modules" / ".bin" / "deno"
    return str(local) if local.exists() else shutil.which("deno")


@pytest.fixture(scope="module")
def deno() -> str:
    path = deno_binary()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("deno is missing in CI: `make tools` installs it into .tools/ (or set AMR_GRPO_DENO)")
        pytest.skip("deno not found: run `make tools` (npm install of deno into .tools/) or set AMR_GRPO_DENO")
    return path


def deno_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMR_GRPO_", "GROQ_"))}
    return {**env, "NO_COLOR": "1", "DENO_NO_UPDATE_CHECK": "1", **extra}


# --- (a) the copies the function carries (all of them: tests/service/test_edge_tables.py) ------------------------------


def test_metrics_json_is_a_byte_identical_copy():
    copy = FUNCTION_DIR / "metrics.json"
    assert copy.read_bytes() == (PACKAGE / "metrics.json").read_bytes(), (
        f"{copy} differs from src/amr_grpo/metrics.json: .venv/bin/python scripts/sync_edge_tables.py"
    )


def test_rubric_prompt_is_the_package_prompt():
    # The function imports the prompt as JSON (Supabase bundles JSON imports); its text must be the .md verbatim.
    source = (PACKAGE / "judge" / "prompts" / "rubric_v2.md").read_text(encoding="utf-8")
    copy = json.loads((FUNCTION_DIR / "rubric_v2.json").read_text(encoding="utf-8"))
    assert copy["text"] == source, (
        "supabase/functions/evaluate-prescription/rubric_v2.json is out of date: .venv/bin/python "
        "scripts/sync_edge_tables.py"
    )


# --- (b) the Deno tests ----------------------------------------------------------------------------------------


def run_deno(deno: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [deno, *args], cwd=FUNCTION_DIR, env=deno_env(), capture_output=True, text=True, timeout=timeout
    )


def test_deno_tests_pass(deno):
    r = run_deno(deno, "test", "--allow-read", "--allow-net=127.0.0.1")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    m = re.search(r"ok \| (\d+) passed \((\d+) steps\) \| 0 failed", out)
    assert m, out[-3000:]
    assert int(m.group(2)) >= len(VECTORS)  # one step per shared vector, at least


def test_deno_lint_and_format(deno):
    for args in (["lint"], ["fmt", "--check"], ["check", "index.ts"]):
        r = run_deno(deno, *args, timeout=120)
        assert r.returncode == 0, f"deno {' '.join(args)}:\n{(r.stdout + r.stderr)[-3000:]}"


# --- (c) end-to-end parity: the Python service and the Edge Function on loopback, one fake judge ---------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as f:
        for v in PARITY:
            if v["expect"]["status"] == 200:  # each vector's canned judge answer, selected by its marker
                f.script(contains=v["marker"], answer=v["judge"][0]["answer"])
        yield f


class DenoServer:
    """`deno run index.ts` (Deno.serve) on a free 127.0.0.1 port, found from its 'Listening on' line."""

    def __init__(self, deno: str, env: dict[str, str]):
        self.proc = subprocess.Popen(
            [deno, "run", "--allow-net=127.0.0.1", "--allow-env", "index.ts"],
            cwd=FUNCTION_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.url = ""
        while not self.url:
            try:
                line = self.lines.get(timeout=120)
            except queue.Empty:
                self.close()
                raise TimeoutError("deno did not start serving in 120 s:\n" + "".join(self.output)) from None
            m = re.search(r"Listening on (http://127\.0\.0\.1:\d+)", line)
            if m:
                self.url = m.group(1)
            elif self.proc.poll() is not None:
                raise RuntimeError("deno exited:\n" + "".join(self.output))

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put("")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def edge(deno, fake) -> Iterator[DenoServer]:
    env = deno_env(
        DENO_SERVE_ADDRESS="tcp:127.0.0.1:0",
        GROQ_API_KEY=EDGE_KEY,
        GROQ_BASE_URL=fake.groq_base_url,
        AMR_GRPO_JUDGE_MODEL=JUDGE_MODEL,
    )
    server = DenoServer(deno, env)
    yield server
    server.close()


@pytest.fixture(scope="module")
def service(fake, tmp_path_factory) -> Iterator[LiveService]:
    settings = Settings(
        auth=False,
        rate_limit_per_minute=0,
        cache_path=tmp_path_factory.mktemp("edge") / "cache.sqlite",
        judge_overrides=("backend=openai", f"base_url={fake.base_url}", f"model={JUDGE_MODEL}", "max_retries=0"),
    )
    with LiveService(settings) as s:
        yield s


def send(client: httpx.Client, url: str, v: dict[str, Any]) -> httpx.Response:
    """The vector's request, exactly as vectors_test.ts builds it."""
    r = v["request"]
    headers = {}
    content_type = r.get("content_type", "application/json")
    if content_type is not None:
        headers["content-type"] = content_type
    content = r.get("raw")
    if "body" in r:
        body = json.loads(json.dumps(r["body"]))
        if r.get("pad_model_output_to"):
            body["model_output"] = "x" * r["pad_model_output_to"]
        content = json.dumps(body)
    method = r.get("method", "POST")
    return client.request(method, url, headers=headers, content=None if method == "GET" else content)


@pytest.mark.parametrize("v", PARITY, ids=[v["name"] for v in PARITY])
def test_python_service_and_edge_function_agree(v, edge, service, fake):
    with httpx.Client(timeout=60) as client:
        before = len([q for q in fake.requests if v["marker"] in q.prompt])
        py = send(client, service.url + SERVICE_PATH, v)
        ts = send(client, edge.url + PATH, v)
    calls = len([q for q in fake.requests if v["marker"] in q.prompt]) - before
    exp = v["expect"]
    assert (py.status_code, ts.status_code) == (exp["status"], exp["status"]), (v["why"], py.text[:500], ts.text[:500])
    assert calls == 2 * exp["judge_calls"], "each service calls the judge the vector's number of times"
    py_body, ts_body = py.json(), ts.json()
    if exp["status"] == 200:
        # The whole answer is equal: scores, justifications, the weighted reward to the last bit, flags, judge.
        assert ts_body == py_body
        assert {k: s["score"] for k, s in py_body["scores"].items()} == exp["scores"]
        assert py_body["weighted_reward"] == exp["weighted_reward"], v["why"]
        assert py_body["metrics_used"] == exp["metrics_used"]
        assert py_body["flags"] == exp["flags"]
        if exp.get("prompt_contains"):  # a checklist in the request reaches both services' judge prompts
            prompts = [q.prompt for q in fake.requests if v["marker"] in q.prompt]
            assert len(prompts) == 2 and all(exp["prompt_contains"] in p for p in prompts)
        assert py_body["judge"] == {"backend": "openai", "model": JUDGE_MODEL, "rubric_version": "amr-rubric-v2"}
    else:
        want = {"code": exp["error"]["code"], "field": exp["error"]["field"]}
        for body in (py_body, ts_body):
            assert set(body) == {"error"} and {k: body["error"][k] for k in ("code", "field")} == want, (v["why"], body)
        assert py.headers.get("retry-after") == ts.headers.get("retry-after")


def test_edge_function_log_has_no_key_and_no_case_text(edge):
    # After the parity run: the function's console (its Supabase log) holds access lines only.
    text = "".join(edge.output)
    assert '"event":"access"' in text
    assert EDGE_KEY not in text and "Amoxicillin" not in text and "Nitrofurantoin" not in text


def test_remote_reward_scores_through_the_edge_function(edge, fake):
    # judge.backend "api" pointed at the function (issue 4, remote reward): its verdict is the vector's, and Groq's
    # 429 reaches the caller's JudgeEngine as rate_limited with Groq's wait.
    ok = next(v for v in PARITY if v["name"] == "all-six")
    limit = {"error": {"message": "Rate limit reached (RPM)", "type": "requests", "code": "rate_limit_exceeded"}}
    fake.script(contains="[remote-429]", status=429, headers={"retry-after": "7"}, answer=limit)
    judge = ApiJudge(edge.url)

    async def run() -> tuple[Any, JudgeError]:
        b = ok["request"]["body"]
        metrics = tuple(resolve_metrics(b["metrics"]))
        try:
            verdict = await judge.score(EvalRequest(b["patient_case"], b["model_output"], None, metrics))
            try:
                await judge.score(EvalRequest(b["patient_case"], "Decision: Approve [remote-429]", None, metrics))
            except JudgeError as e:
                return verdict, e
            raise AssertionError("the function scored a request its judge refused")
        finally:
            await judge.aclose()

    verdict, error = asyncio.run(run())
    assert {k: s.score for k, s in verdict.scores.items()} == ok["expect"]["scores"]
    assert verdict.weighted_reward == ok["expect"]["weighted_reward"]
    assert (error.kind, error.retry_after) == ("rate_limited", 7.0)


# --- (4) the deploy script --------------------------------------------------------------------------------------

REF = "abcdefghijklmnopqrst"  # 20 lower-case letters and digits, as a Supabase project ref
SECRET = "gsk_deploy_secret_value_1234"


def deploy(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(DEPLOY), *args], env=env, capture_output=True, text=True, timeout=60)


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path), **extra}


def commands(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


def test_deploy_dry_run_prints_each_command_and_masks_the_key(tmp_path):
    r = deploy("--project-ref", REF, "--dry-run", env=base_env(tmp_path, GROQ_API_KEY=SECRET))
    assert r.returncode == 0, r.stderr
    assert SECRET not in r.stdout + r.stderr
    cmds = commands(r.stdout)
    assert cmds[2] == f"supabase link --project-ref {REF}"
    assert re.fullmatch(rf"supabase secrets set --project-ref {REF} --env-file \S+amr-grpo-secrets\.\w+", cmds[3])
    assert cmds[4] == f"supabase functions deploy evaluate-prescription --project-ref {REF}"
    assert "GROQ_API_KEY=****" in r.stdout
    assert f"https://{REF}.supabase.co/functions/v1/evaluate-prescription" in r.stdout
    assert 'Authorization: Bearer $SUPABASE_ANON_KEY' in r.stdout and "research tool" in r.stdout.lower()
    assert not list(tmp_path.glob("amr-grpo-secrets.*")), "the temporary secrets file is removed"
    nojwt = deploy("--project-ref", REF, "--dry-run", "--no-verify-jwt", env=base_env(tmp_path, GROQ_API_KEY=SECRET))
    assert commands(nojwt.stdout)[4].endswith("--no-verify-jwt") and "SUPABASE_ANON_KEY" not in nojwt.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--dry-run"], {"GROQ_API_KEY": SECRET}, "no project given"),
        (["--project-ref", "My-Project", "--dry-run"], {"GROQ_API_KEY": SECRET}, "is not 20 lower-case"),
        (["--project-ref", REF, "--dry-run"], {}, "GROQ_API_KEY is not set"),
        (["--project-ref", REF, "--bogus"], {"GROQ_API_KEY": SECRET}, "unknown option '--bogus'"),
        (["--project-ref", REF], {"GROQ_API_KEY": SECRET}, "the supabase CLI is not installed"),
    ],
)
def test_deploy_refuses_bad_input_with_one_line_and_a_hint(tmp_path, args, env, message):
    r = deploy(*args, env=base_env(tmp_path, **env))
    assert r.returncode == 2
    assert message in r.stderr and "hint:" in r.stderr and "Traceback" not in r.stderr
    assert commands(r.stdout) == [] and SECRET not in r.stdout + r.stderr


STUB = """#!/usr/bin/env bash
# A stand-in for the supabase CLI: records its arguments; 'secrets set' records the env file's mode and content.
echo "$*" >> "$STUB_LOG"
if [ "$1 $2" = "projects list" ]; then exit "${STUB_LOGIN_RC:-0}"; fi
if [ "$1 $2" = "secrets set" ]; then f="${@: -1}"; stat -c %a "$f" >> "$STUB_LOG"; cat "$f" > "$STUB_SECRETS"; fi
exit 0
"""


def install_stub(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir(exist_ok=True)
    stub = tmp_path / "bin" / "supabase"
    stub.write_text(STUB)
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)


def test_deploy_runs_the_cli_and_passes_the_key_only_through_a_private_file(tmp_path):
    install_stub(tmp_path)
    log, secrets = tmp_path / "calls.log", tmp_path / "secrets.env"
    env = base_env(tmp_path, GROQ_API_KEY=SECRET, STUB_LOG=str(log), STUB_SECRETS=str(secrets))
    r = deploy("--project-ref", REF, env=env)
    assert r.returncode == 0, r.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "projects list"
    assert calls[1] == f"link --project-ref {REF}"
    assert calls[2].startswith(f"secrets set --project-ref {REF} --env-file ") and SECRET not in calls[2]
    assert calls[3] == "600"  # the env file is readable by its owner only
    assert calls[4] == f"functions deploy evaluate-prescription --project-ref {REF}"
    assert secrets.read_text() == f"GROQ_API_KEY={SECRET}\n"
    assert SECRET not in r.stdout + r.stderr
    assert not list(tmp_path.glob("amr-grpo-secrets.*"))


def test_deploy_stops_when_the_cli_is_not_logged_in(tmp_path):
    install_stub(tmp_path)
    log = tmp_path / "calls.log"
    stub = {"STUB_LOG": str(log), "STUB_SECRETS": str(tmp_path / "s"), "STUB_LOGIN_RC": "1"}
    env = base_env(tmp_path, GROQ_API_KEY=SECRET, **stub)
    r = deploy("--project-ref", REF, env=env)
    assert r.returncode == 2 and "not logged in" in r.stderr and "SUPABASE_ACCESS_TOKEN" in r.stderr
    assert log.read_text().splitlines() == ["projects list"]  # nothing linked, set or deployed


def test_deploy_help():
    r = subprocess.run(["bash", str(DEPLOY), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "--project-ref REF" in r.stdout and "--dry-run" in r.stdout


# --- (5) issue 16: the same limits on both services (slow and vanishing clients, depth, numbers, surrogates) -----
# Both servers run with a 1 s body timeout; the bodies below are refused before any judge call, or scored by the
# fake judge's default answer, so only status, code and field are compared.

BODY_TIMEOUT_S = "1"
GOOD = {"patient_case": "F 30y, cystitis; nitrofurantoin 100 mg BD x 5 days", "model_output": "Decision: Approve"}


def _nested(depth: int) -> str:
    """A request whose body nests `depth` levels: the body (1), patient_case (2), then lists down to `depth`."""
    inner = "[" * (depth - 2) + '"cystitis"' + "]" * (depth - 2)
    return '{"patient_case": {"diagnosis": "cystitis", "notes": %s}, "model_output": "x"}' % inner


LIMIT_BODIES = [
    ("depth-64", _nested(64), 200),
    ("depth-65", _nested(65), 422),
    ("depth-10000", '{"patient_case": {"a": ' + "[" * 10_000 + "]" * 10_000 + '}, "model_output": "x"}', 422),
    ("lone-high-surrogate", '{"patient_case": "F 30y \\ud800 cystitis", "model_output": "x"}', 422),
    ("lone-low-surrogate-key", '{"patient_case": {"a\\udc00": "cystitis"}, "model_output": "x"}', 422),
    ("surrogate-pair", '{"patient_case": "F 30y \\ud83d\\ude00 cystitis", "model_output": "x"}', 200),
    ("nan", '{"patient_case": {"diagnosis": "cystitis", "weight_kg": NaN}, "model_output": "x"}', 422),
    ("infinity", '{"patient_case": {"diagnosis": "cystitis", "weight_kg": -Infinity}, "model_output": "x"}', 422),
    ("1e400", '{"patient_case": {"diagnosis": "cystitis", "weight_kg": 1e400}, "model_output": "x"}', 422),
    ("400-digits", '{"patient_case": {"diagnosis": "cystitis", "n": 1' + "0" * 400 + '}, "model_output": "x"}', 422),
    ("1e308", '{"patient_case": {"diagnosis": "cystitis", "weight_kg": 1e308}, "model_output": "x"}', 200),
    ("empty-case", json.dumps({**GOOD, "patient_case": ""}), 422),
    ("metrics-foo", json.dumps({**GOOD, "metrics": "foo"}), 422),
    ("metrics-empty-list", json.dumps({**GOOD, "metrics": []}), 422),
    ("numeric-decision", json.dumps({**GOOD, "ground_truth": {"decision": 3}}), 422),
    ("output-at-max", json.dumps({**GOOD, "model_output": "\U0001f600" * 20_000}), 200),
    ("output-over-max", json.dumps({**GOOD, "model_output": "\U0001f600" * 20_001}), 422),
]


@pytest.fixture(scope="module")
def edge_1s(deno, fake) -> Iterator[DenoServer]:
    env = deno_env(DENO_SERVE_ADDRESS="tcp:127.0.0.1:0", GROQ_API_KEY=EDGE_KEY, GROQ_BASE_URL=fake.groq_base_url,
                   AMR_GRPO_JUDGE_MODEL=JUDGE_MODEL, AMR_GRPO_BODY_TIMEOUT_S=BODY_TIMEOUT_S)
    server = DenoServer(deno, env)
    yield server
    server.close()


@pytest.fixture(scope="module")
def service_1s(fake, tmp_path_factory) -> Iterator[LiveService]:
    settings = Settings(auth=False, rate_limit_per_minute=0, body_timeout_s=float(BODY_TIMEOUT_S),
                        cache_path=tmp_path_factory.mktemp("edge1s") / "cache.sqlite",
                        judge_overrides=("backend=openai", f"base_url={fake.base_url}", f"model={JUDGE_MODEL}",
                                         "max_retries=0"))
    with LiveService(settings) as s:
        yield s


@pytest.mark.parametrize(("name", "raw", "status"), LIMIT_BODIES, ids=[b[0] for b in LIMIT_BODIES])
def test_both_services_refuse_the_same_bodies(name, raw, status, edge_1s, service_1s):
    headers = {"content-type": "application/json"}
    with httpx.Client(timeout=60) as client:
        py = client.post(service_1s.url + SERVICE_PATH, content=raw.encode(), headers=headers)
        ts = client.post(edge_1s.url + PATH, content=raw.encode(), headers=headers)
    assert (py.status_code, ts.status_code) == (status, status), (name, py.text[:300], ts.text[:300])
    if status == 422:
        fields = [(b["error"]["code"], b["error"]["field"]) for b in (py.json(), ts.json())]
        assert fields[0] == fields[1], (name, fields)


def _short_body(port: int, path: str) -> bytes:
    """Headers announcing 100 bytes, 20 of them, then silence: all the server sends before it closes or 10 s."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: 100\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + b'{"patient_case": "x"')
        return s.recv(65536)  # before the fix: nothing, on either server (the timeout fails the test)


def test_both_services_answer_a_short_body_with_408(edge_1s, service_1s):
    for url, path in ((service_1s.url, SERVICE_PATH), (edge_1s.url, PATH)):
        answer = _short_body(int(url.rsplit(":", 1)[1]), path)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower(), (url, answer[:300])
        assert json.loads(body)["error"]["code"] == "request_timeout"


def test_a_client_leaving_mid_body_is_one_499_line_at_the_edge(edge_1s):
    port = int(edge_1s.url.rsplit(":", 1)[1])
    before = len(edge_1s.output)
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: 1000\r\n\r\n{\"patient_case\": ".encode())
            time.sleep(0.1)
    deadline = time.monotonic() + 10
    while len(edge_1s.output) - before < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = edge_1s.output[before:]
    assert [json.loads(x)["status"] for x in lines] == [499] * 3, lines  # before: 500 and an "unhandled" line
