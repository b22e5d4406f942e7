"""What `amr-grpo explain` shows: a case picked from a file (or given as text) and what the reader took from it.

A FILE may be a cases JSONL (one case per line), a prepared split (its `context`), an evaluation-request JSONL
(its `patient_case`), a JSON case, or a plain-text note; FILE:LINE picks one line (1-based) of a JSONL file.
Try it: amr-grpo explain data/cases.jsonl:1
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from amr_grpo.errors import UserError
from amr_grpo.reading.reader import Reading, read

CASE_KEYS = ("context", "patient_case", "case")  # a prepared record, an evaluation request, a wrapped case


def _case_of(obj: Any, where: str) -> Any:
    if isinstance(obj, dict):
        for k in CASE_KEYS:
            if isinstance(obj.get(k), (dict, str)):
                return obj[k]
        return obj
    if isinstance(obj, str):
        return obj
    raise UserError(f"{where}: expected a JSON object or a text case, got {type(obj).__name__}")


def load_case(spec: str) -> tuple[Any, str]:
    """(the case, where it came from) for 'FILE' or 'FILE:LINE'; UserError names the file and line at fault."""
    path, line = Path(spec), None
    if not path.exists() and ":" in spec:
        head, _, tail = spec.rpartition(":")
        if tail.isdigit():
            path, line = Path(head), int(tail)
    if not path.is_file():
        raise UserError(f"file not found: {path}", "give FILE or FILE:LINE, or --text '...'")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})", "save the file as UTF-8") from None
    jsonl = path.suffix.lower() == ".jsonl" or (line is not None)
    if not jsonl and path.suffix.lower() != ".json" and not text.lstrip().startswith("{"):
        return text, str(path)  # a plain-text note
    if not jsonl:
        try:
            return _case_of(json.loads(text), str(path)), str(path)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    rows = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if not rows:
        raise UserError(f"{path}: no cases in the file")
    n = line if line is not None else rows[0][0]
    got = next((ln for i, ln in rows if i == n), None)
    if got is None:
        raise UserError(f"{path}:{n}: no case on that line",
                        f"the file has {len(text.splitlines())} lines, numbered from 1")
    try:
        return _case_of(json.loads(got), f"{path}:{n}"), f"{path}:{n}"
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{n}: not valid JSON ({e.msg})", "each line of a JSONL file is one JSON object") \
            from None


def explain(spec: str | None = None, text: str | None = None) -> tuple[Reading, str]:
    """The reading of the case named by `spec` (FILE[:LINE]) or given as `text`, and where it came from."""
    if (spec is None) == (text is None):
        raise UserError("give exactly one of FILE[:LINE] or --text '...'")
    if text is not None:
        if not text.strip():
            raise UserError("--text is empty")
        return read(text), "--text"
    case, where = load_case(spec)
    return read(case), where
