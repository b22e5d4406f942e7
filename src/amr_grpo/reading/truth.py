"""A ground truth (a reference validation text, or a dict with decision / regimen / reference / flags) ->
records.GroundTruth. A missing decision or regimen is read from the reference text; nothing is guessed.
Try it: python -c "from amr_grpo.reading import read_ground_truth as r; print(r('Decision: Modify\nReference: NCDC 5.1'))"
"""

from __future__ import annotations

import re
from typing import Any

from amr_grpo.records import Decision, GroundTruth


def items(phrase: str) -> list[str]:
    """'renal, allergy; pregnancy' -> ['renal', 'allergy', 'pregnancy']."""
    return [p.strip(" :-*'\"") for p in re.split(r"\s*(?:,|/|&|\+|;|\band\b)\s*", phrase, flags=re.IGNORECASE)
            if p.strip(" :-*'\"")]


def read_ground_truth(gt: str | dict[str, Any] | GroundTruth | None) -> GroundTruth:
    """Reference text -> decision, regimen and citation read with parse_validation; dict -> GroundTruth.from_dict
    (a missing decision or regimen is filled from its `reference` text); None -> an empty GroundTruth."""
    if gt is None:
        return GroundTruth()
    if isinstance(gt, GroundTruth):
        return gt
    if isinstance(gt, str):
        if not gt.strip():
            return GroundTruth()
        from amr_grpo.output_format import parse_validation  # the judge's parser reads reference texts too

        v = parse_validation(gt)
        return GroundTruth(decision=v.decision, recommended_regimen=v.recommended_regimen, reference=gt,
                           citation=v.reference)
    d = dict(gt)
    if isinstance(d.get("decision"), Decision):
        d["decision"] = d["decision"].value
    if not isinstance(d.get("decision"), str):
        d["decision"] = None  # a list or a number is no decision: unknown, never a guess
    for key in ("recommended_regimen", "regimen", "reference", "citation", "syndrome"):
        if key in d and d[key] is not None and not isinstance(d[key], str):
            d[key] = None
    for key in ("issues", "flags"):
        if isinstance(d.get(key), str):
            d[key] = items(d[key])
        elif key in d and not isinstance(d[key], list):
            d[key] = []
        elif key in d:
            d[key] = [str(x) for x in d[key]]
    out = GroundTruth.from_dict(d)
    if isinstance(out.reference, str) and out.reference.strip() and (out.decision is None or not out.citation):
        from amr_grpo.output_format import parse_validation

        v = parse_validation(out.reference)
        out.decision = out.decision or v.decision
        out.recommended_regimen = out.recommended_regimen or v.recommended_regimen
        out.citation = out.citation or v.reference
    return out
