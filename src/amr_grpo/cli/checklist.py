"""CLI: `amr-grpo checklist`: what the judge expects of one case (thin wrapper over amr_grpo.judge.rules.show).

Research tool, not for clinical use.
Try it: amr-grpo checklist data/cases.jsonl:3
        amr-grpo checklist --text "70/M, 60 kg, S. Cr 2.1. Dx: CAP, admitted. Rx: Inj pip-taz 4.5 g IV q6h" --json
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from amr_grpo.cli.common import user_errors


def register(app: typer.Typer) -> None:
    app.command("checklist")(checklist)


@user_errors
def checklist(
    case: Annotated[str | None, typer.Argument(
        help="FILE[:LINE]: a case in a JSONL / JSON / CSV file (line 1 by default) or a prepared split's record."
    )] = None,
    text: Annotated[str | None, typer.Option("--text", help="The case as free text instead of a file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON (the contract's checklist).")] = False,
) -> None:
    """Print the case's checklist: the indication, the regimens acceptable for this patient, each risk with its
    value, the expected decision and why, the sections that may be cited, and the items every judge checks.

    Research tool, not for clinical use."""
    from amr_grpo.judge.rules.show import checklist_of, checklist_table, load_case

    patient_case, truth, where = load_case(case, text)
    cl = checklist_of(patient_case, truth)
    if as_json:
        typer.echo(json.dumps(cl.to_dict(), indent=2, ensure_ascii=False))
    else:
        Console(soft_wrap=False).print(checklist_table(cl, where))
