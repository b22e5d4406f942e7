"""The verdicts still readable in a damaged cache file, read page by page.

A cache file cut short (a full disk, a killed copy, a truncation) keeps most of its rows, but SQLite cannot reach
them: the b-tree's inner pages are written last, so they are the ones lost, and every query fails. Python's sqlite3
has no `.recover` (that is the sqlite3 shell's extension), so this reads the file format itself
(https://www.sqlite.org/fileformat2.html): every table-leaf page, every cell, overflow chains, records of
(key TEXT, verdict TEXT, created REAL). A row counts only if its key is a sha256 hex digest and its verdict a JSON
object; for a key seen twice, the higher rowid (the newer write) wins.
Try it: .venv/bin/pytest tests/judge/test_cache.py -k damaged
"""

from __future__ import annotations

import json
import mmap
import re
import struct
from pathlib import Path

_TABLE_LEAF = 13
_KEY = re.compile(r"[0-9a-f]{64}")
_INT_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}


def _varint(b: bytes | mmap.mmap, i: int) -> tuple[int, int]:
    """(value, next offset) of the SQLite varint at b[i]: 7 bits a byte, high bit set = more; the 9th byte is whole."""
    v = 0
    for k in range(9):
        byte = b[i + k]
        if k == 8:
            return (v << 8) | byte, i + 9
        v = (v << 7) | (byte & 0x7F)
        if byte < 0x80:
            return v, i + k + 1
    raise IndexError("varint")


def _values(payload: bytes) -> list[object]:
    """The column values of one record (NULL, integers, floats, text; blobs as bytes)."""
    size, i = _varint(payload, 0)
    types = []
    while i < size:
        t, i = _varint(payload, i)
        types.append(t)
    out: list[object] = []
    pos = size
    for t in types:
        if t in (0, 8, 9):
            out.append(None if t == 0 else t - 8)
        elif t in _INT_SIZES:
            n = _INT_SIZES[t]
            out.append(int.from_bytes(payload[pos : pos + n], "big", signed=True))
            pos += n
        elif t == 7:
            out.append(struct.unpack(">d", payload[pos : pos + 8])[0])
            pos += 8
        else:
            n = (t - 12) // 2 if t % 2 == 0 else (t - 13) // 2
            raw = payload[pos : pos + n]
            out.append(raw if t % 2 == 0 else raw.decode("utf-8"))
            pos += n
        if pos > len(payload):
            raise IndexError("record")
    return out


def _payload(data: mmap.mmap, page_size: int, usable: int, at: int) -> tuple[int, bytes]:
    """(rowid, whole payload) of the table-leaf cell at offset `at`, following its overflow chain."""
    size, i = _varint(data, at)
    rowid, i = _varint(data, i)
    most = usable - 35  # the most a table leaf keeps on its own page
    if size <= most:
        return rowid, data[i : i + size]
    least = (usable - 12) * 32 // 255 - 23
    local = least + (size - least) % (usable - 4)
    local = local if local <= most else least
    parts, page = [data[i : i + local]], int.from_bytes(data[i + local : i + local + 4], "big")
    have, pages = local, len(data) // page_size
    while have < size:
        if not 1 <= page <= pages:
            raise IndexError("overflow page past the end")
        start = (page - 1) * page_size
        take = min(usable - 4, size - have)
        parts.append(data[start + 4 : start + 4 + take])
        have += take
        page = int.from_bytes(data[start : start + 4], "big")
    return rowid, b"".join(parts)


def readable_rows(path: str | Path) -> list[tuple[str, str, float]]:
    """(key, verdict, created) of every row that can still be read from the verdicts table of the file at `path`."""
    with open(path, "rb") as f:
        if Path(path).stat().st_size < 100:
            return []
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:  # a big cache is not read into memory
            return _rows(data)


def _rows(data: mmap.mmap) -> list[tuple[str, str, float]]:
    if data[:16] != b"SQLite format 3\x00":
        return []
    page_size = int.from_bytes(data[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    usable = page_size - data[20]
    best: dict[str, tuple[int, str, float]] = {}
    for p in range(len(data) // page_size):
        base = p * page_size
        head = base + (100 if p == 0 else 0)  # page 1 starts after the file header
        if data[head] != _TABLE_LEAF:
            continue
        cells = int.from_bytes(data[head + 3 : head + 5], "big")
        for c in range(cells):
            try:
                at = base + int.from_bytes(data[head + 8 + 2 * c : head + 10 + 2 * c], "big")
                rowid, payload = _payload(data, page_size, usable, at)
                key, verdict, created = _values(payload)
                if not (isinstance(key, str) and _KEY.fullmatch(key) and isinstance(verdict, str)):
                    continue
                if not isinstance(json.loads(verdict), dict) or not isinstance(created, (int, float)):
                    continue
            except (IndexError, ValueError, UnicodeDecodeError, struct.error):
                continue  # a cell cut short or overwritten: not a row
            if key not in best or best[key][0] < rowid:
                best[key] = (rowid, verdict, float(created))
    return [(k, v, t) for k, (_, v, t) in best.items()]
