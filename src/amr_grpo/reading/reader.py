"""The one case reader: a case as free text, a records.Case dict (a prepared split's `context`) or a flat dict with
any of the column names of reading/columns.py -> a records.Case, and a Reading that says where each value came from.

Free text goes through the note's sections (reading/sections.py), the clinical mentions and their context
(reading/context.py: negated, historical, hypothetical and family mentions are set aside), the patient facts
(reading/facts.py), renal function (reading/renal.py), setting and severity (reading/severity.py) and the syndrome
(reading/syndrome.py). A structured field wins over the text; a field nobody states stays None / empty.
Readings are cached per distinct case, so a GRPO group (one case, many completions) reads it once.
Try it: python -c "from amr_grpo.reading import read_case; print(read_case('70/M, 60 kg, S. Cr 2.1 mg/dl. Dx: CAP'))"
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from amr_grpo.guidelines import load_kb
from amr_grpo.reading import facts, renal, severity, syndrome
from amr_grpo.reading.columns import ALIASES, CASE_TEXT_KEYS, PATIENT_ALIASES, norm_key
from amr_grpo.reading.context import Mention, mentions
from amr_grpo.reading.sections import Section, sections
from amr_grpo.records import Case, Patient

_F = re.IGNORECASE
_SETTING_NAMES = (("ICU", r"icu|intensive|critical|hdu|itu"), ("nursing home", r"nursing|care\s+home|long[- ]term"),
                  ("ED", r"\bed\b|emergency|casualty|a\s*&\s*e|\ber\b"), ("ward", r"ward|inpatient|in-patient|ipd|"
                  r"admitted|hospital"), ("OPD", r"opd|outpatient|out-patient|clinic|ambulatory|primary|community|"
                  r"home|gp\b"), ("perioperative", r"peri-?op|operat|surg|theatre|pre-?op"))
_ORDERED = re.compile(r"\b(?:started|prescribed|given|advised|rx|initiated|commenced|plan|begun|treated\s+with|"
                      r"received|switched|changed)\b", _F)
_DOSE_LIKE = re.compile(r"\d\s*(?:mg|g|gm|mu|iu|lakh|million\s+units)\b(?!\s*(?:/\s*(?:dl|l|ml|mmol)\b|%))"
                        r"|\b(?:q\d+h|od|bd|tds|qid|stat|once\s+daily|twice\s+daily)\b", _F)
_FORM_DOT = re.compile(r"\b(T|[Tt]abs?|TABS?|[Cc]aps?|[Ii]nj|INJ|[Ss]yp|[Ss]yr)\.")
_SENTENCE = re.compile(r"(?<=[.;])\s+(?=[A-Z(])|\n")


@dataclass(frozen=True)
class FieldReading:
    """One field of the case as read: its value and where it came from (a span of the text, or a named field)."""

    name: str
    value: Any
    source: str  # the text span it was read from, or "field 'x'" for a structured value
    start: int | None = None
    end: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.name, "value": self.value, "source": self.source, "start": self.start, "end": self.end}


@dataclass
class Reading:
    """What the reader understood from one case: the Case, each field with its source, and what was set aside."""

    case: Case
    text: str = ""  # the free text that was read ("" for a fully structured case)
    fields: list[FieldReading] = field(default_factory=list)
    set_aside: list[Mention] = field(default_factory=list)  # negated / historical / hypothetical / family mentions
    sections: list[Section] = field(default_factory=list)
    syndrome_why: str = ""
    mentions: list[Mention] = field(default_factory=list, repr=False)  # every mention in `text`, read once

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case.to_dict(),
            "fields": [f.to_dict() for f in self.fields],
            "syndrome": {"key": self.case.syndrome, "candidates": list(self.case.syndrome_candidates),
                         "why": self.syndrome_why},
            "set_aside": [{"text": m.text, "label": m.label, "key": m.key, "contexts": list(m.contexts),
                           "start": m.start, "end": m.end} for m in self.set_aside],
            "sections": [{"kind": s.kind, "title": s.title, "start": s.start, "end": s.end} for s in self.sections],
            "note": "Research tool, not for clinical use.",
        }


def normalise_setting(value: str | None) -> str | None:
    """'Medical ICU' -> 'ICU', 'Outpatient clinic' -> 'OPD', 'nursing home' -> 'nursing home'; else as given."""
    if not value or not str(value).strip():
        return None
    for name, rx in _SETTING_NAMES:
        if re.search(rx, str(value), _F):
            return name
    return str(value).strip()


def _unlabelled_prescription(text: str) -> str:
    """Without an 'Rx:' label: the sentences that read like an order ('... started on X 500 mg PO BD x 5 days')."""
    out = []
    for s in _SENTENCE.split(_FORM_DOT.sub(r"\1", text)):
        if _DOSE_LIKE.search(s) and not re.search(r"\ballerg|\bmedications?\b|\bmeds\b|\btakes\b", s, _F) and \
                (_ORDERED.search(s) or load_kb().find_drugs(s)):
            out.append(s.strip())
    return " ".join(out)


def _text_reading(text: str) -> Reading:
    parts = sections(text)
    found = mentions(text)
    for m_i, m in enumerate(found):  # a mention inside a past / family history part is historical / family
        kind = next((s.kind for s in parts if s.start <= m.start < s.end), "text")
        extra = {"past": "historical", "family": "family"}.get(kind)
        if extra and extra not in m.contexts and m.label == "SYNDROME":
            found[m_i] = Mention(m.label, m.key, m.start, m.end, m.text, (*m.contexts, extra))
    r = Reading(Case(id="", patient=Patient(text=text), diagnosis="", prescription=""), text=text, sections=parts,
                set_aside=[m for m in found if not m.affirmed and m.label in ("SYNDROME", "DRUG", "SETTING", "SEVERITY")],
                mentions=found)

    def span(ev: facts.Evidence) -> FieldReading:
        return FieldReading(ev.field, ev.value, ev.text, ev.start, ev.end)

    dx_parts = [s for s in parts if s.kind == "diagnosis" and s.body(text).strip()]
    dx_spans = [(s.start, s.end) for s in dx_parts] or syndrome.diagnosis_spans(text)
    diagnosis = "; ".join(text[a:b].strip(" .\n") for a, b in dx_spans)
    rx = next((s for s in parts if s.kind == "prescription" and s.body(text).strip() and (
        re.fullmatch(r"rx|prescription|prescribed|treatment(?:\s+given)?", s.title, _F)
        or _DOSE_LIKE.search(s.body(text)) or load_kb().find_drugs(s.body(text)))), None)
    prescription = rx.body(text).strip(" .\n") if rx else _unlabelled_prescription(text)
    # Patient facts come from everything but the prescription, so the Rx drugs are not read as current medicines.
    patient_text = text.replace(prescription, " " * len(prescription)) if prescription else text
    p = r.case.patient
    for ev in facts.age_sex(text):
        setattr(p, ev.field, ev.value)
        r.fields.append(span(ev))
    if ev := facts.weight(text):
        p.weight_kg = ev.value
        r.fields.append(span(ev))
    for ev in facts.pregnancy(text) if p.sex != "M" else []:
        setattr(p, ev.field, ev.value)
        r.fields.append(span(ev))
    if p.pregnant is not None:  # pregnant, a pregnancy test, postpartum: a woman
        p.sex = "F"
    p.allergies, evs = facts.allergies(patient_text, parts)
    r.fields += [span(e) for e in evs]
    p.current_medicines, evs = facts.medicines(patient_text, parts)
    r.fields += [span(e) for e in evs]
    p.comorbidities = facts.comorbidities(text)
    if ev := facts.cultures(text):
        p.cultures = ev.value
        r.fields.append(span(ev))
    stated = {ev.field for ev in renal.renal_values(text)}
    for ev in renal.renal_values(text):
        setattr(p, ev.field, ev.value)
        r.fields.append(span(ev))
    renal.fill_renal(p, "crcl_ml_min" in stated, "egfr_ml_min" in stated)
    setting, ev = severity.setting(found, text)
    if ev:
        r.fields.append(span(ev))
    sev, signs, evs = severity.severity(text, found, diagnosis)
    r.fields += [span(e) for e in evs]
    dx_mentions = [m for m in found if m.label == "SYNDROME" and any(a <= m.start < b for a, b in dx_spans)]
    c = r.case
    c.diagnosis, c.prescription, c.setting, c.severity, c.severity_signs = diagnosis, prescription, setting, sev, signs
    for a, b in dx_spans:
        r.fields.append(FieldReading("diagnosis", text[a:b].strip(" .\n"), text[a:b], a, b))
    if prescription:
        r.fields.append(FieldReading("prescription", prescription, prescription))
    _resolve(r, dx_mentions, text, diagnosis)
    if c.syndrome is None and not c.syndrome_candidates:  # no diagnosis: what the note mentions as current
        kb = load_kb()
        for m in found:
            if m.label == "SYNDROME" and m.affirmed:
                keys = [x.key for x in kb.group_members(m.key[2:])] if m.key.startswith("g:") else [m.key[2:]]
                c.syndrome_candidates += [k for k in keys if k not in c.syndrome_candidates]
    return r


def _resolve(r: Reading, dx_mentions: list[Mention], note: str, diagnosis: str) -> None:
    c = r.case
    got = syndrome.resolve(dx_mentions, note, c.setting, c.severity, c.patient.age, diagnosis)
    c.syndrome, c.syndrome_candidates, r.syndrome_why = got.key, got.candidates, got.why
    for m in got.evidence:
        r.fields.append(FieldReading("syndrome", got.key, m.text, m.start if note else None, m.end if note else None))


# ---- structured cases ----------------------------------------------------------------------------------------
def _lookup(d: dict[str, Any], aliases: tuple[str, ...]) -> tuple[str, Any] | None:
    keys = {norm_key(k): k for k in d}
    for a in aliases:
        k = keys.get(a)
        if k is not None and d[k] not in (None, "", []):
            return k, d[k]
    return None


def _as_list(value: Any, name: str) -> list[str]:
    if isinstance(value, (list, tuple)):
        items = [str(x).strip() for x in value if str(x).strip()]
    else:
        text = str(value)
        if name == "allergies":
            if facts.NKDA.search(text) or text.strip().lower() in ("none", "nil", "no", "nka", "-", "n/a"):
                return []
            got, _ = facts.allergies("Allergies: " + text)
            return got or [text.strip().lower()]
        items = [x.strip() for x in re.split(r"[;,|\n]", text) if x.strip()]
    items = [x for x in items if x.lower() not in ("none", "nil", "no", "nkda", "n/a", "-")]
    return [x.lower() for x in items] if name != "comorbidities" else items


def _patient_from_dict(d: dict[str, Any], r: Reading) -> Patient:
    text_hit = _lookup(d, PATIENT_ALIASES["text"])
    base = _text_reading(str(text_hit[1])) if text_hit and isinstance(text_hit[1], str) else None
    p = copy.deepcopy(base.case.patient) if base else Patient()
    if base:
        r.text, r.fields, r.set_aside, r.sections = base.text, base.fields, base.set_aside, base.sections
    stated: set[str] = set()
    for name, aliases in PATIENT_ALIASES.items():
        if name == "text" or (hit := _lookup(d, aliases)) is None:
            continue
        key, value = hit
        try:
            if name in ("comorbidities", "allergies", "current_medicines"):
                value = _as_list(value, name)
            elif name == "sex":
                word = str(value).strip().lower()
                value = "F" if word[:1] == "f" or word in ("woman", "w") else "M" if word[:1] in ("m",) else None
            elif name == "pregnant":
                value = value if isinstance(value, bool) else str(value).strip().lower() in (
                    "yes", "true", "y", "1", "pregnant")
            elif name == "cultures":
                value = str(value)
            else:
                value = float(str(value).split()[0]) if not isinstance(value, (int, float)) else float(value)
        except (TypeError, ValueError, IndexError):
            continue
        if value is None:
            continue
        setattr(p, name, value)
        stated.add(name)
        r.fields.append(FieldReading(name, value, f"field '{key}'"))
    if p.pregnant:
        p.sex = "F"
    basis = d.get("renal_basis") if isinstance(d.get("renal_basis"), str) else None
    p.renal_basis = basis
    renal.fill_renal(p, "crcl_ml_min" in stated, "egfr_ml_min" in stated)
    return p


def _dict_reading(d: dict[str, Any]) -> Reading:
    r = Reading(Case(id="", patient=Patient(), diagnosis="", prescription=""))
    text_hit = _lookup(d, CASE_TEXT_KEYS)
    base = _text_reading(text_hit[1]) if text_hit and isinstance(text_hit[1], str) else None
    if base:
        r = base
    p_hit = _lookup(d, ALIASES["patient"])
    if p_hit and isinstance(p_hit[1], str):
        pr = _text_reading(p_hit[1])
        r.case.patient, r.text, r.fields, r.set_aside, r.sections, r.mentions = pr.case.patient, pr.text, pr.fields, \
            pr.set_aside, pr.sections, pr.mentions
        r.case.severity, r.case.severity_signs = pr.case.severity, pr.case.severity_signs
        r.case.setting = r.case.setting or pr.case.setting
    elif p_hit and isinstance(p_hit[1], dict):
        r.case.patient = _patient_from_dict(p_hit[1], r)
    else:
        rest = {k: v for k, v in d.items() if not text_hit or k != text_hit[0]}
        if any(_lookup(rest, a) for a in PATIENT_ALIASES.values()):
            r.case.patient = _patient_from_dict(rest, r)
    dx_field = _lookup(d, ALIASES["diagnosis"])
    dx_text = "" if dx_field is None else "; ".join(map(str, dx_field[1])) if isinstance(dx_field[1], (list, tuple)) \
        else str(dx_field[1])
    if dx_text or (r.text and r.case.severity is None):  # a diagnosis field's 'severely ill' counts with the note's signs
        r.case.severity, r.case.severity_signs, _ = severity.severity(r.text, r.mentions, dx_text)
    c = r.case
    for name in ("id", "diagnosis", "prescription", "setting", "syndrome"):
        hit = _lookup(d, ALIASES[name])
        if hit is None:
            continue
        value = "; ".join(map(str, hit[1])) if isinstance(hit[1], (list, tuple)) else str(hit[1])
        setattr(c, name, value)
        r.fields.append(FieldReading(name, value, f"field '{hit[0]}'"))
    c.setting = normalise_setting(c.setting)
    if isinstance(d.get("severity"), str) and d["severity"] in ("mild", "moderate", "severe"):
        c.severity = d["severity"]
    if c.syndrome:  # a stated syndrome: a knowledge-base key or name, resolved in the stated setting
        s = load_kb().syndrome(c.syndrome, c.setting)
        c.syndrome, r.syndrome_why = (s.key, "stated syndrome field") if s else (None, f"unknown syndrome "
                                                                                        f"{c.syndrome!r}")
    elif (dx_hit := _lookup(d, ALIASES["diagnosis"])) is not None:
        dx = c.diagnosis  # tie-breaks (comorbidity, MRSA risk ...) also read the patient's text and listed conditions
        note = "\n".join([dx, r.text or "", ", ".join(c.patient.comorbidities)])
        _resolve(r, syndrome.syndrome_mentions(dx), note, dx)
    return r


def _key(obj: Any) -> tuple[str, str]:
    """A hashable cache key: ("s", text) for text, ("j", canonical JSON) for a structured case."""
    return ("s", obj) if isinstance(obj, str) else ("j", json.dumps(obj, sort_keys=True, default=str))


@lru_cache(maxsize=4096)
def _cached(key: tuple[str, str]) -> Reading:
    if key[0] == "s":
        return _text_reading(key[1])
    data = json.loads(key[1])
    return _dict_reading(data) if isinstance(data, dict) else _text_reading(str(data))


def read(patient_case: str | dict[str, Any] | Case) -> Reading:
    """The Reading of a case (cached per distinct case; the returned record is the caller's own copy)."""
    if isinstance(patient_case, Case):
        patient_case = patient_case.to_dict()
    if not isinstance(patient_case, (str, dict)):
        patient_case = str(patient_case)
    return copy.deepcopy(_cached(_key(patient_case)))


def read_case(patient_case: str | dict[str, Any] | Case) -> Case:
    """A case as free text, a records.Case dict (the dataset's `context`), or a flat dict -> Case."""
    if isinstance(patient_case, Case):
        return patient_case
    if not isinstance(patient_case, (str, dict)):
        patient_case = str(patient_case)
    return copy.deepcopy(_cached(_key(patient_case)).case)  # the caller's own copy of the cached reading
