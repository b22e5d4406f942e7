"""Stewardship scenarios for synthetic cases: no antibiotic indicated, a Reserve drug given empirically, a drug
or regimen wrong for the syndrome or setting, an add-on the guideline says not to give, surgical prophylaxis
prolonged past closure, de-escalation due on day 3 (narrowed to a regimen the guideline gives for the same
infection, so the spectrum the infection needs is kept: anaerobes for intra-abdominal infection, oral vancomycin
for C. difficile).
Try it: python -c "import random; from amr_grpo.data.synth.scenarios import Ctx; from amr_grpo.data.synth.scenarios_stewardship import *; from amr_grpo.guidelines import load_kb; print(no_antibiotic(Ctx(random.Random(0)), load_kb().syndrome('viral URTI')))"
"""

from __future__ import annotations

import re
from dataclasses import replace

from amr_grpo.data.synth.patients import profile_for
from amr_grpo.data.synth.phrasing import Item, display_name
from amr_grpo.data.synth.regimens import condition_kind, examples, items_of, syndrome_drugs, usable
from amr_grpo.data.synth.scenarios import (BROAD, MISUSED_IV, MISUSED_PO, Built, Ctx, brief, decision_for, first_safe,
                                           group_drugs, names, patient, problems, quiet_meds, setting_of)
from amr_grpo.guidelines import Regimen, Syndrome

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
    keys = sorted(d.key for d in ctx.kb.drugs if d.key not in group_drugs(s) and d.aware_for(route) == "Reserve")
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


ADD_ON = re.compile(r"^\s*(?:do\s+not\s+add|add)\b", re.I)  # "Do not add metronidazole", "Add a glycopeptide only"


def rule_drugs(ctx: Ctx, names_: tuple[str, ...]) -> list[str]:
    return sorted({k for d in names_ for k in ({d} if ctx.kb.drug(d) else ctx.kb.drugs_in_class(d)) if ctx.kb.drug(k)})


def wrong_drug_for_setting(ctx: Ctx, s: Syndrome) -> Built | None:
    """A drug the syndrome's do-not-use rules name, given as the treatment (Reject: it has no place in this
    infection), else the regimen of another setting of the same infection (Modify)."""
    if s.no_antibiotic:
        return None
    route = "PO" if setting_of(s) == "OPD" else "IV"
    rules = [(r, k) for r in s.do_not_use if not ADD_ON.search(r.reason) for k in rule_drugs(ctx, r.drugs)]
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
        return Built(decision_for(s, [bad.drug]), ["wrong_drug_for_setting"], [bad], alt[0], p, notes)
    return _sibling(ctx, s)


def unneeded_addon(ctx: Ctx, s: Syndrome) -> Built | None:
    """A right regimen plus a drug the guideline says not to add here ("do not add metronidazole to a BL/BLI",
    "add a glycopeptide only for ..."): Modify, drop the add-on."""
    rules = [(r, k) for r in s.do_not_use if ADD_ON.search(r.reason) for k in rule_drugs(ctx, r.drugs)]
    if s.no_antibiotic or not rules:
        return None
    rule, key = ctx.rng.choice(rules)
    route = "PO" if setting_of(s) == "OPD" else "IV"
    ex = [e for e in examples(key) if e.route == route]
    regs = [r for r, first in usable(s)
            if first and condition_kind(r) == "none" and key not in {i.drug for i in r.items}]
    if not ex or not regs:
        return None
    right = items_of(ctx.rng.choice(regs), setting_of(s), ctx.rng)
    extra = replace(ex[0], days=right[0].days)
    p = quiet_meds(patient(ctx, s), [i.drug for i in right + [extra]])
    if problems(p, right + [extra]) or any(i.drug in ctx.kb.drugs_in_class(ctx.kb.drug(key).drug_class)
                                           for i in right):
        return None
    why = rule.reason.split(";")[0].rstrip(". ")
    notes = {"regimen": f"{names(right)} is right; stop {display_name(key)}: {why[0].lower() + why[1:]}."}
    return Built("Modify", ["unneeded_addon"], right + [extra], right, p, notes)


def _sibling(ctx: Ctx, s: Syndrome) -> Built | None:
    risk = profile_for(f"{s.key} {s.name}").conditions  # a sibling differs in setting, not in the risk it names
    siblings = [x for x in ctx.kb.group_members(s.group) if s.group and x.key != s.key and not x.no_antibiotic
                and setting_of(x) != setting_of(s) and x.first_line
                and profile_for(f"{x.key} {x.name}").conditions == risk]
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
    return Built(decision_for(s, [i.drug for i in bad]), ["wrong_drug_for_setting"], bad, alt[0], p, notes)


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


# ---- de-escalation -------------------------------------------------------------------------------------------
# where the day-3 culture comes from and what grows, by words of the syndrome's key and name (first match); a
# syndrome not listed has no de-escalation case rather than an implausible culture
CULTURES = [
    (re.compile(r"\b(?:hap|vap)\b|hospital[- ]acquired pneumonia|ventilator", re.I),
     "endotracheal aspirate culture", "Klebsiella pneumoniae"),
    (re.compile(r"meningitis", re.I), "CSF culture", "Streptococcus pneumoniae"),
    (re.compile(r"pneumonia|\bcap\b", re.I), "blood culture", "Streptococcus pneumoniae"),
    (re.compile(r"\bcystitis|pyelonephritis|\bcauti\b|\buti\b|urosepsis", re.I), "urine culture", "Escherichia coli"),
    (re.compile(r"peritonitis|appendic|divertic", re.I), "peritoneal fluid culture", "Escherichia coli"),
    (re.compile(r"cholecyst|cholang|biliary", re.I), "blood and bile cultures", "Escherichia coli"),
    (re.compile(r"fasciitis", re.I), "tissue culture", "Escherichia coli with Bacteroides fragilis"),
    (re.compile(r"cellulitis|diabetic foot|\bdfi\b|skin", re.I), "tissue culture",
     "methicillin-susceptible Staphylococcus aureus (MSSA)"),
    (re.compile(r"neutropeni|sepsis|septic", re.I), "blood cultures", "Escherichia coli"),
]
ANAEROBE_ONLY = ("nitroimidazole", "lincosamide")  # not named in a susceptibility report of an aerobic isolate
GRAM_NEGATIVE = re.compile(r"escherichia|klebsiella|enterobacter|pseudomonas|acinetobacter", re.I)
_RANK = {"Access": 1.0, "Watch": 2.0, "Reserve": 4.0}
ANTIPSEUDOMONAL = ("piperacillin-tazobactam", "cefoperazone-sulbactam", "ceftazidime", "cefepime")


def _rank(ctx: Ctx, reg_items: list[Item]) -> float:
    """The widest spectrum in a regimen: Access 1, Watch 2, anti-pseudomonal beta-lactam 2.5, carbapenem 3,
    Reserve 4."""
    def one(i: Item) -> float:
        d = ctx.kb.drug(i.drug)
        group = d.aware_for(i.route)
        if group != "Reserve" and d.drug_class == "carbapenem":
            return 3.0
        return 2.5 if d.key in ANTIPSEUDOMONAL else _RANK[group]
    return max(one(i) for i in reg_items)


def _broad(ctx: Ctx, it: Item) -> bool:
    return ctx.kb.drug(it.drug).drug_class in BROAD and it.route == "IV"


def _targets(ctx: Ctx, s: Syndrome) -> list[Regimen]:
    """Regimens a day-3 culture may narrow to: those of this syndrome, then of its group, without a condition."""
    members = [s] + [m for m in ctx.kb.group_members(s.group) if s.group and m.key != s.key]
    return [r for m in members for r, first in usable(m) if condition_kind(r) == "none"]


def deescalation_due(ctx: Ctx, s: Syndrome) -> Built | None:
    """Day 3 of a broad empiric regimen: the culture names an organism susceptible to a narrower regimen that the
    guideline gives for this infection (its IV add-ons for MRSA/CRO stopped, a carbapenem narrowed)."""
    culture = next(((where, org) for rx, where, org in CULTURES if rx.search(f"{s.key} {s.name}".replace("_", " "))),
                   None)
    if culture is None or s.no_antibiotic:
        return None
    for reg, _ in usable(s):
        start = items_of(reg, setting_of(s), ctx.rng)
        if not any(_broad(ctx, i) for i in start) and _rank(ctx, start) < 3:
            continue
        keep = [i for i in start if not _broad(ctx, i)]
        options = []
        for target in _targets(ctx, s):
            cand = items_of(target, setting_of(s), ctx.rng, t=0.5)
            drugs = {i.drug for i in cand}
            oral = any(i.route != "IV" for i in cand) != any(i.route != "IV" for i in start)
            single = any(i.interval_h == 0 for i in cand) and not any(i.interval_h == 0 for i in start)
            if any(_broad(ctx, i) for i in cand) or oral or single:
                continue
            narrower = _rank(ctx, cand) < _rank(ctx, start) or (keep and drugs == {i.drug for i in keep})
            if narrower and drugs != {i.drug for i in start}:
                options.append((_rank(ctx, cand), len(cand), cand))
        if not options:
            continue
        right = min(options, key=lambda o: o[:2])[2]
        where, organism = culture
        named = [display_name(i.drug).lower() for i in right if ctx.kb.drug(i.drug).drug_class not in ANAEROBE_ONLY]
        notes_ = [f"{organism} susceptible to {' and '.join(named)}"]
        if any(ctx.kb.drug(i.drug).drug_class in ("glycopeptide", "oxazolidinone") for i in start if _broad(ctx, i)) \
                and "aureus" not in organism:
            notes_.append("no MRSA")
        if GRAM_NEGATIVE.search(organism) and (any(ctx.kb.drug(i.drug).drug_class == "polymyxin" for i in start)
                                                or _rank(ctx, start) >= 3):
            notes_.append("not carbapenem-resistant" if any(ctx.kb.drug(i.drug).drug_class == "carbapenem"
                                                            for i in right) else "ESBL-negative")
        cultures = f"day 3: {where} grew " + "; ".join(notes_)
        p = quiet_meds(patient(ctx, s, cultures=cultures), [i.drug for i in start + right])
        if problems(p, start + right):
            return None
        notes = {"regimen": f"The empiric {names(start)} was right; on day 3 the {where} grew {organism}: narrow to "
                            f"{names(right)}.",
                 "stewardship": "De-escalate on culture results at 48-72 h (G5)."}
        return Built("Modify", ["deescalation_due"], start, right, p, notes, day=3)
    return None
