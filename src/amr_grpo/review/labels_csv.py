"""`amr-grpo review import`: a filled labels.csv (the export's template, or review.html's download) -> the store.

Every row is checked before anything is written; a bad row is `FILE:LINE: field 'x': problem`, and by default one bad
row means nothing is written (`skip_invalid` writes the good rows). Rows with no label at all (the template's
untouched rows) are skipped. The items come from the review directory's key.json and items.jsonl (registered in the
store if they are not there yet) or, without one, from the store. Saving is the store's upsert: a row equal to what
is stored changes nothing, so importing the same file twice changes nothing.
Try it: amr-grpo review import runs/review/labels.csv
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from amr_grpo.data.readers import read_records
from amr_grpo.errors import UserError
from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.records import Decision
from amr_grpo.review.export import CSV_COLUMNS, read_export
from amr_grpo.review.store import COMMENT_MAX, REGIMEN_MAX, REVIEWER_MAX, LabelIn, Store

REQUIRED = ("item_id", "reviewer", *METRIC_KEYS, "decision", "comment")  # regimen is optional (older templates)
SHOW_ERRORS = 20


@dataclass
class ImportResult:
    rows: int = 0  # data rows read
    empty: int = 0  # template rows with no label
    invalid: list[str] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    items_registered: int = 0


def _score(value: str, col: str) -> tuple[int | None, str | None]:
    v = value.strip()
    if not v:
        return None, None
    try:
        x = float(v)
    except ValueError:
        return None, f"field '{col}': {v!r} is not a score (a whole number 1-5, or empty)"
    if not x.is_integer() or not 1 <= x <= 5:
        return None, f"field '{col}': {v} is outside 1-5 (a whole number 1-5, or empty)"
    return int(x), None


def _text(value: str, col: str, limit: int) -> tuple[str | None, str | None]:
    v = value.strip()
    if len(v) > limit:
        return None, f"field '{col}': longer than {limit} characters ({len(v)})"
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in v):
        return None, f"field '{col}': contains control characters"
    return v or None, None


def parse_labels(path: Path, known_items: set[str]) -> tuple[list[tuple[int, LabelIn]], ImportResult]:
    """The CSV's labels with their line numbers, and the problems found (FILE:LINE: field 'x': problem)."""
    result = ImportResult()
    out: list[tuple[int, LabelIn]] = []
    seen: dict[tuple[str, str], int] = {}
    header_checked = False
    for rec in read_records(path, "csv"):
        if rec.error:
            result.invalid.append(f"{path}:{rec.line}: {rec.error}")
            continue
        row = {k.strip().lower(): (v or "") for k, v in rec.data.items()}
        if not header_checked:
            header_checked = True
            missing = [c for c in REQUIRED if c not in row]
            if missing:
                raise UserError(f"{path}:1: missing column(s) {', '.join(map(repr, missing))}",
                                hint="the header is: " + ",".join(CSV_COLUMNS))
        result.rows += 1
        if not any(row.get(c, "").strip() for c in (*METRIC_KEYS, "decision", "regimen", "comment")):
            result.empty += 1  # a template row nobody filled
            continue
        problems: list[str] = []
        item_id = row["item_id"].strip()
        scores = {}
        for k in METRIC_KEYS:
            scores[k], p = _score(row[k], k)
            problems += [p] if p else []
        decision = None
        if row["decision"].strip():
            d = Decision.parse(row["decision"])
            if d is None:
                problems.append(f"field 'decision': {row['decision'].strip()!r} is not Approve, Modify or Reject")
            decision = d.value if d else None
        regimen, p1 = _text(row.get("regimen", ""), "regimen", REGIMEN_MAX)
        comment, p2 = _text(row["comment"], "comment", COMMENT_MAX)
        reviewer, p3 = _text(row["reviewer"], "reviewer", REVIEWER_MAX)
        problems += [p for p in (p1, p2, p3) if p]
        if not item_id:
            problems.insert(0, "field 'item_id': empty")
        elif item_id not in known_items:
            problems.insert(0, f"field 'item_id': unknown item {item_id!r} (not in this review set)")
        if not reviewer and not p3:
            problems.append("field 'reviewer': empty (who gave this label?)")
        key = (item_id, reviewer or "")
        if not problems and key in seen:
            problems.append(f"field 'item_id': {item_id!r} is labelled by {reviewer!r} again (first on line "
                            f"{seen[key]}); keep one row")
        if problems:
            result.invalid += [f"{path}:{rec.line}: {p}" for p in problems]
            continue
        seen[key] = rec.line
        out.append((rec.line, LabelIn(item_id, reviewer or "", scores, decision, regimen, comment)))
    if not header_checked and result.rows == 0 and not result.invalid:
        raise UserError(f"{path}: no rows", hint="the header is: " + ",".join(CSV_COLUMNS))
    return out, result


def import_labels(path: str | Path, store: Store, review_dir: str | Path | None = None,
                  skip_invalid: bool = False) -> ImportResult:
    """Check every row, then save them all in one transaction (or nothing, if a row is bad and not skip_invalid)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"labels file not found: {path}")
    registered = 0
    rdir = Path(review_dir) if review_dir is not None else path.parent
    if (rdir / "key.json").is_file():
        export, rows = read_export(rdir)
        registered = store.add_export(export, rows)
    elif review_dir is not None:
        read_export(rdir)  # raises: the directory asked for is not a review set
    known = {it["item_id"] for it in store.items()}
    labels, result = parse_labels(path, known)
    result.items_registered = registered
    if result.invalid and not skip_invalid:
        shown = "\n".join(result.invalid[:SHOW_ERRORS])
        more = f"\n... and {len(result.invalid) - SHOW_ERRORS} more" if len(result.invalid) > SHOW_ERRORS else ""
        raise UserError(f"{shown}{more}\n{len(result.invalid)} problem(s); nothing was written",
                        hint="fix the rows, or pass --skip-invalid to import the valid ones")
    outcomes = store.save_many([lab for _, lab in labels], origin=f"csv:{path.name}")
    for o in outcomes:
        setattr(result, o, getattr(result, o) + 1)
    return result

