"""Summary of the knowledge base: counts, AWaRe groups, sources by confidence label. Research tool, not for clinical use.

Run: python -m amr_grpo.guidelines
"""

from __future__ import annotations

import sys
from collections import Counter

from amr_grpo.guidelines import KBError, load_kb


def summary() -> str:
    kb = load_kb()
    rows = [s.source for s in kb.syndromes] + [r.source for s in kb.syndromes for r in s.do_not_use]
    rows += [d.source for d in kb.drugs] + [b.source for d in kb.drugs for b in d.renal]
    rows += [d.pregnancy.source for d in kb.drugs if d.pregnancy]
    rows += [i.source for d in kb.drugs for i in d.interactions]
    by_label = Counter(src.confidence for src in rows)
    aware = Counter(d.aware for d in kb.drugs)
    lines = [
        "amr-grpo guideline knowledge base (research tool, not for clinical use; not reviewed by a clinician)",
        f"syndrome/setting entries: {len(kb.syndromes)} ({sum(s.no_antibiotic for s in kb.syndromes)} with no antibiotic indicated)",
        f"antibiotics: {len(kb.drugs)} (AWaRe: " + ", ".join(f"{g} {aware[g]}" for g in ("Access", "Watch", "Reserve")) + ")",
        f"drugs with renal bands: {sum(bool(d.renal) for d in kb.drugs)}; with a pregnancy rule: "
        f"{sum(d.pregnancy is not None for d in kb.drugs)}; synonyms: {sum(len(d.synonyms) for d in kb.drugs)}",
        "sourced rows by confidence: " + ", ".join(f"{k} {v}" for k, v in sorted(by_label.items())),
        f"distinct citations: {len(kb.citations())}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        print(summary())
    except KBError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
