"""The policy output format, in one place: its step constants, the instructions the policy reads, the writer
(format_validation), the parser (parse_validation) and the format reward (format_score).

    Step N - Title: text          (6-8 steps)
    Decision: Approve | Modify | Reject
    Recommended regimen: <drug dose route frequency duration>
    Reference: <guideline, section>

The parser is tolerant of markdown (bold, headers, bullets, block quotes), case, numbering styles ("Step 1:", "1.",
"**Step 1 -**", "Step one"), spacing, and headers whose value is on the next line. It never guesses: a missing,
unreadable or self-contradicting decision gives parse_ok=False with the reason in `problems`. A completion is read
once (`read_output`, cached per text), however many reward functions, counters and judges ask for it in a batch.
Try it:
  python -c "from amr_grpo.output_format import parse_validation as p; print(p('Step 1 - x: y\\nDecision: **Modify**'))"
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from amr_grpo.records import Decision, Dose, Validation

# ---- the format ------------------------------------------------------------------------------------------------
# The step titles of the reference format, in order (6-8 steps; these seven are the canonical set).
STEP_TITLES: tuple[str, ...] = (
    "Clinical picture",
    "Pathogen and setting",
    "Regimen choice",
    "Dose route frequency",
    "Duration",
    "Patient factors and safety",
    "Stewardship",
)
MIN_STEPS, MAX_STEPS = 6, 8
MIN_STEP_WORDS = 3  # a step needs its title and some text: 'Duration: 5 days'
# What the format has room for; words past these limits are "beyond the format" (they earn nothing and cost: a policy
# must not learn that length pays). Generous: the prompt asks for "one short sentence per step", and the longest step
# of a shipped reference validation is 28 words.
STEP_MAX_WORDS, REGIMEN_MAX_WORDS, REFERENCE_MAX_WORDS, PREAMBLE_MAX_WORDS = 40, 40, 50, 12

FORMAT_INSTRUCTIONS = (
    "Answer in exactly this format, one short sentence per step:\n"
    + "\n".join(f"Step {i} - {t}: ..." for i, t in enumerate(STEP_TITLES, 1))
    + "\nDecision: Approve | Modify | Reject\n"
    "Recommended regimen: <drug dose route frequency duration> (or: No antibiotic; <supportive care>)\n"
    "Reference: <guideline, section>"
)


def format_validation(
    steps: Sequence[tuple[str, str]],
    decision: Decision | str,
    regimen: str,
    reference: str,
) -> str:
    """Write a validation in the policy format.

    steps: (title, text) pairs, 6-8 of them; decision: a Decision or its name; regimen: for Approve the
    prescribed regimen, for "no antibiotic" 'No antibiotic; <supportive care>'; reference: 'guideline, section'.
    Raises ValueError on a step count outside 6-8, an unknown decision, or an empty part.
    """
    if not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise ValueError(f"a validation has {MIN_STEPS}-{MAX_STEPS} steps, got {len(steps)}")
    d = decision if isinstance(decision, Decision) else Decision.parse(decision)
    if d is None:
        raise ValueError(f"decision must be Approve, Modify or Reject, got {decision!r}")
    lines = []
    for i, (title, text) in enumerate(steps, 1):
        if not title.strip() or not text.strip():
            raise ValueError(f"step {i} has an empty title or text")
        lines.append(f"Step {i} - {_one_line(title)}: {_one_line(text)}")
    if not regimen.strip() or not reference.strip():
        raise ValueError("the recommended regimen and the reference must not be empty")
    lines.append(f"Decision: {d.value}")
    lines.append(f"Recommended regimen: {_one_line(regimen)}")
    lines.append(f"Reference: {_one_line(reference)}")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ---- the parser ------------------------------------------------------------------------------------------------

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
    from amr_grpo.guidelines import parse_prescription  # imported late so this module loads without the KB

    return tuple(parse_prescription(text))


@dataclass(frozen=True)
class Layout:
    """How a completion is laid out against the format (what format_score and the judge's length check read)."""

    n_steps: int
    once_each: bool  # Decision, Recommended regimen and Reference each exactly once
    ends_with_reference: bool  # nothing after the Reference line
    extra_words: int  # words beyond the format: past the Reference line, repeated headers, over-long parts
    repeated_headers: bool

    @property
    def exact(self) -> bool:
        return self.once_each and self.ends_with_reference and MIN_STEPS <= self.n_steps <= MAX_STEPS


@dataclass(frozen=True)
class Output:
    validation: Validation
    layout: Layout


def parse_validation(text: str | None) -> Validation:
    """A completion -> Validation. parse_ok is True when exactly one decision is readable; other gaps
    (no steps, no reference, no regimen for Modify/Reject) are listed in `problems` without failing the parse.
    The record is shared by every caller that reads the same text: treat it as read-only."""
    return read_output(text if isinstance(text, str) else "").validation


def format_score(text: str, truncated: bool = False) -> float:
    """The format reward: 1.0 = exactly the policy format, nothing beyond it; 0.5 = parses, but not exactly the
    format (a header missing or repeated, 6-8 steps not met, text after the Reference line, parts longer than the
    format has room for); 0.0 = unparseable, or cut off at the length cap (it never ended: a policy must not learn
    to fill the cap with lines the judge reads past)."""
    out = read_output(text)
    if truncated or not out.validation.parse_ok:
        return 0.0
    return 1.0 if out.layout.exact and not out.layout.extra_words else 0.5


@lru_cache(maxsize=8192)
def read_output(raw: str) -> Output:
    """Parse a completion once: its Validation and its Layout (cached per text: a batch asks several times)."""
    problems: list[str] = []
    if not raw.strip():
        return Output(Validation(raw=raw, parse_ok=False, problems=["empty output"]), Layout(0, False, False, 0, False))

    steps: list[str] = []
    decision_values: list[str] = []
    regimen_parts: list[str] = []
    reference_parts: list[str] = []
    current: list[str] | None = None  # the field that continuation lines extend
    pending_decision = False  # a "Decision:" header with its value on the next line
    headers = {"decision": 0, "regimen": 0, "reference": 0}
    last_kind = ""  # the kind of the last non-empty line: "step" | a header | "other"
    extra = 0  # words beyond the format
    preamble = 0
    after_reference = -1  # lines read since the (first) reference value; -1 = no reference yet

    for line in raw.splitlines():
        s = clean_line(line)
        if not s:
            continue
        if after_reference >= 0:
            after_reference += 1
            if after_reference > 1 or reference_parts:
                extra += s.count(" ") + 1
        first = s[0].lower()
        m = _DECISION.match(s) if first in _DECISION_FIRST else None
        if m:
            headers["decision"] += 1
            extra += s.count(" ") + 1 if headers["decision"] > 1 and after_reference < 0 else 0
            value = _TRAILING_PUNCT.sub("", m.group("v"))
            if value:
                decision_values.append(value)
            pending_decision = not value
            current, last_kind = None, "decision"
            continue
        if pending_decision:
            decision_values.append(_TRAILING_PUNCT.sub("", s))
            pending_decision = False
            continue
        m = _REGIMEN.match(s) if first in _REGIMEN_FIRST else None
        if m:
            headers["regimen"] += 1
            extra += s.count(" ") + 1 if headers["regimen"] > 1 and after_reference < 0 else 0
            regimen_parts = [m.group("v")] if m.group("v") else []
            current, last_kind = regimen_parts, "regimen"
            continue
        m = _REFERENCE.match(s) if first in _REFERENCE_FIRST else None
        if m:
            headers["reference"] += 1
            if after_reference < 0:
                after_reference = 0
            reference_parts = [m.group("v")] if m.group("v") else []
            current, last_kind = reference_parts, "reference"
            continue
        m = _STEP.match(s)
        if m and not decision_values:
            steps.append(m.group("body").strip())
            current, last_kind = None, "step"
            continue
        last_kind = "other" if current is None or last_kind not in ("regimen", "reference") else last_kind
        if current is not None:
            current.append(s)
        elif steps and not decision_values:
            steps[-1] = (steps[-1] + " " + s).strip()
        elif not steps:
            preamble += s.count(" ") + 1

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

    step_words = [st.count(" ") + 1 for st in steps]  # clean_line leaves single spaces
    extra += sum(max(0, n - STEP_MAX_WORDS) for n in step_words[:MAX_STEPS]) + sum(step_words[MAX_STEPS:])
    extra += max(0, (recommended or "").count(" ") + 1 - REGIMEN_MAX_WORDS) + max(0, preamble - PREAMBLE_MAX_WORDS)
    extra += max(0, (reference or "").count(" ") + 1 - REFERENCE_MAX_WORDS) if after_reference <= 1 else 0
    repeated = any(n > 1 for n in headers.values())
    layout = Layout(len(steps), all(n == 1 for n in headers.values()), last_kind == "reference", extra, repeated)
    v = Validation(
        raw=raw,
        steps=steps,
        decision=decision,
        recommended_regimen=recommended,
        regimen=_regimen(recommended),
        reference=reference,
        parse_ok=decision is not None,
        problems=problems,
    )
    return Output(v, layout)
