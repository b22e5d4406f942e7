"""What an output's text states about the patient and the case, read with the case's own values in mind: a renal
value or band, a gestation, ages, the allergens it says the patient has, the drugs and syndromes it names. Each
reader is cheap (a verdict must cost microseconds) and treats a list of values as no reading at all.
Try it: python -c "from amr_grpo.judge.rules.statements import renal_stated as r; print(r('crcl below 30', 27.8))"
"""

from __future__ import annotations

import re
from functools import lru_cache

from amr_grpo.guidelines import load_kb
from amr_grpo.guidelines.text import singular
from amr_grpo.guidelines.text import words as kb_words
from amr_grpo.judge.rules.checklist import needle, normalise, tokens
from amr_grpo.judge.rules.context import FIRST_TRIMESTER_END
from amr_grpo.judge.rules.regimen import INTERVAL_WORDS

_F = 0  # every pattern runs on lower-cased text: the same answers as re.IGNORECASE, faster
MAX_VALUES = 2  # more distinct renal values, gestations or ages than this is a list, not a reading of the patient
TERM_WEEKS = 37.0

# Statements that deny a risk factor the case has ("calls it safe").
DENIES = {
    "allergy": re.compile(r"\bno\s+(?:known\s+)?(?:drug\s+)?allerg|\bnkda\b|allerg\w*\s*[:=-]?\s*(?:none|nil)\b|"
                          r"\bnot\s+allergic", _F),
    "pregnancy": re.compile(r"\bnot\s+pregnant|\bnon-?pregnant|\bpregnancy\s*[:=-]\s*(?:no|none|nil)\b", _F),
    "renal": re.compile(r"\bnormal\s+(?:renal|kidney)\s+function|(?:renal|kidney)\s+function\s+(?:is\s+)?"
                        r"(?:normal|preserved|adequate)|\bno\s+renal\s+(?:impairment|issues?)", _F),
    "interaction": re.compile(r"\bno\s+(?:significant\s+|known\s+|relevant\s+|major\s+)?(?:drug[- ]?)?"
                              r"(?:drug\s+)?interact|\bno\s+interacting", _F),
}
DENY_ANCHORS = {"allergy": ("allerg", "nkda"), "pregnancy": ("pregnan",), "renal": ("renal", "kidney"),
                 "interaction": ("interact",)}
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
PREGNANT = re.compile(r"\bpregnan|\bgestation|\bantenatal|\btrimester|\bgravid|\bpog\b|\bg\d\s*p\d", _F)
NOT_PREGNANT = re.compile(r"\b(?:not|non)[- ]?pregnant|\bpregnancy\s*[:=-]\s*(?:no|none|nil)\b", _F)
_WEEKS = re.compile(r"\b(\d{1,2})(?:\s*\+\s*\d)?\s*(?:weeks?|wks?)\b", _F)
_TRIMESTER = re.compile(r"\b(1st|first|2nd|second|3rd|third)\s+trimester|\b(?:near|at)\s+term\b", _F)
CLAUSE_END = re.compile(r"[.;\n]")
def renal_stated(low: str, value: float) -> tuple[bool, bool]:
    """(states the value or a band holding it, states a value or band that does not hold it)."""
    hit = miss = False
    values = set()
    # only the clauses that can hold a renal value are searched (a regex that opens on a digit scans every position)
    near = ";".join(c for c in CLAUSE_END.split(low) if any(a in c for a in _RENAL_ANCHORS))
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


def pregnancy_stated(low: str, weeks: float | None) -> tuple[bool, bool]:
    if not PREGNANT.search(low):
        return False, False
    if weeks is None:
        return True, False
    hit = miss = False
    near = " ".join(low[max(0, m.start() - 40): m.end() + 40] for m in PREGNANT.finditer(low))
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


def syndromes_named(words: set[str]) -> set[str]:
    index = _syndrome_phrases()
    return {key for w in words & index.keys() for ws, key in index[w] if ws <= words}


@lru_cache(maxsize=1)
def frequency_needles() -> dict[str, float]:
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
    for clause in CLAUSE_END.split(text):
        if "allerg" not in clause and "hypersensitiv" not in clause or DENIES["allergy"].search(clause):
            continue
        for m in _ALLERGEN.finditer(clause):
            phrase = (m.group(1) or m.group(2) or "").strip()
            before = clause[max(0, m.start() - 12):m.start()].split()[-2:]
            if phrase and phrase.split()[0] not in _NOT_ALLERGENS and not _NOT_ASSERTED & set(before):
                out.append(phrase)
    return tuple(dict.fromkeys(out))


def claimed_allergies(low: str) -> frozenset[str]:
    """The allergy groups the output says the patient has."""
    out: set[str] = set()
    for phrase in stated_allergens(low):
        out |= allergy_groups(phrase)
    return frozenset(out)


# An age in normalise()d text: "28-year-old", "28 yo", "28/F" (-> " 28 f "), "age 52".
_AGE = re.compile(r" (\d{1,3}) (?:years?|yrs?|yo|y|m|f)(?= )| age[ds]? (\d{1,3})(?= )")


def ages(norm: str) -> set[float]:
    return {float(m.group(1) or m.group(2)) for m in _AGE.finditer(norm)}


