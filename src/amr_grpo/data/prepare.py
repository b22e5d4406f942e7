"""Raw cases -> GRPO records {id, prompt, reference, context, ground_truth, checklist} split into train/val/test.

Reads JSONL / JSON / CSV (readers.py), normalises each record (normalize.py), removes exact duplicates,
splits deterministically and stratified by decision (a case never lands in two splits), and writes
DIR/{train,val,test}.jsonl, a `datasets` DatasetDict at DIR/hf, DIR/prepare.json (options and counts) and,
with skip_invalid, DIR/rejected.jsonl. The directory is built under a temporary name and renamed into place,
so a failed run leaves no output directory.
Try it: amr-grpo prepare data/cases.jsonl -o runs/demo/data
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from amr_grpo.data.mapping import check_columns, load_map_file
from amr_grpo.data.normalize import FieldProblems, Normalized, normalize, parse_map
from amr_grpo.data.prompts import render_prompt, render_prompt_text
from amr_grpo.data.readers import read_records
from amr_grpo.errors import UserError
from amr_grpo.judge.rules import case_context

SPLITS = ("train", "val", "test")
PROMPT_FORMATS = ("chat", "text")
SHOW_ERRORS = 20  # error lines shown when the run stops; all of them go to rejected.jsonl with --skip-invalid


@dataclass
class PrepareOptions:
    field_map: list[str] = field(default_factory=list)  # ["FIELD=COLUMN", ...]; they override map_file's pairs
    map_file: str | None = None  # a saved mapping (data/mapping.py): FIELD: COLUMN pairs and decision_values
    val_frac: float = 0.1
    test_frac: float = 0.1
    val_size: int | None = None  # a count overrides the fraction
    test_size: int | None = None
    seed: int = 0
    skip_invalid: bool = False
    force: bool = False  # replace an existing non-empty output directory
    prompt_format: str = "chat"  # "chat" (list of messages) | "text" (one string)
    input_format: str = "auto"  # "auto" | "jsonl" | "json" | "csv" | "tsv"


@dataclass
class PrepareSummary:
    out_dir: Path
    read: int = 0
    written: dict[str, int] = field(default_factory=dict)
    by_decision: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> decision -> count
    rejected: int = 0
    duplicates: int = 0
    kinds: dict[str, int] = field(default_factory=dict)  # structured / alpaca / chat
    ignored_columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        return d


@dataclass
class _Item:
    source: str
    line: int
    norm: Normalized

    @property
    def label(self) -> str:
        d = self.norm.truth.decision
        return d.value if d else "unknown"


def prepare(inputs: list[Path], out_dir: Path, opts: PrepareOptions, progress=None) -> PrepareSummary:
    """Read, validate, de-duplicate, split and write. `progress(total) -> callable(advance)` is optional (the CLI
    passes a rich progress bar). Raises UserError (nothing written) on bad options or invalid records."""
    pairs, decision_values = load_map_file(opts.map_file) if opts.map_file else ([], {})
    try:
        fmap = parse_map([*pairs, *opts.field_map])
    except ValueError as e:
        raise UserError(str(e)) from None
    _check_options(opts, out_dir)

    raw = []
    for p in inputs:
        recs = list(read_records(Path(p), opts.input_format))
        check_columns(fmap, (k for r in recs if isinstance(r.data, dict) for k in r.data), str(p))
        raw += [(str(p), rec) for rec in recs]
    summary = PrepareSummary(out_dir=out_dir, read=len(raw))
    advance = progress(len(raw)) if progress else None
    items: list[_Item] = []
    rejected: list[dict[str, Any]] = []
    errors: list[str] = []
    seen_content: set[str] = set()
    seen_ids: dict[str, str] = {}
    ignored: set[str] = set()
    for source, rec in raw:
        if advance:
            advance(1)
        where = f"{source}:{rec.line}"
        if rec.error:
            problems = [("record", rec.error)]
        else:
            try:
                norm = normalize(rec.data, fmap, decision_values)
                problems = []
            except FieldProblems as e:
                problems = e.problems
        if not problems:
            key = _content_key(norm)
            if key in seen_content:
                summary.duplicates += 1
                continue
            if norm.case.id in seen_ids:
                problems = [("id", f"{norm.case.id!r} is already used by {seen_ids[norm.case.id]}")]
        if problems:
            reasons = [f"field '{f}': {p}" for f, p in problems]
            errors.extend(f"{where}: {r}" for r in reasons)
            rejected.append({"file": source, "line": rec.line, "reasons": reasons, "record": rec.data})
            continue
        seen_content.add(key)
        seen_ids[norm.case.id] = where
        ignored.update(norm.ignored)
        summary.kinds[norm.kind] = summary.kinds.get(norm.kind, 0) + 1
        items.append(_Item(source, rec.line, norm))

    summary.rejected = len(rejected)
    summary.ignored_columns = sorted(ignored)
    if errors and not opts.skip_invalid:
        shown = "\n".join(errors[:SHOW_ERRORS])
        more = f"\n... and {len(errors) - SHOW_ERRORS} more" if len(errors) > SHOW_ERRORS else ""
        hint = "fix them, or pass --skip-invalid to write the valid ones and DIR/rejected.jsonl"
        missing = next((r["record"] for r in rejected
                        if isinstance(r["record"], dict) and any(": missing" in x for x in r["reasons"])), None)
        if missing is not None:
            hint += "; the records have the columns " + ", ".join(map(repr, missing)) + \
                " (name another column with --map FIELD=COLUMN, or let `amr-grpo prepare --inspect FILE` " \
                "propose a --map-file)"
        raise UserError(f"{shown}{more}\n{len(rejected)} of {len(raw)} records are invalid; nothing was written",
                        hint=hint)
    if not items:
        raise UserError(f"no valid records in {', '.join(map(str, inputs))}; nothing was written")

    splits = split_items(items, opts)
    rows = {s: [to_grpo_record(it.norm, opts.prompt_format) for it in splits[s]] for s in SPLITS}
    summary.written = {s: len(rows[s]) for s in SPLITS}
    for s in SPLITS:
        counts: dict[str, int] = {}
        for it in splits[s]:
            counts[it.label] = counts.get(it.label, 0) + 1
        summary.by_decision[s] = dict(sorted(counts.items()))
    _write(out_dir, rows, rejected if opts.skip_invalid else None, opts, summary)
    return summary


def _check_options(opts: PrepareOptions, out_dir: Path) -> None:
    if opts.prompt_format not in PROMPT_FORMATS:
        raise UserError(f"--prompt-format must be one of {', '.join(PROMPT_FORMATS)}, got {opts.prompt_format!r}")
    for name in ("val_frac", "test_frac"):
        if not 0 <= getattr(opts, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be in [0, 1), got {getattr(opts, name)}")
    if opts.val_frac + opts.test_frac >= 1 and opts.val_size is None and opts.test_size is None:
        raise UserError("--val-frac + --test-frac must be below 1 (the rest is the train split)")
    for name in ("val_size", "test_size"):
        if getattr(opts, name) is not None and getattr(opts, name) < 0:
            raise UserError(f"--{name.replace('_', '-')} must be >= 0")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not opts.force:
        raise UserError(f"{out_dir} already exists and is not empty", hint="pass --force to replace it")


def _content_key(norm: Normalized) -> str:
    """Exact duplicates: the same case and ground truth, whatever the id."""
    return norm.case_key + json.dumps(norm.truth_dict, sort_keys=True, ensure_ascii=False)


def _allocate(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` across strata in proportion to their sizes (largest remainder; ties by stratum name)."""
    n = sum(sizes.values())
    if n == 0 or total <= 0:
        return {k: 0 for k in sizes}
    exact = {k: total * v / n for k, v in sizes.items()}
    out = {k: int(x) for k, x in exact.items()}
    for k in sorted(sizes, key=lambda k: (-(exact[k] - out[k]), k))[: total - sum(out.values())]:
        out[k] += 1
    return out


def split_items(items: list[_Item], opts: PrepareOptions) -> dict[str, list[_Item]]:
    """Deterministic split stratified by decision. Records of one case (same patient, diagnosis, prescription and
    setting, e.g. two labellings) stay together; the order inside a stratum is a seeded hash of the case, so the
    split does not depend on the input order."""
    groups: dict[str, list[_Item]] = {}
    for it in items:
        groups.setdefault(it.norm.case_key, []).append(it)
    strata: dict[str, list[str]] = {}
    for key, members in groups.items():
        strata.setdefault(members[0].label, []).append(key)
    for keys in strata.values():
        keys.sort(key=lambda k: hashlib.sha256(f"{opts.seed}:{k}".encode()).hexdigest())
    n = len(groups)
    n_test = opts.test_size if opts.test_size is not None else round(opts.test_frac * n)
    n_val = opts.val_size if opts.val_size is not None else round(opts.val_frac * n)
    if n_test + n_val > n:
        raise UserError(f"val ({n_val}) + test ({n_test}) cases exceed the {n} distinct cases")
    sizes = {k: len(v) for k, v in strata.items()}
    test_n = _allocate(sizes, n_test)
    val_n = _allocate({k: sizes[k] - test_n[k] for k in sizes}, n_val)
    out: dict[str, list[_Item]] = {s: [] for s in SPLITS}
    for label in sorted(strata):
        keys = strata[label]
        t, v = test_n[label], val_n[label]
        for split, chunk in (("test", keys[:t]), ("val", keys[t : t + v]), ("train", keys[t + v :])):
            for k in chunk:
                out[split].extend(groups[k])
    for split in SPLITS:  # file order: input order
        out[split].sort(key=lambda it: (it.source, it.line))
    return out


def to_grpo_record(norm: Normalized, prompt_format: str = "chat") -> dict[str, Any]:
    prompt = render_prompt(norm.case) if prompt_format == "chat" else render_prompt_text(norm.case)
    return {
        "id": norm.case.id,
        "prompt": prompt,
        "reference": norm.truth.reference or "",
        "context": norm.case_dict,
        "ground_truth": norm.truth_dict,
        "checklist": case_context(norm.case_dict, norm.truth_dict).checklist.to_dict(),
    }


def _write(out_dir: Path, rows: dict[str, list[dict]], rejected: list[dict] | None, opts: PrepareOptions,
           summary: PrepareSummary) -> None:
    from amr_grpo.data.hf import save_dataset_dict  # imports `datasets` (slow) only when writing

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        for split in SPLITS:
            _write_jsonl(tmp / f"{split}.jsonl", rows[split])
        if rejected is not None:
            _write_jsonl(tmp / "rejected.jsonl", rejected)
        save_dataset_dict(rows, tmp / "hf", opts.prompt_format)
        meta = {"options": asdict(opts), "summary": summary.to_dict(),
                "note": "Research tool, not for clinical use."}
        (tmp / "prepare.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / "prev")
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
