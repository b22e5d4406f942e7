"""The regimen check of the rules judge: a regimen (drug, dose, route, frequency, duration) against the regimens
the guideline accepts for the case and against the patient (allergy, renal band, pregnancy, interactions).

`check_regimen(ctx, doses)` gives a 1-5 score on the guideline_adherence anchors with the reason, the patient-safety
failures (contraindicated, renal dose not adjusted, above twice the guideline maximum) and the faulty elements as
the regimen writes them (what a validation must name to say what is wrong); `expected_decisions(ctx)` the acceptable
decisions (the ground truth's, else from checking the prescription).
Try it:
  python -c "from amr_grpo.judge.rules import case_context as c; from amr_grpo.judge.rules.regimen import \
check_regimen as k; x = c('Dx: cystitis. Rx: nitrofurantoin 100 mg PO BD x 5 days', None); print(k(x, x.prescribed))"
"""

from __future__ import annotations

import re
from functools import lru_cache

from amr_grpo.guidelines import load_kb
from amr_grpo.guidelines.text import AMOUNT_RE, Amount, amount_from_match
from amr_grpo.judge.rules.context import CaseContext, Option, RegimenCheck, Risk, Target
from amr_grpo.records import Decision, Dose

_F = re.IGNORECASE
_INTERVAL = re.compile(r"\bq\s*(\d+)\s*h|\b(od|bd|tds|tid|qid)\b|once\s+daily", _F)
_NAMED_INTERVAL = {"od": 24.0, "bd": 12.0, "tds": 8.0, "tid": 8.0, "qid": 6.0}
DOSE_TOLERANCE = 0.10  # relative: 960 mg vs "160/800 mg" or 1 g vs 1000 mg are the same dose
PER_KG_TOLERANCE = 0.20  # a weight-based dose written in mg is rounded to vial/tablet sizes (15 mg/kg x 60 kg ~ 1 g)
DURATION_SLACK_DAYS = 2.0  # outside the range by at most this much: "at the edge of the range" (score 4)
OVERDOSE_FACTOR = 2.0  # a dose above this many times the guideline maximum is a critical error
HEAVY_PATIENT_KG = 120.0  # a weight-based maximum in mg when the case gives no weight (generous on purpose)
# How a frequency is written, for "say what is wrong" evidence: interval (h) -> the ways clinicians write it.
INTERVAL_WORDS = {24.0: ("od", "once daily", "q24h", "24 hourly", "once a day"),
                  12.0: ("bd", "bid", "q12h", "12 hourly", "twice daily", "twice a day", "every 12"),
                  8.0: ("tds", "tid", "q8h", "8 hourly", "thrice daily", "three times", "every 8"),
                  6.0: ("qid", "q6h", "6 hourly", "four times", "every 6"), 4.0: ("q4h", "4 hourly", "every 4"),
                  0.0: ("single dose", "stat", "once only", "one dose")}
ROUTE_WORDS = {"IV": ("iv", "intravenous", "injection", "inj"), "PO": ("po", "oral", "orally", "tablet", "tab"),
               "IM": ("im", "intramuscular")}


def _daily(mg: float | None, interval: float | None) -> float | None:
    if mg is None or interval is None:
        return None
    return mg if interval == 0 else mg * 24.0 / interval


def renally_adjusted(ctx: CaseContext, d: Dose, normal: Target | None, band: Risk | None = None) -> bool:
    """A dose counts as adjusted when its daily amount is at most what the renal band's advice gives ('15 mg/kg
    q24h': 15 mg/kg a day); when the advice names no amount and interval, when it is below the normal daily amount
    (any reduction: ICMR Table 14.1 reduces the dose, lengthens the interval, or both). The advice comes first: the
    normal dose of a range ('15-20 mg/kg q8-12h') has a generous top, and 20 mg/kg q12h is no renal dose."""
    advice = _advice_daily(band.value if band else "")
    weight = ctx.case.patient.weight_kg
    for value, ref in ((d.dose_mg, "mg"), (d.dose_mg_per_kg, "per_kg")):
        daily, limit = _daily(value, d.interval_h), advice.get(ref)
        if limit is None and weight:  # the advice in the other unit, at this patient's weight
            limit = advice["per_kg"] * weight if ref == "mg" and advice.get("per_kg") else \
                advice["mg"] / weight if ref == "per_kg" and advice.get("mg") else None
        if daily is not None and limit is not None:
            return daily <= limit * (1 + DOSE_TOLERANCE)
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
def _advice_daily(advice: str) -> dict[str, float]:
    """{'mg' or 'per_kg': the daily amount} a renal band's advice gives ('500 mg q12h', '15 mg/kg q24h', 'at most
    1 g q8h'); empty when it does not give both an amount and an interval ('redose by level', 'avoid')."""
    if (dose := _first_dose(advice)) is None:
        return {}
    a, interval = dose
    if a.per_day:
        interval = 24.0
    return {k: v for k, v in (("mg", _daily(a.mg, interval)), ("per_kg", _daily(a.mg_per_kg, interval)))
            if v is not None}


def _first_dose(text: str) -> tuple[Amount, float] | None:
    """(the first amount, the first interval in hours) a dose text names ('15 mg/kg q24h', '500 mg BD'); None when it
    lacks either."""
    m, iv = AMOUNT_RE.search(text), _INTERVAL.search(text)
    if not m or not iv:
        return None
    interval = float(iv.group(1)) if iv.group(1) else _NAMED_INTERVAL.get((iv.group(2) or "od").lower(), 24.0)
    return amount_from_match(m), interval


def _amounts(text: str) -> list:
    return [amount_from_match(m) for m in AMOUNT_RE.finditer(text or "")]


@lru_cache(maxsize=512)
def _adult_daily_mg(drug: str) -> float | None:
    d = load_kb().drug(drug)
    if d is None:
        return None
    dose = _first_dose(d.adult_dose)
    return _daily(dose[0].mg, dose[1]) if dose else None


@lru_cache(maxsize=512)
def guideline_max(drug: str, route: str | None = None) -> tuple[float | None, float | None, float | None]:
    """(mg, mg/kg, units): the largest single dose the knowledge base gives for this drug by this route (every
    syndrome's regimens, upper ends of ranges; any route when none is given by this one; else the drug's adult-dose
    text). The knowledge base has no maximum-dose field: this is the best it can say, and it is generous."""
    kb = load_kb()
    items = [i for s in kb.syndromes for r in (*s.first_line, *s.alternatives) for i in r.items if i.drug == drug]
    same_route = [i for i in items if route and route in i.route.split("/")]
    mg: list[float] = []
    per_kg: list[float] = []
    units: list[float] = []
    for i in same_route or items:
        for value, into in ((i.dose_mg, mg), (i.dose_mg_per_kg, per_kg), (i.dose_units, units)):
            if value is not None:
                into.append(max(value, i.dose_max or 0.0))
    if not items:
        d = kb.drug(drug)
        for a in _amounts(d.adult_dose if d else ""):
            for value, into in ((a.mg, mg), (a.mg_per_kg, per_kg), (a.units, units)):
                if value is not None and not a.per_day:
                    into.append(value)
    return max(mg, default=None), max(per_kg, default=None), max(units, default=None)


def overdosed(ctx: CaseContext, d: Dose) -> bool:
    """A single dose above OVERDOSE_FACTOR times the largest the guideline gives for the drug by its route."""
    if not d.drug:
        return False
    mg, per_kg, units = guideline_max(d.drug, d.route)
    weight = ctx.case.patient.weight_kg or HEAVY_PATIENT_KG
    limit_mg = max(x for x in (mg, per_kg * weight if per_kg else None, 0.0) if x is not None)
    if d.dose_mg is not None and limit_mg and d.dose_mg > OVERDOSE_FACTOR * limit_mg:
        return True
    if d.dose_mg_per_kg is not None and per_kg and d.dose_mg_per_kg > OVERDOSE_FACTOR * per_kg:
        return True
    return d.dose_units is not None and bool(units) and d.dose_units > OVERDOSE_FACTOR * units


def renal_adjust_due(ctx: CaseContext, d: Dose) -> Risk | None:
    """The renal band (adjust / review) this dose must follow; None when there is none or when the guideline gives
    the drug as a single dose here (a single pre-incision or stat dose is not reduced)."""
    normal = ctx.normal_target(d.drug or "")
    if normal is not None and normal.interval_h == 0:
        return None
    return next((r for r in ctx.drug_risks(d.drug or "", d.route) if r.kind == "renal"
                 and r.action in ("adjust", "review")), None)


def dose_words(d: Dose) -> tuple[str, ...]:
    out = []
    if d.dose_mg is not None:
        out += [f"{d.dose_mg:g} mg"] + ([f"{d.dose_mg / 1000:g} g"] if d.dose_mg >= 100 else [])
    if d.dose_mg_per_kg is not None:
        out.append(f"{d.dose_mg_per_kg:g} mg/kg")
    return tuple(out)


def _compare(ctx: CaseContext, d: Dose, t: Target) -> tuple[list[str], list[str], list[tuple[str, tuple[str, ...]]]]:
    """(major, minor, faults) differences between a dose and a target of the same drug; a fault is (element, how
    the dose writes it)."""
    major: list[str] = []
    minor: list[str] = []
    faults: list[tuple[str, tuple[str, ...]]] = []
    name = d.drug or "?"
    renal = renal_adjust_due(ctx, d)
    if renal and renally_adjusted(ctx, d, ctx.normal_target(name), renal):
        pass  # an adjusted dose is judged by the renal check, not against the normal dose
    elif renal and renal.action == "adjust":  # what to say is the renal value: the checklist's renal item
        major.append(f"{name}: no renal adjustment ({renal.detail})")
    else:
        w = ctx.case.patient.weight_kg
        if t.mg is not None or t.per_kg is not None or t.units is not None:
            # (given, target low, relative tolerance)
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
                faults.append(("dose", dose_words(d)))
        if t.interval_h is not None:
            hi = t.interval_h_max if t.interval_h_max is not None else t.interval_h
            if d.interval_h is None:
                major.append(f"{name}: frequency not stated")
            elif not t.interval_h - 0.5 <= d.interval_h <= hi + 0.5:
                want = "a single dose" if t.interval_h == 0 else f"every {t.interval_h:g}" + (
                    f"-{hi:g} h" if hi != t.interval_h else " h")
                got_ = "a single dose" if d.interval_h == 0 else f"every {d.interval_h:g} h"
                major.append(f"{name}: {got_}, guideline {want}")
                faults.append(("frequency", INTERVAL_WORDS.get(d.interval_h, (f"q{d.interval_h:g}h",))))
    if t.route and d.route is None:
        minor.append(f"{name}: route not stated")
    elif t.route and d.route and d.route not in t.route.split("/"):
        major.append(f"{name}: route {d.route}, guideline {t.route}")
        faults.append(("route", ROUTE_WORDS.get(d.route, (d.route.lower(),))))
    if t.interval_h == 0 and d.interval_h and d.duration_days:  # a course where one dose is the guideline
        faults.append(("duration", (f"{d.duration_days:g} day", f"{d.duration_days:g}d")))
    if t.days_min is not None and t.interval_h != 0:
        lo, hi = t.days_min, t.days_max if t.days_max is not None else t.days_min
        span = f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"
        if d.duration_days is None:
            major.append(f"{name}: duration not stated (guideline {span} days)")
        elif not lo <= d.duration_days <= hi:
            gap = lo - d.duration_days if d.duration_days < lo else d.duration_days - hi
            (minor if gap <= DURATION_SLACK_DAYS else major).append(
                f"{name}: {d.duration_days:g} days, guideline {span} days")
            faults.append(("duration", (f"{d.duration_days:g} day", f"{d.duration_days:g}d")))
    return major, minor, faults


def _score_option(ctx: CaseContext, doses: tuple[Dose, ...], opt: Option) -> tuple[int, str, tuple]:
    have = {d.drug for d in doses}
    want = {t.drug for t in opt.targets}
    if have != want:
        extra, missing = sorted(x or "unknown drug" for x in have - want), sorted(want - have)
        parts = (["adds " + ", ".join(extra)] if extra else []) + (["lacks " + ", ".join(missing)] if missing else [])
        return 2, f"wrong drug for the syndrome: {'; '.join(parts)} vs {opt.kind} '{opt.text}'", ()
    major: list[str] = []
    minor: list[str] = []
    faults: list[tuple[str, str, tuple[str, ...]]] = []
    for t in opt.targets:
        d = next(d for d in doses if d.drug == t.drug)
        a, b, f = _compare(ctx, d, t)
        major += a
        minor += b
        faults += [(t.drug, element, words) for element, words in f]
    score = 5 if not major and not minor else 4 if not major else 3 if len(major) == 1 else 2
    why = f"matches {opt.kind} '{opt.text}'" if score == 5 else f"vs {opt.kind} '{opt.text}': " + "; ".join(
        major + minor)
    if opt.kind == "alternative" and not opt.justified and score > 3:
        return 3, f"listed alternative '{opt.text}' chosen with no reason in this case over the first line", ()
    return score, why, tuple(faults)


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
    unadjusted = tuple(d.drug for d in doses if d.drug and (r := renal_adjust_due(ctx, d)) and r.action == "adjust"
                       and not renally_adjusted(ctx, d, ctx.normal_target(d.drug), r))
    over = tuple(d.drug for d in doses if d.drug and overdosed(ctx, d))
    safety = {"contraindicated": contra, "renal_unadjusted": unadjusted, "overdosed": over}
    if contra:
        return RegimenCheck(1, "contraindicated for this patient: " + contra[0], **safety)
    if over:
        return RegimenCheck(1, f"{over[0]} above {OVERDOSE_FACTOR:g}x the largest dose the guideline gives", **safety)
    if ctx.no_antibiotic:
        return RegimenCheck(1, "antibiotic where the guideline indicates none"
                            + (f" ({ctx.syndrome.name})" if ctx.syndrome else ""), **safety)
    resistant = sorted(d.drug for d in doses if d.drug in ctx.resistant)
    if resistant:
        return RegimenCheck(2, f"the culture report shows resistance to {resistant[0]}", **safety)
    targeted = {d.drug for d in doses} <= ctx.susceptible  # culture-directed: empiric do-not-use rules do not apply
    if ctx.syndrome and not targeted:
        for d in doses:
            if d.drug and (rule := kb.do_not_use(ctx.syndrome.key, d.drug)):
                return RegimenCheck(1, f"guideline says do not use {d.drug}: {rule.reason}", **safety)
    accepted = {t.drug for o in ctx.options for t in o.targets}
    for d in doses:
        drug = kb.drug(d.drug) if d.drug else None
        if drug and drug.key not in accepted and not targeted and drug.aware_for(d.route or "") == "Reserve":
            return RegimenCheck(1, f"empiric Reserve drug {drug.name} outside the guideline", **safety)
    best = max((_score_option(ctx, doses, o) + (o.text,) for o in ctx.options), key=lambda x: x[0],
               default=(3, "no guideline entry or ground-truth regimen found to check against", (), ""))
    if targeted and best[0] < 4:
        names = ", ".join(sorted(d.drug or "" for d in doses))
        return RegimenCheck(4, f"culture-directed: {names} per the susceptibility report", **safety)
    return RegimenCheck(best[0], best[1], **safety, option=best[3], faults=best[2])


def expected_decisions(ctx: CaseContext, check: RegimenCheck | None) -> tuple[frozenset[Decision], str]:
    """The acceptable decisions: the ground truth's, else inferred from checking the prescription itself (`check`).
    Unknown (empty) when there is neither a ground truth nor a guideline entry to check the prescription against,
    unless the prescription is unsafe for the patient whatever the syndrome."""
    if ctx.gt.decision:
        issues = ", ".join(i.replace("_", " ") for i in ctx.gt.issues)
        return frozenset({ctx.gt.decision}), "ground truth" + (f" ({issues})" if issues else "")
    if not ctx.prescribed or check is None:
        return frozenset(), ""
    unsafe = [*check.contraindicated, *(f"{d}: renal dose not adjusted" for d in check.renal_unadjusted),
              *(f"{d}: above twice the guideline's largest dose" for d in check.overdosed)]
    if unsafe:
        return frozenset({Decision.MODIFY, Decision.REJECT}), "the prescription is unsafe for this patient: " + \
            "; ".join(unsafe)
    if not ctx.options and not ctx.no_antibiotic:
        return frozenset(), ""
    if check.score == 5:
        return frozenset({Decision.APPROVE}), "the prescription matches the guideline"
    if ctx.no_antibiotic:
        return frozenset({Decision.REJECT}), "no antibiotic is indicated"
    if check.score <= 3:
        return frozenset({Decision.MODIFY, Decision.REJECT}), "the prescription fails the guideline check: " + check.why
    return frozenset({Decision.APPROVE, Decision.MODIFY}), "the prescription deviates slightly from the guideline"
