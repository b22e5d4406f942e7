"""`amr-grpo review to-cases`: reviewed items -> cases that `amr-grpo prepare` reads, so clinicians' corrections
become training and test data.

One case per reviewed item that has a clinician decision. The clinician's decision becomes the case's decision.
When it is the decision the item already had as ground truth and the clinician gives no regimen, the original
reference validation, regimen and issue codes are kept (the clinician confirmed them); otherwise the reference is the
clinician's own: their comment, `Decision:`, `Recommended regimen:` and the original citation. Patient risk flags and
the syndrome are facts of the case and are always kept. Items whose clinicians chose different decisions are left
out and counted (settle them first, or pick one reviewer). A case with a structured patient is written in the
structured format; a free-text case as {id, input, output}. Each case carries `review` (item, reviewers, comment):
provenance that prepare lists as an ignored column.
Try it: amr-grpo review to-cases --db runs/review/review.sqlite -o data/reviewed.jsonl && \
        amr-grpo prepare data/reviewed.jsonl -o runs/reviewed/data
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amr_grpo.errors import UserError
from amr_grpo.reading import read_ground_truth
from amr_grpo.records import Case
from amr_grpo.review.store import Store


@dataclass
class CasesResult:
    written: int = 0
    no_decision: int = 0  # reviewed items without any clinician decision
    disagreements: list[str] = field(default_factory=list)  # item ids whose clinicians chose different decisions


def _reference(decision: str, regimen: str | None, citation: str | None, reviewers: list[str],
               comment: str | None) -> str:
    lines = [f"Clinician review ({', '.join(reviewers)}): {comment or 'no comment'}", f"Decision: {decision}"]
    if regimen:
        lines.append(f"Recommended regimen: {regimen}")
    if citation:
        lines.append(f"Reference: {citation}")
    return "\n".join(lines)


def case_record(item: dict[str, Any], labs: list[dict[str, Any]]) -> dict[str, Any]:
    """One item and its (agreeing) clinician labels -> a case record in a format prepare reads."""
    decision = labs[0]["decision"]
    reviewers = [lab["reviewer"] for lab in labs]
    regimen = next((lab["regimen"] for lab in labs if lab.get("regimen")), None)
    comment = "; ".join(f"{lab['reviewer']}: {lab['comment']}" for lab in labs if lab.get("comment")) or None
    gt = read_ground_truth(item.get("ground_truth"))
    confirmed = gt.decision is not None and gt.decision.value == decision and not regimen and bool(gt.reference)
    reference = gt.reference if confirmed else _reference(decision, regimen, gt.citation, reviewers, comment)
    review = {"item_id": item["item_id"], "reviewers": reviewers, "comment": comment,
              "confirmed_reference": confirmed}
    case = Case.from_dict(item["case_data"])
    if not case.diagnosis or not case.prescription:  # a free-text case: prepare reads it in the alpaca shape
        return {"id": f"review-{item['item_id']}", "input": item["case_text"], "output": reference, "review": review}
    return {
        "id": f"review-{item['item_id']}",
        "patient": case.patient.to_dict(),
        "diagnosis": case.diagnosis,
        "setting": case.setting,
        "prescription": case.prescription,
        "decision": decision,
        "reference": reference,
        "recommended_regimen": regimen or (gt.recommended_regimen if confirmed else None),
        "citation": gt.citation,
        "issues": list(gt.issues) if confirmed else [],
        "flags": list(gt.flags),
        "syndrome": case.syndrome or gt.syndrome,
        "review": review,
    }


def to_cases(store: Store, out: str | Path, export_id: str | None = None,
             reviewer: str | None = None) -> CasesResult:
    """Write the reviewed items of the store (one export, one reviewer, or all) as a cases JSONL."""
    items = {it["item_id"]: it for it in store.items(export_id)}
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for lab in store.labels(reviewer=reviewer, export_id=export_id):
        if lab["item_id"] in items:
            by_item[lab["item_id"]].append(lab)
    result, records = CasesResult(), []
    for item_id in sorted(by_item, key=lambda i: (items[i]["export_id"], items[i]["position"])):
        labs = [lab for lab in by_item[item_id] if lab.get("decision")]
        if not labs:
            result.no_decision += 1
        elif len({lab["decision"] for lab in labs}) > 1:
            result.disagreements.append(item_id)
        else:
            records.append(case_record(items[item_id], labs))
    if not records:
        raise UserError("no reviewed item with a clinician decision to write",
                        hint="collect labels first (amr-grpo serve --review DIR, or amr-grpo review import FILE)")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    os.replace(tmp, path)
    result.written = len(records)
    return result
