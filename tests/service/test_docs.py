"""The API docs and the landing page, offline (issues 15 and 16): /docs and /redoc load Swagger UI and ReDoc from
this server (pinned copies in service/static/vendor, checked against their SHA256SUMS), never from a CDN, and render
in headless Chromium with every outside host unresolvable; without --model, / is a landing page, not a JSON 404.
Run: .venv/bin/pytest tests/service/test_docs.py
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from importlib import resources

import pytest
from browser import console_errors, needs_browser, serve, wait_until
from fastapi.testclient import TestClient

from amr_grpo.service.app import create_app
from amr_grpo.service.settings import Settings

VENDOR = resources.files("amr_grpo.service").joinpath("static", "vendor")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(auth=False))) as c:
        yield c


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    yield from serve(Settings(auth=False))


def test_vendored_files_match_their_checksums():
    sums = VENDOR.joinpath("SHA256SUMS").read_text().splitlines()
    listed = {}
    for line in sums:
        digest, name = line.split(maxsplit=1)
        listed[name] = digest
    served = {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"}
    assert served | {"swagger-ui.LICENSE", "redoc.LICENSE"} <= set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256(VENDOR.joinpath(name).read_bytes()).hexdigest() == digest, (
            f"static/vendor/{name} changed: rerun scripts/vendor_docs_assets.sh"
        )
    assert "swagger-ui-dist 5.35.0" in VENDOR.joinpath("VERSIONS").read_text()  # pinned, and said where


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_load_nothing_from_elsewhere(client, path):
    r = client.get(path)
    assert r.status_code == 200
    # every script and stylesheet comes from this server (before: cdn.jsdelivr.net, unpinned, and Google Fonts)
    sources = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert sources and all(s.startswith("/") for s in sources), sources
    csp = r.headers["content-security-policy"]
    assert "connect-src 'self'" in csp and "script-src 'self' " in csp and "http" not in csp
    for src in sources:
        if src.startswith("/static/vendor/"):
            asset = client.get(src)
            assert asset.status_code == 200 and asset.content == VENDOR.joinpath(src.rsplit("/", 1)[1]).read_bytes()


def test_only_the_listed_vendor_files_are_served(client):
    assert client.get("/static/vendor/SHA256SUMS").status_code == 404
    assert client.get("/static/vendor/..%2Fweb.py").status_code == 404


def test_landing_page_without_a_model(client):
    r = client.get("/")  # before: {"error": {"code": "not_found", ...}}
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "not for clinical use" in r.text and 'href="/docs"' in r.text
    assert "amr-grpo serve --model assets/tiny-policy" in r.text
    assert "https://" not in r.text and "default-src 'self'" in r.headers["content-security-policy"]
    assert client.get("/v1/model").json() == {
        "loaded": False, "name": None, "path": None, "base_model": None, "parameters": None, "error": None
    }
    r = client.post("/v1/validate", json={"patient": "F 30y", "diagnosis": "cystitis", "prescription": "x"})
    assert r.status_code == 503 and "--model PATH" in r.json()["error"]["message"]


@needs_browser
def test_swagger_ui_renders_offline_without_console_errors(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/docs")
    title = wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
    assert "amr-grpo evaluation API" in title[0].text
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/v1/evaluate", "/v1/evaluate/batch", "/functions/v1/evaluate-prescription"} <= paths, paths
    assert browser.find_elements(By.CSS_SELECTOR, ".btn.authorize")  # where a user enters the API key
    assert console_errors(browser) == []


@needs_browser
def test_redoc_renders_offline_without_console_errors(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/redoc")
    heading = wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".api-info h1"))
    assert "amr-grpo evaluation API" in heading[0].text
    assert "Score one validation" in browser.find_element(By.TAG_NAME, "body").text
    assert console_errors(browser) == []


@needs_browser
def test_landing_page_in_chromium(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/")
    assert "not for clinical use" in browser.find_element(By.ID, "notice").text.lower()
    browser.find_element(By.ID, "docs-link").click()
    wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
    assert browser.current_url == server + "/docs"
    assert console_errors(browser) == []
