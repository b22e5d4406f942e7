"""Stewardship scenarios for synthetic cases: no antibiotic indicated, a Reserve drug given empirically, a drug
or regimen wrong for the syndrome or setting, surgical prophylaxis prolonged past closure, de-escalation due.
Try it: python -c "import random; from amr_grpo.data.scenarios import Ctx; from amr_grpo.data.scenarios_stewardship import *; from amr_grpo.guidelines import load_kb; print(no_antibiotic(Ctx(random.Random(0)), load_kb().syndrome('viral URTI')))"
"""

from __future__ import annotations

from dataclasses import replace

from amr_grpo.data.phrasing import display_name
from amr_grpo.data.regimens import condition_kind, examples, items_of, syndrome_drugs, usable
from amr_grpo.data.scenarios import (BROAD, MISUSED_IV, MISUSED_PO, Built, Ctx, brief, first_safe, names, patient,
                                     problems, quiet_meds, setting_of)
from amr_grpo.guidelines import Syndrome

# supportive care for syndromes where no antibiotic is indicated (matched on words of the key or name)
SUPPORTIVE = [
    (("diarrhoea", "diarrhea"), "oral rehydration solution and zinc"),
    (("urti", "cold", "laryngitis"), "fluids, rest and paracetamol"),
    (("bronchitis", "bronchiolitis"), "fluids, paracetamol and review if breathless"),
    (("pharyngitis",), "analgesia, warm saline gargles and review if worse"),
    (("sinusitis",), "saline nasal irrigation and analgesia"),
    (("otitis", "aom"), "analgesia and review in 48-72 h"),
    (("aufi", "febrile"), "paracetamol, fluids and tests on day 3-4 if fever persists"),
    (("surgery", "wound"), "aseptic technique and wound care"),
]


def supportive_care(s: Syndrome) -> str:
    text = f"{s.key} {s.name}".lower()
    return next((care for words, care in SUPPORTIVE if any(w in text for w in words)), "symptomatic care and review")


def no_antibiotic(ctx: Ctx, s: Syndrome) -> Built | None:
    if not s.no_antibiotic:
        return None
    pool = MISUSED_IV if s.setting not in ("OPD", "ward", "ICU") else MISUSED_PO
    dnu = sorted(d for rule in s.do_not_use for d in rule.drugs if ctx.kb.drug(d))  # named misuse first
    route = "IV" if pool is MISUSED_IV else "PO"
    options = [e for d in (*dnu, *pool) for e in examples(d) if e.route == route]
    if not options:
        return None
    bad = replace(ctx.rng.choice(options), days=float(ctx.rng.choice([3, 5, 5, 7])))
    p = quiet_meds(patient(ctx, s), [bad.drug])
    if problems(p, [bad]):
        return None
    what = s.name.split(" (")[0].lower()
    notes = {"regimen": f"No antibiotic is indicated for {what}; stop {display_name(bad.drug)}.",
             "dose": "No antibiotic dose applies.", "duration": "No antibiotic course is needed."}
    return Built("Reject", ["no_antibiotic_indicated"], [bad], None, p, notes, supportive=supportive_care(s))


def reserve_empiric(ctx: Ctx, s: Syndrome) -> Built | None:
    if s.no_antibiotic:
        return None
    route = "PO" if setting_of(s) == "OPD" else "IV"
    keys = sorted(d.key for d in ctx.kb.drugs if d.key not in syndrome_drugs(s) and d.aware_for(route) == "Reserve")
    options = [replace(e, days=float(ctx.rng.choice([5, 7, 10]))) for k in keys for e in examples(k)
               if e.route == route]
    if not options:
        return None
    bad = ctx.rng.choice(options)
    p = quiet_meds(patient(ctx, s, cultures="sent, report awaited" if route == "IV" else None), [bad.drug])
    alt = first_safe(ctx, s, p)
    if not alt or problems(p, [bad]):
        return None
    notes = {"regimen": f"{display_name(bad.drug)} is a Reserve antibiotic, not for empiric use without a resistant "
                        f"isolate; use {names(alt[0])}."}
    return Built("Reject", ["reserve_empiric"], [bad], alt[0], p, notes)


def wrong_drug_for_setting(ctx: Ctx, s: Syndrome) -> Built | None:
    """A drug the syndrome's do-not-use rules name (their decision), else the regimen of a sibling setting."""
    if s.no_antibiotic:
        return None
    route = "PO" if setting_of(s) == "OPD" else "IV"
    rules = [(r, k) for r in s.do_not_use for d in r.drugs
             for k in sorted({d} if ctx.kb.drug(d) else ctx.kb.drugs_in_class(d)) if ctx.kb.drug(k)]
    ctx.rng.shuffle(rules)
    for rule, key in rules:
        ex = [e for e in examples(key) if e.route == route] or list(examples(key))
        if not ex:
            continue
        bad = replace(ex[0], days=float(ctx.rng.choice([5, 7])))
        p = quiet_meds(patient(ctx, s), [bad.drug])
        alt = first_safe(ctx, s, p)
        if not alt or problems(p, [bad]):
            continue
        notes = {"regimen": f"{display_name(key)} is not advised ({brief(rule.reason)}); use {names(alt[0])}."}
        return Built(rule.decision, ["wrong_drug_for_setting"], [bad], alt[0], p, notes)
    return _sibling(ctx, s)


def _sibling(ctx: Ctx, s: Syndrome) -> Built | None:
    siblings = [x for x in ctx.kb.group_members(s.group) if s.group and x.key != s.key and not x.no_antibiotic
                and setting_of(x) != setting_of(s) and x.first_line]
    if not siblings:
        return None
    other = ctx.rng.choice(siblings)
    reg = other.first_line[0]
    if condition_kind(reg) != "none" or any(i.drug in syndrome_drugs(s) for i in reg.items):
        return None
    bad = items_of(reg, setting_of(other), ctx.rng)
    p = quiet_meds(patient(ctx, s), [i.drug for i in bad])
    alt = first_safe(ctx, s, p)
    if not alt or problems(p, bad):
        return None
    notes = {"regimen": f"{names(bad)} is the regimen for {other.name.lower()}, not for this "
                        f"{setting_of(s)} patient; use {names(alt[0])}."}
    return Built("Modify", ["wrong_drug_for_setting"], bad, alt[0], p, notes)


def prolonged_prophylaxis(ctx: Ctx, s: Syndrome) -> Built | None:
    regs = [r for r, first in usable(s) if first and all(i.interval_h == 0 for i in r.items)]
    if s.no_antibiotic or not regs or "prophyla" not in f"{s.key} {s.name}".lower():
        return None
    right = items_of(regs[0], "ward", ctx.rng)
    bad = [replace(ex[0], days=float(ctx.rng.choice([3, 5, 7])))
           for ex in (examples(i.drug) for i in right) if ex]
    if len(bad) != len(right):
        return None
    p = quiet_meds(patient(ctx, s), [i.drug for i in right])
    if problems(p, right):
        return None
    notes = {"regimen": f"{names(right)} is the right agent, as a single dose within 1 h before incision.",
             "duration": f"{bad[0].days:g} days after surgery is prolonged; prophylaxis stops at wound closure."}
    return Built("Modify", ["prolonged_prophylaxis"], bad, right, p, notes)


def deescalation_due(ctx: Ctx, s: Syndrome) -> Built | None:
    """Day 3 of a broad regimen with cultures that show no MRSA/CRO (drop the glycopeptide/polymyxin) or a
    susceptible organism (narrow a carbapenem to ceftriaxone)."""
    for reg, _ in usable(s):
        items = items_of(reg, setting_of(s), ctx.rng)
        broad = [i for i in items if ctx.kb.drug(i.drug).drug_class in BROAD]
        carb = [i for i in items if ctx.kb.drug(i.drug).drug_class == "carbapenem"]
        if broad and len(broad) < len(items):
            keep = [i for i in items if i not in broad]
            cultures = "day 3: blood cultures grew E. coli, ESBL-negative; no MRSA or carbapenem-resistant organism"
            why = f"stop {names(broad)}: no MRSA or CRO was found"
        elif carb and len(items) == 1:
            ceftriaxone = [e for e in examples("ceftriaxone") if e.route == "IV"]
            if not ceftriaxone:
                continue
            keep = [replace(ceftriaxone[0], days=items[0].days)]
            cultures = "day 3: blood cultures grew E. coli sensitive to ceftriaxone (ESBL-negative)"
            why = f"narrow {names(carb)} to ceftriaxone on the susceptibility report"
        else:
            continue
        p = quiet_meds(patient(ctx, s, cultures=cultures), [i.drug for i in items + keep])
        if problems(p, items + keep):
            return None
        notes = {"regimen": f"The empiric regimen was right; on day 3 {why}.",
                 "stewardship": "De-escalate on culture results at 48-72 h (G5)."}
        return Built("Modify", ["deescalation_due"], items, keep, p, notes, day=3)
    return None
