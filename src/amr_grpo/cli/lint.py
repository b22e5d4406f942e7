"""CLI: `amr-grpo lint-labels DATASET`: a dataset's labels (decision and recommended regimen) against what the guideline
knowledge base expects for each case; a table grouped by kind, or JSON. Research tool, not for clinical use.

Try it: amr-grpo lint-labels data/cases.jsonl
        amr-grpo lint-labels runs/main/data/train.jsonl --json --strict
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from amr_grpo import NOTICE
from amr_grpo.cli.common import check_output_file, user_errors


def register(app: typer.Typer) -> None:
    app.command("lint-labels")(lint_labels_cmd)


@user_errors
def lint_labels_cmd(
    dataset: Annotated[Path, typer.Argument(help="Cases (JSONL, JSON or CSV, as `amr-grpo prepare` reads them) or a "
                                                 "prepared split (DIR/train.jsonl).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of tables.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any label disagrees (for CI).")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write the JSON report to this file.")] = None,
    field_map: Annotated[Optional[list[str]], typer.Option("--map", help="FIELD=COLUMN for another column name, as in "
                                                                          "`amr-grpo prepare`; repeatable.")] = None,
    input_format: Annotated[str, typer.Option("--format", help="auto, jsonl, json, csv or tsv.")] = "auto",
    show: Annotated[int, typer.Option(help="Most disagreements listed case by case in the table output.", min=0)] = 30,
) -> None:
    """List the cases whose labelled decision or regimen disagrees with the guideline knowledge base, grouped by
    kind, with the reason and the guideline section. Exit 0 unless --strict and something disagrees."""
    from amr_grpo.data.lint_labels import KINDS, lint_labels

    if out is not None:
        check_output_file(out)
    report = lint_labels(dataset, list(field_map or []), input_format)
    data = report.to_dict()
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        console = Console(soft_wrap=True, highlight=False)
        summary = Table(title=f"amr-grpo lint-labels {escape(str(dataset))}", caption=NOTICE)
        for col, kw in (("kind", {}), ("cases", {"justify": "right"}), ("what it means", {})):
            summary.add_column(col, **kw)
        for kind, n in report.by_kind().items():
            summary.add_row(kind, str(n), KINDS[kind])
        console.print(summary)
        for f in report.findings[:show]:  # one line each: long guideline citations read better unwrapped
            section = f" ({escape(f.section)})" if f.section else ""
            console.print(f"{escape(f.id or f.where)} [bold]{f.kind}[/]: labelled {escape(f.labelled)!r}, expected "
                          f"{escape(f.expected)}: {escape(f.reason)}{section}")
        if len(report.findings) > show:
            console.print(f"... and {len(report.findings) - show} more (--show N, or --json)")
        console.print(f"{report.cases_with_findings()} of {report.cases} cases disagree with the knowledge base "
                      f"({report.checked} checked against a syndrome)")
    if strict and report.findings:
        raise typer.Exit(1)
