"""Text normalisation shared by the knowledge-base lookups and the prescription parser.

`key()` folds case, punctuation, hyphens/spaces and simple plurals, so "Pneumonia, community-acquired" and
"community acquired pneumonias" give lookup keys that `bag()` (word order ignored) makes equal.
`parse_amount()` reads one dose amount ("4.5 gm", "500mcg", "15 mg/kg", "7.5 lakh units", "4.5 MU").
Try it: python -c "from amr_grpo.guidelines.text import key, parse_amount; print(key('Pip-Taz'), parse_amount('1.2gm'))"
"""

from __future__ import annotations

import re
from typing import NamedTuple

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_GREEK = {"β": "beta", "ß": "beta", "µ": "u", "μ": "u", "×": "x"}


def _fold(text: str) -> str:
    text = text.lower()
    for a, b in _GREEK.items():
        text = text.replace(a, b)
    return text


def singular(word: str) -> str:
    """'infections' -> 'infection', 'allergies' -> 'allergy'; keeps 'sepsis', 'abscess', 'pertussis', 'pus'."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "is", "us", "os")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """Lower-case singular words, punctuation dropped: 'Pneumonia, community-acquired' -> [pneumonia, community, acquired]."""
    return [singular(w) for w in _NON_ALNUM.split(_fold(text)) if w]


def key(text: str) -> str:
    """Order-sensitive lookup key: words joined without separators ('co-trimoxazole' == 'cotrimoxazole')."""
    return "".join(words(text))


def bag(text: str) -> str:
    """Order-free lookup key: sorted words ('pneumonia, community-acquired' == 'community acquired pneumonia')."""
    return " ".join(sorted(words(text)))


class Amount(NamedTuple):
    mg: float | None = None
    mg_per_kg: float | None = None
    units: float | None = None
    per_day: bool = False  # "mg/kg/day", "g/day": a daily total, not a single dose


_NUM = r"\d+(?:,\d{2,3})*(?:\.\d+)?|\.\d+"
_MASS = {"mg": 1.0, "milligram": 1.0, "g": 1000.0, "gm": 1000.0, "gram": 1000.0, "mcg": 0.001, "ug": 0.001}
_UNITS = {"mu": 1e6, "miu": 1e6, "million": 1e6, "lakh": 1e5, "lac": 1e5, "l": 1e5}
# One amount: "500 mg", "1.2gm", "160/800 mg" (two components of one product, summed), "15 mg/kg", "20 mg/kg/day",
# "7.5 lakh units", "4.5 MU", "2.4 million IU", "100000 units".
AMOUNT_RE = re.compile(
    rf"(?<![\d.])(?P<a>{_NUM})(?:\s*/\s*(?P<b>{_NUM}))?\s*"
    r"(?:(?P<mass>mg|milligrams?|gms?|grams?|g|mcg|ug|µg|μg)(?P<perkg>\s*/\s*kg)?(?P<perday>\s*/\s*(?:day|d|24\s*h))?"
    r"|(?P<mult>mu|miu|million|lakhs?|lacs?|l(?=\s*(?:units?|iu|u)\b))\s*(?:international\s+)?(?:units?|iu|u)?"
    r"|(?P<plain>(?:international\s+)?units?|iu|u))(?![a-z])",
    re.IGNORECASE,
)


def _num(s: str) -> float:
    return float(s.replace(",", ""))


def amount_from_match(m: re.Match[str]) -> Amount:
    value = _num(m["a"]) + (_num(m["b"]) if m["b"] else 0.0)
    if m["mass"]:
        unit = m["mass"].lower().rstrip("s")
        unit = {"milligram": "mg", "µg": "mcg", "μg": "mcg"}.get(unit, unit)
        mg = value * _MASS[unit]
        if m["perkg"]:
            return Amount(mg_per_kg=mg, per_day=bool(m["perday"]))
        return Amount(mg=mg, per_day=bool(m["perday"]))
    if m["mult"]:
        return Amount(units=value * _UNITS[m["mult"].lower().rstrip("s")])
    return Amount(units=value)


def parse_amount(text: str) -> Amount | None:
    """The single amount that is the whole of `text` ('4.5 g' -> mg=4500.0), else None."""
    m = AMOUNT_RE.fullmatch(text.strip())
    return amount_from_match(m) if m else None
