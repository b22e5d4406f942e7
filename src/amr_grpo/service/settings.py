"""Service settings: one pydantic-settings object read from AMR_GRPO_* environment variables.

Every knob of `amr-grpo serve` lives here (auth, limits, CORS, judge backend, cache, web-page model);
the CLI only overrides a few of them. Lists (API keys, CORS origins) are comma-separated.
Try it: AMR_GRPO_API_KEYS=k1,k2 python -c "from amr_grpo.service.settings import Settings; print(Settings())"
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

JudgeBackend = Literal["rules", "openai", "hybrid", "local", "api"]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class Settings(BaseSettings):
    """The evaluation service's configuration (research tool, not for clinical use)."""

    # hide_input_in_errors: a refused key must not appear in the error (nor in a traceback of `uvicorn --factory`)
    model_config = SettingsConfigDict(env_prefix="AMR_GRPO_", extra="ignore", frozen=True, hide_input_in_errors=True)

    # --- auth ---
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(), description="Accepted API keys, comma-separated (AMR_GRPO_API_KEYS=k1,k2)."
    )
    auth: bool = Field(default=True, description="Require an API key on evaluation routes; off only for local use.")

    # --- limits ---
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1,
        description="Largest request body accepted (413 above); one request at every field maximum fits in the "
        "default (amr_grpo.judge.contract: MAX_TEXT_CHARS), a batch's items share it.",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a request's body may take to arrive, from its headers on (408 and the connection closed "
        "above): a body shorter than its Content-Length, or sent a byte at a time, cannot hold a connection longer.",
    )
    limit_concurrency: int = Field(
        default=256,
        ge=1,
        description="Most connections and requests in progress at once (uvicorn's limit_concurrency); above, "
        "uvicorn answers 503. Bounds memory: at most this many bodies of max_body_bytes are held.",
    )
    timeout_keep_alive: float = Field(
        default=5.0, gt=0, description="Seconds an idle keep-alive connection is kept open (uvicorn's setting)."
    )
    max_batch_items: int = Field(default=100, ge=1, le=100, description="Most items in one /v1/evaluate/batch request.")
    rate_limit_per_minute: float = Field(
        default=600.0, ge=0, description="Evaluations per minute per API key (0 = no limit); 429 + Retry-After above."
    )
    rate_limit_burst: int = Field(default=60, ge=1, description="Evaluations a key may send at once before limiting.")

    # --- CORS ---
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Browser origins allowed to call the API, comma-separated ('*' for any)."
    )

    # --- judge (see amr_grpo.judge JudgeConfig) ---
    judge_backend: JudgeBackend | None = Field(default=None, description="Judge backend; None = JudgeConfig's (rules).")
    judge_model: str | None = Field(default=None, description="Judge model id (openai/local/hybrid backends).")
    judge_base_url: str | None = Field(default=None, description="OpenAI-compatible base URL for the openai judge.")
    judge_api_key_env: str | None = Field(default=None, description="Env var holding the judge provider's key.")
    judge_config: Path | None = Field(default=None, description="YAML file with a full JudgeConfig (retries, rpm...).")
    judge_overrides: tuple[str, ...] = Field(
        default=(), description='JudgeConfig key=value overrides, a JSON list: ["max_retries=2", "timeout_s=30"].'
    )
    judge_quota_fallback: Literal["rules", "none"] = Field(
        default="none",
        description="When the provider's quota or the budget is spent: 'none' answers 429/503 so the client decides "
        "(its own engine may fall back to rules); 'rules' answers with a rules verdict (judge.backend says so).",
    )
    cache_path: Path | None = Field(default=None, description="SQLite verdict cache shared by all requests.")
    ledger_path: Path | None = Field(default=None, description="Where to write the judge ledger at shutdown.")

    # --- web page (EVAL's amr_grpo.service.web) ---
    model_path: Path | None = Field(default=None, description="Policy model served by the web page at /.")

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("api_keys")
    @classmethod
    def _printable_ascii(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        """HTTP carries header values as bytes that servers read as Latin-1, so a key with other characters could
        never match what a client sends: refuse it at start-up (the message names its position, never the key)."""
        for i, key in enumerate(keys, 1):
            if not all(" " <= ch <= "~" for ch in key.get_secret_value()):
                raise ValueError(f"key {i} has a character outside printable ASCII; no client could send it")
        return keys

    def uvicorn_options(self) -> dict[str, Any]:
        """The uvicorn.Config settings these settings fix (`amr-grpo serve`, the tests and bench/service_load.py)."""
        return {
            "limit_concurrency": self.limit_concurrency,
            "timeout_keep_alive": self.timeout_keep_alive,
            "access_log": False,  # RequestGuard writes the access log
            "server_header": False,
        }

    def judge_settings(self) -> Any:
        """The JudgeConfig these settings describe: defaults -> judge_config YAML -> overrides -> explicit fields."""
        from amr_grpo.config import load
        from amr_grpo.judge.config import JudgeConfig

        cfg = load(JudgeConfig, self.judge_config, self.judge_overrides)
        explicit = {
            "backend": self.judge_backend,
            "model": self.judge_model,
            "base_url": self.judge_base_url,
            "api_key_env": self.judge_api_key_env,
            "cache_path": str(self.cache_path) if self.cache_path else None,
            "quota_fallback": self.judge_quota_fallback,
        }
        return dataclasses.replace(cfg, **{k: v for k, v in explicit.items() if v is not None})
