"""Read raw records from JSONL, JSON (an array or {"data": [...]}) or CSV/TSV, each with its line number.

Line numbers are physical lines of the file (1-based): the line a JSONL record is on, the line where a JSON
array element starts, the first line of a CSV row (a quoted field may span lines). A line that cannot be read
is yielded as a RawRecord with `error` set, so the caller reports it as `FILE:LINE: ...` and goes on.
Try it: python -m amr_grpo.data.readers data/examples/alpaca.jsonl
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amr_grpo.errors import UserError

FORMATS = ("auto", "jsonl", "json", "csv", "tsv")


@dataclass
class RawRecord:
    line: int
    data: Any = None  # the decoded record (dict for a valid record)
    error: str | None = None  # why the line could not be read


def detect_format(path: Path, text: str) -> str:
    """jsonl | json | csv | tsv from the extension, else from the content."""
    ext = path.suffix.lower()
    if ext in (".jsonl", ".ndjson"):
        return "jsonl"
    if ext in (".csv", ".tsv"):
        return ext[1:]
    head = text.lstrip()
    if ext == ".json" or head[:1] in "[{":
        if head.startswith("["):
            return "json"
        try:  # one JSON document ({"data": [...]}) or one object per line?
            json.loads(text)
            return "json"
        except json.JSONDecodeError as e:
            return "jsonl" if e.msg == "Extra data" else "json"
    if not head:
        return "jsonl"
    return "tsv" if "\t" in head.splitlines()[0] else "csv"


def read_records(path: Path, fmt: str = "auto") -> Iterator[RawRecord]:
    if fmt not in FORMATS:
        raise UserError(f"unknown input format {fmt!r}", hint="use one of: " + ", ".join(FORMATS))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, expected a JSONL, JSON or CSV file") from None
    if fmt == "auto":
        fmt = detect_format(path, text)
    if fmt == "jsonl":
        yield from _jsonl(text)
    elif fmt == "json":
        yield from _json(text)
    else:
        yield from _csv(text, "\t" if fmt == "tsv" else ",")


def _jsonl(text: str) -> Iterator[RawRecord]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield RawRecord(n, json.loads(line))
        except json.JSONDecodeError as e:
            yield RawRecord(n, data=line, error=f"not valid JSON ({e.msg}, column {e.colno})")


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _json(text: str) -> Iterator[RawRecord]:
    """Walk the top-level array (or the "data" array of a top-level object) element by element, so every
    element keeps the line where it starts."""
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        yield RawRecord(e.lineno, error=f"not valid JSON ({e.msg}, column {e.colno})")
        return
    dec = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if text.startswith("{", pos):
        pos = _find_data_array(text, pos + 1, dec)
        if pos < 0:
            yield RawRecord(1, error='a JSON object must hold the records in a "data" array')
            return
    elif not text.startswith("[", pos):
        yield RawRecord(_line_of(text, pos), error='expected a JSON array of records or {"data": [...]}')
        return
    pos = _skip_ws(text, pos + 1)
    while pos < len(text) and text[pos] != "]":
        value, end = dec.raw_decode(text, pos)
        yield RawRecord(_line_of(text, pos), value)
        pos = _skip_ws(text, end)
        if text.startswith(",", pos):
            pos = _skip_ws(text, pos + 1)


def _find_data_array(text: str, pos: int, dec: json.JSONDecoder) -> int:
    """Position of the '[' of the "data" member of the object whose '{' is just before pos, or -1."""
    while True:
        pos = _skip_ws(text, pos)
        if text.startswith("}", pos):
            return -1
        key, pos = dec.raw_decode(text, pos)
        pos = _skip_ws(text, _skip_ws(text, pos) + 1)  # past ':'
        if key == "data" and text.startswith("[", pos):
            return pos
        _, pos = dec.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if text.startswith(",", pos):
            pos += 1


def _csv(text: str, delimiter: str) -> Iterator[RawRecord]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as e:
        yield RawRecord(1, error=f"not valid CSV ({e})")
        return
    header = [h.strip() for h in header]
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield RawRecord(start, error=f"not valid CSV ({e})")
            return
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield RawRecord(line, error=f"has {len(row)} columns, the header has {len(header)}")
            continue
        yield RawRecord(line, dict(zip(header, row)))


if __name__ == "__main__":
    for rec in read_records(Path(sys.argv[1])):
        print(rec.line, rec.error or json.dumps(rec.data)[:100])
