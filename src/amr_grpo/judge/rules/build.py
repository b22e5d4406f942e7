"""Build the CaseContext of a case once: read the case and the ground truth, find the syndrome, parse the
prescription, list the regimens the guideline accepts and every patient risk, check the prescription itself, decide
what the right decision is, and build the checklist with its matchers. Cached per distinct (case, ground truth):
a GRPO group shares one case, and a run sees each case many times.
Try it:
  python -c "from amr_grpo.judge.rules import case_context as c; print(c('Dx: CAP. Rx: levofloxacin', None).checklist)"
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from typing import Any

from amr_grpo.guidelines import load_kb
from amr_grpo.reading import read_case, read_ground_truth
from amr_grpo.judge.rules import checklist as checklist_mod
from amr_grpo.judge.rules.checklist import tokens
from amr_grpo.judge.rules.context import (
    ECHO_TOKENS,
    MAX_FREQUENCIES,
    CaseContext,
    case_risks,
    find_syndrome,
    options_for,
    read_culture,
)
from amr_grpo.judge.rules.regimen import check_regimen, expected_decisions
from amr_grpo.judge.rules.statements import allergy_groups
from amr_grpo.output_format import no_regimen, parse_regimen
from amr_grpo.records import Case


def case_context(patient_case: str | dict[str, Any], ground_truth: str | dict[str, Any] | None) -> CaseContext:
    """The case context, cached per distinct (case, ground truth)."""
    return _cached_context(_key(patient_case), None if ground_truth is None else _key(ground_truth))


def _key(obj: Any) -> tuple[str, str]:
    """A hashable cache key: ("s", text) for text, ("j", canonical JSON) for a structured value."""
    return ("s", obj) if isinstance(obj, str) else ("j", json.dumps(obj, sort_keys=True, default=str))


def _unkey(k: tuple[str, str]) -> Any:
    return json.loads(k[1]) if k[0] == "j" else k[1]


@lru_cache(maxsize=4096)
def _cached_context(case_key: tuple[str, str], gt_key: tuple[str, str] | None) -> CaseContext:
    case = read_case(_unkey(case_key))
    gt = read_ground_truth(None if gt_key is None else _unkey(gt_key))
    syndrome, via = find_syndrome(case, gt)
    prescribed = tuple(parse_regimen(case.prescription))
    gt_text = gt.recommended_regimen or ""
    gt_none = bool(gt_text) and no_regimen(gt_text)
    gt_doses = [] if gt_none else parse_regimen(gt_text)
    no_abx = gt_none or bool(syndrome and syndrome.no_antibiotic and not gt_doses)
    serious = case.severity == "severe" or bool(syndrome and syndrome.setting in ("ward", "ICU"))
    drugs = list(dict.fromkeys((d.drug, d.route) for d in (*prescribed, *gt_doses) if d.drug))
    cache: dict = {}
    checks: dict = {}
    risks = case_risks(case, drugs, cache)
    sensitive, resistant = read_culture(case.patient.cultures or "")
    ctx = CaseContext(case, gt, syndrome, via, prescribed, options_for(syndrome, gt_doses, gt_text, case), no_abx,
                      serious, risks, sensitive, resistant, _drug_risks=cache, _checks=checks)
    check = check_regimen(ctx, prescribed) if prescribed else None
    expected, why = expected_decisions(ctx, check)
    ctx = replace(ctx, expected=expected, expected_source=why, prescription_check=check, _drug_risks=cache,
                  _checks=checks)
    checklist, matchers = checklist_mod.build(ctx)
    return replace(ctx, checklist=checklist, matchers=matchers, item_text={i.key: i.text for i in checklist.items},
                   value_evidence=any(m.key == "fault" or m.groups for m in matchers),
                   related_drugs=_related_drugs(ctx),
                   related_syndromes=_related_syndromes(ctx), _drug_risks=cache, _checks=checks,
                   allergy_groups=allergy_groups(" ; ".join(case.patient.allergies)), echo=(echo := _echo_grams(case)),
                   echo_ends=frozenset((g[0], g[-1]) for g in echo), max_frequencies=_frequency_budget(ctx))


def _frequency_budget(ctx: CaseContext) -> int:
    """How many distinct frequencies a validation of this case may name: those of the prescription and of the
    regimen it recommends (a three-drug regimen with a wrongly timed drug has four), never fewer than
    MAX_FREQUENCIES. More is a list of every frequency, not a reading of this prescription."""
    regimen = next((o for o in ctx.options if o.kind == "ground truth"), ctx.options[0] if ctx.options else None)
    intervals = {d.interval_h for d in ctx.prescribed} | {t.interval_h for t in (regimen.targets if regimen else ())}
    return max(MAX_FREQUENCIES, len(intervals - {None}))


def _echo_grams(case: Case) -> frozenset[tuple[str, ...]]:
    """Every run of ECHO_TOKENS tokens of the case as the policy reads it, except runs inside the diagnosis or the
    prescription (restating those is what a validation does): copying the patient's lines verbatim is not reading
    them, and the facts in a copied run do not count as stated."""
    from amr_grpo.data.prompts import case_text

    def grams(text: str) -> set[tuple[str, ...]]:
        toks = tokens(text)
        return {tuple(toks[i:i + ECHO_TOKENS]) for i in range(len(toks) - ECHO_TOKENS + 1)}

    return frozenset(grams(case_text(case)) - grams(case.diagnosis) - grams(case.prescription))


def _related_drugs(ctx: CaseContext) -> frozenset[str]:
    """Drugs a validation of this case may name without stuffing: the prescribed, the guideline's for the syndrome
    (with the members of a class the guideline rules out), the allergens and everything they cross-react with, the
    patient's medicines and the culture report's drugs."""
    kb, p = load_kb(), ctx.case.patient
    out = {d.drug for d in ctx.prescribed if d.drug} | {t.drug for o in ctx.options for t in o.targets}
    out |= ctx.susceptible | ctx.resistant
    for text in (*p.allergies, *p.current_medicines):
        out.update(kb.find_drugs(text))
    if p.allergies:
        out.update(d.key for d in kb.drugs if kb.allergy_conflict(d.key, p.allergies))
    if ctx.syndrome:
        for rule in ctx.syndrome.do_not_use:
            for name in rule.drugs:
                out |= kb.drugs_in_class(name) | ({name} if kb.drug(name) else set())
        for r in (*ctx.syndrome.first_line, *ctx.syndrome.alternatives):
            out.update(i.drug for i in r.items)
    return frozenset(out)


def _related_syndromes(ctx: CaseContext) -> frozenset[str]:
    s = ctx.syndrome
    if s is None:
        return frozenset(ctx.case.syndrome_candidates)
    return frozenset({s.key, *(m.key for m in load_kb().group_members(s.group))} if s.group else {s.key})
