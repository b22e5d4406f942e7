"""`amr-grpo judge` end to end: the Typer app on real files, the rules judge, and the openai judge against the fake
OpenAI-compatible server on loopback.
Run: .venv/bin/pytest tests/cli/test_judge_cli.py
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import unprivileged
from fake_openai import FakeOpenAI
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.judge.batch import parse_budget

SAMPLE = Path(__file__).parents[1] / "data" / "judge_requests.jsonl"
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
    rows = read(out)  # one output line per non-blank input line, in order, each naming its input line
    assert [("scores" in x, x.get("line")) for x in rows] == [
        (True, 1),
        (False, 2),
        (False, 4),
        (False, 5),
        (False, 6),
        (True, 7),
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


# -- ids, interrupts, resume ------------------------------------------------------------------------------------
def test_id_and_meta_are_echoed_and_bad_ones_named(tmp_path):
    src = write(tmp_path / "in.jsonl", [
        {**GOOD, "id": "case-17", "meta": {"site": "Pune", "arm": 2}},
        {**GOOD, "id": 18},
        GOOD,
        {**GOOD, "id": {"not": "an id"}},
        {**GOOD, "meta": "not an object"},
    ])
    out = tmp_path / "out.jsonl"
    r = cli("--input", str(src), "-o", str(out))
    assert r.exit_code == 1  # lines 4 and 5 are bad (it used to refuse every line with an id)
    assert f"{src}:4: id: expected a non-empty string or an integer" in r.output
    assert f"{src}:5: meta: expected a JSON object" in r.output
    rows = read(out)
    assert (rows[0]["id"], rows[0]["meta"], rows[0]["line"]) == ("case-17", {"site": "Pune", "arm": 2}, 1)
    assert rows[1]["id"] == 18 and "meta" not in rows[1] and "id" not in rows[2]
    assert rows[3]["error"]["field"] == "id" and rows[4]["error"]["field"] == "meta"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # outputs hold case-derived text: the owner's only


def test_help_explains_the_input_and_points_to_no_missing_file():
    r = CliRunner().invoke(app, ["judge", "--help"], terminal_width=200)
    assert r.exit_code == 0 and "DESIGN.md" not in r.output  # a file that is not in the repository
    assert '"patient_case"' in r.output and '"meta"' in r.output and "--resume" in r.output


def test_the_rules_judge_says_it_ignores_cache(tmp_path):
    r = cli("--input", str(SAMPLE), "--backend", "rules", "--cache", str(tmp_path / "c.sqlite"), "-o",
            str(tmp_path / "o.jsonl"))
    assert r.exit_code == 0 and "--cache" in r.output and "ignored" in r.output  # it said nothing
    assert not (tmp_path / "c.sqlite").exists()


def lines_file(tmp_path: Path, n: int) -> Path:
    return write(tmp_path / "in.jsonl", [{**GOOD, "model_output": f"Decision: Approve ({i})", "id": f"r{i}"}
                                         for i in range(n)])


def test_ctrl_c_keeps_what_was_scored_and_resume_scores_only_the_rest(tmp_path):
    with FakeOpenAI(latency=0.3) as fake:
        src, out = lines_file(tmp_path, 12), tmp_path / "out.jsonl"
        env = {**os.environ, "GROQ_API_KEY": "gsk-test-key-1234"}
        args = [sys.executable, "-m", "amr_grpo", "judge", "-i", str(src), "--backend", "openai", "--base-url",
                fake.base_url, "--no-cache", "--set", "concurrency=1", "-o", str(out)]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while (not out.exists() or len(out.read_text().splitlines()) < 3) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        said = proc.communicate(timeout=60)[0]
        assert proc.returncode == 130, said
        done = read(out)  # every line written is whole JSON: results were flushed as they finished
        assert 3 <= len(done) < 12 and all("scores" in x for x in done)
        assert f"interrupted: {len(done)} of 12 lines are in {out}" in said and "--resume" in said
        assert json.loads((tmp_path / "out.ledger.json").read_text())["calls"] >= len(done)
        before = len(fake.requests)
        r = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert f"resumed: {len(done)} lines already scored" in r.stderr
        assert len(fake.requests) - before == 12 - len(done)  # only what was left was scored
    rows = read(out)
    assert [x["id"] for x in rows] == [f"r{i}" for i in range(12)]  # whole and in input order again
    ledger = json.loads((tmp_path / "out.ledger.json").read_text())
    assert ledger["calls"] == len(fake.requests) and ledger["evaluations"] >= 12  # both runs, added up


def test_resume_does_not_trust_a_line_whose_id_changed(tmp_path, fake_openai, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "k")
    src, out = lines_file(tmp_path, 3), tmp_path / "out.jsonl"
    base = ["--input", str(src), "--backend", "openai", "--base-url", fake_openai.base_url, "--no-cache", "-o",
            str(out)]
    assert cli(*base).exit_code == 0 and len(fake_openai.requests) == 3
    rows = read(out)
    rows[1]["id"] = "someone-else"
    write(out, rows[:2] + ['{"id": "r2", "scores": {"clinical_acc'])  # a changed id and a torn last line
    assert cli(*base, "--resume").exit_code == 0
    assert len(fake_openai.requests) == 3 + 2  # line 2 (id changed) and line 3 (torn) scored again
    assert [x["id"] for x in read(out)] == ["r0", "r1", "r2"]


# -- before any work: the probe ----------------------------------------------------------------------------------
def test_an_unreachable_judge_stops_the_command_before_any_work_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "k")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    s.close()
    out = tmp_path / "o.jsonl"
    r = cli("--input", str(SAMPLE), "--backend", "openai", "--base-url", url, "-o", str(out))
    assert r.exit_code == 2 and f"the judge at {url} cannot be reached" in r.output and "--no-probe" in r.output
    assert "Traceback" not in r.output and not out.exists()
    r = cli("--input", str(SAMPLE), "--backend", "openai", "--base-url", url, "--no-probe", "--no-cache", "-o",
            str(out))
    assert r.exit_code == 0 and {x["judge"]["backend"] for x in read(out)} == {"rules"}  # the configured fallback


# -- the key never leaves --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 429])
def test_a_key_echoed_by_the_provider_reaches_no_output_ledger_or_console(tmp_path, status):
    key = "gsk_ECHOED_key_0123456789abcdef"
    with FakeOpenAI(echo_auth=status) as echo:
        out = tmp_path / "out.jsonl"
        r = subprocess.run(
            [sys.executable, "-m", "amr_grpo", "judge", "-i", str(SAMPLE), "--backend", "openai", "--base-url",
             echo.base_url, "--no-cache", "-o", str(out)],
            env={**os.environ, "GROQ_API_KEY": key}, capture_output=True, text=True, timeout=120,
        )
        assert all(h["authorization"] == f"Bearer {key}" for h in (q.headers for q in echo.requests))
    ledger = (tmp_path / "out.ledger.json").read_text()
    if status == 400:  # could not score each line; the provider's words are kept in the output, the key masked
        assert r.returncode == 1 and "could not score" in r.stderr and "Bearer [redacted]" in out.read_text()
    else:  # a spent quota: said once on the console and in the ledger's notes, then the rules judge scores
        assert r.returncode == 0 and "judge quota exhausted" in r.stderr and "Bearer [redacted]" in ledger
    for where in (r.stdout, r.stderr, out.read_text(), ledger):
        assert key not in where


@pytest.mark.skipif(bool(unprivileged.skip_reason()), reason=str(unprivileged.skip_reason()))
def test_a_read_only_cache_gives_its_hits_and_no_traceback(tmp_path, fake_openai):
    cache = tmp_path / "cache" / "c.sqlite"
    args = [sys.executable, "-m", "amr_grpo", "judge", "-i", str(SAMPLE), "--backend", "openai", "--base-url",
            fake_openai.base_url, "--cache", str(cache), "-o", str(tmp_path / "out.jsonl")]
    env = {**os.environ, "GROQ_API_KEY": "k"}
    assert subprocess.run(args, env=env, capture_output=True, timeout=120).returncode == 0
    assert len(fake_openai.requests) == 3
    cache.chmod(0o444)
    cache.parent.chmod(0o555)
    try:
        r = unprivileged.run(args[:-1] + [str(tmp_path / "again.jsonl")], env=env, timeout=120)
    finally:
        cache.parent.chmod(0o700)
    assert r.returncode == 0 and "Traceback" not in r.stderr and "read-only" in r.stderr
    assert len(fake_openai.requests) == 3 and all(x["cached"] for x in read(tmp_path / "again.jsonl"))


def test_dry_run_shows_each_endpoint_and_the_quota_of_all_of_them_together(tmp_path):
    cfg = tmp_path / "judge.yaml"
    cfg.write_text("backend: openai\nendpoints:\n"
                   "  - {api_key_env: KEY_A, rpd: 40}\n  - {api_key_env: KEY_B, rpd: 40}\n")
    src = write(tmp_path / "in.jsonl", [{**GOOD, "model_output": f"Decision: Approve {i}"} for i in range(100)])
    r = cli("--input", str(src), "--config", str(cfg), "--no-cache", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "endpoint api.groq.com/KEY_A" in r.output and "endpoint api.groq.com/KEY_B" in r.output
    assert "100 calls exceed the 2 endpoints' daily quota of 80 requests" in r.output  # 40 + 40
