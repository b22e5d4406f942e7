"""Patient facts in a clinical note: age, sex, weight, pregnancy and gestation, allergies with their reaction,
current medicines, comorbidities, cultures and the renal laboratory values.

Written for the phrasings clinicians use in case reports, Indian OPD slips and ward notes ("45/M", "G2P1 at 30 wks
POG", "UPT -ve", "allergic to penicillin (hives)", "h/o rash with amoxicillin", "NKDA", "Current medications include
...", "k/c/o HTN on T. Telma 40"). Each reader returns the value and the span it came from; nothing is guessed.
Try it: python -c "from amr_grpo.reading.facts import allergies; print(allergies('Allergies: PCN (hives), sulfa drugs'))"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from amr_grpo.guidelines import load_kb
from amr_grpo.reading.sections import Section, sentence_end

_F = re.IGNORECASE
_NUM = r"(\d{1,3}(?:\.\d+)?)"


@dataclass(frozen=True)
class Evidence:
    """Where a field's value came from: the span of the note that states it."""

    field: str
    value: object
    start: int
    end: int
    text: str


def _ev(field: str, value: object, text: str, m: re.Match[str] | tuple[int, int]) -> Evidence:
    a, b = (m.start(), m.end()) if isinstance(m, re.Match) else m
    return Evidence(field, value, a, b, text[a:b])


# ---- age, sex, weight ----
_SEX_WORD = r"(m|f|male|female|man|woman|boy|girl|gentleman|lady)"
_AGE_SEX = re.compile(
    rf"(?<!\d\.)\b(\d{{1,3}})\s*(?:[- ]?(?:y|yo|y/o|y\.o\.?|yrs?|years?)(?:[- ]?old)?)?\s*[/,-]?\s*{_SEX_WORD}\b"
    r"(?!/?\s*\d|\.\d)", _F)  # not the decimal of '100.4F'; a sentence may end after the sex ('52/F. 68kg')
_SEX_AGE = re.compile(r"\b(m|f|male|female)\s*[/,]?\s*(\d{1,3})\s*(?:y|yo|yrs?|years?)\b", _F)
_AGE = re.compile(r"\b(?:age[d]?\s*[:=]?\s*(\d{1,3})\b|(?<!for )(?<!since )(?<!x )(?<!past )(?<!last )"
                  r"(\d{1,3})\s*[- ]?(?:years?|yrs?|yo|y/o|y\.o\.|y(?=[- ,]|$))(?:[- ]?old|\s+of\s+age)?(?!\w))", _F)
_TEMP_BEFORE = re.compile(r"\b(?:t|temp|temperature|fever(?:\s+of)?)\.?\s*[:=-]?\s*$", _F)
_SEX = re.compile(r"\b(?:sex|gender)\s*[:=-]?\s*(m|f|male|female)\b", _F)
_SEX_HINT = re.compile(r"\b(mrs?|ms|male|female|man|woman|lady|gentleman|boy|girl|he|she|his|her)\b\.?", _F)
_WEIGHT = re.compile(r"\b(?:wt|weight|body\s*weight|bw)\.?\s*(?:of|is|was|=|:|-)?\s*" + _NUM + r"\s*(?:kgs?)?\b"
                     r"|(?<![/\d.])" + _NUM + r"\s*kgs?\b(?!\s*/)", _F)


def sex_of(word: str) -> str:
    return "F" if word.lower().rstrip(".") in ("f", "female", "woman", "girl", "lady", "mrs", "ms", "she", "her") \
        else "M"


def _temperature(text: str, m: re.Match[str]) -> bool:
    """'T 101F', 'temp 99 F', '101F': a temperature in Fahrenheit, not '45F' (age and sex)."""
    bare = m.group(2).lower() == "f" and not re.search(r"[/y]", m.group(0), _F)
    return bare and (float(m.group(1)) >= 93 or bool(_TEMP_BEFORE.search(text[max(0, m.start() - 14):m.start()])))


def age_sex(text: str) -> list[Evidence]:
    out: list[Evidence] = []
    m = next((c for c in _AGE_SEX.finditer(text) if not _temperature(text, c)), None)
    if m:
        out += [_ev("age", float(m.group(1)), text, m), _ev("sex", sex_of(m.group(2)), text, m)]
    elif m := _SEX_AGE.search(text):
        out += [_ev("age", float(m.group(2)), text, m), _ev("sex", sex_of(m.group(1)), text, m)]
    if not any(e.field == "age" for e in out) and (m := _AGE.search(text)):
        out.append(_ev("age", float(m.group(1) or m.group(2)), text, m))
    if not any(e.field == "sex" for e in out) and (m := _SEX.search(text) or _SEX_HINT.search(text)):
        out.append(_ev("sex", sex_of(m.group(1)), text, m))
    return out


def weight(text: str) -> Evidence | None:
    m = _WEIGHT.search(text)
    return _ev("weight_kg", float(m.group(1) or m.group(2)), text, m) if m else None


# ---- pregnancy ----
_NOT_PREGNANT = re.compile(
    r"\b(?:urine\s+)?(?:pregnancy\s+test|upt|(?:serum\s+|urine\s+)?(?:beta[- ]?)?b?-?hcg|β-?hcg)\s*(?:is|was|:)?\s*"
    r"(?:negative|neg\b|-ve|\(-\)|-(?=\s|$))"
    r"|\b(?:not|non)[- ]?pregnant\b|\bpregnancy\s+(?:ruled\s+out|excluded|negative)\b|\bno\s+pregnancy\b"
    r"|\b(?:postpartum|post-partum|puerperal|puerperium|breast-?feeding|lactating|lactational)\b"
    r"|\bafter\s+(?:a|an|her)?\s*(?:normal\s+)?(?:caesarean|cesarean|c-section|lscs|vaginal)?\s*delivery\b", _F)
_PREGNANT = re.compile(
    r"\bpregnan(?:t|cy)\b|\bprimi(?:gravida)?\b|\bmultigravida\b|\bgravida\b|\bgravid\b|\bG\d+\s*P\d+|\bPOG\b|"
    r"\bantenatal\b|\bgestation(?:al)?\b|\btrimester\b|\bin\s+labou?r\b|"
    r"\b(?:at|pog|ga)\s*\d{1,2}\s*(?:/\s*40\b|w(?:\s*\d\s*d)?\b|\+\s*\d\b)|"
    r"\b(?:upt|(?:beta[- ]?)?hcg)\s*(?:is|was|:)?\s*(?:\+\s*ve|\+|positive)", _F)
_WEEKS = re.compile(
    r"(?:\b(?:pog|ga|gestation(?:al\s+age)?|at|of|lmp)\s*[:=]?\s*(\d{1,2})(?:\s*\+\s*\d)?\s*(?:wks?|weeks?|/\s*40\b|"
    r"w(?:\s*\d\s*d)?\b)"
    r"|\b(\d{1,2})(?:\s*\+\s*\d)?\s*(?:wks?|weeks?)'?\s*(?:of\s+)?(?:pregnan\w*|gestation|pog|ga|amenorrh\w*|"
    r"by\s+(?:lmp|dates|scan|usg|ultrasound)|back)\b)", _F)
_TRIMESTER = re.compile(r"\b(1st|first|2nd|second|3rd|third)\s+trimester\b|\b(?:near|at)\s+term\b", _F)
# Trimester -> a week inside it (its midpoint), so trimester-specific rules classify it: 1st 1-13, 2nd 14-27, 3rd 28-40.
_TRIMESTER_WEEKS = {"1": 7.0, "f": 7.0, "2": 20.0, "s": 20.0, "3": 34.0, "t": 34.0}
TERM_WEEKS = 38.0


def pregnancy(text: str) -> list[Evidence]:
    """pregnant True/False with its span, and gestation weeks when pregnant. A negative test, 'not pregnant' or a
    postpartum state reads False; a pregnancy word left after those phrases are set aside reads True."""
    negatives = list(_NOT_PREGNANT.finditer(text))
    masked = text
    for m in negatives:
        masked = masked[:m.start()] + " " * (m.end() - m.start()) + masked[m.end():]
    pos = _PREGNANT.search(masked)
    if pos:
        out = [_ev("pregnant", True, text, pos)]
        if m := _WEEKS.search(masked):
            out.append(_ev("gestation_weeks", float(m.group(1) or m.group(2)), text, m))
        elif m := _TRIMESTER.search(masked):
            out.append(_ev("gestation_weeks", _TRIMESTER_WEEKS[m.group(1)[0].lower()] if m.group(1) else TERM_WEEKS,
                           text, m))
        return out
    return [_ev("pregnant", False, text, negatives[0])] if negatives else []


# ---- allergies ----
NKDA = re.compile(
    r"\bnkda\b|\bnkma\b|\bnka\b|\bno\s+known\s+(?:drug\s+|medication\s+)?allerg\w*|\ballergic\s+to\s+nothing\b|"
    r"\bno\s+(?:h\s*/\s*o\s+)?(?:drug\s+|antibiotic\s+|medication\s+)?allerg\w*|\bnot\s+allergic\s+to\s+any\b|"
    r"\bdenies\s+(?:any\s+)?(?:drug\s+)?allerg\w*|\bno\s+medications?\s+or\s+allerg\w*|"
    r"\ballerg(?:y|ies)\s*(?:[:=-]|is|are)?\s*(?:none|nil|no\b|not\s+known|nkda|unknown)(?:\s+known)?|"
    r"\b(?:drug\s+)?allerg(?:y|ies)\s*(?:[:=-])?\s*(?:none|nil)\s+known", _F)
_REACTIONS = (r"anaphyla\w*|severe|angio-?o?edema|urticaria|hives|rash(?:es)?|itching|pruritus|stevens[- ]johnson(?:\s+syndrome)?|"
              r"\bsjs\b|\bten\b|toxic\s+epidermal\s+necrolysis|dress|bronchospasm|wheez\w*|throat\s+swelling|"
              r"swelling|vomiting|nausea|gi\s+upset|diarrh\w+|red\s+man\s+syndrome|tendon\s+pain|tendinitis|"
              r"hallucinations?|lung\s+reaction|c\.?\s*diff\w*(?:\s+colitis)?|colitis|blisters?|"
              r"(?:severe\s+)?reaction")
_REACTION = re.compile(_REACTIONS, _F)
_ALLERGY_CUES = re.compile(
    r"\ballergic\s+to\s+|\b(?:allergy|allergies|hypersensitivity|intolerance)\s+(?:to|is|was|with)\s+"
    r"|\b(?:drug\s+)?allerg(?:y|ies)\s*(?:[:=]|-\s)\s*", _F)
_NAMED_ALLERGY = re.compile(r"\b([A-Za-z][\w-]*(?:\s+[A-Za-z][\w-]*)?)[- ](?:allergy|allergic)\b(?!\s*(?:to\b|[:=]))", _F)
_REACTION_WITH = re.compile(rf"\b(?:a\s+|an\s+)?({_REACTIONS})\s+(?:with|to|after|on|from)\s+([A-Za-z][\w-]*)", _F)
_CAUSES = re.compile(rf"\b([A-Za-z][\w-]*)\s+(?:causes|caused|gives|gave)\s+(?:her\s+|him\s+|them\s+)?({_REACTIONS})", _F)
_ALIASES = {"pcn": "penicillin", "penicillins": "penicillin", "pencillin": "penicillin", "pen": "penicillin",
            "sulpha": "sulfa", "sulfa drugs": "sulfa", "sulpha drugs": "sulfa", "sulfas": "sulfa",
            "sulphonamide": "sulfonamide", "sulphonamides": "sulfonamide", "sulfonamides": "sulfonamide",
            "cephalosporins": "cephalosporin", "beta lactam": "beta-lactam", "beta-lactams": "beta-lactam",
            "beta lactams": "beta-lactam", "quinolones": "fluoroquinolone", "fluoroquinolones": "fluoroquinolone",
            "macrolides": "macrolide", "carbapenems": "carbapenem", "aminoglycosides": "aminoglycoside",
            "tetracyclines": "tetracycline", "nsaids": "nsaid"}
_NOISE = re.compile(r"\b(?:known|documented|reported|h\s*/\s*o|history\s+of|severe|mild|drugs?|group|class|"
                    r"a|an|the|to|of|has|had|have|her|his|patient|pt|any|is|was|anaphylactic|all)\b", _F)
_NOT_ALLERGEN = re.compile(r"^(?:no|none|nil|nothing|known|unknown|nkda|other|and|or|medications?|medicines?|he|she|"
                           r"they|it|this|that|food|environmental)$", _F)
_TIME = re.compile(r"\s*(?:\bin\s+(?:19|20)\d\d|\bas\s+a\s+child|\bin\s+childhood|\b\d+\s+\w+\s+ago|\byears?\s+ago)\b.*$",
                   _F)


def _allergen(name: str) -> str | None:
    name = re.sub(r"^(?:[a-z]\s+)+", "", re.sub(r"\s+", " ", _NOISE.sub(" ", name.lower())).strip(" -:,.'\"/"))
    if not name or _NOT_ALLERGEN.match(name) or len(name) > 40 or any(c.isdigit() for c in name):
        return None
    if _REACTION.fullmatch(name):  # 'allergy - rash': a reaction, not an allergen
        return None
    name = _ALIASES.get(name, name)
    kb = load_kb()
    if d := kb.drug(name):
        return d.key
    found = kb.find_drugs(name)
    return found[0] if len(found) == 1 else name


def _reaction(text: str) -> str | None:
    text = _TIME.sub("", text).strip(" -:,.()")
    m = _REACTION.search(text)
    if not m:
        return None
    word = m.group(0).lower()
    return "anaphylaxis" if word.startswith("anaphyla") else re.sub(r"\s+", " ", word)


def _items(phrase: str) -> list[tuple[str, str | None]]:
    """'carbapenems (rash) and cephalosporins (hives)' -> [(carbapenems, rash), (cephalosporins, hives)];
    'penicillin - rash as a child' -> [(penicillin, rash)]; 'penicillin with throat swelling' -> same shape."""
    out: list[tuple[str, str | None]] = []
    for m in re.finditer(r"([^,;()]+?)\s*(?:\(([^)]*)\))?\s*(?:,|;|\band\b|&|$)", phrase.strip().rstrip("."), _F):
        name, paren = m.group(1).strip(), m.group(2)
        if not name:
            continue
        reaction = _reaction(paren) if paren else None
        split = re.split(r"\s+(?:-|with|causing|causes|leading\s+to|led\s+to|:)\s+|\s+-(?=\w)", name, maxsplit=1)
        if len(split) == 2:
            name = split[0]
            reaction = reaction or _reaction(split[1])
        for part in re.split(r"\s*/\s*|\s+or\s+", name):
            out.append((part, reaction))
    return out


def allergies(text: str, parts: list[Section] | None = None) -> tuple[list[str], list[Evidence]]:
    """Allergens with their reaction ('penicillin (anaphylaxis)'); [] when the note says there are none."""
    found: dict[str, str | None] = {}
    spans: list[Evidence] = []

    def add(name: str, reaction: str | None, span: tuple[int, int]) -> None:
        allergen = _allergen(name)
        if allergen is None:
            return
        if allergen not in found or (reaction and not found[allergen]):
            found[allergen] = reaction
        spans.append(_ev("allergies", allergen, text, span))

    nkda = [m for m in NKDA.finditer(text)]
    taken = [(m.start(), m.end()) for m in nkda]
    for m in _ALLERGY_CUES.finditer(text):
        if any(a <= m.start() < b for a, b in taken):
            continue
        end = min(sentence_end(text, m.end()), _clause_end(text, m.end()))
        before = _REACTION.search(text[max(0, m.start() - 20):m.start()])  # 'an anaphylactic allergy to X'
        items = [(n, r or (_reaction(before.group(0)) if before else None)) for n, r in _items(text[m.end():end])]
        if items and all(_allergen(n) is None for n, _ in items):
            continue  # 'penicillin allergy - rash': the allergen is named before the cue (read below)
        for name, reaction in items:
            add(name, reaction, (m.start(), end))
        taken.append((m.start(), end))
    for rx in (_NAMED_ALLERGY, _REACTION_WITH, _CAUSES):
        for m in rx.finditer(text):
            if any(a <= m.start() < b for a, b in taken):
                continue
            if rx is _NAMED_ALLERGY:
                after = text[m.end():sentence_end(text, m.end())]
                add(m.group(1), _reaction(after), (m.start(), m.end()))
            elif rx is _REACTION_WITH:
                if load_kb().drug(m.group(2)) or _ALIASES.get(m.group(2).lower()):
                    add(m.group(2), _reaction(m.group(1)), (m.start(), m.end()))
            else:
                add(m.group(1), _reaction(m.group(2)), (m.start(), m.end()))
    _merge_into_class(found)
    if not found and nkda:
        spans = [_ev("allergies", [], text, nkda[0])]
    return [f"{a} ({r})" if r else a for a, r in found.items()], spans


def _clause_end(text: str, start: int) -> int:
    """A clause ends where another fact starts: '; ', ' and takes ', ' - he developed' stays (a reaction)."""
    m = re.search(r";|\n\s*\n|\s+(?:and\s+)?(?:takes|is\s+on|on\s+(?:T\.|tab|inj)|current|meds|medications?)\b", text[start:],
                  _F)
    return start + m.start() if m else len(text)


def _merge_into_class(found: dict[str, str | None]) -> None:
    """'allergic to penicillin - he developed a rash with amoxicillin': one penicillin allergy (rash)."""
    kb = load_kb()
    for key in list(found):
        d = kb.drug(key)
        if d and d.drug_class in found and d.drug_class != key:
            found[d.drug_class] = found[d.drug_class] or found[key]
            del found[key]


# ---- current medicines ----
_NO_MEDS = re.compile(r"\b(?:takes|taking|on)\s+no\s+(?:regular\s+|other\s+)?medic\w*|\bno\s+(?:regular\s+|current\s+|"
                      r"other\s+)?(?:medications?|medicines?|meds)\b|\bnot\s+on\s+any\s+medic\w*|"
                      r"\b(?:medications?|medicines?|meds)\s*(?:[:=-]|are)?\s*(?:none|nil)\b", _F)
_MED_CUE = re.compile(
    r"\b(?:current|regular|home|usual|ongoing)\s+(?:medications?|medicines?|meds|drugs)\s*(?:include|includes|are|:|-)\s*"
    r"|\b(?:medications?|medicines?|meds)\s+(?:include|includes|are)\s+"
    r"|\b(?:takes|taking|uses|using)\s+(?!no\b)"
    r"|\b(?:is|was|currently|also|already|maintained|been)\s+on\s+(?!no\b|examination|the\b|a\b|an\b|day\b|room\b)"
    r"|\bon\s+(?!no\b)", _F)
_FORM = re.compile(r"^(?:(?:a|an|the|her|his|their)\s+)?(?:(?:tab|tabs|t|cap|caps|c|inj|syp|syr)\.?\s+)", _F)
_ARTICLE = re.compile(r"^(?:a|an|the|her|his|their|regular)\s+", _F)
# a dose, a form or a frequency after a name marks it as a medicine ('Tiova inhaler', 'X 400 mg OD')
_DOSED = re.compile(r"^(?:(?:tab|tabs|t|cap|caps|inj|syp|syr)\.?\s+\S+|\S+(?:\s+\S+)?\s+(?:\d|inhalers?|tablets?|"
                    r"od\b|bd\b|tds\b|hs\b|daily|infusion|drops?|injections?|patch))", _F)
_DOSE_TAIL = re.compile(r"\s+(?:\d.*|(?:od|bd|tds|qid|hs|sos|prn|stat|daily|weekly|nightly|regularly|infusion|prophylaxis|"
                        r"inhalers?|tablets?|pills?|drops?|iv|po|sc|im)\b.*)$", _F)
_NOT_MED = re.compile(r"\b(?:room\s+air|air|oxygen|o2|ventilat\w*|examination|admission|arrival|day|iv\s+fluids?|"
                      r"fluids|allerg\w*|nkda|crcl|e?gfr|creat\w*|weeks?|wks|kg|pregnan\w*|dialysis|mhd|"
                      r"antibiotics?|treatment|rx|chemo\w*|induction|prophylaxis|discharge|bp|hr|rr|pr|spo2|sao2|fio2|"
                      r"temp|temperature|pulse|fever|gcs|map|anc|wbc|tlc|hb|platelets?|lactate|cvp|noradrenaline|norepinephrine|norad|"
                      r"vasopressin|adrenaline|epinephrine|dobutamine|dopamine|inotropes?|vasopressors?|"
                      r"ventilator|niv|bipap|cpap|mechanical)\b", _F)
_MED_LIKE = re.compile(
    r"(?:statin|pril|sartan|olol|dipine|prazole|tidine|gliptin|glitazone|formin|azepam|zolam|oxetine|pram|triptyline|"
    r"setron|parin|xaban|gatran|olone|isone|sone|lukast|terol|tropium|conazole|clovir|vir|semide|thiazide|lactone|"
    r"osin|asteride|mide|zide|thyroxine|sprin|lopidogrel|grel|ipine|oxacin|cillin|mycin|cycline|azole|phylline|"
    r"amine|done|pine|tal|lol|mab|nib)$|^(?:insulin|aspirin|iron|calcium|vitamin|folic|thiamine|paracetamol|"
    r"acetaminophen|metformin|warfarin|heparin|digoxin|lithium|ocp|oral\s+contraceptive|prenatal|epo|"
    r"erythropoietin|allopurinol|febuxostat|salbutamol|ondansetron|donepezil|mycophenolate|tacrolimus|"
    r"methotrexate|sertraline|midazolam|fentanyl|oxybutynin|tamsulosin|spironolactone|levothyroxine|thyroxine|"
    r"prednisolone|prednisone|hydroxychloroquine|amiodarone|apixaban|rivaroxaban|clopidogrel|atorvastatin)", _F)


# current alcohol use: not a medicine, but what metronidazole (disulfiram-like reaction) and others interact with
_ALCOHOL = re.compile(
    r"\bdrinks\s+(?:alcohol|daily|regularly|heavily|\d)|\b(?:alcohol|ethanol)\s*(?:use|intake|consumption)?\s*"
    r"[:=-]?\s*(?:daily|regular\w*|heavy|yes|current\w*|ongoing|\d)|\b(?:daily|regular|heavy|chronic|current|"
    r"ongoing)\s+(?:alcohol|ethanol)(?:\s+(?:use|intake|consumption))?\b|\b(?:daily|regular|heavy)\s+drinker\b", _F)
_NOT_NOW = re.compile(r"\b(?:no|not|denies|denied|quit|stopped|former|formerly|ex|past|h/o|abstinent|teetotal\w*)\b",
                      _F)


def alcohol_use(text: str) -> re.Match[str] | None:
    """A statement of current alcohol use ('Drinks alcohol daily', 'Alcohol use: daily'); not one its clause
    denies or puts in the past ('quit alcohol 2 years ago', 'no alcohol')."""
    for m in _ALCOHOL.finditer(text):
        clause = re.split(r"[.;,\n]", text[max(0, m.start() - 30):m.start()])[-1]
        if not _NOT_NOW.search(clause):
            return m
    return None


_STARTED = re.compile(r"(?:started|put|initiated|commenced|switched|shifted|changed|empirically|begun|placed)\s+o?$",
                      _F)


def _med_items(phrase: str, strict: bool = False) -> list[str]:
    """Medicine names of a list ('T. Metformin 500 BD, T. Telma 40 OD' -> metformin, telma). strict: keep only
    names that look like a medicine (a known name or ending, or a dose / form after it)."""
    out = []
    for item in re.split(r"\s*(?:,|;|\+|&|\band\b|\bplus\b)\s*", phrase, flags=_F):
        item = re.split(r"\s+on\s+", item, maxsplit=1, flags=_F)[-1]  # 'HTN on T. Losartan' -> 'T. Losartan'
        item = _ARTICLE.sub("", re.sub(r"\s+", " ", item).strip(" .:-*'\"()"))
        name = _DOSE_TAIL.sub("", _FORM.sub("", item)).strip(" .:-").lower()
        medicine_like = bool(_MED_LIKE.search(name.split()[0] if name else "") or _MED_LIKE.search(name)
                             or _DOSED.match(item))
        ok = len(name) > 1 and not name[0].isdigit() and len(name) < 40 and not _NOT_MED.search(name)
        if strict and not (ok and medicine_like):
            break  # 'on room air, temperature 38': the list was not a medicine list, or it has ended
        if ok:
            out.append(name)
    return out


def medicines(text: str, parts: list[Section] | None = None) -> tuple[list[str], list[Evidence]]:
    """Current medicines named after the usual cues or under a medicines heading; [] when the note says none."""
    meds: list[str] = []
    spans: list[Evidence] = []

    def add(names: list[str], span: tuple[int, int]) -> None:
        for n in names:
            if n not in meds:
                meds.append(n)
                spans.append(_ev("current_medicines", n, text, span))

    for s in parts or []:
        if s.kind == "medications" and not _NO_MEDS.search(text[max(0, s.start - 30):s.end]):
            add(_med_items(s.body(text)), (s.start, s.end))
    for m in _MED_CUE.finditer(text):
        if _STARTED.search(text[max(0, m.start() - 16):m.start() + 1]):
            continue  # 'started on X': the prescription, not a current medicine
        end = min(sentence_end(text, m.end()), _med_clause_end(text, m.end()))
        strict = m.group(0).strip().lower().endswith("on")  # 'on X': X must look like a medicine, not 'room air'
        add(_med_items(text[m.end():end], strict), (m.start(), end))
    for m in re.finditer(r"\(([a-z][a-z ]+(?:,\s*[a-z][a-z ]+)+)\)", text, _F):  # 'diabetes (metformin, gliclazide)'
        names = _med_items(m.group(1))
        if names and all(_MED_LIKE.search(n) for n in names):
            add(names, (m.start(), m.end()))
    if m := alcohol_use(text):
        add(["alcohol"], (m.start(), m.end()))
    if not meds and (m := _NO_MEDS.search(text)):
        spans.append(_ev("current_medicines", [], text, m))
    return meds, spans


def _med_clause_end(text: str, start: int) -> int:
    m = re.search(r";|\n\s*\n|\s+(?:for|since|with|and\s+(?:has|is|was|takes|reports|denies)|who|which|but|"
                  r"allerg\w*|nkda|no\s+known|dx|rx|c/o)\b", text[start:], _F)
    return start + m.start() if m else len(text)


# ---- comorbidities, cultures ----
_COMORB = re.compile(r"\b(?:k/c/o|kco|k\.c\.o\.?|known\s+case\s+of|h/o|history\s+of|pmh\s*:|past\s+medical\s+history"
                     r"\s*(?::|is\s+notable\s+for)|co-?morbidit(?:y|ies)\s*[:=-])\s*:?\s*([^.;\n]+)", _F)
_CULTURE = re.compile(r"\b(?:c/s|c\s*&\s*s|(?:urine|blood|sputum|pus|csf|wound|tracheal|stool)\s+cultures?"
                      r"(?:\s+and\s+sensitivity)?|cultures?\s*(?::|grew|showed)|cultures?\s+(?:and\s+sensitivity\s+)?"
                      r"report|ast\b|sensitivity\s+report)\s*[:=-]?\s*"
                      r"((?:grew|showed|positive|:)?[^\n]+?)(?=\.\s+(?-i:[A-Z])|\.?\s*$|\n)", _F)


def comorbidities(text: str) -> list[str]:
    out: list[str] = []
    for m in _COMORB.finditer(text):
        for item in re.split(r"\s*(?:,|/|&|\+|\band\b)\s*", re.split(r"\s+on\s+", m.group(1), maxsplit=1)[0]):
            item = item.strip(" :-*")
            if item and "allerg" not in item.lower() and item not in out and len(item) < 60:
                out.append(item)
    return out


def cultures(text: str) -> Evidence | None:
    m = _CULTURE.search(text)
    return _ev("cultures", m.group(1).strip(" :"), text, m) if m else None
