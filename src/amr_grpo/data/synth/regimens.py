"""Knowledge-base regimens as concrete Items for synthetic cases: pick a dose and interval inside a guideline range,
pick a route for "PO/IV", keep the guideline's loading dose and daily maximum, check an Item against a regimen item,
and find an example dose for any drug (from the syndrome regimens, else from the drug's adult-dose text read by the
prescription parser).
Try it: python -c "from amr_grpo.data.synth.regimens import examples; print(examples('ciprofloxacin'))"
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from functools import lru_cache

from amr_grpo.data.synth.phrasing import Item
from amr_grpo.guidelines import Regimen, RegimenItem, Syndrome, load_kb, parse_prescription

# A regimen's `when` that is an editor's note rather than a clinical condition; and conditions too vague to state
_NOTE = re.compile(
    r"source|dataset|listed|extracted|\bGK\b|\brow\b|dose as|option|second choice|incision|duration", re.I)
_VAGUE = re.compile(r"antibiogram|step-down|switch", re.I)
_CAP = re.compile(r"\bmax(?:imum)?\.?\s+(\d+(?:\.\d+)?)\s*(g|mg)\s*(?:/|per)\s*day\b", re.I)


def condition_kind(reg: Regimen) -> str:
    """'none' | 'allergy' | 'pregnancy' | 'condition' (stated in the case) | 'skip' (not usable as a choice)."""
    when = reg.when.strip()
    if _VAGUE.search(when) or _VAGUE.search(reg.text):
        return "skip"
    if not when or _NOTE.search(when):
        return "none"
    if "allerg" in when.lower():
        return "allergy"
    if "pregnan" in when.lower():
        return "pregnancy"
    return "condition"


def usable(s: Syndrome) -> list[tuple[Regimen, bool]]:
    """(regimen, is_first_line) for every regimen a case may prescribe or recommend."""
    out = [(r, True) for r in s.first_line] + [(r, False) for r in s.alternatives]
    return [(r, first) for r, first in out if condition_kind(r) != "skip"]


def syndrome_drugs(s: Syndrome) -> set[str]:
    return {i.drug for r in (*s.first_line, *s.alternatives) for i in r.items}


def pick_route(ri: RegimenItem, setting: str, rng: random.Random) -> str:
    routes = ri.route.split("/")
    if len(routes) == 1:
        return routes[0]
    if setting == "OPD" and "PO" in routes:
        return "PO"
    if setting == "ICU" and "IV" in routes:
        return "IV"
    return rng.choice(routes)


def loading_dose(ri: RegimenItem) -> str | None:
    """The loading dose the knowledge base gives with this item ('1 g stat', '25 mg/kg'), else None. The loader
    writes it at the head of the item's dose text: '1 g stat, then 500 mg IV q6h'."""
    head, sep, _ = ri.dose_text.partition(", then ")
    return head.strip() if sep else None


def daily_cap(reg: Regimen, drug: str) -> float | None:
    """The daily maximum in mg that the regimen's text gives this drug ('... 20 mg/kg/day (max 1 g/day) ...'),
    else None."""
    kb = load_kb()
    for part in re.split(r"\s\+\s", reg.text):
        m = _CAP.search(part)
        if m and drug in kb.find_drugs(part):
            return float(m.group(1)) * (1000.0 if m.group(2).lower() == "g" else 1.0)
    return None


def with_weight(items: list[Item], weight_kg: float) -> list[Item]:
    """Weight-based doses with a daily maximum as the patient's dose in mg: 20 mg/kg/day (max 1 g/day) at 60 kg is
    1 g. The dose is rounded to 250 mg (tablet and vial sizes) and never above the maximum."""
    out = []
    for it in items:
        if it.cap_mg_day is not None and it.dose_mg_per_kg is not None:
            per_dose_cap = it.cap_mg_day * (it.interval_h or 24.0) / 24.0
            mg = min(max(250.0, round(it.dose_mg_per_kg * weight_kg / 250.0) * 250.0), per_dose_cap)
            it = replace(it, dose_mg=mg, dose_mg_per_kg=None, cap_mg_day=None)
        out.append(it)
    return out


def items_of(reg: Regimen, setting: str, rng: random.Random, t: float | None = None) -> list[Item]:
    """Concrete items: a dose and an interval inside each range, a duration at the same point `t` of each range,
    with the regimen's loading dose and daily maximum."""
    t = rng.random() if t is None else t
    out = []
    for ri in reg.items:
        dose = next(x for x in (ri.dose_mg, ri.dose_mg_per_kg, ri.dose_units, 0.0) if x is not None)
        if ri.dose_max is not None and rng.random() < 0.5:
            dose = ri.dose_max
        interval = ri.interval_h_max if ri.interval_h_max is not None and rng.random() < 0.5 else ri.interval_h
        days = None
        if ri.duration_days_min is not None:
            lo, hi = ri.duration_days_min, ri.duration_days_max or ri.duration_days_min
            days = float(round(lo + t * (hi - lo)))
        out.append(Item(
            ri.drug, pick_route(ri, setting, rng), interval,
            dose_mg=dose if ri.dose_mg is not None else None,
            dose_mg_per_kg=dose if ri.dose_mg_per_kg is not None else None,
            dose_units=dose if ri.dose_units is not None else None,
            days=None if interval == 0 else days,
            load=loading_dose(ri), cap_mg_day=daily_cap(reg, ri.drug) if ri.dose_mg_per_kg is not None else None,
        ))
    return out


def _amount(x: Item | RegimenItem) -> tuple[str, float | None]:
    if x.dose_mg_per_kg is not None:
        return "mg/kg", x.dose_mg_per_kg
    if x.dose_units is not None:
        return "units", x.dose_units
    return "mg", x.dose_mg


def dose_ok(item: Item, ri: RegimenItem) -> bool:
    unit, v = _amount(item)
    unit2, lo = _amount(ri)
    hi = ri.dose_max if ri.dose_max is not None else lo
    return unit == unit2 and v is not None and lo is not None and lo - 1e-6 <= v <= hi + 1e-6


def interval_ok(item: Item, ri: RegimenItem) -> bool:
    hi = ri.interval_h_max if ri.interval_h_max is not None else ri.interval_h
    return ri.interval_h <= item.interval_h <= hi


def days_ok(item: Item, ri: RegimenItem) -> bool:
    if ri.duration_days_min is None or item.days is None:
        return True
    return ri.duration_days_min <= item.days <= (ri.duration_days_max or ri.duration_days_min)


def matches(item: Item, ri: RegimenItem) -> bool:
    """The item is this regimen item: same drug, a listed route, dose and interval inside the ranges, duration too."""
    return (item.drug == ri.drug and item.route in ri.route.split("/") and dose_ok(item, ri)
            and interval_ok(item, ri) and days_ok(item, ri))


def guideline_items(s: Syndrome, drug: str) -> list[RegimenItem]:
    return [ri for r in (*s.first_line, *s.alternatives) for ri in r.items if ri.drug == drug]


@lru_cache(maxsize=None)
def examples(drug: str) -> tuple[Item, ...]:
    """Typical adult doses of a drug, one per route: from the KB regimens first, else from its adult-dose text."""
    kb = load_kb()
    found: dict[str, Item] = {}
    for s in kb.syndromes:
        for r in (*s.first_line, *s.alternatives):
            for ri in r.items:
                if ri.drug == drug and ri.interval_h > 0:
                    for route in ri.route.split("/"):
                        found.setdefault(route, items_of(Regimen((ri,), ""), route, random.Random(0), t=0.0)[0])
    d = kb.drug(drug)
    for part in d.adult_dose.split(";"):
        doses = parse_prescription(f"{d.name.split(' (')[0]} {part.strip()}")
        if not doses or doses[0].drug != drug or doses[0].interval_h in (None, 0):
            continue
        x = doses[0]
        if [x.dose_mg, x.dose_mg_per_kg, x.dose_units].count(None) != 2:
            continue
        routes = [x.route] if x.route else [r for r in ("PO", "IV", "IM") if r in part.upper()]
        for route in routes:
            found.setdefault(route, Item(drug, route, x.interval_h, x.dose_mg, x.dose_mg_per_kg, x.dose_units))
    return tuple(found[r] for r in sorted(found))
