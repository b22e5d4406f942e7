"""Shared test setup: test helpers (fake_openai, live_service, tiny_lm) importable from every test folder."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
