"""What the rules judge knows about a case before it reads a completion.

`case_context(patient_case, ground_truth)` (cached per distinct case and ground truth) reads the case and the
ground truth, finds the knowledge-base syndrome, parses the prescription, lists the regimens the guideline accepts
(ground truth, first line, alternatives) and every patient risk factor the validation must acknowledge.
judge/regimen_check.py scores a regimen against this context.
Try it:
  python -c "from amr_grpo.judge.rules_context import case_context as c; print(c('70/M 60 kg S. Cr 2.1 Dx: CAP', None))"
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from amr_grpo.guidelines import RegimenItem, Syndrome, load_kb, normalise_setting
from amr_grpo.reading import read_case, read_ground_truth
from amr_grpo.judge.parse import no_regimen, parse_regimen
from amr_grpo.records import Case, Dose, GroundTruth

FIRST_TRIMESTER_END = 14.0  # weeks: the 1st trimester is weeks 1-13
NEAR_TERM_WEEKS = 36.0  # from here "avoid near term" rules apply (FACTS.md 5: nitrofurantoin at 38-42 weeks)
RENAL_CONCERN_CRCL = 60.0  # below this a renal function statement is expected even if no drug needs a change
_F = re.IGNORECASE
_RENAL_DISEASE = re.compile(r"\bckd\b|\baki\b|dialysis|\bm?hd\b|renal\s+(?:failure|impairment|insufficiency)|"
                            r"kidney\s+disease", _F)


@dataclass(frozen=True)
class Target:
    """One drug of an accepted regimen: what a validation's dose is compared with."""

    drug: str
    route: str | None
    interval_h: float | None
    mg: float | None = None
    per_kg: float | None = None
    units: float | None = None
    days_min: float | None = None
    days_max: float | None = None
    dose_max: float | None = None  # upper end of a dose range ("1-2 g"), same unit as the dose that is set
    interval_h_max: float | None = None  # upper end of an interval range ("q8-12h")


def _target(i: RegimenItem) -> Target:
    return Target(i.drug, i.route, i.interval_h, i.dose_mg, i.dose_mg_per_kg, i.dose_units, i.duration_days_min,
                  i.duration_days_max, i.dose_max, i.interval_h_max)


@dataclass(frozen=True)
class Option:
    targets: tuple[Target, ...]
    text: str
    kind: str  # "ground truth" | "first-line" | "alternative"
    justified: bool = True  # an alternative with a reason in this case (allergy, first line contraindicated ...)


@dataclass(frozen=True)
class Risk:
    """A patient risk factor the validation must acknowledge. major: it changes management; contraindicated:
    the drug must not be given to this patient."""

    kind: str  # "allergy" | "renal" | "pregnancy" | "interaction"
    detail: str
    ack: tuple[str, ...] = ()  # words that acknowledge it besides the ACK_STEMS of its kind (a medicine's name)
    drug: str | None = None
    major: bool = True
    contraindicated: bool = False
    action: str = ""  # renal band action / interaction action / pregnancy action
    source: str = ""  # citation of the rule (e.g. "ICMR ... (2019), section Table 14.1 row 6, p. 165")


@dataclass
class CaseContext:
    case: Case
    gt: GroundTruth
    syndrome: Syndrome | None
    syndrome_via: str  # "ground truth" | "case" | "diagnosis" | ""
    prescribed: tuple[Dose, ...]
    options: tuple[Option, ...]
    no_antibiotic: bool  # the guideline (or ground truth) says no antibiotic is indicated
    risks: tuple[Risk, ...]  # case-level: acknowledged in the steps whatever the output recommends
    diagnosis_terms: frozenset[str]  # words that name the diagnosis (empty when unknown)
    susceptible: frozenset[str] = frozenset()  # drug keys the culture report says the isolate is sensitive to
    resistant: frozenset[str] = frozenset()  # drug keys the culture report says it is resistant to
    _drug_risks: dict[tuple[str, str | None], tuple[Risk, ...]] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)  # per-case results computed once (expected decisions)

    def normal_target(self, drug: str) -> Target | None:
        """The guideline's normal-renal-function dose of this drug for the syndrome (not the ground truth's, which
        may already be adjusted); None when the syndrome's regimens do not use it."""
        return next((t for o in self.options if o.kind != "ground truth" for t in o.targets if t.drug == drug), None)

    def drug_risks(self, drug: str, route: str | None = None) -> tuple[Risk, ...]:
        """The patient's risk factors for this drug (by route where the renal bands differ), memoised."""
        k = (drug, route)
        if k not in self._drug_risks:
            self._drug_risks[k] = _risks_for_drug(self.case, drug, route)
        return self._drug_risks[k]


# Word stems that acknowledge each kind of risk factor (a word starting with the stem; "$" = the whole word).
ACK_STEMS: dict[str, tuple[str, ...]] = {
    "allergy": ("allerg", "anaphyla", "hypersensitiv"),
    "renal": ("renal", "kidney", "crcl", "creatinine", "egfr$", "gfr$", "ckd$", "aki$", "nephro", "dialysis",
              "clearance"),
    "pregnancy": ("pregnan", "trimester", "gestation", "teratogen", "fetal", "foetal", "fetus", "foetus", "antenatal",
                  "obstetric", "kernicterus", "neonat", "gravid", "primigravid", "multigravid", "pog$"),
    "interaction": ("interact",),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) >= 3 and w not in ("and", "with"))


def _interaction_ack(medicine: str, terms: tuple[str, ...]) -> tuple[str, ...]:
    """Words that name this interaction: the medicine itself and the interacting class ('ssri', 'qt')."""
    return tuple(dict.fromkeys(_words(medicine) + tuple(w for t in terms for w in _words(t)) + ("qt",) * any(
        "qt" in t for t in terms)))


def _pregnancy_flags(action: str, weeks: float | None) -> tuple[bool, bool]:
    """(major, contraindicated) for a pregnancy rule at this gestation (None = unknown)."""
    if action == "ok":
        return False, False
    if action == "avoid":
        return True, True
    first = "first_trimester" in action and weeks is not None and weeks < FIRST_TRIMESTER_END
    term = "near_term" in action and weeks is not None and weeks >= NEAR_TERM_WEEKS
    return True, first or term


def _risks_for_drug(case: Case, drug: str, route: str | None = None) -> tuple[Risk, ...]:
    kb, p = load_kb(), case.patient
    d = kb.drug(drug)
    name = d.name if d else drug
    out: list[Risk] = []
    if p.allergies and (why := kb.allergy_conflict(drug, p.allergies)):
        out.append(Risk("allergy", why, (), drug, True, True, "avoid"))
    if (rf := p.renal_function()) is not None and (band := kb.renal_band(drug, rf, route)) and band.action != "no_change":
        out.append(Risk("renal", f"{name} at CrCl {rf:g} mL/min: {band.action} ({band.advice})",
                        (), drug, True, band.action == "avoid", band.action, band.source.cite()))
    if p.pregnant and (rule := kb.pregnancy_rule(drug)):
        major, contra = _pregnancy_flags(rule.action, p.gestation_weeks)
        if major:
            out.append(Risk("pregnancy", f"{name} in pregnancy: {rule.action} ({rule.note})", (), drug, True, contra,
                            rule.action))
    for it in kb.interactions(drug, p.current_medicines):
        med = next((m for m in p.current_medicines if it in kb.interactions(drug, [m])), p.current_medicines[0])
        out.append(Risk("interaction", f"{name} + {med}: {it.effect} ({it.action})",
                        _interaction_ack(med, it.with_drugs), drug, True, it.action == "avoid", it.action))
    return tuple(out)


def _case_risks(case: Case, drugs: list[tuple[str, str | None]],
                ctx_drug_risks: dict[tuple[str, str | None], tuple[Risk, ...]]) -> tuple[Risk, ...]:
    p = case.patient
    risks: list[Risk] = []
    for drug in drugs:
        ctx_drug_risks[drug] = _risks_for_drug(case, *drug)
        risks.extend(r for r in ctx_drug_risks[drug] if r not in risks)
    kinds = {r.kind for r in risks}
    if p.allergies and "allergy" not in kinds:
        risks.append(Risk("allergy", "allergy to " + ", ".join(p.allergies), major=False))
    if p.pregnant and "pregnancy" not in kinds:
        risks.append(Risk("pregnancy", "pregnant" + (f" ({p.gestation_weeks:g} weeks)" if p.gestation_weeks else ""),
                          major=True))
    if (rf := p.renal_function()) is not None and rf < RENAL_CONCERN_CRCL and "renal" not in kinds:
        risks.append(Risk("renal", f"CrCl {rf:g} mL/min", major=False))
    elif rf is None and _RENAL_DISEASE.search(" ".join(p.comorbidities) + " " + (p.text or "")):
        risks.append(Risk("renal", "kidney disease stated, no CrCl given", major=False))
    return tuple(risks)


def _target_from_dose(d: Dose) -> Target | None:
    if not d.drug:
        return None
    return Target(d.drug, d.route, d.interval_h, d.dose_mg, d.dose_mg_per_kg, d.dose_units, d.duration_days,
                  d.duration_days)


def _stated(condition: str, case_words: set[str]) -> bool:
    """An alternative's condition ('cefazolin unavailable', 'rickettsia-endemic area') is written in the case:
    at least two thirds of its words (4+ letters) are."""
    words = [w for w in re.findall(r"[a-z0-9]+", condition) if len(w) >= 4]
    return bool(words) and sum(w in case_words for w in words) * 3 >= 2 * len(words)


def _one_route(route: str | None) -> str | None:
    """'PO/IV' (either) -> None, so a renal lookup takes the drug's default bands."""
    return route if route in ("PO", "IV", "IM") else None


def _options(syndrome: Syndrome | None, gt_doses: list[Dose], gt_text: str, case: Case) -> tuple[Option, ...]:
    out: list[Option] = []
    gt_targets = tuple(t for t in map(_target_from_dose, gt_doses) if t)
    if gt_targets:
        out.append(Option(gt_targets, gt_text, "ground truth"))
    if syndrome is None:
        return tuple(out)
    first = [Option(tuple(map(_target, r.items)), r.text, "first-line") for r in syndrome.first_line]
    blocked = all(any(rk.contraindicated for t in o.targets
                      for rk in _risks_for_drug(case, t.drug, _one_route(t.route))) for o in first)
    p = case.patient
    stated = set(re.findall(r"[a-z0-9]+", " ".join((case.diagnosis, p.text or "", p.cultures or "",
                                                       " ".join(p.comorbidities))).lower()))
    for r in syndrome.alternatives:
        when = r.when.lower()
        reason = blocked or (bool(p.allergies) and "allerg" in when) or (bool(p.pregnant) and "pregnan" in when) or (
            (rf := p.renal_function()) is not None and rf < RENAL_CONCERN_CRCL and "renal" in when) or _stated(
            when, stated)
        text = r.text + (f" ({r.when})" if r.when else "")
        first.append(Option(tuple(map(_target, r.items)), text, "alternative", reason))
    return tuple(out + first)


def find_syndrome(case: Case, gt: GroundTruth) -> tuple[Syndrome | None, str]:
    """The knowledge-base syndrome: ground truth's, then the one the case reader resolved (None: unknown)."""
    kb = load_kb()
    setting = normalise_setting(case.setting)
    for name, via in ((gt.syndrome, "ground truth"), (case.syndrome, "case")):
        if name and (s := kb.syndrome(name, setting)):
            return s, via
    return None, ""


_GENERIC = frozenset({"acute", "with", "without", "severe", "mild", "infection", "moderate", "uncomplicated",
                      "community", "acquired", "adult", "patient", "outpatient", "inpatient"})


def _diagnosis_terms(case: Case, syndrome: Syndrome | None) -> frozenset[str]:
    """Words that name the diagnosis: its own words and the syndrome's name and synonyms ('cystitis', 'cap')."""
    names = [case.diagnosis] + ([syndrome.name, *syndrome.synonyms] if syndrome else [])
    words = {w for n in names if n for w in re.findall(r"[a-z]{4,}", n.lower())}
    short = {w.lower() for n in names if n for w in re.findall(r"\b[A-Z]{3,5}\b", n)}  # CAP, UTI, COPD
    return frozenset((words | short) - _GENERIC)


_SUSCEPTIBILITY = re.compile(r"\b(sensitive|susceptible|resistant)\s+(?:only\s+)?to\s+(.+?)"
                             r"(?=[;.](?:\s|$)|$|,?\s+(?:and\s+|but\s+)?(?:sensitive|susceptible|resistant)\b)", _F)


def read_culture(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """Drug keys a culture report calls sensitive and resistant: 'E. coli sensitive to nitrofurantoin, fosfomycin;
    resistant to ciprofloxacin' -> ({nitrofurantoin, fosfomycin}, {ciprofloxacin})."""
    if not text:
        return frozenset(), frozenset()
    kb = load_kb()
    found: dict[str, set[str]] = {"s": set(), "r": set()}
    for m in _SUSCEPTIBILITY.finditer(text):
        found["r" if m.group(1).lower() == "resistant" else "s"].update(kb.find_drugs(m.group(2)))
    return frozenset(found["s"] - found["r"]), frozenset(found["r"])


def _key(obj: Any) -> tuple[str, str]:
    """A hashable cache key: ("s", text) for text, ("j", canonical JSON) for a structured value."""
    return ("s", obj) if isinstance(obj, str) else ("j", json.dumps(obj, sort_keys=True, default=str))


def _unkey(k: tuple[str, str]) -> Any:
    return json.loads(k[1]) if k[0] == "j" else k[1]


def case_context(patient_case: str | dict[str, Any], ground_truth: str | dict[str, Any] | None) -> CaseContext:
    """The case context, cached per distinct (case, ground truth): a GRPO group shares one case."""
    return _cached_context(_key(patient_case), None if ground_truth is None else _key(ground_truth))


@lru_cache(maxsize=4096)
def _cached_context(case_key: tuple[str, str], gt_key: tuple[str, str] | None) -> CaseContext:
    case = read_case(_unkey(case_key))
    gt = read_ground_truth(None if gt_key is None else _unkey(gt_key))
    syndrome, via = find_syndrome(case, gt)
    prescribed = tuple(parse_regimen(case.prescription))
    gt_text = gt.recommended_regimen or ""
    gt_none = bool(gt_text) and no_regimen(gt_text)
    gt_doses = [] if gt_none else parse_regimen(gt_text)
    no_abx = gt_none or bool(syndrome and syndrome.no_antibiotic and not gt_doses)
    drugs = list(dict.fromkeys((d.drug, d.route) for d in (*prescribed, *gt_doses) if d.drug))
    memo: dict[tuple[str, str | None], tuple[Risk, ...]] = {}
    risks = _case_risks(case, drugs, memo)
    sensitive, resistant = read_culture(case.patient.cultures or "")
    return CaseContext(case, gt, syndrome, via, prescribed, _options(syndrome, gt_doses, gt_text, case), no_abx, risks,
                       _diagnosis_terms(case, syndrome), sensitive, resistant, memo)
