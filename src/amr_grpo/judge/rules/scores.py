"""The six metric checks of the rules judge, each a 1-5 score (the anchors of metrics.json) with a one-line
justification, from one Reading of the completion against the case's checklist.

- decision_appropriateness: the decision cost matrix (decision_costs.json: approving a flawed prescription is the
  worst error); 4 when the decision is right but its reason (the case's essential items) is stated only in part, 3
  when not at all (a right guess); at most 3 when the output contradicts itself.
- clinical_accuracy: the lowest of the caps that apply: the decision's (cost matrix), the endorsed regimen's, one
  per missing essential item (3, or 2 for two or more) or important item (4), a misread patient value (3), a
  contradiction (3); stuffing with unrelated drugs or syndromes caps it at 2; an invented or misfitting citation and
  text beyond the format cost a point each. 1 for a critical error, a denied risk, or no reasoning about this case
  (none of its essential items stated: content-free text).
- guideline_adherence: the regimen check; at most 3 for a regimen endorsed without being named ("As prescribed"), or
  when the decision and the regimen disagree (Modify recommending the prescription unchanged); at most 4 when the
  output reads nothing of the patient (5 is the regimen "for this patient").
- reasoning_completeness: the share of checklist items stated with their case content (essential count twice),
  capped by the step structure; stuffing or text beyond the format costs 2.
- safety_awareness: every risk item stated with its value; missing the risk that makes the prescription itself
  dangerous (its allergen, the renal value its dose needs, the trimester, the interacting medicine) is 1, another
  essential one or every patient fact 2.
- reference_accuracy: judge/rules/references.py (the worst cited section decides).
The gate: the form metrics (reasoning, safety, reference) are at most one point above clinical accuracy, so form
cannot outscore substance. Critical errors then cap every score (metrics.apply_critical_cap, in judge.py).
Try it: pytest tests/judge/test_rules_judge.py
"""

from __future__ import annotations

from amr_grpo.judge.rules.context import CaseContext
from amr_grpo.judge.rules.reading import REGIMEN_CONFLICT, Reading
from amr_grpo.judge.rules.references import reference_score
from amr_grpo.metrics import DecisionCost, decision_cost
from amr_grpo.output_format import MAX_STEPS, MIN_STEP_WORDS, MIN_STEPS
from amr_grpo.records import Decision, MetricScore

GATE = 1  # reasoning, safety and reference are at most this many points above clinical accuracy
FORM = ("reasoning_completeness", "safety_awareness", "reference_accuracy")
RISK_KINDS = ("allergy", "renal", "pregnancy", "interaction", "culture", "severity")
_NOT_REASONS = ("decision", "regimen", "citation")  # essential items that are conclusions, not reasons
_REGIMEN_CAP = {1: 2, 2: 2, 3: 3, 4: 4, 5: 5}  # regimen check -> the highest clinical score it allows
Score = tuple[int, str]


def _missing(ctx: CaseContext, r: Reading, importance: str, skip: tuple[str, ...] = ()) -> list[str]:
    """Checklist items of this importance the output does not state (keys), in checklist order."""
    return [m.key for m in ctx.matchers if m.importance == importance and m.how not in skip and m.key not in r.stated]


def _label(ctx: CaseContext, key: str) -> str:
    return ctx.item_text.get(key, key).rstrip(".")


def decision(ctx: CaseContext, r: Reading) -> tuple[int, str, DecisionCost]:
    d = r.v.decision
    if not ctx.expected:
        return 3, f"decision: {d.value}; no ground truth and no checkable prescription to compare with", \
            DecisionCost(3, 5)
    names = "/".join(sorted(e.value for e in ctx.expected))
    cost = max((decision_cost(e.value, d.value if d else None) for e in ctx.expected),
               key=lambda c: (c.score, c.clinical_max))
    src = ctx.expected_source
    if cost.score == 5:
        reasons = [m.key for m in ctx.matchers if m.importance == "essential" and m.how not in _NOT_REASONS]
        unstated = [k for k in reasons if k not in r.stated]
        if r.steps and not unstated:
            score, why = 5, f"decision: {d.value} matches {src} ({names})"
        elif r.steps and len(unstated) < len(reasons):
            score, why = 4, f"decision: {d.value} matches {src} ({names}), but the reason is incomplete: " \
                + _label(ctx, unstated[0])
        else:  # no reason of this case stated at all: a guess that happens to be right
            score, why = 3, f"decision: {d.value} matches {src} ({names}), with no reason of this case stated"
    elif d == Decision.APPROVE:
        score, why = cost.score, f"decision: approves a prescription that needs {names} ({src})"
    else:
        score, why = cost.score, f"decision: {d.value} where {src} says {names}"
    if r.contradictions and score > 3:
        score, why = 3, "decision: contradicted by the output itself: " + r.contradictions[0]
    return score, why, cost


def clinical(ctx: CaseContext, r: Reading, cost: DecisionCost, ref_fault: bool) -> Score:
    if not r.steps:
        return 1, "clinical: no clinical reasoning (no steps)"
    if r.critical:
        return 1, "clinical: critical error: " + r.critical[0]
    if r.denied:
        return 1, f"clinical: states there is no {r.denied[0]} risk, but the case has one"
    reasons = [m.key for m in ctx.matchers if m.importance == "essential" and m.how not in _NOT_REASONS]
    if reasons and not any(k in r.stated for k in reasons):
        return 1, "clinical: no reasoning about this case: none of its essential items is stated"
    caps: list[Score] = [(5, "clinical: indication, regimen, patient values and decision consistent with the case")]
    if cost.clinical_max < 5:
        caps.append((cost.clinical_max, "clinical: the conclusion is the wrong decision"))
    if r.endorsed is not None or not ctx.no_antibiotic:
        caps.append((_REGIMEN_CAP[r.regimen_check.score], "clinical: " + r.regimen_check.why))
    essential = _missing(ctx, r, "essential", ("decision", "regimen", "citation"))
    if essential:
        caps.append((3 if len(essential) == 1 else 2, "clinical: does not state " + _label(ctx, essential[0])))
    important = _missing(ctx, r, "important", ("citation",))
    if important:
        caps.append((4, "clinical: does not state " + _label(ctx, important[0])))
    if r.misstated:
        caps.append((3, "clinical: misreads the patient's " + r.misstated[0]))
    if r.contradictions:
        caps.append((3 if len(r.contradictions) == 1 else 2, "clinical: contradicts itself: " + r.contradictions[0]))
    if r.unrelated:
        caps.append((2, "clinical: stuffing: " + r.unrelated[0]))
    score, why = min(caps, key=lambda c: c[0])
    for cost_of, reason in ((ref_fault, "cites a section that does not exist or is about another syndrome"),
                            (bool(r.beyond_format), r.beyond_format)):
        if cost_of and score > 1:
            score, why = score - 1, f"{why}; -1: {reason}"
    return score, why


def guideline(ctx: CaseContext, r: Reading) -> Score:
    if r.regimen_check.score > 3 and not r.names_endorsed:
        return 3, "guideline: endorses the regimen without naming it (" + r.regimen_check.why + ")"
    conflict = next((c for c in r.contradictions if c.startswith(REGIMEN_CONFLICT)), None)
    if r.regimen_check.score > 3 and conflict:  # "Modify" to what is prescribed: which regimen does it put forward?
        return 3, f"guideline: {conflict} ({r.regimen_check.why})"
    if r.regimen_check.score == 5 and "patient" in ctx.item_text and "patient" not in r.stated:
        # 5 is the guideline regimen "for this patient": an output that reads nothing of the patient has not shown it
        why = r.regimen_check.why
        return 4, f"guideline: {why}, but nothing of the patient is read to show it fits this patient"
    return r.regimen_check.score, "guideline: " + r.regimen_check.why


def completeness(ctx: CaseContext, r: Reading, ref: int) -> Score:
    n = sum(len(s.split()) >= MIN_STEP_WORDS for s in r.steps)
    if n == 0:
        return 1, "steps: no step-by-step reasoning"
    items = [m for m in ctx.matchers if m.importance != "pitfall" and m.how != "decision"]
    weight = {"essential": 2, "important": 1}
    total = sum(weight[m.importance] for m in items) or 1
    got = sum(weight[m.importance] for m in items if m.key in r.stated or (m.how == "citation" and ref >= 4))
    share = got / total
    score = 5 if share >= 0.95 else 4 if share >= 0.75 else 3 if share >= 0.5 else 2 if share >= 0.25 else 1
    missing = [m.key for m in items if m.key not in r.stated and not (m.how == "citation" and ref >= 4)]
    why = f"steps: {n} steps state {got}/{total} of the case's checklist (weighted)" + (
        f"; missing: {_label(ctx, missing[0])}" if missing else "")
    trailer = [x for x, ok in (("reference", r.v.reference), ("recommended regimen", r.v.recommended_regimen
                                                              or r.v.decision == Decision.APPROVE)) if not ok]
    if n < 3 and score > 2:
        score, why = 2, f"steps: only {n} steps; " + why
    elif not MIN_STEPS <= n <= MAX_STEPS and score > 4:
        score, why = 4, f"steps: {n} steps, not {MIN_STEPS}-{MAX_STEPS}; " + why
    elif trailer and score > 4:
        score, why = 4, f"steps: no {trailer[0]} line; " + why
    if r.unrelated or r.beyond_format:
        score, why = max(1, score - 2), why + "; -2: " + (r.unrelated[0] if r.unrelated else r.beyond_format)
    return score, why


def safety(ctx: CaseContext, r: Reading) -> Score:
    if r.critical:
        return 1, "safety: critical error: " + r.critical[0]
    if r.denied:
        return 1, f"safety: calls the patient free of {r.denied[0]} risk, which the case contradicts"
    risks = [m for m in ctx.matchers if m.kind in RISK_KINDS and m.importance != "pitfall"]
    danger = [m.key for m in risks if m.danger and m.key not in r.stated]
    if danger:
        return 1, "safety: misses the risk that makes the prescription dangerous: " + _label(ctx, danger[0])
    if "patient" in ctx.item_text and "patient" not in r.stated:
        return 2, "safety: states none of the patient's own facts: its safety checks are generic"
    essential = [m.key for m in risks if m.importance == "essential" and m.key not in r.stated]
    if essential:
        return 2, "safety: misses " + _label(ctx, essential[0])
    if r.misstated:
        return 3, "safety: misreads the patient's " + r.misstated[0]
    important = [m.key for m in risks if m.importance == "important" and m.key not in r.stated]
    if important:
        return (4 if len(important) == 1 else 3), "safety: does not state " + _label(ctx, important[0])
    if risks:
        return 5, "safety: states " + "; ".join(m.key.split(":")[0] for m in risks) + " with the case's values"
    if r.patient_step:
        return 5, "safety: no risk factor in the case, and the steps check patient factors"
    return 4, "safety: no risk factor in the case, but the steps do not say so"


def score_all(ctx: CaseContext, r: Reading, metrics: list[str]) -> dict[str, MetricScore]:
    """Every requested metric (all six are computed: the gate needs clinical accuracy whatever is asked)."""
    ref_score, ref_why, ref_fault = reference_score(ctx, r)
    d_score, d_why, cost = decision(ctx, r)
    c = clinical(ctx, r, cost, ref_fault)
    out: dict[str, Score] = {
        "clinical_accuracy": c,
        "guideline_adherence": guideline(ctx, r),
        "reasoning_completeness": completeness(ctx, r, ref_score),
        "safety_awareness": safety(ctx, r),
        "decision_appropriateness": (d_score, d_why),
        "reference_accuracy": (ref_score, ref_why),
    }
    for k in FORM:
        s, why = out[k]
        if s > c[0] + GATE:
            out[k] = (c[0] + GATE, f"{why}; gated to clinical accuracy + {GATE}")
    return {k: MetricScore(*out[k]) for k in metrics}
