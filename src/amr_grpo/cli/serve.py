"""`amr-grpo serve`: run the evaluation API (and the web page when a model is given) with uvicorn.

Settings come from AMR_GRPO_* environment variables (amr_grpo/service/settings.py); these options override them.
Try it: AMR_GRPO_API_KEYS=dev amr-grpo serve --port 8000    (or: amr-grpo serve --no-auth, local use only)
"""

from __future__ import annotations

import errno
import json
import re
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from amr_grpo.cli.common import (
    Judge,
    JudgeBaseUrl,
    JudgeConfigFile,
    JudgeModel,
    JudgeSet,
    NoProbe,
    console,
    user_errors,
)
from amr_grpo.errors import UserError
from amr_grpo.preflight import check_judge_key


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything slow (a model load) so a busy port is reported at once; uvicorn
    serves on it as it is (SO_REUSEADDR set, as uvicorn sets it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            hint = f"stop the other server, or use another port: --port {port + 1}"
            raise UserError(f"port {port} on {host} is already in use", hint=hint) from None
        raise UserError(
            f"cannot listen on {host}:{port}: {e.strerror or e}",
            hint="--host 127.0.0.1 (this machine only) or 0.0.0.0 (the network); ports below 1024 need root",
        ) from None


@user_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the service to the network.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept requests without an API key (local use only).")
    ] = False,
    judge: Judge = None,
    judge_config: JudgeConfigFile = None,
    judge_model: JudgeModel = None,
    judge_base_url: JudgeBaseUrl = None,
    judge_set: JudgeSet = None,
    cache: Annotated[Path | None, typer.Option(help="SQLite verdict cache file shared by all requests.")] = None,
    model: Annotated[Path | None, typer.Option(help="Policy model directory for the web page at /.")] = None,
    review: Annotated[
        Path | None,
        typer.Option(help="Clinician review mode at /review for a directory written by `amr-grpo review export`; "
                     "reviewer keys in AMR_GRPO_REVIEWER_KEYS=name:key,..., labels in AMR_GRPO_DATABASE_URL "
                     "(default DIR/review.sqlite)."),
    ] = None,
    no_probe: NoProbe = False,
) -> None:
    """Serve POST /functions/v1/evaluate-prescription, /v1/evaluate, /v1/evaluate/batch, /healthz and /docs.
    Research tool, not for clinical use."""
    import uvicorn
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from amr_grpo.service.middleware import configure_logging
    from amr_grpo.service.settings import Settings

    overrides: dict[str, Any] = {"judge_config": judge_config, "cache_path": cache, "model_path": model}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if no_auth:
        overrides["auth"] = False
    # the judge options as JudgeConfig overrides, after AMR_GRPO_JUDGE_OVERRIDES (a value as a JSON string: YAML reads
    # it back as the same text, whatever it looks like)
    named = {"backend": judge, "model": judge_model, "base_url": judge_base_url}
    judge_overrides = [*(judge_set or []), *(f"{k}={json.dumps(v)}" for k, v in named.items() if v is not None)]
    try:
        settings = Settings(**overrides)
        if judge_overrides:
            settings = settings.model_copy(update={"judge_overrides": (*settings.judge_overrides, *judge_overrides)})
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        raise UserError(f"{field}: {message}", hint="see amr-grpo serve --help and AMR_GRPO_* variables") from None
    except SettingsError as e:  # a list setting that is not JSON, e.g. AMR_GRPO_JUDGE_OVERRIDES=max_retries=2
        field = re.search(r'field "(\w+)"', str(e))
        var = f"AMR_GRPO_{field.group(1).upper()}" if field else "an AMR_GRPO_* variable"
        raise UserError(f"{var}: not valid JSON", hint="""a list setting is JSON, e.g. """
                        """AMR_GRPO_JUDGE_OVERRIDES='["max_retries=2", "timeout_s=30"]'""") from None
    if settings.auth and not settings.api_keys:
        raise UserError("no API keys configured", hint="set AMR_GRPO_API_KEYS=key1,key2, or pass --no-auth locally")
    if not settings.auth:
        console.print(
            "[bold yellow]warning:[/] authentication is OFF (--no-auth): anyone who can reach "
            f"{host}:{port} can use the judge. Use it on your own machine only."
        )
    if model is not None and not model.exists():
        raise UserError(f"--model: {model} does not exist")
    judge_cfg = settings.load_judge_config()
    check_judge_key(judge_cfg)  # a bad judge config or a missing key: one line, before start-up (as evaluate)
    if not no_probe:
        from amr_grpo.judge import probe

        probe(judge_cfg)  # an unreachable judge or a refused key: one line now, not a 503 on every request
    review_settings = None
    if review is not None:
        from amr_grpo.service.review import prepare_review

        review_settings = prepare_review(review)
    sock = bind(host, port)
    configure_logging()
    console.print(
        f"amr-grpo evaluation API on http://{host}:{port} (docs at /docs). Research tool, not for clinical use."
    )
    from amr_grpo.service.app import create_app

    if review_settings is not None:
        console.print(f"clinician review form on http://{host}:{port}/review")
    config = uvicorn.Config(create_app(settings, review_settings), log_level="warning", **settings.uvicorn_options())
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
