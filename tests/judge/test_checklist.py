"""The per-case checklist: what it holds for hand-written cases, how an output states its items (case-specific content
only, never generic words), where it is stored (prepare) and how a user sees it (`amr-grpo checklist`).

Each expectation is written out from the case and the knowledge base, with the reason in a comment.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.judge.base import EvalRequest
from amr_grpo.judge.rules import RulesJudge, case_context
from amr_grpo.judge.rules.reading import read
from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.records import Checklist

ROOT = Path(__file__).resolve().parents[2]
RUNNER = CliRunner()
JUDGE = RulesJudge()

ALLERGIC_CAP = ("52/F, allergic to penicillin (anaphylaxis), no comorbidities. Dx: CAP, OPD. "
                "Rx: Cap amoxicillin 1 g TDS x 5 days.")
RENAL_PIPTAZ = "70/M, 60 kg, S. Cr 2.1 mg/dl. Dx: acute pyelonephritis, admitted. Rx: Inj pip-taz 4.5 g IV q6h x 7 days"


def items(cl: Checklist) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {i.key: (i.importance, i.evidence) for i in cl.items}


def test_allergy_checklist_names_the_allergen_and_what_to_avoid():
    cl = case_context(ALLERGIC_CAP, {"decision": "Modify", "regimen": "Azithromycin 500 mg PO OD x 5 days"}).checklist
    got = items(cl)
    assert cl.syndrome == "cap_opd_no_comorbidity" and cl.antibiotic_needed is True
    assert cl.expected_decisions == ("Modify",)
    # amoxicillin is a penicillin: the allergy changes management (essential), its evidence is the allergen's name
    importance, evidence = got["allergy:penicillin (anaphylaxis)"]
    assert importance == "essential" and {"penicillin", "pcn"} <= set(evidence) and "pen" not in evidence
    # the prescribed drug must not be given: it is on the avoid list and a pitfall item
    assert "amoxicillin" in cl.avoid and got["avoid:amoxicillin"][0] == "pitfall"
    assert got["prescription"][0] == "essential" and got["patient"][0] == "essential"
    assert "section 12.5" in cl.sections  # NCDC/ICMR NTG 2025 CAP section
    assert Checklist.from_dict(json.loads(json.dumps(cl.to_dict()))) == cl  # JSON round trip


def test_renal_checklist_carries_the_patient_value_and_the_adjustment():
    cl = case_context(RENAL_PIPTAZ, None).checklist
    got = items(cl)
    # Cockcroft-Gault: (140 - 70) x 60 / (72 x 2.1) = 27.8 mL/min -> the piperacillin-tazobactam band 20-40 adjusts
    renal = next(i for i in cl.items if i.key == "renal")
    assert renal.importance == "essential" and "27.8" in renal.text and "adjust" in renal.text
    assert "Table 14.1" in cl.sections  # renal dosing: ICMR 2019 Table 14.1 may be cited
    # no ground truth: the unadjusted prescription is unsafe, so Modify or Reject, and the reason says why
    assert set(cl.expected_decisions) == {"Modify", "Reject"} and "renal dose not adjusted" in cl.decision_why
    assert got["withhold"][0] == "pitfall" and cl.serious is True  # pyelonephritis is treated in hospital


@pytest.mark.parametrize("said, stated, misread", [
    ("Patient factors and safety: allergy, renal function, pregnancy and interactions checked.", False, False),
    ("Patient factors and safety: CrCl 28 mL/min, so the dose is reduced.", True, False),  # the value, rounded
    ("Patient factors and safety: CrCl below 30: renal dosing.", True, False),  # a band that holds 27.8
    ("Patient factors and safety: severe renal impairment.", True, False),  # the graded band word (< 30)
    ("Patient factors and safety: renal impairment.", False, False),  # no grade, no value: generic
    ("Patient factors and safety: CrCl 80 mL/min, normal.", False, True),  # a value the case does not give
    ("Patient factors and safety: CrCl 10, CrCl 20, CrCl 30, CrCl 40.", False, True),  # a list is not a reading
])
def test_renal_item_counts_only_the_case_value(said, stated, misread):
    ctx = case_context(RENAL_PIPTAZ, None)
    r = read(ctx, f"Step 1 - {said}\nDecision: Modify\nRecommended regimen: Piperacillin-tazobactam 3.375 g IV q6h")
    assert ("renal" in r.stated) is stated
    assert bool(r.misstated) is misread


@pytest.mark.parametrize("said, stated", [
    ("allergy, renal function and pregnancy checked", False),  # generic words earn nothing
    ("no known drug allergy", False),  # a denial (and here a wrong one)
    ("penicillin allergy with anaphylaxis: avoid amoxicillin", True),
    ("allergic to penicillins", True),  # a plural of the allergen
])
def test_allergy_item_needs_the_allergen_by_name(said, stated):
    ctx = case_context(ALLERGIC_CAP, {"decision": "Modify", "regimen": "Azithromycin 500 mg PO OD x 5 days"})
    r = read(ctx, f"Step 1 - Patient factors: {said}.\nDecision: Modify\nRecommended regimen: Azithromycin 500 mg "
                  "PO OD x 5 days")
    assert ("allergy:penicillin (anaphylaxis)" in r.stated) is stated


def test_pregnancy_interaction_and_culture_items_carry_their_values():
    pregnant = case_context("24/F, G2P1 at 20 weeks, NKDA. Dx: CAP, OPD. Rx: Tab doxycycline 100 mg BD x 5 days",
                            {"decision": "Modify", "regimen": "Amoxicillin 1 g PO TDS x 5 days"}).checklist
    preg = next(i for i in pregnant.items if i.key == "pregnancy")
    # doxycycline is a tetracycline: avoided in pregnancy, so the pregnancy changes management (essential)
    assert preg.importance == "essential" and preg.evidence == ("pregnant", "20 weeks")
    sertraline = case_context("60/M on sertraline, 70 kg, NKDA. Dx: cellulitis with MRSA risk, ward. "
                              "Rx: Inj linezolid 600 mg IV BD x 7 days", {"decision": "Modify"}).checklist
    inter = next(i for i in sertraline.items if i.kind == "interaction")
    assert inter.importance == "essential" and "sertraline" in inter.evidence  # serotonin syndrome with linezolid
    culture = case_context("62/F, NKDA, CrCl 67. Dx: acute pyelonephritis, admitted. c/s: blood culture grew E. coli "
                           "sensitive to ceftriaxone, resistant to ciprofloxacin. Rx: Inj ciprofloxacin 400 mg IV BD",
                           None).checklist
    cult = next(i for i in culture.items if i.key == "culture")
    # the organism and the drugs the report names are what shows the report was read
    assert "E. coli" in cult.evidence and {"Ceftriaxone", "Ciprofloxacin"} <= set(cult.evidence)
    assert "ciprofloxacin" in culture.avoid  # the isolate is resistant to it


def test_no_antibiotic_syndrome_and_the_syndrome_fallback():
    cl = case_context("19/M, NKDA. Dx: common cold, viral URTI, sore throat. OPD. Rx: Tab azithromycin 500 mg OD x 3 "
                      "days", None).checklist
    # the diagnosis names the cold first: a "no antibiotic" syndrome; the sore throat does not make it pharyngitis
    assert cl.syndrome == "viral_urti" and cl.antibiotic_needed is False and cl.expected_decisions == ("Reject",)
    assert "no_antibiotic" in items(cl)
    sepsis = case_context("67/M. Dx: sepsis from a urinary source; h/o viral URTI last week. Admitted. "
                          "Rx: Inj ceftriaxone 2 g IV OD", None).checklist
    # incidental words never turn the antibiotic off: the syndrome named first and needing treatment wins
    assert sepsis.syndrome is not None and sepsis.antibiotic_needed is True


def test_unread_case_sets_the_flag_and_scores_what_needs_no_syndrome():
    case = "45/M, NKDA, CrCl 90. Dx: a rash of unclear cause. Rx: Tab cefuroxime 500 mg BD x 5 days"
    cl = case_context(case, None).checklist
    assert cl.syndrome is None and cl.antibiotic_needed is None and cl.expected_decisions == ()
    text = ("Step 1 - Clinical picture: 45-year-old man with a rash of unclear cause.\nDecision: Approve\n"
            "Recommended regimen: Cefuroxime 500 mg PO BD x 5 days\nReference: NCDC/ICMR NTG v2.0 (2025)")
    v = JUDGE.score_sync(EvalRequest(case, text, None, tuple(METRIC_KEYS)))
    # no syndrome, no ground truth: the decision cannot be checked (3), and the verdict says the case was unread
    assert v.case_unread and v.to_dict()["flags"]["case_unread"] is True
    assert v.scores["decision_appropriateness"].score == 3


def test_prepare_stores_the_checklist_every_judge_sees(tmp_path):
    from amr_grpo.data.prepare import PrepareOptions, prepare

    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join((ROOT / "data" / "cases.jsonl").read_text().splitlines()[:20]) + "\n")
    prepare([cases], tmp_path / "data", PrepareOptions(val_frac=0.1, test_frac=0.1))
    rec = json.loads((tmp_path / "data" / "train.jsonl").read_text().splitlines()[0])
    assert rec["checklist"] == case_context(rec["context"], rec["ground_truth"]).checklist.to_dict()
    import datasets

    hf = datasets.load_from_disk(str(tmp_path / "data" / "hf"))
    # the Hugging Face copy keeps it as a typed column (what TRL hands the reward functions)
    assert Checklist.from_dict(hf["train"][0]["checklist"]) == Checklist.from_dict(rec["checklist"])


def test_checklist_command_prints_a_table_and_json(tmp_path):
    cases = tmp_path / "cases.jsonl"
    renal = {"id": "renal-1", "patient": "70/M, 60 kg, S. Cr 2.1 mg/dl", "diagnosis": "Acute pyelonephritis",
             "setting": "admitted", "prescription": "Inj pip-taz 4.5 g IV q6h x 7 days", "decision": "Modify"}
    cases.write_text(json.dumps({"id": "cap-1", "patient": "52/F, NKDA", "diagnosis": "CAP", "setting": "OPD",
                                 "prescription": "Cap amoxicillin 1 g TDS x 5 days", "decision": "Approve"}) + "\n" + json.dumps(renal) + "\n")
    r = RUNNER.invoke(app, ["checklist", f"{cases}:2"])
    assert r.exit_code == 0, r.output
    # line 2 is the renal case: Cockcroft-Gault (140 - 70) x 60 / (72 x 2.1) = 27.8 mL/min, pip-taz not adjusted
    assert "Acute pyelonephritis" in r.output and "CrCl 27.8" in r.output and "essential" in r.output
    j = RUNNER.invoke(app, ["checklist", f"{cases}:2", "--json"])
    assert j.exit_code == 0
    assert json.loads(j.output)["syndrome"] == "pyelonephritis"
    t = RUNNER.invoke(app, ["checklist", "--text", ALLERGIC_CAP, "--json"])
    allergy = next(i for i in json.loads(t.output)["items"] if i["kind"] == "allergy")
    assert t.exit_code == 0 and allergy["evidence"][0] == "penicillin"


@pytest.mark.parametrize("args, message", [
    (["checklist", "data/cases.jsonl:99999"], "data/cases.jsonl:99999: no record starts on this line"),
    (["checklist", "missing.jsonl"], "missing.jsonl: not found"),
    (["checklist", "--text", "  "], "--text is empty"),
    (["checklist"], "no case given"),
])
def test_checklist_command_refuses_bad_input_with_one_line(args, message):
    r = RUNNER.invoke(app, args)
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output
