"""Clinical mentions in free text and their context, on spaCy + negspacy (NegEx).

A blank English spaCy pipeline (no model download) with a sentence splitter for clinical notes, a SpanRuler whose
target rules are the knowledge base's syndrome and drug names (with synonyms) plus setting and severity words, and
four NegEx passes (negspacy) with their own termsets: negated ("denies", "no", "r/o" ...), historical ("history of",
"h/o", "last year", "2 years ago" ...), hypothetical ("if", "rule out", "return if" ...) and family ("mother",
"family history of" ...). medspaCy's ConText would do the same but pins spaCy < 3.8 and numpy < 2, so negspacy's
NegEx is reused four times instead. The pipeline is built once per process (lazily) and spaCy's logging is quiet.
Try it: python -c "from amr_grpo.reading.context import mentions; print(mentions('Denies dysuria. h/o UTI 6 months ago. Dx: CAP'))"
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache

from amr_grpo.guidelines import load_kb

CONTEXTS = ("negated", "historical", "hypothetical", "family")

# Termsets. negspacy's clinical termset is the base for "negated"; the others are ours (the usual ConText cues).
_TERMINATION = ["but", "however", "although", "though", "except", "apart from", "aside from", "which", "yet",
                "presents", "presented", "presenting", "presents with", "now", "currently", "admitted", "came",
                "today", "c / o", "complains", "complaining", "reports", "diagnosis", "impression", "assessment",
                "plan", "dx", "imp", "rx", "started", "given", "treated with", "on examination", "o / e", "since"]
_EXTRA_NEGATIONS = ["no h / o", "no history of", "no known", "nil", "not known", "denies any", "free of",
                    "negative for", "no evidence of", "excluded", "ruled out", "non", "not a", "without any"]
_HISTORICAL = {
    "preceding": ["history of", "h / o", "hx of", "past history of", "past history", "previous", "previously",
                  "prior", "prior history of", "was treated for", "treated for", "had", "recovered from",
                  "past medical history", "pmh", "s / p", "status post", "in the past", "recurrent"],
    "following": ["years ago", "year ago", "months ago", "month ago", "yrs ago", "yrs back", "years back",
                  "year back", "months back", "month back", "last year", "last month", "in the past",
                  "as a child", "in childhood", "years earlier", "months earlier", "previously"],
}
_HYPOTHETICAL = {
    "preceding": ["if", "in case", "should", "rule out", "r / o", "to rule out", "risk of", "unless",
                  "return if", "watch for", "in the event of", "to exclude", "prophylaxis against", "refer to",
                  "referred to", "consult"],
    # a referral or consult asks for a setting; it is not yet where the patient is ('ICU referral')
    "following": ["unlikely", "to be ruled out", "to be excluded", "is possible later", "referral", "consult",
                  "consultation", "review"],
}
_FAMILY = {
    "preceding": ["family history of", "family h / o", "family history", "fh of", "mother", "father", "brother",
                  "sister", "son", "daughter", "sibling", "parents", "grandmother", "grandfather", "household",
                  "contact with", "wife", "husband", "his wife", "her husband"],
    "following": ["in the family", "in family", "in household", "( father )", "( mother )"],
}
_PSEUDO = ["no further", "not only", "no change", "gram negative", "not certain whether", "no increase",
           "without difficulty", "not ruled out", "not rule out", "h / o presenting"]

# Setting and severity words (the values here are what Case.setting / severity signs report).
SETTING_WORDS = {
    "ICU": ["icu", "micu", "sicu", "picu", "intensive care", "intensive care unit", "critical care", "hdu",
            "high dependency unit", "intensive therapy unit", "itu"],
    "ward": ["ward", "wards", "admitted", "admit", "admission", "inpatient", "in-patient", "hospitalised",
             "hospitalized", "ipd", "labour ward", "labor ward", "labour room"],
    "ED": ["emergency department", "ed", "a&e", "a & e", "casualty", "emergency room", "er", "emergency"],
    "OPD": ["opd", "clinic", "outpatient", "out-patient", "walk-in centre", "walk-in center", "urgent care", "gp",
            "general practitioner", "primary care", "polyclinic", "health centre", "health center", "dispensary"],
    "nursing home": ["nursing home", "care home", "long-term care facility", "long term care facility",
                     "residential care", "aged care facility", "old age home", "assisted living", "ltcf"],
}
SEVERITY_WORDS = {
    "altered mentation": ["confused", "confusion", "new confusion", "drowsy", "altered sensorium",
                          "altered mental status", "altered mentation", "disoriented", "obtunded", "obtundation",
                          "unresponsive", "delirious", "delirium", "encephalopathic", "stuporous"],
    "shock": ["septic shock", "shock", "on noradrenaline", "on norad", "noradrenaline", "norepinephrine",
              "vasopressin", "vasopressors", "vasopressor", "inotropes", "on pressors", "dopamine infusion"],
    "ventilated": ["intubated", "ventilated", "mechanical ventilation", "on ventilator", "niv", "bipap",
                   "ards", "respiratory failure"],
}


@dataclass(frozen=True)
class Mention:
    """One target found in the text: label (SYNDROME, DRUG, SETTING, SEVERITY), the KB key or word class it names,
    its character span, and the contexts that set it aside (empty = an affirmed, current, patient's own mention)."""

    label: str
    key: str
    start: int
    end: int
    text: str
    contexts: tuple[str, ...] = ()

    @property
    def affirmed(self) -> bool:
        return not self.contexts


_LETTER_HYPHEN = re.compile(r"(?<=[A-Za-z])[-\u2010\u2011\u2013](?=[A-Za-z])")


def _variants(name: str) -> set[str]:
    """A name as it may be written: as is, with hyphens as spaces, last word plural."""
    base = _LETTER_HYPHEN.sub(" ", name.strip().lower())
    out = {base}
    if base and base[-1].isalpha() and len(base) > 3 and not base.endswith("s"):
        out.add(base[:-1] + "ies" if base.endswith("y") else base + "s")
    return out


def _patterns() -> list[dict]:
    kb = load_kb()
    pats: list[dict] = []
    for s in kb.syndromes:
        for name in (s.key.replace("_", " "), s.name, *s.synonyms):
            pats += [{"label": "SYNDROME", "pattern": v, "id": f"s:{s.key}"} for v in _variants(name)]
    for g, names in kb.raw.groups.items():
        pats += [{"label": "SYNDROME", "pattern": v, "id": f"g:{g}"} for n in names for v in _variants(n)]
    for d in kb.drugs:
        for name in (d.key, d.name, *d.synonyms):
            pats += [{"label": "DRUG", "pattern": v, "id": d.key} for v in _variants(name) if len(v) > 2]
    for setting, ws in SETTING_WORDS.items():
        pats += [{"label": "SETTING", "pattern": v, "id": setting} for w in ws for v in _variants(w)]
    for sign, ws in SEVERITY_WORDS.items():
        pats += [{"label": "SEVERITY", "pattern": v, "id": sign} for w in ws for v in _variants(w)]
    return pats


@lru_cache(maxsize=1)
def pipeline():
    """The spaCy pipeline, built once per process."""
    logging.getLogger("spacy").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="spacy")
    import spacy
    from negspacy.negation import Negex  # noqa: F401  (registers the "negex" factory)
    from negspacy.termsets import termset

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer", config={"punct_chars": [".", "!", "?", ";", "\n", "\n\n", "|"]})
    ruler = nlp.add_pipe("span_ruler", config={"spans_key": "targets", "phrase_matcher_attr": "LOWER"})
    ruler.add_patterns(_patterns())
    base = termset("en_clinical").get_patterns()
    negated = {"pseudo_negations": base["pseudo_negations"] + _PSEUDO,
               "preceding_negations": base["preceding_negations"] + _EXTRA_NEGATIONS,
               "following_negations": base["following_negations"] + ["-ve", "negative", "absent", "not seen"],
               "termination": base["termination"] + _TERMINATION + ["h / o", "history of", "k / c / o", "known case of"]}
    passes = {"negated": negated}
    for name, ts in (("historical", _HISTORICAL), ("hypothetical", _HYPOTHETICAL), ("family", _FAMILY)):
        passes[name] = {"pseudo_negations": _PSEUDO, "preceding_negations": ts["preceding"],
                        "following_negations": ts["following"], "termination": _TERMINATION}
    for name, ts in passes.items():
        nlp.add_pipe("negex", name=f"context_{name}",
                     config={"neg_termset": ts, "extension_name": f"ctx_{name}", "span_keys": ["targets"]})
    return nlp


# spaCy's tokenizer peels prefixes and suffixes off a whitespace-free run one character at a time, copying the rest
# each time: a run of n symbols ('😀' x 20,000, the contract's largest field) costs O(n^2), minutes of CPU. No clinical
# word is this long, so a longer run is cut by a space every MAX_RUN characters (a replacement: offsets hold).
MAX_RUN = 64
_LONG_RUN = re.compile(rf"\S{{{MAX_RUN}}}")


def prepare_text(text: str) -> str:
    """The text the matcher reads: same length as `text` (offsets hold), letter-hyphen-letter read as a space, a
    whitespace-free run longer than MAX_RUN cut by a space."""
    return _LONG_RUN.sub(lambda m: m.group(0)[:-1] + " ", _LETTER_HYPHEN.sub(" ", text))


def mentions(text: str) -> list[Mention]:
    """Every target mention in text with its contexts, longest match first where two overlap (per label)."""
    from spacy.util import filter_spans

    doc = pipeline()(prepare_text(text))
    spans = list(doc.spans.get("targets", []))
    out: list[Mention] = []
    for label in ("SYNDROME", "DRUG", "SETTING", "SEVERITY"):
        for sp in filter_spans([s for s in spans if s.label_ == label]):
            ctx = tuple(c for c in CONTEXTS if sp._.get(f"ctx_{c}"))
            out.append(Mention(label, sp.id_, sp.start_char, sp.end_char, text[sp.start_char:sp.end_char], ctx))
    out.sort(key=lambda m: (m.start, m.label))
    return out
