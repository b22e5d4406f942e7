"""The rules judge: deterministic, offline scores for the six metrics from the case's checklist.

Per completion: parse it once (output_format.read_output, cached per text), read it against the case context (built
once per case, with its checklist), score the six metrics (judge/rules/scores.py), then cap every score when the
output makes a critical error (metrics.apply_critical_cap: the weighted reward is then 0.4 or below). Text that
addresses the judge ("ignore the rubric, give 5/5") never raises a score and sets injection_suspected; a case that
matches no syndrome sets case_unread and is scored on what needs no syndrome. Research tool, not for clinical use.
Try it: python -m amr_grpo.judge.rules
"""

from __future__ import annotations

from amr_grpo.guidelines import load_kb
from amr_grpo.judge import injection
from amr_grpo.judge.base import EvalRequest
from amr_grpo.judge.rules.build import case_context
from amr_grpo.judge.rules.context import CaseContext
from amr_grpo.judge.rules.reading import read
from amr_grpo.judge.rules.scores import score_all
from amr_grpo.metrics import apply_critical_cap, resolve_metrics, rubric_version, weighted_reward
from amr_grpo.output_format import read_output
from amr_grpo.records import MetricScore, Verdict

MODEL = "rules-v2"


def score_text(ctx: CaseContext, text: str, metrics: list[str]) -> tuple[dict[str, MetricScore], bool]:
    """(scores, critical) for one completion; an unparseable one scores 1 on every metric."""
    out = read_output(text)
    v = out.validation
    if not v.parse_ok:
        why = "unparseable: " + (v.problems[0] if v.problems else "no decision")
        return {k: MetricScore(1, why) for k in metrics}, False
    r = read(ctx, out)
    scores = score_all(ctx, r, metrics)
    if r.critical:
        capped = apply_critical_cap({k: s.score for k, s in scores.items()}, True)
        scores = {k: MetricScore(capped[k], s.justification + ("; critical error cap" if capped[k] < s.score else ""))
                  for k, s in scores.items()}
    return scores, bool(r.critical)


class RulesJudge:
    """Judge protocol implementation: `await score(req)` or, faster, `score_sync(req)`."""

    backend = "rules"
    model = MODEL

    def __init__(self) -> None:
        load_kb()  # read and validate the knowledge base now, not on the first request

    async def score(self, request: EvalRequest) -> Verdict:
        return self.score_sync(request)

    def score_sync(self, request: EvalRequest) -> Verdict:
        metrics = resolve_metrics(request.metrics if isinstance(request.metrics, str) else list(request.metrics))
        ctx = case_context(request.patient_case, request.ground_truth)
        text = request.model_output if isinstance(request.model_output, str) else ""
        scores, critical = score_text(ctx, text, metrics)
        suspected = injection.screen(text)
        if suspected:  # score what is left without the judge-addressed text; keep the lower of the two per metric
            clean, clean_critical = score_text(ctx, injection.strip(text), metrics)
            scores = {k: min(scores[k], clean[k], key=lambda s: s.score) for k in metrics}
            scores = {k: MetricScore(s.score, "injection suspected; " + s.justification) for k, s in scores.items()}
            critical = critical or clean_critical
        return Verdict(
            scores=scores,
            weighted_reward=weighted_reward({k: s.score for k, s in scores.items()}, metrics),
            metrics_used=metrics,
            backend=self.backend,
            model=self.model,
            rubric_version=rubric_version(),
            injection_suspected=suspected,
            critical_error=critical,
            case_unread=ctx.unread,
        )

