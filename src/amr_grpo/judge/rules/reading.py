"""One completion read against a case context, once: what it endorses, which checklist items it states with their
case-specific content, which patient values it gets wrong, what it denies, where it contradicts itself, what it
stuffs in, and which critical errors it makes. Every metric check reads this record.
Try it:
  python -c "from amr_grpo.judge.rules import case_context as c; from amr_grpo.judge.rules.reading import read; \
print(read(c('Dx: cystitis. Rx: nitrofurantoin 100 mg PO BD', None), 'Step 1 - x: cystitis\\nDecision: Approve'))"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from amr_grpo.guidelines import load_kb
from amr_grpo.guidelines.text import singular
from amr_grpo.guidelines.text import words as kb_words
from amr_grpo.judge.rules.checklist import Matcher, needle, normalise, tokens
from amr_grpo.judge.rules.context import ECHO_TOKENS, FIRST_TRIMESTER_END, CaseContext, RegimenCheck
from amr_grpo.judge.rules.regimen import DOSE_TOLERANCE, INTERVAL_WORDS
from amr_grpo.output_format import Layout, Output, as_prescribed, no_regimen
from amr_grpo.records import Decision, Dose, Validation

_F = 0  # every pattern below runs on lower-cased text: the same answers as re.IGNORECASE, faster
MAX_UNRELATED_DRUGS = 3  # naming more drugs than this that have nothing to do with the case is stuffing
MAX_UNRELATED_SYNDROMES = 2
REGIMEN_CONFLICT = "the decision and the regimen disagree"
MAX_DRUGS = 6  # naming more distinct drugs than this is a list, whatever they are
MAX_DOSES = 5  # more distinct dose amounts than this is a list of doses, not a reading of the prescription
MAX_FREQUENCIES = 3  # the prescribed one and a two-drug regimen's are three; a list of every frequency is more
MAX_VALUES = 2  # more distinct renal values, gestations or ages than this is a list, not a reading of the patient
TERM_WEEKS = 37.0

# Statements that deny a risk factor the case has ("calls it safe").
_DENIES = {
    "allergy": re.compile(r"\bno\s+(?:known\s+)?(?:drug\s+)?allerg|\bnkda\b|allerg\w*\s*[:=-]?\s*(?:none|nil)\b|"
                          r"\bnot\s+allergic", _F),
    "pregnancy": re.compile(r"\bnot\s+pregnant|\bnon-?pregnant|\bpregnancy\s*[:=-]\s*(?:no|none|nil)\b", _F),
    "renal": re.compile(r"\bnormal\s+(?:renal|kidney)\s+function|(?:renal|kidney)\s+function\s+(?:is\s+)?"
                        r"(?:normal|preserved|adequate)|\bno\s+renal\s+(?:impairment|issues?)", _F),
    "interaction": re.compile(r"\bno\s+(?:significant\s+|known\s+|relevant\s+|major\s+)?(?:drug[- ]?)?"
                              r"(?:drug\s+)?interact|\bno\s+interacting", _F),
}
_DENY_ANCHORS = {"allergy": ("allerg", "nkda"), "pregnancy": ("pregnan",), "renal": ("renal", "kidney"),
                 "interaction": ("interact",)}
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
_RENAL_STATEMENT = re.compile(
    r"\b(?:crcl|cr\s?cl|creatinine\s+clearance|clcr|e?gfr)\b[^0-9<>\n;]{0,16}?"
    r"(?P<cmp><=?|>=?|\u2264|\u2265|below|under|less\s+than|above|over|greater\s+than)?\s*"
    r"(?P<a>\d{1,3}(?:\.\d+)?)(?:\s*(?:-|to|\u2013)\s*(?P<b>\d{1,3}))?|"
    r"(?P<c>\d{1,3}(?:\.\d+)?)\s*ml\s*/\s*min", _F)
_RENAL_BANDS = ((re.compile(r"\b(?:end[- ]stage|esrd|kidney\s+failure|on\s+dialysis|ckd\s+(?:stage\s+)?5)\b", _F),
                 0.0, 15.0),
                (re.compile(r"\bsevere\s+(?:renal|kidney)\s+impairment\b", _F), 0.0, 30.0),
                (re.compile(r"\bmoderate\s+(?:renal|kidney)\s+impairment\b", _F), 30.0, 60.0),
                (re.compile(r"\bmild\s+(?:renal|kidney)\s+impairment\b", _F), 60.0, 90.0))
_RENAL_ANCHORS = ("cr", "gfr", "clearance", "ml")  # every renal statement holds one of these
_BAND_ANCHORS = ("impairment", "stage", "dialysis", "esrd", "failure")
_PREGNANT = re.compile(r"\bpregnan|\bgestation|\bantenatal|\btrimester|\bgravid|\bpog\b", _F)
_NOT_PREGNANT = re.compile(r"\b(?:not|non)[- ]?pregnant|\bpregnancy\s*[:=-]\s*(?:no|none|nil)\b", _F)
_WEEKS = re.compile(r"\b(\d{1,2})(?:\s*\+\s*\d)?\s*(?:weeks?|wks?)\b", _F)
_TRIMESTER = re.compile(r"\b(1st|first|2nd|second|3rd|third)\s+trimester|\b(?:near|at)\s+term\b", _F)
_DOSE_IN_NORM = re.compile(r" (\d+(?:\.\d+)?) (?:mg|g|gm|mcg|mu|iu|units?) ")
_CLAUSE_END = re.compile(r"[.;\n]")


@dataclass(frozen=True)
class Reading:
    v: Validation
    layout: Layout
    steps: tuple[str, ...]
    text: str  # steps + recommended regimen: where statements count
    endorsed: tuple[Dose, ...] | None
    rc: RegimenCheck
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


def _renal_stated(low: str, value: float) -> tuple[bool, bool]:
    """(states the value or a band holding it, states a value or band that does not hold it)."""
    hit = miss = False
    values = set()
    # only the clauses that can hold a renal value are searched (a regex that opens on a digit scans every position)
    near = ";".join(c for c in _CLAUSE_END.split(low) if any(a in c for a in _RENAL_ANCHORS))
    for m in _RENAL_STATEMENT.finditer(near):
        a = float(m.group("a") or m.group("c"))
        values.add(a)
        cmp, b = (m.group("cmp") or "").lower(), m.group("b")
        if b:
            ok = a <= value <= float(b)
        elif cmp and cmp[0] in "<\u2264bul":
            ok = value < a or (value == a and "=" in cmp)
        elif cmp:
            ok = value > a or (value == a and "=" in cmp)
        else:
            ok = abs(a - value) <= max(1.0, 0.05 * value)
        hit, miss = hit or ok, miss or not ok
    for rx, lo, hi in _RENAL_BANDS if any(a in low for a in _BAND_ANCHORS) else ():
        if rx.search(low):
            ok = lo <= value < hi
            hit, miss = hit or ok, miss or not ok
    if len(values) > MAX_VALUES:  # a list of values is not a reading of the patient
        return False, True
    return hit, miss


def _trimester_of(weeks: float) -> str:
    return "1" if weeks < FIRST_TRIMESTER_END else "2" if weeks < 28 else "3"


def _pregnancy_stated(low: str, weeks: float | None) -> tuple[bool, bool]:
    if not _PREGNANT.search(low):
        return False, False
    if weeks is None:
        return True, False
    hit = miss = False
    near = " ".join(low[max(0, m.start() - 40): m.end() + 40] for m in _PREGNANT.finditer(low))
    stated = {float(m.group(1)) for m in _WEEKS.finditer(near)}  # beside the pregnancy ("for 2 weeks" is a duration)
    if len(stated) > MAX_VALUES:
        return False, True
    for w in stated:
        ok = abs(w - weeks) <= 1
        hit, miss = hit or ok, miss or not ok
    for m in _TRIMESTER.finditer(low):
        t = m.group(1)
        ok = weeks >= TERM_WEEKS - 1 if t is None else _trimester_of(weeks) == t[0].replace("f", "1").replace(
            "s", "2").replace("t", "3")
        hit, miss = hit or ok, miss or not ok
    return hit, miss


@lru_cache(maxsize=1)
def _syndrome_phrases() -> dict[str, tuple[tuple[frozenset[str], str], ...]]:
    """Anchor word -> (all the words of a syndrome name, its key), for names of two or more words: finding which
    syndromes a text names costs one dict lookup per word of the text."""
    kb = load_kb()
    index: dict[str, list[tuple[frozenset[str], str]]] = {}
    for s in kb.syndromes:
        for name in (s.name, *s.synonyms):
            ws = frozenset(w for w in kb_words(name) if len(w) >= 3)
            if len(ws) >= 2:
                anchor = max(ws, key=len)
                index.setdefault(anchor, []).append((ws, s.key))
    return {k: tuple(v) for k, v in index.items()}


_singular = lru_cache(maxsize=65536)(singular)  # a bounded vocabulary: each word's singular is worked out once


def text_words(toks: list[str]) -> set[str]:
    """The distinct words of a token list with the singular of each plural added (as the knowledge base's names
    are indexed): a subset test against a name's words then finds 'urinary tract infections'."""
    words = set(toks)
    return words | {_singular(w) for w in words if w[-1] == "s"}


@lru_cache(maxsize=1)
def _drug_names() -> dict[str, tuple[tuple[tuple[str, ...], str], ...]]:
    """First token -> (the tokens of a drug name, abbreviation or brand, its drug key), longest first. Each name is
    indexed as written ('pip', 'taz') and run together ('piptaz'), as clinicians write it both ways."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for d in load_kb().drugs:
        for name in (d.key, d.name, *d.synonyms):
            toks = tuple(tokens(name))
            for form in {toks, ("".join(toks),)}:
                index.setdefault(form[0], []).append((form, d.key))
    return {k: tuple(sorted(set(v), key=lambda x: -len(x[0]))) for k, v in index.items()}


def drugs_in(toks: list[str]) -> set[str]:
    """Drug keys named in a token list: the longest name at each mention ('amoxicillin clavulanic acid', not also
    'amoxicillin'), written apart or run together, a plural as its singular. One dict lookup per token rather than
    the knowledge base's regex: a verdict must cost microseconds."""
    index = _drug_names()
    found: set[str] = set()
    for i, tok in enumerate(toks):
        forms = index.get(tok)
        if forms is None and tok[-1] == "s":
            forms = index.get(tok[:-1])
        if forms is None:
            continue
        if len(forms[0][0]) == 1:  # longest first: every name starting here is this one word
            found.add(forms[0][1])
            continue
        here = toks[i:i + len(forms[0][0])]
        for form, key in forms:
            got = tuple(here[:len(form)])
            if got == form or (len(got) == len(form) and got[:-1] + (got[-1][:-1],) == form):
                found.add(key)
                break
    return found


def _syndromes_named(words: set[str]) -> set[str]:
    index = _syndrome_phrases()
    return {key for w in words & index.keys() for ws, key in index[w] if ws <= words}


@lru_cache(maxsize=1)
def _frequency_needles() -> dict[str, float]:
    return {needle(w): h for h, ws in INTERVAL_WORDS.items() for w in ws}


@lru_cache(maxsize=1)
def _allergen_needles() -> tuple[tuple[str, str], ...]:
    """(needle, allergy group) for every allergy term of the knowledge base ('sulpha' -> sulfonamide)."""
    terms = load_kb().raw.allergy_terms
    return tuple((needle(t), g) for g, ts in terms.items() for t in (g, *ts) if len(t) >= 3)


@lru_cache(maxsize=4096)
def allergy_groups(text: str) -> frozenset[str]:
    """The allergy groups a text names ('sulpha drugs' -> {sulfonamide}; a drug name -> its own group)."""
    kb, norm = load_kb(), normalise(text)
    out = {g for n, g in _allergen_needles() if n in norm}
    out.update(d.allergy_groups[0] for k in kb.find_drugs(text) if (d := kb.drug(k)) and d.allergy_groups)
    return frozenset(out)


_ALLERGEN = re.compile(r"([a-z][a-z-]{2,}(?:\s+drugs?)?)[- ]+(?:allergy|allergic|allergies|hypersensitivity)\b|"
                       r"\ballerg(?:y|ic|ies)\s*(?:to|:|-|=)\s*([a-z][a-z -]{2,}?)"
                       r"(?=\s*[,;.(]|\s+(?:with|and|but)\b|$)")
_NOT_ALLERGENS = frozenset({"no", "known", "drug", "any", "true", "documented", "reported", "severe", "mild", "with",
                            "the", "of", "her", "his", "a", "an", "nkda", "none", "nil"})


_NOT_ASSERTED = frozenset({"no", "not", "for", "if", "in", "without", "unless", "or", "denies", "nor"})


@lru_cache(maxsize=4096)
def stated_allergens(text: str) -> tuple[str, ...]:
    """The allergens a lower-cased text says the patient has: 'penicillin-allergic', 'sulfa allergy', 'allergic to
    cephalosporins', 'allergy: penicillins (hives)'; clauses that deny an allergy ('no known drug allergy') and
    allergies spoken of as a condition ('clarithromycin only for penicillin allergy') name none."""
    out: list[str] = []
    for clause in _CLAUSE_END.split(text):
        if "allerg" not in clause and "hypersensitiv" not in clause or _DENIES["allergy"].search(clause):
            continue
        for m in _ALLERGEN.finditer(clause):
            phrase = (m.group(1) or m.group(2) or "").strip()
            before = clause[max(0, m.start() - 12):m.start()].split()[-2:]
            if phrase and phrase.split()[0] not in _NOT_ALLERGENS and not _NOT_ASSERTED & set(before):
                out.append(phrase)
    return tuple(dict.fromkeys(out))


def _claimed_allergies(low: str) -> frozenset[str]:
    """The allergy groups the output says the patient has."""
    out: set[str] = set()
    for phrase in stated_allergens(low):
        out |= allergy_groups(phrase)
    return frozenset(out)


# An age in normalise()d text: "28-year-old", "28 yo", "28/F" (-> " 28 f "), "age 52".
_AGE = re.compile(r" (\d{1,3}) (?:years?|yrs?|yo|y|m|f)(?= )| age[ds]? (\d{1,3})(?= )")


def _ages(norm: str) -> set[float]:
    return {float(m.group(1) or m.group(2)) for m in _AGE.finditer(norm)}


def _patient_stated(ctx: CaseContext, norm: str, low: str) -> bool:
    """The patient's age or weight stated (a list of ages is not a reading of this patient); without either, a name
    from the patient's lines. (The renal value and the other risks count through their own items.)"""
    p = ctx.case.patient
    ages = _ages(norm)
    if p.age is not None and p.age in ages and len(ages) <= MAX_VALUES:
        return True
    if p.weight_kg is not None and needle(f"{p.weight_kg:g} kg") in norm:
        return True
    if p.age is None and p.weight_kg is None and p.renal_function() is None:
        m = next((m for m in ctx.matchers if m.key == "patient"), None)
        return bool(m) and any(n in norm for n in m.needles)
    return False


def _stated_items(ctx: CaseContext, norm: str, low: str, named: set[str], rc: RegimenCheck, v: Validation,
                  void: set[str], words: set[str]) -> tuple[set[str], list[str]]:
    stated: set[str] = set()
    misstated: list[str] = []
    freq = _frequency_needles()
    if ctx.value_evidence:  # only a case whose items name a frequency or a dose needs the list checks
        if len({h for n, h in freq.items() if n in norm}) > MAX_FREQUENCIES:
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
            ok, miss = _renal_stated(low, m.value)
            if miss and not ok:
                misstated.append(f"renal function (the case gives {m.value:g} mL/min)")
        elif m.how == "pregnancy":
            ok, miss = _pregnancy_stated(low, m.value)
            if miss and not ok:
                misstated.append(f"gestation (the case gives {m.value:g} weeks)")
        elif m.how == "patient":  # decided below: a risk stated with its value reads the patient too
            continue
        elif m.how == "regimen":
            ok = rc.score >= 4
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
    if "allerg" in low and (claims := _claimed_allergies(low)):
        if not ctx.case.patient.allergies:
            misstated.append("allergies (the case lists none)")
        elif len(claims - ctx.allergy_groups) > MAX_VALUES:
            misstated.append("allergies (it lists allergies the case does not have)")
            stated -= {m.key for m in ctx.matchers if m.kind == "allergy"}
    if ctx.case.patient.pregnant is False and _PREGNANT.search(low) and not _NOT_PREGNANT.search(low) and (
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
    rc = ctx.check(endorsed)

    # what the output names anywhere: its statements and its reference field (where text past the format lands)
    raw_tokens = all_tokens + tokens(v.reference) if v.reference else all_tokens
    every = drugs_in(raw_tokens)  # named anywhere in the output (the reference line rarely names a drug)
    unrelated_drugs = [d for d in every if d not in ctx.related_drugs]
    syndromes = _syndromes_named(text_words(raw_tokens))
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
    stated, misstated = _stated_items(ctx, norm, low, named, rc, v, void, text_words(text_tokens))
    kinds = {r.kind for r in ctx.risks}
    major_renal = any(r.kind == "renal" and r.major for r in ctx.risks) or any(
        r.kind == "renal" and r.major for d in endorsed or () if d.drug for r in ctx.drug_risks(d.drug, d.route))
    denied = tuple(k for k, rx in _DENIES.items() if k in kinds and any(a in low for a in _DENY_ANCHORS[k])
                   and rx.search(low) and (k != "renal" or major_renal))
    critical = list(rc.contraindicated)
    critical += [f"{d}: renal dose not adjusted" for d in rc.renal_unadjusted]
    critical += [f"{d}: above twice the guideline's largest dose" for d in rc.overdosed]
    if endorsed == () and not ctx.no_antibiotic and ctx.serious and ctx.options:
        critical.append("withholds the antibiotic the guideline gives for a serious infection")
    endorsed_drugs = {d.drug for d in endorsed or () if d.drug}
    names_endorsed = not endorsed_drugs or (endorsed_drugs <= named and "drugs" not in void)
    patient_step = any(w in low for w in ("allerg", "renal", "kidney", "crcl", "egfr", "pregnan", "interact",
                                          "weight", "age", "hepatic", "liver", "contraindicat"))
    return Reading(v, layout, steps, text, endorsed, rc, frozenset(stated), tuple(misstated), denied,
                   tuple(_contradictions(ctx, v, steps_text, endorsed)), tuple(unrelated), beyond, tuple(critical),
                   names_endorsed, patient_step)
