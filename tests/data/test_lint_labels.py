"""`amr-grpo lint-labels`: each kind of wrong label in a hand-made dataset is found, with its reason and guideline
section; the same labels read from a prepared split or a CSV under other column names give the same findings; the
shipped dataset lints clean (its only findings are free-text cases whose note uses a phrasing the case reader is
known to miss); exit 0 unless --strict; bad input is one line and exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reader_gaps import gaps_of
from synth_cases import cases
from typer.testing import CliRunner

from amr_grpo.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def case(cid, patient, diagnosis, setting, prescription, decision, regimen):
    ref = f"Step 1 - Clinical picture: as given.\nDecision: {decision}\nRecommended regimen: {regimen}\n" \
          "Reference: NCDC/ICMR NTG v2.0 (2025)"
    return {"id": cid, "patient": patient, "diagnosis": diagnosis, "setting": setting, "prescription": prescription,
            "decision": decision, "recommended_regimen": regimen, "reference": ref}


ADULT = {"age": 40, "sex": "M", "weight_kg": 70, "crcl_ml_min": 100}
CASES = [
    # a fluoroquinolone has no place in CAP: Reject by the rule, labelled Modify
    case("fq-cap", ADULT, "Community-acquired pneumonia, outpatient, no comorbidity", "OPD",
         "Tab Levofloxacin 750 mg OD x 5 days", "Modify", "Amoxicillin 1 g PO q8h x 5 days"),
    # vancomycin 15 mg/kg q12h at CrCl 32 approved: the 20-49 band gives q24h
    case("vanco-renal", {"age": 85, "sex": "M", "weight_kg": 60, "crcl_ml_min": 32},
         "Cellulitis with MRSA risk, moderate to severe", "ward", "Inj Vancomycin 15 mg/kg IV q12h x 7 days",
         "Approve", "Vancomycin 15 mg/kg IV q12h x 7 days"),
    # amoxicillin approved for a patient allergic to penicillin
    case("allergy", {**ADULT, "allergies": ["penicillin (anaphylaxis)"]}, "Cellulitis, non-purulent, mild", "OPD",
         "Cap Amoxicillin 500 mg TDS x 5 days", "Approve", "Amoxicillin 500 mg PO q8h x 5 days"),
    # an antibiotic approved for a viral URTI
    case("urti", ADULT, "Viral upper respiratory tract infection (common cold, laryngitis)", "OPD",
         "Tab Azithromycin 500 mg OD x 3 days", "Approve", "Azithromycin 500 mg PO q24h x 3 days"),
    # a carbapenem narrowed to ceftriaxone alone in diverticulitis: no anaerobic cover
    case("deesc", {**ADULT, "cultures": "day 3: peritoneal fluid grew E. coli sensitive to ceftriaxone"},
         "Diverticulitis without sepsis", "ward", "Inj Ertapenem 1 g IV OD x 5 days", "Modify",
         "Ceftriaxone 2 g IV q24h x 5 days"),
    # imipenem without the 1 g loading dose the guideline gives after recent carbapenem exposure
    case("no-load", {**ADULT, "comorbidities": ["received meropenem in the last 90 days"]},
         "Hospital-acquired / ventilator-associated pneumonia after recent BL/BLI or carbapenem exposure", "ICU",
         "Inj Imipenem-cilastatin 500 mg IV q6h x 7 days", "Approve", "Imipenem-cilastatin 500 mg IV q6h x 7 days"),
    # nothing in the knowledge base to check against
    case("unknown", ADULT, "Rhino-orbital mucormycosis", "ward", "Inj Liposomal amphotericin B 5 mg/kg OD",
         "Approve", "Liposomal amphotericin B 5 mg/kg IV q24h"),
    # right: the first line for uncomplicated cystitis in a woman
    case("good", {"age": 30, "sex": "F", "weight_kg": 55, "crcl_ml_min": 100, "pregnant": False},
         "Uncomplicated cystitis", "OPD", "Tab Nitrofurantoin 100 mg BD x 5 days", "Approve",
         "Nitrofurantoin 100 mg PO q12h x 5 days"),
]
EXPECTED = {
    "fq-cap": {"decision_rule"},
    "vanco-renal": {"decision", "renal"},  # Approve where Modify/Reject is due; the regimen ignores the band
    "allergy": {"decision", "regimen_unsafe"},
    "urti": {"decision", "no_antibiotic"},  # the guideline says no antibiotic, so only Reject
    "deesc": {"spectrum"},  # culture-directed ceftriaxone passes the regimen check, but lacks anaerobic cover
    "no-load": {"loading"},
    "unknown": {"unchecked"},
}


@pytest.fixture()
def dataset(tmp_path) -> Path:
    path = tmp_path / "cases.jsonl"
    lines = [json.dumps(c) for c in CASES] + ["{not json"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def findings(path: Path, *args: str) -> tuple[int, dict]:
    r = runner.invoke(app, ["lint-labels", str(path), "--json", *args])
    return r.exit_code, json.loads(r.stdout) if r.stdout.strip().startswith("{") else r.output


def kinds_by_id(report: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in report["findings"]:
        out.setdefault(f["id"] or f["where"], set()).add(f["kind"])
    return out


def test_each_kind_of_wrong_label_is_found_with_reason_and_section(dataset):
    code, report = findings(dataset)
    assert code == 0  # findings alone never fail the command
    got = kinds_by_id(report)
    unreadable = {k for k in got if k.endswith(":9")}  # the 9th line is not JSON
    assert got.pop(unreadable.pop()) == {"unreadable"}
    assert got == EXPECTED  # "good" has no finding
    assert report["cases"] == 9 and report["checked"] == 7  # the unknown syndrome and the bad line are not checked
    by = {(f["id"], f["kind"]): f for f in report["findings"]}
    assert by["fq-cap", "decision_rule"]["expected"] == "Reject"
    assert "levofloxacin has no place" in by["fq-cap", "decision_rule"]["reason"]
    assert "ICS/NCCP" in by["fq-cap", "decision_rule"]["section"]  # the do-not-use row's source
    assert "15 mg/kg q24h" in by["vanco-renal", "renal"]["reason"]  # the band the label ignored
    # the section of a renal finding is the band's source: vancomycin's nomogram is general knowledge (GK)
    assert "interval nomogram" in by["vanco-renal", "renal"]["section"]
    assert "anaerobic" in by["deesc", "spectrum"]["reason"]
    assert "400 mg q12h x 3 doses" not in by["no-load", "loading"]["reason"] and "1 g stat" in \
        by["no-load", "loading"]["reason"]
    assert report["by_kind"]["decision"] == 3


def test_strict_exits_1_on_findings_and_0_on_a_clean_dataset(dataset, tmp_path):
    assert findings(dataset, "--strict")[0] == 1
    clean = tmp_path / "clean.jsonl"
    clean.write_text(json.dumps(CASES[-1]) + "\n", encoding="utf-8")
    code, report = findings(clean, "--strict")
    assert code == 0 and report["findings"] == []


def test_the_table_names_each_kind_and_the_report_file_is_written(dataset, tmp_path):
    r = runner.invoke(app, ["lint-labels", str(dataset), "-o", str(tmp_path / "r.json"), "--show", "2"])
    assert r.exit_code == 0, r.output
    for kind in ("decision_rule", "renal", "regimen_unsafe", "no_antibiotic", "spectrum", "loading", "unchecked"):
        assert kind in r.output
    assert "8 of 9 cases disagree" in r.output  # every case but "good" (the unreadable line counts as one)
    assert json.loads((tmp_path / "r.json").read_text())["cases_with_findings"] == 8


def test_a_prepared_split_and_a_csv_under_other_names_give_the_same_findings(tmp_path):
    src = tmp_path / "cases.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in CASES), encoding="utf-8")
    r = runner.invoke(app, ["prepare", str(src), "-o", str(tmp_path / "prep"), "--val-size", "0", "--test-size", "0"])
    assert r.exit_code == 0, r.output
    code, report = findings(tmp_path / "prep" / "train.jsonl")
    assert code == 0 and kinds_by_id(report) == EXPECTED
    # the FQ-for-CAP case as a spreadsheet row with its own column names, read through --map as prepare reads it
    csv = tmp_path / "cases.csv"
    csv.write_text("Case No,Age,Sex,Dx,Drug order,Verdict,Notes\n"
                   "c1,40,M,\"Community-acquired pneumonia, outpatient, no comorbidity\",Tab Levofloxacin 750 mg OD x "
                   "5 days,Modify,\"Decision: Modify\nRecommended regimen: Amoxicillin 1 g PO q8h x 5 days\"\n",
                   encoding="utf-8")
    code, report = findings(csv, "--map", "id=Case No", "--map", "diagnosis=Dx", "--map", "prescription=Drug order",
                            "--map", "decision=Verdict", "--map", "reference=Notes", "--map", "patient.age=Age",
                            "--map", "patient.sex=Sex")
    assert code == 0 and kinds_by_id(report) == {"c1": {"decision_rule"}}


def test_a_split_with_free_text_context_and_reference_text_ground_truth(tmp_path):
    # a GRPO record may carry the case as text and the ground truth as the reference validation (splits.py)
    split = tmp_path / "train.jsonl"
    rec = {"id": "t1", "prompt": "Validate this prescription.",
           "context": "45/M, 70 kg, S.Cr 0.9 mg/dL. Dx: Community-acquired pneumonia, outpatient, no comorbidity. "
                      "Rx: Tab Levofloxacin 750 mg OD x 5 days",
           "ground_truth": "Decision: Modify\nRecommended regimen: Amoxicillin 1 g PO q8h x 5 days\nReference: NCDC"}
    split.write_text(json.dumps(rec) + "\n", encoding="utf-8")
    code, report = findings(split)
    # read as the judge reads it: the diagnosis and prescription from the labelled parts, the decision from the text
    assert code == 0 and kinds_by_id(report) == {"t1": {"decision_rule"}}


def test_the_shipped_dataset_lints_clean_but_for_known_reader_gaps():
    code, report = findings(ROOT / "data" / "cases.jsonl", "--strict")
    by_id = {g.record["id"]: g for g in cases(600, 0)}
    flagged = {f["id"] for f in report["findings"]}
    # structured cases: none flagged; a flagged free-text case always uses a phrasing the reader is known to miss
    assert all(by_id[i].note is not None and gaps_of(by_id[i]) for i in flagged), flagged
    assert report["checked"] == 600 and len(flagged) <= 15 and code == (1 if flagged else 0)


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    r = runner.invoke(app, ["lint-labels", str(tmp_path / "missing.jsonl")])
    assert r.exit_code == 2 and "not found" in r.output and "Traceback" not in r.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    r = runner.invoke(app, ["lint-labels", str(empty)])
    assert r.exit_code == 2 and "no records" in r.output
    r = runner.invoke(app, ["lint-labels", str(empty), "--map", "nonsense"])
    assert r.exit_code == 2
