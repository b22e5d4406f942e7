"""`amr-grpo review import`: a filled labels.csv into the store (the SQLite file in the review directory by
default): good rows stored, each bad row reported as FILE:LINE: field 'x': problem with nothing written (or the good
ones with --skip-invalid), re-importing the same file changes nothing, the untouched template imports nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from review_helpers import first_cases, write_labels
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.review.export import export, read_export
from amr_grpo.review.store import Store, resolve_url

FULL = dict.fromkeys(METRIC_KEYS, 4)


@pytest.fixture()
def review(tmp_path) -> tuple[Path, list[str]]:
    cases = first_cases(tmp_path / "cases.jsonl", 30)
    export(cases, tmp_path / "rv", n=4, seed=0)
    _, rows = read_export(tmp_path / "rv")
    return tmp_path / "rv", [r["item_id"] for r in rows]


def _store(d: Path) -> Store:
    return Store.open(resolve_url(None, d))


def _import(*args: str):
    return CliRunner().invoke(app, ["review", "import", *args])


def test_good_file_then_the_same_file_again_changes_nothing(review):
    d, ids = review
    rows = [{"item_id": ids[0], "reviewer": "ana", **FULL, "decision": "modify", "regimen": "Nitrofurantoin 100 mg PO "
             "q12h x 5 days", "comment": 'dose, "route" ok\nduration long'},  # a quoted two-line cell
            {"item_id": ids[1], "reviewer": "ana", "clinical_accuracy": "2", "decision": "Reject"},
            {"item_id": ids[0], "reviewer": "ben", **FULL, "decision": "Approve"},
            {"item_id": ids[2]}]  # a template row left empty
    f = write_labels(d / "labels.csv", rows)
    r = _import(str(f))
    assert r.exit_code == 0, r.output
    assert "3 new, 0 changed, 0 unchanged labels; 1 empty rows" in r.output and "4 items registered" in r.output
    s = _store(d)
    got = {(x["item_id"], x["reviewer"]): x for x in s.labels()}
    assert set(got) == {(ids[0], "ana"), (ids[1], "ana"), (ids[0], "ben")}
    a = got[(ids[0], "ana")]
    assert (a["decision"], a["comment"], a["origin"]) == ("Modify", 'dose, "route" ok\nduration long', "csv:labels.csv")
    assert got[(ids[1], "ana")]["clinical_accuracy"] == 2 and got[(ids[1], "ana")]["safety_awareness"] is None
    before = {k: (v["version"], v["updated_at"]) for k, v in got.items()}
    s.close()
    r = _import(str(f))
    assert r.exit_code == 0 and "0 new, 0 changed, 3 unchanged labels" in r.output and "0 items registered" in r.output
    s = _store(d)
    assert {(x["item_id"], x["reviewer"]): (x["version"], x["updated_at"]) for x in s.labels()} == before
    assert len(s.history(ids[0], "ana")) == 1
    s.close()


def test_a_bad_row_names_file_line_and_field_and_nothing_is_written(review):
    d, ids = review
    rows = [{"item_id": ids[0], "reviewer": "ana", **FULL, "decision": "Approve"},           # line 2: fine
            {"item_id": ids[1], "reviewer": "ana", **FULL, "safety_awareness": 7},           # line 3
            {"item_id": ids[2], "reviewer": "ana", "clinical_accuracy": "good"},             # line 4
            {"item_id": ids[3], "reviewer": "ana", "decision": "Maybe"},                     # line 5
            {"item_id": "nope-001", "reviewer": "ana", "clinical_accuracy": 3},              # line 6
            {"item_id": ids[1], "reviewer": "", "clinical_accuracy": 3},                     # line 7
            {"item_id": ids[0], "reviewer": "ana", "clinical_accuracy": 3},                  # line 8: twice
            {"item_id": ids[2], "reviewer": "ben", "reference_accuracy": 3.5}]               # line 9
    f = write_labels(d / "labels.csv", rows)
    r = _import(str(f))
    assert r.exit_code == 2 and "Traceback" not in r.output
    for line, field, problem in [(3, "safety_awareness", "7 is outside 1-5"),
                                 (4, "clinical_accuracy", "'good' is not a score"),
                                 (5, "decision", "'Maybe' is not Approve, Modify or Reject"),
                                 (6, "item_id", "unknown item 'nope-001'"),
                                 (7, "reviewer", "empty"),
                                 (8, "item_id", f"{ids[0]!r} is labelled by 'ana' again (first on line 2)"),
                                 (9, "reference_accuracy", "3.5 is outside 1-5")]:
        assert f"{f}:{line}: field '{field}': {problem}" in r.output
    assert "7 problem(s); nothing was written" in r.output and "--skip-invalid" in r.output
    s = _store(d)
    assert s.labels() == []
    s.close()
    r = _import(str(f), "--skip-invalid")
    assert r.exit_code == 0 and "1 new" in r.output and "7 problems skipped" in r.output
    assert f"skipped {f}:3: field 'safety_awareness'" in r.output


def test_header_problems_and_an_untouched_template(review, tmp_path):
    d, ids = review
    r = _import(str(d / "labels.csv"))  # the template as exported: nothing filled, nothing stored
    assert r.exit_code == 0 and "0 new" in r.output and "4 empty rows" in r.output
    f = write_labels(tmp_path / "short.csv", [{"item_id": ids[0], "reviewer": "ana"}],
                     columns=("item_id", "reviewer", *METRIC_KEYS, "comment"))
    r = _import(str(f), "--review-dir", str(d))
    assert r.exit_code == 2 and f"{f}:1: missing column(s) 'decision'" in r.output
    # a spreadsheet saved with a byte-order mark and upper-case headers, without the optional regimen column
    cols = ("item_id", "reviewer", *METRIC_KEYS, "decision", "comment")
    text = ",".join(c.upper() for c in cols) + "\n" + ",".join([ids[0], "ana", *"345345", "Approve", "ok"]) + "\n"
    (tmp_path / "bom.csv").write_text("\ufeff" + text, encoding="utf-8")
    r = _import(str(tmp_path / "bom.csv"), "--review-dir", str(d))
    assert r.exit_code == 0 and "1 new" in r.output, r.output
    r = _import(str(tmp_path / "nothere.csv"))
    assert r.exit_code == 2 and "labels file not found" in r.output
