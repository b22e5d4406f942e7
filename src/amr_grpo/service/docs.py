"""The API docs, offline: /docs (Swagger UI) and /redoc (ReDoc) from pinned copies served by this server.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, unpinned: blank without internet, and third-party
code on the page where users paste their API key. Here the builds come from ./static/vendor (fetched by
scripts/vendor_docs_assets.sh, versions in static/vendor/VERSIONS, licences beside them), and each page carries a
Content-Security-Policy that lets it load code only from this server and send requests only to it.
Try it: amr-grpo serve --no-auth, then open http://127.0.0.1:8000/docs with the network off.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from importlib import resources

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from amr_grpo.service.errors import ApiError

VENDOR = "/static/vendor/"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "redoc.standalone.js")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)

router = APIRouter(include_in_schema=False)


def _csp(html: str) -> str:
    """Scripts from this server plus the page's own inline script (by its hash); requests only to this server.
    Both UIs set inline styles, and ReDoc runs its search in a worker made from a blob."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ).replace("  ", " ")


Page = tuple[str, dict[str, str]]  # the HTML and its headers


def _page(response: HTMLResponse) -> Page:
    html = bytes(response.body).decode()
    headers = {"Content-Security-Policy": _csp(html), "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
    return html, headers


@functools.cache
def swagger_page(openapi_url: str, title: str) -> Page:
    return _page(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=VENDOR + "swagger-ui-bundle.js",
            swagger_css_url=VENDOR + "swagger-ui.css",
            swagger_favicon_url=VENDOR + "favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # the default sends the schema to validator.swagger.io
        )
    )


@functools.cache
def redoc_page(openapi_url: str, title: str) -> Page:
    return _page(
        get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=VENDOR + "redoc.standalone.js",
            redoc_favicon_url=VENDOR + "favicon-32x32.png",
            with_google_fonts=False,
        )
    )


@functools.cache
def _vendor_file(name: str) -> bytes:
    return resources.files("amr_grpo.service").joinpath("static", "vendor", name).read_bytes()


@router.get(VENDOR + "{name}")
async def vendor_file(name: str) -> Response:
    if name not in FILES:
        raise ApiError(404, "not_found", f"no static file {name!r}")
    media = MEDIA_TYPES[name[name.rindex(".") :]]
    # pinned builds: a day in the browser's cache (the file changes only with a new amr-grpo version)
    return Response(_vendor_file(name), media_type=media, headers={"Cache-Control": "public, max-age=86400"})


def add_docs(app_router: APIRouter, openapi_url: str, title: str) -> None:
    """GET /docs and /redoc for the app's OpenAPI document, and the files they load."""

    async def docs() -> HTMLResponse:
        html, headers = swagger_page(openapi_url, title)
        return HTMLResponse(html, headers=headers)

    async def redoc() -> HTMLResponse:
        html, headers = redoc_page(openapi_url, title)
        return HTMLResponse(html, headers=headers)

    app_router.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
    app_router.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
    app_router.routes.extend(router.routes)
