"""The `openai` judge: the rubric prompt through any OpenAI-compatible chat-completions endpoint (Groq by default).

Defaults: base URL https://api.groq.com/openai/v1, model llama-3.3-70b-versatile, key from GROQ_API_KEY. Overrides:
constructor arguments (from JudgeConfig), else AMR_GRPO_JUDGE_BASE_URL / AMR_GRPO_JUDGE_MODEL / AMR_GRPO_JUDGE_API_KEY,
so vLLM, SGLang, Ollama or OpenAI work the same. Several endpoints (keys, servers) make one judge: one client each,
and the JudgeEngine (the CallMeter) says which one takes each call. JSON mode, temperature 0, pydantic validation of
the answer, one retry that quotes the validation error, then JudgeError("bad_answer"). HTTP failures become JudgeError
kinds the JudgeEngine retries or stops on: 429 -> rate_limited, or quota_exhausted when the provider's wait is far
longer than a step (or it names a daily quota); 5xx and broken connections -> server_error; no connection at all
(refused, DNS, connect timeout, `connect_timeout_s`) -> unreachable; timeouts -> timeout; other 4xx -> unavailable.
Provider text in a message is scrubbed of keys and tokens first (judge/redact.py). The SDK's own retries are off
(max_retries=0): the engine retries, once.
Try it: python tests/fake_openai.py &  AMR_GRPO_JUDGE_BASE_URL=<printed URL> AMR_GRPO_JUDGE_API_KEY=x \
  amr-grpo judge --input tests/data/judge_requests.jsonl --judge openai -o /tmp/out.jsonl
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from amr_grpo.errors import UserError
from amr_grpo.judge import injection
from amr_grpo.judge.base import EvalRequest, JudgeError, Usage
from amr_grpo.judge.config import Endpoint, endpoints_model
from amr_grpo.judge.redact import register_secret, scrub
from amr_grpo.judge.rubric import (
    AnswerError,
    Prompt,
    build_verdict,
    case_unread,
    parse_answer,
    parse_group_answer,
    prompt_id,
    render_group_prompt,
    render_prompt,
)
from amr_grpo.records import Verdict

DEFAULT_BASE_URL = "https://api.groq.com/openai/v1"
DEFAULT_MODEL = "llama-3.3-70b-versatile"
DEFAULT_KEY_ENV = "GROQ_API_KEY"
ENV_BASE_URL, ENV_MODEL, ENV_KEY = "AMR_GRPO_JUDGE_BASE_URL", "AMR_GRPO_JUDGE_MODEL", "AMR_GRPO_JUDGE_API_KEY"
QUOTA_THRESHOLD_S = 120.0  # a 429 asking to wait longer than this is a spent quota, not a busy minute
_QUOTA_WORDS = re.compile(r"per day|\(RPD\)|\(TPD\)|daily|insufficient_quota|quota", re.I)
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")
_TRY_AGAIN = re.compile(r"try again in\s+([\dhms.]+)", re.I)


class CallMeter(Protocol):
    """What a JudgeEngine plugs into a judge to see every model call: limiters and budget before (returning the
    index of the endpoint that takes the call), ledger after."""

    async def before_call(self, prompt_tokens: int, completion_tokens: int) -> int | None: ...

    def after_call(
        self, usage: Usage, latency_s: float, error: JudgeError | None, endpoint: int | None = None
    ) -> None: ...


def resolve_endpoint(base_url: str | None = None, model: str | None = None) -> tuple[str, str]:
    """(base_url, model): the argument, else the environment, else Groq's defaults."""
    return (
        base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL,
        model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL,
    )


def _is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def parse_duration(text: str | None) -> float | None:
    """'7', '0.05', '2m59.56s', '1h2m', '350ms' -> seconds; None when unreadable."""
    if not text:
        return None
    text = text.strip().lower()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    m = _DURATION.match(text)
    if not m or not any(m.groups()):
        return None
    h, mi, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s + ms / 1000


class PromptJudge:
    """Rubric prompt in, validated Verdict out, for any text-completion backend (`_complete` is the backend)."""

    backend = "prompt"
    model = ""
    max_tokens = 0  # 0 = sized from the metrics requested

    def __init__(self) -> None:
        self.meter: CallMeter | None = None
        self.cache_tag = prompt_id()

    async def _complete(self, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, Usage]:
        raise NotImplementedError

    async def _complete_at(self, endpoint: int, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, Usage]:
        """`_complete` on the endpoint the meter chose (a judge with one backend has one)."""
        return await self._complete(messages, max_tokens)

    def _max_tokens(self, prompt: Prompt) -> int:
        return self.max_tokens or min(8192, 2 * prompt.estimated_tokens()[1] + 200)

    async def _call(self, prompt: Prompt, messages: list[dict[str, str]]) -> str:
        est_prompt, est_completion = prompt.estimated_tokens()
        endpoint = await self.meter.before_call(est_prompt, est_completion) if self.meter is not None else None
        t0 = time.perf_counter()
        estimate = {"estimated_tokens": est_prompt + est_completion}
        usage, error = Usage(calls=1, extra=estimate), None
        try:
            text, usage = await self._complete_at(endpoint or 0, messages, self._max_tokens(prompt))
            usage.extra.update(estimate)
            return text
        except JudgeError as e:
            error = e
            raise
        finally:
            if self.meter is not None:
                self.meter.after_call(usage, time.perf_counter() - t0, error, endpoint)

    async def _ask(self, prompt: Prompt, parse: Any) -> Any:
        """One call; if the answer does not validate, one more that quotes the error; then bad_answer."""
        text = ""
        try:
            text = await self._call(prompt, prompt.messages)
            return parse(text)
        except AnswerError as first:
            retry = prompt.messages + [
                {"role": "assistant", "content": text[:4000]},
                {
                    "role": "user",
                    "content": f"Your answer was not valid: {first}. Answer again with only the JSON object in the "
                    f"form given above, scoring exactly these metrics: {', '.join(prompt.keys)}.",
                },
            ]
            try:
                return parse(await self._call(prompt, retry))
            except AnswerError as second:
                raise JudgeError("bad_answer", f"the judge's answer did not fit the rubric twice: {second}") from None

    async def score(self, request: EvalRequest) -> Verdict:
        screened = injection.screen(request.model_output)
        prompt = render_prompt(request, screened=screened)
        scores, flags = await self._ask(prompt, lambda text: parse_answer(text, prompt.keys))
        return build_verdict(scores, flags, self.backend, self.model, injection_screened=screened,
                             case_unread=case_unread(request))

    async def score_group(self, requests: Sequence[EvalRequest]) -> list[Verdict]:
        """All completions of one case (same patient_case, ground_truth and metrics) in one call."""
        screens = [injection.screen(r.model_output) for r in requests]
        prompt = render_group_prompt(requests, screened=any(screens))
        items = await self._ask(prompt, lambda text: parse_group_answer(text, prompt.ids, prompt.keys))
        unread = case_unread(requests[0])
        return [
            build_verdict(scores, flags, self.backend, self.model, injection_screened=s, case_unread=unread)
            for (scores, flags), s in zip(items, screens, strict=True)
        ]


class OpenAIJudge(PromptJudge):
    """Judge through one or several OpenAI-compatible endpoints. Keys are never logged or shown (repr omits them,
    and every message is scrubbed of them)."""

    backend = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        *,
        api_key_env: str = DEFAULT_KEY_ENV,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_tokens: int = 0,
        quota_threshold_s: float = QUOTA_THRESHOLD_S,
        json_mode: bool = True,
        endpoints: Sequence[Endpoint] = (),
    ):
        """`endpoints`: resolved ones (JudgeConfig.resolved_endpoints()); without them, the one endpoint the other
        arguments (then the environment, then Groq's defaults) describe."""
        super().__init__()
        if not endpoints:
            url, name = resolve_endpoint(base_url, model)
            endpoints = [Endpoint(name=urlsplit(url).hostname or url, base_url=url, model=name,
                                  api_key_env=api_key_env or DEFAULT_KEY_ENV)]
        self.endpoints = list(endpoints)
        # one endpoint: AMR_GRPO_JUDGE_API_KEY wins, as documented; several: each its own variable
        self._keys = [self._key(e, api_key, len(self.endpoints) == 1) for e in self.endpoints]
        self.base_url, self.model = str(self.endpoints[0].base_url), endpoints_model(self.endpoints)
        self.timeout_s, self.connect_timeout_s = timeout_s, connect_timeout_s
        self.max_tokens, self.quota_threshold_s, self.json_mode = max_tokens, quota_threshold_s, json_mode
        self._clients: list[Any] = [None] * len(self.endpoints)
        self._loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def _key(e: Endpoint, api_key: str | None, single: bool) -> str:
        env = e.api_key_env or DEFAULT_KEY_ENV
        key = api_key or (single and os.environ.get(ENV_KEY)) or os.environ.get(env)
        if not key:
            if not _is_local(str(e.base_url)):
                where = f" (endpoint {e.name})" if not single else ""
                raise UserError(
                    f"no API key for the openai judge at {e.base_url}{where}",
                    hint=f"export {env}=...{f' (or {ENV_KEY})' if single else ''}; a free Groq key is at "
                    "https://console.groq.com/keys. Or use --judge rules (offline, no key).",
                )
            return "not-needed"  # a local server (vLLM, Ollama) usually takes any key
        register_secret(key)
        return key

    def auth_headers(self, i: int = 0) -> dict[str, str]:
        """The headers that authenticate a request to endpoint i (for a probe; never log them)."""
        return {"authorization": f"Bearer {self._keys[i]}"}

    def __repr__(self) -> str:
        return f"OpenAIJudge(endpoints={[e.name for e in self.endpoints]!r}, model={self.model!r})"

    def _get_client(self, i: int = 0) -> Any:
        from openai import AsyncOpenAI, Timeout

        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # pooled connections belong to one event loop
            self._clients = [None] * len(self.endpoints)
            self._loop = loop
        if self._clients[i] is None:
            timeout = Timeout(self.timeout_s, connect=min(self.connect_timeout_s, self.timeout_s))
            self._clients[i] = AsyncOpenAI(
                base_url=self.endpoints[i].base_url, api_key=self._keys[i], max_retries=0, timeout=timeout
            )
        return self._clients[i]

    async def aclose(self) -> None:
        if self._loop is asyncio.get_running_loop():
            for c in self._clients:
                if c is not None:
                    await c.close()
        self._clients = [None] * len(self.endpoints)

    async def _complete(self, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, Usage]:
        return await self._complete_at(0, messages, max_tokens)

    async def _complete_at(self, endpoint: int, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, Usage]:
        import openai
        from openai.types.chat import ChatCompletion

        url = self.endpoints[endpoint].base_url
        body: dict[str, Any] = {
            "model": self.endpoints[endpoint].model, "messages": messages, "temperature": 0, "max_tokens": max_tokens
        }
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        try:
            # The SDK's client.post (its documented way to send a body as is) rather than chat.completions.create:
            # same request, errors and ChatCompletion, without create()'s per-call re-typing of our plain dict,
            # which cost ~0.6 ms of CPU a call (30%) in bench/engine_throughput.py at 250 calls/s.
            resp = await self._get_client(endpoint).post("/chat/completions", body=body, cast_to=ChatCompletion)
        except openai.RateLimitError as e:
            raise self._rate_error(e) from None
        except openai.APITimeoutError as e:
            if _connect_failure(e):
                raise JudgeError(
                    "unreachable", f"could not connect to the judge at {url} within {self.connect_timeout_s:g} s"
                ) from None
            raise JudgeError("timeout", f"the judge did not answer within {self.timeout_s:g} s") from None
        except openai.APIConnectionError as e:
            cause = _connect_failure(e)
            if cause is not None:
                raise JudgeError("unreachable", f"could not reach the judge at {url} ({_reason(cause)})") from None
            raise JudgeError("server_error", f"the connection to the judge at {url} failed: {_reason(e)}") from None
        except openai.APIStatusError as e:
            if e.status_code == 400 and "json_validate_failed" in _error_text(e):  # Groq: JSON mode produced no JSON
                raise AnswerError("the answer was not valid JSON (json_validate_failed)") from None
            raise self._status_error(e, url) from None
        u = resp.usage
        usage = Usage(
            calls=1,
            prompt_tokens=getattr(u, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(u, "completion_tokens", 0) or 0,
        )
        content = resp.choices[0].message.content if resp.choices else None
        return content or "", usage

    def _rate_error(self, e: Any) -> JudgeError:
        headers = e.response.headers
        body = _error_text(e)
        wait = None
        if headers.get("retry-after-ms"):
            wait = parse_duration(headers["retry-after-ms"])
            wait = wait / 1000 if wait is not None else None
        wait = wait if wait is not None else parse_duration(headers.get("retry-after"))
        m = _TRY_AGAIN.search(body)
        if wait is None and m:
            wait = parse_duration(m.group(1))
        if (wait is not None and wait > self.quota_threshold_s) or _QUOTA_WORDS.search(body):
            return JudgeError("quota_exhausted", f"the judge provider's quota is spent: {body[:160]}", wait)
        return JudgeError("rate_limited", "the judge provider is rate limiting (429)", wait)

    def _status_error(self, e: Any, url: str | None = None) -> JudgeError:
        status, body = e.status_code, _error_text(e)
        if status >= 500:
            return JudgeError("server_error", f"the judge provider answered {status}")
        if status in (401, 403):
            where = url or self.base_url
            return JudgeError("unavailable", f"the judge provider at {where} rejected the API key ({status})")
        return JudgeError("unavailable", f"the judge provider answered {status}: {body[:160]}")


def _connect_failure(e: BaseException) -> BaseException | None:
    """The transport error under an SDK error when no connection was made at all (refused, DNS, connect timeout)."""
    cause = e.__cause__
    while cause is not None:
        if type(cause).__name__ in ("ConnectError", "ConnectTimeout"):
            return cause
        cause = cause.__cause__
    return None


def _reason(e: BaseException) -> str:
    text = scrub(str(e)).strip()
    return f"{type(e).__name__}: {text[:120]}" if text else type(e).__name__


def _error_text(e: Any) -> str:
    """The provider's error message, scrubbed before it is cut (a cut key would escape the mask)."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        return scrub(f"{body.get('message', '')} {body.get('code', '')} {body.get('type', '')}".strip())
    return scrub(body or e)[:300]
