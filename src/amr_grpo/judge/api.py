"""The remote judge: score through an evaluation service over HTTP (ours or the Supabase Edge Function).

`judge.backend: api` with `judge.url` (the service's base URL or full endpoint URL) and its API key. It sends
the evaluation request of amr_grpo.judge.contract and reads the Verdict back; 429/502/503/504 (with Retry-After) and network
failures become JudgeError, so the JudgeEngine's retries, cache and ledger apply as for any judge. A service that
cannot be reached at all (refused, DNS, no connection within `connect_timeout_s`) is `unreachable`: the engine's
short connect retries, then its fallback, as for an LLM endpoint; a connection that breaks mid-request is a
`server_error` (a restarting service), retried with backoff.
Try it: amr-grpo serve --no-auth &  then
  python -c "import asyncio; from amr_grpo.judge.api import ApiJudge; from amr_grpo.judge.base import EvalRequest; \
print(asyncio.run(ApiJudge('http://127.0.0.1:8000').score(EvalRequest('cystitis', 'Decision: Approve'))))"
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from amr_grpo.judge.base import EvalRequest, JudgeError, Usage
from amr_grpo.records import Verdict

ENDPOINT_PATH = "/functions/v1/evaluate-prescription"  # the same path on our service and on Supabase

# service error codes (errors.JUDGE_ERRORS) -> JudgeError kinds, so the engine sees the remote judge's reason
_CODE_KINDS = {
    "judge_rate_limited": "rate_limited",
    "judge_quota_exhausted": "quota_exhausted",
    "judge_timeout": "timeout",
    "judge_unavailable": "unavailable",
    "judge_budget_exhausted": "budget_exhausted",
    "judge_server_error": "server_error",
    "judge_bad_answer": "bad_answer",
    "rate_limited": "rate_limited",
}
_STATUS_KINDS = {429: "rate_limited", 502: "server_error", 503: "server_error", 504: "timeout"}  # bare gateway answers


def endpoint_url(url: str) -> str:
    """A bare base URL ('http://host:8000', 'https://ref.supabase.co') gets the evaluate-prescription path."""
    url = url.strip()
    if urlsplit(url).path in ("", "/"):
        return url.rstrip("/") + ENDPOINT_PATH
    return url


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:  # an HTTP date: the engine's own backoff applies
        return None


def _error_code(response: httpx.Response) -> tuple[str | None, str]:
    try:
        err = response.json().get("error") or {}
        return err.get("code"), str(err.get("message") or "")[:200]
    except (ValueError, AttributeError):
        return None, ""


class ApiJudge:
    """Judge protocol over HTTP. `model` is the endpoint URL, so cached verdicts are kept per service; a verdict
    names backend "api" and that URL (the engine caches only verdicts of the judge it wraps)."""

    backend = "api"

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0, connect_timeout: float = 5.0):
        if not url:
            raise ValueError("judge.url is required for the api backend (the evaluation service's URL)")
        self.url = endpoint_url(url)
        self.model = self.url
        self.timeout, self.connect_timeout = timeout, min(connect_timeout, timeout)
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.meter: Any = None  # the JudgeEngine plugs in here: rpm limit and call budget before, ledger after

    def __repr__(self) -> str:  # never show the key
        return f"ApiJudge(url={self.url!r}, timeout={self.timeout})"

    def _get_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:  # a pooled connection is bound to its event loop
            timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
            self._client = httpx.AsyncClient(timeout=timeout, headers=self._headers)
            self._loop = loop
        return self._client

    async def score(self, request: EvalRequest) -> Verdict:
        if self.meter is not None:
            await self.meter.before_call(0, 0)  # tokens are spent remotely, by the service's own judge
        t0 = time.perf_counter()
        error: JudgeError | None = None
        try:
            return await self._post(request)
        except JudgeError as e:
            error = e
            raise
        finally:
            if self.meter is not None:
                self.meter.after_call(Usage(calls=1, extra={"estimated_tokens": 0}), time.perf_counter() - t0, error)

    async def _post(self, request: EvalRequest) -> Verdict:
        body: dict[str, Any] = {
            "patient_case": request.patient_case,
            "model_output": request.model_output,
            "ground_truth": request.ground_truth,
            "metrics": list(request.metrics),
        }
        if request.checklist is not None:
            body["checklist"] = request.checklist
        try:
            response = await self._get_client().post(self.url, json=body)
        except httpx.ConnectTimeout as e:
            raise JudgeError("unreachable", f"could not connect to the evaluation service at {self.url} within "
                                            f"{self.connect_timeout:g} s") from e
        except httpx.ConnectError as e:  # refused, DNS: nothing answers there
            raise JudgeError("unreachable", f"could not reach the evaluation service at {self.url} "
                                            f"({type(e).__name__})") from e
        except httpx.TimeoutException as e:
            raise JudgeError("timeout", f"evaluation service did not answer within {self.timeout:g} s") from e
        except httpx.HTTPError as e:  # a connection that broke: a restarting service is worth a retry, as a 5xx
            raise JudgeError("server_error", f"evaluation service unreachable at {self.url}: {type(e).__name__}") from e
        if response.status_code == 200:
            return self._verdict(response)
        code, message = _error_code(response)
        status = response.status_code
        if status in (401, 403):
            raise JudgeError("unavailable", f"evaluation service refused the API key ({status}); set its key variable")
        kind = _CODE_KINDS.get(code or "") or _STATUS_KINDS.get(status)
        if kind is None:
            kind = "server_error" if status >= 500 else "bad_answer"  # a 4xx: the service rejected our request
        detail = f"evaluation service answered {status} {code or ''}: {message}"
        raise JudgeError(kind, detail, _retry_after(response.headers))

    def _verdict(self, response: httpx.Response) -> Verdict:
        try:  # named after this judge, so the engine caches it; `cached` is set by the engine's own cache
            v = Verdict.from_dict(response.json())
            return dataclasses.replace(v, backend=self.backend, model=self.model, cached=False)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise JudgeError("bad_answer", f"evaluation service answer is not a verdict: {type(e).__name__}") from e

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
