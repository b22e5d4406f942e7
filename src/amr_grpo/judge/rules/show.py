"""Show what the judge expects of one case: its checklist as a table (rich) or as JSON.

`load_case(spec, text)` reads one case: a line of a JSONL / JSON / CSV file (a raw case as `amr-grpo prepare` reads
it, or a prepared GRPO record with its context and ground truth), or free text. `checklist_of(case, truth)` is the
checklist every judge checks; `checklist_table(checklist)` renders it. Research tool, not for clinical use.
Try it: amr-grpo checklist data/cases.jsonl:3
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from amr_grpo.errors import UserError
from amr_grpo.records import Checklist

_LINE = re.compile(r"^(?P<path>.+):(?P<line>\d+)$")
_STYLE = {"essential": "bold", "important": "", "pitfall": "red"}


def load_case(spec: str | None, text: str | None) -> tuple[Any, Any, str]:
    """(case, ground truth, where): from FILE[:LINE] (line 1 when none is given) or from free text."""
    if text is not None:
        if not text.strip():
            raise UserError("--text is empty", hint='the case as clinicians write it: "45/M, NKDA. Dx: ... Rx: ..."')
        return text, None, "--text"
    if not spec:
        raise UserError("no case given", hint="amr-grpo checklist FILE[:LINE] or --text 'case text'")
    m = _LINE.match(spec)
    path, line = (Path(m["path"]), int(m["line"])) if m and not Path(spec).exists() else (Path(spec), 1)
    if not path.is_file():
        raise UserError(f"{path}: not found", hint="a JSONL, JSON or CSV file of cases, or a split from prepare")
    from amr_grpo.data.normalize import FieldProblems, normalize
    from amr_grpo.data.readers import read_records

    rec = next((r for r in read_records(path) if r.line == line), None)
    if rec is None:
        raise UserError(f"{path}:{line}: no record starts on this line", hint="records start on these lines: "
                        + ", ".join(str(r.line) for _, r in zip(range(10), read_records(path), strict=False)))
    if rec.error:
        raise UserError(f"{path}:{line}: {rec.error}")
    data = rec.data
    if isinstance(data, dict) and isinstance(data.get("context"), (dict, str)):  # a prepared GRPO record
        return data["context"], data.get("ground_truth"), f"{path}:{line}"
    try:
        norm = normalize(data, {})
    except FieldProblems as e:
        field, problem = e.problems[0]
        raise UserError(f"{path}:{line}: field '{field}': {problem}") from None
    return norm.case_dict, norm.truth_dict, f"{path}:{line}"


def checklist_of(case: Any, truth: Any) -> Checklist:
    """The case's checklist, as the rules judge builds it (and prepare stores it)."""
    from amr_grpo.judge.rules import case_context

    return case_context(case, truth).checklist


def checklist_table(cl: Checklist, where: str = "") -> Group:
    """The checklist for a terminal: what the case is, what is expected, then one row per item."""
    head = Text()
    head.append(f"Checklist {where}".rstrip() + f" ({cl.version})\n", style="bold")
    syndrome = f"{cl.syndrome_name} [{cl.syndrome}]" if cl.syndrome else "not matched (case_unread): " + (
        ", ".join(cl.candidates) if cl.candidates else "no candidate")
    need = {True: "yes", False: "no", None: "unknown"}[cl.antibiotic_needed]
    rows = [("syndrome", syndrome), ("antibiotic needed", need + (" (serious infection)" if cl.serious else "")),
            ("expected decision", " or ".join(cl.expected_decisions) or "unknown"), ("why", cl.decision_why or "-"),
            ("acceptable regimens", "; ".join(cl.regimens) or "-"), ("must not get", ", ".join(cl.avoid) or "-"),
            ("may cite", ", ".join(cl.sections) or "-")]
    for label, value in rows:
        head.append(f"{label:20s}", style="dim")
        head.append(f"{value}\n")
    table = Table(show_lines=False, expand=False)
    table.add_column("importance")
    table.add_column("kind")
    table.add_column("item (what a correct validation states or does)", overflow="fold")
    table.add_column("evidence (case-specific words that show it)", overflow="fold")
    for i in cl.items:
        table.add_row(Text(i.importance, style=_STYLE.get(i.importance, "")), i.kind, i.text, ", ".join(i.evidence))
    return Group(head, table, Text("Research tool, not for clinical use.", style="dim"))


def checklist_results(case: Any, output: str, truth: Any = None) -> list[dict[str, str]]:
    """Each checklist item of the case with what this output does with it: an item is 'stated' or 'not stated' (with
    the case's own content, as the rules judge reads it); a pitfall is 'avoided' or 'committed' (the regimen the
    output puts forward gives the drug to avoid, or gives / withholds the antibiotic against the guideline)."""
    from amr_grpo.judge.rules import case_context
    from amr_grpo.judge.rules.reading import read

    ctx = case_context(case, truth)
    r = read(ctx, output)
    endorsed = {d.drug for d in r.endorsed or ()}
    out = []
    for item in ctx.checklist.items:
        if item.importance == "pitfall":
            committed = (item.key[len("avoid:"):] in endorsed if item.key.startswith("avoid:")
                         else bool(r.endorsed) if item.key == "no_antibiotic" else r.endorsed == ())
            result = "committed" if committed else "avoided"
        else:
            result = "stated" if item.key in r.stated else "not stated"
        detail = f"{item.importance}" + (f": {', '.join(item.evidence)}" if item.evidence else "")
        out.append({"key": f"checklist:{item.key}", "label": item.text, "result": result, "detail": detail})
    return out
