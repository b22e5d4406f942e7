"""Read the knowledge-base YAML files beside this module into the typed rows of model.py, validating as it goes.

A malformed row raises KBError naming the file and the entry ("drugs.yaml: drug 'amikacin': renal band 2:
missing 'action'"), never a KeyError deep inside a lookup. Sources are written "ID | section | page | LABEL"
(ID from sources.yaml, '-' for none, LABEL one of model.CONFIDENCE_LABELS).
Try it: python -m amr_grpo.guidelines
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from amr_grpo.errors import UserError
from amr_grpo.guidelines.model import (
    CONFIDENCE_LABELS,
    DoNotUse,
    Drug,
    Regimen,
    RegimenItem,
    RenalBand,
    Source,
    Syndrome,
)
from amr_grpo.guidelines.safety import attach_safety  # the class-level pregnancy and interaction rows
from amr_grpo.guidelines.text import AMOUNT_RE, Amount, parse_amount

DATA_DIR = Path(__file__).parent
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster start-up
ROUTES = ("PO", "IV", "IM", "PO/IV", "IV/IM")
AWARE = ("Access", "Watch", "Reserve")
RENAL_ACTIONS = ("no_change", "adjust", "avoid", "review")
DECISIONS = ("Modify", "Reject")


class KBError(UserError, ValueError):
    """A malformed knowledge-base file; the message names the file and the entry."""


@dataclass(frozen=True)
class RawKB:
    """Everything read from the YAML files, validated, before the lookup indexes are built."""

    guidelines: dict[str, str]
    stewardship: tuple[tuple[str, str, Source], ...]  # (rule id, rule, source)
    groups: dict[str, tuple[str, ...]]  # syndrome group -> its generic synonyms
    syndromes: tuple[Syndrome, ...]
    drugs: tuple[Drug, ...]
    class_allergy: dict[str, tuple[str, ...]]
    allergy_terms: dict[str, tuple[str, ...]]
    severe_words: tuple[str, ...]
    severe_upgrades: dict[str, str]
    medicine_classes: dict[str, tuple[str, ...]]


class _Ctx:
    """Where we are (file and entry), so every error can say it."""

    def __init__(self, file: str, guidelines: dict[str, str]):
        self.file, self.guidelines, self.entry = file, guidelines, ""

    def fail(self, msg: str) -> KBError:
        where = f"{self.file}: {self.entry}: " if self.entry else f"{self.file}: "
        return KBError(where + msg, hint="fix the row in src/amr_grpo/guidelines/" + self.file)

    def get(self, row: Any, name: str, kind: type | tuple[type, ...] = str, default: Any = ...) -> Any:
        if not isinstance(row, dict):
            raise self.fail(f"expected a mapping, got {type(row).__name__}")
        if name not in row or row[name] is None:
            if default is ...:
                raise self.fail(f"missing '{name}'")
            return default
        value = row[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind):
            raise self.fail(f"'{name}' must be {getattr(kind, '__name__', kind)}, got {value!r}")
        return value

    def strings(self, row: Any, name: str, required: bool = False) -> tuple[str, ...]:
        value = self.get(row, name, list, ... if required else [])
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(f"'{name}' must be a list of non-empty strings")
        return tuple(v.strip() for v in value)

    def choice(self, value: str, allowed: tuple[str, ...], what: str) -> str:
        if value not in allowed:
            raise self.fail(f"{what} {value!r} is not one of {', '.join(allowed)}")
        return value

    def source(self, row: Any, name: str = "source", default: Source | None = None) -> Source:
        text = self.get(row, name, str, None)
        if text is None:
            if default is None:
                raise self.fail(f"missing '{name}'")
            return default
        parts = [p.strip() for p in text.split("|")]
        if len(parts) != 4:
            raise self.fail(f"source {text!r} must be 'ID | section | page | LABEL'")
        gid, section, page, label = parts
        if gid not in self.guidelines:
            raise self.fail(f"source guideline {gid!r} is not defined in sources.yaml")
        self.choice(label, CONFIDENCE_LABELS, "confidence label")
        return Source(self.guidelines[gid], None if section == "-" else section, None if page == "-" else page, label)


def _read(data_dir: Path, name: str) -> Any:
    path = data_dir / name
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except FileNotFoundError as e:
        raise KBError(f"{name}: knowledge-base file is missing") from e
    except yaml.YAMLError as e:
        raise KBError(f"{name}: not valid YAML: {e}") from e


_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(.+)$")


def _amount(c: _Ctx, text: str, what: str) -> tuple[Amount, float | None]:
    """'4.5 g' -> (Amount, None); '1-2 g' -> (Amount of 1 g, 2000.0): the upper end in the same unit."""
    rng = _RANGE.match(text)
    amount = parse_amount(rng.group(2) if rng else text)
    if amount is None or amount.per_day:
        raise c.fail(f"{what} {text!r} is not an amount like '500 mg', '1-2 g', '15 mg/kg', '7.5 lakh units'")
    if not rng:
        return amount, None
    low = parse_amount(re.sub(r"^\s*[\d.]+", rng.group(1), rng.group(2)))  # "1-2 g" -> "1 g"
    return low, next(v for v in amount[:3] if v is not None)


def _item(c: _Ctx, row: Any, drug_keys: set[str]) -> RegimenItem:
    drug = c.get(row, "drug")
    if drug not in drug_keys:
        raise c.fail(f"regimen drug {drug!r} is not a drug key in drugs.yaml")
    route = c.choice(c.get(row, "route"), ROUTES, "route")
    interval = c.get(row, "interval_h", (int, float, list))
    if isinstance(interval, list):
        if len(interval) != 2 or not all(isinstance(x, (int, float)) for x in interval) or interval[0] >= interval[1]:
            raise c.fail(f"interval_h {interval!r} must be N or [low, high]")
        interval_lo, interval_hi = float(interval[0]), float(interval[1])
    else:
        interval_lo, interval_hi = float(interval), None
    dose = str(c.get(row, "dose"))
    amount, dose_max = _amount(c, dose, "dose")
    days = c.get(row, "days", (int, float, list), None)
    if isinstance(days, list):
        if len(days) != 2 or not all(isinstance(d, (int, float)) for d in days) or days[0] > days[1]:
            raise c.fail(f"days {days!r} must be N or [min, max]")
        dmin, dmax = float(days[0]), float(days[1])
    else:
        dmin = dmax = None if days is None else float(days)
    load = c.get(row, "load", str, "")  # e.g. "1 g stat", "400 mg q12h x 3 doses", "25 mg/kg"
    rng = _RANGE.match(load)
    if load and not AMOUNT_RE.match((rng.group(2) if rng else load).strip()):
        raise c.fail(f"load {load!r} must start with an amount")
    freq = "single dose" if interval_lo == 0 else f"q{interval_lo:g}h" if interval_hi is None else f"q{interval_lo:g}-{interval_hi:g}h"
    dose_text = (f"{load}, then " if load else "") + f"{dose} {route} {freq}"
    return RegimenItem(drug, route, interval_lo, amount.mg, amount.mg_per_kg, amount.units, dmin, dmax, dose_text,
                       dose_max, interval_hi)


def _duration_text(items: tuple[RegimenItem, ...]) -> str:
    spans = {(i.duration_days_min, i.duration_days_max) for i in items if i.duration_days_min is not None}
    if len(spans) != 1:
        return ""
    lo, hi = spans.pop()
    return f" x {lo:g} days" if lo == hi else f" x {lo:g}-{hi:g} days"


def _regimens(c: _Ctx, row: Any, name: str, drugs: dict[str, Drug]) -> tuple[Regimen, ...]:
    out = []
    for n, reg in enumerate(c.get(row, name, list, []), 1):
        items = tuple(_item(c, it, set(drugs)) for it in c.get(reg, "items", list))
        if not items:
            raise c.fail(f"{name} {n}: a regimen needs at least one item")
        text = c.get(reg, "text", str, "")
        if not text:  # readable text built from the structured items
            parts = [f"{drugs[i.drug].name} {i.dose_text}" for i in items]
            text = " + ".join(parts) + _duration_text(items)
        out.append(Regimen(items, text, c.get(reg, "when", str, "")))
    return tuple(out)


def _do_not_use(c: _Ctx, row: Any, known: set[str], default: Source) -> tuple[DoNotUse, ...]:
    out = []
    for d in c.get(row, "do_not_use", list, []):
        names = c.strings(d, "drugs", required=True)
        for nm in names:
            if nm not in known:
                raise c.fail(f"do_not_use names {nm!r}, which is neither a drug key nor a drug class")
        decision = c.choice(c.get(d, "decision"), DECISIONS, "decision")
        out.append(DoNotUse(names, c.get(d, "reason"), decision, c.source(d, default=default)))
    return tuple(out)


def _renal(c: _Ctx, row: Any) -> tuple[RenalBand, ...]:
    """`renal` is one block {source, bands} or a list of blocks each with a `route` (PO and IV bands differ)."""
    renal = c.get(row, "renal", (dict, list), None)
    if renal is None:
        return ()
    blocks = renal if isinstance(renal, list) else [renal]
    out: list[RenalBand] = []
    for block in blocks:
        route = c.get(block, "route", str, None)
        if len(blocks) > 1 and route is None:
            raise c.fail("each renal block needs a 'route' when there are several")
        if route is not None:
            c.choice(route, ROUTES, "renal route")
        default = c.source(block)
        bands = []
        for n, b in enumerate(c.get(block, "bands", list), 1):
            lo, hi = c.get(b, "min", float, None), c.get(b, "max", float, None)
            action = c.choice(c.get(b, "action"), RENAL_ACTIONS, f"renal band {n} action")
            bands.append(RenalBand(lo, hi, action, c.get(b, "advice"), c.source(b, default=default), route))
        bands.sort(key=lambda b: -1.0 if b.crcl_min is None else b.crcl_min)
        edges = [b.crcl_min for b in bands] + [None]
        if not bands or bands[0].crcl_min is not None or any(b.crcl_max != edges[i + 1] for i, b in enumerate(bands)):
            raise c.fail("renal bands must cover all CrCl values without gaps or overlaps (first min and last max empty)")
        out += bands
    return tuple(out)


def _load_safety(data_dir: Path, guidelines: dict[str, str]) -> tuple[dict, list, list]:
    c = _Ctx("safety.yaml", guidelines)
    raw = _read(data_dir, "safety.yaml")
    maps = {}
    for name in ("classes", "allergy_terms", "medicine_classes"):
        c.entry = name
        table = c.get(raw, name, dict)
        maps[name] = {k: c.strings(table, k, required=True) for k in table}
    c.entry = "severe_allergy"
    maps["severe_words"] = c.strings(raw, "severe_allergy_words", required=True)
    maps["severe_upgrades"] = c.get(raw, "severe_upgrades", dict)
    return maps, c.get(raw, "pregnancy", list), c.get(raw, "interactions", list)


def load_raw(data_dir: Path = DATA_DIR) -> RawKB:
    """Read and validate every YAML file of data_dir; KBError on the first malformed row."""
    src = _read(data_dir, "sources.yaml")
    c = _Ctx("sources.yaml", {})
    guidelines = {str(k): str(v) for k, v in c.get(src, "guidelines", dict).items()}
    c.guidelines = guidelines
    stewardship = []
    for r in c.get(src, "stewardship", list):
        c.entry = f"rule {r.get('id') if isinstance(r, dict) else r!r}"
        stewardship.append((c.get(r, "id"), c.get(r, "rule"), c.source(r)))
    safety, preg_rows, inter_rows = _load_safety(data_dir, guidelines)
    classes = safety["classes"]

    c = _Ctx("drugs.yaml", guidelines)
    drug_file = _read(data_dir, "drugs.yaml")
    aware_src = c.source(drug_file, "aware_source")
    drugs: list[Drug] = []
    for n, row in enumerate(c.get(drug_file, "drugs", list), 1):
        c.entry = f"drug {row.get('key', n) if isinstance(row, dict) else n!r}"
        dclass = c.get(row, "class")
        if dclass not in classes:
            raise c.fail(f"class {dclass!r} is not listed under 'classes' in safety.yaml")
        aware = c.choice(c.get(row, "aware"), AWARE, "AWaRe group")
        by_route = c.get(row, "aware_by_route", dict, {})
        for r, g in by_route.items():
            c.choice(r, ROUTES, "aware_by_route route")
            c.choice(g, AWARE, "AWaRe group")
        drugs.append(Drug(
            key=c.get(row, "key"), name=c.get(row, "name"), synonyms=c.strings(row, "synonyms"), drug_class=dclass,
            allergy_groups=c.strings(row, "allergy_groups") or classes[dclass], aware=aware,
            adult_dose=c.get(row, "adult_dose"), renal=_renal(c, row), pregnancy=None, interactions=(),
            source=c.source(row), notes=c.strings(row, "notes"), aware_by_route=tuple(by_route.items()),
            aware_source=c.source(row, "aware_source", default=aware_src),
        ))
    drugs = attach_safety(_Ctx("safety.yaml", guidelines), drugs, set(classes), preg_rows, inter_rows)
    by_key = {d.key: d for d in drugs}
    if len(by_key) != len(drugs):
        raise KBError("drugs.yaml: duplicate drug key")

    c = _Ctx("syndromes.yaml", guidelines)
    raw = _read(data_dir, "syndromes.yaml")
    groups = {g: c.strings(v, "synonyms", required=True) for g, v in c.get(raw, "groups", dict).items()}
    known = set(by_key) | set(classes)
    syndromes = []
    for n, row in enumerate(c.get(raw, "syndromes", list), 1):
        c.entry = f"syndrome {row.get('key', n) if isinstance(row, dict) else n!r}"
        group = c.get(row, "group", str, "")
        if group and group not in groups:
            raise c.fail(f"group {group!r} is not defined under 'groups'")
        source = c.source(row)
        no_abx = c.get(row, "no_antibiotic", bool, False)
        first = _regimens(c, row, "first_line", by_key)
        if no_abx == bool(first):
            raise c.fail("a syndrome has first_line regimens exactly when no_antibiotic is false")
        syndromes.append(Syndrome(
            key=c.get(row, "key"), name=c.get(row, "name"), synonyms=c.strings(row, "synonyms"),
            setting=c.get(row, "setting"), no_antibiotic=no_abx, first_line=first,
            alternatives=_regimens(c, row, "alternatives", by_key), do_not_use=_do_not_use(c, row, known, source),
            key_points=c.strings(row, "key_points"), source=source, group=group,
        ))
    return RawKB(
        guidelines, tuple(stewardship), groups, tuple(syndromes), tuple(drugs), classes,
        safety["allergy_terms"], safety["severe_words"], dict(safety["severe_upgrades"]), safety["medicine_classes"],
    )
