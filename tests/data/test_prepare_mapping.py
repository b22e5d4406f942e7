"""`amr-grpo prepare` on data as users have it: pharmacist decisions without a written validation, a saved mapping
file with the file's own decision words, a misspelled --map column reported once, and `prepare --inspect`, whose
proposal prepares the same records as the hand-checked mapping. Real CLI, real files in data/examples/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.data.mapping import propose_decision_values

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "data" / "examples"
CSV = EXAMPLES / "pharmacist_decisions.csv"
MAP = EXAMPLES / "pharmacist_decisions.map.yaml"
runner = CliRunner()
NO_SPLIT = ["--val-size", "0", "--test-size", "0"]


def prepare(*args):
    return runner.invoke(app, ["prepare", *map(str, args)])


def train_rows(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (out / "train.jsonl").read_text().splitlines())}


def test_pharmacist_decisions_without_a_written_validation(tmp_path):
    r = prepare(CSV, "--map-file", MAP, "-o", tmp_path / "out", *NO_SPLIT)
    assert r.exit_code == 0, r.output
    rows = train_rows(tmp_path / "out")
    assert len(rows) == 16  # every row of the file; none needs a step-by-step reference
    first = rows["MRN-10231"]
    # the decision comes from the pharmacist's own word ("Stop" -> Reject through decision_values)
    assert first["ground_truth"]["decision"] == "Reject" and first["reference"] == ""
    assert first["ground_truth"]["recommended_regimen"] == "Amoxicillin-clavulanate 625 mg PO q8h x 7 days"
    p = first["context"]["patient"]
    assert (p["age"], p["sex"], p["weight_kg"], p["serum_creatinine_mg_dl"]) == (61, "F", 72, 1.1)
    assert p["current_medicines"] == ["metformin", "salbutamol inhaler", "aminophylline"]
    assert p["allergies"] == []  # NKDA is no allergy
    assert rows["MRN-10259"]["context"]["patient"]["allergies"] == ["penicillins (hives)"]
    decisions = [r["ground_truth"]["decision"] for r in rows.values()]
    assert [decisions.count(d) for d in ("Approve", "Modify", "Reject")] == [5, 7, 4]
    # the pharmacist's remark states the answer: it is not in the prompt the policy sees
    assert all("Remarks" not in json.dumps(r["prompt"]) and "Interacts with" not in json.dumps(r["prompt"])
               for r in rows.values())


def test_flags_override_the_map_file_and_a_misspelled_column_is_one_error(tmp_path):
    r = prepare(CSV, "--map-file", MAP, "--map", "diagnosis=Provisional diagnsis", "-o", tmp_path / "out")
    assert r.exit_code == 2
    lines = [x for x in r.output.splitlines() if x.strip()]
    # one error and one hint, instead of "field 'diagnosis': missing" on all 16 rows
    assert lines[0] == ("error: --map diagnosis=Provisional diagnsis: "
                        f"{CSV} has no column 'Provisional diagnsis'")
    assert lines[1].startswith("hint: did you mean 'Provisional diagnosis'? its columns: 'MRN', 'Age (yrs)'")
    assert len(lines) == 2 and "missing" not in r.output and not (tmp_path / "out").exists()


def test_inspect_proposes_the_checked_mapping(tmp_path):
    r = prepare("--inspect", CSV)
    assert r.exit_code == 0, r.output
    proposed = yaml.safe_load(r.stdout)
    checked = yaml.safe_load(MAP.read_text())
    assert proposed["map"] == checked["map"]  # 15 columns, 11 of them under names no alias knows
    assert proposed["decision_values"] == checked["decision_values"]
    assert "# not mapped: \"Remarks\"" in r.stdout
    (tmp_path / "proposed.yaml").write_text(r.stdout)
    a = prepare(CSV, "--map-file", tmp_path / "proposed.yaml", "-o", tmp_path / "a", *NO_SPLIT)
    b = prepare(CSV, "--map-file", MAP, "-o", tmp_path / "b", *NO_SPLIT)
    assert a.exit_code == b.exit_code == 0
    assert (tmp_path / "a" / "train.jsonl").read_bytes() == (tmp_path / "b" / "train.jsonl").read_bytes()


def test_inspect_reads_a_reference_column_from_its_values(tmp_path):
    # other_columns.csv: "Validation notes" holds step-by-step validations; no alias or name word says so
    r = prepare("--inspect", EXAMPLES / "other_columns.csv")
    assert r.exit_code == 0, r.output
    proposed = yaml.safe_load(r.stdout)["map"]
    assert proposed["reference"] == "Validation notes" and proposed["decision"] == "Pharmacist verdict"
    assert (proposed["diagnosis"], proposed["prescription"]) == ("Clinical diagnosis", "Drug order")
    (tmp_path / "m.yaml").write_text(r.stdout)
    out = prepare(EXAMPLES / "other_columns.csv", "--map-file", tmp_path / "m.yaml", "-o", tmp_path / "o", *NO_SPLIT)
    assert out.exit_code == 0, out.output
    assert len(train_rows(tmp_path / "o")) == 8


def test_inspect_says_what_is_still_needed(tmp_path):
    src = tmp_path / "few.csv"
    src.write_text("Patient name,Notes\nA. Kumar,started on ceftriaxone\n")
    r = prepare("--inspect", src)
    assert r.exit_code == 0, r.output
    assert yaml.safe_load(r.stdout)["map"] is None  # a name and free notes: nothing is proposed
    assert "# still needed: patient" in r.stdout and "diagnosis; prescription; decision" in r.stdout
    assert "notes may state the answer" in r.stdout


@pytest.mark.parametrize("words, want", [
    (["Continue", "Stop", "Approved"], {"Continue": "Approve", "Stop": "Reject"}),  # "Approved" needs no entry
    (["No change", "Discontinue", "De-escalate"], {"No change": "Approve", "Discontinue": "Reject",
                                                   "De-escalate": "Modify"}),  # the longest stem decides
    (["Hold"], {"Hold": "?"}),  # no stem fits: the user must say
])
def test_decision_words_are_proposed_by_their_stem(words, want):
    assert propose_decision_values(words) == want


@pytest.mark.parametrize("text, message", [
    ("map: [diagnosis]\n", "expected a 'map:' section"),
    ("map: {diagnosis: Dx}\nvalues: {}\n", "unknown section 'values'"),
    ("map: {diagnosis: Dx}\ndecision_values: {Stop: Halt}\n", "decision_values.Stop: 'Halt' is not Approve"),
    ("map: {dose: Dose}\n", "unknown field 'dose'"),
    ("map: {diagnosis: [1]\n", "not valid YAML"),
])
def test_bad_map_files_are_one_line(tmp_path, text, message):
    f = tmp_path / "m.yaml"
    f.write_text(text)
    r = prepare(CSV, "--map-file", f, "-o", tmp_path / "out")
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, r.output


def test_unmapped_decision_word_names_the_fix(tmp_path):
    f = tmp_path / "m.yaml"
    checked = yaml.safe_load(MAP.read_text())
    del checked["decision_values"]["Stop"]
    f.write_text(yaml.safe_dump(checked))
    r = prepare(CSV, "--map-file", f, "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert "pharmacist_decisions.csv:2: field 'decision': 'Stop' is not Approve, Modify or Reject" in r.output
    assert "decision_values" in r.output


def test_inspect_knows_the_alpaca_format(tmp_path):
    r = prepare("--inspect", EXAMPLES / "alpaca.jsonl")
    assert r.exit_code == 0, r.output
    assert yaml.safe_load(r.stdout)["map"] == {"instruction": "instruction", "input": "input", "output": "output"}
    assert "alpaca" in r.stdout and "still needed" not in r.stdout
    (tmp_path / "m.yaml").write_text(r.stdout)
    out = prepare(EXAMPLES / "alpaca.jsonl", "--map-file", tmp_path / "m.yaml", "-o", tmp_path / "o", *NO_SPLIT)
    assert out.exit_code == 0, out.output
    assert len(train_rows(tmp_path / "o")) == 12
