"""amr-grpo report on hand-written results: the numbers in report.md are the hand-computed means, paired
differences and per-class F1; warnings for runs over different cases and one-decision models; tables as CSV and
LaTeX, plots as PNG/SVG/PDF; reference lines; best and worst outputs; the HTML is self-contained; bad files give
one clear line. The headless-Chromium check of report.html is in test_web.py."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from report_runs import BASE, TRAINED, row, write_run

from amr_grpo.cli import app
from amr_grpo.errors import UserError
from amr_grpo.metrics import METRIC_KEYS, get_metric
from amr_grpo.evaluation.report import write_report
from amr_grpo.evaluation.summary import bootstrap, paired_bootstrap, summarize


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    return write_run(tmp_path / "base", BASE), write_run(tmp_path / "trained", TRAINED)


def _line(md: str, start: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(start))


def test_bootstrap_pins_the_math():
    # constant values: every resample has the same mean, so the interval collapses and the SE is 0
    assert bootstrap([2, 2, 2]) == {"mean": 2.0, "ci95": [2.0, 2.0], "se": 0.0, "n": 3}
    s = bootstrap([0.4, 0.5, 0.6, 0.5])
    # resample means lie between min and max; the true SE of the mean is sd/sqrt(n) = 0.0707/2 = 0.035 (ddof 0),
    # the bootstrap estimate is within 15% of it at 2000 resamples
    assert s["mean"] == pytest.approx(0.5) and 0.4 <= s["ci95"][0] < 0.5 < s["ci95"][1] <= 0.6
    assert s["se"] == pytest.approx(0.0354, rel=0.15)
    assert bootstrap([None, None])["mean"] is None  # could-not-score rows are left out, never 0


def test_summary_numbers_are_hand_computed():
    s = summarize(BASE)
    assert s["metrics"]["clinical_accuracy"]["mean"] == pytest.approx(3.0)
    assert s["weighted_reward"]["mean"] == pytest.approx(0.5)
    assert s["decision_accuracy"]["mean"] == pytest.approx(0.5)
    assert s["parse_failure_rate"] == pytest.approx(0.25)
    assert s["mean_output_tokens"] == pytest.approx(130.0)  # (100+120+140+160)/4
    # gold x predicted (Approve, Modify, Reject, unparsed): c0 A->A, c1 M->A, c2 R->unparsed, c3 M->M
    assert s["confusion_matrix"]["counts"] == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]]
    # length 100..160 rises with reward 0.4,0.5,0.6,0.5: r = 0.632 (cov 2 / (22.36 * 0.0707) / ... by hand)
    assert s["length_reward_correlation"] == pytest.approx(0.6325, abs=1e-3)


def test_judge_failures_are_left_out_not_zero():
    rows = [*BASE[:2], {**BASE[2], "scores": {}, "weighted_reward": None}]
    s = summarize(rows)
    assert s["weighted_reward"]["mean"] == pytest.approx(0.45)  # (0.4 + 0.5) / 2, not (0.4+0.5+0)/3
    assert s["metrics"]["clinical_accuracy"]["n"] == 2 and s["judge_failures"] == 1


def test_unread_cases_are_counted_and_warned_about(tmp_path):
    # two of four verdicts say the case matched no guideline syndrome; a row without flags (older runs) is read
    rows = [{**BASE[0], "flags": {"case_unread": True}}, {**BASE[1], "flags": {"case_unread": False}},
            {**BASE[2], "flags": {"case_unread": True}}, {k: v for k, v in BASE[3].items() if k != "flags"}]
    assert summarize(rows)["cases_unread"] == 2 and summarize(BASE)["cases_unread"] == 0
    md = write_report([write_run(tmp_path / "run", rows)], tmp_path / "rep", labels=["run"])["markdown"].read_text()
    assert "run: 2 of 4 cases matched no guideline syndrome" in md.split("## Runs")[0]


def test_report_md_table_matches_hand_computed_means(runs, tmp_path):
    base, trained = runs
    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in [
        {"step": 1, "reward": 0.50, "rewards/clinical_accuracy/mean": 0.6, "completions/mean_length": 120},
        {"step": 2, "reward": 0.60, "rewards/clinical_accuracy/mean": 0.7, "completions/mean_length": 110},
        {"step": 3, "reward": 0.75, "rewards/clinical_accuracy/mean": 0.9, "completions/mean_length": 100},
    ]) + '{"step": 4, "rew')  # a run killed mid-write leaves half a line: skipped and named, not fatal
    paths = write_report([base, trained], tmp_path / "rep", train_log=log, labels=["base", "trained"])
    md = paths["markdown"].read_text()

    row = _line(md, "| Clinical accuracy")
    assert "| 3.00 [" in row and "| 4.50 [" in row and row.rstrip().endswith("| +1.50 |")
    # other metrics are constant within each run: the bootstrap interval collapses onto the mean
    assert "| 2.00 [2.00, 2.00] | 5.00 [5.00, 5.00] | +3.00 |" in _line(md, "| Reference accuracy")
    wr = _line(md, "| **Weighted reward**")
    assert "0.500 [" in wr and "0.850 [" in wr and "+0.350" in wr
    decisions = md.split("## Decisions")[1]
    assert _line(decisions, "| base |").split("|")[2].strip().startswith("0.50 [")  # decision accuracy 2/4
    assert _line(decisions, "| trained |").split("|")[2].strip() == "1.00 [1.00, 1.00]"
    # side by side: base's Approve/Modify/Reject/unparsed columns, then trained's. base's c2: gold Reject, no
    # readable decision; trained got it right
    assert "| Reject | 0 | 0 | 0 | 1 | 0 | 0 | 1 | 0 |" in md
    # training table: first and last logged value of each series
    assert "| reward | 0.500 | 0.750 |" in md
    assert "| rewards/clinical_accuracy/mean | 0.600 | 0.900 |" in md
    assert "metrics.jsonl:4: skipped, not JSON" in md
    assert "not for clinical use" in md
    for name in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):  # every linked plot exists and is a PNG
        assert (tmp_path / "rep" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_html_is_self_contained(runs, tmp_path):
    paths = write_report(list(runs), tmp_path / "rep")
    html = paths["html"].read_text()
    assert "http://" not in html and "https://" not in html and "<link" not in html and "<script" not in html
    srcs = re.findall(r'src="([^"]+)"', html)
    assert len(srcs) >= 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert base64.b64decode(srcs[0].split(",", 1)[1])[:4] == b"\x89PNG"
    assert "not for clinical use" in html and "4.50 [" in html


def test_two_judges_on_the_same_outputs_get_an_agreement_table(runs, tmp_path):
    base, trained = runs
    # the same four base outputs rescored by another judge: clinical_accuracy 2,3,3,5 against base's 2,3,4,3
    llm_rows = [{**r, "scores": {**r["scores"], "clinical_accuracy": {"score": s, "justification": "llm"}}}
                for r, s in zip(BASE, [2, 3, 3, 5])]
    llm = write_run(tmp_path / "llm", llm_rows)
    paths = write_report([base, trained, llm], tmp_path / "rep", labels=["rules", "trained", "llm"])
    md = paths["markdown"].read_text()
    section = md.split("## Judge agreement on the same outputs")[1]
    assert "rules vs llm" in section and "rules vs trained" not in section  # trained wrote other outputs
    # exact on c0, c1 -> 2/4 = 50%; |diff| 0,0,1,2 -> mean 0.75; every other metric is 2 in both -> 100% / 0.00
    assert "| Clinical accuracy | 50% / 0.75 |" in section
    assert "| Safety awareness | 100% / 0.00 |" in section
    assert "Judge agreement" not in write_report([base, trained], tmp_path / "r2")["markdown"].read_text()


def test_labels_default_to_dir_names_and_escape_html(tmp_path):
    d = write_run(tmp_path / "<b>run", BASE)
    html = write_report([d], tmp_path / "rep")["html"].read_text()
    assert "&lt;b&gt;run" in html and "<b>run" not in html


@pytest.mark.parametrize("bad, message", [
    ('{"id": "c0"}', "results.jsonl:1: missing field 'output'"),
    ("not json", "results.jsonl:1: not JSON"),
    (json.dumps({**BASE[0], "scores": {"clinical_accuracy": {"score": "high"}}}),
     "results.jsonl:1: field 'scores.clinical_accuracy.score' must be a number"),
])
def test_bad_results_name_line_and_field(tmp_path, bad, message):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "results.jsonl").write_text(bad + "\n")
    with pytest.raises(UserError, match=re.escape(message)):
        write_report([d], tmp_path / "rep")


def test_cli_report_and_its_errors(runs, tmp_path):
    r = CliRunner().invoke(app, ["report", *map(str, runs), "--labels", "base,trained", "-o", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "report.html").is_file()
    r = CliRunner().invoke(app, ["report", str(runs[0]), "--labels", "a,b", "-o", str(tmp_path / "o2")])
    assert r.exit_code == 2 and "--labels has 2 names for 1 results directories" in r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(app, ["report", str(tmp_path / "missing"), "-o", str(tmp_path / "o3")])
    assert r.exit_code == 2 and "not a results directory" in r.output


def test_report_imports_nothing_from_training():
    import subprocess
    import sys

    # a fresh interpreter: report (and the CLI module that wraps it) must not pull in torch, transformers or TRL
    code = ("import sys, amr_grpo.evaluation.report, amr_grpo.evaluation.summary; "
            "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'amr_grpo.train.main') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_decision_stats_are_hand_computed():
    d = summarize(BASE)["decisions"]
    # BASE (gold, predicted): (A, A), (M, A), (R, none), (M, M)
    # Approve: 1 right of 2 predicted, 1 gold -> P 0.5, R 1.0, F1 2*1/(2+1) = 0.667
    # Modify: 1 right of 1 predicted, 2 gold -> P 1.0, R 0.5, F1 2*1/(1+2) = 0.667
    # Reject: never predicted, 1 gold -> P n/a, R 0, F1 0
    a, m, r = (d["per_class"][k] for k in ("Approve", "Modify", "Reject"))
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((0.5, 1.0, 2 / 3))
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((1.0, 0.5, 2 / 3))
    assert (r["precision"], r["recall"], r["f1"], r["support"]) == (None, 0.0, 0.0, 1)
    assert d["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    # gold A 1, M 2, R 1: always Modify is right on 2/4; its F1 for Modify = 2*0.5/1.5, 0 for the others
    assert d["majority_baseline"] == pytest.approx({"decision": "Modify", "accuracy": 0.5, "macro_f1": (1 / 1.5) / 3})
    assert d["top_prediction"] == {"decision": "Approve", "share": 0.5}  # A, A, unparsed, M


def test_paired_bootstrap_pins_the_math():
    # every case improves by exactly 3: no resample comes near 0, so p is the floor 1/(2000+1)
    t = paired_bootstrap([2, 2, 2, 2], [5, 5, 5, 5])
    assert (t["n"], t["mean_diff"], t["ci95"], t["p"]) == (4, 3.0, [3.0, 3.0], pytest.approx(1 / 2001))
    assert t["se"] == 0.0  # every resample's mean is 3
    # no change on any case: every resample is 0, p = 1
    assert paired_bootstrap([3, 4], [3, 4])["p"] == 1.0
    # differences 2, 2, 0, 2 (mean 1.5): a null resample is as extreme only if it draws the 0 four times,
    # probability (1/4)^4 = 0.0039 -> p about 0.004 (Monte Carlo: well under 0.02)
    t = paired_bootstrap([2, 3, 4, 3], [4, 5, 4, 5])
    assert t["mean_diff"] == 1.5 and 0 < t["p"] < 0.02 and t["ci95"][0] >= 0.5
    # the SE of a mean of 4 draws from {2, 2, 0, 2}: population sd sqrt(0.75) / sqrt(4) = 0.433, within Monte Carlo
    assert t["se"] == pytest.approx(0.433, abs=0.02)
    # a pair with an unscored side is left out, never counted as 0
    assert paired_bootstrap([1, None, 3], [2, 5, None])["n"] == 1


def test_paired_table_and_report_files(runs, tmp_path):
    paths = write_report(list(runs), tmp_path / "rep", labels=["base", "trained"])
    md = paths["markdown"].read_text()
    paired = md.split("## Paired comparison with base")[1]
    # clinical accuracy: differences 2, 2, 0, 2 -> +1.50; the other metrics: +3 on every case -> p < 0.001
    # its paired SE is 0.433 (see test_paired_bootstrap_pins_the_math): the gain is ~3.5 SE
    assert _line(paired, "| Clinical accuracy").startswith("| Clinical accuracy | +1.50 | 0.4")
    assert _line(paired, "| Safety awareness") == "| Safety awareness | +3.00 | 0.000 | [+3.00, +3.00] | < 0.001 | 4 |"
    # weighted reward differences 0.4, 0.4, 0.2, 0.4 -> +0.350; decision correct 0,1,1,0 -> +0.500
    assert _line(paired, "| Weighted reward").startswith("| Weighted reward | +0.350 |")
    assert _line(paired, "| Decision correct").startswith("| Decision correct (0/1) | +0.500 |")
    out = tmp_path / "rep"
    tables = sorted(p.name for p in (out / "tables").iterdir())
    for name in ("runs", "scores", "paired-test", "decisions", "decision-classes", "confusion"):
        assert f"{name}.csv" in tables and f"{name}.tex" in tables
        assert f"(tables/{name}.csv)" in md
    rows = list(csv.reader((out / "tables" / "paired-test.csv").open()))
    assert rows[0] == ["measure", "trained - base", "SE (x SE)", "95% CI", "p", "n"]
    assert ["Weighted reward", "+0.350"] == rows[7][:2]
    tex = (out / "tables" / "decisions.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "Approve 50\\%" in tex  # % escaped for LaTeX
    assert "| base | Reject | n/a | 0.00 | 0.00 | 1 | 0 |" in md  # never predicted: precision n/a, F1 0
    for stem in ("score-per-metric", "confusion-matrices", "length-vs-reward"):
        assert (out / "plots" / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert b"<svg" in (out / "plots" / f"{stem}.svg").read_bytes()[:400]
        assert (out / "plots" / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    from PIL import Image

    assert Image.open(out / "plots" / "score-per-metric.png").info["dpi"] == pytest.approx((200, 200), abs=0.1)
    # the same results give the same bytes: no dates in the PDF and SVG, fixed SVG ids
    again = write_report(list(runs), tmp_path / "again", labels=["base", "trained"])["markdown"].parent
    for f in (out / "plots").iterdir():
        assert f.read_bytes() == (again / "plots" / f.name).read_bytes(), f.name


def test_warnings_for_different_cases_splits_and_one_decision(tmp_path):
    base = write_run(tmp_path / "base", BASE)
    # 6 cases (4 shared with base), on another split, Modify for every case
    six = [row(i, 4, 4, 0.7, "Modify", g, 100) for i, g in enumerate(["Approve", "Modify", "Reject", "Modify",
                                                                        "Approve", "Reject"])]
    other = tmp_path / "other"
    write_run(other, six)
    (other / "summary.json").write_text(json.dumps({"split": "val"}))
    md = write_report([base, other], tmp_path / "rep", labels=["before", "after"])["markdown"].read_text()
    head = md.split("## Runs")[0]  # warnings come before any number
    assert ("> **Warning:** before and after cover different cases (4 and 6 cases, 4 in common): their means are "
            "over different cases") in head
    assert "before and after are on different splits (test and val)" in head
    # gold A 2, M 2, R 2: always Approve (ties: the first) would be right on 2/6 = 0.33
    assert ("after gives one decision (Modify) for 6 of its 6 cases (100%): it is not telling cases apart, "
            "whatever its reward. Its decision accuracy is 0.33; the majority-class baseline (always Approve) "
            "scores 0.33.") in head
    assert "| 4 |" in _line(md.split("## Paired comparison")[1], "| Weighted reward")  # n = the shared cases
    html = (tmp_path / "rep" / "report.html").read_text()
    assert html.count('class="warning"') == 3


def test_baselines_are_reference_lines_and_rows(runs, tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(json.dumps({"step": s, "reward": 0.5 + s / 10, "judge/weighted_reward": 0.4 + s / 10,
                                       **{f"rewards/{k}/mean": 0.3 + s / 10 for k in METRIC_KEYS}}) + "\n"
                           for s in (1, 2, 3)))
    bj = tmp_path / "hacking.json"
    bj.write_text(json.dumps({"name": "best content-free", "weighted_reward": 0.38, "split": "test"}))
    r = CliRunner().invoke(app, ["report", *map(str, runs), "--labels", "base,trained", "--train-log", str(log),
                                 "--baseline", "best constant=0.41", "--baseline-json", str(bj),
                                 "-o", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "o" / "report.md").read_text()
    assert "| reference: best constant |  | 0.410 | 0.410 |  |" in md
    assert "| reference: best content-free (test) |  | 0.380 | 0.380 |  |" in md
    svg = (tmp_path / "o" / "plots" / "training-reward.svg").read_text()
    assert "best constant (0.410)" in svg and "best content-free (test) (0.380)" in svg  # legend entries
    assert "judge's weighted reward" in svg
    per_metric = (tmp_path / "o" / "plots" / "training-reward-per-metric.svg").read_text()
    assert all(get_metric(k).name in per_metric for k in METRIC_KEYS)  # one panel per metric
    assert "| judge/weighted_reward | 0.500 | 0.700 |" in md


@pytest.mark.parametrize("args, message", [
    (["--baseline", "0.4"], "expected NAME=VALUE"),
    (["--baseline", "x=1.5"], "must be a number from 0 to 1"),
    (["--baseline-json", "missing.json"], "not found"),
    (["--examples", "-1"], "--examples must be 0 or more"),
])
def test_bad_baselines_are_one_line(runs, tmp_path, args, message):
    r = CliRunner().invoke(app, ["report", str(runs[0]), *args, "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, r.output


def test_best_and_worst_outputs_per_run(runs, tmp_path):
    md = write_report(list(runs), tmp_path / "rep", labels=["base", "trained"], examples=1)["markdown"].read_text()
    ex = md.split("## Example outputs")[1]
    # trained rewards 0.8, 0.9, 0.8, 0.9: best = c1 (0.9, first id of the tie), worst = c2 (0.8, last id)
    assert "### trained, best 1: c1 (weighted reward 0.900; gold Modify, predicted Modify)" in ex
    assert "### trained, worst 1: c2 (weighted reward 0.800; gold Reject, predicted Reject)" in ex
    assert "### base, worst 1: c0 (weighted reward 0.400; gold Approve, predicted Approve)" in ex
    assert "```text\ntrained answer 1\n```" in ex and "| Clinical accuracy | 5/5 | hand-written |" in ex
    assert "## Example outputs" not in write_report(list(runs), tmp_path / "r0", examples=0)["markdown"].read_text()


def test_judge_ledger_shows_each_endpoint(runs, tmp_path):
    base, trained = runs
    # trained was scored by an LLM judge over two Groq keys: the first spent its day, the second took the rest
    ledger = {"calls": 7, "endpoints": {
        "groq-a": {"base_url": "https://api.groq.com/openai/v1", "model": "llama-3.3-70b-versatile", "calls": 5,
                   "prompt_tokens": 9000, "completion_tokens": 1500, "call_errors": {"quota_exhausted": 1},
                   "state": "quota spent until 2026-01-02T00:00:00"},
        "groq-b": {"base_url": "https://api.groq.com/openai/v1", "model": "llama-3.3-70b-versatile", "calls": 2,
                   "prompt_tokens": 3000, "completion_tokens": 500, "call_errors": {}, "state": "ok"}}}
    meta = json.loads((trained / "summary.json").read_text())
    (trained / "summary.json").write_text(json.dumps({**meta, "judge_ledger": ledger}))
    paths = write_report([base, trained], tmp_path / "rep", labels=["base", "trained"])
    md = paths["markdown"].read_text().split("## Judge ledger")[1]
    # tokens = prompt + completion: 9,000 + 1,500 = 10,500 and 3,000 + 500 = 3,500; base (rules) has no endpoint row
    assert ("| trained | groq-a | llama-3.3-70b-versatile | 5 | 10,500 | 1 (quota_exhausted 1) | quota spent until "
            "2026-01-02T00:00:00 |") in md
    assert "| trained | groq-b | llama-3.3-70b-versatile | 2 | 3,500 | 0 | ok |" in md
    assert "| base | groq" not in md and "| calls | 4 | 7 |" in md  # the flat numbers stay, side by side
    rows = list(csv.reader((tmp_path / "rep" / "tables" / "judge-endpoints.csv").open()))
    assert rows[0] == ["run", "endpoint", "model", "calls", "tokens", "failed calls", "quota state"] and len(rows) == 3
    # without endpoints (the rules judge, or an older summary.json) there is no endpoint table
    md = write_report([base], tmp_path / "rep2")["markdown"].read_text()
    assert "judge-endpoints" not in md and not (tmp_path / "rep2" / "tables" / "judge-endpoints.csv").exists()
