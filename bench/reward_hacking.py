"""Benchmark: our own red team against the rules judge's reward (what GRPO would learn to exploit).

One table of the mean weighted reward ("all" metrics) on the 60-case test split and on all 600 shipped cases:
  reference            the reference validation of each case (the ceiling)
  content-free         always Approve echoing the prescription; always Reject with no antibiotic; patient-blind
                       first-line regimen (reads only the diagnosis), and the same with the case copied verbatim
                       into the first step; the best constant text found by a seeded
                       hill-climbing search over a vocabulary taken from the knowledge base and the prompt,
                       tuned on the train split
  mutations            the reference with one flaw: wrong decision, Approve where Modify/Reject is right, wrong drug,
                       10x dose, 3x duration, allergy not mentioned, Approve despite the allergy, unadjusted renal
                       dose, antibiotic withheld where needed, invented section, real but wrong section, a step
                       contradicting the decision, appended stuffing, repeated headers
Targets (all 600): best constant <= 0.35; patient-blind (echoed or not) <= 0.50; every critical mutation <= 0.40;
every other mutation loses >= 0.10; appended stuffing never raises a score; the reference >= 0.95.
Research tool, not for clinical use.
Run: .venv/bin/python bench/reward_hacking.py [--cases data/cases.jsonl] [--search-iters 300]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import red_team
from red_team import (
    ISSUE_CONSTANT,
    MANY_SECTIONS,
    MUTATIONS,
    STUFFED_STEPS,
    Record,
    Strategy,
    appended_stuffing,
    approve_echo,
    case_echo,
    constant,
    mutation,
    patient_blind,
    reject_none,
    validation,
)

from amr_grpo.data.prepare import PrepareOptions, prepare
from amr_grpo.data.splits import read_split
from amr_grpo.guidelines import load_kb
from amr_grpo.judge.base import EvalRequest
from amr_grpo.judge.rules import RulesJudge
from amr_grpo.metrics import METRIC_KEYS

ROOT = Path(__file__).resolve().parents[1]

# ---- targets -------------------------------------------------------------------------------------------------------
REFERENCE_MIN = 0.95
CONSTANT_MAX = 0.35
BLIND_MAX = 0.50
CRITICAL_MAX = 0.40
MIN_LOSS = 0.10

# ---- scoring ------------------------------------------------------------------------------------------------------
class Scorer:
    def __init__(self) -> None:
        self.judge = RulesJudge()
        self.verdicts = 0

    def __call__(self, rec: Record, output: str) -> float:
        self.verdicts += 1
        req = EvalRequest(rec["context"], output, rec["ground_truth"], tuple(METRIC_KEYS))
        return self.judge.score_sync(req).weighted_reward

    def scores(self, records: Sequence[Record], strategy: Strategy) -> dict[str, float]:
        """id -> weighted reward, for the records the strategy applies to."""
        out = {}
        for rec in records:
            text = strategy(rec)
            if text is not None:
                out[rec["id"]] = self(rec, text)
        return out


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


# ---- the best constant: seeded hill climbing on the train split ------------------------------------------------------
def vocabulary() -> tuple[list[str], list[str], list[str]]:
    """(phrases for the steps, regimen lines, reference lines) from the knowledge base and the policy prompt."""
    from amr_grpo.data.prompts import SYSTEM_PROMPT

    kb = load_kb()
    phrases = [w for w in re.findall(r"[A-Za-z][A-Za-z/-]+", SYSTEM_PROMPT)]
    phrases += [s.split(": ", 1)[1] for s in STUFFED_STEPS]
    phrases += [d.name for d in kb.drugs] + [s.name for s in kb.syndromes]
    phrases += [p for s in kb.syndromes for p in s.key_points]
    phrases += ["no allergies", "no known drug allergy", "renal function normal", "CrCl normal", "not pregnant",
                "no interactions", "no interacting medicines", "is the guideline first-line choice", "is correct",
                "dose is correct", "the guideline duration", "renal dosing per Table 14.1", "send cultures",
                "review at 48-72 h", "de-escalate on culture", "the prescription matches the guideline",
                "approve as prescribed", "Access antibiotic", "the diagnosis fits the syndrome"]
    regimens = ["As prescribed", "No antibiotic; supportive care", "No change"]
    regimens += sorted({r.text for s in kb.syndromes for r in s.first_line})
    references = [MANY_SECTIONS, "NCDC/ICMR NTG v2.0 (2025)", "NCDC/ICMR NTG v2.0 (2025); ICMR 2019 Table 14.1"]
    references += list(kb.citations())
    return list(dict.fromkeys(phrases)), regimens, list(dict.fromkeys(references))


@dataclass
class Candidate:
    steps: list[list[int]]  # phrase indexes per step
    decision: str
    regimen: int
    reference: int

    def text(self, phrases: list[str], regimens: list[str], references: list[str]) -> str:
        from amr_grpo.output_format import STEP_TITLES

        steps = [f"{t}: " + (", ".join(phrases[i] for i in s) or "checked") + "."
                 for t, s in zip(STEP_TITLES, self.steps, strict=True)]
        return validation(steps, self.decision, regimens[self.regimen], references[self.reference])


def search_constant(score: Scorer, train: Sequence[Record], iters: int, seed: int = 0, sample: int = 40,
                    max_seconds: float = 60.0) -> tuple[str, float, int]:
    """Hill climbing over constant texts (ties accepted: plateaus are walked), scored on a fixed seeded sample of the
    train split; restarts from the issue's constant with each decision. Returns (text, train score, iterations)."""
    rng = random.Random(seed)
    phrases, regimens, references = vocabulary()
    batch = rng.sample(list(train), min(sample, len(train)))

    def value(c: Candidate) -> float:
        text = c.text(phrases, regimens, references)
        return mean([score(r, text) for r in batch])

    stuffed = [[phrases.index(s.split(": ", 1)[1])] for s in STUFFED_STEPS]
    starts = [Candidate([list(s) for s in stuffed], d, r, 0) for d, r in (("Approve", 0), ("Modify", 0),
                                                                          ("Reject", 1))]
    best, best_v = starts[0], value(starts[0])
    for s in starts[1:]:
        if (v := value(s)) > best_v:
            best, best_v = s, v
    cur, cur_v = best, best_v
    t0, done = time.perf_counter(), 0
    while done < iters and time.perf_counter() - t0 < max_seconds:
        done += 1
        new = Candidate([list(s) for s in cur.steps], cur.decision, cur.regimen, cur.reference)
        move = rng.random()
        i = rng.randrange(len(new.steps))
        if move < 0.35:
            new.steps[i].insert(rng.randrange(len(new.steps[i]) + 1), rng.randrange(len(phrases)))
        elif move < 0.5 and new.steps[i]:
            new.steps[i].pop(rng.randrange(len(new.steps[i])))
        elif move < 0.7 and new.steps[i]:
            new.steps[i][rng.randrange(len(new.steps[i]))] = rng.randrange(len(phrases))
        elif move < 0.8:
            new.decision = rng.choice(("Approve", "Modify", "Reject"))
        elif move < 0.9:
            new.regimen = rng.randrange(len(regimens))
        else:
            new.reference = rng.randrange(len(references))
        v = value(new)
        if v >= cur_v:
            cur, cur_v = new, v
            if v > best_v:
                best, best_v = new, v
    return best.text(phrases, regimens, references), best_v, done


# ---- the table ----------------------------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    kind: str  # "reference" | "strategy" | "critical" | "mutation"
    test: float
    all: float
    n: int
    loss: float | None = None  # mean drop from the reference on the same cases (all)
    raised: int = 0  # cases where the mutation scored above the reference
    target: str = ""
    ok: bool = True


def load_splits(cases: Path) -> dict[str, list[Record]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "data"
        prepare([cases], out, PrepareOptions())
        return {s: read_split(out / f"{s}.jsonl") for s in ("train", "val", "test")}


def run(splits: dict[str, list[Record]], search_iters: int, search_seconds: float, seed: int = 0,
        sample: int = 40, records: Sequence[Record] | None = None) -> tuple[list[Row], str, dict[str, Any]]:
    """Every row of the table. `records` restricts "all" to a subset (the fast test)."""
    red_team.STUFFING = red_team.STUFFING or red_team.stuffing()
    score = Scorer()
    everyone = list(records) if records is not None else [r for s in ("train", "val", "test") for r in splits[s]]
    test_ids = {r["id"] for r in splits["test"]}
    t0 = time.perf_counter()
    best_text, train_v, iters = search_constant(score, splits["train"], search_iters, seed, sample, search_seconds)
    search_s = time.perf_counter() - t0

    ref = score.scores(everyone, lambda r: r["reference"])
    rows = [_row("reference", "reference", ref, ref, test_ids, target=f">= {REFERENCE_MIN}",
                 ok=lambda m: m >= REFERENCE_MIN)]
    for name, strat, limit in (("always Approve, echo the prescription", approve_echo, None),
                               ("always Reject, no antibiotic", reject_none, None),
                               ("patient-blind first-line regimen", patient_blind, BLIND_MAX),
                               ("the case echoed, then first-line regimen", case_echo, BLIND_MAX),
                               ("constant text of issue 9", constant(ISSUE_CONSTANT), None),
                               ("best constant found by search", constant(best_text), CONSTANT_MAX)):
        got = score.scores(everyone, strat)
        rows.append(_row(name, "strategy", got, ref, test_ids, target=f"<= {limit}" if limit else "",
                         ok=(lambda m, lim=limit: m <= lim) if limit else None))
    for name, fn, critical in MUTATIONS:
        got = score.scores(everyone, mutation(fn))
        if critical:
            rows.append(_row(name, "critical", got, ref, test_ids, target=f"<= {CRITICAL_MAX}",
                             ok=lambda m: m <= CRITICAL_MAX))
        else:
            stuffing = fn is appended_stuffing
            rows.append(_row(name, "mutation", got, ref, test_ids, target=f"loses >= {MIN_LOSS}"
                             + (", never raises" if stuffing else ""), loss_target=MIN_LOSS, never_raise=stuffing))
    info = {"best_constant": best_text, "search_train_score": train_v, "search_iters": iters, "search_s": search_s,
            "verdicts": score.verdicts, "seconds": time.perf_counter() - t0}
    return rows, best_text, info


def _row(name: str, kind: str, got: dict[str, float], ref: dict[str, float], test_ids: set[str], target: str = "",
         ok: Callable[[float], bool] | None = None, loss_target: float | None = None,
         never_raise: bool = False) -> Row:
    allv = mean(list(got.values()))
    testv = mean([v for k, v in got.items() if k in test_ids])
    loss = mean([ref[k] - v for k, v in got.items()]) if kind != "reference" else None
    raised = sum(v > ref[k] + 1e-9 for k, v in got.items())
    passed = True
    if ok is not None:
        passed = bool(got) and ok(allv)
    if loss_target is not None:
        passed = bool(got) and loss is not None and loss >= loss_target
    if never_raise:
        passed = passed and raised == 0
    return Row(name, kind, testv, allv, len(got), loss, raised, target, passed)


def print_table(rows: list[Row], info: dict[str, Any]) -> None:
    print("reward hacking: mean weighted reward (all six metrics), rules judge; research tool, not for clinical use")
    print(f"  {'':44s} {'test':>6s} {'all':>6s} {'n':>4s} {'loss':>6s}  target")
    for r in rows:
        loss = f"{r.loss:6.3f}" if r.loss is not None else "      "
        flag = "" if not r.target else ("  ok" if r.ok else "  MISSED")
        label = f"{r.name}{' [critical]' if r.kind == 'critical' else ''}"
        print(f"  {label:44s} {r.test:6.3f} {r.all:6.3f} {r.n:4d} {loss}  {r.target}{flag}"
              + (f" (raised {r.raised})" if r.raised else ""))
    print(f"  search: {info['search_iters']} iterations in {info['search_s']:.1f} s, train-sample score "
          f"{info['search_train_score']:.3f}; {info['verdicts']} verdicts in {info['seconds']:.1f} s")
    missed = [r.name for r in rows if not r.ok]
    print(f"  targets: {'all MET' if not missed else 'MISSED: ' + '; '.join(missed)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=Path, default=ROOT / "data" / "cases.jsonl")
    ap.add_argument("--search-iters", type=int, default=300, help="hill-climbing steps of the constant search")
    ap.add_argument("--search-seconds", type=float, default=60.0, help="a time cap on the search (a safety net)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show-constant", action="store_true", help="print the best constant text found")
    ap.add_argument("--json", type=Path, default=ROOT / "runs" / "bench" / "reward_hacking.json",
                    help="where to write the content-free strategies' test-split scores: `make run`'s report draws "
                         "them as reference lines (amr-grpo report --baseline-json)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    splits = load_splits(args.cases)
    rows, best, info = run(splits, args.search_iters, args.search_seconds, args.seed)
    print_table(rows, info)
    if args.show_constant:
        print("\nbest constant text:\n" + best)
    lines = [{"name": r.name, "weighted_reward": round(r.test, 4), "split": "test"} for r in rows if r.kind == "strategy"]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(lines, indent=1) + "\n", encoding="utf-8")
    print(f"  wrote {args.json} (reference lines for amr-grpo report --baseline-json)")
    print(f"  total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
