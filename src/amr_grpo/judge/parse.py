"""Parse a policy completion into a Validation record (the output format of DESIGN.md, "Contracts").

    Step N - Title: text          (6-8 steps)
    Decision: Approve | Modify | Reject
    Recommended regimen: <drug dose route frequency duration>
    Reference: <guideline, section>

Tolerant of markdown (bold, headers, bullets, block quotes), case, numbering styles ("Step 1:", "1.", "**Step 1 -**",
"Step one"), spacing, and headers whose value is on the next line. It never guesses: a missing, unreadable or
self-contradicting decision gives parse_ok=False with the reason in `problems`.
Try it:
  python -c "from amr_grpo.judge.parse import parse_validation as p; print(p('Step 1 - x: y\\nDecision: **Modify**'))"
"""

from __future__ import annotations

import re
from functools import lru_cache

from amr_grpo.records import Decision, Dose, Validation

# Markdown decoration around a line: headers, block quotes, bullets (not numbering: that is a step marker).
_LEAD = re.compile(r"^[\s>#]*(?:[-*+\u2022\u25aa\u2013\u2014](?=\s)\s*)?")
_EMPH = re.compile(r"\*\*|__|`|(?<![\w*])\*(?!\s)|(?<=\S)\*(?![\w*])")
_SPACES = re.compile(r"[ \t\u00a0]+")
_LEAD_CHARS = frozenset(" \t>#-*+\u2022\u25aa\u2013\u2014\u00a0")
# First letters of each header kind (lower case): a line is matched against a header regex only if it starts so.
_DECISION_FIRST, _REGIMEN_FIRST, _REFERENCE_FIRST = frozenset("fodv"), frozenset("rspcfa"), frozenset("rcsg")

_WORD_NUMBERS = "one|two|three|four|five|six|seven|eight|nine|ten"
# "Step 1 - Title: text", "Step 1: text", "Step one. text", "STEP 2)"; also bare "1." / "1)" / "(1)" numbering.
_STEP = re.compile(
    rf"^(?:step\s*(?P<n>\d{{1,2}}|{_WORD_NUMBERS})\b\s*[-\u2013\u2014:.)]?|\(?(?P<m>\d{{1,2}})\s*[.):]\s)"
    r"\s*(?P<body>.*)$",
    re.IGNORECASE,
)
# Header lines (after decoration is stripped). The value may be empty: it is then on the next line.
_SEP = r"\s*(?::|[-\u2013\u2014](?!\w)|=)\s*"  # ":", " - " (not "decision-making"), "="
_DECISION = re.compile(r"^(?:final\s+|overall\s+)?(?:decision|verdict)" + _SEP + r"(?P<v>.*)$", re.I)
_REGIMEN = re.compile(
    r"^(?:recommended|suggested|proposed|corrected|final)?\s*(?:antibiotic\s+|antimicrobial\s+)?regimen"
    r"\s*(?::|[-\u2013\u2014](?!\w)|=)\s*(?P<v>.*)$",
    re.I,
)
_REFERENCE = re.compile(r"^(?:references?|citations?|sources?|guideline\s+reference)" + _SEP + r"(?P<v>.*)$", re.I)
_DECISION_WORD = re.compile(r"\b(approved?|modif(?:y|ied|ication)|reject(?:ed)?)\b", re.I)
# "None", "N/A", "no antibiotic", "not applicable", "-": a regimen field that deliberately names no drug.
_NO_REGIMEN = re.compile(
    r"^(?:none|nil|n/?a|-+|not\s+applicable|not\s+required|no\s+(?:antibiotics?|antimicrobials?|antibacterials?|"
    r"regimen)(?:\s+(?:is\s+)?(?:needed|indicated|required))?)(?=\s*(?:$|[.;,:(\-\u2013]))",
    re.I,
)
# "As prescribed", "No change", "Continue current regimen": the prescription itself is endorsed.
_AS_PRESCRIBED = re.compile(
    r"^(?:(?:same\s+)?as\s+prescribed|no\s+change|unchanged|continue(?:\s+(?:the\s+)?(?:same|current|prescribed)"
    r"(?:\s+regimen)?|\s+as\s+prescribed)?)(?=\s*(?:$|[.;,:(\-\u2013]))",
    re.I,
)
_TRAILING_PUNCT = re.compile(r"[\s.;,]+$")
_NEGATION = re.compile(r"\b(?:not|don'?t|do\s+not|cannot|can'?t|never)\b", re.I)
_ALTERNATIVE = re.compile(
    r"^\W*(?:approved?|modif\w*|reject\w*)\s*(?:/|\bor\b|\band/or\b)\s*(?:approved?|modif\w*|reject\w*)", re.I
)

_DECISION_OF = {"approve": Decision.APPROVE, "modif": Decision.MODIFY, "reject": Decision.REJECT}


def clean_line(line: str) -> str:
    """One line without markdown decoration: '### **Step 1 -** Clinical' -> 'Step 1 - Clinical'."""
    if "*" in line or "_" in line or "`" in line:
        line = _EMPH.sub("", line)
    if line[:1] in _LEAD_CHARS:
        line = _LEAD.sub("", line)
    if "  " in line or "\t" in line or "\u00a0" in line:
        line = _SPACES.sub(" ", line)
    return line.strip()


def _decision_of(value: str, problems: list[str]) -> Decision | None:
    """The decision a decision line's value states: its leading word, or its only decision word.
    'Modify (do not approve as written)' -> Modify; 'Approve or Modify', 'not approved' -> None with a problem."""
    words = [(m.start(), m.group(1).lower()) for m in _DECISION_WORD.finditer(value)]
    if not words:
        problems.append(f"decision line names none of Approve/Modify/Reject: {value[:60]!r}")
        return None
    distinct = {next(v for k, v in _DECISION_OF.items() if w.startswith(k)) for _, w in words}
    first_at, first = words[0]
    if _NEGATION.search(value[:first_at]):
        problems.append(f"negated decision: {value[:60]!r}")
        return None
    if _ALTERNATIVE.match(value) or (first_at > 0 and len(distinct) > 1):
        problems.append("ambiguous decision: " + value[:60])
        return None
    return next(v for k, v in _DECISION_OF.items() if first.startswith(k))


def _read_decision(values: list[str], problems: list[str]) -> Decision | None:
    decisions: list[Decision] = []
    for value in values:
        n_problems = len(problems)
        d = _decision_of(value, problems)
        if d is None and len(problems) > n_problems and problems[-1].startswith(("ambiguous", "negated")):
            return None
        if d is not None and d not in decisions:
            decisions.append(d)
    if len(decisions) > 1:
        problems.append("two conflicting decisions: " + ", ".join(d.value for d in decisions))
        return None
    return decisions[0] if decisions else None


def no_regimen(text: str) -> bool:
    """True for a regimen field that deliberately names no drug: 'No antibiotic; ORS', 'None', 'N/A'."""
    return _NO_REGIMEN.match(text.strip()) is not None


def as_prescribed(text: str) -> bool:
    """True for a regimen field that endorses the prescription unchanged: 'As prescribed', 'No change'."""
    return _AS_PRESCRIBED.match(text.strip()) is not None


def _regimen(text: str | None) -> list[Dose]:
    if not text or no_regimen(text) or as_prescribed(text):
        return []
    return parse_regimen(text)


def parse_regimen(text: str | None) -> list[Dose]:
    """The KB's parse_prescription, cached per distinct text (the same regimen strings recur across completions)."""
    return list(_parse_prescription_cached(text)) if text and text.strip() else []


@lru_cache(maxsize=8192)
def _parse_prescription_cached(text: str) -> tuple[Dose, ...]:
    """The KB prescription parser, cached."""
    from amr_grpo.guidelines import parse_prescription  # imported late so parse.py loads without the KB

    return tuple(parse_prescription(text))


def parse_validation(text: str | None) -> Validation:
    """A completion -> Validation. parse_ok is True when exactly one decision is readable; other gaps
    (no steps, no reference, no regimen for Modify/Reject) are listed in `problems` without failing the parse."""
    raw = text if isinstance(text, str) else ""
    problems: list[str] = []
    if not raw.strip():
        return Validation(raw=raw, parse_ok=False, problems=["empty output"])

    steps: list[str] = []
    decision_values: list[str] = []
    regimen_parts: list[str] = []
    reference_parts: list[str] = []
    current: list[str] | None = None  # the field that continuation lines extend
    pending_decision = False  # a "Decision:" header with its value on the next line

    for line in raw.splitlines():
        s = clean_line(line)
        if not s:
            continue
        first = s[0].lower()
        m = _DECISION.match(s) if first in _DECISION_FIRST else None
        if m:
            value = _TRAILING_PUNCT.sub("", m.group("v"))
            if value:
                decision_values.append(value)
            pending_decision = not value
            current = None
            continue
        if pending_decision:
            decision_values.append(_TRAILING_PUNCT.sub("", s))
            pending_decision = False
            continue
        m = _REGIMEN.match(s) if first in _REGIMEN_FIRST else None
        if m:
            regimen_parts = [m.group("v")] if m.group("v") else []
            current = regimen_parts
            continue
        m = _REFERENCE.match(s) if first in _REFERENCE_FIRST else None
        if m:
            reference_parts = [m.group("v")] if m.group("v") else []
            current = reference_parts
            continue
        m = _STEP.match(s)
        if m and not decision_values:
            steps.append(m.group("body").strip())
            current = None
            continue
        if current is not None:
            current.append(s)
        elif steps and not decision_values:
            steps[-1] = (steps[-1] + " " + s).strip()

    if pending_decision:
        problems.append("decision line with no value")
    decision = _read_decision(decision_values, problems)
    if decision is None and not decision_values and not pending_decision:
        problems.append("no decision line")

    steps = [st for st in steps if st]
    if not steps:
        problems.append("no steps")
    recommended = " ".join(regimen_parts).strip() or None
    reference = " ".join(reference_parts).strip() or None
    if reference is None:
        problems.append("no reference")
    if recommended is None and decision in (Decision.MODIFY, Decision.REJECT):
        problems.append(f"no recommended regimen for {decision.value}")

    return Validation(
        raw=raw,
        steps=steps,
        decision=decision,
        recommended_regimen=recommended,
        regimen=_regimen(recommended),
        reference=reference,
        parse_ok=decision is not None,
        problems=problems,
    )
