"""Shared CLI pieces: the console, user-error handling (one line + hint, exit 2), shared option types."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from amr_grpo.errors import UserError

# soft_wrap: a `FILE:LINE: problem` line is never broken at the terminal width (users grep it, tests match it)
console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])
NoProbe = Annotated[bool, typer.Option(
    "--no-probe", help="Skip the check, before any heavy work, that an LLM judge answers (one request, no tokens).")]


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
