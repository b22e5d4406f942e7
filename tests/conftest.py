"""Shared test setup. The helper modules in this folder (fake_openai, live_service, tiny_lm, browser, ...) are
importable from every test folder through pyproject's `pythonpath = ["tests"]`; the fixtures of tiny_lm (the tiny
policy, its LoRA adapter) and browser (headless Chromium) are registered here for every test."""

pytest_plugins = ["tiny_lm", "browser"]
