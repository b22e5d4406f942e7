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

from amr_grpo.cli.common import console, user_errors
from amr_grpo.errors import UserError

NOTICE = "Research tool, not for clinical use."
PROGRESS_MIN = 2000  # show a progress bar from this many records


def register(app: typer.Typer) -> None:
    app.command("prepare")(prepare)
    app.command("synth")(synth)


@user_errors
def prepare(
    inputs: Annotated[list[Path], typer.Argument(help="Input files: JSONL, JSON (array or {\"data\": [...]}) or CSV/TSV.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (train/val/test.jsonl, hf/, prepare.json).")],
    field_map: Annotated[Optional[list[str]], typer.Option("--map", help="FIELD=COLUMN for another column name, e.g. diagnosis=Dx or patient.age=Age; repeatable.")] = None,
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
    """Raw cases -> GRPO records {id, prompt, reference, context, ground_truth}, split train/val/test."""
    from amr_grpo.data.prepare import SPLITS, PrepareOptions
    from amr_grpo.data.prepare import prepare as run_prepare

    opts = PrepareOptions(field_map=list(field_map or []), val_frac=val_frac, test_frac=test_frac,
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
            raise UserError(escape(str(e)), e.hint) from None

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
    from amr_grpo.data.synth import write_cases

    counts = write_cases(n, seed, out, notes)
    table = Table(title=f"amr-grpo synth -> {out} (synthetic cases)", caption=NOTICE)
    table.add_column("decision")
    table.add_column("cases", justify="right")
    table.add_column("scenarios")
    for decision, scenarios in counts.items():
        table.add_row(decision, str(sum(scenarios.values())), ", ".join(f"{k} {v}" for k, v in scenarios.items()))
    Console().print(table)
