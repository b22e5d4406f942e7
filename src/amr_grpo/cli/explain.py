"""`amr-grpo explain`: print what the case reader understood from a case (each field, the text it came from, what
was set aside as negated, historical, hypothetical or family) and which syndrome it matched, or why none.
Try it: amr-grpo explain --text "70/M, S. Cr 2.4 mg/dl, denies dysuria, h/o UTI last year. Dx: CAP. RR 30"
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from amr_grpo import NOTICE
from amr_grpo.cli.common import console, user_errors
from amr_grpo.reading.explain import explain
from amr_grpo.reading.reader import Reading


def _value(v: object) -> str:
    if isinstance(v, list):
        return ", ".join(map(str, v)) if v else "none"
    return "" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def _print(r: Reading, where: str) -> None:
    out = console.__class__(soft_wrap=False)  # stdout, wrapped to the terminal
    c, p = r.case, r.case.patient
    fields = Table(title=f"What was read from {where}", show_lines=False)
    for col in ("field", "value", "from"):
        fields.add_column(col, overflow="fold")
    seen: dict[str, list[str]] = {}
    for f in r.fields:
        seen.setdefault(f.name, []).append(" ".join(f.source.split())[:90])
    rows = [("age", p.age), ("sex", p.sex), ("weight_kg", p.weight_kg), ("pregnant", p.pregnant),
            ("gestation_weeks", p.gestation_weeks), ("allergies", p.allergies),
            ("current_medicines", p.current_medicines), ("comorbidities", p.comorbidities),
            ("serum_creatinine_mg_dl", p.serum_creatinine_mg_dl), ("crcl_ml_min", p.crcl_ml_min),
            ("egfr_ml_min", p.egfr_ml_min), ("renal_basis", p.renal_basis), ("cultures", p.cultures),
            ("setting", c.setting), ("severity", c.severity), ("severity_signs", c.severity_signs),
            ("diagnosis", c.diagnosis), ("prescription", c.prescription)]
    for name, value in rows:
        also = {"renal_basis": ("crcl_ml_min", "egfr_ml_min", "serum_creatinine_mg_dl"), "severity": ("severity_signs",),
                "egfr_ml_min": ("serum_creatinine_mg_dl",), "crcl_ml_min": ("serum_creatinine_mg_dl", "weight_kg")}
        src = seen.get(name) or next((seen[a] for a in also.get(name, ()) if a in seen), [])
        fields.add_row(name, _value(value) or "[dim]unknown[/]", " | ".join(dict.fromkeys(src)) or "[dim]-[/]")
    out.print(fields)
    if c.syndrome:
        out.print(f"[bold]syndrome:[/] {c.syndrome} ({r.syndrome_why})", highlight=False)
    else:
        cands = ", ".join(c.syndrome_candidates) or "none"
        out.print(f"[bold]syndrome: unknown[/] - {r.syndrome_why or 'no diagnosis matched'}; candidates: {cands}",
                  highlight=False)
    if r.set_aside:
        aside = Table(title="Set aside (not read as the patient's current facts)")
        for col in ("text", "kind", "why"):
            aside.add_column(col)
        for m in r.set_aside:
            aside.add_row(m.text, m.label.lower(), ", ".join(m.contexts))
        out.print(aside)
    else:
        out.print("nothing was set aside as negated, historical, hypothetical or family")
    out.print(f"[dim]{NOTICE}[/]")


@user_errors
def explain_cmd(
    target: Annotated[str | None, typer.Argument(
        metavar="FILE[:LINE]", help="A cases JSONL, a prepared split (its context), an evaluation-request JSONL "
        "(its patient_case), a JSON case or a text note; :LINE picks one line of a JSONL file (1-based).")] = None,
    text: Annotated[str | None, typer.Option("--text", help="The case as free text instead of a file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reading as JSON (for tools).")] = False,
) -> None:
    """Show what the case reader understood from a case: each field and the text it came from, what was set aside
    as negated / historical / hypothetical / family, and the syndrome (or why it is unknown)."""
    reading, where = explain(target, text)
    if as_json:
        typer.echo(json.dumps({"source": where, **reading.to_dict()}, indent=2, ensure_ascii=False))
        return
    _print(reading, where)


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_cmd)
