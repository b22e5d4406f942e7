"""`amr-grpo prepare`: every input format, --map, de-duplication, the stratified split, bad input, the DatasetDict.

Runs the real CLI (Typer's CliRunner) on small files written here or shipped in data/examples/.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.output_format import STEP_TITLES, format_validation
from amr_grpo.records import Case, GroundTruth

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "data" / "examples"
runner = CliRunner()
CSV_MAP = ["id=Case No", "diagnosis=Clinical diagnosis", "prescription=Drug order", "decision=Pharmacist verdict",
           "reference=Validation notes", "patient.weight_kg=Weight (kg)"]


def prepare(*args: str):
    return runner.invoke(app, ["prepare", *map(str, args)])


def reference(decision: str, regimen: str = "Nitrofurantoin 100 mg PO q12h x 5 days") -> str:
    steps = [(t, f"{t} checked.") for t in STEP_TITLES]
    return format_validation(steps, decision, regimen, "NCDC/ICMR NTG v2.0 (2025), section 5.1")


def case(i: int, decision: str = "Approve", **extra) -> dict:
    return {"id": f"c{i}", "patient": {"age": 20 + i % 60, "sex": "F", "allergies": []},
            "diagnosis": "Uncomplicated cystitis", "prescription": f"Tab Nitrofurantoin 100 mg BD x {i} days",
            "decision": decision, "reference": reference(decision), **extra}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def all_rows(out: Path) -> dict[str, list[dict]]:
    return {s: read_jsonl(out / f"{s}.jsonl") for s in ("train", "val", "test")}


def test_structured_jsonl_gives_grpo_records(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [case(i, d) for i, d in enumerate(["Approve", "Modify", "Reject"] * 4)])
    out = tmp_path / "out"
    r = prepare(src, "-o", out)
    assert r.exit_code == 0, r.output
    rows = all_rows(out)
    assert sum(map(len, rows.values())) == 12
    rec = rows["train"][0]
    assert list(rec) == ["id", "prompt", "reference", "context", "ground_truth", "checklist"]
    assert [m["role"] for m in rec["prompt"]] == ["system", "user"]
    # the user message carries the case; the system message carries the format
    assert "Diagnosis: Uncomplicated cystitis" in rec["prompt"][1]["content"]
    assert "Decision: Approve | Modify | Reject" in rec["prompt"][0]["content"]
    assert Case.from_dict(rec["context"]).patient.age == 20 + int(rec["id"][1:]) % 60
    gt = GroundTruth.from_dict(rec["ground_truth"])
    assert gt.decision.value in ("Approve", "Modify", "Reject") and gt.reference == rec["reference"]
    assert gt.citation == "NCDC/ICMR NTG v2.0 (2025), section 5.1"  # read from the Reference line
    meta = json.loads((out / "prepare.json").read_text())
    assert meta["summary"]["read"] == 12 and meta["options"]["seed"] == 0


@pytest.mark.parametrize("wrap", [lambda rows: rows, lambda rows: {"data": rows}])
def test_json_array_and_data_object(tmp_path, wrap):
    src = tmp_path / "in.json"
    src.write_text(json.dumps(wrap([case(1), case(2, "Modify")]), indent=2))
    r = prepare(src, "-o", tmp_path / "out", "--val-size", "0", "--test-size", "0")
    assert r.exit_code == 0, r.output
    assert [x["id"] for x in all_rows(tmp_path / "out")["train"]] == ["c1", "c2"]


def test_json_error_names_the_line_where_the_element_starts(tmp_path):
    src = tmp_path / "in.json"
    bad = case(2)
    del bad["diagnosis"]
    src.write_text(json.dumps([case(1), bad], indent=2))
    # indent=2 puts each key on its own line: element 1 spans lines 2..N; element 2 starts right after it
    start = src.read_text().splitlines().index("  {", 2) + 1
    r = prepare(src, "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert f"in.json:{start}: field 'diagnosis': missing" in r.output


def test_alpaca_fixture_reads_decisions_from_the_output(tmp_path):
    # data/examples/alpaca.jsonl: 3 Approve (cystitis, CAP, dog bite), 6 Modify, 3 Reject (URTI, diarrhoea, Reserve)
    out = tmp_path / "out"
    r = prepare(EXAMPLES / "alpaca.jsonl", "-o", out, "--val-frac", "0", "--test-frac", "0")
    assert r.exit_code == 0, r.output
    rows = all_rows(out)["train"]
    counts = {d: sum(x["ground_truth"]["decision"] == d for x in rows) for d in ("Approve", "Modify", "Reject")}
    assert counts == {"Approve": 3, "Modify": 6, "Reject": 3}
    first = rows[0]
    # labelled lines of the input become the case fields
    assert first["context"]["diagnosis"] == "Uncomplicated cystitis"
    assert first["context"]["prescription"] == "Tab Nitrofurantoin 100 mg BD x 5 days"
    assert first["ground_truth"]["recommended_regimen"] == "Nitrofurantoin 100 mg PO q12h x 5 days"


def test_chat_messages(tmp_path):
    rows = [{"messages": [{"role": "system", "content": "be brief"},
                          {"role": "user", "content": "Diagnosis: CAP\nPrescription: Tab Amoxicillin 1 g TDS x 5 days"},
                          {"role": "assistant", "content": reference("Approve", "Amoxicillin 1 g PO q8h x 5 days")}]},
            {"messages": [{"role": "user", "content": "A 30-year-old with a cold was given azithromycin."},
                          {"role": "assistant", "content": "No antibiotic needed."}]}]
    out = tmp_path / "out"
    r = prepare(write_jsonl(tmp_path / "chat.jsonl", rows), "-o", out, "--val-size", "0", "--test-size", "0")
    assert r.exit_code == 0, r.output
    got = all_rows(out)["train"]
    assert got[0]["context"]["diagnosis"] == "CAP" and got[0]["ground_truth"]["decision"] == "Approve"
    # free text without labelled lines stays the case text; no Decision line -> decision unknown, not guessed
    assert got[1]["context"]["patient"]["text"].startswith("A 30-year-old")
    assert got[1]["ground_truth"]["decision"] is None
    assert "A 30-year-old with a cold" in got[1]["prompt"][1]["content"]


def test_csv_with_other_column_names_through_map(tmp_path):
    out = tmp_path / "out"
    args = [x for m in CSV_MAP for x in ("--map", m)]
    r = prepare(EXAMPLES / "other_columns.csv", "-o", out, *args, "--val-size", "0", "--test-size", "0")
    assert r.exit_code == 0, r.output
    rows = {x["id"]: x for x in all_rows(out)["train"]}
    assert len(rows) == 8
    p = rows["RX-004"]["context"]["patient"]
    # Age/Sex/Allergies/CrCl are recognised by name, Weight (kg) through --map patient.weight_kg
    assert (p["age"], p["sex"], p["weight_kg"], p["crcl_ml_min"]) == (58, "F", 66, 85)
    assert p["allergies"] == ["penicillin (anaphylaxis)"]
    assert rows["RX-001"]["context"]["patient"]["allergies"] == []  # "none" is no allergy
    assert rows["RX-003"]["ground_truth"]["decision"] == "Reject"


def test_csv_without_map_names_the_columns_it_found(tmp_path):
    r = prepare(EXAMPLES / "other_columns.csv", "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert "other_columns.csv:2: field 'diagnosis': missing" in r.output
    assert "'Clinical diagnosis'" in r.output and "--map" in r.output


def test_csv_line_numbers_are_physical_lines(tmp_path):
    src = tmp_path / "in.csv"
    with src.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "patient", "diagnosis", "prescription", "decision", "reference"])
        w.writerow(["a", "30 F", "Cystitis", "Nitrofurantoin 100 mg BD x 5d", "Approve", reference("Approve")])
        w.writerow(["b", "30 F", "Cystitis", "", "Approve", reference("Approve")])
    # header = line 1; row "a" spans lines 2-11 (its reference has 10 lines); row "b" starts on line 12
    r = prepare(src, "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert "in.csv:12: field 'prescription': empty text" in r.output


def test_exact_duplicates_removed_and_counted(tmp_path):
    rows = [case(1), case(2), case(1), dict(case(2), id="other-id"), case(3, "Reject")]
    out = tmp_path / "out"
    r = prepare(write_jsonl(tmp_path / "in.jsonl", rows), "-o", out, "--val-size", "0", "--test-size", "0")
    assert r.exit_code == 0, r.output
    # case(1) twice, and case(2) again under another id: 2 duplicates, 3 distinct cases written
    assert [x["id"] for x in all_rows(out)["train"]] == ["c1", "c2", "c3"]
    assert json.loads((out / "prepare.json").read_text())["summary"]["duplicates"] == 2
    assert "duplicates removed" in r.output


def test_same_id_for_a_different_case_is_an_error(tmp_path):
    r = prepare(write_jsonl(tmp_path / "in.jsonl", [case(1), dict(case(2), id="c1")]), "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert "in.jsonl:2: field 'id': 'c1' is already used by" in r.output


def stratified_rows() -> list[dict]:
    return [case(i, d) for i, d in enumerate(["Approve"] * 40 + ["Modify"] * 40 + ["Reject"] * 20)]


def split_ids(out: Path) -> dict[str, set[str]]:
    return {s: {x["id"] for x in rows} for s, rows in all_rows(out).items()}


def test_split_is_stratified_disjoint_and_deterministic(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", stratified_rows())
    r = prepare(src, "-o", tmp_path / "a", "--val-frac", "0.1", "--test-frac", "0.2", "--seed", "7")
    assert r.exit_code == 0, r.output
    rows = all_rows(tmp_path / "a")
    # 100 cases, test 20% = 20 split 40:40:20 -> 8/8/4; val 10 from the remaining 32/32/16 -> 4/4/2
    for split, want in (("test", [8, 8, 4]), ("val", [4, 4, 2]), ("train", [28, 28, 14])):
        got = [sum(x["ground_truth"]["decision"] == d for x in rows[split]) for d in ("Approve", "Modify", "Reject")]
        assert got == want, split
    ids = split_ids(tmp_path / "a")
    assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"])
    # the same seed gives the same files, whatever the input order
    shuffled = stratified_rows()
    random.Random(1).shuffle(shuffled)
    prepare(write_jsonl(tmp_path / "in2.jsonl", shuffled), "-o", tmp_path / "b", "--val-frac", "0.1",
            "--test-frac", "0.2", "--seed", "7")
    assert split_ids(tmp_path / "b") == ids
    prepare(src, "-o", tmp_path / "c", "--val-frac", "0.1", "--test-frac", "0.2", "--seed", "7")
    assert (tmp_path / "c" / "test.jsonl").read_bytes() == (tmp_path / "a" / "test.jsonl").read_bytes()
    prepare(src, "-o", tmp_path / "d", "--val-frac", "0.1", "--test-frac", "0.2", "--seed", "8")
    assert split_ids(tmp_path / "d")["test"] != ids["test"]


def test_one_case_with_two_labels_stays_in_one_split(tmp_path):
    twin = dict(case(0, "Modify"), id="twin")  # same patient/diagnosis/prescription as c0, another label
    src = write_jsonl(tmp_path / "in.jsonl", [*stratified_rows(), twin])
    for seed in range(5):
        out = tmp_path / f"o{seed}"
        assert prepare(src, "-o", out, "--test-frac", "0.5", "--seed", seed).exit_code == 0
        home = [s for s, ids in split_ids(out).items() if "c0" in ids]
        assert home and "twin" in split_ids(out)[home[0]]


def test_malformed_file_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    r = prepare(EXAMPLES / "malformed.jsonl", "-o", out)
    assert r.exit_code == 2
    for line in ("malformed.jsonl:2: field 'prescription': missing",
                 "malformed.jsonl:3: field 'record': not valid JSON",
                 "malformed.jsonl:4: field 'decision': 'maybe' is not Approve, Modify or Reject",
                 "malformed.jsonl:5: field 'patient.age': expected a number, got 'old'",
                 "malformed.jsonl:6: field 'diagnosis': empty text",
                 "malformed.jsonl:7: field 'record': expected an object, got list",
                 "malformed.jsonl:8: field 'prescription': expected text, got list"):
        assert line in r.output
    assert "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []  # no output directory, no temporary left behind


def test_skip_invalid_writes_rejected_with_reasons(tmp_path):
    out = tmp_path / "out"
    r = prepare(EXAMPLES / "malformed.jsonl", "-o", out, "--skip-invalid", "--val-size", "0", "--test-size", "0")
    assert r.exit_code == 0, r.output
    rejected = read_jsonl(out / "rejected.jsonl")
    assert [x["line"] for x in rejected] == [2, 3, 4, 5, 6, 7, 8]
    # M-8's empty reference is no problem (a written validation is optional); its list prescription is
    assert rejected[-1]["reasons"] == ["field 'prescription': expected text, got list"]
    assert [x["id"] for x in all_rows(out)["train"]] == ["M-1"]
    summary = json.loads((out / "prepare.json").read_text())["summary"]
    assert (summary["read"], summary["rejected"], summary["written"]["train"]) == (8, 7, 1)


def test_dataset_dict_loads_from_disk(tmp_path):
    import datasets

    out = tmp_path / "out"
    r = prepare(write_jsonl(tmp_path / "in.jsonl", stratified_rows()[:30]), "-o", out, "--val-size", "0")
    assert r.exit_code == 0, r.output
    dd = datasets.load_from_disk(str(out / "hf"))
    assert sorted(dd) == ["test", "train", "val"]
    assert (dd["train"].num_rows, dd["val"].num_rows, dd["test"].num_rows) == (27, 0, 3)
    row = dd["train"][0]
    assert row == read_jsonl(out / "train.jsonl")[0]  # the same record in both forms


def test_existing_output_needs_force(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [case(1)])
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    r = prepare(src, "-o", out, "--val-size", "0", "--test-size", "0")
    assert r.exit_code == 2 and "--force" in r.output and (out / "keep.txt").exists()
    r = prepare(src, "-o", out, "--val-size", "0", "--test-size", "0", "--force")
    assert r.exit_code == 0 and not (out / "keep.txt").exists() and (out / "train.jsonl").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out"]


@pytest.mark.parametrize("args, message", [
    (["--map", "diagnosis"], "expected FIELD=COLUMN"),
    (["--map", "dose=Dose"], "unknown field 'dose'"),
    (["--test-frac", "1.5"], "--test-frac must be in [0, 1)"),
    (["--val-size", "50"], "exceed the 1 distinct cases"),
])
def test_bad_options_exit_2(tmp_path, args, message):
    r = prepare(write_jsonl(tmp_path / "in.jsonl", [case(1)]), "-o", tmp_path / "out", *args)
    assert r.exit_code == 2
    assert message in r.output
    assert not (tmp_path / "out").exists()


def test_text_prompt_format(tmp_path):
    out = tmp_path / "out"
    r = prepare(write_jsonl(tmp_path / "in.jsonl", [case(1)]), "-o", out, "--prompt-format", "text",
                "--val-size", "0", "--test-size", "0")
    assert r.exit_code == 0, r.output
    prompt = all_rows(out)["train"][0]["prompt"]
    assert isinstance(prompt, str) and prompt.startswith("You are a clinical pharmacist")
    assert prompt.endswith("Prescription: Tab Nitrofurantoin 100 mg BD x 1 days\n")


def test_shipped_dataset_prepares_without_rejects(tmp_path):
    out = tmp_path / "out"
    r = prepare(ROOT / "data" / "cases.jsonl", "-o", out)
    assert r.exit_code == 0, r.output
    rows = all_rows(out)
    # 600 cases, 10% val and 10% test, stratified 210/240/150 -> test 21/24/15
    assert [len(rows[s]) for s in ("train", "val", "test")] == [480, 60, 60]
    test_decisions = [x["ground_truth"]["decision"] for x in rows["test"]]
    assert [test_decisions.count(d) for d in ("Approve", "Modify", "Reject")] == [21, 24, 15]
    gt = rows["train"][0]["ground_truth"]
    assert gt["syndrome"] and gt["citation"] and isinstance(gt["flags"], list)
