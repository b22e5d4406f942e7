"""Renal dose adjustment of a regimen item from the knowledge base's renal bands, for synthetic cases.

A band's advice is guideline text ("3.375 g q6h", "Half dose q12h", "15 mg/kg q48h", "50% of the dose once daily",
"1.2 g stat then 600 mg IV q12h", "One third of the maintenance dose q24h"). `renal_adjust` reads it into an adjusted
Item, or returns None when the text does not give one dose and one interval (a range such as "250-500 mg q12h",
"Maximum 1 g per day", level-guided dosing, a reduction that starts on a later day): the generator then never gives
that drug at that CrCl rather than guess. A "review" band ("reduce the dose", "monitor levels") is never read as the
usual dose, and a drug the knowledge base holds no renal data for is not given below CrCl 60.
A loading dose is not reduced; a single (pre-incision, stat) dose is given in full.
Try it: python -c "from amr_grpo.data.synth.dosing import *; from amr_grpo.data.synth.phrasing import Item; print(renal_for(Item('piperacillin-tazobactam', 'IV', 6, 4500), 25))"
"""

from __future__ import annotations

import re
from dataclasses import replace

from amr_grpo.data.synth.phrasing import Item, dose_text
from amr_grpo.guidelines import RenalBand, load_kb
from amr_grpo.guidelines.text import AMOUNT_RE, amount_from_match

RENAL_CONCERN_CRCL = 60.0  # below this a drug without renal data in the knowledge base is not given
# classes whose loading dose fills a large volume of distribution and is given in full whatever the CrCl (GK); the
# first higher dose of another class (imipenem 1 g stat) is not kept once a renal band reduces the dose
LOAD_KEPT = ("glycopeptide", "polymyxin", "glycylcycline", "tetracycline", "aminoglycoside")
_PAREN = re.compile(r"\([^)]*\)")
_INTERVAL = re.compile(r"\bq\s*(\d+(?:\.\d+)?)\s*h\b", re.I)
_ONCE = re.compile(r"\bonce\s+daily\b|\bOD\b|\bdaily\b", re.I)
_TWICE = re.compile(r"\btwice\s+daily\b|\bBD\b", re.I)
_FRACTION = [(re.compile(r"\b(?:half|50\s*%)", re.I), 0.5), (re.compile(r"\b25\s*%", re.I), 0.25),
             (re.compile(r"\bone[- ]third\b", re.I), 1 / 3)]
_SAME = re.compile(r"\b(?:full|standard|usual)\s+dose\b", re.I)
_FIRST_DOSE = re.compile(r"\bafter\s+a\s+full\s+first\s+dose\b|\bfull\s+first\s+dose\b", re.I)
_UNREADABLE = re.compile(
    r"\b(?:max(?:imum)?|per\s+day|level|auc|guided|review|avoid|not\s+recommended|about|from\s+day)\b|\d\s*-\s*\d",
    re.I)


def renal_adjust(item: Item, band: RenalBand) -> Item | None:
    """The item dosed as the band advises, or None when the advice is not one dose and one interval."""
    if band.action == "no_change":
        return item
    if band.action != "adjust":
        return None
    text = _PAREN.sub("", band.advice).split(";")[0]  # "One 625 mg tablet q12h; do not use ...": the dose part
    load = item.load if load_kb().drug(item.drug).drug_class in LOAD_KEPT else None
    if "then" in text.lower():  # "1.2 g stat then 600 mg IV q12h": the band's own first dose, then the maintenance
        head, text = re.split(r"\bthen\b", text, maxsplit=1, flags=re.I)
        first = AMOUNT_RE.search(head)
        load = f"{first.group(0).strip()} stat" if first else load
    if _FIRST_DOSE.search(text):  # "Half dose q8h after a full first dose": the usual dose first
        load = load or f"{dose_text(item)} stat"
        text = _FIRST_DOSE.sub("", text)
    if _UNREADABLE.search(text):
        return None
    m = _INTERVAL.search(text)
    interval = float(m.group(1)) if m else 24.0 if _ONCE.search(text) else 12.0 if _TWICE.search(text) else None
    amounts = [amount_from_match(a) for a in AMOUNT_RE.finditer(text)]
    factor = next((f for rx, f in _FRACTION if rx.search(text)), None)
    if len(amounts) > 1 or (amounts and factor):
        return None
    if amounts:
        a = amounts[0]
        same_kind = (a.mg is None) == (item.dose_mg is None) and (a.mg_per_kg is None) == (item.dose_mg_per_kg is None)
        if a.per_day or not same_kind:
            return None
        new = replace(item, dose_mg=a.mg, dose_mg_per_kg=a.mg_per_kg, dose_units=a.units or item.dose_units)
    elif factor:
        new = replace(item, dose_mg=_scale(item.dose_mg, factor), dose_mg_per_kg=_scale(item.dose_mg_per_kg, factor),
                      dose_units=_scale(item.dose_units, factor))
    elif _SAME.search(text):
        new = item
    else:
        return None
    if interval is not None:
        new = replace(new, interval_h=interval)
    elif amounts or item.interval_h == 0:  # "4 mg/kg" (then by level): the interval is not given, do not guess
        return None
    if new == item or (new.dose_mg is not None and new.dose_mg % 20 and new.dose_mg % 25):
        return None  # no change, or an amount no product gives (25% of 750 mg = 187.5 mg)
    if any(b is not None and a is not None and b > a for a, b in ((item.dose_mg, new.dose_mg),
                                                              (item.dose_mg_per_kg, new.dose_mg_per_kg))):
        return None  # a band for another dosing scheme (gentamicin 5 mg/kg q36h vs 1 mg/kg q8h synergy): no guess
    if factor and item.route == "PO" and new.dose_mg is not None and new.dose_mg % 40 and new.dose_mg % 50:
        return None  # half of a 750 mg oral dose is no tablet strength (200, 250, 400, 480, 500 ... mg)
    if new.dose_mg_per_kg is not None and round(new.dose_mg_per_kg, 1) != new.dose_mg_per_kg:
        return None  # one third of 10 mg/kg: not a dose anyone writes
    return replace(new, load=load)


def _scale(x: float | None, f: float) -> float | None:
    return None if x is None else round(x * f, 3)


def renal_for(item: Item, crcl: float | None) -> tuple[Item | None, RenalBand | None]:
    """(the item as dosed at this CrCl, the band). (item, None) without renal data at a CrCl of 60 or more, or
    without a CrCl; (item, band) when the band leaves it as is (no change, or a single dose); (None, band) when
    the band says avoid/review or its advice cannot be read into one dose, and (None, None) for a course of a drug
    without renal data below CrCl 60: the item must not be given as is."""
    band = load_kb().renal_band(item.drug, crcl, item.route)
    if item.interval_h == 0:
        return item, band  # a single (pre-incision, stat) dose is given in full: the bands dose a course
    if band is None:
        return (None if crcl is not None and crcl < RENAL_CONCERN_CRCL else item), None
    return renal_adjust(item, band), band
