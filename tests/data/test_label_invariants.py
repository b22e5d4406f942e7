"""The labels are right (issue 17): every generated case holds the invariants of data/synth/label_checks.py, for the shipped
seed and another one, and each invariant catches the clinical error it is there for (the examples the clinical
review found in the old generator, rebuilt here by hand).

Also the knowledge-base side: every drug has renal data (or is never given below CrCl 60), the bands the review
found missing or read as "usual dose" give the adjusted regimen, and every do-not-use row follows the one decision
rule.
"""

from __future__ import annotations

import pytest
from synth_cases import cases

from amr_grpo.data.synth.dosing import renal_for
from amr_grpo.data.synth.label_checks import check_case
from amr_grpo.data.synth.phrasing import Item
from amr_grpo.output_format import STEP_TITLES, format_validation
from amr_grpo.data.synth.scenarios import Ctx, group_drugs
from amr_grpo.data.synth.scenarios_stewardship import ADD_ON, rule_drugs
from amr_grpo.guidelines import load_kb
from amr_grpo.records import Patient

kb = load_kb()


@pytest.mark.parametrize("seed", [0, 1])
def test_every_generated_case_holds_every_invariant(seed):
    # seed 0 is the shipped file (a quarter of it as free-text notes: checked with the structured patient)
    found = [(g.record["id"], v.kind, v.detail)
             for g in cases(600, seed) for v in check_case(g.record, g.built.patient)]
    assert found == []


def test_the_shipped_seed_covers_what_the_invariants_are_about():
    got = cases(600, 0)
    scen = {g.scenario for g in got}
    # the invariants are exercised, not vacuous: renal dosing, loading doses, de-escalation and notes all occur
    assert {"renal_adjustment_missed", "deescalation_due", "unneeded_addon", "approve"} <= scen
    assert sum("stat, then" in g.record["recommended_regimen"] for g in got) >= 10
    assert sum(g.built.patient.crcl_ml_min < 60 for g in got) >= 60
    assert sum(g.syndrome.key == "cap_opd_no_comorbidity" for g in got) >= 5


# ---- each invariant catches the error it guards against --------------------------------------------------------
def patient(**kw) -> Patient:
    base = dict(age=50.0, sex="M", weight_kg=60.0, comorbidities=[], allergies=[], crcl_ml_min=90.0,
                serum_creatinine_mg_dl=0.8, pregnant=None, current_medicines=[])
    base.update(kw)
    return Patient(**base)


def record(syndrome: str, decision: str, prescription: str, recommended: str, p: Patient, issues=(), **steps) -> dict:
    """A synth-shaped record whose reference steps say what `steps` overrides, the rest in the generator's words."""
    safety = f"CrCl {p.crcl_ml_min:g} mL/min, {'renal impairment' if p.crcl_ml_min < 60 else 'normal'}; " + (
        "allergy: " + ", ".join(p.allergies) if p.allergies else "no allergies") + (
        f"; pregnant, {p.gestation_weeks:g} weeks" if p.pregnant else "") + "; no interactions."
    who = f"{p.age:g}-year-old {'pregnant woman' if p.pregnant else 'man' if p.sex == 'M' else 'woman'}"
    text = {"Clinical picture": f"{who} with {syndrome}.", "Pathogen and setting": "Ward; likely bacteria.",
            "Regimen choice": "As below.", "Dose route frequency": f"{recommended} is correct.",
            "Duration": "As per guideline.", "Patient factors and safety": safety,
            "Stewardship": "Review at 48-72 h."}
    text.update({k.replace("_", " ").capitalize(): v for k, v in steps.items()})
    ref = format_validation([(t, text[t]) for t in STEP_TITLES], decision, recommended, "NCDC 2025")
    return {"id": "x", "syndrome": syndrome, "decision": decision, "prescription": prescription,
            "recommended_regimen": recommended, "reference": ref, "issues": list(issues)}


def kinds(rec: dict, p: Patient) -> set[str]:
    return {v.kind for v in check_case(rec, p)}


def test_a_correct_hand_built_case_has_no_violation():
    # the guideline first line for non-severe cystitis in a 30-year-old woman: nothing to report
    p = patient(age=30.0, sex="F", pregnant=False)
    rx = "Nitrofurantoin 100 mg PO q12h x 5 days"
    assert check_case(record("cystitis_uncomplicated", "Approve", rx, rx, p), p) == []


def test_profile_invariants_catch_the_old_generator_s_patients():
    rx = "Amoxicillin 1 g PO q8h x 5 days"
    # pattern 1: "no comorbidity" matched "comorbid" and gave every such patient diabetes
    p = patient(comorbidities=["type 2 diabetes mellitus"], current_medicines=["metformin"])
    assert "profile" in kinds(record("cap_opd_no_comorbidity", "Approve", rx, rx, p), p)
    # pattern 4: a man with uncomplicated cystitis; "young" epididymo-orchitis at 45; COPD in pregnancy
    rx = "Nitrofurantoin 100 mg PO q12h x 5 days"
    assert "profile" in kinds(record("cystitis_uncomplicated", "Approve", rx, rx, patient()), patient())
    rx = "Ceftriaxone 500 mg IM single dose + Doxycycline 100 mg PO q12h x 10 days"
    assert "profile" in kinds(record("epididymo_orchitis_young", "Approve", rx, rx, patient(age=45.0)),
                              patient(age=45.0))
    p = patient(age=31.0, sex="F", pregnant=True, gestation_weeks=20.0, comorbidities=["COPD"])
    rx = "Cefuroxime 500 mg PO q12h x 5 days"
    assert "profile" in kinds(record("copd_exacerbation", "Approve", rx, rx, p), p)
    # ... and a "Pseudomonas-risk" patient without a Pseudomonas risk factor
    rx = "Piperacillin-tazobactam 4.5 g IV q6h x 7 days + Azithromycin 500 mg IV q24h x 7 days"
    assert "profile" in kinds(record("cap_icu_pseudomonas", "Approve", rx, rx, patient()), patient())
    p = patient(comorbidities=["bronchiectasis"])
    assert "profile" not in kinds(record("cap_icu_pseudomonas", "Approve", rx, rx, p), p)


def test_renal_invariant_catches_usual_doses_at_review_and_missing_bands():
    p = patient(age=85.0, crcl_ml_min=32.0, comorbidities=["chronic kidney disease stage 3b"])
    # pattern 2: vancomycin 15 mg/kg q12h approved at CrCl 32 in an 85-year-old (about 4x the label's daily dose)
    rx = "Vancomycin 15 mg/kg IV q8h x 7 days"
    bad = "Vancomycin 25 mg/kg IV stat, then 15 mg/kg IV q12h x 7 days"
    assert "renal" in kinds(record("cellulitis_mrsa_severe", "Approve", bad, bad, p), p)
    good = "Vancomycin 15 mg/kg IV q24h x 7 days"  # the 20-49 band: 15 mg/kg q24h, then by level
    assert "renal" not in kinds(record("cellulitis_mrsa_severe", "Modify", rx, good, p), p)
    # pattern 8: cefadroxil at its usual 500 mg q12h at CrCl 16 (the label gives q24h at 10-24)
    p16 = patient(crcl_ml_min=16.0)
    rx = "Cefadroxil 500 mg PO q12h x 7 days"
    assert "renal" in kinds(record("cellulitis_mild", "Approve", rx, rx, p16), p16)
    assert "renal" not in kinds(record("cellulitis_mild", "Modify", rx, "Cefadroxil 500 mg PO q24h x 7 days", p16),
                                p16)
    # a "review" band is never the usual dose: IV fosfomycin below CrCl 80
    p50 = patient(crcl_ml_min=50.0)
    rx = "Meropenem 1 g IV q12h x 5 days + Fosfomycin 4 g IV q6h x 5 days"
    assert "renal" in kinds(record("cauti_severe", "Approve", rx, rx, p50), p50)


def test_spectrum_invariant_keeps_anaerobes_and_oral_vancomycin():
    p = patient(cultures="day 3: peritoneal fluid culture grew Escherichia coli susceptible to ceftriaxone")
    # pattern 3: a carbapenem narrowed to ceftriaxone alone in diverticulitis drops the anaerobic cover
    bad = record("diverticulitis", "Modify", "Ertapenem 1 g IV q24h x 5 days", "Ceftriaxone 2 g IV q24h x 5 days", p,
                 ["deescalation_due"])
    assert "spectrum" in kinds(bad, p)
    good = record("diverticulitis", "Modify", "Ertapenem 1 g IV q24h x 5 days",
                  "Ceftriaxone 2 g IV q24h x 5 days + Metronidazole 500 mg IV q8h x 5 days", p, ["deescalation_due"])
    assert "spectrum" not in kinds(good, p)
    # "stop the glycopeptide" must not remove oral vancomycin in C. difficile
    p = patient(comorbidities=["ceftriaxone course in the last 4 weeks"])
    bad = record("c_difficile", "Modify", "Vancomycin 125 mg PO q6h x 10 days + Metronidazole 500 mg IV q8h x 10 days",
                 "Metronidazole 500 mg IV q8h x 10 days", p, ["deescalation_due"])
    assert "spectrum" in kinds(bad, p)


def test_duration_loading_and_cap_invariants():
    p = patient()
    # a duration outside the knowledge base's range (CAP: 5-7 days)
    rx = "Ceftriaxone 2 g IV q24h x 10 days + Azithromycin 500 mg IV q24h x 10 days"
    assert "duration" in kinds(record("cap_ward", "Approve", rx, rx, p), p)
    # pattern 7: imipenem without its 1 g loading dose, vancomycin without its 25 mg/kg load
    rx = "Imipenem-cilastatin 500 mg IV q6h x 7 days"
    assert "loading" in kinds(record("hap_vap_mdr_risk", "Approve", rx, rx, p), p)
    rx = "Imipenem-cilastatin 1 g IV stat, then 500 mg IV q6h x 7 days"
    assert "loading" not in kinds(record("hap_vap_mdr_risk", "Approve", rx, rx, p), p)
    # the azithromycin 20 mg/kg/day maximum of 1 g/day: 1.5 g a day in a 75 kg patient is over it
    p75 = patient(weight_kg=75.0)
    rx = "Azithromycin 1500 mg PO q24h x 7 days"
    assert "loading" in kinds(record("enteric_fever_uncomplicated", "Approve", rx, rx, p75), p75)


def test_decision_invariant_applies_one_rule():
    p = patient()
    # pattern 5: a fluoroquinolone has no place in CAP, so Modify is the wrong decision: Reject
    rec = "Amoxicillin 1 g PO q8h x 5 days"
    rx = "Levofloxacin 750 mg PO q24h x 5 days"
    assert "decision" in kinds(record("cap_opd_no_comorbidity", "Modify", rx, rec, p, ["wrong_drug_for_setting"]), p)
    assert "decision" not in kinds(record("cap_opd_no_comorbidity", "Reject", rx, rec, p, ["wrong_drug_for_setting"]),
                                   p)
    # an add-on the guideline says not to add is Modify (drop it), not Reject
    rx = "Piperacillin-tazobactam 4.5 g IV q6h + Metronidazole 500 mg IV q8h"
    ok = record("secondary_peritonitis", "Modify", rx, "Piperacillin-tazobactam 4.5 g IV q6h", p, ["unneeded_addon"])
    assert "decision" not in kinds(ok, p)
    # no antibiotic indicated: only Reject
    rx = "Azithromycin 500 mg PO q24h x 3 days"
    assert "decision" in kinds(record("viral_urti", "Modify", rx, "No antibiotic; fluids", p, ["x"]), p)


def test_reference_invariant_catches_steps_that_contradict_the_case():
    p = patient()
    rx = "Azithromycin 500 mg PO q24h x 3 days"
    # pattern 6: bloody diarrhoea called "mostly viral" while an antibiotic is recommended
    bad = record("diarrhoea_danger_signs", "Approve", rx, rx, p, pathogen_and_setting="OPD; likely mostly viral.")
    assert "reference" in kinds(bad, p)
    # "stop at the end of the course" where no antibiotic is indicated
    bad = record("viral_urti", "Reject", rx, "No antibiotic; fluids", p, ["no_antibiotic_indicated"],
                 stewardship="Review at 48-72 h and stop at the end of the course.")
    assert "reference" in kinds(bad, p)
    # an interaction effect that belongs to another medicine: the ergot gets the statin warning
    p = patient(current_medicines=["ergotamine"])
    wrong = "Clarithromycin with ergotamine: CYP3A4 inhibition raises statin levels, with rhabdomyolysis; use X."
    bad = record("cap_opd_no_comorbidity", "Modify", "Clarithromycin 500 mg PO q12h x 5 days",
                 "Amoxicillin 1 g PO q8h x 5 days", p, ["interaction"], regimen_choice=wrong)
    assert "reference" in kinds(bad, p)
    # the safety step must name this patient's CrCl
    p = patient(crcl_ml_min=40.0)
    bad = record("cellulitis_mild", "Approve", "Amoxicillin 500 mg PO q8h x 5 days",
                 "Amoxicillin 500 mg PO q8h x 5 days", p, patient_factors_and_safety="CrCl 90 mL/min, normal.")
    assert "reference" in kinds(bad, p)


# ---- the knowledge base --------------------------------------------------------------------------------------
NOT_GIVEN_BELOW_60 = {"faropenem"}  # no renal data found worth stating (GK); the generator never gives it below 60


def test_every_drug_has_renal_bands_or_is_not_given_in_renal_impairment():
    missing = sorted(d.key for d in kb.drugs if not d.renal)
    assert set(missing) <= NOT_GIVEN_BELOW_60, f"drugs without renal bands: {missing}"
    for key in missing:  # dosing.renal_for refuses a course of it below CrCl 60
        assert renal_for(Item(key, "PO", 12, 200, days=5), 45) == (None, None)


def test_the_bands_the_review_found_missing_or_unread_give_the_adjusted_regimen():
    # cefadroxil (FDA label): 500 mg q24h at CrCl 10-24, q36h below 10
    assert renal_for(Item("cefadroxil", "PO", 12, 500), 20)[0] == Item("cefadroxil", "PO", 24, 500)
    assert renal_for(Item("cefadroxil", "PO", 12, 500), 8)[0] == Item("cefadroxil", "PO", 36, 500)
    # cefixime (FDA label): 260 mg/day for 400 mg/day at CrCl 21-59 is no product dose, so it is not given as is
    assert kb.renal_band("cefixime", 22).action == "adjust"
    assert renal_for(Item("cefixime", "PO", 12, 400, days=7), 22)[0] is None
    # vancomycin IV (GK nomogram): 15 mg/kg q24h at CrCl 20-49, the 25 mg/kg load kept; oral vancomycin unchanged
    vanco = Item("vancomycin", "IV", 12, dose_mg_per_kg=15, load="25 mg/kg")
    assert renal_for(vanco, 32)[0] == Item("vancomycin", "IV", 24, dose_mg_per_kg=15, load="25 mg/kg")
    assert renal_for(vanco, 19)[0] is None  # below 20: redose by level, no fixed regimen to state
    assert renal_for(Item("vancomycin", "PO", 6, 125), 10)[0] == Item("vancomycin", "PO", 6, 125)
    # colistin (SmPC ranges; one dose in each, GK): 2.5 MU q12h at CrCl 10-29 after the unreduced 9 MU load
    colistin = Item("colistin", "IV", 12, dose_units=4.5e6, load="9 MU stat")
    assert renal_for(colistin, 25)[0] == Item("colistin", "IV", 12, dose_units=2.5e6, load="9 MU stat")
    # teicoplanin (SmPC): halved from day 4 at CrCl 30-80: no single regimen, so never "the usual dose"
    assert renal_for(Item("teicoplanin", "IV", 24, dose_mg_per_kg=6), 40)[0] is None


def test_every_do_not_use_row_follows_the_decision_rule():
    ctx = Ctx(None)
    for s in kb.syndromes:
        for rule in s.do_not_use:
            if ADD_ON.search(rule.reason):  # "do not add X", "add X only for ...": drop the add-on
                assert rule.decision == "Modify", (s.key, rule.drugs)
            elif any(d not in group_drugs(s) for d in rule_drugs(ctx, rule.drugs)):
                assert rule.decision == "Reject", (s.key, rule.drugs, rule.reason)
