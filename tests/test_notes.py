"""Free-text synthetic notes (issue 10, item 8): deterministic, realistic, and read back by the project's case reader.

Each note is read with `judge.case_reader.read_case`, as the judge reads a case, and the facts the label depends on
are compared with the scenario's structured patient: age and sex, weight, the renal band of every drug of the case,
whether each drug meets the allergy, pregnancy (and its gestation rule) and interaction it met in the structured
case, and the culture report's susceptibilities. Realistic phrasings the reader misses today are kept in the notes
and listed in GAPS with what the reader does with them: they are checked in xfail tests (non-strict: a reader that
learns one shows as XPASS, and the entry can go).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from synth_cases import cases

from amr_grpo.data.notes import render_note
from amr_grpo.data.scenarios import pregnancy_blocks
from amr_grpo.guidelines import load_kb
from amr_grpo.judge.case_reader import read_case
from amr_grpo.judge.rules_context import read_culture

ROOT = Path(__file__).resolve().parents[1]
kb = load_kb()
FACTS = ("age_sex", "weight", "renal", "allergy", "no_allergy", "pregnancy", "medicines", "cultures")


@dataclass(frozen=True)
class Gap:
    """A realistic phrasing today's reader misreads: the facts it affects and when a note uses it."""

    name: str
    facts: frozenset[str]
    applies: Callable[[dict[str, str], str], bool]  # (note phrasing, note text) -> the note uses it
    reads_as: str  # what the reader does with it today


AGE_SEX = frozenset({"age_sex", "renal"})  # Cockcroft-Gault needs age and sex: a lost age loses the CrCl too
GAPS = [
    Gap("'36 yo M. 89kg', '52/F. 68kg'", AGE_SEX,
        lambda ph, _: ph["who_join"] == "period" and ph["weight"] == "kg" and ph["age_sex"] in ("slash", "yo"),
        "the age/sex pattern refuses a sex letter followed by '. <number>', so age and sex stay unknown"),
    Gap("'T 100.4F' beside 'Male, 45 yrs' or 'man. 57kg'", AGE_SEX,
        lambda ph, _: ph["temperature"] == "decimal F" and (
            ph["age_sex"] == "sex yrs" or (ph["who_join"] == "period" and ph["weight"] == "kg")),
        "'100.4F' is read as a 4-year-old female when the age is not written age-then-sex before it"),
    Gap("'CrCl (CG) 30 mL/min'", frozenset({"renal"}), lambda ph, _: ph.get("renal") == "crcl stated",
        "the stated CrCl is not read past '(CG)'; Cockcroft-Gault from the creatinine (to 0.1) can cross a band edge"),
    Gap("'Known allergy to cotrimoxazole (rash)'", frozenset({"allergy"}),
        lambda ph, _: ph.get("allergy") == "known allergy to", "no allergen is read"),
    Gap("'H/o itching with nitrofurantoin'", frozenset({"allergy"}),
        lambda ph, text: ph.get("allergy") == "hx reaction with" and "H/o itching" in text,
        "'itching' is not among the reaction words, so no allergen is read"),
    Gap("'no h/o drug allergy'", frozenset({"no_allergy"}), lambda ph, _: ph.get("allergy") == "no h/o",
        "read as an allergy to 'o': the judge then calls 'no allergies' a contradiction"),
    Gap("'Takes amlodipine and warfarin regularly'", frozenset({"medicines"}),
        lambda ph, _: ph.get("medicines") == "takes", "'takes' is not a medicine cue: no current medicine is read"),
    Gap("'Current medications: a 5 mg OD; b 500 mg BD'", frozenset({"medicines"}),
        lambda ph, _: ph.get("medicines") == "current medications", "only the medicine before the first ';' is read"),
    Gap("'Drinks alcohol daily', 'Alcohol use: daily'", frozenset({"medicines"}), lambda ph, _: "alcohol" in ph,
        "alcohol use is not a current medicine, so metronidazole's disulfiram-like reaction is not seen"),
    Gap("'asthma' in the history", frozenset({"cultures"}), lambda ph, text: "asthma" in text.lower(),
        "the culture pattern matches 'ast' (for AST) inside 'asthma' and takes 'hma...' as the culture report"),
]


def read_back(g) -> set[str]:
    """The facts the reader gets wrong in this note (compared with the structured truth of the case)."""
    t = g.built.patient
    r = read_case({"patient": g.note.text, "diagnosis": g.record["diagnosis"],
                   "prescription": g.record["prescription"]}).patient
    items = g.built.prescribed + (g.built.recommended or [])

    def weeks(p):
        return p.gestation_weeks if p.pregnant else None

    ok = {
        "age_sex": (r.age, r.sex) == (t.age, t.sex),
        "weight": r.weight_kg == t.weight_kg,
        "renal": r.crcl_ml_min is not None and all(
            kb.renal_band(i.drug, r.crcl_ml_min, i.route) == kb.renal_band(i.drug, t.crcl_ml_min, i.route)
            for i in items),
        "allergy": all(bool(kb.allergy_conflict(i.drug, r.allergies)) == bool(kb.allergy_conflict(i.drug, t.allergies))
                       for i in items),
        "no_allergy": bool(t.allergies) or not r.allergies,
        "pregnancy": bool(r.pregnant) == bool(t.pregnant) and all(
            pregnancy_blocks(i.drug, weeks(r)) == pregnancy_blocks(i.drug, weeks(t)) for i in items),
        "medicines": all(bool(kb.interactions(i.drug, r.current_medicines))
                         == bool(kb.interactions(i.drug, t.current_medicines)) for i in items),
        "cultures": read_culture(r.cultures or "") == read_culture(t.cultures or ""),
    }
    return {f for f, good in ok.items() if not good}


def notes():
    """Every note of the shipped seed, and all 600 cases of seed 1 rendered as notes (every phrasing occurs)."""
    return [g for g in cases(600, 0) + cases(600, 1, 1.0) if g.note is not None]


def gaps_of(g) -> list[Gap]:
    return [gap for gap in GAPS if gap.applies(g.note.phrasing, g.note.text)]


def test_notes_are_deterministic_and_each_kind_occurs():
    g = cases(600, 1, 1.0)[7]
    rng = random.Random("note-1-7")  # the case's own stream: first the draw that makes it a note, then the note
    rng.random()
    again = render_note(g.built, g.syndrome, rng)
    assert again.text == g.note.text == g.record["patient"]
    kinds = {n.note.phrasing["kind"] for n in notes()}
    assert kinds == {"opd", "ward", "discharge", "ed", "icu", "preop"}


def test_notes_state_each_fact_in_their_text():
    for g in notes():
        t, text = g.built.patient, g.note.text
        assert f"{t.age:g}" in text and f"{t.weight_kg:g}" in text, g.record["id"]
        for a in t.allergies:  # "penicillins (hives)" -> "penicillins" and "hives" both stated
            allergen, reaction = re.match(r"(.*?) \((.*)\)", a).groups()
            assert allergen in text and reaction in text, (g.record["id"], a)
        if t.pregnant:
            assert f"{t.gestation_weeks:g} w" in text, g.record["id"]
        for m in t.current_medicines:
            assert (m if m != "ethanol" else "lcohol") in text, (g.record["id"], m)
        if t.cultures and "grew" in t.cultures:
            drug = t.cultures.split("susceptible to ")[1].split(";")[0]
            assert f"susceptible to {drug}" in text, g.record["id"]
        # a negated symptom never denies the syndrome's own complaint
        assert not ("urine" in str(g.syndrome.key) and "no dysuria" in text)


def test_notes_read_back_every_fact_the_label_depends_on():
    """Every fact of every note, except facts a listed gap phrasing affects, reads back as the structured truth."""
    wrong = []
    for g in notes():
        exempt = {f for gap in gaps_of(g) for f in gap.facts}
        wrong += [(g.record["id"], f, g.note.phrasing) for f in sorted(read_back(g) - exempt)]
    assert wrong == []


@pytest.mark.parametrize("gap", [pytest.param(gap, id=gap.name, marks=pytest.mark.xfail(
    reason=f"today's reader: {gap.reads_as}", strict=False)) for gap in GAPS])
def test_known_reader_gaps(gap):
    using = [g for g in notes() if gap in gaps_of(g)]
    assert using, "no note uses this phrasing any more: remove the entry"
    misread = [g.record["id"] for g in using if read_back(g) & gap.facts]
    assert misread == []


def test_shipped_note_cases_score_full_marks_unless_a_reader_gap_applies():
    """The rules judge reads the shipped notes as a user's free-text cases: the reference validation scores as on
    the structured cases wherever the note avoids the phrasings listed in GAPS."""
    from amr_grpo.judge.base import EvalRequest
    from amr_grpo.judge.rules import RulesJudge

    judge = RulesJudge()
    by_id = {g.record["id"]: g for g in cases(600, 0)}
    gt_keys = ("decision", "issues", "recommended_regimen", "reference", "citation", "syndrome", "flags")
    clean, low = 0, []
    for line in (ROOT / "data" / "cases.jsonl").read_text(encoding="utf-8").splitlines():
        c = json.loads(line)
        if not isinstance(c["patient"], str) or gaps_of(by_id[c["id"]]):
            continue
        case = {k: c[k] for k in ("id", "patient", "diagnosis", "setting", "prescription")}
        v = judge.score_sync(EvalRequest(case, c["reference"], {k: c[k] for k in gt_keys}, "all"))
        clean += 1
        if v.weighted_reward < 0.95:
            low.append((c["id"], {k: s.justification for k, s in v.scores.items() if s.score < 5}))
    assert clean >= 30 and low == []  # ~150 notes, most of them use at least one phrasing listed in GAPS
