"""What the rules judge knows about a case before it reads a completion, and the regimen check it runs against it.

`case_context(patient_case, ground_truth)` (cached per distinct case and ground truth) reads the case and the
ground truth, finds the knowledge-base syndrome, parses the prescription, lists the regimens the guideline accepts
(ground truth, first line, alternatives) and every patient risk factor the validation must acknowledge.
`check_regimen(ctx, doses)` scores a regimen against that context (guideline_adherence anchors).
Try it:
  python -c "from amr_grpo.judge.rules_context import case_context as c; print(c('70/M 60 kg S. Cr 2.1 Dx: CAP', None))"
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from amr_grpo.guidelines import RegimenItem, Syndrome, load_kb, normalise_setting, parse_prescription
from amr_grpo.guidelines.text import AMOUNT_RE, amount_from_match
from amr_grpo.judge.case_reader import read_case, read_ground_truth
from amr_grpo.judge.parse import no_regimen
from amr_grpo.records import Case, Decision, Dose, GroundTruth

FIRST_TRIMESTER_END = 14.0  # weeks: the 1st trimester is weeks 1-13
NEAR_TERM_WEEKS = 36.0  # from here "avoid near term" rules apply (FACTS.md 5: nitrofurantoin at 38-42 weeks)
RENAL_CONCERN_CRCL = 60.0  # below this a renal function statement is expected even if no drug needs a change
_F = re.IGNORECASE


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
    diagnosis_terms: re.Pattern[str] | None
    _drug_risks: dict[tuple[str, str | None], tuple[Risk, ...]] = field(default_factory=dict)

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
    if p.crcl_ml_min is not None and (band := kb.renal_band(drug, p.crcl_ml_min, route)) and band.action != "no_change":
        out.append(Risk("renal", f"{name} at CrCl {p.crcl_ml_min:g} mL/min: {band.action} ({band.advice})",
                        (), drug, True, band.action == "avoid", band.action))
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
    if p.crcl_ml_min is not None and p.crcl_ml_min < RENAL_CONCERN_CRCL and "renal" not in kinds:
        risks.append(Risk("renal", f"CrCl {p.crcl_ml_min:g} mL/min", major=False))
    return tuple(risks)


def _target_from_dose(d: Dose) -> Target | None:
    if not d.drug:
        return None
    return Target(d.drug, d.route, d.interval_h, d.dose_mg, d.dose_mg_per_kg, d.dose_units, d.duration_days,
                  d.duration_days)


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
    for r in syndrome.alternatives:
        when = r.when.lower()
        reason = blocked or (bool(p.allergies) and "allerg" in when) or (bool(p.pregnant) and "pregnan" in when) or (
            p.crcl_ml_min is not None and p.crcl_ml_min < RENAL_CONCERN_CRCL and "renal" in when)
        text = r.text + (f" ({r.when})" if r.when else "")
        first.append(Option(tuple(map(_target, r.items)), text, "alternative", reason))
    return tuple(out + first)


def find_syndrome(case: Case, gt: GroundTruth) -> tuple[Syndrome | None, str]:
    """The knowledge-base syndrome: ground truth's, then the case's, then read from the diagnosis text."""
    kb = load_kb()
    setting = normalise_setting(case.setting)
    for name, via in ((gt.syndrome, "ground truth"), (case.syndrome, "case")):
        if name and (s := kb.syndrome(name, setting)):
            return s, via
    for text in (case.diagnosis, case.patient.text or ""):
        if text and (found := kb.search_syndromes(text, setting, limit=1)):
            return found[0], "diagnosis"
    return None, ""


def _diagnosis_terms(case: Case, syndrome: Syndrome | None) -> re.Pattern[str] | None:
    names = [case.diagnosis] + ([syndrome.name, *syndrome.synonyms] if syndrome else [])
    words = {w for n in names if n for w in re.findall(r"[a-z]{4,}", n.lower())} - {"acute", "with", "without",
                                                                                     "severe", "mild", "infection"}
    short = {w for n in names if n for w in re.findall(r"\b[A-Z]{3,5}\b", n)}
    alts = sorted(words, key=len, reverse=True) + [rf"\b{re.escape(s)}\b" for s in short]
    return re.compile("|".join(re.escape(w) if not w.startswith("\\b") else w for w in alts), _F) if alts else None


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
    return CaseContext(case, gt, syndrome, via, prescribed, _options(syndrome, gt_doses, gt_text, case), no_abx, risks,
                       _diagnosis_terms(case, syndrome), memo)


@lru_cache(maxsize=8192)
def _parse_cached(text: str) -> tuple[Dose, ...]:
    return tuple(parse_prescription(text))


def parse_regimen(text: str | None) -> list[Dose]:
    """parse_prescription, cached per distinct text (the same regimen strings recur across completions)."""
    return list(_parse_cached(text)) if text and text.strip() else []


# ---- regimen check (guideline_adherence anchors) ----------------------------------------------------------------
_INTERVAL = re.compile(r"\bq\s*(\d+)\s*h|\b(od|bd|tds|tid|qid)\b|once\s+daily", _F)
_NAMED_INTERVAL = {"od": 24.0, "bd": 12.0, "tds": 8.0, "tid": 8.0, "qid": 6.0}
DOSE_TOLERANCE = 0.10  # relative: 960 mg vs "160/800 mg" or 1 g vs 1000 mg are the same dose
PER_KG_TOLERANCE = 0.20  # a weight-based dose written in mg is rounded to vial/tablet sizes (15 mg/kg x 60 kg ~ 1 g)
DURATION_SLACK_DAYS = 2.0  # outside the range by at most this much: "at the edge of the range" (score 4)


@dataclass(frozen=True)
class RegimenCheck:
    score: int  # 1-5, guideline_adherence anchors
    why: str
    contraindicated: tuple[str, ...] = ()  # reasons a drug must not be given to this patient
    renal_unadjusted: tuple[str, ...] = ()  # drugs whose dose ignores an "adjust" renal band
    option: str = ""


def _daily(mg: float | None, interval: float | None) -> float | None:
    if mg is None or interval is None:
        return None
    return mg if interval == 0 else mg * 24.0 / interval


def renally_adjusted(ctx: CaseContext, d: Dose, normal: Target | None) -> bool:
    """A dose counts as adjusted when its daily amount is below the normal daily amount (the band's advice or any
    reduction: ICMR Table 14.1 reduces the dose, lengthens the interval, or both)."""
    for value, ref in ((d.dose_mg, "mg"), (d.dose_mg_per_kg, "per_kg"), (d.dose_units, "units")):
        if value is None:
            continue
        daily = _daily(value, d.interval_h)
        base = _daily(getattr(normal, ref), normal.interval_h) if normal else None
        if base is None and ref == "mg":
            base = _adult_daily_mg(d.drug or "")
        if daily is not None and base is not None:
            return daily < base * (1 - DOSE_TOLERANCE)
    return False


@lru_cache(maxsize=512)
def _adult_daily_mg(drug: str) -> float | None:
    d = load_kb().drug(drug)
    if d is None:
        return None
    m, iv = AMOUNT_RE.search(d.adult_dose), _INTERVAL.search(d.adult_dose)
    if not m or not iv:
        return None
    interval = float(iv.group(1)) if iv.group(1) else _NAMED_INTERVAL.get((iv.group(2) or "od").lower(), 24.0)
    return _daily(amount_from_match(m).mg, interval)


def _compare(ctx: CaseContext, d: Dose, t: Target) -> tuple[list[str], list[str]]:
    """(major, minor) differences between a dose and a target of the same drug."""
    major: list[str] = []
    minor: list[str] = []
    name = d.drug or "?"
    renal = next((r for r in ctx.drug_risks(name, d.route) if r.kind == "renal" and r.action in ("adjust", "review")),
                 None)
    if renal and renally_adjusted(ctx, d, ctx.normal_target(name)):
        pass  # an adjusted dose is judged by the renal check, not against the normal dose
    elif renal and renal.action == "adjust":
        major.append(f"{name}: no renal adjustment ({renal.detail})")
    else:
        w = ctx.case.patient.weight_kg
        if t.mg is not None or t.per_kg is not None or t.units is not None:
            # (given, target low, target high, relative tolerance)
            got = [(d.dose_mg, t.mg, DOSE_TOLERANCE), (d.dose_mg_per_kg, t.per_kg, DOSE_TOLERANCE),
                   (d.dose_units, t.units, DOSE_TOLERANCE)]
            if t.per_kg is not None and d.dose_mg is not None and w:
                got.append((d.dose_mg / w, t.per_kg, PER_KG_TOLERANCE))
            comparable = [(a, b, tol) for a, b, tol in got if a is not None and b is not None]
            if not comparable and d.dose_mg is None and d.dose_mg_per_kg is None and d.dose_units is None:
                major.append(f"{name}: dose not stated")
            elif comparable and not any(b * (1 - tol) <= a <= (t.dose_max or b) * (1 + tol)
                                        for a, b, tol in comparable):
                want = next(b for b in (t.mg, t.per_kg, t.units) if b is not None)
                major.append(f"{name}: dose differs from the guideline ({want:g}"
                             + (f"-{t.dose_max:g})" if t.dose_max else ")"))
        if t.interval_h is not None:
            hi = t.interval_h_max if t.interval_h_max is not None else t.interval_h
            if d.interval_h is None:
                major.append(f"{name}: frequency not stated")
            elif not t.interval_h - 0.5 <= d.interval_h <= hi + 0.5:
                want = "a single dose" if t.interval_h == 0 else f"every {t.interval_h:g}" + (
                    f"-{hi:g} h" if hi != t.interval_h else " h")
                got = "a single dose" if d.interval_h == 0 else f"every {d.interval_h:g} h"
                major.append(f"{name}: {got}, guideline {want}")
    if t.route and d.route is None:
        minor.append(f"{name}: route not stated")
    elif t.route and d.route and d.route not in t.route.split("/"):
        major.append(f"{name}: route {d.route}, guideline {t.route}")
    if t.days_min is not None and t.interval_h != 0:
        lo, hi = t.days_min, t.days_max if t.days_max is not None else t.days_min
        span = f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"
        if d.duration_days is None:
            major.append(f"{name}: duration not stated (guideline {span} days)")
        elif not lo <= d.duration_days <= hi:
            gap = lo - d.duration_days if d.duration_days < lo else d.duration_days - hi
            (minor if gap <= DURATION_SLACK_DAYS else major).append(
                f"{name}: {d.duration_days:g} days, guideline {span} days")
    return major, minor


def _score_option(ctx: CaseContext, doses: tuple[Dose, ...], opt: Option) -> tuple[int, str]:
    have = {d.drug for d in doses}
    want = {t.drug for t in opt.targets}
    if have != want:
        extra, missing = sorted(x or "unknown drug" for x in have - want), sorted(want - have)
        parts = (["adds " + ", ".join(extra)] if extra else []) + (["lacks " + ", ".join(missing)] if missing else [])
        return 2, f"wrong drug for the syndrome: {'; '.join(parts)} vs {opt.kind} '{opt.text}'"
    major: list[str] = []
    minor: list[str] = []
    for t in opt.targets:
        a, b = _compare(ctx, next(d for d in doses if d.drug == t.drug), t)
        major += a
        minor += b
    score = 5 if not major and not minor else 4 if not major else 3 if len(major) == 1 else 2
    why = f"matches {opt.kind} '{opt.text}'" if score == 5 else f"vs {opt.kind} '{opt.text}': " + "; ".join(
        major + minor)
    if opt.kind == "alternative" and not opt.justified and score > 3:
        return 3, f"listed alternative '{opt.text}' chosen with no reason in this case over the first line"
    return score, why


def check_regimen(ctx: CaseContext, doses: tuple[Dose, ...] | None) -> RegimenCheck:
    """Score an endorsed regimen (None: none stated; (): no antibiotic) against the case context."""
    kb = load_kb()
    if doses is None:
        if ctx.no_antibiotic:
            return RegimenCheck(4, "no regimen line; none is indicated for this syndrome")
        return RegimenCheck(1, "no regimen given where one is needed")
    if not doses:
        if ctx.no_antibiotic:
            return RegimenCheck(5, "no antibiotic, as the guideline says for this syndrome")
        if ctx.options:
            return RegimenCheck(1, f"withholds antibiotics where the guideline gives '{ctx.options[0].text}'")
        return RegimenCheck(3, "no antibiotic; no guideline entry found to check it against")
    contra = tuple(r.detail for d in doses if d.drug for r in ctx.drug_risks(d.drug, d.route) if r.contraindicated)
    unadjusted = tuple(d.drug for d in doses if d.drug and any(
        r.kind == "renal" and r.action == "adjust" for r in ctx.drug_risks(d.drug, d.route)) and not renally_adjusted(
        ctx, d, ctx.normal_target(d.drug)))
    if contra:
        return RegimenCheck(1, "contraindicated for this patient: " + contra[0], contra, unadjusted)
    if ctx.no_antibiotic:
        return RegimenCheck(1, "antibiotic where the guideline indicates none"
                            + (f" ({ctx.syndrome.name})" if ctx.syndrome else ""), contra, unadjusted)
    if ctx.syndrome:
        for d in doses:
            if d.drug and (rule := kb.do_not_use(ctx.syndrome.key, d.drug)):
                return RegimenCheck(1, f"guideline says do not use {d.drug}: {rule.reason}", contra, unadjusted)
    accepted = {t.drug for o in ctx.options for t in o.targets}
    for d in doses:
        drug = kb.drug(d.drug) if d.drug else None
        if drug and drug.key not in accepted and drug.aware_for(d.route or "") == "Reserve":
            return RegimenCheck(1, f"empiric Reserve drug {drug.name} outside the guideline", contra, unadjusted)
    if not ctx.options:
        return RegimenCheck(3, "no guideline entry or ground-truth regimen found to check against", contra, unadjusted)
    best = max((_score_option(ctx, doses, o) + (o.text,) for o in ctx.options), key=lambda x: x[0])
    return RegimenCheck(best[0], best[1], contra, unadjusted, best[2])


def expected_decisions(ctx: CaseContext) -> tuple[set[Decision], str]:
    """The acceptable decisions: the ground truth's, else inferred from checking the prescription itself."""
    if ctx.gt.decision:
        return {ctx.gt.decision}, "ground truth"
    if not ctx.prescribed:
        return set(), ""
    rc = check_regimen(ctx, ctx.prescribed)
    if rc.score == 5:
        return {Decision.APPROVE}, "prescription matches the guideline"
    if ctx.no_antibiotic:
        return {Decision.REJECT}, "no antibiotic indicated"
    if rc.score <= 3:
        return {Decision.MODIFY, Decision.REJECT}, "prescription fails the guideline check: " + rc.why
    return {Decision.APPROVE, Decision.MODIFY}, "prescription deviates slightly from the guideline"
