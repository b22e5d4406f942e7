"""A stratified sample of labelled cases for a clinician's label audit: every stratum (decision x scenario, the
scenario being the first issue code) is represented, the rest of the sample follows the strata's sizes, and a seed
gives the same sample. `weighted_rates` turns the audit's grades back into rates over the whole dataset.
Try it: python -m amr_grpo.data.audit data/cases.jsonl 40 17
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def stratum(record: dict[str, Any]) -> str:
    """'Modify/renal_adjustment_missed', 'Approve/guideline regimen'."""
    issues = record.get("issues") or []
    return f"{record.get('decision')}/{issues[0] if issues else 'guideline regimen'}"


def stratified_sample(records: list[dict[str, Any]], n: int = 40, seed: int = 0) -> list[dict[str, Any]]:
    """n records: one from each stratum (the largest strata first when there are more strata than n), the rest
    allotted by stratum size (largest remainder), each stratum drawn without replacement with random.Random(seed)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[stratum(r)].append(r)
    order = sorted(groups, key=lambda k: (-len(groups[k]), k))
    take = {k: 0 for k in order}
    for k in order[:n]:
        take[k] = 1
    left = n - sum(take.values())
    if left > 0:
        share = {k: len(groups[k]) * left / len(records) for k in order}
        for k in order:
            take[k] += int(share[k])
        rest = n - sum(take.values())
        for k in sorted(order, key=lambda k: (-(share[k] - int(share[k])), k))[:rest]:
            take[k] += 1
    rng = random.Random(seed)
    out = []
    for k in order:
        out += rng.sample(groups[k], min(take[k], len(groups[k])))
    return out


def weighted_rates(grades: dict[str, str], records: list[dict[str, Any]]) -> dict[str, float]:
    """Rates of each grade over the whole dataset: each stratum's rate in the sample weighted by its size.
    grades: record id -> grade ("correct", "minor", "wrong") for the sampled records."""
    by_id = {r["id"]: r for r in records}
    size: dict[str, int] = defaultdict(int)
    for r in records:
        size[stratum(r)] += 1
    per: dict[str, list[str]] = defaultdict(list)
    for cid, grade in grades.items():
        per[stratum(by_id[cid])].append(grade)
    covered = sum(size[s] for s in per)
    rates: dict[str, float] = defaultdict(float)
    for s, gs in per.items():
        for g in set(gs):
            rates[g] += size[s] / covered * gs.count(g) / len(gs)
    return dict(sorted(rates.items()))


if __name__ == "__main__":
    path, count, seed = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 40, \
        int(sys.argv[3]) if len(sys.argv) > 3 else 0
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for rec in stratified_sample(rows, count, seed):
        sys.stdout.write(f"{rec['id']}\t{stratum(rec)}\n")
