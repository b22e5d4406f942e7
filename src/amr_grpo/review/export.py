"""`amr-grpo review export`: sample outputs for clinician review, blinded, stratified, deterministic for a seed.

Strata: a cases file is stratified by decision and scenario (its issue codes); judged outputs by the output's
decision and the first judge's weighted-reward band (low / mid / high tertile of the input). The N items are spread
as evenly over the strata as they allow (a rare stratum keeps all it has, the rest is shared out), so the
agreement is measured across decisions and scores, not only where most outputs fall; within a stratum the order is
a seeded hash. Writes to DIR:
  review.html   a self-contained form: the case, the output, each metric's 1-5 anchors, decision, regimen,
                comment; labels kept in the browser and downloaded as labels.csv (judges' scores only with
                show_scores)
  labels.csv    the same items as a spreadsheet: item_id, reviewer, one column per metric, decision, regimen, comment
  items.jsonl   what reviewers see, one item a line (`amr-grpo serve --review DIR` serves it)
  key.json      the export's settings and, per blinded item id, its source, the judges' scores and the reference
                decision: keep it from the reviewers
Try it: amr-grpo review export data/cases.jsonl -n 30 --seed 0 -o runs/review
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amr_grpo import NOTICE
from amr_grpo.errors import UserError
from amr_grpo.metrics import METRIC_KEYS, rubric_version
from amr_grpo.review.page import render_page
from amr_grpo.review.sources import Candidate, read_candidates

CSV_COLUMNS = ("item_id", "reviewer", *METRIC_KEYS, "decision", "regimen", "comment")
FILES = ("review.html", "labels.csv", "items.jsonl", "key.json")


@dataclass
class ExportResult:
    out_dir: Path
    export_id: str
    n_items: int
    available: int
    strata: dict[str, int]  # stratum -> items taken


def _hash(*parts: Any) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode("utf-8")).hexdigest()


def _bands(cands: list[Candidate], judge: str | None) -> dict[str, str]:
    """Candidate key -> 'low' | 'mid' | 'high' tertile of `judge`'s weighted reward ('unscored' without one)."""
    scored = sorted((c.judges[judge]["weighted_reward"], c.key) for c in cands
                    if judge and judge in c.judges and c.judges[judge].get("weighted_reward") is not None)
    out = {c.key: "unscored" for c in cands}
    for i, (_, key) in enumerate(scored):
        out[key] = ("low", "mid", "high")[min(2, 3 * i // len(scored))]
    return out


def stratum_of(cands: list[Candidate]) -> dict[str, tuple[str, str]]:
    """Candidate key -> (decision, second dimension): the scenario for cases, else the first judge's reward band."""
    if all(c.source["kind"] == "cases" for c in cands):
        return {c.key: (f"decision={c.reference_decision}", f"scenario={c.scenario}") for c in cands}
    first = next((name for c in cands for name in c.judges), None)
    bands = _bands(cands, first)
    return {c.key: (f"decision={c.output_decision or 'unparsed'}", f"{first or 'judge'}={bands[c.key]}")
            for c in cands}


def allocate(sizes: dict[str, int], n: int, seed: int = 0) -> dict[str, int]:
    """Spread n over strata as evenly as their sizes allow (water-filling: a small stratum gives all it has, the
    others share the rest); when the share does not divide, a seeded order picks who gets one more."""
    take = {k: 0 for k in sizes}
    left = min(n, sum(sizes.values()))
    while left > 0:
        open_ = sorted((k for k in sizes if take[k] < sizes[k]), key=lambda k: _hash(seed, "stratum", k))
        share = max(1, left // len(open_))
        for k in open_:
            add = min(share, sizes[k] - take[k], left)
            take[k] += add
            left -= add
            if left == 0:
                break
    return take


def sample(cands: list[Candidate], n: int, seed: int) -> tuple[list[Candidate], dict[str, str]]:
    """The n candidates to review, in the (shuffled) order reviewers will see them, and every key's stratum label.
    n is spread over decisions first, then within each decision over the second dimension."""
    if n < 1:
        raise UserError(f"-n must be at least 1, got {n}")
    strata = stratum_of(cands)
    groups: dict[str, dict[str, list[Candidate]]] = defaultdict(lambda: defaultdict(list))
    for c in cands:
        first, second = strata[c.key]
        groups[first][second].append(c)
    per_first = allocate({f: sum(map(len, g.values())) for f, g in groups.items()}, n, seed)
    chosen = []
    for first, g in groups.items():
        take = allocate({k: len(v) for k, v in g.items()}, per_first[first], seed)
        for second, members in g.items():
            chosen += sorted(members, key=lambda c: _hash(seed, c.key))[: take[second]]
    chosen.sort(key=lambda c: _hash(seed, "order", c.key))  # strata mixed: the position says nothing
    return chosen, {k: "|".join(v) for k, v in strata.items()}


def export(input: str | Path, out_dir: str | Path, n: int, seed: int = 0, show_scores: bool = False,
           requests: str | Path | None = None, also: list[str | Path] | None = None,
           force: bool = False) -> ExportResult:
    """Read INPUT, sample n items, write review.html, labels.csv, items.jsonl and key.json to out_dir."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"-o {out}: not a directory")
    there = [f for f in FILES if (out / f).exists()]
    if there and not force:
        raise UserError(f"{out} already holds a review set ({', '.join(there)})",
                        hint="pass --force to replace its files (a review.sqlite with labels in it is kept)")
    cands = read_candidates(input, requests=requests, also=also)
    chosen, strata = sample(cands, n, seed)
    # the id names this exact sample (the same input and seed give the same ids; other content, other ids)
    export_id = _hash(seed, *sorted(_hash(c.key, c.case_text, c.output) for c in chosen))[:8]
    ids = [f"{export_id}-{i:03d}" for i in range(1, len(chosen) + 1)]
    judges = sorted({name for c in chosen for name in c.judges})
    taken: dict[str, int] = defaultdict(int)
    for c in chosen:
        taken[strata[c.key]] += 1
    manifest = {"export_id": export_id, "input": str(input), "requests": str(requests) if requests else None,
                "also": [str(a) for a in also or []], "seed": seed, "n_requested": n, "n_items": len(chosen),
                "available": len(cands), "show_scores": show_scores, "judges": judges,
                "rubric_version": rubric_version(), "strata": dict(sorted(taken.items())),
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "notice": NOTICE}
    seen = [{"item_id": i, "case_text": c.case_text, "output": c.output,
             **({"judge_scores": c.judges} if show_scores else {})} for i, c in zip(ids, chosen)]
    key = {"export": manifest, "items": [
        {"item_id": i, "position": p, "source": c.source, "stratum": strata[c.key], "judges": c.judges,
         "reference_decision": c.reference_decision, "output_decision": c.output_decision, "case": c.case,
         "ground_truth": c.ground_truth} for p, (i, c) in enumerate(zip(ids, chosen), 1)]}
    files = {
        "items.jsonl": "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in seen),
        "key.json": json.dumps(key, indent=1, ensure_ascii=False) + "\n",
        "labels.csv": labels_template(ids),
        "review.html": render_page({"export": {"export_id": export_id, "show_scores": show_scores},
                                    "items": seen}),
    }
    _write_dir(out, files)
    return ExportResult(out, export_id, len(chosen), len(cands), dict(sorted(taken.items())))


def labels_template(ids: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for i in ids:
        w.writerow([i] + [""] * (len(CSV_COLUMNS) - 1))
    return buf.getvalue()


def _write_dir(out: Path, files: dict[str, str]) -> None:
    """Write every file beside its final name first, then rename them into place; other files in out stay."""
    out.mkdir(parents=True, exist_ok=True)
    tmps = {name: out / f".{name}.tmp-{os.getpid()}" for name in files}
    try:
        for name, content in files.items():
            tmps[name].write_text(content, encoding="utf-8", newline="")
        for name, tmp in tmps.items():
            os.replace(tmp, out / name)
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)


def read_export(review_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A review directory -> (its manifest, store rows: items.jsonl joined with key.json by item id)."""
    d = Path(review_dir)
    for name in ("items.jsonl", "key.json"):
        if not (d / name).is_file():
            raise UserError(f"{d}: no {name}", hint="give a directory written by `amr-grpo review export -o DIR`")
    try:
        key = json.loads((d / "key.json").read_text(encoding="utf-8"))
        seen = {}
        for n, line in enumerate((d / "items.jsonl").read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                row = json.loads(line)
                seen[row["item_id"]] = row
        rows = [{"item_id": k["item_id"], "position": k["position"], "case_text": seen[k["item_id"]]["case_text"],
                 "output": seen[k["item_id"]]["output"], "case_data": k["case"], "ground_truth": k["ground_truth"],
                 "judges": k["judges"], "reference_decision": k["reference_decision"],
                 "output_decision": k["output_decision"], "stratum": k["stratum"], "source": k["source"]}
                for k in key["items"]]
        return key["export"], rows
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise UserError(f"{d}: key.json and items.jsonl do not fit together ({type(e).__name__}: {e})",
                        hint="re-export the review set; do not edit these files by hand") from None
