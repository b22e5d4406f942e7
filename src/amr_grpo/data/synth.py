"""`amr-grpo synth`: synthetic prescription-validation cases generated from the guideline knowledge base.

Every syndrome entry is covered; decisions come in fixed proportions (35% Approve, 40% Modify, 25% Reject) and each
decision's scenarios take turns (scenarios*.py). Each case: a patient profile, diagnosis and setting, the
prescription in clinician phrasing, the ground truth (decision, issue codes, recommended regimen, citation, the
risk-factor flags) and a short reference validation in the policy format (prompts.format_validation).
Only `random.Random(seed)` is used and everything is iterated in sorted order, so a seed gives a byte-identical file.
Synthetic data for research, not for clinical use.
Try it: amr-grpo synth -n 600 --seed 0 -o data/cases.jsonl
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

from amr_grpo.data import scenarios_safety as safety
from amr_grpo.data import scenarios_stewardship as stewardship
from amr_grpo.data.phrasing import Item, canonical_text, clinician_text, display_name
from amr_grpo.data.prompts import STEP_TITLES, format_validation
from amr_grpo.data.regimens import syndrome_drugs
from amr_grpo.data.scenarios import (Built, Ctx, approve, brief, dose_line, names, pregnancy_blocks, wrong_dose,
                                     wrong_duration, wrong_frequency, wrong_route)
from amr_grpo.errors import UserError
from amr_grpo.guidelines import Syndrome
from amr_grpo.records import Patient

SHARES = {"Approve": 0.35, "Modify": 0.40, "Reject": 0.25}
# scenario -> (decision, builder, weight within its decision)
SCENARIOS = {
    "approve": ("Approve", approve, 1),
    "wrong_dose": ("Modify", wrong_dose, 2),
    "wrong_frequency": ("Modify", wrong_frequency, 2),
    "wrong_duration": ("Modify", wrong_duration, 2),
    "wrong_route": ("Modify", wrong_route, 1),
    "renal_adjustment_missed": ("Modify", safety.renal_missed, 2),
    "renal_contraindicated": ("Modify", safety.renal_avoid, 1),
    "allergy_modify": ("Modify", safety.allergy_modify, 2),
    "pregnancy_modify": ("Modify", safety.pregnancy_modify, 1),
    "interaction_modify": ("Modify", safety.interaction_modify, 1),
    "wrong_drug_for_setting": ("Modify", stewardship.wrong_drug_for_setting, 2),
    "prolonged_prophylaxis": ("Modify", stewardship.prolonged_prophylaxis, 1),
    "deescalation_due": ("Modify", stewardship.deescalation_due, 1),
    "no_antibiotic_indicated": ("Reject", stewardship.no_antibiotic, 4),
    "reserve_empiric": ("Reject", stewardship.reserve_empiric, 2),
    "pregnancy_reject": ("Reject", safety.pregnancy_reject, 1),
    "allergy_reject": ("Reject", safety.allergy_reject, 1),
    "interaction_reject": ("Reject", safety.interaction_reject, 1),
    "wrong_drug_reject": ("Reject", stewardship.wrong_drug_for_setting, 1),
}
PATHOGENS = [
    (("hap", "vap", "hospital-acquired pneumonia"), "hospital Gram-negatives incl. Pseudomonas and Acinetobacter"),
    (("pneumonia", "cap_", "copd"), "pneumococcus, H. influenzae and atypicals"),
    (("cystitis", "pyelo", "cauti", "uti"), "E. coli and other Enterobacterales"),
    (("mrsa",), "MRSA"), (("cellulitis", "fasciitis"), "streptococci and S. aureus"),
    (("bite",), "Pasteurella, streptococci and anaerobes"), (("diabetic foot", "dfi"), "staphylococci, streptococci "
                                                                                        "and Gram-negatives"),
    (("meningitis",), "pneumococcus, meningococcus (Listeria if older)"),
    (("enteric", "typhoid"), "Salmonella Typhi/Paratyphi"), (("cholera",), "Vibrio cholerae"),
    (("difficile",), "Clostridioides difficile"), (("diarrhoea", "diarrhea"), "mostly viral or toxin-mediated"),
    (("peritonitis", "appendic", "cholecyst", "divertic"), "Enterobacterales and anaerobes"),
    (("amoebic",), "Entamoeba histolytica"), (("neutropeni",), "Gram-negatives incl. Pseudomonas"),
    (("sepsis", "septic"), "Gram-negative bacilli and S. aureus"), (("pharyngitis",), "group A streptococcus"),
    (("urti", "bronchitis", "sinusitis", "otitis", "aom", "aufi"), "mostly viruses"),
    (("scrub",), "Orientia tsutsugamushi"), (("epididymo",), "N. gonorrhoeae/chlamydia or enteric organisms"),
    (("colorectal",), "skin and bowel flora"), (("prophyla", "surgery"), "skin flora"),
]
SETTINGS = {"OPD": ["OPD", "Outpatient clinic", "OPD"], "ward": ["Ward", "Medical ward", "Inpatient ward"],
            "ICU": ["ICU", "Medical ICU"]}


def pathogens(s: Syndrome) -> str:
    text = f"{s.key} {s.name}".lower()
    return next((p for words, p in PATHOGENS if any(w in text for w in words)), "the usual organisms of this syndrome")


def _diagnosis(ctx: Ctx, s: Syndrome, b: Built) -> str:
    options = [s.name] + [x for x in s.synonyms if len(x) > 4 and (ctx.kb.syndrome(x, s.setting) or s).key == s.key]
    text = s.name if ctx.rng.random() < 0.6 else ctx.rng.choice(options)
    if b.condition:
        text += f"; {b.condition}"
    if b.day:
        text += f" (day {b.day} of empiric therapy)"
    return text


def _setting(ctx: Ctx, s: Syndrome) -> str:
    return ctx.rng.choice(SETTINGS[s.setting]) if s.setting in SETTINGS else s.setting


def safety_text(ctx: Ctx, p: Patient, drugs: list[str]) -> str:
    crcl = p.crcl_ml_min
    parts = [f"CrCl {crcl:g} mL/min, {'renal impairment' if crcl < 60 else 'normal'}"]
    parts.append("allergy: " + ", ".join(p.allergies) if p.allergies else "no allergies")
    if p.pregnant:
        parts.append(f"pregnant, {p.gestation_weeks:g} weeks")
    hits = sorted({f"{d} with {m}" for d in drugs for m in p.current_medicines if ctx.kb.interactions(d, [m])})
    parts.append("interaction: " + ", ".join(hits) if hits else "no interactions")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def flags(ctx: Ctx, p: Patient, drugs: list[str]) -> list[str]:
    out = []
    if p.allergies:
        out.append("allergy")
    if any(ctx.kb.interactions(d, p.current_medicines) for d in drugs):
        out.append("interaction")
    if p.pregnant:
        out.append("pregnancy")
    if p.crcl_ml_min is not None and p.crcl_ml_min < 60:
        out.append("renal_impairment")
    return out


_STEWARD = re.compile(r"cultur|stop|de-?escalat|review|source control|short course|rehydrat|remove|debridement|"
                      r"before incision|rabies|without waiting|widal|no antibiotic|torsion|defervescence", re.I)


def _stewardship(s: Syndrome, b: Built) -> str:
    if "stewardship" in b.notes:
        return b.notes["stewardship"]
    for point in (brief(k.replace(" (GK)", ""), 14) for k in s.key_points):
        if _STEWARD.search(point) and not re.search(r"PDF|GK|extracted|%|calls for", point):
            return point + "."
    return "Send cultures before the first dose and review at 48-72 h." if s.setting != "OPD" else \
        "Review at 48-72 h and stop at the end of the course."


def _same(a: list[Item] | None, b: list[Item] | None) -> bool:
    strip = (lambda xs: [(i.drug, i.route, i.interval_h, i.dose_mg, i.dose_mg_per_kg, i.dose_units) for i in xs])
    return a is not None and b is not None and strip(a) == strip(b)


RENAL_TABLE = "Table 14.1"  # ICMR 2019 renal dose modification table


def citation(ctx: Ctx, s: Syndrome, b: Built) -> str:
    """The reference line: the syndrome's source, then the ICMR 2019 Table 14.1 rows the renal reasoning rests on.

    A general-knowledge (GK) syndrome row names no guideline: it is cited as what it is ("General clinical knowledge,
    not verified against a source"), without the row's notes on where the knowledge base looked. The Table 14.1 rows:
    the band (other than no change) of every recommended drug given over days at the patient's CrCl, and of a
    prescribed drug the reference avoids for renal function."""
    parts = {(s.source.guideline if s.source.confidence == "GK" else s.citation): None}
    crcl = b.patient.crcl_ml_min
    items = list(b.recommended or [])
    if "renal_contraindicated" in b.issues:
        items += b.prescribed
    for it in (i for i in items if i.interval_h != 0):  # a single dose is not renally dosed
        band = ctx.kb.renal_band(it.drug, crcl, it.route) if crcl is not None else None
        if band and band.action != "no_change" and (band.source.section or "").startswith(RENAL_TABLE):
            parts.setdefault(band.source.cite(), None)
    return "; ".join(parts)


def reference_text(ctx: Ctx, s: Syndrome, b: Built, diagnosis: str, setting: str, cite: str) -> tuple[str, str]:
    """(reference validation, recommended regimen text)."""
    p, rec = b.patient, b.recommended
    who = f"{p.age:g}-year-old " + ("pregnant woman" if p.pregnant else "man" if p.sex == "M" else "woman")
    link = "for" if "prophyla" in diagnosis.lower() else "with"
    if rec is None:
        dose, duration = "No antibiotic dose applies.", "No antibiotic course is needed."
    else:
        dose = f"{dose_line(rec)} is correct." if _same(b.prescribed, rec) else f"Give {dose_line(rec)}."
        days = sorted({i.days for i in rec if i.days})
        duration = ("A single dose is the full course." if all(i.interval_h == 0 for i in rec) else
                    f"{days[0]:g} days is the guideline duration." if len(days) == 1 else
                    ", ".join(f"{display_name(i.drug)} {i.days:g} days" for i in rec if i.days) + " as per guideline."
                    if days else "Duration follows the clinical response and source control.")
    texts = {
        "Clinical picture": f"{who} {link} {diagnosis[0].lower() + diagnosis[1:]}.",
        "Pathogen and setting": f"{setting}; likely {pathogens(s)}.",
        "Regimen choice": b.notes.get("regimen", f"{names(rec)} is the guideline choice." if rec else ""),
        "Dose route frequency": b.notes.get("dose", dose),
        "Duration": b.notes.get("duration", duration),
        "Patient factors and safety": safety_text(ctx, p, [i.drug for i in b.prescribed + (rec or [])]),
        "Stewardship": _stewardship(s, b),
    }
    regimen = canonical_text(rec) if rec else f"No antibiotic; {b.supportive}"
    steps = [(t, texts[t]) for t in STEP_TITLES]
    return format_validation(steps, b.decision, regimen, cite), regimen


def _prescription(ctx: Ctx, s: Syndrome, b: Built) -> str:
    text = clinician_text(b.prescribed, ctx.rng)
    if all(i.interval_h == 0 for i in b.prescribed) and "prophyla" in s.key and ctx.rng.random() < 0.5:
        text += " pre-incision"
    elif b.issues == ["prolonged_prophylaxis"]:
        text += " post-op"
    return text


def all_issues(ctx: Ctx, s: Syndrome, b: Built) -> list[str]:
    """The scenario's issue codes, then any other safety or Reserve problem the prescription also has."""
    p, found = b.patient, list(b.issues)
    for it in b.prescribed:
        extra = []
        if ctx.kb.allergy_conflict(it.drug, p.allergies):
            extra.append("allergy_conflict")
        if p.pregnant and pregnancy_blocks(it.drug, p.gestation_weeks):
            extra.append("pregnancy_contraindicated")
        if ctx.kb.interactions(it.drug, p.current_medicines):
            extra.append("interaction")
        if it.drug not in syndrome_drugs(s) and ctx.kb.drug(it.drug).aware_for(it.route) == "Reserve" \
                and b.decision != "Approve":
            extra.append("reserve_empiric")
        found += [x for x in extra if x not in found]
    return found


def to_record(ctx: Ctx, case_id: str, s: Syndrome, b: Built) -> dict[str, Any]:
    diagnosis, setting = _diagnosis(ctx, s, b), _setting(ctx, s)
    prescription = _prescription(ctx, s, b)
    cite = citation(ctx, s, b)
    reference, regimen = reference_text(ctx, s, b, diagnosis, setting, cite)
    drugs = [i.drug for i in b.prescribed + (b.recommended or [])]
    return {
        "id": case_id,
        "patient": b.patient.to_dict(),
        "diagnosis": diagnosis,
        "setting": setting,
        "prescription": prescription,
        "decision": b.decision,
        "reference": reference,
        "recommended_regimen": regimen,
        "citation": cite,
        "issues": all_issues(ctx, s, b),
        "flags": flags(ctx, b.patient, drugs),
        "syndrome": s.key,
    }


class _Deck:
    """Cycle through items in a seeded shuffled order, reshuffling each round."""

    def __init__(self, items: list, rng: random.Random):
        self.items, self.rng, self.queue = list(items), rng, []

    def draw(self):
        if not self.queue:
            self.queue = list(self.items)
            self.rng.shuffle(self.queue)
        return self.queue.pop()

    def drop(self, item) -> None:
        self.items = [x for x in self.items if x != item]
        self.queue = [x for x in self.queue if x != item]


def _feasible(syndromes: list[Syndrome], rng: random.Random) -> dict[str, list[Syndrome]]:
    """The syndromes each scenario can build a case for (a few seeded tries each), so draws are not wasted."""
    probe = Ctx(rng)
    out = {}
    for name, (decision, builder, _) in SCENARIOS.items():
        out[name] = [s for s in syndromes
                     if any((b := builder(probe, s)) is not None and b.decision == decision for _ in range(6))]
    return out


def generate(n: int, seed: int) -> list[dict[str, Any]]:
    if n < 1:
        raise UserError(f"-n must be at least 1, got {n}")
    rng = random.Random(seed)
    ctx = Ctx(rng)
    syndromes = sorted(ctx.kb.syndromes, key=lambda s: s.key)
    counts = {d: round(n * share) for d, share in SHARES.items()}
    counts["Reject"] = n - counts["Approve"] - counts["Modify"]
    slots = [d for d in SHARES for _ in range(counts[d])]
    rng.shuffle(slots)
    feasible = _feasible(syndromes, random.Random(seed * 7919 + 1))
    scenario_decks = {d: _Deck([k for k, (dd, _, w) in SCENARIOS.items() if dd == d and feasible[k] for _ in range(w)],
                               rng) for d in SHARES}
    syndrome_decks = {k: _Deck(feasible[k], rng) for k in SCENARIOS}
    fails: Counter = Counter()
    cases = []
    for i, decision in enumerate(slots):
        for _ in range(2000):
            name = scenario_decks[decision].draw()
            deck = syndrome_decks[name]
            if not deck.items:
                scenario_decks[decision].drop(name)
                continue
            s = deck.draw()
            want, builder, _ = SCENARIOS[name]
            built = builder(ctx, s)
            if built is not None and built.decision == decision:
                cases.append(to_record(ctx, f"synth-{seed}-{i:04d}", s, built))
                break
            fails[name, s.key] += 1
            if fails[name, s.key] >= 6:  # this scenario does not fit this syndrome
                deck.drop(s)
        else:
            raise RuntimeError(f"no scenario could build a {decision} case")
    return cases


def write_cases(n: int, seed: int, out: Path) -> dict[str, dict[str, int]]:
    """Generate and write one JSON object per line (keys in a fixed order); returns decision -> scenario -> count
    (the scenario is the first issue code, "guideline regimen" for Approve)."""
    cases = generate(n, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    tmp.replace(out)
    counts: dict[str, dict[str, int]] = {d: {} for d in SHARES}
    for c in cases:
        key = c["issues"][0] if c["issues"] else "guideline regimen"
        counts[c["decision"]][key] = counts[c["decision"]].get(key, 0) + 1
    return {d: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for d, v in counts.items()}
