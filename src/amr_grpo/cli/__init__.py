"""The `amr-grpo` command line: thin Typer commands, each calling one library function.

Commands live in small modules by area (data, lint, explain, checklist, judge, serve, train, evaluate,
review); this file only assembles them.
Try it: amr-grpo --help
"""

from __future__ import annotations

import typer

from amr_grpo.cli import checklist, data, evaluate, explain, judge, lint, review, serve, train

app = typer.Typer(
    name="amr-grpo",
    help="Train and evaluate LLMs that validate antimicrobial prescriptions (GRPO + rubric judge). "
    "Research tool, not for clinical use.",
    no_args_is_help=True,
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        from amr_grpo import __version__

        typer.echo(f"amr-grpo {__version__}")
        raise typer.Exit()


for module in (data, lint, explain, checklist, judge, serve, train, evaluate, review):
    module.register(app)


def main() -> None:
    app()
