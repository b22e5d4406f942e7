"""`amr-grpo lint-labels`: the labels of a dataset (users' own merged cases, or ours) against what the guideline
knowledge base expects for each case, so a clinically wrong label is found before it becomes a reward.

For every case: the decision the knowledge base expects from checking the prescription (and the project's decision
rule: a drug with no place in the infection is Reject, the infection's own drugs given wrongly are Modify), and the
labelled regimen checked against the guideline for this patient (allergy, renal band, pregnancy, interactions,
dose, duration, the spectrum the infection needs, the loading dose). Each disagreement names the case, what the
label says, what the knowledge base expects, why, and the guideline section. Nothing here changes a label.

The knowledge base's expectation comes from one function, `kb_expectation`, today built on the rules judge's case
context and regimen check; it is where the reward checklist plugs in.
Try it: amr-grpo lint-labels data/cases.jsonl
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from amr_grpo.data.normalize import FieldProblems, normalize, parse_map
from amr_grpo.data.readers import read_records
from amr_grpo.data.synth.label_checks import check_loading, check_spectrum, renal_mismatch
from amr_grpo.data.synth.phrasing import Item
from amr_grpo.data.synth.regimens import daily_cap
from amr_grpo.data.synth.scenarios import group_drugs
from amr_grpo.errors import UserError
from amr_grpo.guidelines import Syndrome, load_kb
from amr_grpo.judge.rules.build import case_context
from amr_grpo.judge.rules.regimen import check_regimen
from amr_grpo.output_format import no_regimen, parse_regimen
from amr_grpo.reading import read_case, read_ground_truth
from amr_grpo.records import Case, GroundTruth

KINDS = {  # kind -> what it means (the order of the report)
    "decision": "the labelled decision is not one the guideline check of the prescription allows",
    "decision_rule": "Modify vs Reject against the rule: a drug with no place in the infection is Reject",
    "regimen_unsafe": "the labelled regimen is contraindicated for this patient",
    "renal": "the labelled regimen ignores the renal band at the patient's CrCl",
    "regimen": "the labelled regimen is not the guideline's for this case",
    "no_antibiotic": "the label and the guideline disagree on whether an antibiotic is indicated",
    "spectrum": "the labelled regimen lacks the spectrum the infection needs",
    "loading": "the labelled regimen drops the loading dose or the daily maximum the guideline gives",
    "unchecked": "no knowledge-base syndrome matches the case: nothing could be checked",
    "unreadable": "the record could not be read",
}


@dataclass(frozen=True)
class RegimenVerdict:
    score: int  # 1-5 on the guideline_adherence anchors
    why: str
    unsafe: tuple[str, ...] = ()  # why a drug must not be given to this patient
    renal_unadjusted: tuple[str, ...] = ()  # drugs whose dose ignores an "adjust" renal band


@dataclass
class Expectation:
    """What the knowledge base expects of one case."""

    syndrome: Syndrome | None
    decisions: frozenset[str]  # acceptable decisions from checking the prescription; empty when unknown
    decision_why: str
    no_antibiotic: bool
    context: Any = field(repr=False, default=None)  # the backend's own per-case state

    @property
    def section(self) -> str:
        return self.syndrome.citation if self.syndrome else ""

    def check(self, regimen: str) -> RegimenVerdict:
        """A labelled regimen text checked against the guideline for this patient."""
        doses = () if no_regimen(regimen) else tuple(_per_kg_when_capped(self, d) for d in parse_regimen(regimen))
        check = check_regimen(self.context, doses)
        return RegimenVerdict(check.score, check.why, check.contraindicated, check.renal_unadjusted)


def kb_expectation(case: Case, syndrome: str | None) -> Expectation:
    """The knowledge base's expectation for a case: built on the rules judge's case context and regimen check today;
    the one place to switch to the reward Checklist (records.Checklist: expected_decisions, regimens, avoid,
    sections). Two things the knowledge base holds and the regimen check does not see are added here: a daily
    maximum (azithromycin 20 mg/kg/day, max 1 g/day) and de-escalation on a culture report (G5)."""
    ctx = case_context(case.to_dict(), {"syndrome": syndrome} if syndrome else None)
    exp = Expectation(ctx.syndrome, frozenset(), "", ctx.no_antibiotic, ctx)
    if ctx.syndrome is None or not ctx.prescribed:
        return exp
    v = exp.check(case.prescription)
    off_band = renal_mismatch(ctx.syndrome, _items(case.prescription), ctx.case.patient.renal_function())
    if v.score == 5 and off_band:
        exp.decisions, exp.decision_why = frozenset({"Modify"}), f"renal dosing: {off_band[0].detail}"
    elif v.score == 5:
        exp.decisions, exp.decision_why = frozenset({"Approve"}), "the prescription matches the guideline"
    elif ctx.no_antibiotic:
        exp.decisions, exp.decision_why = frozenset({"Reject"}), "no antibiotic is indicated"
    elif v.score <= 3:
        exp.decisions, exp.decision_why = frozenset({"Modify", "Reject"}), "the prescription fails the guideline " \
                                                                         f"check: {v.why}"
    else:
        exp.decisions, exp.decision_why = frozenset({"Approve", "Modify"}), f"a minor deviation: {v.why}"
    prescribed = {d.drug for d in ctx.prescribed if d.drug}
    if ctx.susceptible and not prescribed <= ctx.susceptible:  # G5: narrow to what the isolate is susceptible to
        exp.decisions |= {"Modify"}
        exp.decision_why += f"; the culture report allows de-escalation to {', '.join(sorted(ctx.susceptible))} (G5)"
    return exp


def _per_kg_when_capped(exp: Expectation, d: Any) -> Any:
    """A dose in mg that is exactly a capped weight-based guideline dose for this patient (azithromycin 1 g for
    20 mg/kg/day, max 1 g/day, at 70 kg) written as the guideline writes it, so the regimen check compares like
    with like."""
    weight = exp.context.case.patient.weight_kg
    if d.dose_mg is None or not weight or exp.syndrome is None:
        return d
    for reg in (*exp.syndrome.first_line, *exp.syndrome.alternatives):
        for ri in (x for x in reg.items if x.drug == d.drug and x.dose_mg_per_kg is not None):
            cap = daily_cap(reg, d.drug)
            if cap is not None and d.interval_h == ri.interval_h and d.dose_mg == min(
                    max(250.0, round(ri.dose_mg_per_kg * weight / 250) * 250), cap * ri.interval_h / 24):
                return replace(d, dose_mg=None, dose_mg_per_kg=ri.dose_mg_per_kg)
    return d


@dataclass
class Finding:
    id: str
    where: str  # FILE:LINE
    kind: str  # a key of KINDS
    labelled: str
    expected: str
    reason: str
    section: str = ""


@dataclass
class LintReport:
    dataset: str
    cases: int = 0
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    def by_kind(self) -> dict[str, int]:
        counts = Counter(f.kind for f in self.findings)
        return {k: counts[k] for k in KINDS if counts[k]}

    def cases_with_findings(self) -> int:
        return len({f.where for f in self.findings})

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "cases": self.cases, "checked": self.checked,
                "cases_with_findings": self.cases_with_findings(), "by_kind": self.by_kind(),
                "kinds": {k: KINDS[k] for k in self.by_kind()}, "findings": [asdict(f) for f in self.findings]}


def _items(text: str) -> list[Item]:
    return [Item(d.drug, d.route or "", d.interval_h if d.interval_h is not None else -1, d.dose_mg,
                 d.dose_mg_per_kg, d.dose_units, d.duration_days) for d in parse_regimen(text) if d.drug]


def lint_case(case: Case, truth: GroundTruth, where: str) -> tuple[bool, list[Finding]]:
    """(checked, findings) for one labelled case."""
    exp = kb_expectation(case, truth.syndrome or case.syndrome)
    label = truth.decision.value if truth.decision else "none"
    out: list[Finding] = []

    def add(kind: str, expected: str, reason: str, labelled: str = label, section: str = "") -> None:
        out.append(Finding(case.id, where, kind, labelled, expected, reason, section or exp.section))

    if exp.syndrome is None:
        add("unchecked", "a knowledge-base syndrome", f"diagnosis {case.diagnosis!r} matches no syndrome")
        return False, out
    s, regimen = exp.syndrome, (truth.recommended_regimen or "").strip()
    if truth.decision and exp.decisions and label not in exp.decisions:
        add("decision", " or ".join(sorted(exp.decisions)), exp.decision_why)
    prescribed = [d.drug for d in parse_regimen(case.prescription) if d.drug]
    outside = sorted(d for d in prescribed if d not in group_drugs(s))
    if label == "Modify" and outside and not _addons_only(s, outside, prescribed):
        rule = load_kb().do_not_use(s.key, outside[0])
        add("decision_rule", "Reject", f"{', '.join(outside)} has no place in {s.name}",
            section=rule.source.cite() if rule else "")
    elif label == "Reject" and prescribed and not outside and not exp.no_antibiotic:
        add("decision_rule", "Modify", f"{', '.join(sorted(set(prescribed)))} belong to {s.name}: the prescription "
                                       "is fixed, not refused (unless the label rejects it for a patient factor)")
    if not regimen:
        return True, out
    if no_regimen(regimen) != exp.no_antibiotic:
        add("no_antibiotic", "no antibiotic" if exp.no_antibiotic else "an antibiotic regimen",
            f"{s.name}: the guideline {'indicates no' if exp.no_antibiotic else 'gives an'} antibiotic",
            labelled=regimen)
        return True, out
    if exp.no_antibiotic:
        return True, out
    v = exp.check(regimen)
    items = _items(regimen)
    off_band = renal_mismatch(s, items, exp.context.case.patient.renal_function())
    if v.unsafe:
        add("regimen_unsafe", "a regimen safe for this patient", v.unsafe[0], labelled=regimen)
    elif v.renal_unadjusted or off_band:
        drug = v.renal_unadjusted[0] if v.renal_unadjusted else off_band[0].detail.split(" at CrCl")[0]
        add("renal", "the renal dose", off_band[0].detail if off_band else v.why, labelled=regimen,
            section=_renal_section(case, drug))
    elif v.score <= 3:
        add("regimen", "a guideline regimen for this patient", v.why, labelled=regimen)
    for kind, found in (("spectrum", check_spectrum(s, items)),
                        ("loading", check_loading(s, regimen, case.patient.weight_kg, case.patient.renal_function()))):
        for viol in found:
            add(kind, "as the guideline gives it", viol.detail, labelled=regimen)
    return True, out


def _addons_only(s: Syndrome, outside: list[str], prescribed: list[str]) -> bool:
    """The drugs with no place are add-ons the guideline says not to add, on top of the infection's own drugs."""
    kb = load_kb()
    return len(outside) < len(prescribed) and all(
        (r := kb.do_not_use(s.key, d)) is not None and r.decision == "Modify" for d in outside)


def _renal_section(case: Case, drug: str) -> str:
    p = case.patient
    band = load_kb().renal_band(drug, p.renal_function()) if p.renal_function() is not None else None
    return band.source.cite() if band else ""


def _is_split(path: Path) -> bool:
    """A split written by `amr-grpo prepare`: JSONL records with a prompt and a context."""
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        return False
    with path.open(encoding="utf-8") as f:
        first = next((line for line in f if line.strip()), "")
    try:
        rec = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(rec, dict) and "context" in rec and "prompt" in rec


def read_labelled(path: Path, field_map: list[str] | None = None, fmt: str = "auto"):
    """(where, Case, GroundTruth) for each readable record, and the unreadable ones as Findings."""
    if not path.is_file():
        raise UserError(f"{path}: not found", "give a cases JSONL/JSON/CSV file or a prepared split")
    rows, bad = [], []
    if _is_split(path):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                context = rec["context"]
                case = Case.from_dict(context) if isinstance(context, dict) else read_case(str(context))
                case.id = case.id or str(rec.get("id", ""))
                rows.append((f"{path}:{n}", case, read_ground_truth(rec.get("ground_truth"))))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                bad.append(Finding("", f"{path}:{n}", "unreadable", "", "a GRPO record", f"{type(e).__name__}: {e}"))
        return rows, bad
    try:
        fmap = parse_map(field_map or [])
    except ValueError as e:
        raise UserError(str(e)) from None
    for rec in read_records(path, fmt):
        where = f"{path}:{rec.line}"
        if rec.error:
            bad.append(Finding("", where, "unreadable", "", "a case record", rec.error))
            continue
        try:
            norm = normalize(rec.data, fmap)
        except FieldProblems as e:
            bad.append(Finding("", where, "unreadable", "", "a case record", str(e)))
            continue
        rows.append((where, norm.case, norm.truth))
    return rows, bad


def lint_labels(path: Path, field_map: list[str] | None = None, fmt: str = "auto") -> LintReport:
    """Every case of the dataset checked; UserError when the file cannot be read or holds no case."""
    rows, bad = read_labelled(path, field_map, fmt)
    if not rows and not bad:
        raise UserError(f"{path}: no records", "give a cases JSONL/JSON/CSV file or a prepared split")
    report = LintReport(str(path), cases=len(rows) + len(bad), findings=list(bad))
    for where, case, truth in rows:
        checked, found = lint_case(case, truth, where)
        report.checked += checked
        report.findings += found
    return report
