"""One completion read against a case context, once: what it endorses, which checklist items it states with their
case-specific content (judge/rules/statements.py reads the values), which patient values it gets wrong, what it
denies, where it contradicts itself, what it stuffs in, and which critical errors it makes. Every metric check reads
this record.
Try it:
  python -c "from amr_grpo.judge.rules import case_context as c; from amr_grpo.judge.rules.reading import read; \
print(read(c('Dx: cystitis. Rx: nitrofurantoin 100 mg PO BD', None), 'Step 1 - x: cystitis\\nDecision: Approve'))"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from amr_grpo.guidelines import load_kb
from amr_grpo.judge.rules.checklist import Matcher, needle, tokens
from amr_grpo.judge.rules.context import ECHO_TOKENS, CaseContext, RegimenCheck
from amr_grpo.judge.rules.regimen import DOSE_TOLERANCE
from amr_grpo.judge.rules.statements import (
    DENIES,
    DENY_ANCHORS,
    MAX_VALUES,
    NOT_PREGNANT,
    PREGNANT,
    ages,
    claimed_allergies,
    drugs_in,
    frequency_needles,
    pregnancy_stated,
    renal_stated,
    stated_allergens,
    syndromes_named,
    text_words,
)
from amr_grpo.output_format import Layout, Output, as_prescribed, no_regimen
from amr_grpo.records import Decision, Dose, Validation

_F = 0  # every pattern below runs on lower-cased text: the same answers as re.IGNORECASE, faster
MAX_UNRELATED_DRUGS = 3  # naming more drugs than this that have nothing to do with the case is stuffing
MAX_UNRELATED_SYNDROMES = 2
REGIMEN_CONFLICT = "the decision and the regimen disagree"
MAX_DRUGS = 6  # naming more distinct drugs than this is a list, whatever they are
MAX_DOSES = 5  # more distinct dose amounts than this is a list of doses, not a reading of the prescription

# A step that argues for the prescription as written, or against it: checked against the stated decision.
_FOR = re.compile(r"\b(?:prescription|regimen)\s+(?:as\s+written\s+)?(?:is\s+)?(?:appropriate|correct|acceptable|"
                  r"adequate|fine|safe)\s+as\s+(?:written|prescribed)|\b(?:should|can|may)\s+be\s+approved|"
                  r"\bapprove\s+(?:it|the\s+prescription|as\s+(?:written|prescribed))|\bno\s+changes?\s+(?:is\s+|are\s+)?"
                  r"(?:needed|required)|\bcontinue\s+as\s+prescribed", _F)
_AGAINST = re.compile(r"\b(?:prescription|regimen)\s+(?:as\s+written\s+)?(?:is\s+)?(?:inappropriate|incorrect|wrong|"
                      r"unsafe|not\s+appropriate|not\s+acceptable)|\b(?:should|must)\s+(?:be\s+)?(?:rejected|"
                      r"modified|changed)|\bdo\s+not\s+approve|\breject\s+(?:it|the\s+prescription)", _F)
# Every match of _FOR / _AGAINST holds one of these (a cheap test before the regex).
_FOR_ANCHORS = ("as written", "as prescribed", "approved", "approve ", "no change", "continue as")
_AGAINST_ANCHORS = ("inappropriate", "incorrect", "wrong", "unsafe", "not appropriate", "not acceptable", "rejected",
                    "modified", "changed", "do not approve", "reject ")
_DOSE_IN_NORM = re.compile(r" (\d+(?:\.\d+)?) (?:mg|g|gm|mcg|mu|iu|units?) ")


@dataclass(frozen=True)
class Reading:
    v: Validation
    layout: Layout
    steps: tuple[str, ...]
    text: str  # steps + recommended regimen: where statements count
    endorsed: tuple[Dose, ...] | None
    regimen_check: RegimenCheck
    stated: frozenset[str]  # checklist item keys stated with their case content
    misstated: tuple[str, ...]  # patient values the text gets wrong
    denied: tuple[str, ...]  # risk kinds the text says the patient does not have, though the case has them
    contradictions: tuple[str, ...]
    unrelated: tuple[str, ...]  # stuffing: drugs or syndromes named that have nothing to do with the case
    beyond_format: str  # text beyond the format (past the Reference line, repeated headers, over-long parts)
    critical: tuple[str, ...]
    names_endorsed: bool  # the endorsed drugs are named somewhere in the text (not only "as prescribed")
    patient_step: bool  # a step speaks of the patient's factors at all


def endorsed_regimen(ctx: CaseContext, v: Validation) -> tuple[Dose, ...] | None:
    """The regimen the validation puts forward: when it approves or says 'as prescribed', the regimen it writes out
    plus any prescribed drug it leaves out; else its recommended drugs; () for 'no antibiotic' (or a Reject naming
    no drug); None when
    nothing can be told."""
    text = (v.recommended_regimen or "").strip()
    named = tuple(v.regimen)
    if v.decision == Decision.APPROVE or (text and as_prescribed(text)):
        # what it writes out is what it endorses (a dose it restates wrongly counts), with any prescribed drug it
        # leaves out
        given = {d.drug for d in named if d.drug}
        return tuple(d for d in named if d.drug) + tuple(p for p in ctx.prescribed if p.drug not in given)
    if named:
        return named  # drugs the knowledge base does not know are checked as they are (a wrong drug), not dropped
    if v.decision == Decision.REJECT:
        return ()
    if text and no_regimen(text) and re.search(r"antibiotic|antimicrobial|antibacterial", text, re.IGNORECASE):
        return ()
    return None


def _patient_stated(ctx: CaseContext, norm: str, low: str) -> bool:
    """The patient's age or weight stated (a list of ages is not a reading of this patient); without either, a name
    from the patient's lines. (The renal value and the other risks count through their own items.)"""
    p = ctx.case.patient
    stated = ages(norm)
    if p.age is not None and p.age in stated and len(stated) <= MAX_VALUES:
        return True
    if p.weight_kg is not None and needle(f"{p.weight_kg:g} kg") in norm:
        return True
    if p.age is None and p.weight_kg is None and p.renal_function() is None:
        m = next((m for m in ctx.matchers if m.key == "patient"), None)
        return bool(m) and any(n in norm for n in m.needles)
    return False


def _stated_items(ctx: CaseContext, norm: str, low: str, named: set[str], regimen_check: RegimenCheck, v: Validation,
                  void: set[str], words: set[str]) -> tuple[set[str], list[str]]:
    stated: set[str] = set()
    misstated: list[str] = []
    freq = frequency_needles()
    if ctx.value_evidence:  # only a case whose items name a frequency or a dose needs the list checks
        if len({h for n, h in freq.items() if n in norm}) > ctx.max_frequencies:
            void.add("frequencies")
        if len(set(_DOSE_IN_NORM.findall(norm))) > MAX_DOSES:
            void.add("doses")
    for m in ctx.matchers:
        m: Matcher
        if m.how == "phrases":
            needles = [n for n in m.needles if ("frequencies" not in void or n not in freq)
                       and ("doses" not in void or m.key != "fault")]
            ok = any(n in norm for n in needles) and not (m.kind == "allergy" and "allergies" in void)
        elif m.how == "names":
            ok = "syndromes" not in void and any(n <= words for n in m.names)
        elif m.how == "any drug":
            ok = bool(m.drugs & named) and "drugs" not in void
        elif m.how == "drugs":
            ok = bool(m.drugs) and m.drugs <= named and "drugs" not in void and (
                not m.groups or ("doses" not in void and all(any(n in norm for n in g) for g in m.groups)))
        elif m.how == "renal":
            ok, miss = renal_stated(low, m.value)
            if miss and not ok:
                misstated.append(f"renal function (the case gives {m.value:g} mL/min)")
        elif m.how == "pregnancy":
            ok, miss = pregnancy_stated(low, m.value)
            if miss and not ok:
                misstated.append(f"gestation (the case gives {m.value:g} weeks)")
        elif m.how == "patient":  # decided below: a risk stated with its value reads the patient too
            continue
        elif m.how == "regimen":
            ok = regimen_check.score >= 4
        elif m.how == "decision":
            ok = v.decision in ctx.expected
        else:  # citation (scored by the reference check) and pitfalls are not statements
            ok = False
        if ok:
            stated.add(m.key)
    if "patient" in ctx.item_text and (_patient_stated(ctx, norm, low) or any(
            m.key in stated for m in ctx.matchers if m.kind in ("allergy", "renal", "pregnancy", "interaction",
                                                                 "culture", "severity"))):
        stated.add("patient")
    if "allerg" in low and (claims := claimed_allergies(low)):
        if not ctx.case.patient.allergies:
            misstated.append("allergies (the case lists none)")
        elif len(claims - ctx.allergy_groups) > MAX_VALUES:
            misstated.append("allergies (it lists allergies the case does not have)")
            stated -= {m.key for m in ctx.matchers if m.kind == "allergy"}
    if ctx.case.patient.pregnant is False and PREGNANT.search(low) and not NOT_PREGNANT.search(low) and (
            re.search(r"\bpregnant\b", low)):
        misstated.append("pregnancy (the case says not pregnant)")
    return stated, misstated


def _contradictions(ctx: CaseContext, v: Validation, steps_text: str, endorsed: tuple[Dose, ...] | None) -> list[str]:
    out: list[str] = []
    d = v.decision
    text = (v.recommended_regimen or "").strip()
    low = steps_text.lower()
    if d == Decision.APPROVE and any(a in low for a in _AGAINST_ANCHORS) and _AGAINST.search(low):
        out.append("a step argues against the prescription it approves")
    if d in (Decision.MODIFY, Decision.REJECT):
        if any(a in low for a in _FOR_ANCHORS) and _FOR.search(low):
            out.append(f"a step argues for the prescription it decides to {d.value.lower()}")
        if text and as_prescribed(text):
            out.append(f"{REGIMEN_CONFLICT}: '{text[:30]}' recommended with {d.value}")
        elif v.regimen and ctx.prescribed and _same_regimen(tuple(v.regimen), ctx.prescribed):
            out.append(f"{REGIMEN_CONFLICT}: the prescribed regimen recommended unchanged with {d.value}")
    if d == Decision.APPROVE and v.regimen and ctx.prescribed and \
            {x.drug for x in v.regimen} != {x.drug for x in ctx.prescribed}:
        out.append(f"{REGIMEN_CONFLICT}: approves the prescription but recommends other drugs")
    if endorsed and "allerg" in low:
        for phrase in stated_allergens(low):
            bad = next((x.drug for x in endorsed if x.drug and _conflict(x.drug, phrase)), None)
            if bad:
                out.append(f"recommends {bad} despite the {phrase} allergy it states")
                break
    return out


def _close(x: float | None, y: float | None) -> bool:
    return x is None or y is None or abs(x - y) <= DOSE_TOLERANCE * max(abs(x), abs(y))


@lru_cache(maxsize=8192)
def _conflict(drug: str, allergy: str) -> bool:
    return load_kb().allergy_conflict(drug, [allergy]) is not None


def _same_regimen(a: tuple[Dose, ...], b: tuple[Dose, ...]) -> bool:
    """The same drugs at the same dose, frequency and duration (a part one side leaves out does not differ)."""
    if {d.drug for d in a} != {d.drug for d in b} or None in {d.drug for d in a}:
        return False
    for x in a:
        y = next(d for d in b if d.drug == x.drug)
        if x.route and y.route and x.route != y.route:
            return False
        if not all(_close(p, q) for p, q in ((x.dose_mg, y.dose_mg), (x.dose_mg_per_kg, y.dose_mg_per_kg),
                                            (x.dose_units, y.dose_units), (x.interval_h, y.interval_h),
                                            (x.duration_days, y.duration_days))):
            return False
    return True


def _echo(ctx: CaseContext, toks: list[str]) -> set[int]:
    """Positions of tokens inside a run copied verbatim from the case's patient lines (ctx.echo)."""
    if not ctx.echo or len(toks) < ECHO_TOKENS:
        return set()
    out: set[int] = set()
    ends, last = ctx.echo_ends, ECHO_TOKENS - 1
    for i in range(len(toks) - last):
        # the (first, last) token pair of a run is a cheap test before the run itself is looked up
        if (toks[i], toks[i + last]) in ends and tuple(toks[i:i + ECHO_TOKENS]) in ctx.echo:
            out.update(range(i, i + ECHO_TOKENS))
    return out


def read(ctx: CaseContext, out: Output | str) -> Reading:
    """Read a parsed completion (or its text) against the case."""
    if isinstance(out, str):
        from amr_grpo.output_format import read_output

        out = read_output(out)
    v, layout = out.validation, out.layout
    steps = tuple(s for s in v.steps if s.strip())
    steps_text = " ".join(steps)
    text = steps_text + " " + (v.recommended_regimen or "")
    text_tokens = all_tokens = tokens(text)
    echoed = _echo(ctx, text_tokens)
    if echoed:  # facts copied verbatim from the case are not stated: read the text without the copied runs
        text_tokens = [w for i, w in enumerate(text_tokens) if i not in echoed]
        text = " ".join(text_tokens)
    low = text.lower()
    norm = " " + " ".join(text_tokens) + " "
    endorsed = endorsed_regimen(ctx, v)
    regimen_check = ctx.check(endorsed)

    # what the output names anywhere: its statements and its reference field (where text past the format lands)
    raw_tokens = all_tokens + tokens(v.reference) if v.reference else all_tokens
    every = drugs_in(raw_tokens)  # named anywhere in the output (the reference line rarely names a drug)
    unrelated_drugs = [d for d in every if d not in ctx.related_drugs]
    syndromes = syndromes_named(text_words(raw_tokens))
    unrelated_syndromes = sorted(syndromes - ctx.related_syndromes - ({ctx.syndrome.key} if ctx.syndrome else set()))
    unrelated: list[str] = []
    void: set[str] = set()  # evidence that does not count: the drug or syndrome names drowned in stuffing
    if len(unrelated_drugs) > MAX_UNRELATED_DRUGS:
        unrelated.append(f"names {len(unrelated_drugs)} drugs unrelated to the case")
        void.add("drugs")
    elif len(every) > MAX_DRUGS:
        unrelated.append(f"names {len(every)} drugs")
        void.add("drugs")
    if len(unrelated_syndromes) > MAX_UNRELATED_SYNDROMES:
        unrelated.append(f"names {len(unrelated_syndromes)} other syndromes")
        void.add("syndromes")
    beyond = ""
    if layout.extra_words or layout.repeated_headers:
        beyond = f"{layout.extra_words} words beyond the format" + (
            " (repeated headers)" if layout.repeated_headers else "")

    named = every
    stated, misstated = _stated_items(ctx, norm, low, named, regimen_check, v, void, text_words(text_tokens))
    kinds = {r.kind for r in ctx.risks}
    major_renal = any(r.kind == "renal" and r.major for r in ctx.risks) or any(
        r.kind == "renal" and r.major for d in endorsed or () if d.drug for r in ctx.drug_risks(d.drug, d.route))
    denied = tuple(k for k, rx in DENIES.items() if k in kinds and any(a in low for a in DENY_ANCHORS[k])
                   and rx.search(low) and (k != "renal" or major_renal))
    critical = list(regimen_check.contraindicated)
    critical += [f"{d}: renal dose not adjusted" for d in regimen_check.renal_unadjusted]
    critical += [f"{d}: above twice the guideline's largest dose" for d in regimen_check.overdosed]
    if endorsed == () and not ctx.no_antibiotic and ctx.serious and ctx.options:
        critical.append("withholds the antibiotic the guideline gives for a serious infection")
    endorsed_drugs = {d.drug for d in endorsed or () if d.drug}
    names_endorsed = not endorsed_drugs or (endorsed_drugs <= named and "drugs" not in void)
    patient_step = any(w in low for w in ("allerg", "renal", "kidney", "crcl", "egfr", "pregnan", "interact",
                                          "weight", "age", "hepatic", "liver", "contraindicat"))
    return Reading(v, layout, steps, text, endorsed, regimen_check, frozenset(stated), tuple(misstated), denied,
                   tuple(_contradictions(ctx, v, steps_text, endorsed)), tuple(unrelated), beyond, tuple(critical),
                   names_endorsed, patient_step)
