"""Benchmark: reading cases cold (every case read once, as `prepare` or a stream of unseen cases would), against
building the record alone (Case.from_dict, no reading) measured in the same run.

Inputs: the shipped data/cases.jsonl (600 structured cases) and the reading corpus (free-text notes of
tests/data/reading_corpus.yaml). Reported: the one-off spaCy pipeline build, seconds for all 600 structured cases,
milliseconds per free-text note, and the ratios to the baseline. Research tool, not for clinical use.
Run: .venv/bin/python bench/case_reader.py
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import yaml

from amr_grpo.reading import reader
from amr_grpo.reading.context import pipeline
from amr_grpo.records import Case

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn, items) -> float:
    start = time.perf_counter()
    for it in items:
        fn(it)
    return time.perf_counter() - start


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    cases = [json.loads(ln) for ln in (ROOT / "data" / "cases.jsonl").read_text(encoding="utf-8").splitlines()]
    notes = [n["text"] for n in yaml.safe_load((ROOT / "tests/data/reading_corpus.yaml").read_text())["notes"]]
    start = time.perf_counter()
    pipeline()
    build = time.perf_counter() - start
    reader._cached.cache_clear()
    structured = _timed(reader.read_case, cases)
    baseline_structured = _timed(Case.from_dict, cases)
    reader._cached.cache_clear()
    free = _timed(reader.read_case, notes)
    baseline_free = _timed(lambda t: Case(id="", patient=None, diagnosis=t, prescription=""), notes)
    warm = _timed(reader.read_case, notes * 10) / (10 * len(notes))
    print("case reader benchmark (one core; research tool, not for clinical use)")
    print(f"  spaCy pipeline build (once per process)   {build:8.2f} s")
    print(f"  {len(cases)} structured cases, cold             {structured:8.2f} s  "
          f"({structured / len(cases) * 1e3:.2f} ms/case)")
    print(f"  baseline Case.from_dict (no reading)      {baseline_structured:8.4f} s  "
          f"ratio {structured / baseline_structured:,.0f}x")
    print(f"  {len(notes)} free-text notes, cold              {free:8.2f} s  ({free / len(notes) * 1e3:.1f} ms/note)")
    print(f"  baseline record only                      {baseline_free:8.4f} s  ratio {free / baseline_free:,.0f}x")
    print(f"  free-text note, warm (cached)             {warm * 1e6:8.1f} us/note")


if __name__ == "__main__":
    main()
