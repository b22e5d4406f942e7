"""The six metrics and the weighted reward, pinned with hand-computed numbers."""

import json
from importlib import resources

import pytest

from amr_grpo import metrics
from amr_grpo.metrics import PRIORITY_KEYS, WEIGHTS, resolve_metrics, weighted_reward


def test_six_metrics_with_design_weights():
    # metrics.json: 0.25, 0.25, 0.20 (priority), 0.15, 0.10, 0.05; they sum to 1.
    assert WEIGHTS == {
        "clinical_accuracy": 0.25,
        "guideline_adherence": 0.25,
        "reasoning_completeness": 0.20,
        "safety_awareness": 0.15,
        "decision_appropriateness": 0.10,
        "reference_accuracy": 0.05,
    }
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert PRIORITY_KEYS == ("clinical_accuracy", "guideline_adherence", "reasoning_completeness")


def test_every_metric_has_an_anchor_for_each_score():
    for m in metrics.all_metrics():
        assert sorted(m.anchors) == [1, 2, 3, 4, 5], m.key
        assert all(len(text) > 20 for text in m.anchors.values()), m.key
        assert m.description


def test_seed_baseline_profile_on_priority_metrics():
    # The seed's baseline: 2.5/5, 2.0/5, 2.5/5 on the priority metrics.
    # (0.25*0.5 + 0.25*0.4 + 0.20*0.5) / 0.70 = 0.325 / 0.70 = 0.4642857...
    scores = {"clinical_accuracy": 2.5, "guideline_adherence": 2.0, "reasoning_completeness": 2.5}
    assert weighted_reward(scores, "priority") == pytest.approx(0.325 / 0.70)


def test_all_metrics_hand_computed():
    # 5,4,3,2,1,5 -> (0.25*1 + 0.25*0.8 + 0.2*0.6 + 0.15*0.4 + 0.1*0.2 + 0.05*1) / 1.0 = 0.70
    scores = dict(zip(metrics.METRIC_KEYS, [5, 4, 3, 2, 1, 5]))
    assert weighted_reward(scores, "all") == pytest.approx(0.70)


def test_bounds_and_subset():
    assert weighted_reward({k: 1 for k in metrics.METRIC_KEYS}, "all") == pytest.approx(0.2)
    assert weighted_reward({k: 5 for k in metrics.METRIC_KEYS}, "all") == pytest.approx(1.0)
    # one metric alone: its own fraction, whatever its weight: 3/5
    assert weighted_reward({"reference_accuracy": 3}, ["reference_accuracy"]) == pytest.approx(0.6)
    # default metric set = the keys given
    assert weighted_reward({"safety_awareness": 4, "decision_appropriateness": 2}) == pytest.approx(
        (0.15 * 0.8 + 0.10 * 0.4) / 0.25
    )


def test_missing_or_out_of_range_score_is_an_error_not_zero():
    with pytest.raises(KeyError):
        weighted_reward({"clinical_accuracy": 4}, "priority")
    with pytest.raises(ValueError):
        weighted_reward({"clinical_accuracy": 6}, ["clinical_accuracy"])


def test_resolve_metrics():
    assert resolve_metrics("all") == list(metrics.METRIC_KEYS)
    # order follows the rubric, duplicates dropped, comma strings accepted
    assert resolve_metrics(["reference_accuracy", "clinical_accuracy", "clinical_accuracy"]) == [
        "clinical_accuracy",
        "reference_accuracy",
    ]
    assert resolve_metrics("safety_awareness,clinical_accuracy") == ["clinical_accuracy", "safety_awareness"]
    with pytest.raises(ValueError, match="bogus"):
        resolve_metrics(["bogus"])
    with pytest.raises(ValueError):
        resolve_metrics([])


def test_data_file_is_the_single_source():
    raw = json.loads(resources.files("amr_grpo").joinpath("metrics.json").read_text())
    assert [m["key"] for m in raw["metrics"]] == list(metrics.METRIC_KEYS)
    assert raw["rubric_version"] == metrics.rubric_version()


def test_float_round_off_stays_inside_the_documented_range():
    # 0.20 * 1/5 / 0.20 is 0.19999999999999998 in floating point; the contract says [0.2, 1.0].
    assert weighted_reward({"reasoning_completeness": 1}) == 0.2
    assert weighted_reward({k: 1 for k in metrics.METRIC_KEYS}, "all") >= 0.2
    assert weighted_reward({k: 5 for k in metrics.METRIC_KEYS}, "all") <= 1.0


def test_critical_error_caps_every_score_so_the_reward_is_at_most_0_4():
    fives = {k: 5 for k in WEIGHTS}
    capped = metrics.apply_critical_cap(fives, True)
    # metrics.json critical_error.max_score = 2: every metric 2/5, so the weighted reward is 0.4 on any metric set
    assert capped == {k: 2 for k in WEIGHTS} and metrics.critical_max_score() == 2
    assert weighted_reward(capped) == pytest.approx(0.4)
    assert weighted_reward({k: capped[k] for k in PRIORITY_KEYS}) == pytest.approx(0.4)
    # scores already below the cap stay; without a critical error nothing changes
    assert metrics.apply_critical_cap({"clinical_accuracy": 1, "reference_accuracy": 4}, True) == {
        "clinical_accuracy": 1, "reference_accuracy": 2}
    assert metrics.apply_critical_cap(fives, False) == fives


def test_decision_costs_are_asymmetric():
    cost = metrics.decision_cost
    # approving a prescription that must be modified or rejected is the worst decision error (score 1), and caps
    # clinical accuracy lowest when the right decision was Reject (1) ...
    assert (cost("Modify", "Approve").score, cost("Reject", "Approve").score) == (1, 1)
    assert cost("Reject", "Approve").clinical_max == 1 < cost("Modify", "Approve").clinical_max == 2
    # ... rejecting or modifying a safe one is less bad (2), a defensible neighbour (Reject for Modify) 3
    assert (cost("Approve", "Reject").score, cost("Approve", "Modify").score) == (2, 2)
    assert cost("Modify", "Reject").score == 3
    assert all(cost(d, d).score == 5 and cost(d, d).clinical_max == 5 for d in ("Approve", "Modify", "Reject"))
    assert cost("Modify", None) == metrics.DecisionCost(1, 1)  # no decision at all
