"""The case reader's parts, each on small hand-written notes: renal function (CKD-EPI 2021 and Cockcroft-Gault by
hand, and which value wins), context (negated, historical, hypothetical, family), the syndrome (unknown beats wrong,
viral qualifiers, 'no antibiotic' guards, setting and severity choosing a group's entry), allergies, pregnancy,
current medicines, and the `amr-grpo explain` command on real files."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.reading import read, read_case
from amr_grpo.reading.renal import ckd_epi_2021, cockcroft_gault


# ---------------------------------------------------------------- renal
def test_ckd_epi_2021_by_hand() -> None:
    # male, SCr 2.4, 72 y: 142 x (2.4/0.9)^-1.200 x 0.9938^72 = 142 x 0.3082 x 0.6390 = 27.97 -> 28.0
    assert ckd_epi_2021(2.4, 72, "M") == pytest.approx(28.0, abs=0.05)
    # female, SCr 0.6 (below kappa 0.7), 30 y: 142 x (0.6/0.7)^-0.241 x 0.9938^30 x 1.012
    #   = 142 x 1.0379 x 0.8298 x 1.012 = 123.77 -> 123.8
    assert ckd_epi_2021(0.6, 30, "F") == pytest.approx(123.8, abs=0.05)
    # Cockcroft-Gault: (140 - 65) x 70 / (72 x 2.4) = 5250 / 172.8 = 30.38 -> 30.4
    assert cockcroft_gault(65, 70, 2.4, "M") == 30.4


@pytest.mark.parametrize("text,basis,value", [
    # creatinine and age, no weight: the CKD-EPI eGFR, marked as estimated
    ("72/M, creatinine 2.4 mg/dL. Dx: cellulitis", "CKD-EPI 2021 eGFR (estimated)", 28.0),
    # with weight: Cockcroft-Gault CrCl (30.4, above); the eGFR is still computed but not the one doses use
    ("65/M, 70 kg, creatinine 2.4 mg/dL", "Cockcroft-Gault CrCl", 30.4),
    # a stated eGFR beats anything computed; a stated CrCl beats a stated eGFR
    ("65/M, 70 kg, creatinine 2.4 mg/dL, eGFR 25", "stated eGFR", 25.0),
    ("65/M, 70 kg, creatinine 2.4 mg/dL, eGFR 25, CrCl 33 ml/min", "stated CrCl", 33.0),
    ("Dx: cellulitis. No labs.", None, None),
])
def test_renal_precedence(text: str, basis: str | None, value: float | None) -> None:
    p = read_case(text).patient
    assert p.renal_basis == basis
    assert p.renal_function() == (pytest.approx(value, abs=0.05) if value is not None else None)
    if basis == "CKD-EPI 2021 eGFR (estimated)":
        assert p.crcl_ml_min is None  # crcl_ml_min holds a CrCl only


# ---------------------------------------------------------------- context and syndrome
def test_negated_historical_and_family_mentions_are_set_aside() -> None:
    r = read("58F presents to the clinic with cough. She denies diarrhea. UTI 6 months ago. Her mother had "
             "endocarditis. Amoxicillin for sinusitis last year. RR 18, BP 130/80.\nDx: community-acquired pneumonia")
    aside = {m.text.lower(): m.contexts for m in r.set_aside}
    assert aside["diarrhea"] == ("negated",) and "historical" in aside["uti"]
    assert "family" in aside["endocarditis"] and "historical" in aside["sinusitis"]
    # OPD + normal vitals (mild) + no comorbidity -> the outpatient CAP entry
    assert r.case.syndrome == "cap_opd_no_comorbidity" and r.case.severity == "mild" and r.case.setting == "OPD"


def test_diagnosis_only_in_history_is_unknown_with_candidates() -> None:
    c = read_case("A 50-year-old man with fever for 3 days. He was treated for pneumonia 2 years ago. "
                  "He takes no medications.")
    assert c.syndrome is None and c.syndrome_candidates == []  # the only pneumonia is historical
    c = read_case("A 40-year-old woman with cough and fever. Chest x-ray: right lower lobe pneumonia.")
    assert c.syndrome is None and "cap_ward" in c.syndrome_candidates  # no Dx part: a candidate, not the syndrome


@pytest.mark.parametrize("dx,want", [
    ("viral meningitis", "viral_meningitis"),  # the viral entry, not bacterial meningitis
    ("influenza pneumonia", None),  # a viral and a bacterial entry: unknown
    ("viral pneumonia", None),  # no viral pneumonia entry: unknown, never CAP
    ("pulmonary tuberculosis", None),  # not in the knowledge base
    ("acute febrile illness, fever for 5 days", None),  # the no-antibiotic AUFI entry is day 1-2 only
    ("acute febrile illness, day 2", "aufi_day1_2"),
    ("acute gastroenteritis", None),  # watery (no antibiotic) or dysentery: the note does not say
    ("r/o meningitis", None),  # hypothetical
    ("sepsis secondary to acute pyelonephritis", "pyelonephritis"),  # the focus, not 'sepsis'
])
def test_syndrome_from_the_diagnosis(dx: str, want: str | None) -> None:
    assert read_case(f"45/M, OPD, RR 18, BP 124/80. Diagnosis: {dx}.").syndrome == want


def test_no_antibiotic_entry_is_not_taken_for_a_severely_ill_patient() -> None:
    assert read_case("30/F, BP 80/40, RR 30, confused. Dx: common cold").syndrome is None


@pytest.mark.parametrize("note,syndrome,severity", [
    # unknown setting and no vital signs: severity unknown and the CAP entry unknown (not silently outpatient)
    ("70/M. Dx: CAP", None, None),
    # qSOFA 2 (RR 30, SBP 96) -> severe -> the ICU entry; nursing home resident
    ("82F, nursing home resident, RR 30, BP 96/60. Dx: pneumonia", "cap_icu", "severe"),
    # nursing home with one sign -> the inpatient entry, never the outpatient one
    ("82F from a care home, new confusion, BP 130/80, RR 18. Dx: pneumonia", "cap_ward", "moderate"),
    # febrile catheter UTI with shock -> the severe CAUTI entry
    ("70/M, Foley in situ, BP 84/50 on noradrenaline. Dx: CAUTI", "cauti_severe", "severe"),
])
def test_setting_and_severity_choose_the_entry(note: str, syndrome: str | None, severity: str | None) -> None:
    c = read_case(note)
    assert (c.syndrome, c.severity) == (syndrome, severity)
    if syndrome is None:
        assert {"cap_opd_no_comorbidity", "cap_ward", "cap_icu"} <= set(c.syndrome_candidates)


# ---------------------------------------------------------------- patient facts
@pytest.mark.parametrize("text,want", [
    ("She has a known allergy to penicillin.", ["penicillin"]),
    ("Allergies to carbapenems (rash) and cephalosporins (hives).", ["carbapenem (rash)", "cephalosporin (hives)"]),
    ("She reports a rash with amoxicillin as a child.", ["amoxicillin (rash)"]),
    ("He has no medications or allergies.", []),
    ("NKDA.", []),
    ("H/o penicillin allergy - anaphylaxis.", ["penicillin (anaphylaxis)"]),
    ("Allergic to co-trimoxazole (SJS).", ["cotrimoxazole (sjs)"]),
    ("He reports that penicillin causes hives.", ["penicillin (hives)"]),
])
def test_allergy_phrasings(text: str, want: list[str]) -> None:
    assert read_case(text).patient.allergies == want


@pytest.mark.parametrize("text,pregnant,weeks", [
    ("28F. Her pregnancy test is negative.", False, None),
    ("28F, UPT +ve, LMP 8 wks back.", True, 8.0),
    ("28F, postpartum day 3.", False, None),
    ("28F, G2P1 at 22/40.", True, 22.0),
    ("28F, 2nd trimester.", True, 20.0),  # the middle of weeks 14-27
    ("40M. Pregnancy test not applicable.", None, None),  # a man is never read as pregnant
])
def test_pregnancy(text: str, pregnant: bool | None, weeks: float | None) -> None:
    p = read_case(text).patient
    assert (p.pregnant, p.gestation_weeks) == (pregnant, weeks)


def test_current_medicines_and_examination_findings() -> None:
    p = read_case("A 60-year-old man. Current medications include simvastatin 40 mg and amlodipine. "
                  "On physical examination, crackles. On room air SpO2 95%.").patient
    assert p.current_medicines == ["simvastatin", "amlodipine"]
    assert not any("examination" in m or "air" in m for m in p.current_medicines)
    assert read_case("45F takes metformin and lisinopril daily.").patient.current_medicines == ["metformin",
                                                                                               "lisinopril"]
    assert read_case("Started on amoxicillin 500 mg TDS. Takes no regular medicines.").patient.current_medicines == []


# ---------------------------------------------------------------- explain
runner = CliRunner()


def test_explain_reads_each_kind_of_file(tmp_path) -> None:
    note = "70/M, S. Cr 2.4 mg/dl, denies diarrhea. RR 30, BP 96/60. Dx: CAP. Rx: ceftriaxone 2 g IV OD"
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"id": "a", "patient": "60/F", "diagnosis": "cystitis", "prescription": "x"}) + "\n"
                     + json.dumps({"id": "b", "text": note}) + "\n", encoding="utf-8")
    split = tmp_path / "test.jsonl"
    split.write_text(json.dumps({"id": "c", "prompt": [], "context": note}) + "\n", encoding="utf-8")
    request = tmp_path / "requests.jsonl"
    request.write_text(json.dumps({"patient_case": note, "model_output": "Decision: Approve"}) + "\n",
                       encoding="utf-8")
    for target in (f"{cases}:2", str(split), f"{request}:1"):
        res = runner.invoke(app, ["explain", target, "--json"])
        assert res.exit_code == 0, res.output
        got = json.loads(res.output)
        assert got["case"]["syndrome"] == "cap_icu"  # qSOFA 2 -> severe -> the ICU entry
        assert got["case"]["patient"]["renal_basis"] == "CKD-EPI 2021 eGFR (estimated)"
        assert {"text": "diarrhea", "contexts": ["negated"]}.items() <= got["set_aside"][0].items()
        assert {f["field"] for f in got["fields"]} >= {"age", "serum_creatinine_mg_dl", "severity_signs"}
    table = runner.invoke(app, ["explain", "--text", note])
    assert table.exit_code == 0 and "cap_icu" in table.output and "CKD-EPI" in table.output


def test_explain_names_the_file_and_line_at_fault(tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n{not json\n', encoding="utf-8")
    res = runner.invoke(app, ["explain", f"{bad}:2"])
    assert res.exit_code == 2 and f"{bad}:2" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["explain", f"{bad}:9"])
    assert res.exit_code == 2 and "no case on that line" in res.output
    assert runner.invoke(app, ["explain"]).exit_code == 2  # neither FILE nor --text


def test_a_long_run_without_spaces_is_cut_but_offsets_hold() -> None:
    from amr_grpo.reading.context import MAX_RUN, mentions, prepare_text

    # 'c' x 65: one space replaces the 64th character; the length (and every offset after it) is unchanged
    assert prepare_text("c" * (MAX_RUN + 1)) == "c" * (MAX_RUN - 1) + " c"
    assert len(prepare_text("\U0001f600" * 1000)) == 1000
    # a note behind a wall of symbols is still read where it was written
    note = "\U0001f600" * 5000 + " 70/M allergic to penicillin. Dx: CAP. Rx: ceftriaxone"
    drug = next(m for m in mentions(note) if m.label == "DRUG")
    assert note[drug.start:drug.end] == "ceftriaxone"
    assert read_case(note).patient.allergies == ["penicillin"]
