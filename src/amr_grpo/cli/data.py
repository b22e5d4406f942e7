"""CLI commands for datasets: `amr-grpo synth` (synthetic cases) and `amr-grpo prepare` (raw cases -> GRPO splits).

Try it: amr-grpo synth -n 20 --seed 0 -o /tmp/cases.jsonl && amr-grpo prepare /tmp/cases.jsonl -o /tmp/prep --force
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from amr_grpo import NOTICE
from amr_grpo.cli.common import check_output_file, console, user_errors
from amr_grpo.errors import UserError

PROGRESS_MIN = 2000  # show a progress bar from this many records


def register(app: typer.Typer) -> None:
    app.command("prepare", epilog=PREPARE_EPILOG)(prepare)
    app.command("synth", epilog="Example: amr-grpo synth -n 600 --seed 0 -o data/cases.jsonl")(synth)


PREPARE_EPILOG = """Examples:

  amr-grpo prepare data/cases.jsonl -o runs/main/data

  amr-grpo prepare --inspect my_cases.csv > my_map.yaml   (propose a column mapping; check it)

  amr-grpo prepare my_cases.csv --map-file my_map.yaml -o runs/mine/data
"""


@user_errors
def prepare(
    inputs: Annotated[list[Path], typer.Argument(help="Input files: JSONL, JSON (array or {\"data\": [...]}) or CSV/TSV.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output directory (train/val/test.jsonl, hf/, prepare.json).")] = None,
    field_map: Annotated[Optional[list[str]], typer.Option("--map", help="FIELD=COLUMN for another column name, e.g. diagnosis=Dx or patient.age=Age; repeatable; overrides --map-file.")] = None,
    map_file: Annotated[Optional[Path], typer.Option("--map-file", help="A saved mapping (YAML: map: {FIELD: COLUMN}, optional decision_values: {WORD: Approve|Modify|Reject}).")] = None,
    inspect: Annotated[bool, typer.Option("--inspect", help="Print a proposed --map-file for the input (from its columns and first rows) and exit.")] = False,
    val_frac: Annotated[float, typer.Option(help="Fraction of cases for the val split.")] = 0.1,
    test_frac: Annotated[float, typer.Option(help="Fraction of cases for the test split.")] = 0.1,
    val_size: Annotated[Optional[int], typer.Option(help="Number of val cases (overrides --val-frac).")] = None,
    test_size: Annotated[Optional[int], typer.Option(help="Number of test cases (overrides --test-frac).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the deterministic split.")] = 0,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Write the valid records and DIR/rejected.jsonl instead of stopping.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    prompt_format: Annotated[str, typer.Option(help="chat (system+user messages) or text (one string).")] = "chat",
    input_format: Annotated[str, typer.Option("--format", help="auto, jsonl, json, csv or tsv.")] = "auto",
) -> None:
    """Raw cases -> GRPO records {id, prompt, reference, context, ground_truth}, split train/val/test.
    Ground truth is a decision (Approve / Modify / Reject), optionally a recommended regimen and a written
    reference validation. Research tool, not for clinical use."""
    from amr_grpo.data.prepare import SPLITS, PrepareOptions
    from amr_grpo.data.prepare import prepare as run_prepare

    if inspect:
        from amr_grpo.data.mapping import propose_mapping

        if len(inputs) != 1:
            raise UserError("--inspect takes one input file")
        typer.echo(propose_mapping(inputs[0], input_format), nl=False)
        return
    if out is None:
        raise UserError("give the output directory: -o DIR", "or --inspect FILE to propose a column mapping")
    opts = PrepareOptions(field_map=list(field_map or []), map_file=str(map_file) if map_file else None,
                          val_frac=val_frac, test_frac=test_frac,
                          val_size=val_size, test_size=test_size, seed=seed, skip_invalid=skip_invalid,
                          force=force, prompt_format=prompt_format, input_format=input_format)
    with Progress(TextColumn("reading records"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:

        def progress(total: int):
            if total < PROGRESS_MIN:
                return None
            task = bar.add_task("records", total=total)
            return lambda n: bar.advance(task, n)

        try:
            summary = run_prepare(inputs, out, opts, progress=progress)
        except UserError as e:  # record text may look like rich markup: show it as written
            raise UserError(escape(str(e)), escape(e.hint) if e.hint else None) from None

    table = Table(title=f"amr-grpo prepare -> {out}", caption=NOTICE)
    table.add_column("")
    table.add_column("records", justify="right")
    table.add_column("details")
    table.add_row("read", str(summary.read), ", ".join(f"{k} {v}" for k, v in sorted(summary.kinds.items())))
    for s in SPLITS:
        table.add_row(f"written: {s}", str(summary.written[s]),
                      ", ".join(f"{k} {v}" for k, v in summary.by_decision[s].items()))
    table.add_row("rejected", str(summary.rejected), "see rejected.jsonl" if summary.rejected else "")
    table.add_row("duplicates removed", str(summary.duplicates), "")
    Console().print(table)
    if summary.ignored_columns:
        console.print("[yellow]ignored columns:[/] " + ", ".join(summary.ignored_columns)
                      + "  (use --map FIELD=COLUMN to use one)", highlight=False)


@user_errors
def synth(
    n: Annotated[int, typer.Option("-n", help="Number of cases.")] = 600,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives a byte-identical file.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL file.")] = Path("data/cases.jsonl"),
    notes: Annotated[float, typer.Option(help="Share of cases (0-1) whose patient is a free-text clinical note (OPD "
                                              "slip, ward or ED note, discharge summary) instead of fields.")] = 0.25,
) -> None:
    """Synthetic prescription cases from the guideline knowledge base (Approve / Modify / Reject), as JSONL."""
    from amr_grpo.data.synth.generate import write_cases

    check_output_file(out)
    counts = write_cases(n, seed, out, notes)
    table = Table(title=f"amr-grpo synth -> {out} (synthetic cases)", caption=NOTICE)
    table.add_column("decision")
    table.add_column("cases", justify="right")
    table.add_column("scenarios")
    for decision, scenarios in counts.items():
        table.add_row(decision, str(sum(scenarios.values())), ", ".join(f"{k} {v}" for k, v in scenarios.items()))
    Console().print(table)
