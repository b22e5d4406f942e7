"""What the report warns about before any number, and the reference lines it draws.

Warnings (each one line, shown at the top of report.md / report.html):
- runs that cover different cases (ids) or different splits: their means do not compare like with like;
- a run that gives one decision for 90% or more of its cases: its reward gain may not be a better decider;
- a run with no summary.json (an interrupted evaluation) or with outputs the judge could not score.
Reference lines: `--baseline NAME=VALUE` or `--baseline-json FILE` ({"name", "weighted_reward", "split"}, or a
list of them), e.g. the best content-free strategy of bench/reward_hacking.py: a weighted reward a trained
model should clear.
Try it: amr-grpo report runs/main/eval-before runs/main/eval-after --baseline "best constant=0.41" -o /tmp/r
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amr_grpo.errors import UserError

ONE_DECISION_SHARE = 0.9  # a run predicting one decision for this share of its cases or more is flagged
ONE_DECISION_MIN_CASES = 5  # below this, one decision for every case is too common by chance to flag


@dataclass(frozen=True)
class Baseline:
    name: str
    value: float  # a weighted reward, 0-1
    split: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.split})" if self.split else self.name


def _baseline(name: Any, value: Any, split: Any, where: str) -> Baseline:
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"{where}: the baseline needs a name")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or not 0 <= value <= 1:
        raise UserError(f"{where}: the weighted reward must be a number from 0 to 1, got {value!r}")
    if split is not None and not isinstance(split, str):
        raise UserError(f"{where}: 'split' must be text, got {split!r}")
    return Baseline(name.strip(), float(value), split)


def read_baselines(items: Sequence[str] = (), files: Sequence[str | Path] = ()) -> list[Baseline]:
    """--baseline NAME=VALUE items and --baseline-json files -> Baselines, each checked."""
    out = []
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or number is None:
            raise UserError(f"--baseline {item!r}: expected NAME=VALUE", 'e.g. --baseline "best constant=0.41"')
        out.append(_baseline(name, number, None, f"--baseline {item!r}"))
    for f in files:
        p = Path(f)
        if not p.is_file():
            raise UserError(f"--baseline-json {p}: not found", "bench/reward_hacking.py writes one")
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"--baseline-json {p}: not JSON ({e.msg}, line {e.lineno})") from None
        for i, obj in enumerate(doc if isinstance(doc, list) else [doc]):
            where = f"--baseline-json {p}" + (f"[{i}]" if isinstance(doc, list) else "")
            if not isinstance(obj, dict):
                raise UserError(f"{where}: expected an object {{name, weighted_reward, split}}")
            out.append(_baseline(obj.get("name"), obj.get("weighted_reward"), obj.get("split"), where))
    return out


def warnings_for(runs: Sequence[Any]) -> list[str]:
    """The report's warnings for these runs (report.Run objects), in reading order."""
    out = []
    first = runs[0]
    ids0 = {r["id"] for r in first.rows}
    for run in runs[1:]:
        ids = {r["id"] for r in run.rows}
        if ids != ids0:
            shared = len(ids & ids0)
            out.append(f"{first.label} and {run.label} cover different cases ({len(ids0)} and {len(ids)} cases, "
                       f"{shared} in common): their means are over different cases and do not compare like with "
                       f"like; the paired comparison uses only the {shared} shared cases.")
        a, b = first.meta.get("split"), run.meta.get("split")
        if a and b and a != b:
            out.append(f"{first.label} and {run.label} are on different splits ({a} and {b}).")
    for run in runs:
        top, n = run.summary["decisions"]["top_prediction"], run.summary["n"]
        if top and n >= ONE_DECISION_MIN_CASES and top["share"] >= ONE_DECISION_SHARE:
            base = run.summary["decisions"]["majority_baseline"]
            ref = f"; the majority-class baseline (always {base['decision']}) scores {base['accuracy']:.2f}" \
                if base else ""
            out.append(f"{run.label} gives one decision ({top['decision']}) for {round(top['share'] * n)} of its "
                       f"{n} cases ({top['share']:.0%}): it is not telling cases apart, whatever its reward. Its "
                       f"decision accuracy is {_num(run.summary['decision_accuracy']['mean'])}{ref}.")
        if run.summary["judge_failures"]:
            out.append(f"{run.label}: the judge could not score {run.summary['judge_failures']} of {n} outputs; "
                       "they are left out of the means.")
        if unread := run.summary.get("cases_unread"):  # older summaries lack the count
            out.append(f"{run.label}: {unread} of {n} cases matched no guideline syndrome; their decisions were not "
                       "checked against the guideline (scored 3). `amr-grpo explain FILE:LINE` shows why.")
        if not (run.path / "summary.json").is_file():
            out.append(f"{run.label} has no summary.json: an interrupted evaluation? Finish it with "
                       "`amr-grpo evaluate ... --resume`.")
    return out


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"
