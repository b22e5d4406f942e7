"""Column mappings for `amr-grpo prepare`: a saved mapping file, the check that every mapped column exists, and
`prepare --inspect`, which proposes a mapping from a file's column names and first rows.

A mapping file (YAML; JSON is YAML too):

    map:                          # FIELD: COLUMN, the same pairs as --map FIELD=COLUMN
      id: MRN
      diagnosis: Provisional Dx
      patient.age: Age (yrs)
    decision_values:              # optional: the file's own decision words -> Approve / Modify / Reject
      Continue: Approve
      Stop: Reject

--map flags override the file's pairs. A mapped column that is in no record of a file is one error naming the
file's columns and the closest name, never a "missing field" on every row.
Try it: amr-grpo prepare --inspect data/examples/pharmacist_decisions.csv
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from amr_grpo.data.normalize import norm_key, parse_output
from amr_grpo.data.readers import read_records
from amr_grpo.errors import UserError
from amr_grpo.reading.columns import ALIASES, PATIENT_ALIASES
from amr_grpo.records import Decision

FILE_KEYS = ("map", "decision_values")
INSPECT_ROWS = 50  # rows read to guess a column from its values

# Words in a column name that say which field it holds (after the exact aliases of normalize.py), first match
# wins: "Suggested antibiotic" is a recommendation, "Antibiotic order" the prescription, "Drug allergy" an allergy.
# A word of 3 letters or fewer must be a whole word of the name ("Age" but not "Dosage"), a longer one starts a word.
NAME_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("recommended_regimen", ("suggest", "recommend", "advised", "alternative", "proposed", "preferred")),
    ("decision", ("decision", "verdict", "action", "outcome", "intervention", "approv", "accept")),
    ("citation", ("citation", "guideline", "source")),
    ("id", ("mrn", "uhid", "case_no", "case_id", "ip_no", "record", "patient_id", "serial", "id")),
    ("patient.crcl_ml_min", ("crcl", "gfr", "egfr", "clearance")),
    ("patient.serum_creatinine_mg_dl", ("creat", "scr", "cr")),
    ("patient.weight_kg", ("weight", "wt", "kg")),
    ("patient.age", ("age", "yrs", "years")),
    ("patient.sex", ("sex", "gender")),
    ("patient.allergies", ("allerg",)),
    ("patient.pregnant", ("pregnan",)),
    ("patient.gestation_weeks", ("gestation",)),
    ("patient.cultures", ("culture", "microbiolog", "sensitivity", "isolate")),
    ("patient.current_medicines", ("concomitant", "current_med", "other_drug", "home_med", "co_medication")),
    ("patient.comorbidities", ("comorbid", "co_morbid", "past_history", "pmh")),
    ("setting", ("ward", "unit", "setting", "department", "location", "opd", "ipd", "icu")),
    ("diagnosis", ("diagnos", "dx", "indication", "impression", "infection", "syndrome")),
    ("prescription", ("order", "prescri", "antibiotic", "antimicrobial", "drug", "medication", "rx", "therapy")),
)
# Free text is never proposed as the patient's text: a pharmacist's notes or remarks often state the answer, and
# the case must not carry it. Map one yourself (patient.text) when it holds only the patient's history.
NEVER_PROPOSED = ("patient.text",)
DECISION_WORDS = {  # a file's decision word, read by its stem, -> our decision (proposals only; the user confirms)
    "Approve": ("continue", "accept", "agree", "appropriate", "ok", "yes", "approv", "no change", "justified"),
    "Modify": ("change", "adjust", "switch", "substitut", "reduc", "increas", "de-escalat", "deescalat", "dose",
               "modif", "step down", "iv to po", "optimi"),
    "Reject": ("stop", "discontinu", "cancel", "withhold", "withdraw", "deny", "denied", "not indicated",
               "inappropriate", "reject", "unjustified", "no antibiotic"),
}
_DOSE = re.compile(r"\b\d+(?:\.\d+)?\s*(?:mg|g|mcg|iu|units?|mu)\b", re.I)


def load_map_file(path: str | Path) -> tuple[list[str], dict[str, str]]:
    """A mapping file -> (["FIELD=COLUMN", ...], {file word (lower case): decision}), checked."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--map-file {p}: not found", "write one with `amr-grpo prepare --inspect FILE > map.yaml`")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise UserError(f"--map-file {p}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("map", {}), dict):
        raise UserError(f"--map-file {p}: expected a 'map:' section of FIELD: COLUMN pairs")
    unknown = sorted(set(doc) - set(FILE_KEYS))
    if unknown:
        raise UserError(f"--map-file {p}: unknown section {unknown[0]!r}", f"sections: {', '.join(FILE_KEYS)}")
    pairs = []
    for target, column in (doc.get("map") or {}).items():
        if not isinstance(column, (str, int)) or not str(column).strip():
            raise UserError(f"--map-file {p}: map.{target}: expected a column name, got {column!r}")
        pairs.append(f"{target}={column}")
    words = doc.get("decision_values") or {}
    if not isinstance(words, dict):
        raise UserError(f"--map-file {p}: decision_values: expected WORD: Approve|Modify|Reject pairs")
    values = {}
    for word, decision in words.items():
        d = Decision.parse(str(decision)) if decision is not None else None
        if d is None:
            raise UserError(f"--map-file {p}: decision_values.{word}: {decision!r} is not Approve, Modify or Reject")
        values[str(word).strip().lower()] = d.value
    return pairs, values


def check_columns(field_map: dict[str, str], columns: Iterable[str], source: str) -> None:
    """Every mapped column is a column of the file (exactly, or after lower-casing with spaces and hyphens read
    as underscores, the way records are matched); otherwise one error naming the file's columns."""
    cols = list(dict.fromkeys(columns))
    normal = {norm_key(c) for c in cols}
    for target, column in field_map.items():
        if column in cols or norm_key(column) in normal:
            continue
        close = difflib.get_close_matches(column, cols, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UserError(f"--map {target}={column}: {source} has no column {column!r}",
                        hint + "its columns: " + ", ".join(map(repr, cols)) if cols else "the file has no columns")


def _values(rows: list[dict[str, Any]], col: str) -> list[str]:
    return [str(r[col]).strip() for r in rows if r.get(col) not in (None, "") and str(r[col]).strip()]


def _by_values(values: list[str]) -> str | None:
    """A field read from a column's values: validations with a Decision line, decisions, doses, sexes."""
    if not values:
        return None

    if all("\n" in v and parse_output(v)["decision"] for v in values):
        return "reference"
    if all(Decision.parse(v) for v in values):
        return "decision"
    if sum(bool(_DOSE.search(v)) for v in values) >= 0.8 * len(values):
        return "prescription"
    if all(v.lower() in ("m", "f", "male", "female") for v in values):
        return "patient.sex"
    return None


def _has(key: str, stem: str) -> bool:
    """Does the normalised column name `key` contain the word `stem` (see NAME_WORDS)?"""
    words = [w for w in re.split(r"[^a-z0-9]+", key) if w]
    if "_" in stem:
        return stem in "_".join(words)
    return any(w == stem if len(stem) <= 3 else w.startswith(stem) for w in words)


def _by_name(col: str) -> tuple[str | None, str]:
    key = norm_key(col)
    for f, aliases in ALIASES.items():
        if key in aliases:
            return f, "recognised name"
    for f, aliases in PATIENT_ALIASES.items():
        if key in aliases:
            return f"patient.{f}", "recognised name"
    for f, words in NAME_WORDS:
        if any(_has(key, w) for w in words):
            return f, "guessed from the name"
    return None, ""


def propose_decision_values(values: list[str]) -> dict[str, str]:
    """The decision words of a column that Decision.parse cannot read, with a guess ('?' when none fits)."""
    out = {}
    for v in dict.fromkeys(values):
        if Decision.parse(v):
            continue
        low = v.lower()
        # the longest matching stem decides: "No change" is Approve, not Modify; "Discontinue" is not "continue"
        hits = sorted(((len(s), d) for d, stems in DECISION_WORDS.items() for s in stems if s in low), reverse=True)
        tie = len(hits) > 1 and hits[0][0] == hits[1][0] and hits[0][1] != hits[1][1]
        out[v] = hits[0][1] if hits and not tie else "?"
    return out


def propose_mapping(path: Path, fmt: str = "auto") -> str:
    """A mapping file (YAML text with comments) for `path`, from its column names and first rows."""
    rows: list[dict[str, Any]] = []
    for rec in read_records(path, fmt):
        if isinstance(rec.data, dict):
            rows.append(rec.data)
        if len(rows) >= INSPECT_ROWS:
            break
    if not rows:
        raise UserError(f"{path}: no records to inspect", "give a CSV with a header row, JSONL or a JSON array")
    columns = list(dict.fromkeys(k for r in rows for k in r))
    chosen: dict[str, tuple[str, str]] = {}  # field -> (column, why)
    unused: list[tuple[str, str]] = []
    for col in columns:
        values = _values(rows, col)
        field, why = _by_name(col)
        by_value = _by_values(values)
        if by_value and by_value != field and (field is None or field == "prescription" and by_value == "reference"):
            field, why = by_value, "guessed from the values"
        if field in NEVER_PROPOSED:
            unused.append((col, "free text: notes may state the answer; map it as patient.text only if it holds "
                                "nothing but the patient's history"))
        elif field is None:
            unused.append((col, "no field fits; it stays out of the case"))
        elif field in chosen:
            unused.append((col, f"{field} is already {chosen[field][0]!r}"))
        else:
            chosen[field] = (col, why)
    lines = [f"# amr-grpo prepare mapping for {path.name}, proposed from its columns and first {len(rows)} rows.",
             "# Check every line, then: amr-grpo prepare FILE --map-file THIS_FILE -o DIR",
             "map:"]
    for field in sorted(chosen, key=lambda f: columns.index(chosen[f][0])):
        col, why = chosen[field]
        sample = (_values(rows, col) or [""])[0].splitlines()[0][:40]
        lines.append(f"  {field}: {json.dumps(col, ensure_ascii=False)}  # {why}; e.g. {sample!r}")
    if "decision" in chosen:
        words = propose_decision_values(_values(rows, chosen["decision"][0]))
        if words:
            lines.append("decision_values:  # this file's decision words; replace every '?'")
            lines += [f"  {json.dumps(w, ensure_ascii=False)}: {json.dumps(d)}" for w, d in words.items()]
    lines += [f"# not mapped: {json.dumps(col, ensure_ascii=False)} ({why})" for col, why in unused]
    if "messages" in chosen or "output" in chosen and ({"input", "instruction"} & set(chosen)):
        lines.append("# a chat (messages) or alpaca (instruction/input/output) file: the case is read from its "
                     "text and the decision from the answer's Decision line")
        return "\n".join(lines) + "\n"
    has_patient = any(f.startswith("patient") for f in chosen)
    needed = [f for f in ("diagnosis", "prescription") if f not in chosen]
    if not has_patient:
        needed.insert(0, "patient (or patient.age, patient.sex, ...)")
    if "decision" not in chosen and "reference" not in chosen:
        needed.append("decision (or a reference validation with a Decision line)")
    if needed:
        lines.append("# still needed: " + "; ".join(needed) + " -- add FIELD: COLUMN lines above")
    return "\n".join(lines) + "\n"
