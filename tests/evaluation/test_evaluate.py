"""amr-grpo evaluate on a real tiny model and the real output of `prepare`: results rows and summary numbers that
follow from the rows, the same outputs rescored by an LLM judge (the fake OpenAI server) and reported side by
side, sampling, bad inputs as one line, cheap checks before the model loads, and Ctrl-C + --resume on a real
process sent SIGINT."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from tiny_lm import ROOT
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.data.prepare import PrepareOptions, prepare
from amr_grpo.errors import UserError
from amr_grpo.evaluation.evaluate import evaluate, judge_config
from amr_grpo.evaluation.generation import GenerationSettings, Generator
from amr_grpo.output_format import parse_validation
from amr_grpo.metrics import METRIC_KEYS, WEIGHTS
from amr_grpo.evaluation.report import write_report
from amr_grpo.evaluation.summary import ROW_KEYS

GEN = GenerationSettings(max_new_tokens=200, batch_size=4)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "prepared"
    prepare([ROOT / "data" / "examples" / "alpaca.jsonl"], out, PrepareOptions(test_size=4, val_size=2))
    return out


@pytest.fixture(scope="module")
def rules_run(tiny_policy, data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "rules"
    evaluate(tiny_policy, data_dir, out, judge_config("rules"), gen=GEN)
    return out


def _rows(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / "results.jsonl").read_text().splitlines()]


def test_results_rows_follow_the_contract(rules_run, data_dir):
    rows = _rows(rules_run)
    records = [json.loads(line) for line in (data_dir / "test.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in records]  # every test case, in the dataset's order
    for row, rec in zip(rows, records):
        assert set(ROW_KEYS) <= set(row) and row["prompt"] == rec["prompt"]
        v = parse_validation(row["output"])
        assert (row["decision"], row["parse_ok"]) == (v.decision.value if v.decision else None, v.parse_ok)
        assert row["gold_decision"] == rec["ground_truth"]["decision"]
        assert set(row["scores"]) == set(METRIC_KEYS)
        assert all(1 <= s["score"] <= 5 and s["justification"] for s in row["scores"].values())
        # weighted reward = sum(w * score/5) / sum(w) over the six metrics (the weights sum to 1)
        expected = sum(WEIGHTS[k] * row["scores"][k]["score"] / 5 for k in METRIC_KEYS) / sum(WEIGHTS.values())
        assert row["weighted_reward"] == pytest.approx(expected)
        assert 0 < row["output_tokens"] <= GEN.max_new_tokens and row["judge_error"] is None


def test_summary_numbers_follow_from_the_rows(rules_run):
    rows, s = _rows(rules_run), json.loads((rules_run / "summary.json").read_text())
    n = len(rows)
    assert s["n"] == n == 4 and s["split"] == "test" and s["judge_backend"] == "rules"
    assert s["weighted_reward"]["mean"] == pytest.approx(sum(r["weighted_reward"] for r in rows) / n)
    lo, hi = s["weighted_reward"]["ci95"]
    assert lo <= s["weighted_reward"]["mean"] <= hi and s["weighted_reward"]["se"] >= 0
    for k in METRIC_KEYS:
        assert s["metrics"][k]["mean"] == pytest.approx(sum(r["scores"][k]["score"] for r in rows) / n)
    assert s["decision_accuracy"]["mean"] == pytest.approx(sum(r["decision"] == r["gold_decision"] for r in rows) / n)
    assert s["parse_failure_rate"] == pytest.approx(sum(not r["parse_ok"] for r in rows) / n)
    assert s["mean_output_tokens"] == pytest.approx(sum(r["output_tokens"] for r in rows) / n)
    assert sum(map(sum, s["confusion_matrix"]["counts"])) == n  # every case has a gold decision
    assert s["judge_ledger"]["evaluations"] == n and s["generation"]["do_sample"] is False


def test_llm_judge_rescores_the_same_outputs_and_the_report_shows_both(rules_run, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_JUDGE_KEY", "test-key")
    with FakeOpenAI(default_score=4) as fake:
        cfg = dataclasses.replace(judge_config("openai"), base_url=fake.base_url, model="fake-judge",
                                  api_key_env="FAKE_JUDGE_KEY", cache_path=None, max_retries=0)
        s = evaluate(None, data_dir, tmp_path / "llm", cfg, outputs=rules_run / "results.jsonl")
        assert len(fake.requests) == 4  # one call scores all six metrics of an output, not one call per metric
    rows = _rows(tmp_path / "llm")
    assert [r["output"] for r in rows] == [r["output"] for r in _rows(rules_run)]
    # the fake judge scores every metric 4: the weighted reward is 4/5 = 0.8 whatever the weights
    assert all(r["weighted_reward"] == pytest.approx(0.8) for r in rows)
    assert s["judge_backend"] == "openai" and s["judge_ledger"]["calls"] == 4
    md = write_report([rules_run, tmp_path / "llm"], tmp_path / "rep", labels=["rules", "llm"])["markdown"].read_text()
    wr = next(line for line in md.splitlines() if line.startswith("| **Weighted reward**"))
    assert "| 0.800 [0.800, 0.800] SE 0.000 |" in wr
    assert "openai (fake-judge)" in md


def test_sampling_is_seeded_and_configurable(built_lm):
    prompt = [{"role": "user", "content": "Validate: cystitis, ciprofloxacin"}]
    hot = dict(max_new_tokens=20, do_sample=True, temperature=50.0)  # near-uniform: a sample is not the greedy text
    a = Generator.from_pretrained(built_lm, seed=1, **hot).generate([prompt])[0].text
    b = Generator.from_pretrained(built_lm, seed=1, **hot).generate([prompt])[0].text
    greedy = Generator.from_pretrained(built_lm, max_new_tokens=20).generate([prompt])[0].text
    assert a == b and a != greedy


def test_adapter_and_max_samples_through_the_cli(tiny_adapter, data_dir, tmp_path):
    r = CliRunner().invoke(app, ["evaluate", "--model", str(tiny_adapter), "--data", str(data_dir), "--judge", "rules",
                                 "--max-samples", "2", "--max-new-tokens", "50", "-o", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert len(_rows(tmp_path / "o")) == 2 and "not for clinical use" in r.output


def test_bad_inputs_are_one_line(data_dir, tmp_path, tiny_policy):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "test.jsonl").write_text('{"id": "a", "prompt": "p", "context": {"diagnosis": "x"}}\n{"id": "b"}\n')
    (tmp_path / "empty").mkdir()
    cases = [
        (["--model", str(tmp_path / "empty"), "--data", str(data_dir)], "not a model directory"),
        (["--model", str(tmp_path / "no" / "such"), "--data", str(data_dir)], "not found"),
        (["--model", str(tiny_policy), "--data", str(tmp_path / "nodata")], "test.jsonl: not found"),
        (["--model", str(tiny_policy), "--data", str(data_dir), "--split", "dev"], "--split 'dev'"),
        (["--model", str(tiny_policy), "--data", str(bad)], "test.jsonl:2: missing field 'prompt'"),
        (["--data", str(data_dir)], "give --model PATH"),
    ]
    for args, message in cases:
        r = CliRunner().invoke(app, ["evaluate", *args, "-o", str(tmp_path / "out")])
        assert r.exit_code == 2, (args, r.output)
        assert message in r.output and "Traceback" not in r.output, (args, r.output)
    with pytest.raises(UserError, match="--max-samples must be at least 1"):
        evaluate(tiny_policy, data_dir, tmp_path / "o", judge_config("rules"), max_samples=0)


@pytest.fixture(scope="module")
def shipped_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shipped") / "prepared"
    prepare([ROOT / "data" / "cases.jsonl"], out, PrepareOptions())  # 60 test cases
    return out


def _evaluate_cli(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "amr-grpo"), "evaluate", *args]  # the installed console script


def test_ctrl_c_keeps_finished_batches_and_resume_finishes_the_same_run(tiny_policy, shipped_data, tmp_path):
    out, gen = tmp_path / "run", GenerationSettings(max_new_tokens=48, batch_size=1)
    args = ["--model", str(tiny_policy), "--data", str(shipped_data), "--judge", "rules", "--max-samples", "10",
            "--batch-size", "1", "--max-new-tokens", "48", "-o", str(out)]
    proc = subprocess.Popen(_evaluate_cli(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if results.is_file() and results.read_text().count("\n") >= 1:  # one batch (one case) scored and written
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    kept = _rows(out)
    # the message names the count on disk and the way on; the rows on disk are whole, scored cases
    assert f"interrupted: {len(kept)} of 10 cases kept in {results}" in err and "--resume" in err
    assert 1 <= len(kept) < 10 and all(r["weighted_reward"] is not None for r in kept)
    assert not (out / "summary.json").exists() and "Traceback" not in err
    with pytest.raises(UserError, match="holds an interrupted evaluation"):  # never overwritten silently
        evaluate(tiny_policy, shipped_data, out, judge_config("rules"), max_samples=10, gen=gen)

    s = evaluate(tiny_policy, shipped_data, out, judge_config("rules"), max_samples=10, gen=gen, resume=True)
    rows = _rows(out)
    assert s["resumed_rows"] == len(kept) and s["n"] == 10
    # kept rows are not generated again: they come back unchanged, in the dataset's order with the rest
    assert [r for r in rows if r["id"] in {k["id"] for k in kept}] == kept
    # greedy decoding one case at a time: the interrupted + resumed run equals an uninterrupted one
    whole = evaluate(tiny_policy, shipped_data, tmp_path / "whole", judge_config("rules"), max_samples=10, gen=gen)
    assert rows == _rows(tmp_path / "whole")
    assert s["weighted_reward"]["mean"] == pytest.approx(whole["weighted_reward"]["mean"])


def test_resume_checks_the_settings_and_drops_a_half_written_line(tiny_policy, data_dir, tmp_path):
    out = tmp_path / "run"
    evaluate(tiny_policy, data_dir, out, judge_config("rules"), gen=GenerationSettings(max_new_tokens=64))  # 4 cases
    first = _rows(out)
    # a run killed mid-write: summary gone, two whole rows and half of a third
    (out / "summary.json").unlink()
    text = "".join(json.dumps(r) + "\n" for r in first[:2]) + json.dumps(first[2])[:40]
    (out / "results.jsonl").write_text(text)
    with pytest.raises(UserError, match="was evaluated with generation.max_new_tokens 64, this run has 32"):
        evaluate(tiny_policy, data_dir, out, judge_config("rules"), gen=GenerationSettings(max_new_tokens=32),
                 resume=True)
    s = evaluate(tiny_policy, data_dir, out, judge_config("rules"), gen=GenerationSettings(max_new_tokens=64),
                 resume=True)
    assert s["resumed_rows"] == 2 and _rows(out) == first  # the half line was dropped and its case redone
    # --force starts over without asking
    (out / "summary.json").unlink()
    s = evaluate(tiny_policy, data_dir, out, judge_config("rules"), gen=GenerationSettings(max_new_tokens=64),
                 force=True)
    assert s["resumed_rows"] == 0 and _rows(out) == first


def test_a_missing_judge_key_fails_before_anything_heavy_loads(tiny_policy, data_dir, tmp_path):
    # a fresh interpreter: the error must come before torch or transformers is imported (no model load, no
    # generation), which is what made the missing key cost minutes before
    code = ("import sys; from typer.testing import CliRunner; from amr_grpo.cli import app; "
            f"r = CliRunner().invoke(app, ['evaluate', '--model', {str(tiny_policy)!r}, '--data', {str(data_dir)!r}, "
            f"'--judge', 'openai', '-o', {str(tmp_path / 'o')!r}]); "
            "print(r.exit_code, [m for m in ('torch', 'transformers') if m in sys.modules]); print(r.output)")
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("GROQ_API_KEY", "AMR_GRPO_JUDGE_API_KEY", "AMR_GRPO_JUDGE_BASE_URL")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120).stdout
    assert out.startswith("2 []"), out
    assert "$GROQ_API_KEY is not set" in out and "--judge rules" in out
    assert not (tmp_path / "o").exists()
