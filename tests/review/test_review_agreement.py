"""Agreement numbers checked against hand computation on small tables, the resampled statistics against
scikit-learn / scipy on the expanded samples, and the whole loop on a real evaluate run: export, labels imported,
agreement.json/.md/.html, the section in `amr-grpo report --review-db`, and the corrections as cases that
`amr-grpo prepare` reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
from review_helpers import build_evaluate_run, write_labels
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.data.prepare import PrepareOptions, prepare
from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.review import agreement as ag
from amr_grpo.review.export import read_export
from amr_grpo.review.store import LabelIn, Store


def test_quadratic_kappa_spearman_exact_within_1_by_hand():
    judge, clin = [1, 2, 3, 5], [1, 3, 3, 4]
    # quadratic kappa = 1 - mean observed (i-j)^2 / mean expected (i-j)^2 under the marginals:
    # observed (0 + 1 + 0 + 1) / 4 = 0.5; judge marginals 1,2,3,5 (1/4 each), clinician 1 (1/4), 3 (1/2), 4 (1/4):
    # expected = 1/4 * [(0 + .5*4 + .25*9) + (.25 + .5 + .25*4) + (.25*4 + 0 + .25) + (.25*16 + .5*4 + .25)] = 3.375
    assert ag.kappa_quadratic(judge, clin) == pytest.approx(1 - 0.5 / 3.375)  # 23/27 = 0.8519
    # ranks 1,2,3,4 vs 1,2.5,2.5,4: Pearson of the ranks = 4.5 / sqrt(5 * 4.5) = 3 / sqrt(10)
    assert ag.spearman(judge, clin) == pytest.approx(3 / 10 ** 0.5)
    assert ag.exact(np.array(judge), np.array(clin)) == 0.5 and ag.within_1(np.array(judge), np.array(clin)) == 1.0
    # unweighted kappa on decisions: agreement 3/4, chance .25*.25 + .5*.75 = .4375 -> (.75 - .4375) / .5625 = 5/9
    assert ag.kappa_nominal(["Approve", "Modify", "Reject", "Modify"], ["Approve", "Modify", "Modify", "Modify"]) == \
        pytest.approx(5 / 9)
    assert ag.to_scale(0.2) == 1 and ag.to_scale(0.5) == 3 and ag.to_scale(0.69) == 3 and ag.to_scale(1.0) == 5


def test_krippendorff_alpha_by_hand():
    # decisions of two clinicians on 4 items: (A,A) (M,M) (R,R) (R,A). Coincidences: 2 per agreeing item, 1+1 off
    # the diagonal for the last; value totals n_A=3, n_M=2, n_R=3, n=8.
    # nominal alpha = 1 - (n-1) * sum_off o / sum_off n_c n_k = 1 - 7 * 2 / (64 - 9 - 4 - 9) = 1 - 14/42 = 2/3
    pairs = [("Approve", "Approve"), ("Modify", "Modify"), ("Reject", "Reject"), ("Reject", "Approve")]
    labels = [{"item_id": f"i{n}", "reviewer": who, "decision": d, **dict.fromkeys(METRIC_KEYS)}
              for n, pair in enumerate(pairs) for who, d in zip(("ana", "ben"), pair)]
    out = ag.between_clinicians(labels, n_boot=200)
    assert out["n_items"] == 4 and out["reviewers"] == ["ana", "ben"]
    assert out["decision"]["alpha"]["value"] == pytest.approx(2 / 3, abs=1e-4)
    assert out["decision"]["level"] == "nominal" and out["clinical_accuracy"]["alpha"]["value"] is None  # no ratings


def test_resampled_statistics_equal_the_libraries_on_the_expanded_samples():
    rng = np.random.default_rng(7)
    a, b = rng.integers(1, 6, 40), np.clip(rng.integers(1, 6, 40) + rng.integers(-1, 2, 40), 1, 5)
    w = rng.integers(0, 4, size=(5, 40)).astype(float)  # (resamples, pairs): how often each pair is drawn
    kq, sp = ag._kappa_rows(a, b, w, ag.SCALE, True), ag._spearman_rows(a, b, w)
    for row in range(5):
        ea, eb = np.repeat(a, w[row].astype(int)), np.repeat(b, w[row].astype(int))
        assert kq[row] == pytest.approx(cohen_kappa_score(ea, eb, labels=ag.SCALE, weights="quadratic"))
        assert sp[row] == pytest.approx(spearmanr(ea, eb).statistic)
    d = np.array(["Approve", "Modify", "Reject"])[rng.integers(0, 3, 40)]
    e = np.array(["Approve", "Modify", "Reject"])[rng.integers(0, 3, 40)]
    kn = ag._kappa_rows(d, e, w, ag.DECISIONS, False)
    assert kn[0] == pytest.approx(cohen_kappa_score(np.repeat(d, w[0].astype(int)), np.repeat(e, w[0].astype(int))))
    # a cluster resample moves all the pairs of an item together
    cw = ag.cluster_weights(["x", "x", "y", "z"], 50, seed=1)
    assert cw.shape == (50, 4) and (cw[:, 0] == cw[:, 1]).all() and (cw.sum(1) >= 3).all()


def _store_with(tmp_path, judge_scores, labels_by_reviewer, ref_decisions):
    s = Store.open(f"sqlite:///{tmp_path / 'a.sqlite'}")
    items = [{"item_id": f"x-{i}", "position": i, "case_text": "c", "output": "o", "case_data": {},
              "ground_truth": None,
              "judges": {"rules": {"scores": {"clinical_accuracy": j}, "weighted_reward": j / 5}},
              "reference_decision": d, "output_decision": "Approve", "stratum": "s", "source": {}}
             for i, (j, d) in enumerate(zip(judge_scores, ref_decisions))]
    s.add_export({"export_id": "x"}, items)
    for who, rows in labels_by_reviewer.items():
        s.save_many([LabelIn(f"x-{i}", who, {"clinical_accuracy": c}, d) for i, (c, d) in enumerate(rows)], "test")
    return s


def test_compute_on_a_store_gives_the_hand_computed_table(tmp_path):
    s = _store_with(tmp_path, [1, 2, 3, 5], {"ana": [(1, "Approve"), (3, "Modify"), (3, "Modify"), (4, "Modify")]},
                    ["Approve", "Modify", "Reject", "Modify"])
    res = ag.compute(s, n_boot=300)
    ca = res["judges"]["rules"]["metrics"]["clinical_accuracy"]
    assert (ca["n_pairs"], ca["n_items"]) == (4, 4)
    assert ca["kappa_quadratic"]["value"] == pytest.approx(23 / 27, abs=1e-4)
    assert ca["spearman"]["value"] == pytest.approx(3 / 10 ** 0.5, abs=1e-4)
    assert (ca["exact"]["value"], ca["within_1"]["value"]) == (0.5, 1.0)
    lo, hi = ca["exact"]["ci95"]
    assert 0 <= lo <= 0.5 <= hi <= 1
    assert res["judges"]["rules"]["metrics"]["safety_awareness"] == {"n_pairs": 0, "n_items": 0}
    assert res["decision"]["reference"]["kappa"]["value"] == pytest.approx(5 / 9, abs=1e-4)
    assert res["decision"]["output"]["exact"]["value"] == 0.25  # the outputs all say Approve; ana agrees once
    assert res["clinicians"] == {"n_items": 0, "reviewers": []}
    # the weighted reward needs every metric the judge scored: here only clinical_accuracy, so each label counts
    wr = res["judges"]["rules"]["weighted_reward"]
    assert wr["n_pairs"] == 4 and wr["mean_judge"] == pytest.approx((1 + 2 + 3 + 5) / 20)
    assert ag.compute(s, n_boot=300) == res  # seeded: the same numbers every time
    s.close()


def test_the_whole_loop_on_a_real_evaluate_run(tmp_path):
    runner = CliRunner()
    run = build_evaluate_run(tmp_path)
    rv = tmp_path / "rv"
    r = runner.invoke(app, ["review", "export", str(run), "-n", "8", "--seed", "3", "-o", str(rv)])
    assert r.exit_code == 0, r.output
    _, items = read_export(rv)
    rows = []
    for n, it in enumerate(items):
        good = it["output"].startswith("Step 1")
        for who in ("ana", "ben"):  # the clinicians score the references high and the bare decisions low
            s = (5 if who == "ana" else 4) if good else (1 if who == "ana" or n % 2 else 2)
            rows.append({"item_id": it["item_id"], "reviewer": who, **dict.fromkeys(METRIC_KEYS, s),
                         "decision": it["reference_decision"], "comment": "checked"})
    write_labels(rv / "labels.csv", rows)
    assert runner.invoke(app, ["review", "import", str(rv / "labels.csv")]).exit_code == 0
    out = tmp_path / "agreement"
    r = runner.invoke(app, ["review", "agreement", "--db", str(rv), "-o", str(out), "--n-boot", "200"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "agreement.json").read_text())
    assert res["counts"]["labels"] == 16 and res["counts"]["reviewers"] == ["ana", "ben"]
    rules = res["judges"]["rules"]
    assert rules["weighted_reward"]["n_pairs"] == 16
    # the rules judge also puts the references high and the bare decisions near the floor: strong agreement
    assert rules["weighted_reward"]["spearman"]["value"] > 0.7
    assert res["clinicians"]["n_items"] == 8 and res["clinicians"]["weighted_reward"]["alpha"]["value"] > 0.7
    assert res["decision"]["reference"]["exact"]["value"] == 1.0
    md, html = (out / "agreement.md").read_text(), (out / "agreement.html").read_text()
    assert "| clinical_accuracy | 16 |" in md and (out / "plots").is_dir()
    assert "data:image/png;base64," in html and "not for clinical use" in html and "http" not in html.split("<body>")[1]
    # amr-grpo report with the review database adds the same section
    r = runner.invoke(app, ["report", str(run), "-o", str(tmp_path / "report"),
                            "--review-db", str(rv / "review.sqlite")])
    assert r.exit_code == 0, r.output
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Clinician review: judge-vs-clinician agreement" in report and "Judge `rules` vs clinicians" in report
    # the reviewed items become cases that prepare reads
    r = runner.invoke(app, ["review", "to-cases", "--db", str(rv), "-o", str(tmp_path / "reviewed.jsonl")])
    assert r.exit_code == 0 and "wrote 8 cases" in r.output, r.output
    cases = [json.loads(line) for line in (tmp_path / "reviewed.jsonl").read_text().splitlines()]
    assert all(c["review"]["reviewers"] == ["ana", "ben"] and c["decision"] for c in cases)
    summary = prepare([tmp_path / "reviewed.jsonl"], tmp_path / "prepared", PrepareOptions(test_size=2, val_size=0))
    assert sum(summary.written.values()) == 8 and summary.rejected == 0
