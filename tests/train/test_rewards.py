"""Reward functions (amr_grpo.train.rewards) on literal completions, against real judges: the rules judge, and the LLM
judge talking to the fake OpenAI-compatible server over loopback HTTP. Called exactly as TRL calls them: every
function of a batch gathered on one event loop, with the dataset columns, trainer_state and log_metric."""

from __future__ import annotations

import asyncio
import json

import pytest
from fake_openai import FakeOpenAI
from transformers import TrainerState

from amr_grpo.judge.config import JudgeConfig
from amr_grpo.metrics import METRIC_KEYS, PRIORITY_KEYS
from amr_grpo.train.rewards import RewardPipeline, format_score

CASE = {
    "id": "t1",
    "patient": {"age": 28, "sex": "F", "allergies": [], "pregnant": False},
    "diagnosis": "Acute uncomplicated cystitis",
    "prescription": "Tab Ciprofloxacin 500 mg PO BD x 3 days",
    "setting": "OPD",
}
TRUTH = {"decision": "Modify", "recommended_regimen": "Nitrofurantoin 100 mg PO BD x 5 days",
         "citation": "NCDC NTG 2025, Urinary tract infections"}
GOOD = (
    "Step 1 - Clinical picture: acute uncomplicated cystitis in a non-pregnant woman, outpatient.\n"
    "Step 2 - Pathogen and setting: community E. coli.\n"
    "Step 3 - Regimen choice: nitrofurantoin is first line; ciprofloxacin is not.\n"
    "Step 4 - Dose route frequency: nitrofurantoin 100 mg PO BD.\n"
    "Step 5 - Duration: 5 days.\n"
    "Step 6 - Patient factors and safety: no allergy, not pregnant, renal function normal.\n"
    "Step 7 - Stewardship: avoid fluoroquinolones for cystitis.\n"
    "Decision: Modify\n"
    "Recommended regimen: Nitrofurantoin 100 mg PO BD x 5 days\n"
    "Reference: NCDC NTG 2025, Urinary tract infections"
)
GARBLE = "cystitis cystitis the the"  # no steps, no decision: unparseable


def llm_config(fake: FakeOpenAI, **kw) -> JudgeConfig:
    return JudgeConfig(backend="openai", base_url=fake.base_url, model="fake-judge", cache_path=None,
                       max_retries=0, rpm=0, tpm=0, **kw)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("AMR_GRPO_JUDGE_API_KEY", "test-key")
    with FakeOpenAI() as server:
        yield server


def columns(n: int, step: int, logged: dict) -> dict:
    """What TRL passes a reward function besides prompts/completions: dataset columns as per-completion lists."""
    return {
        "id": ["t1"] * n,
        "context": [json.dumps(CASE)] * n,  # train.py stores the case and ground truth as JSON text
        "ground_truth": [json.dumps(TRUTH)] * n,
        "trainer_state": TrainerState(global_step=step),
        "log_metric": lambda name, value: logged.setdefault(name, []).append(value),
        "log_extra": lambda column, values: None,
    }


async def score_batches(pipe: RewardPipeline, batches: list[tuple[int, list[str]]]) -> list[dict[str, list]]:
    """Each batch: all reward functions gathered together, as TRL's _calculate_rewards does. -> name: rewards."""
    funcs = pipe.reward_funcs()
    out = []
    for step, completions in batches:
        logged: dict = {}
        cols = columns(len(completions), step, logged)
        prompts = ["Validate this prescription."] * len(completions)
        results = await asyncio.gather(*(f(prompts=prompts, completions=completions, completion_ids=None, **cols)
                                         for f in funcs))
        out.append({f.__name__: r for f, r in zip(funcs, results)} | {"_logged": logged})
    await pipe.aclose()
    return out


def test_functions_are_named_after_metrics_and_weighted_like_weighted_reward():
    pipe = RewardPipeline(JudgeConfig(metrics="all"), format_weight=0.1)
    assert [f.__name__ for f in pipe.reward_funcs()] == [*METRIC_KEYS, "format"]
    # all six weights sum to 1.0 already, so they pass through unchanged; format keeps its own weight
    assert pipe.reward_weights() == pytest.approx([0.25, 0.25, 0.20, 0.15, 0.10, 0.05, 0.1])
    pipe = RewardPipeline(JudgeConfig(metrics="priority"), format_weight=0.0)
    assert [f.__name__ for f in pipe.reward_funcs()] == [*PRIORITY_KEYS, "format"]
    # priority weights 0.25, 0.25, 0.20 sum to 0.70: normalised -> 0.357, 0.357, 0.286
    assert pipe.reward_weights() == pytest.approx([0.25 / 0.7, 0.25 / 0.7, 0.2 / 0.7, 0.0])


def test_llm_scores_become_fractions_and_format_reads_the_parse(fake):
    fake.default_score = 4  # every metric 4/5 unless scripted
    fake.script(contains="SCRIPTED-TWO", answer={"injection_suspected": False, "critical_error": False, "scores": {
        k: {"evidence": "e", "rationale": "r", "score": 2} for k in PRIORITY_KEYS}})
    pipe = RewardPipeline(llm_config(fake, metrics="priority"))
    (res,) = asyncio.run(score_batches(pipe, [(0, [GOOD, GARBLE, GOOD + "\nSCRIPTED-TWO"])]))
    # 4/5 = 0.8 for the default answer, 2/5 = 0.4 for the scripted one
    for key in PRIORITY_KEYS:
        assert res[key] == pytest.approx([0.8, 0.8, 0.4])
    # GOOD is exactly the format; GARBLE has neither steps nor a decision; the third has text after its Reference
    assert res["format"] == [1.0, 0.0, 0.5]
    assert res["_logged"]["judge/failures"] == [0.0]  # logged once per batch, not once per function


LINES = GOOD.splitlines()  # 7 steps, then Decision, Recommended regimen, Reference


@pytest.mark.parametrize("text, truncated, expected, why", [
    (GOOD, False, 1.0, "exactly the policy format"),
    ("**" + GOOD.replace("Decision:", "DECISION:") + "**", False, 1.0, "markdown and case do not matter"),
    ("\n".join(LINES[:-1]), False, 0.5, "no Reference line"),
    (GOOD + "\n" + LINES[-1] + "\n" + LINES[-1], False, 0.5, "the Reference line repeated to fill the cap"),
    ("\n".join(LINES[:5] + LINES[7:]), False, 0.5, "5 steps: fewer than 6"),
    (GOOD + "\nStep 8 - Extra: more text here", False, 0.5, "text after the Reference line"),
    (GOOD, True, 0.0, "cut off at the length cap: never ended"),
    (GARBLE, False, 0.0, "unparseable: no decision"),
    ("Decision: Approve or Reject\n" + "\n".join(LINES[:7]), False, 0.0, "ambiguous decision: unparseable"),
])
def test_format_score_table(text, truncated, expected, why):
    assert format_score(text, truncated) == expected, why


def test_format_reward_reads_truncation_from_completion_ids(fake):
    pipe = RewardPipeline(llm_config(fake, metrics="priority"), max_completion_length=10)
    funcs = {f.__name__: f for f in pipe.reward_funcs()}

    async def run():
        out = await funcs["format"](prompts=["p", "p"], completions=[GOOD, GOOD], completion_ids=[[1] * 9, [1] * 10],
                                    **columns(2, 0, {}))
        await pipe.aclose()
        return out

    # 9 tokens < cap of 10: it ended; 10 tokens = the cap: cut off, so 0 whatever the text
    assert asyncio.run(run()) == [1.0, 0.0]


def test_could_not_score_is_none_never_zero(fake):
    fake.script(contains="SERVER-FAILS", status=500, answer={"error": {"message": "boom"}})
    pipe = RewardPipeline(llm_config(fake, metrics="priority"))
    (res,) = asyncio.run(score_batches(pipe, [(0, [GOOD, GOOD + "\nSERVER-FAILS"])]))
    for key in PRIORITY_KEYS:
        assert res[key][0] == pytest.approx(0.8)
        assert res[key][1] is None
    # the format reward is None too: alone it would set the advantage of a completion nobody could judge
    assert res["format"] == [1.0, None]
    assert res["_logged"]["judge/failures"] == [1.0]
    assert pipe.stats.failures == 1


def test_one_engine_call_per_batch_for_all_functions(fake):
    pipe = RewardPipeline(llm_config(fake, metrics="all"))
    completions = [GOOD + f"\n(variant {i})" for i in range(4)]
    asyncio.run(score_batches(pipe, [(0, completions)]))
    # 7 functions (6 metrics + format) asked; one score_many -> one HTTP call per completion, all metrics in it
    assert len(fake.requests) == 4
    led = pipe.ledger()
    assert led["judge"]["calls"] == 4
    assert led["judge"]["naive_calls"] == 4 * 6  # one call per metric per completion
    assert led["stats"]["batches"] == 1 and led["stats"]["naive_calls"] == 24


def test_every_n_steps_switches_between_llm_and_rules(fake):
    pipe = RewardPipeline(llm_config(fake, metrics="priority", every_n_steps=3))
    batches = [(step, [GOOD + f"\nstep {step} a", GOOD + f"\nstep {step} b"]) for step in range(6)]
    results = asyncio.run(score_batches(pipe, batches))
    # steps 0 and 3 go to the LLM judge (2 completions each = 4 calls); steps 1, 2, 4, 5 to the rules judge
    assert len(fake.requests) == 4
    assert [r["_logged"]["judge/llm_step"] for r in results] == [[1.0], [0.0], [0.0], [1.0], [0.0], [0.0]]
    assert pipe.stats.llm_batches == 2 and pipe.stats.rules_batches == 4
    for r in results:  # every step is scored, whichever judge did it
        assert all(v is not None for k in PRIORITY_KEYS for v in r[k])
    led = pipe.ledger()
    assert led["judge"]["calls"] == 4 and led["rules"]["evaluations"] == 8


def test_rules_judge_rewards_a_correct_validation_over_a_wrong_one():
    wrong = GOOD.replace("Decision: Modify", "Decision: Approve")
    pipe = RewardPipeline(JudgeConfig(backend="rules", metrics="all", cache_path=None))
    (res,) = asyncio.run(score_batches(pipe, [(0, [GOOD, wrong, GARBLE])]))
    # the right decision (Modify, as the ground truth says) scores higher on decision_appropriateness
    assert res["decision_appropriateness"][0] > res["decision_appropriateness"][1]
    assert res["format"] == [1.0, 1.0, 0.0]
    assert all(v is not None for k in METRIC_KEYS for v in res[k])  # rules always scores, if only with 1s
    # an unparseable answer has no reasoning steps: the lowest reasoning_completeness, 1/5
    assert res["reasoning_completeness"][2] == pytest.approx(0.2)


def test_a_critical_error_caps_the_weighted_reward_in_training_too():
    # approving ciprofloxacin 10x (5 g a dose, above twice the largest dose the guideline gives): a critical error.
    # The cap acts on every metric score, so the per-metric TRL rewards (normalised weights summing to 1) add up to
    # the capped weighted reward: at most 0.4, the same number the HTTP answer gives
    overdose = GOOD.replace("Recommended regimen: Nitrofurantoin 100 mg PO BD x 5 days",
                            "Recommended regimen: Ciprofloxacin 5000 mg PO BD x 3 days")
    pipe = RewardPipeline(JudgeConfig(backend="rules", metrics="all", cache_path=None))
    (res,) = asyncio.run(score_batches(pipe, [(0, [GOOD, overdose])]))
    weights = pipe.reward_weights()[:-1]
    total = [sum(w * res[k][i] for k, w in zip(METRIC_KEYS, weights, strict=True)) for i in range(2)]
    assert all(res[k][1] <= 0.4 for k in METRIC_KEYS) and total[1] <= 0.4 + 1e-9 < total[0]
    assert res["_logged"]["judge/weighted_reward"] == [pytest.approx(sum(total) / 2)]
