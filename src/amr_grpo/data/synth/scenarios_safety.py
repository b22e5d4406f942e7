"""Safety scenarios for synthetic cases: renal dose missed, a drug to avoid at this CrCl, allergy, pregnancy and
interaction conflicts. A conflict with a guideline drug of the syndrome calls for Modify (use the safe alternative);
a conflicting drug with no place in this infection (no regimen of the syndrome or its group) calls for Reject.
Try it: python -c "import random; from amr_grpo.data.synth.scenarios import Ctx; from amr_grpo.data.synth.scenarios_safety import *; from amr_grpo.guidelines import load_kb; print(allergy_modify(Ctx(random.Random(0)), load_kb().syndrome('animal bite')))"
"""

from __future__ import annotations

from dataclasses import replace

from amr_grpo.data.synth.dosing import renal_for
from amr_grpo.data.synth.phrasing import Item, display_name
from amr_grpo.data.synth.regimens import condition_kind, examples, items_of, usable
from amr_grpo.data.synth.scenarios import (Built, Ctx, _allergy_text, dose_line, dosed, first_safe, group_drugs, names,
                                           patient, pregnancy_blocks, pregnancy_possible, problems, quiet_meds,
                                           setting_of)
from amr_grpo.guidelines import Syndrome


def _plain_regimen(ctx: Ctx, s: Syndrome, first_only: bool = False) -> list[Item] | None:
    regs = [r for r, first in usable(s) if condition_kind(r) == "none" and (first or not first_only)]
    return items_of(ctx.rng.choice(regs), setting_of(s), ctx.rng) if regs else None


def _band_crcl(ctx: Ctx, band) -> float:
    lo = band.crcl_min if band.crcl_min is not None else 5.0
    hi = band.crcl_max if band.crcl_max is not None else 120.0
    return ctx.rng.uniform(lo + 1, max(lo + 1.5, hi - 2))


def renal_missed(ctx: Ctx, s: Syndrome) -> Built | None:
    items = _plain_regimen(ctx, s, first_only=True)
    if not items:
        return None
    bands = [(k, b) for k, it in enumerate(items) for b in ctx.kb.drug(it.drug).renal
             if b.action == "adjust" and (b.route is None or b.route == it.route)]
    ctx.rng.shuffle(bands)
    for k, band in bands:
        p = quiet_meds(patient(ctx, s, crcl=_band_crcl(ctx, band)), [i.drug for i in items])
        got, b = renal_for(items[k], p.crcl_ml_min)
        right = dosed(p, items)
        if b != band or got is None or right is None or right == items or problems(p, items):
            continue
        notes = {"dose": f"CrCl {p.crcl_ml_min:g} mL/min needs renal dosing: {dose_line(right)}."}
        return Built("Modify", ["renal_adjustment_missed"], items, right, p, notes)
    return None


def renal_avoid(ctx: Ctx, s: Syndrome) -> Built | None:
    items = _plain_regimen(ctx, s, first_only=True)
    if not items:
        return None
    for it in items:
        for band in ctx.kb.drug(it.drug).renal:
            if band.action != "avoid":
                continue
            p = quiet_meds(patient(ctx, s, crcl=_band_crcl(ctx, band)), [i.drug for i in items])
            if renal_for(it, p.crcl_ml_min)[1] != band:
                continue
            alt = first_safe(ctx, s, p, avoid={it.drug})
            if not alt:
                return None
            notes = {"regimen": f"{display_name(it.drug)} is to be avoided at CrCl {p.crcl_ml_min:g} mL/min; "
                                f"use {names(alt[0])}."}
            if alt[2]:
                notes["dose"] = f"Renal dosing: {dose_line(alt[0])}."
            return Built("Modify", ["renal_contraindicated"], items, alt[0], p, notes)
    return None


def allergy_modify(ctx: Ctx, s: Syndrome) -> Built | None:
    items = _plain_regimen(ctx, s, first_only=True)
    if not items:
        return None
    it = ctx.rng.choice(items)
    allergy = _allergy_text(ctx, it.drug)
    p = quiet_meds(patient(ctx, s, allergies=(allergy,)), [i.drug for i in items])
    alt = first_safe(ctx, s, p)
    if not alt or not ctx.kb.allergy_conflict(it.drug, p.allergies):
        return None
    notes = {"regimen": f"{display_name(it.drug)} conflicts with the {allergy} allergy; use {names(alt[0])}."}
    return Built("Modify", ["allergy_conflict"], items, alt[0], p, notes)


def _outsider(ctx: Ctx, s: Syndrome, ok) -> Item | None:
    """A drug with no place in this infection (no regimen of the syndrome or its group uses it), in the setting's
    usual route, for which ok(drug) holds."""
    route = "PO" if setting_of(s) == "OPD" else "IV"
    keys = sorted(d.key for d in ctx.kb.drugs if d.key not in group_drugs(s) and ok(d.key))
    ctx.rng.shuffle(keys)
    for key in keys:
        ex = [e for e in examples(key) if e.route == route]
        if ex:
            return replace(ex[0], days=float(ctx.rng.choice([5, 7, 10])))
    return None


def allergy_reject(ctx: Ctx, s: Syndrome) -> Built | None:
    if s.no_antibiotic:
        return None
    first = _plain_regimen(ctx, s, first_only=True)
    if not first:
        return None
    groups = sorted({g for i in first for g in ctx.kb.drug(i.drug).allergy_groups})
    bad = _outsider(ctx, s, lambda k: bool(ctx.kb.drug(k).allergy_groups)
                    and not set(ctx.kb.drug(k).allergy_groups) & set(groups))
    if bad is None:
        return None
    allergy = _allergy_text(ctx, bad.drug)
    p = quiet_meds(patient(ctx, s, allergies=(allergy,)), [bad.drug, *(i.drug for i in first)])
    alt = first_safe(ctx, s, p)
    if not alt or not ctx.kb.allergy_conflict(bad.drug, p.allergies):
        return None
    notes = {"regimen": f"{display_name(bad.drug)} is not a guideline choice here and conflicts with the "
                        f"{allergy} allergy; use {names(alt[0])}."}
    return Built("Reject", ["allergy_conflict"], [bad], alt[0], p, notes)


def effect_of(ctx: Ctx, drug: str, medicine: str) -> str:
    """The interaction's effect as the knowledge base states it for this medicine, without its final period."""
    return ctx.kb.interactions(drug, [medicine])[0].effect.rstrip(". ")


def _weeks_for(ctx: Ctx, drug: str) -> float | None:
    for weeks in ctx.rng.sample([7.0, 10.0, 12.0, 20.0, 26.0, 30.0, 37.0, 38.0, 39.0], 9):
        if pregnancy_blocks(drug, weeks):
            return weeks
    return None


def pregnancy_modify(ctx: Ctx, s: Syndrome) -> Built | None:
    if not pregnancy_possible(s):
        return None
    for reg, first in usable(s):
        if condition_kind(reg) != "none" or not first:
            continue
        items = items_of(reg, setting_of(s), ctx.rng)
        for it in items:
            weeks = _weeks_for(ctx, it.drug)
            if weeks is None:
                continue
            p = quiet_meds(patient(ctx, s, pregnant_weeks=weeks), [i.drug for i in items])
            alt = first_safe(ctx, s, p)
            if not alt:
                return None
            notes = {"regimen": f"{display_name(it.drug)} is to be avoided at {weeks:g} weeks of pregnancy; "
                                f"use {names(alt[0])}."}
            return Built("Modify", ["pregnancy_contraindicated"], items, alt[0], p, notes)
    return None


def pregnancy_reject(ctx: Ctx, s: Syndrome) -> Built | None:
    if s.no_antibiotic or not pregnancy_possible(s):
        return None
    bad = _outsider(ctx, s, lambda k: _weeks_for(ctx, k) is not None)
    if bad is None:
        return None
    weeks = _weeks_for(ctx, bad.drug)
    p = quiet_meds(patient(ctx, s, pregnant_weeks=weeks), [bad.drug])
    alt = first_safe(ctx, s, p)
    if not alt:
        return None
    notes = {"regimen": f"{display_name(bad.drug)} has no place in this regimen and is to be avoided at {weeks:g} "
                        f"weeks of pregnancy; use {names(alt[0])}."}
    return Built("Reject", ["pregnancy_contraindicated"], [bad], alt[0], p, notes)


def _medicine_for(ctx: Ctx, drug: str) -> str | None:
    """A concrete current medicine with an 'avoid' interaction with this drug."""
    classes = ctx.kb.raw.medicine_classes
    found = []
    for it in ctx.kb.drug(drug).interactions:
        if it.action != "avoid":
            continue
        for term in it.with_drugs:
            for med in classes.get(term, ()):
                if " " not in med and len(med) > 4 and med not in classes and ctx.kb.interactions(drug, [med]):
                    found.append(med)
    return ctx.rng.choice(sorted(set(found))) if found else None


def interaction_modify(ctx: Ctx, s: Syndrome) -> Built | None:
    items = _plain_regimen(ctx, s, first_only=True)
    if not items:
        return None
    for it in items:
        med = _medicine_for(ctx, it.drug)
        if med is None:
            continue
        p = quiet_meds(patient(ctx, s, medicines=(med,)), [i.drug for i in items], keep=(med,))
        alt = first_safe(ctx, s, p, avoid={it.drug})
        if not alt:
            return None
        notes = {"regimen": f"{display_name(it.drug)} with {med}: {effect_of(ctx, it.drug, med)}; use "
                            f"{names(alt[0])}."}
        return Built("Modify", ["interaction"], items, alt[0], p, notes)
    return None


def interaction_reject(ctx: Ctx, s: Syndrome) -> Built | None:
    if s.no_antibiotic:
        return None
    bad = _outsider(ctx, s, lambda k: _medicine_for(ctx, k) is not None)
    if bad is None:
        return None
    med = _medicine_for(ctx, bad.drug)
    p = quiet_meds(patient(ctx, s, medicines=(med,)), [bad.drug], keep=(med,))
    alt = first_safe(ctx, s, p)
    if not alt:
        return None
    notes = {"regimen": f"{display_name(bad.drug)} has no place here, and with {med}: "
                        f"{effect_of(ctx, bad.drug, med)}; use {names(alt[0])}."}
    return Built("Reject", ["interaction"], [bad], alt[0], p, notes)
