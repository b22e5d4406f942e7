"""Review mode of the service (`amr-grpo serve --review DIR`): the API through TestClient (reviewer keys, each
reviewer sees only their own labels and never the judges' scores, 422 naming the field, the latest save wins), two
reviewers saving at once over real HTTP, and the page in headless Chromium, served (sign in, fill, save, resume,
errors) and offline (review.html from the export: fill, resume after a reload, the downloaded labels.csv imported).
Needs chromium + chromium-driver (`make tools`); without them the browser tests skip, except under CI."""

from __future__ import annotations

import csv
import io
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from browser import serve
from live_service import capture_logs
from review_helpers import first_cases

from amr_grpo.errors import UserError
from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.review.export import CSV_COLUMNS, export
from amr_grpo.review.labels_csv import import_labels
from amr_grpo.review.store import Store, resolve_url
from amr_grpo.service.app import create_app
from amr_grpo.service.review import prepare_review
from amr_grpo.service.settings import Settings

ANA, BEN = "ana-key-0123456789", "ben-key-9876543210"
KEYS = f"ana:{ANA},ben:{BEN}"


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture()
def review_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("AMR_GRPO_REVIEWER_KEYS", KEYS)
    monkeypatch.delenv("AMR_GRPO_DATABASE_URL", raising=False)
    export(first_cases(tmp_path / "cases.jsonl", 30), tmp_path / "rv", n=4, seed=0)
    return tmp_path / "rv"


@pytest.fixture()
def client(review_dir) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(auth=False), prepare_review(review_dir))) as c:
        yield c


def test_keys_isolation_hidden_scores_and_latest_wins(client, review_dir):
    with capture_logs() as logs:
        assert client.get("/v1/review/session").status_code == 401
        r = client.get("/v1/review/session", headers=_h("wrong-key-000000"))
        assert r.status_code == 401 and r.json()["error"]["message"] == "invalid reviewer key"
        s = client.get("/v1/review/session", headers=_h(ANA)).json()
        assert s["reviewer"] == "ana" and [i["status"] for i in s["items"]] == ["todo"] * 4
        first = s["items"][0]["item_id"]
        item = client.get(f"/v1/review/items/{first}", headers=_h(ANA))
        assert item.json()["label"] is None and item.json()["case_text"]
        # the judges' scores are not in the answer (nor anywhere in the page)
        assert "judge" not in item.text and "weighted_reward" not in item.text
        body = {"item_id": first, "scores": {"clinical_accuracy": 2}, "decision": "Reject", "comment": "wrong drug"}
        r = client.post("/v1/review/labels", json=body, headers=_h(ANA))
        assert r.status_code == 200 and r.json()["outcome"] == "inserted" and r.json()["status"] == "partial"
        # ben sees nothing of ana's label
        assert client.get(f"/v1/review/items/{first}", headers=_h(BEN)).json()["label"] is None
        assert client.get("/v1/review/session", headers=_h(BEN)).json()["items"][0]["status"] == "todo"
        # ana saves again: the latest wins (version 2)
        body2 = {**body, "scores": dict.fromkeys(METRIC_KEYS, 4), "decision": "Modify"}
        r = client.post("/v1/review/labels", json=body2, headers={"X-Reviewer-Key": ANA})
        assert r.json()["outcome"] == "updated" and r.json()["label"]["version"] == 2
        lab = client.get(f"/v1/review/items/{first}", headers=_h(ANA)).json()["label"]
        assert lab["decision"] == "Modify" and lab["scores"]["safety_awareness"] == 4 and lab["comment"] == "wrong drug"
    assert ANA not in logs.text and BEN not in logs.text  # keys are never logged
    page = client.get("/review")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    assert 'id="review-data"' not in page.text and "/review/static/review.js" in page.text
    assert client.get("/review/static/review.css").status_code == 200
    assert client.get("/review/static/store.py").status_code == 404


def test_bad_labels_are_422_naming_the_field(client):
    first = client.get("/v1/review/session", headers=_h(ANA)).json()["items"][0]["item_id"]

    def post(body: dict) -> dict:
        r = client.post("/v1/review/labels", json=body, headers=_h(ANA))
        assert r.status_code == 422, r.text
        return r.json()["error"]

    assert post({"item_id": first, "scores": {"clinical_accuracy": 7}})["field"] == "scores.clinical_accuracy"
    assert post({"item_id": first, "scores": {"clinical_accuracy": 0}})["field"] == "scores.clinical_accuracy"
    assert post({"item_id": first, "scores": {"clinical_accuracy": 2.5}})["field"] == "scores.clinical_accuracy"
    assert post({"item_id": first, "scores": {"clinical_accuracy": True}})["field"] == "scores.clinical_accuracy"
    assert post({"item_id": first, "scores": {"tone": 3}})["field"] == "scores.tone"
    assert post({"item_id": first, "decision": "Maybe"})["field"] == "decision"
    err = post({"item_id": "not-an-item", "scores": {"clinical_accuracy": 3}})
    assert err["field"] == "item_id" and "unknown item" in err["message"]
    assert post({"item_id": first, "comment": "x" * 4001})["field"] == "comment"
    r = client.post("/v1/review/labels", content="item_id=1", headers={**_h(ANA), "content-type": "text/plain"})
    assert r.status_code == 415
    assert client.get("/v1/review/items/nope", headers=_h(ANA)).status_code == 404


def test_reviewer_keys_are_checked_without_echoing_them(review_dir, monkeypatch):
    monkeypatch.setenv("AMR_GRPO_REVIEWER_KEYS", "ana:short")
    with pytest.raises(UserError) as e:
        prepare_review(review_dir)
    assert "'ana' is shorter than 12 characters" in str(e.value) and "short" not in str(e.value).replace("shorter", "")
    monkeypatch.setenv("AMR_GRPO_REVIEWER_KEYS", f"ana:{ANA},bob:{ANA}")
    with pytest.raises(UserError, match="same key as another reviewer"):
        prepare_review(review_dir)
    monkeypatch.delenv("AMR_GRPO_REVIEWER_KEYS")
    with pytest.raises(UserError, match="needs reviewer keys"):
        prepare_review(review_dir)


def test_show_scores_export_shows_them(tmp_path, monkeypatch):
    monkeypatch.setenv("AMR_GRPO_REVIEWER_KEYS", KEYS)
    export(first_cases(tmp_path / "c.jsonl", 10), tmp_path / "rv", n=2, seed=0, show_scores=True)
    with TestClient(create_app(Settings(auth=False), prepare_review(tmp_path / "rv"))) as c:
        first = c.get("/v1/review/session", headers=_h(ANA)).json()["items"][0]["item_id"]
        assert "rules" in c.get(f"/v1/review/items/{first}", headers=_h(ANA)).json()["judge_scores"]


# ---------------------------------------------------------------------------------------------- real HTTP

@pytest.fixture()
def server(review_dir) -> Iterator[str]:
    yield from serve(Settings(auth=False), prepare_review(review_dir))


def test_two_reviewers_saving_at_once_over_http(server, review_dir):
    ids = [i["item_id"] for i in httpx.get(server + "/v1/review/session", headers=_h(ANA)).json()["items"]]
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def work(key: str, score: int) -> None:
        with httpx.Client(base_url=server, headers=_h(key), timeout=60) as c:
            barrier.wait()
            for rnd in range(3):
                for i in ids:
                    codes.append(c.post("/v1/review/labels", json={
                        "item_id": i, "scores": {"clinical_accuracy": score}, "comment": f"round {rnd}"}).status_code)

    threads = [threading.Thread(target=work, args=a) for a in ((ANA, 2), (BEN, 5))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert codes == [200] * 24
    s = Store.open(resolve_url(None, review_dir))
    rows = s.labels()
    s.close()
    # one label per (item, reviewer), each holding that reviewer's score and their last round
    assert sorted((r["item_id"], r["reviewer"], r["clinical_accuracy"], r["comment"]) for r in rows) == \
        sorted([(i, "ana", 2, "round 2") for i in ids] + [(i, "ben", 5, "round 2") for i in ids])


# ---------------------------------------------------------------------------------------------- Chromium

def _console_errors(driver, expected: tuple[str, ...] = ()) -> list[str]:
    """SEVERE console entries, less the failed-resource lines of answers the test provoked on purpose."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
            and not any(f"status of {code}" in e["message"] for code in expected)]


def _wait(driver, condition, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _rate(d, scores: dict[str, int], decision: str | None = None) -> None:
    from selenium.webdriver.common.by import By

    for k, v in scores.items():
        d.find_element(By.CSS_SELECTOR, f'input[name="{k}"][value="{v}"]').click()
    if decision:
        d.find_element(By.CSS_SELECTOR, f'input[name="decision"][value="{decision}"]').click()


def test_review_page_in_chromium(server, browser, review_dir):
    from selenium.webdriver.common.by import By

    d = browser
    d.get(server + "/review")
    _console_errors(d)  # drain
    assert "not for clinical use" in d.find_element(By.ID, "notice").text.lower()
    # a wrong key: a message, still on the sign-in form
    d.find_element(By.ID, "key").send_keys("not-a-reviewer-key")
    d.find_element(By.ID, "login-btn").click()
    err = _wait(d, lambda drv: drv.find_element(By.ID, "error") if drv.find_element(By.ID, "error").is_displayed()
                else False)
    assert err.text == "invalid reviewer key" and d.find_element(By.ID, "login").is_displayed()
    d.find_element(By.ID, "key").send_keys(ANA)
    d.find_element(By.ID, "login-btn").click()
    _wait(d, lambda drv: drv.find_element(By.ID, "workspace").is_displayed()
          and drv.find_element(By.ID, "item-id").text)
    assert d.find_element(By.ID, "who").text == "Signed in as ana"
    ids = [b.get_attribute("data-item") for b in d.find_elements(By.CSS_SELECTOR, "#item-list button")]
    assert len(ids) == 4 and d.find_element(By.ID, "item-id").text == ids[0]
    assert "Prescription:" in d.find_element(By.ID, "case").text and d.find_element(By.ID, "output").text
    assert not d.find_element(By.ID, "judge-scores").is_displayed()
    # every metric shows its five anchors
    assert len(d.find_elements(By.CSS_SELECTOR, "fieldset.metric label.anchor")) == 5 * len(METRIC_KEYS)

    # saving an empty form: a message, nothing sent
    d.find_element(By.ID, "save").click()
    assert d.find_element(By.ID, "error").text.startswith("Rate at least one metric")

    # fill item 1 completely and save: it is done and the form moves on to item 2
    _rate(d, dict.fromkeys(METRIC_KEYS, 4), "Modify")
    d.find_element(By.ID, "regimen").send_keys("Nitrofurantoin 100 mg PO q12h x 5 days")
    d.find_element(By.ID, "comment").send_keys("duration too long")
    d.find_element(By.ID, "save").click()
    _wait(d, lambda drv: drv.find_element(By.ID, "item-id").text == ids[1])
    assert d.find_element(By.ID, "status").text == f"Saved {ids[0]}."
    assert "done" in d.find_element(By.CSS_SELECTOR, f'button[data-item="{ids[0]}"]').get_attribute("class")
    assert d.find_element(By.ID, "progress").text == "1 of 4 done"

    # item 2 partly, then a score the server refuses (the page is tampered with): the error names the field
    _rate(d, {"clinical_accuracy": 2})
    d.find_element(By.ID, "save").click()
    _wait(d, lambda drv: drv.find_element(By.ID, "item-id").text == ids[2])
    d.find_element(By.CSS_SELECTOR, f'button[data-item="{ids[1]}"]').click()
    _wait(d, lambda drv: drv.find_element(By.ID, "item-id").text == ids[1])
    tampered = d.find_element(By.CSS_SELECTOR, 'input[name="safety_awareness"][value="5"]')
    d.execute_script('arguments[0].value = "7"', tampered)
    tampered.click()
    d.find_element(By.ID, "save").click()
    err = _wait(d, lambda drv: drv.find_element(By.ID, "error") if drv.find_element(By.ID, "error").is_displayed()
                else False)
    assert err.text == "scores.safety_awareness: Input should be less than or equal to 5"
    assert d.find_element(By.ID, "f-safety_awareness").get_attribute("aria-invalid") == "true"

    # leave and come back: the page resumes at the first item not done, with the saved values filled in
    d.get(server + "/review")
    _wait(d, lambda drv: drv.find_element(By.ID, "workspace").is_displayed()
          and drv.find_element(By.ID, "item-id").text == ids[1])
    assert d.find_element(By.CSS_SELECTOR, 'input[name="clinical_accuracy"][value="2"]').is_selected()
    assert not d.find_element(By.CSS_SELECTOR, 'input[name="safety_awareness"][value="5"]').is_selected()
    d.find_element(By.CSS_SELECTOR, f'button[data-item="{ids[0]}"]').click()
    _wait(d, lambda drv: drv.find_element(By.ID, "item-id").text == ids[0])
    assert d.find_element(By.ID, "comment").get_attribute("value") == "duration too long"
    assert d.find_element(By.CSS_SELECTOR, 'input[name="decision"][value="Modify"]').is_selected()
    assert _console_errors(d, expected=("401", "422")) == []

    # what the page saved is what the store holds
    s = Store.open(resolve_url(None, review_dir))
    got = {r["item_id"]: r for r in s.labels(reviewer="ana")}
    s.close()
    assert set(got) == {ids[0], ids[1]} and got[ids[0]]["regimen"] == "Nitrofurantoin 100 mg PO q12h x 5 days"
    assert got[ids[1]]["clinical_accuracy"] == 2 and got[ids[1]]["safety_awareness"] is None
    d.find_element(By.ID, "logout").click()
    _wait(d, lambda drv: drv.find_element(By.ID, "login").is_displayed())


def test_offline_review_html_in_chromium(browser, review_dir, tmp_path):
    from selenium.webdriver.common.by import By

    d = browser
    page = (review_dir / "review.html").as_uri()
    d.get(page)
    _console_errors(d)
    _wait(d, lambda drv: drv.find_element(By.ID, "item-id").text)
    ids = [b.get_attribute("data-item") for b in d.find_elements(By.CSS_SELECTOR, "#item-list button")]
    _rate(d, dict.fromkeys(METRIC_KEYS, 3), "Approve")
    d.find_element(By.ID, "save").click()
    assert d.find_element(By.ID, "error").text == "Please enter your name above before saving."
    d.find_element(By.ID, "reviewer").send_keys("dr. rao")
    d.find_element(By.ID, "save").click()
    _wait(d, lambda drv: drv.find_element(By.ID, "item-id").text == ids[1])
    _rate(d, {"guideline_adherence": 1}, "Reject")
    d.find_element(By.ID, "comment").send_keys('wrong drug, "reserve" agent')
    d.find_element(By.ID, "save").click()
    _wait(d, lambda drv: drv.find_element(By.ID, "item-id").text == ids[2])
    d.get(page)  # closed and reopened: the labels are still there
    _wait(d, lambda drv: drv.find_element(By.ID, "item-id").text == ids[1])
    assert d.find_element(By.ID, "reviewer").get_attribute("value") == "dr. rao"
    assert d.find_element(By.CSS_SELECTOR, 'input[name="guideline_adherence"][value="1"]').is_selected()
    href = d.find_element(By.ID, "download").get_attribute("href")
    assert href.startswith("data:text/csv")
    text = urllib.parse.unquote(href.split(",", 1)[1])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS and [r["item_id"] for r in rows] == ids[:2]
    assert _console_errors(d) == []
    d.execute_script("localStorage.clear()")
    # the downloaded file imports as it is
    (tmp_path / "dl.csv").write_text(text, encoding="utf-8")
    s = Store.open(f"sqlite:///{tmp_path / 'offline.sqlite'}")
    r = import_labels(tmp_path / "dl.csv", s, review_dir)
    got = {x["item_id"]: x for x in s.labels()}
    s.close()
    assert r.inserted == 2 and got[ids[1]]["comment"] == 'wrong drug, "reserve" agent'
    assert got[ids[0]]["reviewer"] == "dr. rao" and got[ids[0]]["reference_accuracy"] == 3


def test_serve_review_mode_problems_are_one_line(review_dir, monkeypatch):
    from typer.testing import CliRunner

    from amr_grpo.cli import app

    monkeypatch.delenv("AMR_GRPO_REVIEWER_KEYS")
    r = CliRunner().invoke(app, ["serve", "--no-auth", "--review", str(review_dir)])
    assert r.exit_code == 2 and "review mode needs reviewer keys" in r.output and "Traceback" not in r.output
    monkeypatch.setenv("AMR_GRPO_REVIEWER_KEYS", KEYS)
    r = CliRunner().invoke(app, ["serve", "--no-auth", "--review", str(review_dir.parent)])
    assert r.exit_code == 2 and "no items.jsonl" in r.output
