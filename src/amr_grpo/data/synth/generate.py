"""`amr-grpo synth`: synthetic prescription-validation cases generated from the guideline knowledge base.

Every syndrome entry is covered; decisions come in fixed proportions (35% Approve, 40% Modify, 25% Reject) and each
decision's scenarios take turns (scenarios*.py). Each case: a patient profile, diagnosis and setting, the
prescription in clinician phrasing, the ground truth (decision, issue codes, recommended regimen, citation, the
risk-factor flags) and a short reference validation in the policy format (reference.py). A share of the cases
(`notes`) give the patient as a free-text clinical note (notes.py) instead of structured fields; the ground truth
stays structured. Only seeded `random.Random` streams are used and everything is iterated in sorted order, so a
seed gives a byte-identical file. Synthetic data for research, not for clinical use.
Try it: amr-grpo synth -n 600 --seed 0 -o data/cases.jsonl
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from amr_grpo.data.synth import scenarios_safety as safety
from amr_grpo.data.synth import scenarios_stewardship as stewardship
from amr_grpo.data.synth.notes import Note, render_note
from amr_grpo.data.synth.patients import Unfit
from amr_grpo.data.synth.phrasing import clinician_text
from amr_grpo.data.synth.reference import citation, reference_text, severity_shown
from amr_grpo.data.synth.regimens import with_weight
from amr_grpo.data.synth.scenarios import (Built, Ctx, approve, group_drugs, pregnancy_blocks, wrong_dose,
                                           wrong_duration, wrong_frequency, wrong_route)
from amr_grpo.errors import UserError
from amr_grpo.guidelines import Syndrome
from amr_grpo.reading import read_case
from amr_grpo.records import Patient

SHARES = {"Approve": 0.35, "Modify": 0.40, "Reject": 0.25}
NOTES_SHARE = 0.25  # default share of cases whose patient is a free-text clinical note
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
    "unneeded_addon": ("Modify", stewardship.unneeded_addon, 1),
    "prolonged_prophylaxis": ("Modify", stewardship.prolonged_prophylaxis, 1),
    "deescalation_due": ("Modify", stewardship.deescalation_due, 1),
    "no_antibiotic_indicated": ("Reject", stewardship.no_antibiotic, 4),
    "reserve_empiric": ("Reject", stewardship.reserve_empiric, 2),
    "pregnancy_reject": ("Reject", safety.pregnancy_reject, 1),
    "allergy_reject": ("Reject", safety.allergy_reject, 1),
    "interaction_reject": ("Reject", safety.interaction_reject, 1),
    "wrong_drug_reject": ("Reject", stewardship.wrong_drug_for_setting, 1),
}
SETTINGS = {"OPD": ["OPD", "Outpatient clinic", "OPD"], "ward": ["Ward", "Medical ward", "Inpatient ward"],
            "ICU": ["ICU", "Medical ICU"]}


# synonyms that name a woman's operation or pregnancy: not the diagnosis of a man, or of a woman who is not pregnant
_OBSTETRIC = re.compile(r"caesarean|cesarean|c-section|lscs|obstetric|puerper|postpartum", re.I)
_GYNAECOLOGICAL = re.compile(r"hysterectomy|gyn", re.I)


def _diagnosis(ctx: Ctx, s: Syndrome, b: Built) -> str:
    p = b.patient
    options = [s.name] + [x for x in s.synonyms if len(x) > 4 and (ctx.kb.syndrome(x, s.setting) or s).key == s.key
                          and not (_OBSTETRIC.search(x) and not p.pregnant)
                          and not (_GYNAECOLOGICAL.search(x) and p.sex != "F")]
    text = s.name if ctx.rng.random() < 0.6 else ctx.rng.choice(options)
    if b.condition:
        text += f"; {b.condition}"
    if b.day:
        text += f" (day {b.day} of empiric therapy)"
    return text


def _setting(ctx: Ctx, s: Syndrome, b: Built) -> str:
    """The syndrome's setting, or the ward when the case's condition says the patient is admitted (an alternative
    for admitted patients: ceftriaxone IV for dysentery)."""
    where = "ward" if re.search(r"\badmitted\b|\binpatient\b", b.condition, re.I) else s.setting
    return ctx.rng.choice(SETTINGS[where]) if where in SETTINGS else where


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
        if it.drug not in group_drugs(s) and ctx.kb.drug(it.drug).aware_for(it.route) == "Reserve" \
                and b.decision != "Approve":
            extra.append("reserve_empiric")
        found += [x for x in extra if x not in found]
    return found


def finalize(b: Built) -> Built:
    """The case as given to this patient: a weight-based dose with a daily maximum becomes the patient's dose."""
    w = b.patient.weight_kg or 60.0
    rec = with_weight(b.recommended, w) if b.recommended is not None else None
    return replace(b, prescribed=with_weight(b.prescribed, w), recommended=rec)


def to_record(ctx: Ctx, case_id: str, s: Syndrome, b: Built, note: str | None = None) -> dict[str, Any]:
    """The case as one JSON record; `note` replaces the structured patient with that free-text clinical note."""
    diagnosis, setting = _diagnosis(ctx, s, b), _setting(ctx, s, b)
    prescription = _prescription(ctx, s, b)
    cite = citation(ctx, s, b)
    case = {"id": case_id, "patient": note if note is not None else b.patient.to_dict(), "diagnosis": diagnosis,
            "setting": setting, "prescription": prescription}
    reference, regimen = reference_text(ctx, s, b, diagnosis, setting, cite, severity_shown(read_case(case)))
    drugs = [i.drug for i in b.prescribed + (b.recommended or [])]
    return {
        **case,
        "decision": b.decision,
        "reference": reference,
        "recommended_regimen": regimen,
        "citation": cite,
        "issues": all_issues(ctx, s, b),
        "flags": flags(ctx, b.patient, drugs),
        "syndrome": s.key,
    }


@dataclass
class Generated:
    """One generated case: the record as written, and the scenario's structured truth (for the invariant tests)."""

    record: dict[str, Any]
    built: Built
    syndrome: Syndrome
    scenario: str
    note: Note | None = None  # the free-text patient, when the record gives one


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


def _build(builder, ctx: Ctx, s: Syndrome) -> Built | None:
    """The scenario's case for this syndrome, or None when it does not fit (the builder says so or the patient
    profile cannot hold it)."""
    try:
        return builder(ctx, s)
    except Unfit:
        return None


def _feasible(syndromes: list[Syndrome], rng: random.Random) -> dict[str, list[Syndrome]]:
    """The syndromes each scenario can build a case for (a few seeded tries each), so draws are not wasted."""
    probe = Ctx(rng)
    out = {}
    for name, (decision, builder, _) in SCENARIOS.items():
        out[name] = [s for s in syndromes
                     if any((b := _build(builder, probe, s)) is not None and b.decision == decision for _ in range(6))]
    return out


def generate_cases(n: int, seed: int, notes: float = NOTES_SHARE) -> list[Generated]:
    """n cases for a seed; a `notes` share of them (0-1) with the patient as a free-text note. Which cases are notes
    and how each note reads come from their own seeded stream, so the share changes nothing else."""
    if n < 1:
        raise UserError(f"-n must be at least 1, got {n}")
    if not 0.0 <= notes <= 1.0:
        raise UserError(f"--notes must be a share between 0 and 1, got {notes}")
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
            built = _build(builder, ctx, s)
            if built is not None and built.decision == decision:
                built = finalize(built)
                note_rng = random.Random(f"note-{seed}-{i}")  # str seeds hash with SHA-512: stable across processes
                note = render_note(built, s, note_rng) if note_rng.random() < notes else None
                record = to_record(ctx, f"synth-{seed}-{i:04d}", s, built, note.text if note else None)
                cases.append(Generated(record, built, s, name, note))
                break
            fails[name, s.key] += 1
            if fails[name, s.key] >= 6:  # this scenario does not fit this syndrome
                deck.drop(s)
        else:
            raise RuntimeError(f"no scenario could build a {decision} case")
    return cases


def generate(n: int, seed: int, notes: float = NOTES_SHARE) -> list[dict[str, Any]]:
    """The records of generate_cases."""
    return [g.record for g in generate_cases(n, seed, notes)]


def write_cases(n: int, seed: int, out: Path, notes: float = NOTES_SHARE) -> dict[str, dict[str, int]]:
    """Generate and write one JSON object per line (keys in a fixed order); returns decision -> scenario -> count
    (the scenario is the first issue code, "guideline regimen" for Approve)."""
    cases = generate(n, seed, notes)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    tmp.replace(out)
    counts: dict[str, dict[str, int]] = {d: {} for d in SHARES}
    for c in cases:
        key = c["issues"][0] if c["issues"] else "guideline regimen"
        counts[c["decision"]][key] = counts[c["decision"]].get(key, 0) + 1
    return {d: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for d, v in counts.items()}
