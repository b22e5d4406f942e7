"""Invariants every synthetic case must hold, so that a label never teaches the policy a clinical error.

Each check reads one record of `amr-grpo synth` and its structured patient, and names what is wrong:
- profile: a "no comorbidity" patient has none (no disease, normal renal function, no long-term medicine); the
  syndrome's sex, age band and stated risk factor hold; pregnancy only at ages and in syndromes where it can be;
- spectrum: a regimen for intra-abdominal infection covers anaerobes, one for C. difficile keeps oral vancomycin
  or fidaxomicin;
- duration: each recommended course lies within the knowledge base's range for that drug in this infection;
- renal: a recommended course follows the renal band at the patient's CrCl (never "the usual dose" where the band
  says review or avoid, never a drug without renal data below CrCl 60);
- loading: a loading dose the knowledge base gives is written, a daily maximum is kept;
- decision: the decision rule of scenarios.py (Reject: no antibiotic indicated, or a drug with no place in this
  infection; Modify: the infection's own drugs given wrongly or unsafely; Approve: the guideline regimen);
- reference: the reference's steps agree with the decision and with the case facts (CrCl, allergy, pregnancy,
  likely organisms, stewardship, interaction effects).
Try it: python -m amr_grpo.data.synth.label_checks data/cases.jsonl
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amr_grpo.data.synth.dosing import LOAD_KEPT, RENAL_CONCERN_CRCL, renal_for
from amr_grpo.data.synth.patients import PREGNANCY_AGES, profile_for
from amr_grpo.data.synth.phrasing import Item
from amr_grpo.data.synth.regimens import daily_cap, loading_dose
from amr_grpo.data.synth.scenarios import group_drugs
from amr_grpo.guidelines import Regimen, Syndrome, load_kb, parse_prescription
from amr_grpo.output_format import parse_validation
from amr_grpo.records import Patient

KINDS = ("profile", "spectrum", "duration", "renal", "loading", "decision", "reference")
INTRA_ABDOMINAL = re.compile(r"peritonitis|appendic|divertic|intra-abdominal", re.I)
C_DIFFICILE = re.compile(r"difficile", re.I)
ANAEROBE_CLASSES = ("carbapenem", "nitroimidazole", "lincosamide", "glycylcycline")
ANAEROBE_DRUGS = re.compile(r"clavulan|tazobactam|sulbactam|moxifloxacin")  # BL/BLI combinations and moxifloxacin
C_DIFFICILE_DRUGS = ("vancomycin", "fidaxomicin")  # by mouth


@dataclass(frozen=True)
class Violation:
    kind: str  # one of KINDS
    detail: str


def _regimens(s: Syndrome) -> list[Regimen]:
    kb = load_kb()
    members = [s] + [m for m in kb.group_members(s.group) if s.group and m.key != s.key]
    return [r for m in members for r in (*m.first_line, *m.alternatives)]


def _items(text: str) -> list[Item]:
    return [Item(d.drug, d.route or "", d.interval_h if d.interval_h is not None else -1, d.dose_mg, d.dose_mg_per_kg,
                 d.dose_units, d.duration_days) for d in parse_prescription(text) if d.drug]


def check_profile(s: Syndrome, p: Patient) -> list[Violation]:
    prof, out = profile_for(f"{s.key} {s.name}"), []
    if prof.no_comorbidity and (p.comorbidities or p.current_medicines or (p.crcl_ml_min or 999) < 60):
        out.append(Violation("profile", f"'{s.name}' patient has comorbidities {p.comorbidities}, medicines "
                                        f"{p.current_medicines}, CrCl {p.crcl_ml_min}"))
    if prof.sex and p.sex != prof.sex:
        out.append(Violation("profile", f"'{s.name}' patient is sex {p.sex}"))
    if p.age is not None and not prof.ages[0] <= p.age <= prof.ages[1]:
        out.append(Violation("profile", f"'{s.name}' patient aged {p.age:g}, outside {prof.ages}"))
    if p.pregnant and (prof.pregnancy_ages() is None or not PREGNANCY_AGES[0] <= (p.age or 0) <= PREGNANCY_AGES[1]):
        out.append(Violation("profile", f"pregnant {p.age:g}-year-old with '{s.name}'"))
    for choices in prof.conditions:
        if not any(c in p.comorbidities for c in choices):
            out.append(Violation("profile", f"'{s.name}' patient lacks its risk factor (one of {list(choices)})"))
    return out


def check_spectrum(s: Syndrome, rec: list[Item]) -> list[Violation]:
    kb, text = load_kb(), f"{s.key} {s.name}".replace("_", " ")
    if INTRA_ABDOMINAL.search(text) and rec and not any(
            kb.drug(i.drug).drug_class in ANAEROBE_CLASSES or ANAEROBE_DRUGS.search(i.drug) for i in rec):
        return [Violation("spectrum", f"no anaerobic cover for {s.name}: {[i.drug for i in rec]}")]
    if C_DIFFICILE.search(text) and rec and not any(i.drug in C_DIFFICILE_DRUGS and i.route == "PO" for i in rec):
        return [Violation("spectrum", f"C. difficile regimen without oral vancomycin or fidaxomicin: {rec}")]
    return []


def check_duration(s: Syndrome, rec: list[Item]) -> list[Violation]:
    out = []
    for it in (i for i in rec if i.days is not None):
        spans = [(ri.duration_days_min, ri.duration_days_max or ri.duration_days_min) for r in _regimens(s)
                 for ri in r.items if ri.drug == it.drug and ri.duration_days_min is not None]
        if spans and not any(lo <= it.days <= hi for lo, hi in spans):
            out.append(Violation("duration", f"{it.drug} {it.days:g} days, outside the knowledge base's {spans}"))
    return out


def _normal_variants(s: Syndrome, it: Item) -> list[Item]:
    """The guideline doses of this drug for the infection at normal renal function (each end of each range)."""
    out = []
    for r in _regimens(s):
        for ri in (x for x in r.items if x.drug == it.drug and it.route in x.route.split("/")):
            field = "dose_mg_per_kg" if ri.dose_mg_per_kg is not None else "dose_units" if ri.dose_units is not None \
                else "dose_mg"
            for dose in {getattr(ri, field), ri.dose_max or getattr(ri, field)}:
                for interval in {ri.interval_h, ri.interval_h_max or ri.interval_h}:
                    out.append(Item(ri.drug, it.route, interval, **{field: dose}))
    return out


def check_renal(s: Syndrome, rec: list[Item], crcl: float | None) -> list[Violation]:
    kb, out = load_kb(), []
    for it in (i for i in rec if i.interval_h != 0):
        band = kb.renal_band(it.drug, crcl, it.route)
        if band is None:
            if crcl is not None and crcl < RENAL_CONCERN_CRCL:
                out.append(Violation("renal", f"{it.drug} has no renal data and is given at CrCl {crcl:g}"))
            continue
        if band.action in ("avoid", "review"):
            out.append(Violation("renal", f"{it.drug} given at CrCl {crcl:g} where the band says {band.action}: "
                                          f"{band.advice}"))
            continue
        want = {(x.dose_mg, x.dose_mg_per_kg, x.dose_units, x.interval_h)
                for n in _normal_variants(s, it) if (x := renal_for(n, crcl)[0]) is not None}
        got = (it.dose_mg, it.dose_mg_per_kg, it.dose_units, it.interval_h)
        capped = it.dose_mg is not None and any(n.dose_mg_per_kg is not None for n in _normal_variants(s, it))
        if want and got not in want and not capped:
            out.append(Violation("renal", f"{it.drug} {got} at CrCl {crcl:g}; the band ({band.advice}) gives "
                                          f"{sorted(want, key=str)}"))
    return out


def renal_mismatch(s: Syndrome, rec: list[Item], crcl: float | None) -> list[Violation]:
    """Daily doses outside what the renal band at this CrCl gives (where the band states one regimen), with 10%
    room either way for the other ways a user writes a regimen: the lenient form of check_renal."""
    kb, out = load_kb(), []
    if crcl is None:
        return out
    for it in (i for i in rec if i.interval_h > 0):
        band = kb.renal_band(it.drug, crcl, it.route or None)
        if band is None or band.action != "adjust":
            continue
        allowed = [x for n in _normal_variants(s, it) if (x := renal_for(n, crcl)[0]) is not None]
        field = next((f for f in ("dose_mg_per_kg", "dose_units", "dose_mg") if getattr(it, f) is not None), None)
        limits = [getattr(x, field) * 24 / x.interval_h for x in allowed if field and getattr(x, field) is not None
                  and x.interval_h > 0]
        daily = getattr(it, field) * 24 / it.interval_h if field else None
        if limits and daily is not None and not min(limits) * 0.9 <= daily <= max(limits) * 1.1:
            span = f"{min(limits):g}" + (f"-{max(limits):g}" if max(limits) != min(limits) else "")
            out.append(Violation("renal", f"{it.drug} at CrCl {crcl:g}: {daily:g} a day where the band "
                                          f"({band.advice}) gives {span}"))
    return out


def check_loading(s: Syndrome, text: str, weight: float | None, crcl: float | None = None) -> list[Violation]:
    """Every drug of `text` whose guideline item in this infection has a loading dose is written with one (but the
    first higher dose of a class outside dosing.LOAD_KEPT, once a renal band reduces the dose), and a weight-based
    dose with a daily maximum stays at or under it."""
    kb, out = load_kb(), []
    for d in parse_prescription(text):
        own = [(r, ri) for r in (*s.first_line, *s.alternatives) for ri in r.items if ri.drug == d.drug]
        items = own or [(r, ri) for r in _regimens(s) for ri in r.items if ri.drug == d.drug]  # a group sibling's
        loads = [loading_dose(ri) for _, ri in items]
        band = kb.renal_band(d.drug, crcl, d.route) if crcl is not None and d.drug else None
        reduced = band is not None and band.action == "adjust" and kb.drug(d.drug).drug_class not in LOAD_KEPT
        if d.interval_h and loads and all(loads) and not reduced and not re.search(r"\bthen\b", d.unparsed or ""):
            out.append(Violation("loading", f"{d.drug} without its loading dose ({loads[0]}) in '{text}'"))
        caps = [c for r, ri in items if (c := daily_cap(r, ri.drug)) is not None]
        if caps and d.interval_h:
            daily = (d.dose_mg or (d.dose_mg_per_kg or 0) * (weight or 0)) * 24 / d.interval_h
            if daily > max(caps) + 1e-6:
                out.append(Violation("loading", f"{d.drug} {daily:g} mg/day over the maximum of {max(caps):g} mg"))
    return out


def check_decision(s: Syndrome, rec_text: str, record: dict[str, Any]) -> list[Violation]:
    decision, got = record["decision"], [d.drug for d in parse_prescription(record["prescription"]) if d.drug]
    reserve = [d for d in got if load_kb().drug(d).aware == "Reserve" and d not in group_drugs(s)]
    outside = [d for d in got if d not in group_drugs(s)]
    if decision == "Approve":
        ok = not s.no_antibiotic and not record["issues"] and not outside
    elif s.no_antibiotic:
        ok = decision == "Reject" and rec_text.startswith("No antibiotic")
    elif decision == "Reject":
        ok = bool(outside or reserve)
    else:  # Modify: the infection's own drugs, or a right regimen plus an add-on the guideline says not to add
        ok = not outside or (len(outside) < len(got) and all(_addon(s, d) for d in outside))
    return [] if ok else [Violation("decision", f"{decision} for {got} in {s.key} (drugs with no place: {outside})")]


def _addon(s: Syndrome, drug: str) -> bool:
    rule = load_kb().do_not_use(s.key, drug)
    return rule is not None and rule.decision == "Modify" and bool(re.match(r"\s*(?:do\s+not\s+add|add)\b", rule.reason,
                                                                           re.I))


_VIRAL = re.compile(r"\bviral|viruses\b", re.I)
_PREGNANT = re.compile(r"(?<!not )(?<!non-)(?<!non )\bpregnant", re.I)


def _says_pregnant(text: str) -> bool:
    """The text calls the patient pregnant ('not pregnant', a condition of a regimen, does not)."""
    return bool(_PREGNANT.search(text))
_NO_ABX_WRONG = re.compile(r"end of the course|send cultures", re.I)


def check_reference(s: Syndrome, p: Patient, record: dict[str, Any]) -> list[Violation]:
    kb, out = load_kb(), []
    v = parse_validation(record["reference"])
    steps = {m.group(1).lower(): m.group(2) for st in v.steps if (m := re.match(r"([^:]+):\s*(.*)", st))}

    def step(title: str) -> str:
        return next((t for k, t in steps.items() if k.endswith(title.lower())), "")

    if not v.decision or v.decision.value != record["decision"]:
        out.append(Violation("reference", f"Decision line {v.decision} vs label {record['decision']}"))
    no_abx = record["recommended_regimen"].startswith("No antibiotic")
    organisms = step("Pathogen and setting")
    if not no_abx and _VIRAL.search(organisms):
        out.append(Violation("reference", f"antibiotic recommended but the organisms step says '{organisms}'"))
    if no_abx and _NO_ABX_WRONG.search(step("Stewardship")):
        out.append(Violation("reference", f"no antibiotic, yet the stewardship step says '{step('Stewardship')}'"))
    safety = step("Patient factors and safety")
    if p.crcl_ml_min is not None and f"CrCl {p.crcl_ml_min:g} mL/min" not in safety:
        out.append(Violation("reference", f"safety step lacks CrCl {p.crcl_ml_min:g}: '{safety}'"))
    for a in p.allergies:
        if a not in safety:
            out.append(Violation("reference", f"safety step lacks the allergy '{a}'"))
    if bool(p.pregnant) != _says_pregnant(safety) or bool(p.pregnant) != _says_pregnant(step("Clinical picture")):
        out.append(Violation("reference", f"pregnancy {p.pregnant} not stated as such in the steps"))
    regimen = step("Regimen choice")
    for med in p.current_medicines:
        if f" with {med}: " in regimen:
            drug = kb.find_drugs(regimen.split(f" with {med}: ")[0])[-1]
            effect = regimen.split(f" with {med}: ")[1]
            if not any(effect.startswith(i.effect.rstrip(". ")) for i in kb.interactions(drug, [med])):
                out.append(Violation("reference", f"{drug} with {med}: an effect of another interaction: '{effect}'"))
    if record["decision"] == "Approve" and "is correct" not in step("Dose route frequency") and "renal dose" not in \
            step("Dose route frequency"):
        out.append(Violation("reference", "Approve, yet the dose step does not endorse the dose"))
    return out


def check_case(record: dict[str, Any], patient: Patient) -> list[Violation]:
    """Every invariant of one synthetic record, with its structured patient."""
    s = load_kb().syndrome(record["syndrome"])
    rec_text = record["recommended_regimen"]
    rec = [] if rec_text.startswith("No antibiotic") else _items(rec_text)
    out = check_profile(s, patient) + check_spectrum(s, rec) + check_duration(s, rec)
    out += check_renal(s, rec, patient.crcl_ml_min)
    for text in [rec_text] * bool(rec) + [record["prescription"]] * (record["decision"] == "Approve"):
        out += check_loading(s, text, patient.weight_kg, patient.crcl_ml_min)
    out += check_decision(s, rec_text, record) + check_reference(s, patient, record)
    return out


def check_file(path: Path) -> tuple[int, Counter, list[tuple[str, Violation]]]:
    """(cases checked, violations per kind, every violation with its case id) for a synth JSONL file. A case whose
    patient is a free-text note is skipped (its structured patient is not in the file)."""
    found: list[tuple[str, Violation]] = []
    n = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if not isinstance(rec.get("patient"), dict):
            continue
        n += 1
        found += [(rec["id"], v) for v in check_case(rec, Patient.from_dict(rec["patient"]))]
    return n, Counter(v.kind for _, v in found), found


if __name__ == "__main__":
    checked, per_kind, all_found = check_file(Path(sys.argv[1] if len(sys.argv) > 1 else "data/cases.jsonl"))
    cases = len({cid for cid, _ in all_found})
    sys.stdout.write(f"{checked} structured cases checked; {cases} with a violation; by kind: {dict(per_kind)}\n")
    for cid, v in all_found:
        sys.stdout.write(f"{cid}\t{v.kind}\t{v.detail}\n")
