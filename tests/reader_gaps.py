"""The case reader's known gaps on realistic note phrasings, and the read-back of a synthetic note against its
structured truth: shared by test_notes.py and test_lint_labels.py.

Each Gap is a phrasing the notes keep because clinicians write it, with what today's reader does with it; the
reader is being rebuilt (spaCy + negspacy), and an entry goes when the reader reads its phrasing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from synth_cases import cases

from amr_grpo.data.synth.scenarios import pregnancy_blocks
from amr_grpo.guidelines import load_kb
from amr_grpo.reading import read_case
from amr_grpo.judge.rules.context import read_culture

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
