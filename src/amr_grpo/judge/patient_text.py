"""Read the patient facts a free-text case states, written the way Indian clinicians write them.

"45/M", "45 yo F", "G2P1 at 32 weeks", "pregnant, 2nd trimester", "k/c/o DM, HTN", "allergic to penicillin",
"NKDA", "CrCl 25 ml/min", "eGFR 40", "S. Cr 2.1 mg/dl" (+ age, weight, sex -> Cockcroft-Gault), "on warfarin,
sertraline", "c/s: E. coli sensitive to ...". Nothing is guessed: a fact the text does not state stays None / empty.
Try it: python -c "from amr_grpo.judge.patient_text import read_patient as r; print(r('70/M, 60 kg, S. Cr 2.1 mg/dl'))"
"""

from __future__ import annotations

import re

from amr_grpo.records import Patient

_F = re.IGNORECASE
_NUM = r"(\d{1,3}(?:\.\d+)?)"
_SEX_WORD = r"(m|f|male|female|man|woman|boy|girl|gentleman|lady)"

# ---- age, sex, weight ----
_AGE_SEX = re.compile(
    rf"\b(\d{{1,3}})\s*(?:[- ]?(?:y|yo|y/o|y\.o\.?|yrs?|years?)(?:[- ]?old)?)?\s*[/,-]?\s*{_SEX_WORD}\b"
    r"(?![/.]?\s*\d)", _F
)
_SEX_AGE = re.compile(r"\b(m|f|male|female)\s*[/,]?\s*(\d{1,3})\s*(?:y|yo|yrs?|years?)\b", _F)
_AGE = re.compile(r"\b(?:age[d]?\s*[:=]?\s*(\d{1,3})\b|(?<!for )(?<!since )(?<!x )(?<!past )(?<!last )"
                  r"(\d{1,3})\s*[- ]?(?:years?|yrs?|yo|y/o|y\.o\.|y(?=[- ]?old))(?:[- ]?old|\s+of\s+age)?(?!\w))", _F)
_TEMP_BEFORE = re.compile(r"\b(?:t|temp|temperature|fever(?:\s+of)?)\.?\s*[:=-]?\s*$", _F)
_SEX = re.compile(r"\b(?:sex|gender)\s*[:=-]?\s*(m|f|male|female)\b", _F)
_SEX_HINT = re.compile(r"\b(mrs?|ms|male|female|man|woman|lady|gentleman|boy|girl|he|she|his|her)\b\.?", _F)
_WEIGHT = re.compile(r"\b(?:wt|weight|body\s*weight|bw)\.?\s*(?:of|is|=|:|-)?\s*" + _NUM + r"\s*(?:kgs?)?\b"
                     r"|(?<![/\d.])" + _NUM + r"\s*kgs?\b(?!\s*/)", _F)

# ---- renal function ----
_LESS = r"(<|less\s+than|below|under)?\s*"
_CRCL = re.compile(r"\b(?:crcl|cr\.?\s*cl|ccr|creatinine\s+clearance|clcr)\b\s*"
                   r"(?:of|is|was|=|:|~|-|approx\.?|about)*\s*"
                   + _LESS + _NUM, _F)
_EGFR = re.compile(r"\be?gfr\b\s*(?:of|is|was|=|:|~|-|approx\.?|about)*\s*" + _LESS + _NUM, _F)
_SCR = re.compile(
    r"\b(?:s(?:erum|r)?\.?\s*)?(?:cr|creat|creatinine)\b(?!\.?\s*cl)(?!\s*clearance)\.?\s*(?:of|is|was|=|:|-)?\s*"
    r"(\d{1,4}(?:\.\d+)?)\s*(mg\s*/\s*d[li]|mg%|(?:µ|u|micro)mol(?:\s*/\s*l)?)?", _F,
)

# ---- pregnancy ----
_NOT_PREGNANT = re.compile(r"\b(?:not|non)[- ]?pregnant\b|\bupt\s*(?:is\s*)?(?:negative|-ve)\b|"
                           r"\bpregnancy\s+(?:test\s+)?(?:ruled\s+out|negative)\b|\b(?:postpartum|post-partum)\b", _F)
_PREGNANT = re.compile(r"\bpregnan(?:t|cy)\b|\bprimi(?:gravida)?\b|\bmultigravida\b|\bgravid\b|\bG\d+\s*P\d+|"
                       r"\bPOG\b|\bantenatal\b|\bgestation(?:al)?\b|\btrimester\b|"
                       r"\bupt\s*(?:is\s*)?(?:\+\s*ve|\+|positive)", _F)
_WEEKS = re.compile(
    r"(?:\b(?:pog|ga|gestation(?:al\s+age)?|at|of|lmp)\s*[:=]?\s*(\d{1,2})(?:\s*\+\s*\d)?\s*(?:wks?|weeks?)\b"
    r"|\b(\d{1,2})(?:\s*\+\s*\d)?\s*(?:wks?|weeks?)\s*(?:of\s+)?(?:pregnan\w*|gestation|pog|ga|amenorrh\w*)\b)", _F,
)
_TRIMESTER = re.compile(r"\b(1st|first|2nd|second|3rd|third)\s+trimester\b|\b(?:near|at)\s+term\b", _F)
# Trimester -> a week inside it (its midpoint), so trimester-specific rules classify it: 1st 1-13, 2nd 14-27, 3rd 28-40.
_TRIMESTER_WEEKS = {"1": 7.0, "f": 7.0, "2": 20.0, "s": 20.0, "3": 34.0, "t": 34.0}
TERM_WEEKS = 38.0  # "near term" / "at term"

# ---- allergies ----
NKDA = re.compile(r"\bnkda\b|\bnkma\b|\bno\s+known\s+(?:drug\s+)?allerg|\bno\s+(?:drug\s+)?allerg|"
                   r"\ballerg(?:y|ies)\s*[:=-]\s*(?:none|nil|nkda|no\b|not\s+known)", _F)
_ALLERGY = re.compile(
    r"\ballergic\s+to\s+([^.;\n]+)|\ballerg(?:y|ies)\s*(?:to|:|-|=)\s*([^.;\n]+)"
    r"|\b(?:anaphylaxis|rash|hives|urticaria|sjs|angioedema|reaction)\s+(?:to|with|after)\s+([a-z][\w-]*)"
    r"|\b([a-z][\w-]*(?:\s+[a-z][\w-]*)?)[- ](?:allergy|allergic|allergies)\b(?!\s*[:=-])",  # not a header
    _F,
)
_ALLERGEN_ALIASES = {"pcn": "penicillin", "penicillins": "penicillin", "pencillin": "penicillin",
                     "sulpha": "sulfa", "sulphonamide": "sulfonamide", "sulphonamides": "sulfonamide",
                     "sulfonamides": "sulfonamide", "sulfa drugs": "sulfa", "sulpha drugs": "sulfa",
                     "cephalosporins": "cephalosporin", "beta lactam": "beta-lactam", "beta-lactams": "beta-lactam",
                     "beta lactams": "beta-lactam", "quinolones": "fluoroquinolone",
                     "fluoroquinolones": "fluoroquinolone",
                     "macrolides": "macrolide", "carbapenems": "carbapenem"}
_ALLERGEN_NOISE = re.compile(r"\(.*?\)|\b(?:known|h/o|history\s+of|severe|mild|drug|drugs|group|class|a|an|the|"
                             r"with|has|had|have|reported|documented|patient|pt|of|rash|anaphylaxis|urticaria|hives|"
                             r"sjs|reaction|angioedema)\b", _F)
# A severe reaction stays with the allergen ("penicillin (anaphylaxis)"): the KB widens it to the whole class.
_SEVERE = re.compile(r"anaphyla\w*|angioedema|stevens[- ]johnson|\bsjs\b|\bten\b|severe", _F)
_NEXT_FACT = re.compile(r"\s+(?-i:[A-Z])[A-Za-z/]*(?:\s[A-Za-z]+)?\s*:|\b(?:c/o|o/e|h/o|k/c/o|complain\w*|presented|"
                        r"presents|admitted|with\s+(?:fever|cough|pain|burning))\b", _F)
_AFTER_ALLERGY = re.compile(r"\s*\(([^)]*)\)|[^,.;\n]{0,25}")

# ---- comorbidities, current medicines, cultures, setting ----
_COMORB = re.compile(r"\b(?:k/c/o|kco|k\.c\.o\.?|known\s+case\s+of|h/o|history\s+of|pmh\s*:|known\s+)"
                     r"\s*:?\s*([^.;\n]+)|\bco-?morbidit(?:y|ies)\s*[:=-]\s*([^.;\n]+)", _F)
_MEDS_CUE = re.compile(
    r"\b(?:current\s+(?:medications?|medicines?|meds|drugs|treatment)|medications?|meds|drug\s+history|"
    r"regular\s+medicines?)\s*[:=-]\s*([^.;\n]+)|\b(?:also\s+|already\s+|is\s+|currently\s+)?(?:taking|on)\s+"
    r"(?!examination|day\b|admission|arrival|presentation|o/e|the\b|a\b|an\b|follow|room\s+air|ventilat|oxygen|"
    r"rx\b|treatment\b|antibiotics?\b|iv\s+fluids)([^.;\n]+)",
    _F,
)
_NOT_A_MEDICINE = re.compile(r"\bnkda\b|allerg|\bcr\s*cl|crcl|e?gfr\b|creat|pregnan|\bweeks?\b|\bwks?\b|"
                             r"\bkg\b|\b(?:dx|rx|diagnosis|k/c/o|h/o)\b|\btrimester|\bg\d+\s*p\d", _F)
# "Tab." / "Cap." / "Inj." before a drug name; case-sensitive so "CAP." (pneumonia) ends its sentence
FORM_DOT = re.compile(r"\b(T|[Tt]abs?|TABS?|[Cc]aps?|[Ii]nj|INJ|[Ss]yp|[Ss]yr)\.")
_DECIMAL = re.compile(r"(\d)\.(\d)")
_STARTED = re.compile(r"(?:started|put|initiated|commenced|switched|shifted|changed|empirically)\s+$", _F)
_MED_PREFIX = re.compile(r"^(?:(?:on|and|also|taking)\s+)?(?:(?:tab|tabs|cap|caps|inj|syp|syr|t|c)\.?\s+)?", _F)
_MED_DOSE = re.compile(r"\s+\d.*$|\s+\((?:.*)\)$")
_SPLIT = re.compile(r"\s*(?:,|/|&|\+|;|\band\b)\s*", _F)
_CULTURE = re.compile(r"\b(?:c/s|c\s*&\s*s|(?:urine|blood|sputum|pus|csf|wound|tracheal)?\s*cultures?"
                      r"(?:\s+and\s+sensitivity)?|ast|sensitivity\s+report)\s*[:=-]?\s*"
                      r"((?:grew|showed|positive|:)?[^\n]+?)"
                      r"(?=\.\s+(?-i:[A-Z])|\.?\s*$|\n)", _F)


def cockcroft_gault(age: float, weight_kg: float, scr_mg_dl: float, sex: str) -> float:
    """CrCl (mL/min) = (140 - age) x weight / (72 x SCr), x 0.85 for women."""
    crcl = (140.0 - age) * weight_kg / (72.0 * scr_mg_dl)
    return round(crcl * (0.85 if sex.upper().startswith("F") else 1.0), 1)


def _num(text: str | None) -> float | None:
    return float(text) if text else None


def sex_of(word: str) -> str:
    return "F" if word.lower() in ("f", "female", "woman", "girl", "lady", "mrs", "ms", "she", "her") else "M"


def _bounded(less: str | None, value: float) -> float:
    """'CrCl < 30' -> just below 30, so 'below the 30 threshold' checks see it below; otherwise the value."""
    return value - 0.1 if less else value


def items(phrase: str) -> list[str]:
    return [p.strip(" :-*'\"") for p in _SPLIT.split(phrase) if p.strip(" :-*'\"")]


def _until_next_fact(phrase: str) -> str:
    """A list phrase cut where the next fact starts: 'warfarin, digoxin Diagnosis: ...' -> 'warfarin, digoxin';
    'insulin, c/o fever' -> 'insulin'."""
    m = _NEXT_FACT.search(phrase)
    return phrase[: m.start()] if m else phrase


def allergens(text: str) -> list[str]:
    found: list[str] = []
    for m in _ALLERGY.finditer(text):
        phrase = _until_next_fact(next(g for g in m.groups() if g))
        after = _AFTER_ALLERGY.match(text, m.end())
        severe = _SEVERE.search(m.group(0) + (after.group(0) if after else ""))
        for item in items(phrase):
            name = _ALLERGEN_NOISE.sub(" ", item.lower())
            name = re.sub(r"\s+", " ", name).strip(" -")
            name = _ALLERGEN_ALIASES.get(name, name)
            if not name or name in ("no", "none", "nil", "known"):
                continue
            if severe:
                name += f" ({severe.group(0).lower()})"
            if name not in found:
                found.append(name)
    return found


def medicines(text: str) -> list[str]:
    # "T. Ecosprin 75 mg, Tab. warfarin 2.5 mg" -> no sentence-ending periods inside the list
    text = FORM_DOT.sub(r"\1 ", _DECIMAL.sub(r"\1 \2", text))
    meds: list[str] = []
    for m in _MEDS_CUE.finditer(text):
        if m.group(2) is not None and _STARTED.search(text[max(0, m.start() - 14):m.start()]):
            continue
        for item in items(_until_next_fact(m.group(1) or m.group(2))):
            if _NOT_A_MEDICINE.search(item):  # the list has run into the next fact ("on warfarin, NKDA, CrCl 40")
                break
            name = _MED_DOSE.sub("", _MED_PREFIX.sub("", item)).strip().lower()
            if name and not name[0].isdigit() and name not in meds:
                meds.append(name)
    return meds


def _temperature(text: str, m: re.Match[str]) -> bool:
    """'T 101F', 'temp 99 F', '101F': a temperature in Fahrenheit, not '45F' (age and sex)."""
    bare = m.group(2).lower() == "f" and not re.search(r"[/y]", m.group(0), _F)
    return bare and (float(m.group(1)) >= 93 or bool(_TEMP_BEFORE.search(text[max(0, m.start() - 14):m.start()])))


def read_patient(text: str) -> Patient:
    """The patient fields a free-text case states; unstated fields stay None/empty. `text` keeps the input."""
    p = Patient(text=text)
    m = next((c for c in _AGE_SEX.finditer(text) if not _temperature(text, c)), None)
    if m:
        p.age, p.sex = float(m.group(1)), sex_of(m.group(2))
    elif m := _SEX_AGE.search(text):
        p.sex, p.age = sex_of(m.group(1)), float(m.group(2))
    if p.age is None and (m := _AGE.search(text)):
        p.age = float(m.group(1) or m.group(2))
    if p.sex is None and (m := _SEX.search(text) or _SEX_HINT.search(text)):
        p.sex = sex_of(m.group(1).rstrip("."))
    if m := _WEIGHT.search(text):
        p.weight_kg = float(m.group(1) or m.group(2))

    if _NOT_PREGNANT.search(text):
        p.pregnant = False
    elif _PREGNANT.search(text):
        p.pregnant, p.sex = True, "F"
        if m := _WEEKS.search(text):
            p.gestation_weeks = float(m.group(1) or m.group(2))
        elif m := _TRIMESTER.search(text):
            p.gestation_weeks = _TRIMESTER_WEEKS[m.group(1)[0].lower()] if m.group(1) else TERM_WEEKS

    p.allergies = [] if NKDA.search(text) and not re.search(r"\ballergic\s+to\b", text, _F) else allergens(text)
    for m in _COMORB.finditer(text):
        for item in items(re.split(r"\s+on\s+", m.group(1) or m.group(2), maxsplit=1)[0]):
            if "allerg" not in item.lower() and item not in p.comorbidities:
                p.comorbidities.append(item)
    p.current_medicines = medicines(text)
    if m := _CULTURE.search(text):
        p.cultures = m.group(1).strip(" :")

    if m := _SCR.search(text):
        value, unit = float(m.group(1)), (m.group(2) or "").lower()
        p.serum_creatinine_mg_dl = round(value / 88.4, 2) if "mol" in unit or (not unit and value > 20) else value
    if m := _CRCL.search(text):
        p.crcl_ml_min = _bounded(m.group(1), float(m.group(2)))
    fill_crcl(p, text)
    return p


def fill_crcl(p: Patient, text: str = "") -> None:
    """CrCl when not stated: Cockcroft-Gault from creatinine + age + weight + sex, else the eGFR as stated."""
    if p.crcl_ml_min is not None:
        return
    if p.serum_creatinine_mg_dl and p.age is not None and p.weight_kg and p.sex:
        p.crcl_ml_min = cockcroft_gault(p.age, p.weight_kg, p.serum_creatinine_mg_dl, p.sex)
    elif m := _EGFR.search(text):
        p.crcl_ml_min = _bounded(m.group(1), float(m.group(2)))
