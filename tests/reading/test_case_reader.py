"""The case reader (amr_grpo.reading) on a table of free-text cases written the way Indian clinicians write them, on
structured dicts, and the ground-truth reader on reference texts and dicts."""

from __future__ import annotations

import pytest

from amr_grpo.reading import read_case, read_ground_truth
from amr_grpo.reading.renal import cockcroft_gault
from amr_grpo.records import Case, Decision, GroundTruth, Patient

# (case text, expected Case/Patient fields). Keys prefixed "p." are Patient fields.
TABLE = [
    (
        "70/M, 60 kg, k/c/o DM, HTN. S. Cr 2.1 mg/dl. NKDA. Dx: CAP. Rx: Inj Piptaz 4.5 g IV q6h x 7 days",
        {"p.age": 70, "p.sex": "M", "p.weight_kg": 60, "p.comorbidities": ["DM", "HTN"], "p.allergies": [],
         "p.serum_creatinine_mg_dl": 2.1,
         # Cockcroft-Gault: (140 - 70) x 60 / (72 x 2.1) = 4200 / 151.2 = 27.78 -> 27.8 mL/min (male: no 0.85)
         "p.crcl_ml_min": 27.8,
         "diagnosis": "CAP", "prescription": "Inj Piptaz 4.5 g IV q6h x 7 days"},
    ),
    (
        "32 yo F, G2P1 at 32 weeks, allergic to penicillin. Dx: acute cystitis. "
        "Rx: Tab nitrofurantoin 100 mg BD x 5 d. "
        "c/s: E. coli sensitive to nitrofurantoin, fosfomycin",
        {"p.age": 32, "p.sex": "F", "p.pregnant": True, "p.gestation_weeks": 32, "p.allergies": ["penicillin"],
         "p.cultures": "E. coli sensitive to nitrofurantoin, fosfomycin", "diagnosis": "acute cystitis",
         "prescription": "Tab nitrofurantoin 100 mg BD x 5 d"},
    ),
    (
        "Pt: 58 year old woman on warfarin, sertraline. eGFR 40. Diagnosis: cellulitis. "
        "Prescription: cotrimoxazole 960 mg PO BD x 7 days. Setting: OPD",
        # no creatinine: the stated eGFR is the renal function doses are read with (crcl_ml_min stays a CrCl only)
        {"p.age": 58, "p.sex": "F", "p.current_medicines": ["warfarin", "sertraline"], "p.crcl_ml_min": None,
         "p.egfr_ml_min": 40, "p.renal_basis": "stated eGFR",
         "diagnosis": "cellulitis", "prescription": "cotrimoxazole 960 mg PO BD x 7 days", "setting": "OPD"},
    ),
    (
        "pregnant, 2nd trimester, 24F, sulfa allergy. Dx- UTI\nRx - cotrimoxazole DS 1 BD x 5 days",
        # "2nd trimester" -> week 20, the middle of weeks 14-27, so trimester rules classify it
        {"p.age": 24, "p.sex": "F", "p.pregnant": True, "p.gestation_weeks": 20, "p.allergies": ["sulfa"],
         "diagnosis": "UTI", "prescription": "cotrimoxazole DS 1 BD x 5 days"},
    ),
    (
        "Mr. Rao, 66 yrs, wt 72 kg, CrCl < 30 ml/min, admitted to ICU. Started on meropenem 1 g IV q8h. "
        "Known case of epilepsy on valproate 500 mg BD.",
        # "< 30" is stored just below 30 so "below 30" checks see it; meropenem was started: not a current medicine
        {"p.age": 66, "p.sex": "M", "p.weight_kg": 72, "p.crcl_ml_min": 29.9, "p.comorbidities": ["epilepsy"],
         "p.current_medicines": ["valproate"], "setting": "ICU", "prescription": "Started on meropenem 1 g IV q8h."},
    ),
    (
        "F 30y, not pregnant, PCN allergy (anaphylaxis), Dx: pharyngitis, fever for 2 weeks",
        # the severity stays with the allergen: the KB widens a severe penicillin allergy to all beta-lactams
        {"p.age": 30, "p.sex": "F", "p.pregnant": False, "p.allergies": ["penicillin (anaphylaxis)"],
         "diagnosis": "pharyngitis, fever for 2 weeks", "prescription": ""},
    ),
    (
        "45 yo F, wt 50 kg, S. Cr 1.2 mg/dl, primigravida, POG 37 wks. Impression: acute pyelonephritis. "
        "Plan: Inj ceftriaxone 2 g IV OD",
        # Cockcroft-Gault: (140 - 45) x 50 / (72 x 1.2) x 0.85 = 4750 / 86.4 x 0.85 = 54.98 x 0.85 = 46.73 -> 46.7
        {"p.age": 45, "p.sex": "F", "p.pregnant": True, "p.gestation_weeks": 37, "p.crcl_ml_min": 46.7,
         "diagnosis": "acute pyelonephritis", "prescription": "Inj ceftriaxone 2 g IV OD"},
    ),
    (
        "62 year old man, weight 80 kg, serum creatinine 177 umol/L. h/o CKD, COPD. Current medications: Tab "
        "amiodarone 200 mg OD, tab metformin 500 mg BD. Dx: COPD exacerbation. Rx: azithromycin 500 mg OD x 3 days",
        # 177 umol/L / 88.4 = 2.00 mg/dL; CG: (140 - 62) x 80 / (72 x 2.0) = 6240 / 144 = 43.33 -> 43.3
        {"p.age": 62, "p.sex": "M", "p.serum_creatinine_mg_dl": 2.0, "p.crcl_ml_min": 43.3,
         "p.comorbidities": ["CKD", "COPD"], "p.current_medicines": ["amiodarone", "metformin"],
         "diagnosis": "COPD exacerbation", "prescription": "azithromycin 500 mg OD x 3 days"},
    ),
    (
        "35/F, 3rd trimester, allergic to sulpha drugs and cephalosporins. k/c/o hypothyroidism on thyroxine. "
        "Dx: CAP, OPD. Rx: Tab Amoxicillin 1 g TDS x 5 days",
        {"p.age": 35, "p.sex": "F", "p.pregnant": True, "p.gestation_weeks": 34,
         "p.allergies": ["sulfa", "cephalosporin"], "p.comorbidities": ["hypothyroidism"],
         "p.current_medicines": ["thyroxine"], "diagnosis": "CAP, OPD", "setting": "OPD"},
    ),
    (
        "45-year-old male, k/c/o T2DM, CKD stage 4 on MHD, on T. Ecosprin 75 mg OD, Tab. warfarin 2.5 mg OD. "
        "Dx: cellulitis. Started on Inj. cefazolin 1 g q8h",
        # "T." and "Tab." are not sentence ends; the decimal dose does not cut the medicine list; "on MHD"
        # (maintenance haemodialysis) is neither a comorbidity item nor a medicine
        {"p.age": 45, "p.sex": "M", "p.comorbidities": ["T2DM", "CKD stage 4"], "diagnosis": "cellulitis",
         "p.current_medicines": ["ecosprin", "warfarin"], "prescription": "Started on Inj cefazolin 1 g q8h"},
    ),
    (
        "Mrs. Lakshmi, 58 yrs, diabetic on insulin, c/o fever with chills and burning micturition x 3 days. "
        "O/E: T 101F, R renal angle tenderness. S.Cr 1.8. Wt 55 kg. Imp: Acute pyelonephritis. "
        "Plan: Inj. Piptaz 4.5 gm IV 6 hrly x 7 days",
        # "T 101F" is a temperature, not a 101-year-old woman; "on insulin, c/o fever" stops at "c/o";
        # CG: (140 - 58) x 55 / (72 x 1.8) x 0.85 = 4510 / 129.6 x 0.85 = 29.58 -> 29.6
        {"p.age": 58, "p.sex": "F", "p.current_medicines": ["insulin"], "p.crcl_ml_min": 29.6,
         "diagnosis": "Acute pyelonephritis", "prescription": "Inj. Piptaz 4.5 gm IV 6 hrly x 7 days"},
    ),
    (
        "Pt: 34F | LMP 10 weeks back, UPT +ve | Dx: UTI | Rx: Tab Septran DS 1-0-1 x 5 days | Allergy: nil",
        {"p.age": 34, "p.sex": "F", "p.pregnant": True, "p.gestation_weeks": 10, "p.allergies": [],
         "diagnosis": "UTI", "prescription": "Tab Septran DS 1-0-1 x 5 days"},
    ),
    (
        "28 yr old primigravida, 36+2 wks POG, asymptomatic bacteriuria, urine c/s: E.coli sensitive to "
        "nitrofurantoin, cefuroxime; resistant to ampicillin. Rx: Tab nitrofurantoin 100 mg BD x 5 days",
        {"p.age": 28, "p.pregnant": True, "p.gestation_weeks": 36,
         "p.cultures": "E.coli sensitive to nitrofurantoin, cefuroxime; resistant to ampicillin"},
    ),
    (
        "Age: 72 Sex: Male Weight: 68 kg Creatinine: 2.4 mg/dL Allergies: Sulfa (rash) Medications: warfarin 3 mg "
        "daily, digoxin Diagnosis: Cellulitis left leg, moderate Prescription: Cefazolin 2 g IV q8h x 7 days",
        # one line of "Label: value" pairs; CG: (140 - 72) x 68 / (72 x 2.4) = 4624 / 172.8 = 26.76 -> 26.8
        {"p.age": 72, "p.sex": "M", "p.weight_kg": 68, "p.allergies": ["sulfa (rash)"], "p.crcl_ml_min": 26.8,
         "p.current_medicines": ["warfarin", "digoxin"], "diagnosis": "Cellulitis left leg, moderate",
         "prescription": "Cefazolin 2 g IV q8h x 7 days"},
    ),
    (
        # no labels at all: the prescription is the sentence that reads like a dose
        "A 28-year-old lady with burning micturition for 2 days. No known drug allergies. "
        "Given Tab Nitrofurantoin 100 mg BD x 5 days.",
        {"p.age": 28, "p.sex": "F", "p.allergies": [], "p.pregnant": None, "diagnosis": "",
         "prescription": "Given Tab Nitrofurantoin 100 mg BD x 5 days."},
    ),
]


def _get(case: Case, key: str):
    return getattr(case.patient, key[2:]) if key.startswith("p.") else getattr(case, key)


@pytest.mark.parametrize("text,expected", TABLE, ids=[f"case{i}" for i in range(len(TABLE))])
def test_free_text_cases(text: str, expected: dict) -> None:
    case = read_case(text)
    assert case.patient.text == text  # the free text is kept as given
    for key, want in expected.items():
        got = _get(case, key)
        assert got == (pytest.approx(want) if isinstance(want, float) else want), (key, got)


def test_lab_values_are_not_a_prescription() -> None:
    # "2.1 mg/dl" and "10 g/dl" are lab values, not doses; "CAP." is pneumonia, not "Cap." (capsule)
    assert read_case("70/M, 60 kg, S. Cr 2.1 mg/dl. Dx: CAP").prescription == ""
    assert read_case("Hb 10 g/dl. Dx: CAP. Given amoxicillin 1 g TDS x 5 days").prescription == (
        "Given amoxicillin 1 g TDS x 5 days")


def test_cockcroft_gault_by_hand() -> None:
    # (140 - 80) x 50 / (72 x 1.0) = 3000 / 72 = 41.67 (male); x 0.85 = 35.42 (female)
    assert cockcroft_gault(80, 50, 1.0, "M") == 41.7
    assert cockcroft_gault(80, 50, 1.0, "F") == 35.4


def test_unstated_fields_stay_unknown() -> None:
    p = read_case("Dx: cellulitis. Rx: cefalexin 500 mg QID x 5 days").patient
    assert (p.age, p.sex, p.weight_kg, p.crcl_ml_min, p.pregnant) == (None, None, None, None, None)
    assert p.allergies == [] and p.current_medicines == []
    # creatinine without weight: no Cockcroft-Gault CrCl, but a CKD-EPI 2021 eGFR marked as estimated:
    # 142 x (2.0/0.9)^-1.200 x 0.9938^70 = 142 x 0.3836 x 0.6471 = 35.25 -> 35.2
    p = read_case("70/M, S. Cr 2.0 mg/dl. Dx: CAP").patient
    assert p.crcl_ml_min is None and p.egfr_ml_min == pytest.approx(35.2, abs=0.1)
    assert p.renal_basis == "CKD-EPI 2021 eGFR (estimated)" and p.renal_function() == p.egfr_ml_min


def test_structured_case_dict_round_trip() -> None:
    case = Case(id="c1", patient=Patient(age=70, sex="M", weight_kg=60, allergies=["penicillin"],
                                         serum_creatinine_mg_dl=2.1, current_medicines=["warfarin"]),
                diagnosis="CAP", prescription="Amoxicillin 1 g PO TDS x 5 days", setting="OPD")
    got = read_case(case.to_dict())
    assert got.id == "c1" and got.diagnosis == "CAP" and got.setting == "OPD"
    assert got.patient.allergies == ["penicillin"] and got.patient.current_medicines == ["warfarin"]
    assert got.patient.crcl_ml_min == 27.8  # filled by Cockcroft-Gault: 4200 / 151.2


def test_flat_dict_with_aliases_and_free_text_patient() -> None:
    flat = read_case({"case_id": 7, "age": "45", "gender": "female", "allergy": "PCN", "egfr": 35,
                      "dx": "cystitis", "rx": ["nitrofurantoin 100 mg BD", "x 5 days"], "pregnancy": "yes"})
    # "egfr" is an eGFR (not a CrCl): it goes in egfr_ml_min and is what renal bands are read with
    assert (flat.id, flat.patient.age, flat.patient.sex, flat.patient.egfr_ml_min) == ("7", 45.0, "F", 35.0)
    assert flat.patient.crcl_ml_min is None and flat.patient.renal_function() == 35.0
    assert flat.patient.allergies == ["penicillin"] and flat.patient.pregnant is True
    assert flat.prescription == "nitrofurantoin 100 mg BD; x 5 days"
    text_patient = read_case({"patient": "60/M on warfarin, NKDA", "diagnosis": "cellulitis", "prescription": "x"})
    assert text_patient.patient.current_medicines == ["warfarin"] and text_patient.patient.age == 60


def test_ground_truth_from_reference_text() -> None:
    ref = ("Step 1 - Clinical picture: cystitis.\nDecision: Modify\n"
           "Recommended regimen: Nitrofurantoin 100 mg PO BD x 5 days\nReference: NCDC 2025, section 5.1")
    gt = read_ground_truth(ref)
    assert gt.decision == Decision.MODIFY
    assert gt.recommended_regimen == "Nitrofurantoin 100 mg PO BD x 5 days"
    assert gt.citation == "NCDC 2025, section 5.1" and gt.reference == ref


def test_ground_truth_from_dict_and_none() -> None:
    gt = read_ground_truth({"decision": "reject", "regimen": "No antibiotic", "syndrome": "viral_urti",
                            "flags": "x, y"})
    assert gt.decision == Decision.REJECT and gt.recommended_regimen == "No antibiotic"
    assert gt.syndrome == "viral_urti" and gt.flags == ["x", "y"]
    # a dict carrying only the reference text gets its decision from that text
    assert read_ground_truth({"reference": "Decision: Approve\nReference: NCDC"}).decision == Decision.APPROVE
    assert read_ground_truth(None) == GroundTruth() and read_ground_truth("  ") == GroundTruth()
