"""The validation web page: its API through TestClient, then the page itself in headless Chromium (Selenium with
the system chromedriver) against `amr-grpo serve`'s app run by uvicorn on a loopback port with the tiny model:
example loader, submit, decision and six scores shown, empty-field and model-failure messages, no console
errors, a screenshot. Also opens a generated report.html in Chromium. Needs chromium + chromium-driver
(`make tools`); without them the browser tests skip and say so."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser import console_errors, needs_browser, serve, wait_until
from fake_openai import FakeOpenAI
from fastapi.testclient import TestClient
from report_runs import BASE, TRAINED, write_run

from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.evaluation.report import write_report
from amr_grpo.service.app import create_app
from amr_grpo.service.settings import Settings

EXAMPLE_1 = {"patient": "28-year-old woman, 58 kg, no known allergies, not pregnant, normal kidney function",
             "diagnosis": "Acute uncomplicated cystitis", "prescription": "Tab Ciprofloxacin 500 mg PO BD x 3 days",
             "setting": "OPD"}  # the page's first example; the tiny LM was fitted to answer it (Decision: Modify)


def _settings(model: Path, **kw) -> Settings:
    return Settings(model_path=model, auth=kw.pop("auth", False), **kw)


# ---------------------------------------------------------------- the API behind the page (no browser)

@pytest.fixture(scope="module")
def client(built_lm) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(built_lm))) as c:
        yield c


def test_page_static_files_and_headers(client):
    r = client.get("/")
    assert r.status_code == 200 and "not for clinical use" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "http://" not in r.text and "https://" not in r.text  # nothing fetched from elsewhere
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/app.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/settings.py").status_code == 404


def llama_parameters(model_dir: Path) -> int:
    """A Llama's parameter count from its config, by hand: embeddings, per layer the attention projections, the
    gated MLP's three matrices and two RMSNorms, the final norm, the output head unless tied to the embeddings."""
    c = json.loads((model_dir / "config.json").read_text())
    h, i, v, kv = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["num_key_value_heads"] * c["head_dim"]
    layer = h * h * 2 + h * kv * 2 + 3 * h * i + 2 * h  # q, o: h x h; k, v: h x kv; gate, up, down; 2 norms
    return v * h * (1 if c["tie_word_embeddings"] else 2) + c["num_hidden_layers"] * layer + h


def test_model_endpoint_says_what_runs(client, built_lm):
    info = client.get("/v1/model").json()
    # the tiny LM: vocab 770, hidden 64, 2 layers, MLP 128 -> 2 x 49,280 + 2 x 41,088 + 64 = 180,800 parameters
    assert info == {"loaded": True, "name": built_lm.resolve().name, "path": str(built_lm), "base_model": None,
                    "parameters": llama_parameters(built_lm), "error": None}


def test_validate_endpoint_runs_the_policy_then_the_judge(client):
    r = client.post("/v1/validate", json=EXAMPLE_1)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["validation"]["decision"] == "Modify" and body["validation"]["parse_ok"]
    assert list(body["verdict"]["scores"]) == list(METRIC_KEYS)  # all six, rubric order
    assert body["verdict"]["judge"]["backend"] == "rules" and "not for clinical use" in body["notice"]
    # the guideline checks: with the rules judge serving, they are its verdict, item by item
    checks = body["checks"]
    assert checks["source"].startswith("rules judge")
    assert [c["key"] for c in checks["items"][:6]] == list(METRIC_KEYS)
    for item in checks["items"][:6]:
        score = body["verdict"]["scores"][item["key"]]
        assert (item["result"], item["detail"]) == (f"{score['score']}/5", score["justification"])
    # then the case's checklist items: cystitis treated with ciprofloxacin, a fluoroquinolone the guideline does
    # not give for it, so the indication and the prescribed drug are items, each stated or not by this validation
    listed = {c["key"]: c for c in checks["items"][6:]}
    assert all(k.startswith("checklist:") for k in listed) and {"checklist:indication", "checklist:decision"} <= set(listed)
    assert {c["result"] for c in listed.values()} <= {"stated", "not stated", "avoided", "committed"}
    validation = body["validation"]["raw"].lower()
    assert (listed["checklist:indication"]["result"] == "stated") == ("cystitis" in validation)
    assert body["model"]["parameters"] == llama_parameters(Path(body["model"]["path"]))
    r = client.post("/v1/validate", json={**EXAMPLE_1, "patient": "   "})
    assert r.status_code == 422 and r.json()["error"]["field"] == "patient"
    r = client.post("/v1/validate", json={**EXAMPLE_1, "dose": "x"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "dose"


def test_auth_applies_to_the_page_api(built_lm):
    with TestClient(create_app(_settings(built_lm, auth=True, api_keys="k1"))) as client:
        assert client.get("/").status_code == 200  # the page itself is public; running the model is not
        assert client.post("/v1/validate", json=EXAMPLE_1).status_code == 401
        assert client.post("/v1/validate", json=EXAMPLE_1, headers={"x-api-key": "k1"}).status_code == 200


def test_the_page_uses_the_services_judge_and_survives_its_failure(built_lm, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_JUDGE_KEY", "k")
    with FakeOpenAI(default_score=3) as fake:
        settings = _settings(built_lm, cache_path=tmp_path / "cache.sqlite", judge_overrides=(
            "backend=openai", f"base_url={fake.base_url}", "model=fake-judge", "api_key_env=FAKE_JUDGE_KEY",
            "max_retries=0"))
        with TestClient(create_app(settings)) as client:
            body = client.post("/v1/validate", json=EXAMPLE_1).json()
            assert body["verdict"]["judge"]["backend"] == "openai" and len(fake.requests) == 1
            assert {s["score"] for s in body["verdict"]["scores"].values()} == {3}
            # the guideline checks still come from the rules judge (no second LLM call), for the same case
            with TestClient(create_app(_settings(built_lm))) as rules_client:
                rules = rules_client.post("/v1/validate", json=EXAMPLE_1).json()["verdict"]["scores"]
            assert {c["key"]: c["result"] for c in body["checks"]["items"] if c["key"] in rules} == {
                k: f"{v['score']}/5" for k, v in rules.items()
            }
            fake.rate_500 = 1.0  # the judge fails: the validation still comes back, with the judge's error
            r = client.post("/v1/validate", json={**EXAMPLE_1, "setting": "ward"})
            assert r.status_code == 200 and r.json()["verdict"] is None
            assert r.json()["judge_error"]["code"] == "judge_server_error"
            assert r.json()["validation"]["raw"]


def test_a_model_that_does_not_load_is_a_message_not_a_crash(tmp_path):
    (tmp_path / "broken").mkdir()
    with TestClient(create_app(_settings(tmp_path / "broken"))) as client:
        assert client.get("/").status_code == 200
        r = client.post("/v1/validate", json=EXAMPLE_1)
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable"
        assert "does not load" in r.json()["error"]["message"]


# ---------------------------------------------------------------- the page in headless Chromium

@pytest.fixture(scope="module")
def server(built_lm) -> Iterator[str]:
    yield from serve(_settings(built_lm))


@needs_browser
def test_page_in_chromium(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d = browser
    d.get(server + "/")
    console_errors(d)  # drain the log
    assert "not for clinical use" in d.find_element(By.ID, "notice").text.lower()

    # empty fields: a message on the page naming them, the fields marked, no request sent
    d.find_element(By.ID, "submit").click()
    error = d.find_element(By.ID, "error")
    assert error.is_displayed() and error.text == "Please fill in: Patient, Diagnosis, Prescription."
    assert d.find_element(By.ID, "patient").get_attribute("aria-invalid") == "true"

    # the example loader fills the form
    examples = Select(d.find_element(By.ID, "example"))
    assert len(examples.options) >= 3
    examples.select_by_index(0)
    d.find_element(By.ID, "load-example").click()
    for key, value in EXAMPLE_1.items():
        assert d.find_element(By.ID, key).get_attribute("value") == value
    assert not d.find_element(By.ID, "error").is_displayed()

    d.find_element(By.ID, "submit").click()
    wait_until(d, lambda drv: drv.find_element(By.ID, "result").is_displayed())
    decision = d.find_element(By.ID, "decision")
    assert decision.text == "Modify" and "decision-modify" in decision.get_attribute("class")
    assert "Nitrofurantoin" in d.find_element(By.ID, "regimen").text
    assert len(d.find_elements(By.CSS_SELECTOR, "#steps li")) == 7

    # the six judge scores, each as the API gives them for the same case
    api = httpx.post(server + "/v1/validate", json=EXAMPLE_1, timeout=60).json()["verdict"]
    rows = d.find_elements(By.CSS_SELECTOR, "#scores tbody tr")
    assert [r.get_attribute("data-metric") for r in rows] == list(METRIC_KEYS)
    for r in rows:
        key = r.get_attribute("data-metric")
        score = r.find_element(By.CSS_SELECTOR, "td.score").text
        why = r.find_element(By.CSS_SELECTOR, "td.justification")
        assert re.fullmatch(r"[1-5]/5", score) and score == f"{api['scores'][key]['score']}/5"
        assert why.text == api["scores"][key]["justification"]
    assert d.find_element(By.ID, "weighted-reward").text == f"{api['weighted_reward']:.3f}"

    # the guideline checks panel, item by item as the API gives them
    api_checks = httpx.post(server + "/v1/validate", json=EXAMPLE_1, timeout=60).json()["checks"]
    rows = d.find_elements(By.CSS_SELECTOR, "#checks tbody tr")
    assert [r.get_attribute("data-check") for r in rows] == [c["key"] for c in api_checks["items"]]
    for r, item in zip(rows, api_checks["items"], strict=True):
        cells = [r.find_element(By.CSS_SELECTOR, f"td.{k}").text for k in ("label", "result", "detail")]
        assert cells == [item["label"], item["result"], item["detail"]]
    # what runs: the model's name and size in the header
    info = httpx.get(server + "/v1/model").json()
    assert d.find_element(By.ID, "model-name").text == info["name"]
    assert d.find_element(By.ID, "model-size").text == f"({info['parameters']:,} parameters)"

    shot = tmp_path / "web-page.png"
    assert d.save_screenshot(str(shot)) and shot.read_bytes()[:4] == b"\x89PNG"
    assert console_errors(d) == []


@needs_browser
def test_model_failure_shows_on_the_page(browser, tmp_path):
    from selenium.webdriver.common.by import By

    (tmp_path / "broken").mkdir()
    for url in serve(_settings(tmp_path / "broken")):
        browser.get(url + "/")
        browser.find_element(By.ID, "load-example").click()
        browser.find_element(By.ID, "submit").click()
        error = wait_until(browser, lambda drv: drv.find_element(By.ID, "error") if drv.find_element(
            By.ID, "error").is_displayed() else False)
        assert "the policy model is not loaded" in error.text and "does not load" in error.text
        assert not browser.find_element(By.ID, "result").is_displayed()
        # the 503 itself is logged by Chromium as a failed resource; nothing else may be
        assert [e for e in console_errors(browser) if "status of 503" not in e] == []


@needs_browser
def test_report_html_opens_without_console_errors(browser, tmp_path):
    from selenium.webdriver.common.by import By

    runs = [write_run(tmp_path / "base", BASE), write_run(tmp_path / "trained", TRAINED)]
    html = write_report(runs, tmp_path / "rep", labels=["base", "trained"])["html"]
    browser.get(html.as_uri())
    imgs = browser.find_elements(By.TAG_NAME, "img")
    assert len(imgs) >= 3
    # every embedded plot decoded: a broken data URI has naturalWidth 0
    assert all(browser.execute_script("return arguments[0].naturalWidth", i) > 100 for i in imgs)
    assert "not for clinical use" in browser.find_element(By.TAG_NAME, "body").text
    assert console_errors(browser) == []
