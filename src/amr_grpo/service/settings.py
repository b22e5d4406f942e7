"""Service settings: one pydantic-settings object read from AMR_GRPO_* environment variables.

Every knob of `amr-grpo serve` lives here (auth, limits, CORS, judge, cache, web-page model); the CLI only
overrides a few of them. Lists (API keys, CORS origins) are comma-separated. The judge is the same JudgeConfig as
every command's: a YAML file (AMR_GRPO_JUDGE_CONFIG, as --judge-config) and key=value overrides
(AMR_GRPO_JUDGE_OVERRIDES, a JSON list, as --judge-set).
Try it: AMR_GRPO_API_KEYS=k1,k2 python -c "from amr_grpo.service.settings import Settings; print(Settings())"
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from amr_grpo.judge.config import JudgeConfig, load_judge_config

log = logging.getLogger("amr_grpo.service")
# Variables of earlier releases, each one JudgeConfig field; read (with a notice) for one more release.
DEPRECATED_JUDGE_VARS = {
    "AMR_GRPO_JUDGE_BACKEND": "backend",
    "AMR_GRPO_JUDGE_API_KEY_ENV": "api_key_env",
    "AMR_GRPO_JUDGE_QUOTA_FALLBACK": "quota_fallback",
}
_noticed: set[str] = set()


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class Settings(BaseSettings):
    """The evaluation service's configuration (research tool, not for clinical use)."""

    # hide_input_in_errors: a refused key must not appear in the error (nor in a traceback of `uvicorn --factory`);
    # extra="forbid" refuses an unknown keyword (Settings(judge_backend=...) of an earlier release) instead of dropping
    # it; unknown AMR_GRPO_* variables are still ignored (other parts read AMR_GRPO_JUDGE_MODEL, AMR_GRPO_DATABASE_URL)
    model_config = SettingsConfigDict(env_prefix="AMR_GRPO_", extra="forbid", frozen=True, hide_input_in_errors=True)

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

    # --- judge (amr_grpo.judge.config JudgeConfig, the same file and overrides as every command) ---
    judge_config: Path | None = Field(
        default=None, description="YAML file of JudgeConfig fields (backend, model, base_url, rpm, retries...)."
    )
    judge_overrides: tuple[str, ...] = Field(
        default=(), description='JudgeConfig key=value overrides after the file, a JSON list: ["backend=openai", '
        '"max_retries=2"]. The service\'s one default of its own: quota_fallback=none (a spent quota or budget is '
        "answered 429/503 and the client decides; quota_fallback=rules answers with a rules verdict instead).",
    )
    cache_path: Path | None = Field(default=None, description="SQLite verdict cache shared by all requests.")
    ledger_path: Path | None = Field(default=None, description="Where to write the judge ledger at shutdown.")

    # --- web page (amr_grpo.service.web) ---
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

    def load_judge_config(self) -> JudgeConfig:
        """The service's JudgeConfig: JudgeConfig's defaults, then quota_fallback=none, then the judge_config file,
        then judge_overrides (then a deprecated AMR_GRPO_JUDGE_* variable, as before), then cache_path."""
        return load_judge_config(
            self.judge_config,
            [*self.judge_overrides, *deprecated_judge_overrides()],
            defaults=["quota_fallback=none"],
            cache_path=str(self.cache_path) if self.cache_path else None,
        )


def deprecated_judge_overrides() -> list[str]:
    """The key=value overrides that variables of earlier releases (DEPRECATED_JUDGE_VARS) still set; each one used
    is logged once, with what replaces it."""
    out = []
    for var, key in DEPRECATED_JUDGE_VARS.items():
        value = os.environ.get(var)
        if value is None:
            continue
        if var not in _noticed:
            _noticed.add(var)
            log.warning("deprecated: %s is now AMR_GRPO_JUDGE_OVERRIDES='[\"%s=...\"]' (or %s in the "
                        "AMR_GRPO_JUDGE_CONFIG file); the old variable goes in the next release", var, key, key)
        out.append(f"{key}={value}")
    return out
