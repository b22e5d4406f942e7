"""`amr-grpo synth`: determinism, coverage of the knowledge base, and cases whose labels are true.

The 600-case run of the shipped dataset is generated once per test process (synth_cases.py). Every Modify/Reject
case is checked against the knowledge base for the defect its first issue code claims, every Approve case for being
a guideline regimen (renally dosed, with its loading dose and daily maximum), and every reference validation through
the output-format parser. A case whose patient is a free-text note is checked with the scenario's structured patient.
"""

from __future__ import annotations

import json
import random
import re
import statistics
from pathlib import Path

import pytest
from synth_cases import cases as generated
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.data.synth.dosing import renal_adjust, renal_for
from amr_grpo.data.synth.phrasing import Item, clinician_text
from amr_grpo.data.synth.regimens import daily_cap, examples
from amr_grpo.data.synth.scenarios import ISSUE_CODES
from amr_grpo.data.synth.generate import generate
from amr_grpo.guidelines import load_kb, parse_prescription
from amr_grpo.output_format import parse_validation
from amr_grpo.records import Patient

ROOT = Path(__file__).resolve().parents[2]
kb = load_kb()
runner = CliRunner()
# what the parser may leave unparsed in a synthetic prescription: a loading dose ("1 g IV stat, then", "400 mg
# q12h x 3 doses, then", "200 mg on day 1 then"), "pre-incision", "post-op"
ALLOWED_UNPARSED = re.compile(r"^(?:[\d.]+ (?:mg|g|gm|MU|lakh units|mg/kg)(?: (?:IV|PO|IM))? (?:stat|loading(?: dose)?|"
                              r"q12h x 3 doses|on day 1),? then)?\s*(?:pre incision|post op)?$", re.I)


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return [g.record for g in generated()]


@pytest.fixture(scope="module")
def patients() -> dict[str, Patient]:
    """Each case's structured patient (the record holds a free-text note instead for a share of them)."""
    return {g.record["id"]: g.built.patient for g in generated()}


def test_cli_twice_gives_byte_identical_files_equal_to_the_shipped_one(tmp_path):
    for name in ("a.jsonl", "b.jsonl"):
        r = runner.invoke(app, ["synth", "-n", "600", "--seed", "0", "-o", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
    a = (tmp_path / "a.jsonl").read_bytes()
    assert a == (tmp_path / "b.jsonl").read_bytes()
    # data/README.md promises this command regenerates the shipped file byte for byte
    assert a == (ROOT / "data" / "cases.jsonl").read_bytes(), "data/cases.jsonl is stale: rerun the synth command"


def test_notes_share_is_an_option_and_changes_only_the_patient_field(tmp_path):
    r = runner.invoke(app, ["synth", "-n", "60", "--seed", "3", "--notes", "0", "-o", str(tmp_path / "n0.jsonl")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["synth", "-n", "60", "--seed", "3", "--notes", "1", "-o", str(tmp_path / "n1.jsonl")])
    assert r.exit_code == 0, r.output
    plain = [json.loads(x) for x in (tmp_path / "n0.jsonl").read_text().splitlines()]
    noted = [json.loads(x) for x in (tmp_path / "n1.jsonl").read_text().splitlines()]
    assert all(isinstance(c["patient"], dict) for c in plain) and all(isinstance(c["patient"], str) for c in noted)
    # notes come from their own seeded stream: everything but the patient field is the same case, except that a
    # note's vital signs show how ill the patient is, which the reference's clinical picture then states (step 1)
    def rest(c: dict) -> dict:
        return {k: v if k != "reference" else v.split("\n", 1)[1] for k, v in c.items() if k != "patient"}

    assert [rest(c) for c in plain] == [rest(c) for c in noted]
    assert all(p["reference"].split("\n", 1)[0] in n["reference"].split("\n", 1)[0].replace(";", ".", 1) or
               n["reference"].startswith(p["reference"].split("\n", 1)[0].rstrip(".")) for p, n in zip(plain, noted))
    r = runner.invoke(app, ["synth", "-n", "5", "--notes", "1.5", "-o", str(tmp_path / "bad.jsonl")])
    assert r.exit_code == 2 and "--notes must be a share between 0 and 1" in r.output


def test_other_seeds_differ_and_n_is_respected():
    a, b = generate(40, 1), generate(40, 2)
    assert len(a) == len(b) == 40
    assert [c["prescription"] for c in a] != [c["prescription"] for c in b]


def test_bad_n_is_a_user_error(tmp_path):
    r = runner.invoke(app, ["synth", "-n", "0", "-o", str(tmp_path / "x.jsonl")])
    assert r.exit_code == 2 and "-n must be at least 1" in r.output


def test_record_keys_in_fixed_order(cases):
    keys = ["id", "patient", "diagnosis", "setting", "prescription", "decision", "reference", "recommended_regimen",
            "citation", "issues", "flags", "syndrome"]
    assert all(list(c) == keys for c in cases)
    assert len({c["id"] for c in cases}) == 600


def test_coverage_of_syndromes_decisions_and_issue_codes(cases):
    assert {c["syndrome"] for c in cases} == {s.key for s in kb.syndromes}
    # shares 35/40/25 of 600
    decisions = [c["decision"] for c in cases]
    assert (decisions.count("Approve"), decisions.count("Modify"), decisions.count("Reject")) == (210, 240, 150)
    assert {i for c in cases for i in c["issues"]} == set(ISSUE_CODES)
    # a quarter of the patients are free-text notes (NOTES_SHARE 0.25: 150 of 600 expected, binomial sd ~11)
    assert 110 <= sum(isinstance(c["patient"], str) for c in cases) <= 190
    assert all(not c["issues"] for c in cases if c["decision"] == "Approve")
    assert all(c["issues"] for c in cases if c["decision"] != "Approve")


def test_every_reference_parses_in_the_policy_format(cases):
    words = []
    for c in cases:
        v = parse_validation(c["reference"])
        assert v.parse_ok and not v.problems, (c["id"], v.problems)
        assert 6 <= len(v.steps) <= 8
        assert v.decision.value == c["decision"]
        assert v.recommended_regimen == c["recommended_regimen"]
        assert v.reference == c["citation"]
        words.append(len(c["reference"].split()))
    # short enough for the tiny policy to imitate; the longest carry two or three loading doses ("Vancomycin 25 mg/kg
    # IV stat, then 15 mg/kg IV q24h"), written twice (the dose step and the regimen line)
    assert statistics.mean(words) < 135 and max(words) < 200


def doses(text: str):
    out = parse_prescription(text)
    for d in out:
        assert d.drug and d.route and d.interval_h is not None, (text, d)
        assert [d.dose_mg, d.dose_mg_per_kg, d.dose_units].count(None) == 2, (text, d)
        assert ALLOWED_UNPARSED.match(d.unparsed), (text, d.unparsed)
    return out


def test_every_prescription_and_recommended_regimen_parses_with_the_kb_parser(cases):
    for c in cases:
        assert doses(c["prescription"])
        if not c["recommended_regimen"].startswith("No antibiotic"):
            assert doses(c["recommended_regimen"])
    # the phrasing varies: these forms all occur in the shipped cases
    text = " ".join(c["prescription"] for c in cases)
    for form in ("Tab", "Inj", "Cap", " OD", " BD", " TDS", " QID", "1-0-1", "q8h", "x 5 days", "/7", "hourly"):
        assert form in text, form


def test_clinician_phrasing_round_trips_for_every_example_dose():
    rng = random.Random(0)
    for d in kb.drugs:
        for ex in examples(d.key):
            item = ex.with_days(5.0)
            for _ in range(5):
                got = parse_prescription(clinician_text([item], rng))
                assert len(got) == 1 and got[0].drug == d.key
                assert (got[0].route, got[0].interval_h, got[0].duration_days) == (item.route, item.interval_h,
                                                                                   item.days)
                assert (got[0].dose_mg, got[0].dose_mg_per_kg, got[0].dose_units) == (item.dose_mg,
                                                                                      item.dose_mg_per_kg,
                                                                                      item.dose_units)


def test_renal_adjustment_reads_the_kb_bands():
    # ICMR 2019 Table 14.1: pip-taz 4.5 g q6h -> 3.375 g q6h at CrCl 20-40
    assert renal_for(Item("piperacillin-tazobactam", "IV", 6, 4500), 25)[0] == Item("piperacillin-tazobactam", "IV",
                                                                                   6, 3375)
    # amikacin 15 mg/kg q24h -> q36h at CrCl 40-59, not recommended below 30
    assert renal_for(Item("amikacin", "IV", 24, dose_mg_per_kg=15), 45)[0].interval_h == 36
    assert renal_for(Item("amikacin", "IV", 24, dose_mg_per_kg=15), 25)[0] is None
    # meropenem CrCl 26-50: the full dose q12h; 10-25: half dose q12h
    assert renal_for(Item("meropenem", "IV", 8, 1000), 30)[0] == Item("meropenem", "IV", 12, 1000)
    assert renal_for(Item("meropenem", "IV", 8, 1000), 15)[0] == Item("meropenem", "IV", 12, 500)
    # normal function: unchanged; a range in the advice ("250-500 mg q12h") is not read as one dose
    assert renal_for(Item("meropenem", "IV", 8, 1000), 90)[0] == Item("meropenem", "IV", 8, 1000)
    band = next(b for b in kb.drug("amoxicillin").renal if b.action == "adjust" and "-" in b.advice)
    assert renal_adjust(Item("amoxicillin", "PO", 8, 1000), band) is None


def test_single_doses_are_never_renally_turned_into_a_course(cases):
    # a single pre-incision or stat dose is given in full whatever the CrCl (the rules judge agrees): cefazolin's
    # Table 14.1 band (500 mg q12h at CrCl 11-34) is for a course, not for surgical prophylaxis
    assert renal_for(Item("cefazolin", "IV", 0, 2000), 20)[0] == Item("cefazolin", "IV", 0, 2000)
    assert renal_for(Item("cefuroxime", "IV", 0, 1500), 15)[0] == Item("cefuroxime", "IV", 0, 1500)
    checked = 0
    for c in cases:
        s = kb.syndrome(c["syndrome"])
        items = [ri for r in (*s.first_line, *s.alternatives) for ri in r.items]
        single = {ri.drug for ri in items if ri.interval_h == 0} - {ri.drug for ri in items if ri.interval_h != 0}
        texts = [c["recommended_regimen"]] + ([c["prescription"]] if c["decision"] == "Approve" else [])
        for text in (t for t in texts if not t.startswith("No antibiotic")):
            for d in doses(text):
                if d.drug in single:
                    assert d.interval_h == 0, (c["id"], text)
                    checked += 1
    assert checked >= 20


def item_of(d) -> Item:
    return Item(d.drug, d.route, d.interval_h, d.dose_mg, d.dose_mg_per_kg, d.dose_units, d.duration_days)


def regimen_ok(dose_list, regimen, crcl, weight) -> bool:
    """The parsed doses are exactly this regimen: same drugs, a listed route, dose/interval inside the ranges
    (or equal to the renal dose of a dose inside the ranges), duration inside the range. A weight-based dose with a
    daily maximum is written in mg for this weight: azithromycin 20 mg/kg/day (max 1 g/day) at 60 kg is 1 g."""
    if sorted(d.drug for d in dose_list) != sorted(ri.drug for ri in regimen.items):
        return False
    for d in dose_list:
        ri = next(ri for ri in regimen.items if ri.drug == d.drug)
        if d.route not in ri.route.split("/"):
            return False
        if ri.duration_days_min is not None and d.duration_days is not None and not (
                ri.duration_days_min <= d.duration_days <= (ri.duration_days_max or ri.duration_days_min)):
            return False
        field = "dose_mg_per_kg" if ri.dose_mg_per_kg is not None else "dose_units" if ri.dose_units is not None \
            else "dose_mg"
        wanted = set()
        for dose in {getattr(ri, field), ri.dose_max or getattr(ri, field)}:
            for interval in {ri.interval_h, ri.interval_h_max or ri.interval_h}:
                normal = Item(ri.drug, d.route, interval, **{field: dose})
                given = renal_for(normal, crcl)[0]
                wanted.add((getattr(given, field), given.interval_h) if given else None)
        cap = daily_cap(regimen, d.drug)
        if cap is not None and d.dose_mg is not None:
            # 20 mg/kg x weight, to the nearest 250 mg, never above the daily maximum (q24h: the whole cap)
            mg = min(max(250.0, round(ri.dose_mg_per_kg * weight / 250) * 250), cap * ri.interval_h / 24)
            if (d.dose_mg, d.interval_h) != (mg, ri.interval_h):
                return False
        elif (getattr(d, field), d.interval_h) not in wanted:
            return False
    return True


def blocks_in_pregnancy(drug: str, weeks: float) -> bool:
    a = kb.pregnancy_rule(drug).action if kb.pregnancy_rule(drug) else "ok"
    # safety.yaml pregnancy rules: first trimester = before 14 weeks, near term = from 36 weeks
    return a == "avoid" or ("first_trimester" in a and weeks < 14) or ("near_term" in a and weeks >= 36)


def dose_tuples(text: str) -> list[tuple]:
    return [(d.drug, d.dose_mg, d.dose_mg_per_kg, d.dose_units, d.route, d.interval_h, d.duration_days,
             "then" in d.unparsed) for d in doses(text)]


def test_approve_cases_are_a_guideline_regimen_renally_dosed_and_safe(cases, patients):
    for c in (c for c in cases if c["decision"] == "Approve"):
        s, p = kb.syndrome(c["syndrome"]), patients[c["id"]]
        got = doses(c["prescription"])
        assert any(regimen_ok(got, r, p.crcl_ml_min, p.weight_kg) for r in (*s.first_line, *s.alternatives)), c["id"]
        for d in got:
            assert not kb.allergy_conflict(d.drug, p.allergies), c["id"]
            assert not kb.interactions(d.drug, p.current_medicines), c["id"]
            assert not (p.pregnant and blocks_in_pregnancy(d.drug, p.gestation_weeks)), c["id"]
        # the recommended regimen is the prescription, loading dose included (the last field: "... stat, then")
        assert dose_tuples(c["recommended_regimen"]) == dose_tuples(c["prescription"]), c["id"]


def in_any_range(d, s, what: str) -> bool:
    for r in (*s.first_line, *s.alternatives):
        for ri in r.items:
            if ri.drug != d.drug:
                continue
            # each part is judged against the regimen items that agree on the other parts (route, then dose, ...)
            same_route = d.route in ri.route.split("/")
            if what in ("dose", "interval", "days") and not same_route:
                continue
            if what in ("interval", "days") and not in_item_dose(d, ri):
                continue
            if what == "days" and not ri.interval_h <= d.interval_h <= (ri.interval_h_max or ri.interval_h):
                continue
            if what == "interval" and ri.interval_h <= d.interval_h <= (ri.interval_h_max or ri.interval_h):
                return True
            if what == "route" and d.route in ri.route.split("/"):
                return True
            if what == "days" and (ri.duration_days_min is None or ri.duration_days_min <= d.duration_days
                                   <= (ri.duration_days_max or ri.duration_days_min)):
                return True
            if what == "dose" and in_item_dose(d, ri):
                return True
    return False


def in_item_dose(d, ri) -> bool:
    lo = ri.dose_mg if ri.dose_mg is not None else ri.dose_mg_per_kg if ri.dose_mg_per_kg is not None else ri.dose_units
    v = d.dose_mg if ri.dose_mg is not None else d.dose_mg_per_kg if ri.dose_mg_per_kg is not None else d.dose_units
    return v is not None and lo <= v <= (ri.dose_max or lo)


def defect_present(c: dict, p: Patient) -> bool:
    s = kb.syndrome(c["syndrome"])
    got = doses(c["prescription"])
    drugs_of_syndrome = {ri.drug for r in (*s.first_line, *s.alternatives) for ri in r.items}
    code = c["issues"][0]
    if code in ("wrong_dose", "wrong_frequency", "wrong_duration", "wrong_route"):
        what = {"wrong_dose": "dose", "wrong_frequency": "interval", "wrong_duration": "days", "wrong_route": "route"}
        return any(d.drug in drugs_of_syndrome and not in_any_range(d, s, what[code]) for d in got)
    if code == "renal_adjustment_missed":
        return any((b := kb.renal_band(d.drug, p.crcl_ml_min, d.route)) and b.action == "adjust"
                   and renal_for(item_of(d), p.crcl_ml_min)[0] != item_of(d) for d in got)
    if code == "renal_contraindicated":
        return any((b := kb.renal_band(d.drug, p.crcl_ml_min, d.route)) and b.action == "avoid" for d in got)
    if code == "allergy_conflict":
        return any(kb.allergy_conflict(d.drug, p.allergies) for d in got)
    if code == "pregnancy_contraindicated":
        return p.pregnant and any(blocks_in_pregnancy(d.drug, p.gestation_weeks) for d in got)
    if code == "interaction":
        return any(kb.interactions(d.drug, p.current_medicines) for d in got)
    if code == "wrong_drug_for_setting":  # the prescription is no regimen of this syndrome
        return not any(sorted(d.drug for d in got) == sorted(ri.drug for ri in r.items)
                       for r in (*s.first_line, *s.alternatives))
    if code == "prolonged_prophylaxis":
        return all(ri.interval_h == 0 for ri in s.first_line[0].items) and all(d.duration_days >= 1 for d in got)
    if code == "deescalation_due":  # another regimen, every aerobic drug of which the day-3 culture is susceptible to
        rec = {d.drug for d in doses(c["recommended_regimen"])}
        aerobic = {d for d in rec if kb.drug(d).drug_class not in ("nitroimidazole", "lincosamide")}
        named = set(kb.find_drugs((p.cultures or "").split("susceptible to")[-1]))
        return "day 3" in (p.cultures or "") and rec != {d.drug for d in got} and aerobic <= named
    if code == "unneeded_addon":  # a regimen plus a drug the syndrome says not to add; the reference drops it
        rec = {d.drug for d in doses(c["recommended_regimen"])}
        extra = {d.drug for d in got} - rec
        return bool(extra) and rec < {d.drug for d in got} and all(kb.do_not_use(s.key, x) for x in extra)
    if code == "no_antibiotic_indicated":
        return s.no_antibiotic and c["recommended_regimen"].startswith("No antibiotic;")
    if code == "reserve_empiric":
        return any(d.drug not in drugs_of_syndrome and kb.drug(d.drug).aware_for(d.route) == "Reserve" for d in got)
    raise AssertionError(f"unknown issue code {code}")


def test_modify_and_reject_cases_have_the_defect_they_claim(cases, patients):
    for c in (c for c in cases if c["decision"] != "Approve"):
        assert defect_present(c, patients[c["id"]]), (c["id"], c["issues"], c["prescription"])


def test_recommended_regimens_are_safe_for_the_patient(cases, patients):
    for c in cases:
        if c["recommended_regimen"].startswith("No antibiotic"):
            continue
        p = patients[c["id"]]
        for d in doses(c["recommended_regimen"]):
            assert not kb.allergy_conflict(d.drug, p.allergies), c["id"]
            assert not kb.interactions(d.drug, p.current_medicines), c["id"]
            assert not (p.pregnant and blocks_in_pregnancy(d.drug, p.gestation_weeks)), c["id"]
            assert renal_for(item_of(d), p.crcl_ml_min)[1] is None or kb.renal_band(
                d.drug, p.crcl_ml_min, d.route).action != "avoid", c["id"]


def test_patients_are_consistent_and_flags_name_the_risk_factors(cases, patients):
    for c in cases:
        p = patients[c["id"]]
        # Cockcroft-Gault from the serum creatinine, to the nearest mL/min
        cg = (140 - p.age) * p.weight_kg / (72 * p.serum_creatinine_mg_dl) * (0.85 if p.sex == "F" else 1)
        assert abs(cg - p.crcl_ml_min) <= 0.5
        assert not (p.pregnant and p.sex == "M") and (p.gestation_weeks is not None) == bool(p.pregnant)
        assert ("renal_impairment" in c["flags"]) == (p.crcl_ml_min < 60)
        assert ("allergy" in c["flags"]) == bool(p.allergies)
        assert ("pregnancy" in c["flags"]) == bool(p.pregnant)
        source = kb.syndrome(c["syndrome"]).source
        # the reference line starts with the syndrome's source; a general-knowledge row is cited as what it is
        first = source.guideline if source.confidence == "GK" else source.cite()
        assert c["citation"].split("; ")[0] == first, c["id"]


def test_general_knowledge_syndromes_cite_general_knowledge_without_search_notes(cases):
    gk = [c for c in cases if kb.syndrome(c["syndrome"]).source.confidence == "GK"]
    # these three are general knowledge in the knowledge base today (rows added later may join them)
    assert {"cholera", "pharyngitis_centor_low", "scrub_typhus_uncomplicated"} <= {c["syndrome"] for c in gk}
    # not "..., section DHR-ICMR 2015 rickettsial guideline exists, treatment section not seen": that note says
    # where the knowledge base looked, it is no place in a source
    # (a case that renally doses a Table 14.1 drug adds that table after it)
    assert {c["citation"].split("; ")[0] for c in gk} == {"General clinical knowledge, not verified against a source"}


def test_renal_dosing_cites_icmr_table_14_1(cases, patients):
    cited = 0
    for c in cases:
        if c["recommended_regimen"].startswith("No antibiotic"):
            continue
        crcl = patients[c["id"]].crcl_ml_min
        for d in doses(c["recommended_regimen"]):
            band = kb.renal_band(d.drug, crcl, d.route)
            if d.interval_h == 0:  # a single dose is given in full: nothing renally dosed to cite the table for
                continue
            if band and band.action in ("adjust", "avoid") and (band.source.section or "").startswith("Table 14.1"):
                assert band.source.cite() in c["citation"].split("; "), (c["id"], d.drug, c["citation"])
                cited += 1
    assert cited >= 20  # the 600 cases renally dose Table-14.1 drugs often enough for this to be a real check


def test_every_shipped_reference_scores_full_reference_marks_under_the_rules_judge():
    """Structured cases; the free-text ones are judged in test_notes.py, beside the reader's known gaps."""
    from amr_grpo.judge.base import EvalRequest
    from amr_grpo.judge.rules import RulesJudge

    judge = RulesJudge()
    gt_keys = ("decision", "issues", "recommended_regimen", "reference", "citation", "syndrome", "flags")
    rewards = []
    for line in (ROOT / "data" / "cases.jsonl").read_text(encoding="utf-8").splitlines():
        c = json.loads(line)
        if isinstance(c["patient"], str):
            continue
        case = {k: c[k] for k in ("id", "patient", "diagnosis", "setting", "prescription")}
        v = judge.score_sync(EvalRequest(case, c["reference"], {k: c[k] for k in gt_keys}, "all"))
        assert v.scores["reference_accuracy"].score == 5, (c["id"], v.scores["reference_accuracy"])
        assert v.weighted_reward >= 0.95, (c["id"], {k: s for k, s in v.scores.items() if s.score < 5})
        rewards.append(v.weighted_reward)
    assert len(rewards) >= 400 and statistics.mean(rewards) >= 0.99


def test_shipped_file_is_the_600_case_dataset():
    lines = (ROOT / "data" / "cases.jsonl").read_text().splitlines()
    assert len(lines) >= 600
    assert json.loads(lines[0])["id"] == "synth-0-0000"


def test_output_does_not_depend_on_the_process_hash_seed(tmp_path):
    import os
    import subprocess
    import sys

    from amr_grpo.data.synth.generate import write_cases

    write_cases(80, 5, tmp_path / "here.jsonl")
    env = dict(os.environ, PYTHONHASHSEED="12345")  # another string-hash order: set iteration would show here
    subprocess.run([sys.executable, "-m", "amr_grpo", "synth", "-n", "80", "--seed", "5", "-o",
                    str(tmp_path / "there.jsonl")], check=True, env=env, capture_output=True)
    assert (tmp_path / "here.jsonl").read_bytes() == (tmp_path / "there.jsonl").read_bytes()
