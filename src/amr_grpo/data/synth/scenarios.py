"""Scenario builders for synthetic cases: one function per ground-truth scenario, each turning a syndrome of the
knowledge base into a patient, a prescription (structured Items), the recommended regimen and the decision.

A builder returns None (or the patient profile raises Unfit) when the scenario does not fit this syndrome or this
random draw (synth.py then tries the next syndrome); it never bends a fact to fit. Issue codes are stable strings
(ISSUE_CODES) that the rules judge and the reports read.

The decision follows one rule (`decision_for`): Reject when no antibiotic is indicated or a prescribed drug has no
place in this infection (no regimen of the syndrome or of its group uses it: a do-not-use drug given as the
treatment, an empiric Reserve drug, an unrelated drug); Modify when the drugs belong to this infection but are given
wrongly (dose, frequency, duration, route, renal dose, prolonged prophylaxis, de-escalation due, the regimen of
another setting of the same infection, an unneeded add-on) or a guideline drug this patient must not take
(allergy, pregnancy, interaction, renal) has a safe alternative; Approve otherwise.
Try it: python -c "import random; from amr_grpo.data.synth.scenarios import *; print(BUILDERS['renal_adjustment_missed'](Ctx(random.Random(1)), load_kb().syndrome('pyelonephritis')))"
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from amr_grpo.data.synth.dosing import renal_for
from amr_grpo.data.synth.patients import make_patient, profile_for
from amr_grpo.data.synth.phrasing import Item, display_name, dose_text, freq_canonical, load_canonical
from amr_grpo.data.synth.regimens import (condition_kind, examples, guideline_items, items_of, matches, syndrome_drugs,
                                          usable)
from amr_grpo.guidelines import Syndrome, load_kb
from amr_grpo.records import Patient

ISSUE_CODES = (
    "wrong_dose", "wrong_frequency", "wrong_duration", "wrong_route", "renal_adjustment_missed",
    "renal_contraindicated",
    "allergy_conflict", "pregnancy_contraindicated", "interaction", "wrong_drug_for_setting", "prolonged_prophylaxis",
    "deescalation_due", "no_antibiotic_indicated", "reserve_empiric", "unneeded_addon",
)
# antibiotics often given where none is indicated (outpatient) or as needless surgical "cover"
MISUSED_PO = ("azithromycin", "amoxicillin", "amoxicillin-clavulanate", "cefixime", "ciprofloxacin", "doxycycline",
              "cefuroxime", "norfloxacin", "moxifloxacin")
MISUSED_IV = ("cefazolin", "ceftriaxone", "cefuroxime", "amoxicillin-clavulanate")
BROAD = ("glycopeptide", "polymyxin", "oxazolidinone")  # IV add-ons stopped when cultures show no MRSA / CRO (G5)


@dataclass
class Built:
    decision: str  # "Approve" | "Modify" | "Reject"
    issues: list[str]
    prescribed: list[Item]
    recommended: list[Item] | None  # None: no antibiotic
    patient: Patient
    notes: dict[str, str] = field(default_factory=dict)  # step texts: regimen, dose, duration, stewardship
    condition: str = ""  # added to the diagnosis, e.g. "penicillin allergy"
    day: int | None = None  # day of therapy (de-escalation)
    supportive: str = ""  # supportive care, when no antibiotic is recommended


class Ctx:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.kb = load_kb()


def setting_of(s: Syndrome) -> str:
    return s.setting if s.setting in ("OPD", "ward", "ICU") else "ward"


def group_drugs(s: Syndrome) -> set[str]:
    """Every drug a regimen of this syndrome or of another setting of the same infection (its group) uses."""
    members = load_kb().group_members(s.group) if s.group else ()
    return syndrome_drugs(s).union(*(syndrome_drugs(m) for m in members))


def decision_for(s: Syndrome, drugs: list[str]) -> str:
    """The decision rule for a prescription that is not a guideline regimen for this patient: Reject when no
    antibiotic is indicated or a drug has no place in this infection, Modify otherwise."""
    if s.no_antibiotic or any(d not in group_drugs(s) for d in drugs):
        return "Reject"
    return "Modify"


def pregnancy_possible(s: Syndrome) -> bool:
    return profile_for(f"{s.key} {s.name}").pregnancy_ages() is not None


def pregnancy_blocks(drug: str, weeks: float | None) -> bool:
    if weeks is None:
        return False
    rule = load_kb().pregnancy_rule(drug)
    a = rule.action if rule else "ok"
    return (a == "avoid" or (a in ("avoid_first_trimester", "avoid_first_trimester_and_near_term") and weeks < 14)
            or (a in ("avoid_near_term", "avoid_first_trimester_and_near_term") and weeks >= 36))


def problems(p: Patient, items: list[Item]) -> list[str]:
    """What makes these items wrong for this patient: allergy, pregnancy, interaction, renal (avoid/unreadable)."""
    kb, out = load_kb(), []
    for it in items:
        if kb.allergy_conflict(it.drug, p.allergies):
            out.append("allergy")
        if p.pregnant and pregnancy_blocks(it.drug, p.gestation_weeks):
            out.append("pregnancy")
        if kb.interactions(it.drug, p.current_medicines):
            out.append("interaction")
        if renal_for(it, p.crcl_ml_min)[0] is None:
            out.append("renal")
    return out


def dosed(p: Patient, items: list[Item]) -> list[Item] | None:
    """The items renally adjusted for the patient, or None if one may not be given at this CrCl."""
    out = [renal_for(it, p.crcl_ml_min)[0] for it in items]
    return None if any(x is None for x in out) else out


def quiet_meds(p: Patient, drugs: list[str], keep: tuple[str, ...] = ()) -> Patient:
    """Drop background medicines that interact with any of these drugs, except `keep` (the scenario's own)."""
    kb = load_kb()
    meds = [m for m in p.current_medicines if m in keep or not any(kb.interactions(d, [m]) for d in drugs)]
    return replace(p, current_medicines=meds)


def patient(ctx: Ctx, s: Syndrome, **kw) -> Patient:
    """A patient for this syndrome; inpatients usually have cultures sent (G1) unless the scenario sets them."""
    if "cultures" not in kw and s.setting in ("ward", "ICU") and ctx.rng.random() < 0.7:
        urine = any(w in s.key for w in ("cystitis", "pyelo", "cauti", "uti"))
        kw["cultures"] = ("urine and blood cultures" if urine else "blood cultures") + " sent, report awaited"
    return make_patient(ctx.rng, s.key, s.name, **kw)


def brief(text: str, max_words: int = 12) -> str:
    """The first clause of a guideline sentence, for a one-line step: 'No empiric FQ for CAP in India: FQs ...'
    -> 'No empiric FQ for CAP in India'."""
    text = text.strip().rstrip(".")
    for sep in (": ", "; ", " (", " - ", ", "):
        if len(text.split()) <= max_words:
            break
        text = text.split(sep)[0]
    return text.strip()


def names(items: list[Item]) -> str:
    return " + ".join(display_name(i.drug) for i in items)


def dose_line(items: list[Item]) -> str:
    """'Imipenem-cilastatin 1 g IV stat, then 500 mg IV q6h; ...': each drug with its loading dose, no duration."""
    return "; ".join(f"{display_name(i.drug)} {load_canonical(i)}{dose_text(i)} {i.route} "
                     f"{freq_canonical(i.interval_h)}" for i in items)


def first_safe(ctx: Ctx, s: Syndrome, p: Patient,
               avoid: set[str] = frozenset()) -> tuple[list[Item], bool, bool] | None:
    """The first guideline regimen (first-line before alternatives) that is safe for the patient and uses none of
    `avoid`, renally dosed; with whether it is first-line and whether the renal dosing changed it. An alternative
    is only reached past first-line regimens this patient must not have (allergy, pregnancy, an interaction or a
    renal band to avoid): a first line set aside for a milder reason (a renal band this generator cannot state as
    one dose, an interaction to monitor) ends the search, since an alternative would then need a reason the case
    does not give."""
    for reg, first in usable(s):
        if condition_kind(reg) in ("condition", "pregnancy") or any(i.drug in avoid for i in reg.items):
            continue
        items = items_of(reg, setting_of(s), ctx.rng, t=0.0)
        d = None if problems(p, items) else dosed(p, items)
        if d is not None:
            return d, first, d != items
        if first and not contraindicated(p, items) and not any(i.drug in avoid for i in items):
            return None
    return None


def contraindicated(p: Patient, items: list[Item]) -> bool:
    """A drug of these items must not be given to this patient: allergy, pregnancy, an interaction to avoid, or a
    renal band that says avoid."""
    kb = load_kb()
    for it in items:
        band = kb.renal_band(it.drug, p.crcl_ml_min, it.route) if it.interval_h != 0 else None
        if kb.allergy_conflict(it.drug, p.allergies) or (p.pregnant and pregnancy_blocks(it.drug, p.gestation_weeks)) \
                or any(x.action == "avoid" for x in kb.interactions(it.drug, p.current_medicines)) \
                or (band is not None and band.action == "avoid"):
            return True
    return False


def _allergy_text(ctx: Ctx, drug: str) -> str:
    d = ctx.kb.drug(drug)
    group = d.allergy_groups[0] if d.allergy_groups else d.key
    reaction = ctx.rng.choice(["rash", "urticaria", "itching", "hives"])
    if group in ("penicillin", "cephalosporin", "sulfonamide", "macrolide", "fluoroquinolone", "tetracycline") \
            and ctx.rng.random() < 0.5:
        word = {"sulfonamide": "sulfa drugs", "fluoroquinolone": "quinolones"}.get(group, group + "s")
        return f"{word} ({reaction})"
    return f"{display_name(drug).lower()} ({reaction})"


# ---- Approve -------------------------------------------------------------------------------------------------
def _blocking_allergy(ctx: Ctx, s: Syndrome, reg) -> str | None:
    """An allergy that rules out every first-line regimen of the syndrome but not this alternative: the reason a
    case states for choosing an alternative that has no condition of its own (a guideline alternative is approved
    with a reason in the case, never in place of a first line the patient can take)."""
    alt = {i.drug for i in reg.items}
    for drug in sorted({i.drug for r in s.first_line for i in r.items} - alt):
        for _ in range(3):
            allergy = _allergy_text(ctx, drug)
            if all(any(ctx.kb.allergy_conflict(i.drug, [allergy]) for i in r.items) for r in s.first_line) and \
                    not any(ctx.kb.allergy_conflict(d, [allergy]) for d in alt):
                return allergy
    return None


def approve(ctx: Ctx, s: Syndrome) -> Built | None:
    regs = usable(s)
    if not regs:
        return None
    firsts = [r for r in regs if r[1]]
    reg, first = ctx.rng.choice(firsts if firsts and ctx.rng.random() < 0.75 else regs)
    kind = condition_kind(reg)
    allergies, weeks, condition = (), None, ""
    if kind == "none" and not first:
        allergy = _blocking_allergy(ctx, s, reg)
        if allergy is None:
            return None
        allergies, condition = (allergy,), f"{allergy.split(' (')[0]} allergy"
    elif kind == "allergy":
        fl = items_of(s.first_line[0], setting_of(s), ctx.rng)
        allergies = (_allergy_text(ctx, fl[0].drug),)
        condition = reg.when
    elif kind == "pregnancy":
        weeks = float(ctx.rng.randint(8, 34))
        condition = "pregnant"
    elif kind == "condition":
        condition = reg.when
    elif ctx.rng.random() < 0.1 and pregnancy_possible(s):
        weeks = float(ctx.rng.randint(8, 39))
    crcl = ctx.rng.uniform(12, 58) if ctx.rng.random() < 0.3 else None
    items = items_of(reg, setting_of(s), ctx.rng)
    p = quiet_meds(patient(ctx, s, crcl=crcl, pregnant_weeks=weeks, allergies=allergies), [i.drug for i in items])
    if kind == "allergy" and not ctx.kb.allergy_conflict(s.first_line[0].items[0].drug, p.allergies):
        return None
    if problems(p, items):
        return None
    given = dosed(p, items)
    adjusted = given != items
    notes = {"regimen": f"{names(given)} is the guideline {'first-line' if first else 'alternative'} choice."}
    if adjusted:
        notes["dose"] = f"At CrCl {p.crcl_ml_min:g} mL/min the renal dose is {dose_line(given)}."
    elif any(i.interval_h == 0 and (b := renal_for(i, p.crcl_ml_min)[1]) and b.action != "no_change" for i in given):
        notes["dose"] = (f"{dose_line(given)} is correct: a single dose is given in full at CrCl "
                         f"{p.crcl_ml_min:g} mL/min.")
    return Built("Approve", [], given, given, p, notes, condition)


# ---- Modify: the right drug, wrongly given -------------------------------------------------------------------
def _normal_case(ctx: Ctx, s: Syndrome, need=lambda items: True):
    """A first-line regimen that is right for a patient with no safety issue; (items, patient) or None."""
    regs = [r for r, first in usable(s) if first and condition_kind(r) == "none"]
    if not regs:
        return None
    items = items_of(ctx.rng.choice(regs), setting_of(s), ctx.rng)
    if not need(items):
        return None
    p = quiet_meds(patient(ctx, s), [i.drug for i in items])
    return (items, p) if not problems(p, items) and dosed(p, items) == items else None


def _nice_amount(x: float) -> float:
    for step in (1000, 500, 250, 100, 50, 25, 5, 1):
        if x >= step * 2 or step == 1:
            return float(round(x / step) * step) or float(step)
    return x


def wrong_dose(ctx: Ctx, s: Syndrome) -> Built | None:
    case = _normal_case(ctx, s)
    if not case:
        return None
    items, p = case
    k = ctx.rng.randrange(len(items))
    it = items[k]
    if it.cap_mg_day is not None:  # a weight-based dose with a daily maximum: double may still be the maximum
        return None
    factor = ctx.rng.choice([0.5, 0.5, 2.0, 0.25])
    field_ = next(f for f in ("dose_mg_per_kg", "dose_units", "dose_mg") if getattr(it, f) is not None)
    bad = replace(it, **{field_: _nice_amount(getattr(it, field_) * factor)})
    if any(matches(replace(bad, days=None), replace(ri, duration_days_min=None)) for ri in guideline_items(s, it.drug)):
        return None  # the "wrong" dose is another guideline dose
    how = "too low" if getattr(bad, field_) < getattr(it, field_) else "too high"
    notes = {"dose": f"{display_name(it.drug)} {dose_text(bad)} is {how}; the guideline dose is {dose_text(it)} "
                     f"{freq_canonical(it.interval_h)}."}
    return Built("Modify", ["wrong_dose"], items[:k] + [bad] + items[k + 1:], items, p, notes)


_SLOWER = {4: (8, 12), 6: (12, 24, 8), 8: (12, 24), 12: (24, 8), 24: (12,)}


def wrong_frequency(ctx: Ctx, s: Syndrome) -> Built | None:
    case = _normal_case(ctx, s, need=lambda items: any(i.interval_h in _SLOWER for i in items))
    if not case:
        return None
    items, p = case
    k = ctx.rng.choice([n for n, i in enumerate(items) if i.interval_h in _SLOWER])
    it = items[k]
    if it.cap_mg_day is not None:
        return None
    bad = replace(it, interval_h=float(ctx.rng.choice(_SLOWER[int(it.interval_h)])))
    if any(matches(replace(bad, days=None), ri) for ri in guideline_items(s, it.drug)):
        return None
    how = "too infrequent" if bad.interval_h > it.interval_h else "too frequent"
    notes = {"dose": f"{display_name(it.drug)} {freq_canonical(bad.interval_h)} is {how}; give "
                     f"{dose_text(it)} {freq_canonical(it.interval_h)}."}
    return Built("Modify", ["wrong_frequency"], items[:k] + [bad] + items[k + 1:], items, p, notes)


def wrong_duration(ctx: Ctx, s: Syndrome) -> Built | None:
    case = _normal_case(ctx, s, need=lambda items: all(i.days is not None for i in items if i.interval_h))
    if not case or not any(i.days for i in case[0]):
        return None
    items, p = case
    ref = next((ri for ri in guideline_items(s, items[0].drug)
                if ri.duration_days_min is not None and matches(replace(items[0], days=None), ri)), None)
    if ref is None or not items[0].days:
        return None
    lo, hi = ref.duration_days_min, ref.duration_days_max or ref.duration_days_min
    longer = lo < 4 or ctx.rng.random() < 0.6
    days = float(hi + ctx.rng.choice([3, 5, 7, 9])) if longer else float(max(1, lo - ctx.rng.choice([2, 3])))
    if lo <= days <= hi:
        return None
    bad = [i.with_days(days) for i in items]
    span = f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"
    notes = {"duration": f"{days:g} days is too {'long' if longer else 'short'}; the guideline gives {span} days."}
    return Built("Modify", ["wrong_duration"], bad, items, p, notes)


def wrong_route(ctx: Ctx, s: Syndrome) -> Built | None:
    case = _normal_case(ctx, s)
    if not case:
        return None
    items, p = case
    setting = setting_of(s)
    for k, it in enumerate(items):
        other = "IV" if it.route == "PO" else "PO" if it.route == "IV" else None
        if it.cap_mg_day is not None:
            continue
        ex = {e.route: e for e in examples(it.drug)}
        if other is None or other not in ex or any(other in ri.route.split("/") for ri in guideline_items(s, it.drug)):
            continue
        if (other == "IV" and setting != "OPD") or (other == "PO" and setting == "OPD"):
            continue
        bad = replace(ex[other], days=it.days)
        why = "oral treatment is the guideline route for an outpatient" if other == "IV" else \
            "a sick inpatient needs the IV route"
        notes = {"dose": f"{display_name(it.drug)} {other} is the wrong route: {why}; give {dose_line([it])}."}
        return Built("Modify", ["wrong_route"], items[:k] + [bad] + items[k + 1:], items, p, notes)
    return None
