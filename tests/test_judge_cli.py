"""`amr-grpo judge` end to end: the Typer app on real files, the rules judge, and the openai judge against the fake
OpenAI-compatible server on loopback.
Run: .venv/bin/pytest tests/test_judge_cli.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.judge.batch import parse_budget

SAMPLE = Path(__file__).parent / "data" / "judge_requests.jsonl"
GOOD = {"patient_case": "28F cystitis, no allergies", "model_output": "Step 1 - x\nDecision: Modify\nReference: NTG"}


@pytest.fixture
def fake_openai():
    """The fake OpenAI-compatible server (tests/fake_openai.py), started for one test."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    for var in ("GROQ_API_KEY", "AMR_GRPO_JUDGE_API_KEY", "AMR_GRPO_JUDGE_BASE_URL", "AMR_GRPO_JUDGE_MODEL"):
        monkeypatch.delenv(var, raising=False)


def cli(*args: str):
    return CliRunner().invoke(app, ["judge", *args])


def write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_rules_backend_scores_the_sample_file_in_order_with_a_ledger(tmp_path):
    out = tmp_path / "out.jsonl"
    r = cli("--input", str(SAMPLE), "--backend", "rules", "-o", str(out))
    assert r.exit_code == 0, r.output
    rows = read(out)
    assert len(rows) == 3 and [row["judge"]["backend"] for row in rows] == ["rules"] * 3
    assert [len(row["scores"]) for row in rows] == [6, 6, 3]  # "all", "all", "priority" in the file
    # the full validation of line 1 beats the bare "Approve" of line 2 for the same case
    assert rows[0]["weighted_reward"] > rows[1]["weighted_reward"]
    ledger = json.loads((tmp_path / "out.ledger.json").read_text())
    assert ledger["evaluations"] == 3 and ledger["naive_calls"] == 15 and ledger["calls"] == 0
    assert "clinical_accuracy" in r.output and "not for clinical use" in r.output


def test_bad_lines_are_reported_as_file_line_and_the_rest_still_scored(tmp_path):
    src = write(
        tmp_path / "in.jsonl",
        [GOOD, "{not json", "", {**GOOD, "metrics": ["bogus"]}, [1, 2], {**GOOD, "model_output": 5}, GOOD],
    )
    out = tmp_path / "out.jsonl"
    r = cli("--input", str(src), "-o", str(out))
    assert r.exit_code == 1  # some lines failed
    assert f"{src}:2: not valid JSON" in r.output
    assert f"{src}:4: metrics: unknown metric(s) 'bogus'" in r.output
    assert f"{src}:5: expected a JSON object" in r.output and f"{src}:6: model_output" in r.output
    rows = read(out)  # one output line per non-blank input line, in order
    assert [("scores" in x, x.get("line")) for x in rows] == [
        (True, None),
        (False, 2),
        (False, 4),
        (False, 5),
        (False, 6),
        (True, None),
    ]
    assert rows[2]["error"]["field"] == "metrics" and rows[2]["error"]["code"] == "validation_error"


def test_metrics_option_applies_to_lines_without_their_own(tmp_path):
    src = write(tmp_path / "in.jsonl", [GOOD, {**GOOD, "metrics": ["reference_accuracy"]}])
    out = tmp_path / "out.jsonl"
    assert cli("--input", str(src), "--metrics", "all", "-o", str(out)).exit_code == 0
    assert [len(x["scores"]) for x in read(out)] == [6, 1]


def test_openai_backend_against_the_fake_server(tmp_path, fake_openai, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test_secret")
    out = tmp_path / "out.jsonl"
    r = cli(
        "--input",
        str(SAMPLE),
        "--backend",
        "openai",
        "--base-url",
        fake_openai.base_url,
        "--model",
        "fake-70b",
        "--cache",
        str(tmp_path / "c.sqlite"),
        "-o",
        str(out),
    )
    assert r.exit_code == 0, r.output
    rows = read(out)
    assert all(
        x["judge"] == {"backend": "openai", "model": "fake-70b", "rubric_version": "amr-rubric-v2"} for x in rows
    )
    assert all(s["score"] == 4 for x in rows for s in x["scores"].values())  # the fake's default answer
    ledger = json.loads((tmp_path / "out.ledger.json").read_text())
    assert ledger["calls"] == len(fake_openai.requests) == 3 and ledger["naive_calls"] == 15
    assert "gsk_test_secret" not in r.output and "gsk_test_secret" not in json.dumps(ledger)
    again = cli(
        "--input",
        str(SAMPLE),
        "--backend",
        "openai",
        "--base-url",
        fake_openai.base_url,
        "--model",
        "fake-70b",
        "--cache",
        str(tmp_path / "c.sqlite"),
        "-o",
        str(out),
    )
    assert again.exit_code == 0 and len(fake_openai.requests) == 3  # all from the cache
    assert all(x["cached"] for x in read(out))


def test_could_not_score_lines_fail_the_run_but_keep_their_place(tmp_path, fake_openai, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "k")
    fake_openai.script("Reference: none", answer="garbage")  # line 2 of the sample: the judge answers garbage
    out = tmp_path / "out.jsonl"
    r = cli(
        "--input", str(SAMPLE), "--backend", "openai", "--base-url", fake_openai.base_url, "--no-cache", "-o", str(out)
    )
    assert r.exit_code == 1 and f"{SAMPLE}:2: could not score (bad_answer)" in r.output
    rows = read(out)
    assert "scores" in rows[0] and rows[1]["error"]["code"] == "judge_bad_answer" and "scores" in rows[2]


def test_dry_run_prints_the_cost_and_calls_nothing(tmp_path, fake_openai):
    r = cli(
        "--input", str(SAMPLE), "--backend", "openai", "--base-url", fake_openai.base_url, "--no-cache", "--dry-run"
    )
    assert r.exit_code == 0, r.output  # no key needed to estimate
    assert fake_openai.requests == []
    assert "API calls" in r.output and "naive calls" in r.output and "estimated cost" in r.output
    assert not list(tmp_path.iterdir())


def test_dry_run_warns_when_a_budget_or_groq_daily_quota_is_exceeded(tmp_path):
    src = write(tmp_path / "in.jsonl", [{**GOOD, "model_output": f"Decision: Approve {i}"} for i in range(100)])
    r = cli("--input", str(src), "--backend", "openai", "--no-cache", "--dry-run", "--budget", "10")
    assert r.exit_code == 0, r.output
    assert "100 calls exceed the budget of 10" in r.output
    assert "daily quota of 100000 tokens" in r.output  # 100 calls x ~1,700 tokens on Groq's free tier


def test_budget_caps_calls_and_the_rest_fall_back_to_rules(tmp_path, fake_openai, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "k")
    out = tmp_path / "out.jsonl"
    r = cli(
        "--input",
        str(SAMPLE),
        "--backend",
        "openai",
        "--base-url",
        fake_openai.base_url,
        "--no-cache",
        "--budget",
        "1",
        "--set",
        "concurrency=1",
        "-o",
        str(out),
    )
    assert r.exit_code == 0, r.output
    assert len(fake_openai.requests) == 1
    assert [x["judge"]["backend"] for x in read(out)] == ["openai", "rules", "rules"]
    assert "call budget (1 calls) is spent" in json.loads((tmp_path / "out.ledger.json").read_text())["notes"][0]


def test_missing_api_key_is_one_line_and_exit_2(tmp_path):
    r = cli("--input", str(SAMPLE), "--backend", "openai", "-o", str(tmp_path / "o.jsonl"))
    assert r.exit_code == 2 and "no API key for the openai judge" in r.output and "GROQ_API_KEY" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "o.jsonl").exists()


def test_missing_input_and_bad_config_are_user_errors(tmp_path):
    r = cli("--input", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl"))
    assert r.exit_code == 2 and "input file not found" in r.output
    r = cli("--input", str(SAMPLE), "-o", str(tmp_path / "o.jsonl"), "--set", "concurrencyy=3")
    assert r.exit_code == 2 and "unknown config key 'concurrencyy'" in r.output
    r = cli("--input", str(SAMPLE), "-o", str(tmp_path / "o.jsonl"), "--budget", "lots")
    assert r.exit_code == 2 and "--budget" in r.output


@pytest.mark.parametrize(
    "text, expected",
    [
        ("200", (200, 0)),
        ("200 calls", (200, 0)),
        ("50k tokens", (0, 50_000)),
        ("50000t", (0, 50_000)),
        ("1.5m-tokens", (0, 1_500_000)),
    ],
)
def test_parse_budget(text, expected):
    assert parse_budget(text) == expected
