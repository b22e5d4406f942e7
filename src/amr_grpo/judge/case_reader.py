"""Read a patient case (free text as Indian clinicians write it, or a structured dict) into a records.Case,
and a ground truth (reference validation text or a dict) into a records.GroundTruth.

Free text: "45/M", "45 yo F", "G2P1 at 32 weeks", "pregnant, 2nd trimester", "k/c/o DM, HTN",
"allergic to penicillin", "NKDA", "CrCl 25 ml/min", "eGFR 40", "S. Cr 2.1 mg/dl" (+ age, weight, sex ->
Cockcroft-Gault), "on warfarin, sertraline", "Dx: ...", "Rx: ...", "c/s: E. coli sensitive to ...".
Nothing is guessed: a field the text does not state stays None / empty.
Try it:
  python -c "from amr_grpo.judge.case_reader import read_case as r; print(r('70/M, 60 kg, S. Cr 2.1 mg/dl. Dx: CAP'))"
"""

from __future__ import annotations

import re
from typing import Any

from amr_grpo.judge.parse import parse_validation
from amr_grpo.records import Case, Decision, GroundTruth, Patient

_F = re.IGNORECASE
_NUM = r"(\d{1,3}(?:\.\d+)?)"
_SEX_WORD = r"(m|f|male|female|man|woman|boy|girl|gentleman|lady)"

# ---- labelled sections: "Dx:", "Rx -", "Diagnosis:", ... (a label at a line start or after . ; |) ----
_LABELS = {
    "diagnosis": r"dx|diagnosis|diagnoses|provisional\s+(?:dx|diagnosis)|impression|imp|indication|syndrome|"
    r"assessment",
    "prescription": r"rx|prescription|prescribed|treatment\s+(?:given|prescribed|started)|orders?|antibiotics?\s+"
    r"prescribed|current\s+antibiotics?|plan|regimen|advised",
    "setting": r"setting|location|ward|unit",
    "patient": r"patient|pt|profile|history|hx|clinical\s+details|presentation",
    # Labels that end a Dx/Rx section; their text stays with the patient facts.
    "other": r"c/s|c\s*&\s*s|(?:urine|blood|sputum|pus|csf)?\s*cultures?(?:\s+(?:and|&)\s+sensitivity)?|ast|"
    r"allerg(?:y|ies)|labs?|investigations?|(?:current\s+)?(?:medications?|medicines|meds)|drug\s+history|vitals|"
    r"o/e|co-?morbidit(?:y|ies)|k/c/o|renal\s+function|weight|wt",
}
_LABEL_KIND = {k: re.compile(v, re.IGNORECASE) for k, v in _LABELS.items()}
_LABEL = re.compile(
    r"(?:(?:^|(?<=[\n.;|,]))[ \t*#-]*(?P<label>" + "|".join(f"(?P<{k}>{v})" for k, v in _LABELS.items())
    + r")\s*(?::|-\s)|(?<=\s)(?P<inline>" + "|".join(_LABELS.values()) + r")\s*:)",  # "... Diagnosis: x" mid-line
    _F,
)

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
_NKDA = re.compile(r"\bnkda\b|\bnkma\b|\bno\s+known\s+(?:drug\s+)?allerg|\bno\s+(?:drug\s+)?allerg|"
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
_FORM_DOT = re.compile(r"\b(T|[Tt]abs?|TABS?|[Cc]aps?|[Ii]nj|INJ|[Ss]yp|[Ss]yr)\.")
_DECIMAL = re.compile(r"(\d)\.(\d)")
_STARTED = re.compile(r"(?:started|put|initiated|commenced|switched|shifted|changed|empirically)\s+$", _F)
_MED_PREFIX = re.compile(r"^(?:(?:on|and|also|taking)\s+)?(?:(?:tab|tabs|cap|caps|inj|syp|syr|t|c)\.?\s+)?", _F)
_MED_DOSE = re.compile(r"\s+\d.*$|\s+\((?:.*)\)$")
_SPLIT = re.compile(r"\s*(?:,|/|&|\+|;|\band\b)\s*", _F)
_CULTURE = re.compile(r"\b(?:c/s|c\s*&\s*s|(?:urine|blood|sputum|pus|csf|wound|tracheal)?\s*cultures?"
                      r"(?:\s+and\s+sensitivity)?|ast|sensitivity\s+report)\s*[:=-]?\s*"
                      r"((?:grew|showed|positive|:)?[^\n]+?)"
                      r"(?=\.\s+(?-i:[A-Z])|\.?\s*$|\n)", _F)
_SETTINGS = (("ICU", re.compile(r"\b(?:[mst]?icu|intensive\s+care|on\s+ventilator|ventilated|hdu)\b", _F)),
             ("ward", re.compile(r"\b(?:ward|admitted|inpatient|in-patient|ipd|hospitali[sz]ed)\b", _F)),
             ("OPD", re.compile(r"\b(?:opd|outpatient|out-patient|clinic|ambulatory)\b", _F)))
_SENTENCE = re.compile(r"(?<=[.;])\s+(?=[A-Z(])|\n")
_ORDERED = re.compile(r"\b(?:started|prescribed|given|advised|rx|initiated|commenced|plan)\b", _F)
_DOSE_LIKE = re.compile(r"\d\s*(?:mg|g|gm|mu|iu|lakh)\b(?!\s*(?:/\s*(?:dl|l|ml|mmol)\b|%))"
                        r"|\b(?:q\d+h|od|bd|tds|qid|stat)\b", _F)  # a dose, not a lab value ("2.1 mg/dl", "Hb 10 g/dl")


def cockcroft_gault(age: float, weight_kg: float, scr_mg_dl: float, sex: str) -> float:
    """CrCl (mL/min) = (140 - age) x weight / (72 x SCr), x 0.85 for women."""
    crcl = (140.0 - age) * weight_kg / (72.0 * scr_mg_dl)
    return round(crcl * (0.85 if sex.upper().startswith("F") else 1.0), 1)


def _num(text: str | None) -> float | None:
    return float(text) if text else None


def _sex_of(word: str) -> str:
    return "F" if word.lower() in ("f", "female", "woman", "girl", "lady", "mrs", "ms", "she", "her") else "M"


def _bounded(less: str | None, value: float) -> float:
    """'CrCl < 30' -> just below 30, so 'below the 30 threshold' checks see it below; otherwise the value."""
    return value - 0.1 if less else value


def _items(phrase: str) -> list[str]:
    return [p.strip(" :-*'\"") for p in _SPLIT.split(phrase) if p.strip(" :-*'\"")]


def _until_next_fact(phrase: str) -> str:
    """A list phrase cut where the next fact starts: 'warfarin, digoxin Diagnosis: ...' -> 'warfarin, digoxin';
    'insulin, c/o fever' -> 'insulin'."""
    m = _NEXT_FACT.search(phrase)
    return phrase[: m.start()] if m else phrase


def _allergens(text: str) -> list[str]:
    found: list[str] = []
    for m in _ALLERGY.finditer(text):
        phrase = _until_next_fact(next(g for g in m.groups() if g))
        after = _AFTER_ALLERGY.match(text, m.end())
        severe = _SEVERE.search(m.group(0) + (after.group(0) if after else ""))
        for item in _items(phrase):
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


def _medicines(text: str) -> list[str]:
    # "T. Ecosprin 75 mg, Tab. warfarin 2.5 mg" -> no sentence-ending periods inside the list
    text = _FORM_DOT.sub(r"\1 ", _DECIMAL.sub(r"\1 \2", text))
    meds: list[str] = []
    for m in _MEDS_CUE.finditer(text):
        if m.group(2) is not None and _STARTED.search(text[max(0, m.start() - 14):m.start()]):
            continue
        for item in _items(_until_next_fact(m.group(1) or m.group(2))):
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
        p.age, p.sex = float(m.group(1)), _sex_of(m.group(2))
    elif m := _SEX_AGE.search(text):
        p.sex, p.age = _sex_of(m.group(1)), float(m.group(2))
    if p.age is None and (m := _AGE.search(text)):
        p.age = float(m.group(1) or m.group(2))
    if p.sex is None and (m := _SEX.search(text) or _SEX_HINT.search(text)):
        p.sex = _sex_of(m.group(1).rstrip("."))
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

    p.allergies = [] if _NKDA.search(text) and not re.search(r"\ballergic\s+to\b", text, _F) else _allergens(text)
    for m in _COMORB.finditer(text):
        for item in _items(re.split(r"\s+on\s+", m.group(1) or m.group(2), maxsplit=1)[0]):
            if "allerg" not in item.lower() and item not in p.comorbidities:
                p.comorbidities.append(item)
    p.current_medicines = _medicines(text)
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


_DX_END = re.compile(r"(?<=[a-z0-9)]{2})\.\s+(?=[A-Z])|\n")  # a sentence end ("S. Typhi" is not one)


def _sections(text: str) -> dict[str, str]:
    """Labelled parts of a free-text case: {'diagnosis': ..., 'prescription': ..., 'setting': ..., 'rest': ...}."""
    out: dict[str, str] = {}
    marks = list(_LABEL.finditer(text))
    rest = [text[: marks[0].start()] if marks else text]
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        kind = next(k for k in _LABELS if m.group(k)) if m.group("label") else next(
            k for k, rx in _LABEL_KIND.items() if rx.fullmatch(m.group("inline")))
        body = text[m.end():end].strip(" \t\n.;|")
        if kind == "diagnosis" and (stop := _DX_END.search(body)):  # "Dx: CAP. Started on ..." -> "CAP"
            rest.append(body[stop.end():])
            body = body[:stop.start()]
        if kind in ("diagnosis", "prescription", "setting") and kind not in out:
            out[kind] = body
        else:
            rest.append(body)
    out["rest"] = "\n".join(r for r in rest if r.strip())
    return out


def _setting(text: str) -> str | None:
    return next((name for name, rx in _SETTINGS if rx.search(text)), None)


def _unlabelled_prescription(text: str) -> str:
    """Without an 'Rx:' label: the sentences that read like a dose ('... 500 mg PO BD x 5 days')."""
    sentences = _SENTENCE.split(_FORM_DOT.sub(r"\1", text))  # "Inj. X" is not a sentence end
    return " ".join(s.strip() for s in sentences if _DOSE_LIKE.search(s) and not re.search(r"\ballerg", s, _F)
                    and (_ORDERED.search(s) or not _medicines(s)))


def read_case_text(text: str, case_id: str = "") -> Case:
    parts = _sections(text)
    prescription = parts.get("prescription") or _unlabelled_prescription(text)
    # Patient facts come from everything except the prescription, so the Rx drugs are not read as current medicines.
    patient_text = text.replace(parts["prescription"], " ") if parts.get("prescription") else text
    patient = read_patient(patient_text)
    patient.text = text
    setting = parts.get("setting") or _setting(text)
    return Case(id=case_id, patient=patient, diagnosis=parts.get("diagnosis", ""), prescription=prescription,
                setting=setting)


# Structured dicts: key aliases -> Case / Patient fields.
_CASE_KEYS = {"diagnosis": ("diagnosis", "dx", "indication", "impression", "syndrome_name"),
              "prescription": ("prescription", "rx", "regimen", "orders", "antibiotics", "treatment"),
              "setting": ("setting", "location", "ward"), "syndrome": ("syndrome", "syndrome_key"),
              "id": ("id", "case_id", "caseid")}
_PATIENT_KEYS = {"age": ("age", "age_years"), "sex": ("sex", "gender"), "weight_kg": ("weight_kg", "weight", "wt"),
                 "comorbidities": ("comorbidities", "comorbidity", "history", "pmh"),
                 "allergies": ("allergies", "allergy", "drug_allergies"),
                 "crcl_ml_min": ("crcl_ml_min", "crcl", "creatinine_clearance", "egfr"),
                 "serum_creatinine_mg_dl": ("serum_creatinine_mg_dl", "serum_creatinine", "creatinine", "scr"),
                 "pregnant": ("pregnant", "pregnancy"), "gestation_weeks": ("gestation_weeks", "gestational_age_weeks"),
                 "current_medicines": ("current_medicines", "current_medications", "medications", "medicines", "meds"),
                 "cultures": ("cultures", "culture", "microbiology")}
_TEXT_KEYS = ("text", "case", "case_text", "description", "patient_case", "presentation", "summary")
_LIST_FIELDS = ("comorbidities", "allergies", "current_medicines")


def _first(data: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((data[k] for k in keys if data.get(k) not in (None, "", [])), None)


def _patient_from_dict(d: dict[str, Any]) -> Patient:
    p = read_patient(str(d["text"])) if isinstance(d.get("text"), str) and d["text"].strip() else Patient()
    for name, keys in _PATIENT_KEYS.items():
        v = _first(d, keys)
        if v is None:
            continue
        if name in _LIST_FIELDS:
            if not isinstance(v, (str, list, tuple)):
                v = str(v)  # a number or a mapping where a list belongs: read its text, never crash
            if isinstance(v, str):
                v = [] if _NKDA.search(v) or v.strip().lower() in ("none", "nil", "no") else (
                    _allergens("allergic to " + v) if name == "allergies" else _items(v))
            setattr(p, name, [str(x).strip().lower() if name != "comorbidities" else str(x).strip() for x in v])
        elif name == "sex":
            p.sex = _sex_of(str(v).strip()[:6]) if str(v).strip() else None
        elif name == "pregnant":
            p.pregnant = v if isinstance(v, bool) else str(v).strip().lower() in ("yes", "true", "y", "1")
        elif name == "cultures":
            p.cultures = str(v)
        else:
            try:
                setattr(p, name, float(v))
            except (TypeError, ValueError):
                continue
    if p.pregnant:
        p.sex = "F"
    fill_crcl(p)
    return p


def read_case(patient_case: str | dict[str, Any] | Case) -> Case:
    """A case as free text, a records.Case dict (the dataset's `context`), or a flat dict -> Case."""
    if isinstance(patient_case, Case):
        return patient_case
    if isinstance(patient_case, str):
        return read_case_text(patient_case)
    if not isinstance(patient_case, dict):
        return read_case_text(str(patient_case))
    d = patient_case
    text = _first(d, _TEXT_KEYS)
    base = read_case_text(text) if isinstance(text, str) else None
    p_raw = d.get("patient", d.get("patient_info", d.get("profile")))
    if isinstance(p_raw, str):
        patient = read_patient(p_raw)
    elif isinstance(p_raw, dict):
        patient = _patient_from_dict(p_raw)
    else:
        flat = {k: v for k, v in d.items() if k not in _TEXT_KEYS}
        patient = _patient_from_dict(flat) if any(_first(flat, ks) is not None for ks in _PATIENT_KEYS.values()) \
            else (base.patient if base else Patient())
    fields = {}
    for name, keys in _CASE_KEYS.items():
        v = _first(d, keys)
        if isinstance(v, (list, tuple)):
            v = "; ".join(map(str, v))
        fields[name] = str(v) if v is not None else (getattr(base, name) if base else None)
    if isinstance(p_raw, str) or base is not None:
        # Facts stated only in the free text (e.g. an allergy in the prescription note) still count.
        patient.text = patient.text or (base.patient.text if base else None)
    return Case(id=fields["id"] or "", patient=patient, diagnosis=fields["diagnosis"] or "",
                prescription=fields["prescription"] or "", setting=fields["setting"], syndrome=fields["syndrome"])


def read_ground_truth(gt: str | dict[str, Any] | GroundTruth | None) -> GroundTruth:
    """Reference text -> decision, regimen and citation read with parse_validation; dict -> GroundTruth.from_dict
    (a missing decision or regimen is filled from its `reference` text); None -> an empty GroundTruth."""
    if gt is None:
        return GroundTruth()
    if isinstance(gt, GroundTruth):
        return gt
    if isinstance(gt, str):
        if not gt.strip():
            return GroundTruth()
        v = parse_validation(gt)
        return GroundTruth(decision=v.decision, recommended_regimen=v.recommended_regimen, reference=gt,
                           citation=v.reference)
    d = dict(gt)
    if isinstance(d.get("decision"), Decision):
        d["decision"] = d["decision"].value
    if not isinstance(d.get("decision"), str):
        d["decision"] = None  # a list or a number is no decision: unknown, never a guess
    for key in ("recommended_regimen", "regimen", "reference", "citation", "syndrome"):
        if key in d and d[key] is not None and not isinstance(d[key], str):
            d[key] = None
    for key in ("issues", "flags"):
        if isinstance(d.get(key), str):
            d[key] = _items(d[key])
        elif key in d and not isinstance(d[key], list):
            d[key] = []
        elif key in d:
            d[key] = [str(x) for x in d[key]]
    out = GroundTruth.from_dict(d)
    if isinstance(out.reference, str) and out.reference.strip() and (out.decision is None or not out.citation):
        v = parse_validation(out.reference)
        out.decision = out.decision or v.decision
        out.recommended_regimen = out.recommended_regimen or v.recommended_regimen
        out.citation = out.citation or v.reference
    return out
