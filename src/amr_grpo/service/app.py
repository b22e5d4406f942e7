"""Assemble the evaluation service: settings in, FastAPI app out. No logic lives here.

One JudgeEngine (with its cache and ledger) is built in the lifespan and shared by every request.
The web page (web.py: the validation form with --model, a landing page without) and the offline API docs (docs.py)
come after the evaluation routes.
Try it: AMR_GRPO_API_KEYS=dev .venv/bin/uvicorn --factory amr_grpo.service.app:app_from_env
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from amr_grpo import __version__
from amr_grpo.judge.contract import MAX_TEXT_CHARS
from amr_grpo.service import web
from amr_grpo.service.body import MAX_JSON_DEPTH
from amr_grpo.service.docs import add_docs
from amr_grpo.service.errors import install_error_handlers
from amr_grpo.service.middleware import RequestGuard
from amr_grpo.service.routes import BODY_MODELS, NOTICE, SECURITY_SCHEMES, router
from amr_grpo.service.security import KeyRing, RateLimiter
from amr_grpo.service.settings import Settings

def describe(settings: Settings) -> str:
    """The API's description in the OpenAPI document: what it does, how to authenticate, its limits, its errors."""
    return f"""Scores a model's validation of an antimicrobial prescription on a six-metric rubric
(LLM-as-a-judge and guideline rules). **{NOTICE}**

Send `Authorization: Bearer <key>` (or `X-API-Key`). Errors are `{{"error": {{"code", "message", "field"}}}}`;
a judge that cannot score answers 429/502/503 with `Retry-After`, never a made-up score.

**Limits.** A body is at most {settings.max_body_bytes:,} bytes (413 above), arrives within
{settings.body_timeout_s:g} s of its headers (408 above), nests objects and arrays at most {MAX_JSON_DEPTH} levels,
and holds no NaN, Infinity or number beyond about 1.8e308 (422). Each text field is at most {MAX_TEXT_CHARS:,}
characters: one request at every maximum fits in the body limit. A batch holds at most {settings.max_batch_items}
items and is one body: {settings.max_batch_items} items fit when they average under
{settings.max_body_bytes // settings.max_batch_items:,} bytes (a 1,000-character case and a 4,000-character validation
are about 5,000); send larger items in smaller batches."""


def _document(app: FastAPI, settings: Settings) -> None:
    """Add what the routes refer to but FastAPI cannot see to the OpenAPI document: the API-key schemes and the
    body schemas (the routes parse their bodies themselves), so /docs shows them and can send a request; a batch's
    maxItems is this service's max_batch_items."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            components = FastAPI.openapi(app).setdefault("components", {})
            components["securitySchemes"] = SECURITY_SCHEMES
            schemas = components.setdefault("schemas", {})
            for model in BODY_MODELS:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            schemas["BatchRequestModel"]["properties"]["items"]["maxItems"] = settings.max_batch_items
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, review: Any = None) -> FastAPI:
    """The service; `review` (amr_grpo.service.review.ReviewSettings) adds the clinician review form and API."""
    settings = settings or Settings()
    if settings.auth and not settings.api_keys:
        raise ValueError("auth is on but no API keys are set: set AMR_GRPO_API_KEYS=key1,key2 (or --no-auth)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        from amr_grpo.judge import build_engine

        engine = build_engine(settings.load_judge_config())
        try:
            yield {"engine": engine, "limiter": RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)}
        finally:
            if settings.ledger_path is not None:
                engine.ledger.write(settings.ledger_path)
            await engine.aclose()

    app = FastAPI(
        title="amr-grpo evaluation API",
        version=__version__,
        description=describe(settings),
        lifespan=lifespan,
        openapi_url=None,  # set below, so /openapi.json comes after our routes
        docs_url=None,  # docs.py serves /docs and /redoc from local, pinned files
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.keyring = KeyRing(k.get_secret_value() for k in settings.api_keys)
    install_error_handlers(app)
    # Routing is on every request's path (bench/service_load.py): the evaluation routes are added as they are
    # (include_router() would wrap them in a layer costing about a tenth of a cached evaluation; they have no
    # prefix or dependencies to combine) and first, since each route tried before the match costs too.
    app.router.routes.extend(router.routes)
    app.include_router(web.router, include_in_schema=settings.model_path is not None)  # no model: no web API
    if review is not None:
        from amr_grpo.service.review import include_review  # review mode only: SQLAlchemy and alembic load here

        include_review(app, review)
    app.openapi_url = "/openapi.json"
    app.setup()  # adds /openapi.json after our routes
    add_docs(app.router, app.openapi_url, app.title)
    _document(app, settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type", "x-api-key", "apikey", "x-client-info"],
            expose_headers=["retry-after", "x-request-id"],
            max_age=600,
        )
    # added last = outermost: logs every answer (CORS preflights included); its 413 is raised inside, so carries CORS
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes, body_timeout_s=settings.body_timeout_s)
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory`: settings from AMR_GRPO_* variables only."""
    return create_app(Settings())
