"""The tables the Edge Function imports as JSON are generated from the Python source by scripts/sync_edge_tables.py:
running the script changes nothing (byte identity), and what it writes is what the Python service uses.

Run: .venv/bin/pytest tests/service/test_edge_tables.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from amr_grpo.judge import injection
from amr_grpo.service.errors import JUDGE_ERRORS, UNKNOWN_JUDGE_ERROR

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = ROOT / "supabase" / "functions" / "evaluate-prescription"
SCRIPT = ROOT / "scripts" / "sync_edge_tables.py"
GENERATED = ["metrics.json", "rubric_v2.json", "injection_patterns.json", "judge_errors.json"]


def test_running_the_sync_script_changes_nothing(tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(GENERATED)
    stale = [n for n in GENERATED if (tmp_path / n).read_bytes() != (FUNCTION_DIR / n).read_bytes()]
    assert not stale, f"out of date in {FUNCTION_DIR.relative_to(ROOT)}: {stale}; run {SCRIPT.relative_to(ROOT)}"


def test_the_script_reports_a_stale_table_and_rewrites_only_it(tmp_path):
    # a table edited by hand is put back, and only that file is named: the others already hold the right bytes
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], check=True, capture_output=True, timeout=120)
    (tmp_path / "judge_errors.json").write_text("{}\n")
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True,
                       timeout=120)
    assert r.stdout.splitlines() == [f"updated {tmp_path / 'judge_errors.json'}"]
    assert (tmp_path / "judge_errors.json").read_bytes() == (FUNCTION_DIR / "judge_errors.json").read_bytes()


def test_injection_patterns_are_the_package_patterns():
    table = json.loads((FUNCTION_DIR / "injection_patterns.json").read_text(encoding="utf-8"))
    assert table["patterns"] == list(injection.PATTERNS) and len(table["patterns"]) == 12
    assert table["flags"] == "i"  # Python runs them on lower-cased text or with re.IGNORECASE: the same answers


def test_judge_error_table_is_the_python_services():
    # JudgeError kind -> status, code, message, default Retry-After: the same answer for a judge failure on both
    table = json.loads((FUNCTION_DIR / "judge_errors.json").read_text(encoding="utf-8"))

    def row(e):
        return (e["status"], e["code"], e["message"], e["retry_after_s"])

    assert {kind: row(e) for kind, e in table["errors"].items()} == JUDGE_ERRORS
    assert row(table["unknown"]) == UNKNOWN_JUDGE_ERROR
    assert row(table["errors"]["unreachable"])[:2] == (503, "judge_unavailable")  # cannot be reached: retry later
