"""What a provider's failures leave behind: keys scrubbed from every message (an echoing proxy), a refused
connection named unreachable, the probe's one-line answers, and a fake server that answers any prompt at once.
Run: .venv/bin/pytest tests/judge/test_provider_errors.py
"""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from fake_openai import FakeOpenAI

from amr_grpo.errors import UserError
from amr_grpo.judge import probe
from amr_grpo.judge.base import EvalRequest, JudgeError
from amr_grpo.judge.config import JudgeConfig
from amr_grpo.judge.llm import OpenAIJudge
from amr_grpo.judge.redact import register_secret, scrub

CASE = "28-year-old woman, no allergies, CrCl 95. Diagnosis: acute cystitis, OPD. Prescription: Ciprofloxacin."
OUTPUT = "Step 1 - Clinical picture: cystitis.\nDecision: Modify\nReference: NCDC NTG 2025, UTI"
KEYS = ("clinical_accuracy", "safety_awareness")


def req() -> EvalRequest:
    return EvalRequest(CASE, OUTPUT, None, KEYS)


def run(coro):
    return asyncio.run(coro)


# -- keys never leave through provider text ---------------------------------------------------------------------
SECRET = "gsk_live_0123456789abcdefSECRET"


@pytest.mark.parametrize("status, kind", [(401, "unavailable"), (400, "unavailable"), (429, "quota_exhausted")])
def test_a_provider_that_echoes_the_authorization_header_never_gets_the_key_into_an_error(status, kind):
    with FakeOpenAI(echo_auth=status) as echo:
        with pytest.raises(JudgeError) as e:
            run(OpenAIJudge(echo.base_url, "m", api_key=SECRET).score(req()))
        assert SECRET in json.dumps(echo.requests[0].headers)  # it was sent, and the proxy quoted it back
    # the 400 and 429 messages quote the provider's text (it names the quota); the key in it is masked
    assert e.value.kind == kind and SECRET not in str(e.value) and SECRET not in repr(e.value.args)
    if status != 401:
        assert "Authorization: Bearer [redacted]" in str(e.value)


def test_scrub_masks_registered_keys_and_token_patterns_anywhere():
    register_secret("sk-proj-abcdefghijklmnop")
    text = scrub('401 {"detail": "bad key sk-proj-abcdefghijklmnop", "authorization": "Bearer tok.en-1", '
                 '"x-api-key": "zzz"} at https://user:hunter2@proxy.local/v1?api_key=qqq')
    for secret in ("sk-proj-abcdefghijklmnop", "tok.en-1", "zzz", "hunter2", "qqq"):
        assert secret not in text
    assert scrub("authorization failed for model m") == "authorization failed for model m"  # words stay
    register_secret("short")  # a placeholder key ("not-needed", "x") is no secret: masking it would eat words
    assert scrub("a short answer") == "a short answer"


# -- unreachable and the probe -------------------------------------------------------------------------------------
def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1"


def test_a_refused_connection_is_unreachable_and_names_the_url():
    url = closed_port_url()
    with pytest.raises(JudgeError) as e:
        run(OpenAIJudge(url, "m", api_key="k").score(req()))
    assert e.value.kind == "unreachable" and url in str(e.value)  # was server_error, retried like a busy server


def test_probe_names_the_missing_key_variable_the_unreachable_url_and_the_rejected_key(monkeypatch):
    for var in ("GROQ_API_KEY", "AMR_GRPO_JUDGE_API_KEY", "AMR_GRPO_JUDGE_BASE_URL", "MY_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(UserError, match="no API key") as e:
        probe(JudgeConfig(backend="openai", api_key_env="MY_KEY"))
    assert "MY_KEY" in e.value.hint
    monkeypatch.setenv("MY_KEY", "sk-probe-key-123456")
    url = closed_port_url()
    with pytest.raises(UserError, match="cannot be reached") as e:
        probe(JudgeConfig(backend="openai", base_url=url, api_key_env="MY_KEY"))
    assert url in str(e.value) and "--no-probe" in e.value.hint
    with FakeOpenAI(api_key="another-key") as fake:
        with pytest.raises(UserError, match="rejected the key in MY_KEY"):
            probe(JudgeConfig(backend="openai", base_url=fake.base_url, api_key_env="MY_KEY"))
        assert fake.requests == [] and "sk-probe-key" not in str(e.value)  # GET /models: no completion, no tokens
    with FakeOpenAI(api_key="sk-probe-key-123456") as fake:
        probe(JudgeConfig(backend="openai", base_url=fake.base_url, api_key_env="MY_KEY"))  # passes quietly
    probe(JudgeConfig(backend="rules"))  # nothing to probe


def test_the_fake_server_answers_a_prompt_of_many_punctuation_lines_at_once():
    """The fake once spun for minutes on such prompts (what a deeply nested case renders to): an anchored,
    multi-line regex backtracked across every line (20,000 lines: 26 s per pattern, two patterns a request)."""
    case = "cystitis\n" + "}\n" * 20_000
    with FakeOpenAI() as fake:
        v = run(OpenAIJudge(fake.base_url, "m", api_key="k", timeout_s=10).score(EvalRequest(case, OUTPUT, None, KEYS)))
    assert list(v.scores) == list(KEYS)  # the requested metrics line was still found after all those lines
