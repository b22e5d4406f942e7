"""The training plan: steps, completions, judge calls, tokens, cost and days of provider quota, before any model loads.

`make_plan(cfg, prompts, world_size)` computes it from the config alone (TRL's step arithmetic: a step trains on
per_device_train_batch_size x processes x gradient_accumulation_steps completions, i.e. that / num_generations
prompts, and an epoch is `prompts // prompts_per_step` steps); `render(plan)` is the table `amr-grpo train --plan`
prints and every run prints at its start. Tokens per call come from the judge's own prompt renderer on the run's
prompts with completions at the length cap (an upper bound; cache hits make it lower). Quotas come from
JudgeConfig.resolved_endpoints() (Groq's free tier by default), per endpoint and summed. The plan assumes the whole
run falls within one quota day, the worst case: a run that spans days gets a fresh quota each day.
Try it: amr-grpo train --config configs/train/llama31-8b-lora.yaml --plan data.dir=runs/main/data
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from amr_grpo.data.splits import read_split
from amr_grpo.errors import UserError
from amr_grpo.judge import judge_identity
from amr_grpo.judge.base import EvalRequest
from amr_grpo.judge.rubric import COMPLETION_TOKENS_PER_METRIC, render_group_prompt, render_prompt
from amr_grpo.metrics import resolve_metrics
from amr_grpo.preflight import KEY_OVERRIDE_ENV
from amr_grpo.train.config import TrainConfig

SAMPLE_PROMPTS = 16  # prompts whose judge calls are rendered to estimate tokens per call


@dataclass
class EndpointPlan:
    name: str
    model: str
    key_env: str
    key_set: bool
    rpm: float
    tpm: float
    rpd: int
    tpd: int
    share: float  # fraction of the calls it is expected to take (by daily token quota; equal when unlimited)


@dataclass
class Plan:
    prompts: int
    world_size: int
    prompts_per_step: int
    completions_per_step: int
    steps_per_epoch: int
    steps: int
    completions: int
    backend: str
    judge_model: str
    metrics: list[str]
    every_n_steps: int
    group_mode: bool
    llm_steps: int  # steps whose completions the configured LLM judge scores
    rules_completions: int  # completions the rules judge scores (all of them for rules; between LLM steps otherwise)
    calls_per_llm_step: int
    llm_calls: int
    tokens_per_call: int
    llm_tokens: int
    cost_usd: float
    quota_fallback: str
    endpoints: list[EndpointPlan] = field(default_factory=list)
    day_requests: int = 0  # summed over endpoints; 0 = no daily limit
    day_tokens: int = 0
    days: float = 0.0  # days of quota the LLM calls need (0 without a daily limit)
    quota_step: int | None = None  # the 1-based training step near which one day's quota runs out, if it does
    judge_seconds_per_llm_step: float = 0.0  # at least, from the per-minute limits


def uses_llm(cfg: TrainConfig) -> bool:
    return cfg.judge.backend in ("openai", "hybrid", "local", "api")


def count_prompts(cfg: TrainConfig) -> int:
    n = len(read_split(Path(cfg.data.dir) / f"{cfg.data.train_split}.jsonl"))
    return min(n, cfg.data.max_train_samples) if cfg.data.max_train_samples is not None else n


def tokens_per_call(cfg: TrainConfig, completions_per_call: int) -> int:
    """Mean estimated tokens (prompt + answer) of one judge call over the first prompts of the train split."""
    recs = read_split(Path(cfg.data.dir) / f"{cfg.data.train_split}.jsonl")[:SAMPLE_PROMPTS]
    keys = tuple(resolve_metrics(cfg.judge.metrics))
    capped = "x" * (4 * cfg.grpo.max_completion_length)  # the estimator counts 4 characters a token
    totals = []
    for r in recs:
        reqs = [EvalRequest(r["context"], capped + str(i), r.get("ground_truth"), keys) for i in range(completions_per_call)]
        prompt = render_prompt(reqs[0]) if len(reqs) == 1 else render_group_prompt(reqs)
        totals.append(sum(prompt.estimated_tokens()))
    return round(sum(totals) / len(totals))


def _endpoints(cfg: TrainConfig) -> list[EndpointPlan]:
    j = cfg.judge
    if not (j.backend == "openai" or (j.backend == "hybrid" and j.hybrid_llm == "openai")):
        return []

    eps = j.resolved_endpoints()
    limited = all(e.tpd for e in eps)
    total_tpd = sum(e.tpd for e in eps) if limited else 0
    override = bool(os.environ.get(KEY_OVERRIDE_ENV, "").strip())
    return [EndpointPlan(
        name=e.name, model=e.model or "", key_env=e.api_key_env or "",
        key_set=override or bool(os.environ.get(e.api_key_env or "", "").strip()),
        rpm=float(e.rpm or 0), tpm=float(e.tpm or 0), rpd=int(e.rpd or 0), tpd=int(e.tpd or 0),
        share=(e.tpd / total_tpd) if total_tpd else 1 / len(eps)) for e in eps]


def make_plan(cfg: TrainConfig, prompts: int | None = None, world_size: int = 1) -> Plan:
    """The plan of `cfg` on `world_size` processes over `prompts` train prompts (default: count the split)."""
    g, j = cfg.grpo, cfg.judge
    prompts = count_prompts(cfg) if prompts is None else prompts
    completions_per_step = g.per_device_train_batch_size * world_size * g.gradient_accumulation_steps
    prompts_per_step = completions_per_step // g.num_generations
    steps_per_epoch = prompts // prompts_per_step
    if steps_per_epoch == 0:
        raise UserError(f"{prompts} train prompts: fewer than the {prompts_per_step} one step needs",
                        "more data, or a smaller grpo.per_device_train_batch_size")
    steps = g.max_steps if g.max_steps > 0 else math.ceil(g.num_train_epochs * steps_per_epoch)
    # the reward sees trainer_state.global_step = steps done so far: steps 0, N, 2N, ... (0-based) go to the LLM
    n = j.every_n_steps
    llm_steps = math.ceil(steps / n) if uses_llm(cfg) else 0
    per_call = min(g.num_generations, max(1, j.group_size)) if j.group_mode else 1
    calls_per_llm_step = (prompts_per_step * math.ceil(g.num_generations / per_call)) if j.group_mode \
        else completions_per_step
    tokens = tokens_per_call(cfg, per_call) if llm_steps else 0
    llm_tokens = llm_steps * calls_per_llm_step * tokens
    # prompt tokens dominate; price them all at the prompt rate plus the answers at the completion rate
    keys = resolve_metrics(j.metrics)

    answer = COMPLETION_TOKENS_PER_METRIC * len(keys) * per_call
    calls = llm_steps * calls_per_llm_step
    cost = calls * ((tokens - answer) / 1000 * j.price_per_1k_prompt + answer / 1000 * j.price_per_1k_completion) \
        if j.backend in ("openai", "hybrid") else 0.0
    rules_completions = completions_per_step * (steps if j.backend in ("rules", "hybrid") else steps - llm_steps)
    plan = Plan(
        prompts=prompts, world_size=world_size, prompts_per_step=prompts_per_step,
        completions_per_step=completions_per_step, steps_per_epoch=steps_per_epoch, steps=steps,
        completions=steps * completions_per_step, backend=j.backend, judge_model=judge_identity(j)[1],
        metrics=keys, every_n_steps=n, group_mode=j.group_mode, llm_steps=llm_steps,
        rules_completions=rules_completions, calls_per_llm_step=calls_per_llm_step if llm_steps else 0,
        llm_calls=calls, tokens_per_call=tokens, llm_tokens=llm_tokens, cost_usd=round(cost, 4),
        quota_fallback=j.quota_fallback, endpoints=_endpoints(cfg))
    _quota(plan)
    return plan


def _quota(plan: Plan) -> None:
    """Days of quota needed and the step where one day's quota runs out (endpoints summed: the engine spreads)."""
    eps = plan.endpoints
    if not eps or not plan.llm_calls:
        return
    plan.day_requests = sum(e.rpd for e in eps) if all(e.rpd for e in eps) else 0
    plan.day_tokens = sum(e.tpd for e in eps) if all(e.tpd for e in eps) else 0
    per_step_tokens = plan.calls_per_llm_step * plan.tokens_per_call
    fits = []  # LLM steps one day's quota covers, by each daily limit
    days = []
    if plan.day_requests:
        fits.append(plan.day_requests // plan.calls_per_llm_step)
        days.append(plan.llm_calls / plan.day_requests)
    if plan.day_tokens:
        fits.append(plan.day_tokens // per_step_tokens)
        days.append(plan.llm_tokens / plan.day_tokens)
    plan.days = round(max(days, default=0.0), 2)
    k = min(fits, default=plan.llm_steps)
    if k < plan.llm_steps:
        plan.quota_step = k * plan.every_n_steps + 1  # the (k+1)-th LLM step, at global_step k*N, is step k*N+1
    rpm = sum(e.rpm for e in eps) if all(e.rpm for e in eps) else 0
    tpm = sum(e.tpm for e in eps) if all(e.tpm for e in eps) else 0
    plan.judge_seconds_per_llm_step = round(60 * max(plan.calls_per_llm_step / rpm if rpm else 0,
                                                     per_step_tokens / tpm if tpm else 0), 1)


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _limit(x: float) -> str:
    return _n(x) if x else "no limit"


def render(plan: Plan, source: str = "") -> list[str]:
    """The plan as lines of text (what `--plan` prints and every run prints first)."""
    p = plan
    where = f" on {p.world_size} processes" if p.world_size > 1 else ""
    lines = [f"training plan{' (' + source + ')' if source else ''}: nothing is loaded or called to make it",
             f"  steps        {_n(p.steps)}  ({_n(p.prompts)} train prompts, {p.steps_per_epoch} steps an epoch; "
             f"{p.prompts_per_step} prompt{'s' * (p.prompts_per_step != 1)} x "
             f"{p.completions_per_step // max(1, p.prompts_per_step)} completions a step{where})",
             f"  completions  {_n(p.completions)}"]
    metrics = f"{len(p.metrics)} metrics ({', '.join(p.metrics)})"
    if p.backend == "rules":
        lines.append(f"  judge        rules (offline, free) on every completion; {metrics}")
        return lines
    every = "every step" if p.every_n_steps == 1 else f"every {p.every_n_steps}th step"
    lines.append(f"  judge        {p.backend} {p.judge_model} {every}, rules between; {metrics}"
                 f"{', group mode' if p.group_mode else ''}")
    lines.append(f"  LLM calls    {_n(p.llm_calls)} over {_n(p.llm_steps)} steps ({p.calls_per_llm_step} a step), "
                 f"~{_n(p.llm_tokens)} tokens (~{_n(p.tokens_per_call)} a call, completions at the length cap), "
                 f"~${p.cost_usd:.2f} at list price; fewer with cache hits")
    lines.append(f"  rules        {_n(p.rules_completions)} completions scored by the rules judge (free)")
    for e in p.endpoints:
        lines.append(f"  endpoint     {e.name} {e.model}: key ${e.key_env} {'set' if e.key_set else 'NOT SET'}; "
                     f"{_limit(e.rpm)} req/min, {_limit(e.tpm)} tokens/min, {_limit(e.rpd)} req/day, "
                     f"{_limit(e.tpd)} tokens/day; ~{e.share:.0%} of the calls")
    if not p.endpoints:
        return lines
    if p.day_requests or p.day_tokens:
        per_day = f"{_limit(p.day_requests)} requests and {_limit(p.day_tokens)} tokens a day"
        if p.quota_step is None:
            lines.append(f"  quota        fits one day: {_n(p.llm_calls)} requests and ~{_n(p.llm_tokens)} tokens of "
                         f"{per_day} ({p.days:.2f} days of quota)")
        else:
            then = ("the rules judge scores the remaining LLM steps (counted as fallbacks in the ledger)"
                    if p.quota_fallback == "rules" else
                    "training stops there with a checkpoint; continue with --resume after the quota resets")
            lines.append(f"  quota        needs {p.days:.1f} days of quota ({per_day}): run in one day, the daily "
                         f"quota runs out near step {_n(p.quota_step)} of {_n(p.steps)}; then "
                         f"(judge.quota_fallback={p.quota_fallback}) {then}")
            lines.append(f"  to fit a day judge.every_n_steps={_fit_every_n(p)} and/or judge.group_mode=true, "
                         "more endpoints (judge.endpoints), or a paid tier's quotas")
    else:
        lines.append("  quota        no daily limit configured")
    if p.judge_seconds_per_llm_step:
        lines.append(f"  pace         each LLM-judged step waits at least {p.judge_seconds_per_llm_step:g} s for the "
                     "per-minute limits")
    return lines


def _fit_every_n(p: Plan) -> int:
    """The smallest judge.every_n_steps whose LLM steps fit one day's quota."""
    per_step_tokens = p.calls_per_llm_step * p.tokens_per_call
    fits = [x for x in (p.day_requests // max(1, p.calls_per_llm_step) if p.day_requests else None,
                        p.day_tokens // max(1, per_step_tokens) if p.day_tokens else None) if x is not None]
    k = max(1, min(fits))
    return math.ceil(p.steps / k)
