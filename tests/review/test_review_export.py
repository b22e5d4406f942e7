"""`amr-grpo review export`: sampling stratified by decision and scenario (cases) or decision and judge band
(evaluate runs, judged JSONL), deterministic for a seed, blinded ids with the key kept apart, judges' scores hidden
unless asked, the labels.csv template, and bad inputs as one line."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from review_helpers import ROOT, build_evaluate_run, first_cases
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.errors import UserError
from amr_grpo.review.export import CSV_COLUMNS, allocate, export, read_export

REQUESTS = ROOT / "tests" / "data" / "judge_requests.jsonl"


def _items(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / "items.jsonl").read_text().splitlines()]


def _key(d: Path) -> dict:
    return json.loads((d / "key.json").read_text())


def test_allocate_spreads_evenly_and_a_small_stratum_gives_all_it_has():
    # 9 over sizes 1/10/10: a share of 3 each, 'a' can give only 1, the 2 left go one each to 'b' and 'c'
    assert allocate({"a": 1, "b": 10, "c": 10}, 9) == {"a": 1, "b": 4, "c": 4}
    assert allocate({"a": 2, "b": 3}, 50) == {"a": 2, "b": 3}  # more asked than there is: everything
    assert sum(allocate({"a": 5, "b": 5, "c": 5}, 7, seed=3).values()) == 7


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Path:
    return first_cases(tmp_path_factory.mktemp("cases") / "cases.jsonl", 120)


def test_cases_export_is_stratified_blinded_and_deterministic(cases, tmp_path):
    r = export(cases, tmp_path / "a", n=12, seed=0)
    d = tmp_path / "a"
    assert sorted(p.name for p in d.iterdir()) == ["items.jsonl", "key.json", "labels.csv", "review.html"]
    key = _key(d)
    # 12 over the three decisions present: 4 each (each decision has far more than 4 of the 120 cases)
    by_decision = Counter(k["reference_decision"] for k in key["items"])
    assert by_decision == {"Approve": 4, "Modify": 4, "Reject": 4}
    assert sum(r.strata.values()) == 12 and all(s.startswith("decision=") and "|scenario=" in s for s in r.strata)
    # within Modify, no scenario is taken twice while others are left out (the 4 go to 4 different scenarios)
    modify = [k["stratum"] for k in key["items"] if k["reference_decision"] == "Modify"]
    assert len(set(modify)) == 4
    # blinded: ids are the export id and a number; the case ids are only in key.json
    ids = [it["item_id"] for it in _items(d)]
    assert ids == [f"{r.export_id}-{i:03d}" for i in range(1, 13)]
    case_ids = [k["source"]["id"] for k in key["items"]]
    assert all(c.startswith("synth-0-") for c in case_ids)
    for name in ("items.jsonl", "labels.csv", "review.html"):
        text = (d / name).read_text()
        assert not any(c in text for c in case_ids), name
    # the output to review is the case's reference validation; the judges' scores are not shown
    src = {json.loads(line)["id"]: json.loads(line) for line in cases.read_text().splitlines()}
    for it, k in zip(_items(d), key["items"]):
        assert it["output"] == src[k["source"]["id"]]["reference"]
        assert set(it) == {"item_id", "case_text", "output"} and "Prescription:" in it["case_text"]
        assert "rules" in k["judges"] and set(k["judges"]["rules"]["scores"]) == set(CSV_COLUMNS[2:8])
    assert "weighted_reward" not in (d / "review.html").read_text()
    # labels.csv: the template, one row per item
    rows = list(csv.reader((d / "labels.csv").open()))
    assert tuple(rows[0]) == CSV_COLUMNS and [row[0] for row in rows[1:]] == ids
    assert all(cell == "" for row in rows[1:] for cell in row[1:])
    # the same input and seed give the same export; another seed another sample
    export(cases, tmp_path / "b", n=12, seed=0)
    assert _items(tmp_path / "b") == _items(d) and _key(tmp_path / "b")["items"] == key["items"]
    other = export(cases, tmp_path / "c", n=12, seed=1)
    assert other.export_id != r.export_id
    assert {k["source"]["id"] for k in _key(tmp_path / "c")["items"]} != set(case_ids)


def test_show_scores_and_overwrite_rules(cases, tmp_path):
    d = tmp_path / "r"
    export(cases, d, n=3, seed=0, show_scores=True)
    assert all("rules" in it["judge_scores"] for it in _items(d))
    (d / "review.sqlite").write_text("labels live here")
    with pytest.raises(UserError, match="already holds a review set"):
        export(cases, d, n=3, seed=0)
    export(cases, d, n=3, seed=0, force=True)  # replaces the review files, keeps the database
    assert (d / "review.sqlite").read_text() == "labels live here" and "judge_scores" not in _items(d)[0]
    manifest, rows = read_export(d)
    assert manifest["show_scores"] is False and len(rows) == 3 and rows[0]["case_data"]["diagnosis"]


def test_evaluate_run_export_stratifies_by_decision_and_judge_band(tmp_path):
    run = build_evaluate_run(tmp_path)
    r = export(run, tmp_path / "rv", n=6, seed=0)
    key = _key(tmp_path / "rv")
    assert r.available == 12 and r.n_items == 6
    assert {k["source"]["kind"] for k in key["items"]} == {"evaluate"}
    # half the outputs are the reference, half a bare "Decision: Approve": both kinds are sampled
    outputs = [it["output"] for it in _items(tmp_path / "rv")]
    assert any(o.startswith("Decision: Approve") for o in outputs) and any(o.startswith("Step 1") for o in outputs)
    assert all("|rules=" in s for s in r.strata)
    rows = {json.loads(line)["id"]: json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()}
    for k in key["items"]:
        row = rows[k["source"]["id"]]
        # the judge's scores are the run's own, not rescored
        assert k["judges"]["rules"]["weighted_reward"] == row["weighted_reward"]
        assert k["reference_decision"] == row["gold_decision"]
        assert k["case"]["diagnosis"]  # the case came from the prepared split, structured


def test_judged_jsonl_needs_its_requests_and_inline_verdicts_count(tmp_path):
    runner = CliRunner()
    judged = tmp_path / "judged.jsonl"
    r = runner.invoke(app, ["judge", "--input", str(REQUESTS), "--backend", "rules", "--no-cache", "-o", str(judged)])
    assert judged.is_file(), r.output
    r = runner.invoke(app, ["review", "export", str(judged), "-n", "3", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--requests" in r.output
    r = runner.invoke(app, ["review", "export", str(judged), "--requests", str(REQUESTS), "-n", "3",
                            "-o", str(tmp_path / "y")])
    assert r.exit_code == 0, r.output
    assert all(k["source"]["kind"] == "requests" and "rules" in k["judges"] for k in _key(tmp_path / "y")["items"])
    # a requests file whose lines carry another judge's verdict: that judge and the rules judge are both kept
    reqs = [json.loads(line) for line in REQUESTS.read_text().splitlines() if line.strip()]
    verdict = {"scores": {k: {"score": 3, "justification": "x"} for k in CSV_COLUMNS[2:8]}, "weighted_reward": 0.6,
               "judge": {"backend": "openai", "model": "judge-70b"}}
    inline = tmp_path / "inline.jsonl"
    inline.write_text("".join(json.dumps({**q, "verdict": verdict}) + "\n" for q in reqs))
    export(inline, tmp_path / "z", n=len(reqs), seed=0)
    assert all(set(k["judges"]) == {"openai:judge-70b", "rules"} for k in _key(tmp_path / "z")["items"])


def test_text_that_looks_like_html_stays_text(tmp_path):
    evil = "Decision: Approve\n</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    req = tmp_path / "req.jsonl"
    req.write_text(json.dumps({"patient_case": "Diagnosis: cystitis\nPrescription: Tab X",
                               "model_output": evil}) + "\n")
    export(req, tmp_path / "rv", n=1, seed=0)
    page = (tmp_path / "rv" / "review.html").read_text()
    assert "</script><script>alert(1)" not in page and "<img src=x" not in page
    assert _items(tmp_path / "rv")[0]["output"] == evil  # kept as written, only escaped in the page


def test_bad_input_is_one_line(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["review", "export", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "input not found" in r.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(CASES_LINE + '\n{"id": "x", "diagnosis": "cystitis"}\n')
    r = runner.invoke(app, ["review", "export", str(bad), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and f"{bad}:2: field 'patient': missing" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()
    r = runner.invoke(app, ["review", "export", str(REQUESTS), "-n", "0", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "-n must be at least 1" in r.output


CASES_LINE = (ROOT / "data" / "cases.jsonl").read_text().splitlines()[0]


def test_also_adds_an_llm_judges_verdicts_on_the_same_outputs(tmp_path, monkeypatch):
    import dataclasses

    from fake_openai import FakeOpenAI

    from amr_grpo.evaluation.evaluate import evaluate, judge_config

    run = build_evaluate_run(tmp_path)
    monkeypatch.setenv("FAKE_JUDGE_KEY", "k")
    with FakeOpenAI(default_score=4) as fake:
        cfg = dataclasses.replace(judge_config("openai"), base_url=fake.base_url, model="fake-judge",
                                  api_key_env="FAKE_JUDGE_KEY", cache_path=None, max_retries=0)
        evaluate(None, tmp_path / "data", tmp_path / "llm", cfg, outputs=run / "results.jsonl")
    export(run, tmp_path / "rv", n=4, seed=0, also=[tmp_path / "llm"])
    for k in _key(tmp_path / "rv")["items"]:
        assert set(k["judges"]) == {"rules", "openai:fake-judge"}
        assert set(k["judges"]["openai:fake-judge"]["scores"].values()) == {4}  # the fake judge's score
    other = tmp_path / "other"  # the same ids, other outputs: not verdicts on what is reviewed
    other.mkdir()
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    (other / "results.jsonl").write_text("".join(json.dumps({**r, "output": r["output"] + " (edited)"}) + "\n"
                                                 for r in rows))
    with pytest.raises(UserError, match="none of its rows scored the same outputs"):
        export(run, tmp_path / "rv2", n=4, seed=0, also=[other])
