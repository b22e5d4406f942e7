"""Turn one raw record (structured case, alpaca instruction/input/output, or chat `messages`) into a Case and
its GroundTruth, naming every field at fault.

Column names are matched case-insensitively with spaces and hyphens read as underscores, the aliases of the one
column table (reading/columns.py, shared with the case reader) are understood ("dx", "rx", "label", "gender",
"crcl", ...), and `--map FIELD=COLUMN` names any other column
(`patient.age=Age (years)` for one patient field). Problems come back as (field, problem) pairs; prepare.py
prefixes them with FILE:LINE.
Try it: python -c "from amr_grpo.data.normalize import normalize; print(normalize({'input': 'Diagnosis: CAP', 'output': 'Decision: Approve'}, {}))"
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from amr_grpo.output_format import parse_validation
from amr_grpo.reading.columns import ALIASES, CASE_FIELDS, OTHER_FIELDS, PATIENT_ALIASES, PATIENT_FIELDS
from amr_grpo.records import Case, Decision, GroundTruth, Patient

_RANGES = {"age": (0, 120), "weight_kg": (0.3, 400), "crcl_ml_min": (0, 300), "egfr_ml_min": (0, 300),
           "serum_creatinine_mg_dl": (0, 30),
           "gestation_weeks": (0, 45)}
_LIST_FIELDS = ("comorbidities", "allergies", "current_medicines")
_NONE_WORDS = {"none", "nil", "no", "nkda", "nka", "none known", "no known allergies", "n/a", "na", "-", ""}
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[a-zA-Z/%. ]*$")
_LABEL = re.compile(r"^\s*(?:[-*]\s*)?(?:\*\*)?([A-Za-z][A-Za-z /]{0,30}?)(?:\*\*)?\s*[:\-]\s*(.+)$")
_LABELS = {"patient": "patient", "diagnosis": "diagnosis", "dx": "diagnosis", "indication": "diagnosis",
           "prescription": "prescription", "rx": "prescription", "setting": "setting"}


class FieldProblems(Exception):
    """A record with one or more (field, problem) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"field '{f}': {p}" for f, p in problems))
        self.problems = problems


@dataclass
class Normalized:
    case: Case
    truth: GroundTruth
    kind: str  # "structured" | "alpaca" | "chat"
    ignored: list[str] = field(default_factory=list)  # columns that no field uses

    @cached_property
    def case_dict(self) -> dict[str, Any]:
        return self.case.to_dict()

    @cached_property
    def truth_dict(self) -> dict[str, Any]:
        return self.truth.to_dict()

    @cached_property
    def case_key(self) -> str:
        """The case without its id: records of one case share it."""
        return json.dumps({k: v for k, v in self.case_dict.items() if k != "id"}, sort_keys=True, ensure_ascii=False)


@lru_cache(maxsize=4096)
def norm_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def parse_map(items: list[str]) -> dict[str, str]:
    """['diagnosis=Dx', 'patient.age=Age'] -> {'diagnosis': 'Dx', 'patient.age': 'Age'}; ValueError names a bad item."""
    out: dict[str, str] = {}
    known = set(CASE_FIELDS) | set(OTHER_FIELDS) | {f"patient.{p}" for p in PATIENT_FIELDS}
    for item in items:
        target, sep, column = item.partition("=")
        target = target.strip()
        if not sep or not target or not column.strip():
            raise ValueError(f"--map {item!r}: expected FIELD=COLUMN")
        if target not in known:
            raise ValueError(f"--map {item!r}: unknown field {target!r}; fields: " + ", ".join(sorted(known)))
        out[target] = column.strip()
    return out


def _keys(raw: dict[str, Any]) -> dict[str, str]:
    """Normalised column name -> column name (the first one wins)."""
    out: dict[str, str] = {}
    for k in raw:
        out.setdefault(norm_key(str(k)), k)
    return out


def _take(raw: dict[str, Any], field_map: dict[str, str], target: str, aliases: tuple[str, ...],
          used: set[str], keys: dict[str, str]) -> tuple[bool, Any]:
    """(present, value) of a field: the mapped column if --map names one, else the first alias present.
    keys = _keys(raw), computed once per record."""
    if target in field_map:
        col = field_map[target]
        key = col if col in raw else keys.get(norm_key(col))
        if key is None:
            return False, None
        used.add(key)
        return True, raw[key]
    for alias in aliases:
        key = keys.get(alias)
        if key is not None and key not in used:
            used.add(key)
            return True, raw[key]
    return False, None


def _text(value: Any, fld: str, problems: list[tuple[str, str]], required: bool = True) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append((fld, "missing" if value is None else "empty text"))
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        problems.append((fld, f"expected text, got {type(value).__name__}"))
        return None
    return str(value).strip()


def _number(value: Any, fld: str, name: str, problems: list[tuple[str, str]]) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS | {"unknown"}):
        return None
    if isinstance(value, bool):
        problems.append((fld, "expected a number, got a boolean"))
        return None
    if isinstance(value, (int, float)):
        num = float(value)
    elif isinstance(value, str) and (m := _NUMBER.match(value)):
        num = float(m.group(1))
    else:
        problems.append((fld, f"expected a number, got {value!r}"))
        return None
    lo, hi = _RANGES[name]
    if not lo <= num <= hi:
        problems.append((fld, f"{num:g} is outside {lo:g}-{hi:g}"))
        return None
    return num


def _str_list(value: Any, fld: str, problems: list[tuple[str, str]]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        items = [v.strip() for v in re.split(r"[;,|\n]", value)]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        problems.append((fld, f"expected a list of text or a comma-separated text, got {type(value).__name__}"))
        return []
    return [v for v in items if v and v.lower() not in _NONE_WORDS]


def _bool(value: Any, fld: str, problems: list[tuple[str, str]]) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("true", "yes", "y", "1", "pregnant"):
        return True
    if word in ("false", "no", "n", "0", "not pregnant", "", "unknown"):
        return False if word not in ("", "unknown") else None
    problems.append((fld, f"expected yes/no, got {value!r}"))
    return None


def _patient_fields(src: dict[str, Any], get, prefix: str, problems: list[tuple[str, str]]) -> tuple[dict, bool]:
    """Patient keyword arguments from `get(name, aliases) -> (present, value)`; bool = any field present."""
    out: dict[str, Any] = {}
    seen = False
    for name in PATIENT_FIELDS:
        present, value = get(name, PATIENT_ALIASES[name])
        if not present:
            continue
        seen = True
        fld = f"{prefix}{name}"
        if name in _RANGES:
            out[name] = _number(value, fld, name, problems)
        elif name in _LIST_FIELDS:
            out[name] = _str_list(value, fld, problems)
        elif name == "pregnant":
            out[name] = _bool(value, fld, problems)
        elif name == "sex":
            out[name] = _sex(value, fld, problems)
        else:
            out[name] = _text(value, fld, problems, required=False)
    if out.get("pregnant") and out.get("sex") == "M":
        problems.append((f"{prefix}pregnant", "true for a male patient"))
    return out, seen


def _sex(value: Any, fld: str, problems: list[tuple[str, str]]) -> str | None:
    word = str(value or "").strip().lower()
    if word in ("m", "male", "man"):
        return "M"
    if word in ("f", "female", "woman"):
        return "F"
    if word in ("", "unknown", "u", "not stated"):
        return None
    problems.append((fld, f"expected M or F, got {value!r}"))
    return None


def _patient(value: Any, problems: list[tuple[str, str]]) -> Patient | None:
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    if isinstance(value, dict):
        used: set[str] = set()
        keys = _keys(value)
        kwargs, _ = _patient_fields(value, lambda n, a: _take(value, {}, n, a, used, keys), "patient.", problems)
        extra = [f"{k}: {v}" for k, v in value.items() if k not in used and v not in (None, "", [])]
        if extra:
            kwargs["text"] = "; ".join(filter(None, [kwargs.get("text"), *extra]))
        return Patient(**kwargs)
    text = _text(value, "patient", problems)
    return Patient(text=text) if text else None


def _from_output(output: str) -> GroundTruth:
    """Ground truth read from a reference validation text: its decision, regimen and reference lines."""
    v = parse_output(output)
    return GroundTruth(decision=v["decision"], recommended_regimen=v["regimen"], reference=output,
                       citation=v["reference"])


def parse_output(text: str) -> dict[str, Any]:
    """{"decision", "regimen", "reference"} of a validation text, read by the policy-format parser (output_format.py)."""
    v = parse_validation(text)
    return {"decision": v.decision, "regimen": v.recommended_regimen, "reference": v.reference}


def case_from_text(text: str) -> tuple[Patient, str, str, str | None]:
    """(patient, diagnosis, prescription, setting) from labelled lines ('Diagnosis: ...', 'Rx: ...'); when the
    diagnosis or prescription is not labelled, the whole text becomes the patient's free text."""
    found: dict[str, str] = {}
    rest: list[str] = []
    for line in text.splitlines():
        m = _LABEL.match(line)
        key = _LABELS.get(m.group(1).strip().lower()) if m else None
        if key and key not in found:
            found[key] = m.group(2).strip()
        elif line.strip():
            rest.append(line.strip())
    if "diagnosis" in found and "prescription" in found:
        ptext = "; ".join(filter(None, [found.get("patient"), *rest])) or None
        return Patient(text=ptext), found["diagnosis"], found["prescription"], found.get("setting")
    return Patient(text=text.strip()), "", "", None


def content_id(case: Case, truth: GroundTruth) -> str:
    blob = json.dumps([case.to_dict(), truth.to_dict()], sort_keys=True, ensure_ascii=False)
    return "case-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def normalize(raw: Any, field_map: dict[str, str], decision_values: dict[str, str] | None = None) -> Normalized:
    """One raw record -> Normalized, or FieldProblems naming every field at fault. `decision_values` maps the
    file's own decision words to Approve / Modify / Reject ({"stop": "Reject"}, matched case-insensitively)."""
    if not isinstance(raw, dict):
        raise FieldProblems([("record", f"expected an object, got {type(raw).__name__}")])
    used: set[str] = set()
    keys = _keys(raw)
    got = {f: _take(raw, field_map, f, ALIASES[f], used, keys) for f in (*CASE_FIELDS, *OTHER_FIELDS)}
    problems: list[tuple[str, str]] = []
    if got["messages"][0]:
        kind, pair = "chat", _chat(got["messages"][1], problems)
    elif got["output"][0] and not got["prescription"][0]:
        kind, pair = "alpaca", _alpaca(got, problems)
    else:
        kind, pair = "structured", _structured(raw, field_map, got, used, problems, decision_values or {})
    if problems or pair is None:
        raise FieldProblems(problems or [("record", "unreadable")])
    case, truth = pair
    case_id = _text(got["id"][1], "id", problems, required=False) if got["id"][0] else None
    if problems:
        raise FieldProblems(problems)
    case.id = case_id or content_id(case, truth)
    ignored = sorted(k for k in raw if k not in used)
    return Normalized(case, truth, kind, ignored)


def _alpaca(got: dict[str, tuple[bool, Any]], problems: list[tuple[str, str]]):
    instruction = _text(got["instruction"][1], "instruction", problems, required=False)
    given = _text(got["input"][1], "input", problems, required=False)
    output = _text(got["output"][1], "output", problems)
    text = given or instruction
    if text is None:
        problems.append(("input", "missing (no input or instruction holds the case)"))
    if problems:
        return None
    patient, diagnosis, prescription, setting = case_from_text(text)
    return Case(id="", patient=patient, diagnosis=diagnosis, prescription=prescription, setting=setting), \
        _from_output(output)


def _chat(messages: Any, problems: list[tuple[str, str]]):
    if not isinstance(messages, list) or not messages:
        problems.append(("messages", "expected a non-empty list of {role, content}"))
        return None
    users, answer = [], None
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            problems.append((f"messages[{i}]", "expected an object with text 'role' and 'content'"))
            return None
        if m["role"] == "user":
            users.append(m["content"])
        elif m["role"] == "assistant":
            answer = m["content"]
    if not users or not "".join(users).strip():
        problems.append(("messages", "no user message with the case"))
    if answer is None or not answer.strip():
        problems.append(("messages", "no assistant message with the reference validation"))
    if problems:
        return None
    patient, diagnosis, prescription, setting = case_from_text("\n".join(users))
    return Case(id="", patient=patient, diagnosis=diagnosis, prescription=prescription, setting=setting), \
        _from_output(answer.strip())


def _structured(raw, field_map, got, used, problems, decision_values):
    keys = _keys(raw)
    patient = None
    if got["patient"][0]:
        patient = _patient(got["patient"][1], problems)
    sub = {k[len("patient."):]: v for k, v in field_map.items() if k.startswith("patient.")}
    kwargs, seen = _patient_fields(
        raw, lambda n, a: _take(raw, {n: sub[n]} if n in sub else {}, n, a, used, keys), "patient.", problems)
    if seen:  # patient fields given as their own columns (age, sex, allergies, ...)
        base = patient.to_dict() if patient else {}
        base.update({k: v for k, v in kwargs.items() if v not in (None, [])})
        patient = Patient.from_dict(base)
    elif not got["patient"][0]:
        problems.append(("patient", "missing"))
    diagnosis = _text(got["diagnosis"][1], "diagnosis", problems)
    prescription = _text(got["prescription"][1], "prescription", problems)
    setting = _text(got["setting"][1], "setting", problems, required=False)
    # A written reference validation is optional: a decision (and a recommended regimen, when there is one) is
    # enough ground truth, the judge builds the rest of its checklist from the case and the knowledge base.
    reference = _text(got["reference"][1], "reference", problems, required=False)
    decision = None
    if got["decision"][0] and got["decision"][1] not in (None, ""):
        word = str(got["decision"][1]).strip()
        decision = Decision.parse(decision_values.get(word.lower(), word))
        if decision is None:
            problems.append(("decision", f"{got['decision'][1]!r} is not Approve, Modify or Reject (name the "
                                         "file's words in a --map-file's decision_values)"))
    parsed = parse_output(reference) if reference else {"decision": None, "regimen": None, "reference": None}
    if decision and parsed["decision"] and parsed["decision"] != decision:
        problems.append(("reference", f"its decision ({parsed['decision'].value}) disagrees with field "
                                      f"'decision' ({decision.value})"))
    decision = decision or parsed["decision"]
    if decision is None and not any(f == "decision" for f, _ in problems):
        problems.append(("decision", "missing (give Approve, Modify or Reject, or a reference with a Decision line)"))
    issues = _str_list(got["issues"][1], "issues", problems)
    flags = _str_list(got["flags"][1], "flags", problems)
    truth = GroundTruth(
        decision=decision,
        issues=issues,
        recommended_regimen=_text(got["recommended_regimen"][1], "recommended_regimen", problems, False)
        or parsed["regimen"],
        reference=reference,
        citation=_text(got["citation"][1], "citation", problems, False) or parsed["reference"],
        syndrome=_text(got["syndrome"][1], "syndrome", problems, False),
        flags=flags,
    )
    if problems or patient is None:
        return None
    return Case(id="", patient=patient, diagnosis=diagnosis, prescription=prescription, setting=setting,
                syndrome=truth.syndrome), truth
