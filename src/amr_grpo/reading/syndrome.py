"""Which knowledge-base syndrome a case is about, or 'unknown' with the candidates. Unknown beats wrong.

Only the diagnosis (a Dx / impression / assessment part of the note, a 'diagnosed with ...' sentence, or the
structured field) names the syndrome; mentions that are negated, historical, hypothetical or about family do not.
A generic name (CAP, cellulitis, sepsis) picks its group's entry by setting and severity (severe -> the ICU entry,
ward or ED -> the inpatient one, OPD or mild -> the outpatient one) and by what the note says (comorbidity,
Pseudomonas or MRSA risk, age over 50, a Centor score ...); when nothing decides, the syndrome stays unknown.
A 'no antibiotic' entry is taken only when the diagnosis names it and the patient is not severely ill; viral and
bacterial qualifiers are respected; two different indications in one diagnosis leave it unknown.
Try it: python -c "from amr_grpo.reading.syndrome import *; print(resolve(syndrome_mentions('CAP'), '', 'ICU', None, 67, 'CAP'))"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from amr_grpo.guidelines import Syndrome, load_kb
from amr_grpo.reading.context import Mention, mentions

RANK = {"OPD": 0, "ward": 1, "ICU": 2}
SETTING_RANK = {"OPD": 0, "ED": 1, "ward": 1, "nursing home": 1, "ICU": 2}
SEVERITY_RANK = {"mild": 0, "moderate": 1, "severe": 2}
SEPSIS_GROUP = "sepsis"


def _said(rx: str):
    return re.compile(rx, re.I)


# Tie-breaks inside a group: (member key, words that choose it). Checked on the note's affirmed sentences.
TIE_BREAKS: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    "cap": (("cap_opd_comorbidity", _said(r"\b(?:diabet\w*|dm\s*(?:2|ii)?|t2dm|ckd|chronic\s+(?:kidney|renal|liver|"
                                          r"heart|lung)|copd|heart\s+failure|ccf|chf|cirrhosis|alcohol\w*|"
                                          r"malignan\w*|cancer|asplenia|comorbid\w*)\b")),
            ("cap_icu_pseudomonas", _said(r"\b(?:bronchiectasis|structural\s+lung|pseudomonas|immunocompromised|"
                                          r"immunosuppress\w*|recent\s+hospitali[sz]ation|antibiotics?\s+in\s+the\s+"
                                          r"(?:last|previous|past)\s+90\s+days)\b"))),
    "cellulitis": (("cellulitis_mrsa_mild", _said(r"\bmrsa\b|\bpurulent\b")),
                   ("cellulitis_mrsa_severe", _said(r"\bmrsa\b|\bpurulent\b"))),
    "meningitis": (("meningitis_elderly_immunocompromised",
                    _said(r"\bimmuno(?:compromised|suppress\w*)|\btransplant\w*|\bhiv\b|\bchemotherapy\b|"
                          r"\bsteroids?\b|\blisteria\b")),),
    "hap_vap": (("hap_vap_mdr_risk", _said(r"\b(?:recent|prior|previous)\s+(?:bl\s*/\s*bli|carbapenem|meropenem|"
                                           r"imipenem|antibiotic\w*|pip\w*)|\breceived\s+(?:pip|mero|imi|carbapenem|"
                                           r"cefoperazone)\w*|\bmdr\s+risk|\bafter\s+(?:recent\s+)?(?:bl\s*/\s*bli|"
                                           r"carbapenem)")),),
    "sepsis": (("sepsis_hospital", _said(r"\bhospital[- ]acquired|\bnosocomial|\bhealthcare[- ]associated|"
                                         r"\bpost[- ]?op\w*|\bday\s+\d+\s+of\s+admission")),),
    "diarrhoea": (("diarrhoea_danger_signs", _said(r"\bblood\w*|\bdysenter\w*|\bmucus\b|\bhigh[- ]grade\s+fever|"
                                                   r"\bdanger\s+signs?|\bsepsis\b|\bsevere\s+dehydration")),
                  ("acute_watery_diarrhoea", _said(r"\bwatery\b|\brice[- ]water"))),
    "appendicitis": (("appendicitis_complicated", _said(r"\bperforat\w*|\babscess|\bgangren\w*|\bcomplicated\b|"
                                                        r"\bperitonitis")),
                     ("appendicitis_uncomplicated", _said(r"\buncomplicated\b|\bconservativ\w*"))),
    "sinusitis": (("sinusitis_complicated", _said(r"\bbacterial\b|\bcomplicated\b|\bdouble\s+worsening|"
                                                  r"\b(?:1[1-9]|[2-9]\d)\s+days|\bpersistent\b|\borbital\b")),
                  ("sinusitis_uncomplicated", _said(r"\b(?:[1-9]|10)\s+days\b"))),
    "epididymo_orchitis": (("epididymo_orchitis_young", _said(r"\bsexually\s+active|\bsti\b|\burethral\s+discharge|"
                                                              r"\bchlamydia|\bgonorrh")),
                           ("epididymo_orchitis_older", _said(r"\belderly\b|\bstructural\b|\bcatheter|\bbph\b|"
                                                              r"\bprostat"))),
    "surgical_prophylaxis": (("surgical_prophylaxis_colorectal",
                              _said(r"\bcolorectal\b|\bcolectomy\b|\bbowel\b|\bcolon\w*|\brect\w*|\bsigmoid\b|"
                                    r"\bsmall\s+intestine")),),
    "obstetric_sepsis": (("chorioamnionitis", _said(r"\bchorio\w*|\bintra-?amniotic|\bin\s+labou?r\b")),
                         ("septic_abortion", _said(r"\babortion|\bmiscarriage|\btermination")),
                         ("puerperal_sepsis", _said(r"\bpost-?partum|\bpuerper\w*|\bafter\s+(?:a\s+)?(?:caesarean|"
                                                    r"cesarean|vaginal)?\s*delivery|\bpost[- ]?(?:lscs|caesarean)"))),
}
# When one diagnosis names several entries, the more specific one describes the case ('urosepsis from CAUTI' is a
# CAUTI; 'diabetic foot infection with cellulitis' a DFI; febrile neutropenia drives the regimen whatever its focus).
SUBSUMES: dict[str, tuple[str, ...]] = {
    "cauti": ("pyelonephritis", "cystitis_uncomplicated"),
    "pyelonephritis": ("cystitis_uncomplicated",),
    "diabetic_foot": ("cellulitis", "osteomyelitis_acute"),
    "necrotizing_fasciitis": ("cellulitis",),
    "febrile_neutropenia": ("*",),
    "infective_endocarditis": ("*",),
}
_FEVER_DAYS = re.compile(r"\bday\s*(\d{1,2})\b|(?:fever|febrile)[^.;\n]{0,30}?(?:x|for|since|of)\s*(\d{1,2})\s*"
                         r"(?:days?|d)\b|(\d{1,2})\s*(?:days?|d)\s+(?:of|h/o)\s+fever|(\d)\s*/\s*7", re.I)
_CENTOR = re.compile(r"\bcentor\s*(?:score)?\s*(?:of|is|was|=|:|-)?\s*(\d)", re.I)
_VIRAL = re.compile(r"\bviral\b|\bvirus\b|\binfluenza\b|\bcovid\b|\bdengue\b", re.I)
_BACTERIAL = re.compile(r"\bbacterial\b|\bpyogenic\b|\bpurulent\b|\bstreptococcal\b|\bgonococcal\b", re.I)
_ITEM_END = re.compile(r"[,;:\n(]|\b(?:and|with|plus)\b", re.I)  # where one item of a diagnosis list ends
_DIAGNOSED = re.compile(r"\b(?:diagnosed\s+(?:with|as)|diagnosis\s+(?:of|is|was)|(?:was|is)\s+consistent\s+with|"
                        r"in\s+keeping\s+with|suggestive\s+of|treated\s+as|managed\s+as)\s+([^.;\n]+)", re.I)


@dataclass
class SyndromeReading:
    key: str | None
    candidates: list[str] = field(default_factory=list)
    why: str = ""
    evidence: list[Mention] = field(default_factory=list)


def level(setting: str | None, severity: str | None) -> int | None:
    """0 outpatient, 1 inpatient (ward), 2 intensive care; None when neither setting nor severity is known."""
    if severity == "severe":
        return 2
    if setting in ("OPD", "ward", "ICU"):
        return SETTING_RANK[setting]
    if setting in ("ED", "nursing home"):
        return 0 if severity == "mild" and setting == "ED" else 1
    return SEVERITY_RANK.get(severity) if severity else None


def _affirmed_in(rx: re.Pattern[str], text: str) -> bool:
    """The words are said in a sentence that does not deny them ('no antibiotics in the last 90 days')."""
    for m in rx.finditer(text):
        before = text[max(0, m.start() - 40):m.start()]
        clause = re.split(r"[.;,\n]", before)[-1]
        if not re.search(r"\b(?:no|not|denies|without|nil|non)\b", clause, re.I):
            return True
    return False


def _choose(group: str, members: list[Syndrome], lvl: int | None, note: str, age: float | None) -> list[Syndrome]:
    ranked = [s for s in members if s.setting in RANK]
    if ranked and len({s.setting for s in ranked}) > 1:
        if lvl is None:
            return members
        best = min(abs(RANK[s.setting] - lvl) for s in ranked)
        members = [s for s in ranked if abs(RANK[s.setting] - lvl) == best]
        if len({RANK[s.setting] for s in members}) > 1:  # equally near above and below: take the higher
            top = max(RANK[s.setting] for s in members)
            members = [s for s in members if RANK[s.setting] == top]
    if len(members) == 1:
        return members
    keys = {s.key for s in members}
    if group == "pharyngitis" and (m := _CENTOR.search(note)):
        return [s for s in members if s.key == ("pharyngitis_centor3" if int(m.group(1)) >= 3 else
                                                "pharyngitis_centor_low")]
    if group == "meningitis" and age is not None and age > 50:
        return [s for s in members if s.key == "meningitis_elderly_immunocompromised"]
    if group == "epididymo_orchitis" and age is not None:
        return [s for s in members if s.key == ("epididymo_orchitis_young" if age < 35 else "epididymo_orchitis_older")]
    chosen = [key for key, rx in TIE_BREAKS.get(group, ()) if key in keys and _affirmed_in(rx, note)]
    if chosen:
        return [s for s in members if s.key == chosen[0]]
    rules = {key for key, _ in TIE_BREAKS.get(group, ())}
    # the member no tie-break word is needed for; never a 'no antibiotic' entry from a generic name
    default = [s for s in members if s.key not in rules and not s.no_antibiotic]
    if group in ("cap", "cellulitis", "meningitis", "hap_vap", "sepsis", "surgical_prophylaxis") and len(default) == 1:
        return default
    return members


def _sibling(kb, s: Syndrome, diagnosis: str) -> Syndrome:
    """A named entry, or the sibling of the same setting that the diagnosis qualifies ('hospital-acquired septic
    shock' is hospital-acquired sepsis; 'mild cellulitis, MRSA' the MRSA entry)."""
    for key, rx in TIE_BREAKS.get(s.group, ()):
        other = kb.syndrome(key)
        if other and other.key != s.key and other.setting == s.setting and _affirmed_in(rx, diagnosis):
            return other
    return s


def _fever_days(note: str) -> int | None:
    m = _FEVER_DAYS.search(note)
    return int(next(g for g in m.groups() if g)) if m else None


def diagnosis_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of an unlabelled note that state a diagnosis ('was diagnosed with ...', 'consistent with ...')."""
    return [(m.start(1), m.end(1)) for m in _DIAGNOSED.finditer(text)]


def resolve(dx_mentions: list[Mention], note: str, setting: str | None, severity: str | None, age: float | None,
            diagnosis_text: str = "") -> SyndromeReading:
    """The syndrome named by the affirmed diagnosis mentions, chosen within its group by setting and severity."""
    kb = load_kb()
    out = SyndromeReading(None)
    affirmed = [m for m in dx_mentions if m.label == "SYNDROME" and m.affirmed]
    out.candidates = _keys(kb, [m for m in dx_mentions if m.label == "SYNDROME"])
    current = _current_text(diagnosis_text, [m for m in dx_mentions if not m.affirmed])
    viral, bacterial = _VIRAL.search(current), _BACTERIAL.search(current)
    kept: list[Mention] = []
    for m in affirmed:
        s = kb.syndrome(m.key[2:]) if m.key.startswith("s:") else None
        no_abx = bool(s and s.no_antibiotic)
        if viral and not no_abx and not _VIRAL.search(m.text):
            if _VIRAL.search(_before(diagnosis_text, note, m)):
                out.why = f"a viral qualifier on '{m.text}', which the knowledge base has as bacterial"
                return out  # 'viral pneumonia', 'influenza pneumonia': neither the bacterial entry nor 'no antibiotic'
            continue  # 'common cold, viral URTI ... sore throat': a symptom beside a viral diagnosis
        if bacterial and no_abx and not _BACTERIAL.search(m.text):
            continue
        kept.append(m)
    focal = [m for m in kept if _group(kb, m) != SEPSIS_GROUP]
    kept = focal or kept
    if not kept:
        out.why = "no knowledge-base syndrome in the diagnosis" if diagnosis_text.strip() else "no diagnosis stated"
        return out
    targets: dict[str, list[Mention]] = {}
    for m in kept:
        targets.setdefault(_group(kb, m) or m.key[2:], []).append(m)
    for t in list(targets):
        for other in SUBSUMES.get(t, ()):
            for k in [k for k in targets if k != t and (other == "*" or k == other)]:
                del targets[k]
    if len(targets) > 1:
        out.why = "the diagnosis names more than one indication: " + ", ".join(m.text for m in kept)
        return out
    (group, ms), = targets.items()
    out.evidence = ms
    specific = [m for m in ms if m.key.startswith("s:")]
    lvl = level(setting, severity)
    if specific:
        choice = [_sibling(kb, kb.syndrome(specific[-1].key[2:]), diagnosis_text)]
    else:
        choice = _choose(group, list(kb.group_members(group)), lvl, note, age)
    if len(choice) != 1:
        out.candidates = [s.key for s in choice]
        out.why = f"'{ms[0].text}' fits {len(choice)} entries and the note does not say which (setting, severity)"
        return out
    s = choice[0]
    if s.no_antibiotic and severity == "severe":
        out.candidates = [s.key]
        out.why = f"'{s.name}' needs no antibiotic but the patient is severely ill"
        return out
    if s.key == "aufi_day1_2" and ((days := _fever_days(note)) is None or days > 2):
        out.candidates = [s.key]
        out.why = "undifferentiated fever, but not stated to be day 1-2"
        return out
    out.key = s.key
    out.candidates = []
    context = ", ".join(x for x in (setting, severity) if x)
    out.why = f"'{ms[0].text}' in the diagnosis" + (f" ({context})" if context and not specific else "")
    return out


def _current_text(diagnosis: str, set_aside: list[Mention]) -> str:
    """The diagnosis without the clauses of its negated, historical or hypothetical mentions: 'h/o viral URTI last
    week' does not make today's sepsis viral."""
    for m in set_aside:
        i = diagnosis.find(m.text)
        if i >= 0:
            a = max((diagnosis.rfind(c, 0, i) for c in ";.\n"), default=-1) + 1
            ends = [j for c in ";.\n" if (j := diagnosis.find(c, i + len(m.text))) >= 0]
            b = min(ends, default=len(diagnosis))
            diagnosis = diagnosis[:a] + " " * (b - a) + diagnosis[b:]
    return diagnosis


def _before(diagnosis: str, note: str, m: Mention) -> str:
    """The two words before a mention in its own item of the diagnosis (in the note it was found in, else in the
    diagnosis string): 'viral pneumonia' -> 'viral'; in 'viral URTI, sore throat' nothing qualifies the sore throat
    (a comma, semicolon or 'and' ends the item before it)."""
    src = note if note[m.start:m.end] == m.text else diagnosis if diagnosis[m.start:m.end] == m.text else ""
    item = _ITEM_END.split(src[:m.start])[-1]
    return " ".join(item.split()[-2:])


def _group(kb, m: Mention) -> str:
    if m.key.startswith("g:"):
        return m.key[2:]
    s = kb.syndrome(m.key[2:])
    return s.group if s else ""


def _keys(kb, ms: list[Mention]) -> list[str]:
    out: list[str] = []
    for m in ms:
        keys = [s.key for s in kb.group_members(m.key[2:])] if m.key.startswith("g:") else [m.key[2:]]
        out += [k for k in keys if k not in out]
    return out


def syndrome_mentions(text: str) -> list[Mention]:
    """The syndrome mentions of a diagnosis given on its own (a structured 'diagnosis' field)."""
    return [m for m in mentions(text) if m.label == "SYNDROME"]
