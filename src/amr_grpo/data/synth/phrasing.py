"""How a regimen is written: the canonical form of a recommended regimen, and the many ways a clinician writes
the same prescription (Tab/Inj/Cap, OD/BD/TDS/QID, 1-0-1, q8h, "x 5 days", "for 5/7", brand-style names), with
the loading dose written first where the guideline gives one ("1 g IV stat, then 500 mg IV q6h").

Every phrasing here is one the knowledge base's `parse_prescription` reads back to the same drug, dose, route,
frequency and duration (tests/data/test_synth.py checks it on every generated case).
Try it: python -c "import random; from amr_grpo.data.synth.phrasing import Item, clinician_text; print(clinician_text([Item('amoxicillin', 'PO', 8, 1000, days=5)], random.Random(0)))"
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from amr_grpo.guidelines import load_kb


@dataclass(frozen=True)
class Item:
    """One drug as prescribed or recommended: exactly one of dose_mg / dose_mg_per_kg / dose_units is set."""

    drug: str  # knowledge-base drug key
    route: str  # "PO" | "IV" | "IM"
    interval_h: float  # 24 = OD ... 0 = single dose
    dose_mg: float | None = None
    dose_mg_per_kg: float | None = None
    dose_units: float | None = None
    days: float | None = None
    load: str | None = None  # the guideline's loading dose, as the knowledge base writes it: "1 g stat", "25 mg/kg"
    cap_mg_day: float | None = None  # a weight-based dose's daily maximum ("max 1 g/day"), until resolved for a weight

    def with_days(self, days: float | None) -> Item:
        return replace(self, days=None if self.interval_h == 0 else days)


_LOAD = re.compile(r"^\s*(\d+(?:\.\d+)?)(?:\s*-\s*\d+(?:\.\d+)?)?\s*(mg/kg|mg|g|MU|lakh units|units)\b\s*(.*?)\s*$",
                   re.I)


def load_parts(item: Item) -> tuple[str, str] | None:
    """The loading dose as (amount, how): '15-20 lakh units stat' -> ('15 lakh units', 'stat') (the low end of a
    range); '25 mg/kg' -> ('25 mg/kg', 'stat'); '400 mg q12h x 3 doses' -> ('400 mg', 'q12h x 3 doses')."""
    m = _LOAD.match(item.load or "")
    if not m:
        return None
    return f"{m.group(1)} {m.group(2)}", m.group(3) or "stat"


def load_canonical(item: Item) -> str:
    """'1 g IV stat, then ' (empty without a loading dose): what a regimen writes before the maintenance dose."""
    parts = load_parts(item)
    return f"{parts[0]} {item.route} {parts[1]}, then " if parts else ""


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def dose_text(item: Item, style: int = 0) -> str:
    """'1 g', '500 mg', '15 mg/kg', '4.5 MU', '7.5 lakh units'; style 1-2 give other spellings of the same amount."""
    if item.dose_mg_per_kg is not None:
        return f"{_num(item.dose_mg_per_kg)} mg/kg"
    if item.dose_units is not None:
        u = item.dose_units
        if u >= 1e6 and item.drug != "polymyxin-b" and (style % 2 == 0 or u % 1e5):  # polymyxin B is dosed in lakh
            return f"{_num(u / 1e6)} MU"
        return f"{_num(u / 1e5)} lakh units"
    mg = item.dose_mg or 0
    if mg >= 1000:
        return [f"{_num(mg / 1000)} g", f"{_num(mg / 1000)}gm", f"{_num(mg)} mg"][style % 3]
    return [f"{_num(mg)} mg", f"{_num(mg)}mg", f"{_num(mg)} mg"][style % 3]


def freq_canonical(interval_h: float) -> str:
    return "single dose" if interval_h == 0 else f"q{_num(interval_h)}h"


def days_canonical(days: float | None) -> str:
    return "" if days is None else f" x {_num(days)} days"


def canonical_text(items: list[Item]) -> str:
    """The recommended-regimen form: 'Piperacillin-tazobactam 3.375 g IV q6h x 7 days + ...'."""
    parts = [f"{display_name(i.drug)} {load_canonical(i)}{dose_text(i)} {i.route} {freq_canonical(i.interval_h)}"
             f"{days_canonical(i.days)}" for i in items]
    return _joiner(items, " + ").join(parts)


def _joiner(items: list[Item], usual: str) -> str:
    """'; ' where the KB parser would give a last item's duration to earlier items that have none (it reads
    'A + B x 5 days' as both for 5 days; ';' separates lines); `usual` otherwise."""
    if len(items) > 1 and items[-1].days is not None and any(i.days is None for i in items[:-1]):
        return "; "
    return usual


_FREQ = {
    24: ["OD", "once daily", "q24h", "OD", "daily"],
    12: ["BD", "BID", "q12h", "BD", "twice daily", "12 hourly"],
    8: ["TDS", "TID", "q8h", "TDS", "thrice daily", "8 hourly"],
    6: ["QID", "q6h", "6 hourly", "QID", "QDS"],
    4: ["q4h", "4 hourly"],
    0: ["single dose", "one dose", "single dose", "stat", "once"],
}
_PILLS = {24: "1-0-0", 12: "1-0-1", 8: "1-1-1", 6: "1-1-1-1"}
_CAPSULES = {"amoxicillin", "doxycycline", "cloxacillin", "cefalexin", "cefadroxil", "clindamycin", "nitrofurantoin",
             "tetracycline", "rifampicin"}


def _freq_text(item: Item, rng: random.Random) -> str:
    options = list(_FREQ.get(int(item.interval_h), [f"q{_num(item.interval_h)}h"]))
    if item.route == "PO" and item.interval_h in _PILLS:
        options.append(_PILLS[item.interval_h])
    return rng.choice(options)


def _days_text(days: float | None, rng: random.Random) -> str:
    if days is None:
        return ""
    n = _num(days)
    options = [f"x {n} days", f"x {n}d", f"for {n} days", f"for {n}/7", f"x {n}/7", f"x {n} days"]
    if days % 7 == 0 and days >= 14:
        options += [f"x {_num(days / 7)} weeks", f"for {_num(days / 7)} weeks"]
    return rng.choice(options)


def drug_names(key: str) -> list[str]:
    """The drug's name and the synonyms that the parser maps back to it alone (brand-style forms included)."""
    kb = load_kb()
    d = kb.drug(key)
    out = [display_name(key)]
    for s in sorted(d.synonyms):
        if len(s) >= 4 and kb.find_drugs(s) == [key] and any(c.isalpha() for c in s):
            out.append(_capitalise(s))
    return out


def display_name(key: str) -> str:
    """The drug's name without a parenthetical gloss ('Colistin (colistimethate sodium)' -> 'Colistin')."""
    kb = load_kb()
    name = kb.drug(key).name
    short = name.split(" (")[0].strip()
    return short if kb.find_drugs(short) == [key] else name


def _capitalise(s: str) -> str:
    if not s.islower():
        return s
    parts = re.split(r"[-/]", s)
    if len(parts) > 1 and all(len(p) <= 3 for p in parts):  # tmp-smx -> TMP-SMX
        return s.upper()
    return s[0].upper() + s[1:]


def _one(item: Item, rng: random.Random, with_days: bool) -> str:
    names = drug_names(item.drug)
    name = names[0] if rng.random() < 0.6 or len(names) == 1 else rng.choice(names[1:])
    dose = dose_text(item, rng.randrange(3))
    freq = _freq_text(item, rng)
    if item.route == "PO":
        form = rng.choice(["Cap", "Cap."] if item.drug in _CAPSULES else ["Tab", "Tab."])
        route = rng.choice(["", "", "PO", "orally"])
        if rng.random() < 0.2:
            form, route = "", "PO"
    elif item.route == "IM":
        form, route = rng.choice(["Inj", "Inj."]), "IM"
    else:
        form = rng.choice(["Inj", "Inj.", "Inj", ""])
        route = "IV" if not form or rng.random() < 0.6 else ""
    parts = [form, name, _load_text(item, rng), dose, route, freq]
    if with_days:
        parts.append(_days_text(item.days, rng))
    return " ".join(p for p in parts if p)


def _load_text(item: Item, rng: random.Random) -> str:
    """'1 g stat, then', '25 mg/kg IV loading then', '400 mg q12h x 3 doses, then' (empty without a loading dose)."""
    parts = load_parts(item)
    if not parts:
        return ""
    amount, how = parts
    if how == "stat":
        how = rng.choice(["stat,", "stat", "loading,", "loading dose,"])
    else:
        how += rng.choice([",", ""])
    route = rng.choice(["", item.route])
    return " ".join(p for p in (amount, route, how, "then") if p)


def clinician_text(items: list[Item], rng: random.Random) -> str:
    """A prescription as a clinician might write it. A combination with one shared duration may give it once,
    at the end ('... + Tab Azithro 500 mg OD x 5 days')."""
    shared = len(items) > 1 and len({i.days for i in items}) == 1 and rng.random() < 0.5
    texts = [_one(it, rng, with_days=not shared or k == len(items) - 1) for k, it in enumerate(items)]
    joiners = [" + ", " + ", " and "] if shared else [" + ", " + ", "; ", " and "]  # ';' ends a line for the parser
    return _joiner(items, rng.choice(joiners)).join(texts) if len(items) > 1 else texts[0]
