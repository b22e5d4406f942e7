"""Review mode of the service (`amr-grpo serve --review DIR`): clinicians rate the items of one review export.

GET /review is the form (amr_grpo.review.page, script and style from /review/static/); the API behind it:
  GET  /v1/review/session           who the key belongs to, and the items with this reviewer's progress
  GET  /v1/review/items/{item_id}   the case, the output and this reviewer's own label (never anyone else's; the
                                    judges' scores only if the export was made with --show-scores)
  POST /v1/review/labels            {item_id, scores: {metric: 1-5 | null}, decision, regimen, comment}; saving
                                    again replaces this reviewer's label (the latest save wins)
Each reviewer has their own key (AMR_GRPO_REVIEWER_KEYS=name:key,...), sent as `Authorization: Bearer <key>` or
`X-Reviewer-Key`; keys are compared in constant time and never logged. Labels go to the review store
(AMR_GRPO_DATABASE_URL, default DIR/review.sqlite). A score outside 1-5, an unknown metric or an unknown item is a
422 naming the field. Research tool, not for clinical use.
Try it: AMR_GRPO_REVIEWER_KEYS=ana:a-long-secret-key AMR_GRPO_API_KEYS=k amr-grpo serve --review runs/review
        then open http://127.0.0.1:8000/review
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    create_model,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from amr_grpo.errors import UserError
from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.review.store import COMMENT_MAX, REGIMEN_MAX, REVIEWER_MAX, LabelIn, Store, label_status, resolve_url
from amr_grpo.service.deps import JsonBody
from amr_grpo.service.errors import ApiError
from amr_grpo.service.security import key_id

MIN_KEY_CHARS = 12
STATIC = {"review.js": "text/javascript; charset=utf-8", "review.css": "text/css; charset=utf-8"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache",
           "Referrer-Policy": "no-referrer"}
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class ReviewSettings(BaseSettings):
    """Review mode's settings: AMR_GRPO_REVIEW_DIR, AMR_GRPO_REVIEWER_KEYS, AMR_GRPO_DATABASE_URL."""

    model_config = SettingsConfigDict(env_prefix="AMR_GRPO_", extra="ignore", frozen=True)

    review_dir: Path | None = Field(default=None, description="A directory written by `amr-grpo review export`.")
    reviewer_keys: Annotated[tuple[tuple[str, SecretStr], ...], NoDecode] = Field(
        default=(), description="name:key pairs, comma-separated; each reviewer signs in with their own key.")
    database_url: SecretStr | None = Field(default=None, description="Review store URL; default DIR/review.sqlite.")

    @field_validator("reviewer_keys", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        pairs: list[tuple[str, str]] = []
        for n, entry in enumerate((e.strip() for e in value.split(",") if e.strip()), 1):
            name, sep, key = entry.partition(":")
            name, key = name.strip(), key.strip()
            # messages name the entry by position and reviewer name, never the key
            if not sep or not name or not key:
                raise ValueError(f"entry {n} is not name:key")
            if len(name) > REVIEWER_MAX:
                raise ValueError(f"entry {n}: the name is longer than {REVIEWER_MAX} characters")
            if len(key) < MIN_KEY_CHARS:
                raise ValueError(f"the key of {name!r} is shorter than {MIN_KEY_CHARS} characters")
            if any(name == p[0] for p in pairs):
                raise ValueError(f"{name!r} is given twice")
            if any(hmac.compare_digest(key.encode(), p[1].encode()) for p in pairs):
                raise ValueError(f"{name!r} has the same key as another reviewer")
            pairs.append((name, key))
        return pairs


class Reviewers:
    """The reviewer keys. `identify(candidate)` -> reviewer name or None, comparing with every key."""

    def __init__(self, pairs: tuple[tuple[str, SecretStr], ...]):
        self._keys = [(k.get_secret_value().encode("utf-8"), name) for name, k in pairs]

    def identify(self, candidate: str) -> str | None:
        given, found = candidate.encode("utf-8"), None
        for key, name in self._keys:  # every key is compared, so timing says nothing about which one matched
            if hmac.compare_digest(given, key):
                found = name
        return found


def prepare_review(review_dir: Path) -> ReviewSettings:
    """Settings for `serve --review DIR`, checked before the server starts: keys set, the directory a review set,
    the store reachable (its schema created) and the export's items registered."""
    from amr_grpo.review.export import read_export

    try:
        settings = ReviewSettings(review_dir=review_dir)
    except ValidationError as e:
        err = e.errors()[0]
        raise UserError(f"AMR_GRPO_{str(err['loc'][0]).upper()}: {err['msg'].removeprefix('Value error, ')}",
                        hint="AMR_GRPO_REVIEWER_KEYS=name:key,name2:key2 (keys of 12 characters or more)") from None
    if not settings.reviewer_keys:
        raise UserError("review mode needs reviewer keys",
                        hint="set AMR_GRPO_REVIEWER_KEYS=name:key,... (one key per reviewer, 12+ characters)")
    export, rows = read_export(review_dir)
    store = Store.open(_url(settings))
    try:
        store.add_export(export, rows)
    finally:
        store.close()
    return settings


def _url(settings: ReviewSettings) -> str:
    db = settings.database_url.get_secret_value() if settings.database_url else None
    return resolve_url(db, settings.review_dir)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Open the store once and register the export's items (idempotent)."""
    from amr_grpo.review.export import read_export

    settings: ReviewSettings = app.state.review_settings
    export, rows = read_export(settings.review_dir)
    store = await anyio.to_thread.run_sync(lambda: Store.open(_url(settings)))
    await anyio.to_thread.run_sync(store.add_export, export, rows)
    try:
        yield {"review_store": store, "review_export": export, "reviewers": Reviewers(settings.reviewer_keys)}
    finally:
        store.close()


router = APIRouter(lifespan=lifespan)


async def reviewer(request: Request) -> str:
    """The reviewer's name from their key (401 without a valid one)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    candidate = credentials.strip() if scheme.lower() == "bearer" else request.headers.get("x-reviewer-key", "")
    if not candidate:
        raise ApiError(401, "unauthorized", "missing reviewer key: send 'Authorization: Bearer <key>'",
                       headers=_CHALLENGE)
    name = request.state.reviewers.identify(candidate)
    if name is None:
        raise ApiError(401, "unauthorized", "invalid reviewer key", headers=_CHALLENGE)
    request.state.key_id = key_id(candidate)  # the access log shows this hash prefix, never the key
    return name


Reviewer = Annotated[str, Depends(reviewer)]
Score = Annotated[int, Field(strict=True, ge=1, le=5)]
Scores = create_model("Scores", __config__=ConfigDict(extra="forbid"),
                      **{k: (Score | None, None) for k in METRIC_KEYS})


class LabelBody(BaseModel):
    """One reviewer's label of one item; every part may be left empty while the review is in progress."""

    model_config = ConfigDict(extra="forbid")
    item_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    scores: Scores = Field(default_factory=Scores)  # type: ignore[valid-type]
    decision: Literal["Approve", "Modify", "Reject"] | None = None
    regimen: Annotated[str, StringConstraints(strip_whitespace=True, max_length=REGIMEN_MAX)] | None = None
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=COMMENT_MAX)] | None = None


def _label_view(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"scores": {k: row[k] for k in METRIC_KEYS}, "decision": row["decision"], "regimen": row["regimen"],
            "comment": row["comment"], "version": row["version"], "updated_at": row["updated_at"].isoformat()}


@router.get("/review", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    from amr_grpo.review.page import render_page

    return HTMLResponse(render_page(None), headers=HEADERS)


@router.get("/review/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    from amr_grpo.review.page import static_text

    if name not in STATIC:
        raise ApiError(404, "not_found", f"no static file {name!r}")
    return Response(static_text(name), media_type=STATIC[name], headers=HEADERS)


@router.get("/v1/review/session", tags=["review"], summary="The signed-in reviewer and their progress")
def session(request: Request, name: Reviewer) -> dict[str, Any]:
    store: Store = request.state.review_store
    export = request.state.review_export
    mine = {row["item_id"]: row for row in store.labels(reviewer=name, export_id=export["export_id"])}
    rows = store.items(export["export_id"])
    return {"reviewer": name,
            "export": {"export_id": export["export_id"], "n_items": len(rows),
                       "show_scores": bool(export.get("show_scores"))},
            "items": [{"item_id": it["item_id"], "status": label_status(mine.get(it["item_id"]))} for it in rows],
            "notice": "Research tool, not for clinical use."}


@router.get("/v1/review/items/{item_id}", tags=["review"], summary="One item with this reviewer's own label")
def get_item(item_id: str, request: Request, name: Reviewer) -> dict[str, Any]:
    store: Store = request.state.review_store
    export = request.state.review_export
    item = store.item(item_id, export["export_id"])
    if item is None:
        raise ApiError(404, "not_found", f"no item {item_id!r} in this review", field="item_id")
    out = {"item_id": item["item_id"], "case_text": item["case_text"], "output": item["output"],
           "label": _label_view(store.label(item_id, name))}
    if export.get("show_scores"):
        out["judge_scores"] = item["judges"]
    return out


@router.post("/v1/review/labels", dependencies=[JsonBody], tags=["review"],
             summary="Save this reviewer's label of one item (the latest save wins)")
def save_label(body: LabelBody, request: Request, name: Reviewer) -> dict[str, Any]:
    store: Store = request.state.review_store
    export = request.state.review_export
    if store.item(body.item_id, export["export_id"]) is None:
        raise ApiError(422, "validation_error", f"item_id: unknown item {body.item_id!r} in this review",
                       field="item_id")
    label = LabelIn(body.item_id, name, body.scores.model_dump(), body.decision, body.regimen or None,
                    body.comment or None)
    outcome = store.save(label, origin="web")
    row = store.label(body.item_id, name)
    return {"outcome": outcome, "status": label_status(row), "label": _label_view(row)}


def include_review(app: FastAPI, settings: ReviewSettings) -> None:
    """Add review mode to the service app (create_app calls this when `serve --review DIR` is given)."""
    app.state.review_settings = settings
    app.include_router(router)
