"""Where the patient is treated (ICU, ward, ED, OPD, nursing home) and how ill they are (mild, moderate, severe, or
unknown), from the words and vital signs of a note.

Severity rests on signs the note states: qSOFA (RR >= 22, SBP <= 100, altered mentation), shock (SBP < 90, MAP < 65,
vasopressors), hypoxia (SpO2 < 90%, ventilation), CURB-65, a stated 'severe'. One qSOFA sign or SpO2 90-93% is
moderate; vital signs given with none of these is mild; no vital signs and no statement is unknown (None), never
silently mild. Try it:
  python -c "from amr_grpo.reading.severity import severity; print(severity('RR 28, BP 96/58, confused', []))"
"""

from __future__ import annotations

import re

from amr_grpo.reading.context import Mention
from amr_grpo.reading.facts import Evidence, _ev

_F = re.IGNORECASE
SETTING_ORDER = ("ICU", "ward", "nursing home", "ED", "OPD")  # the most acute setting named wins
_NOT_ED = re.compile(r"^\s*(?:laparotomy|surgery|lscs|caesarean|cesarean|c-section|operation|procedure)", _F)

_RR = re.compile(r"\b(?:rr|resp(?:iratory)?\.?\s*rate)\s*(?:of|is|was|=|:|-)?\s*(\d{1,2})(?!\.\d|\s*%)", _F)
_BP = re.compile(r"\b(?:bp|blood\s+pressure|sbp)\s*(?:of|is|was|=|:|-)?\s*(\d{2,3})(?:\s*/\s*(\d{2,3}))?", _F)
_MAP = re.compile(r"\bmap\s*(?:of|is|was|=|:|-)?\s*(\d{2,3})\b", _F)
_SPO2 = re.compile(r"\b(?:spo2|sao2|sp\s*o2|o2\s*sat(?:uration)?s?|sats?|oxygen\s+saturation)\s*(?:of|is|was|=|:|-)?\s*"
                   r"(\d{2,3})\s*%?", _F)
_HR = re.compile(r"\b(?:hr|pr|pulse(?:\s+rate)?|heart\s+rate)\s*(?:of|is|was|=|:|-)?\s*(\d{2,3})\b", _F)
_GCS = re.compile(r"\bgcs\s*(?:of|is|was|=|:|-)?\s*(\d{1,2})\b", _F)
_CURB = re.compile(r"\bcurb[- ]?65\s*(?:score)?\s*(?:of|is|was|=|:|-)?\s*(\d)\b", _F)
_LACTATE = re.compile(r"\blactate\s*(?:of|is|was|=|:|-)?\s*(\d{1,2}(?:\.\d+)?)", _F)
_STABLE = re.compile(r"\b(?:vitals?|vital\s+signs|observations|obs)\s*(?:are|were|:)?\s*(?:stable|normal|"
                     r"within\s+normal\s+limits|wnl)\b|\b(?:haemo|hemo)dynamically\s+stable\b|\bnormal\s+vital\s+signs\b",
                     _F)
_STATED_SEVERE = re.compile(r"(?<!non-)(?<!non )\bsevere(?:ly\s+ill)?\b|\bcritically\s+ill\b", _F)
_STATED_MILD = re.compile(r"\bmild\b", _F)


def setting(mentions: list[Mention], text: str) -> tuple[str | None, Evidence | None]:
    """The most acute setting the note names for this episode (affirmed mentions only)."""
    found: dict[str, Mention] = {}
    for m in mentions:
        if m.label != "SETTING" or not m.affirmed or m.key in found:
            continue
        if m.key == "ED" and m.text.lower() == "emergency" and _NOT_ED.match(text[m.end:]):
            continue  # 'emergency laparotomy' is not the emergency department
        found[m.key] = m
    for key in SETTING_ORDER:
        if key in found:
            m = found[key]
            return key, _ev("setting", key, text, (m.start, m.end))
    return None, None


def severity(text: str, mentions: list[Mention], diagnosis: str = "") -> tuple[str | None, list[str], list[Evidence]]:
    """(mild | moderate | severe | None, the signs it rests on, their spans)."""
    signs: list[str] = []
    ev: list[Evidence] = []
    severe = moderate = mild = False
    qsofa = 0

    def sign(label: str, m: re.Match[str] | tuple[int, int]) -> None:
        signs.append(label)
        ev.append(_ev("severity_signs", label, text, m))

    vitals = False
    if m := _RR.search(text):
        vitals = True
        if int(m.group(1)) >= 22:
            qsofa += 1
            sign(f"RR {m.group(1)}", m)
    # the lowest systolic pressure the note gives: hypotension at any reading counts (qSOFA, shock)
    if m := min(_BP.finditer(text), key=lambda x: int(x.group(1)), default=None):
        vitals = True
        sbp = int(m.group(1))
        if sbp < 90:
            severe = True
        if sbp <= 100:
            qsofa += 1
            sign(f"SBP {sbp}", m)
    if (m := _MAP.search(text)) and int(m.group(1)) < 65:
        severe = True
        sign(f"MAP {m.group(1)}", m)
    if m := _SPO2.search(text):
        vitals = True
        value = int(m.group(1))
        if value < 90:
            severe = True
            sign(f"SpO2 {value}%", m)
        elif value <= 93:
            moderate = True
            sign(f"SpO2 {value}%", m)
    if _HR.search(text):
        vitals = True
    altered = next((x for x in mentions if x.label == "SEVERITY" and x.key == "altered mentation" and x.affirmed), None)
    gcs = _GCS.search(text)
    if altered or (gcs and int(gcs.group(1)) < 15):
        qsofa += 1
        sign(altered.text.lower() if altered else f"GCS {gcs.group(1)}",
             (altered.start, altered.end) if altered else gcs)
    for x in mentions:
        if x.label == "SEVERITY" and x.key in ("shock", "ventilated") and x.affirmed:
            severe = True
            sign(x.text.lower(), (x.start, x.end))
    if (m := _LACTATE.search(text)) and float(m.group(1)) >= 4:
        severe = True
        sign(f"lactate {m.group(1)}", m)
    if m := _CURB.search(text):
        score = int(m.group(1))
        sign(f"CURB-65 {score}", m)
        severe, moderate, mild = severe or score >= 3, moderate or score == 2, mild or score <= 1
    if m := _STATED_SEVERE.search(diagnosis):
        severe = True
        signs.append(f"stated '{m.group(0).lower()}'")
    if qsofa >= 2:
        severe = True
    elif qsofa == 1:
        moderate = True
    if severe:
        return "severe", signs, ev
    if moderate:
        return "moderate", signs, ev
    if m := _STABLE.search(text):
        signs.append(m.group(0).lower())
        ev.append(_ev("severity_signs", m.group(0), text, m))
        mild = True
    if mild or vitals or _STATED_MILD.search(diagnosis):
        return "mild", signs, ev
    return None, signs, ev
