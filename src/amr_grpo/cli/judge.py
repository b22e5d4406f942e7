"""CLI commands for this area (placeholder until its commands land)."""

import typer


def register(app: typer.Typer) -> None:
    return None
