"""Shared CLI pieces: the console, user-error handling (one line + hint, exit 2), shared option types.

The judge options are defined here once and every command that takes a judge (judge, evaluate, validate, serve)
uses them with the same names: --judge BACKEND, --judge-config FILE, --judge-model NAME, --judge-base-url URL,
--judge-set KEY=VALUE, --no-probe. --model always means the policy. Older spellings (`judge --backend/--config/
--model/--base-url/--set`, `evaluate/validate --judge-opt`) still work for one release, hidden from --help, with a
one-line notice (renamed()).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from amr_grpo.errors import UserError
from amr_grpo.judge.config import JUDGE_BACKENDS, JudgeBackend

# soft_wrap: a `FILE:LINE: problem` line is never broken at the terminal width (users grep it, tests match it)
console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])
NoProbe = Annotated[bool, typer.Option(
    "--no-probe", help="Skip the check, before any heavy work, that an LLM judge answers (one request, no tokens).")]

# --- the judge, named the same way by every command -------------------------------------------------------------
Judge = Annotated[JudgeBackend | None, typer.Option(
    "--judge", metavar="BACKEND",
    help=f"Judge backend: {' | '.join(JUDGE_BACKENDS)} (default: the judge config's, else rules).")]
JudgeConfigFile = Annotated[Path | None, typer.Option(
    "--judge-config", metavar="FILE",
    help="YAML with JudgeConfig fields: backend, model, base_url, rpm, timeout_s, budget_calls, endpoints...")]
JudgeModel = Annotated[str | None, typer.Option(
    "--judge-model", metavar="NAME", help="The judge's model: a model id (openai, hybrid) or a model directory "
    "(local); default: $AMR_GRPO_JUDGE_MODEL, else llama-3.3-70b-versatile.")]
JudgeBaseUrl = Annotated[str | None, typer.Option(
    "--judge-base-url", metavar="URL", help="The LLM judge's OpenAI-compatible base URL (default: Groq's).")]
JudgeSet = Annotated[list[str] | None, typer.Option(
    "--judge-set", metavar="KEY=VALUE", help="Set one JudgeConfig field (after --judge-config); repeatable.")]

# the old spellings, kept one release for users' scripts: hidden, and renamed() prints a notice when one is used
OldBackend = Annotated[JudgeBackend | None, typer.Option("--backend", hidden=True)]
OldConfig = Annotated[Path | None, typer.Option("--config", hidden=True)]
OldModel = Annotated[str | None, typer.Option("--model", hidden=True)]
OldBaseUrl = Annotated[str | None, typer.Option("--base-url", hidden=True)]
OldSet = Annotated[list[str] | None, typer.Option("--set", hidden=True)]
OldJudgeOpt = Annotated[list[str] | None, typer.Option("--judge-opt", hidden=True)]


def renamed(value: Any, old_value: Any, old: str, new: str) -> Any:
    """The value of option `new`, which scripts may still give under its old name `old` (one line says it is
    deprecated). Lists add up; a single value given under both names must agree."""
    if old_value is None:
        return value
    console.print(f"[yellow]deprecated:[/] {old} is now {new}; the old name goes in the next release",
                  highlight=False)
    if isinstance(old_value, list):
        return [*old_value, *(value or [])]
    if value is not None and value != old_value:
        raise UserError(f"{old} and {new} are the same option and name different values", hint=f"give {new} only")
    return old_value


def fail(message: str, hint: str | None = None, code: int = 2) -> typer.Exit:
    # escaped: a message or hint may hold brackets (`pip install 'amr-grpo[wandb]'`, `report_to=[none]`)
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        console.print(f"[dim]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def check_output_file(path: Path, option: str = "-o") -> None:
    """A file can be written at `path`: it is not a directory, and no file stands where a folder must be. Checked
    before the work that fills it (else the work is lost to an IsADirectoryError at the end)."""
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory", "give a file path, e.g. -o out.jsonl")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UserError(f"{option} {path}: {parent} is a file, not a folder")


def user_errors(fn: F) -> F:
    """Turn UserError (and a missing file) into one red line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            raise fail(str(e), e.hint) from None
        except FileNotFoundError as e:
            raise fail(f"file not found: {e.filename or e}") from None

    return wrapper  # type: ignore[return-value]
