"""The evaluation API (FastAPI): `create_app(settings)` in app.py, settings in settings.py, routes in routes.py.

Research tool, not for clinical use. Try it: AMR_GRPO_API_KEYS=dev amr-grpo serve
"""
