"""Split a clinical note into its labelled parts: diagnosis / impression / assessment, prescription / plan, current
medicines, allergies, past and family history, examination, investigations.

No installable sectionizer fits beside spaCy 3.8 (medspaCy's pins an older spaCy and numpy < 2), so this is a small
one of our own: a label is a known heading at a line start or after a sentence end ('Dx:', 'Imp -', 'A/P:',
'Current meds:', 'Past history:'), or a heading with a colon inside a line ('... Diagnosis: CAP').
Try it: python -c "from amr_grpo.reading.sections import sections; print(sections('45/M. Dx: CAP. Rx: amoxicillin 1 g TDS'))"
"""

from __future__ import annotations

import re
from dataclasses import dataclass


LABELS: dict[str, str] = {
    "diagnosis": r"(?:provisional|final|working|clinical|admitting|discharge|principal|primary)\s+(?:dx|diagnosis)|"
                 r"dx|diagnosis|diagnoses|impression|imp|assessment(?:\s+(?:and|&)\s+plan)?|a\s*/\s*p|a\s*&\s*p|"
                 r"indication|syndrome|a",
    "prescription": r"rx|prescription|prescribed|treatment(?:\s+(?:given|prescribed|started|plan))?|orders?|plan|"
                    r"regimen|advised|advice|antibiotics?(?:\s+(?:prescribed|on\s+discharge|given))?|course|"
                    r"management|mx|discharge\s+rx|current\s+antibiotics?|p",
    "medications": r"(?:current|regular|home|ongoing|usual)\s+(?:medications?|medicines?|meds|drugs)|"
                   r"(?:discharge\s+)?medications?(?:\s+(?:on|at)\s+discharge)?|medicines|meds|drug\s+history|"
                   r"dhx|dh|drug\s+hx",
    "allergies": r"(?:drug\s+)?allerg(?:y|ies)",
    "family": r"family\s+(?:history|h\s*/\s*o|hx)|fh",
    "past": r"past\s+(?:medical\s+|surgical\s+)?history|medical\s+history|pmhx?|past\s+hx|k\s*/\s*c\s*/\s*o|"
            r"co-?morbidit(?:y|ies)|background",
    "history": r"history(?:\s+of\s+present(?:ing)?\s+illness)?|hpi|hx|presenting\s+complaints?|c\s*/\s*o|pc|hpc|s",
    "exam": r"o\s*/\s*e|on\s+examination|(?:physical\s+)?exam(?:ination)?|o",
    "vitals": r"vitals|vital\s+signs|observations|obs",
    "labs": r"labs?|investigations?|ix|bloods|c\s*/\s*s|(?:urine|blood|sputum|pus|csf|stool)?\s*cultures?|urine\s+r\s*/\s*m|"
            r"renal\s+function",
    "setting": r"setting|location|unit",
    "patient": r"patient|pt|name|age\s*/\s*sex|profile|presentation|clinical\s+details",
}
_KIND = {k: re.compile(v, re.I) for k, v in LABELS.items()}
_ANY = "|".join(f"(?:{v})" for v in LABELS.values())
# A heading: at a line start (after bullets) or after . ; | and spaces, followed by ':' or ' - '; or mid-line with ':'.
_HEADING = re.compile(
    rf"(?:(?:^|(?<=[\n.;|]))[ \t*#>-]*(?P<label>{_ANY})\s*(?::|\s-\s|-(?=\s))|(?<=\s)(?P<inline>{_ANY})\s*:)",
    re.I | re.MULTILINE,
)


@dataclass(frozen=True)
class Section:
    kind: str  # a key of LABELS, or "text" for unlabelled text
    title: str
    start: int  # the body's character span in the note
    end: int

    def body(self, text: str) -> str:
        return text[self.start:self.end]


# A sentence end: '. ' before a capital (not after 'Tab.', 'S.', 'Dr.' ...), '.' or ':' at a line end, a blank line.
_END = re.compile(r"\.(?=[ \t]+[^\s\d])|[ \t]*\|[ \t]|[.:]?[ \t]*\n[ \t]*\n|(?<=[.])[ \t]*\n|(?<![,\s])[ \t]*\n(?=[ \t]*[A-Z])")
_ABBREV = re.compile(r"(?:\b(?:tab|tabs|inj|cap|caps|syp|syr|mrs|vs|dr|mr|ms|no|st|approx|prov|temp|wt|pt|yrs?|"
                     r"sr|hr|resp|sat|sats|max|min|e\.g|i\.e|etc)|\b[A-Za-z])$", re.I)


def sentence_end(text: str, start: int) -> int:
    """Where the sentence that starts at `start` ends: '. ' before a word (not after 'Tab.', 'S.', 'Dr.'), a
    full stop at a line end, a line break before a capital (not after a comma), or a blank line."""
    for m in _END.finditer(text, start):
        if m.group(0) == "." and _ABBREV.search(text, max(0, m.start() - 8), m.start()):
            continue
        return m.start()
    return len(text)


def _kind(label: str) -> str:
    label = re.sub(r"\s+", " ", label.strip())
    return next(k for k, rx in _KIND.items() if rx.fullmatch(label))


def sections(text: str) -> list[Section]:
    """The note's parts in order; text before the first heading (and unlabelled notes) is kind 'text'."""
    marks = [m for m in _HEADING.finditer(text)]
    out: list[Section] = []
    first = marks[0].start() if marks else len(text)
    if text[:first].strip():
        out.append(Section("text", "", 0, first))
    for i, m in enumerate(marks):
        label = m.group("label") or m.group("inline")
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        kind = _kind(label)
        start = m.end()
        if kind in ("diagnosis", "setting", "allergies", "medications", "family", "past", "prescription"):
            end = min(end, sentence_end(text, start))  # 'Dx: CAP. Started on ...' -> 'CAP'

        out.append(Section(kind, label.strip(), start, end))
        nxt = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        if end < nxt and text[end:nxt].strip():
            out.append(Section("text", "", end, nxt))
    return out
