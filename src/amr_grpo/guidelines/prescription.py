"""Parse a free-text prescription line, as Indian clinicians write it, into one records.Dose per drug.

"Inj. Ceftriaxone 2 g IV BD for 10/7 + Tab Azithro 500mg OD x 3 days" -> two Doses (drug key, dose in mg or mg/kg
or units, route, interval in hours, duration in days). Every part of the text that no Dose field captures
(a loading dose, "over 3 h", "till review", a dose range, a syrup's "250mg/5ml", "SOS", an unknown drug's name) is
kept in `unparsed`: the parser never guesses. A drug name the knowledge base does not know gives drug=None with its
text kept. A lone "stat" / "single dose" / "once" is one dose (interval 0) and has no duration.
Try it: python -c "from amr_grpo.guidelines import parse_prescription as p; print(p('Nitrofurantoin 100 mg 1-0-1 x 5d'))"
"""

from __future__ import annotations

import re
from dataclasses import replace

from amr_grpo.guidelines.kb import KnowledgeBase, load_kb
from amr_grpo.guidelines.text import AMOUNT_RE, amount_from_match
from amr_grpo.records import Dose

_I = re.IGNORECASE
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "twenty": 20, "twenty-one": 21,
    "thirty": 30,
}
_N = r"\d+(?:\.\d+)?|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_UNIT_DAYS = {"d": 1, "day": 1, "w": 7, "wk": 7, "week": 7, "mo": 30, "month": 30}

_DASH = "-‐‑‒–—−"  # hyphen and the dashes a word processor puts in its place
# Dosage forms: Tab/Cap/Syp mean oral; Inj means IV unless IM is written (the usual Indian ward convention).
# "T." is a tablet only as an abbreviation followed by a name ("T. Azithromycin"), never the t of "t.d.s.".
_FORMS = r"tab(?:let)?s?|caps?(?:ule)?s?|syp|syr|syrups?|susp(?:ension)?|sachets?|dry\s+syrup|inj(?:ection)?s?|vials?"
_FORM = re.compile(rf"\b(?:{_FORMS}|t(?=\.\s*[a-z]{{3}}))\b\.?", _I)
_FORM_BEFORE = re.compile(rf"\b(?:{_FORMS}|t(?=\.))\b\.?\s*$", _I)
# "500 mg 1 tab TDS": one tablet is the strength written; "2 tabs" or "half tab" leaves the dose open
_COUNT_BEFORE = re.compile(r"(?<![\d./])(?P<n>\d+(?:\.\d+)?|one|two|three|half|½)\s*$", _I)
# "250mg/5ml": a strength per volume (syrup, ampoule), not a dose
_PER_VOLUME = re.compile(r"^\s*(?:/|per)\s*(?:\d+(?:\.\d+)?\s*)?ml\b", _I)
# when to take it ("after food", "empty stomach"): no bearing on dose, interval or duration
_TIMING = re.compile(r"\b(?:before|after|with|without)\s+(?:food|meals?|breakfast|lunch|dinner|milk)\b"
                     r"|\b(?:on\s+)?(?:an?\s+)?empty\s+stomach\b", _I)
_LIST_MARK = re.compile(r"^\s*(?:\d+\s*[.)]|[-*•])\s+|^\s*rx\s*[:.-]?\s*", _I)

_INFUSION = re.compile(r"\b(?:infused\s+)?over\s+\d+(?:\.\d+)?\s*(?:h|hrs?|hours?|min|mins|minutes)\b|\b(?:extended|prolonged|continuous)[\s-]+infusion\b", _I)
_OPEN_ENDED = re.compile(r"\b(?:till|until|untill|upto|up\s+to)\s+(?:further\s+)?(?:review|orders?|advised?|(?:culture\s+)?reports?|culture|discharge)\b", _I)
_DURATION = re.compile(
    rf"(?:\b(?:x|for)\s*|[×*]\s*|\b)(?P<n>{_N})(?:\s*(?:[{_DASH}]|to)\s*(?P<n2>{_N}))?\s*-?\s*"
    r"(?P<u>days?|d|weeks?|wks?|wk|w|months?|mo)\b\.?"
    r"|\bfor\s+(?P<a>an?)\s+(?P<ua>days?|weeks?|months?)\b", _I)  # "5-day course", "for a week"
_FRACTION = re.compile(r"(?:\b(?:x|for)\s*|[×*]\s*|\b)(?P<n>\d+)\s*/\s*(?P<d>7|52|12)\b(?!\s*(?:mg|g|gm|mcg|units?)\b)", _I)

_FREQ_NAMED = [
    (24, r"o\.?d\.?|once\s+(?:a\s+)?daily|once\s+a\s+day|once\s+per\s+day|daily|q24h?"
         r"|h\.?s\.?|(?:at\s+)?bed\s*time|nocte"),  # at bedtime: once a day
    (12, r"b\.?d\.?|b\.?i\.?d\.?|twice\s+(?:a\s+)?daily|twice\s+a\s+day|two\s+times\s+a\s+day"),
    (8, r"t\.?d\.?s\.?|t\.?i\.?d\.?|thrice\s+(?:a\s+)?daily|thrice\s+a\s+day|three\s+times\s+(?:a\s+)?day|three\s+times\s+daily"),
    (6, r"q\.?i\.?d\.?|q\.?d\.?s\.?|four\s+times\s+(?:a\s+)?day|four\s+times\s+daily"),
    (168, r"once\s+(?:a\s+)?week(?:ly)?|weekly"),
    (48, r"(?:on\s+)?alternate\s+days?|every\s+other\s+day"),
]
_FREQ_RANGE = re.compile(rf"\bq\.?\s*\d+\s*[{_DASH}]\s*\d+\s*(?:h|hrs?|hrly|hourly|hours?)\b"
                         rf"|\b\d+\s*[{_DASH}]\s*\d+\s*(?:hourly|hrly)\b", _I)
_FREQ_HOURS = re.compile(
    r"\bq\.?\s*(?P<a>\d+(?:\.\d+)?)\s*(?:h|hr|hrs|hrly|hourly|hours?)\b\.?"
    r"|\b(?P<b>\d+)(?:st|nd|rd|th)?\s*-?\s*(?:hourly|hrly|hr?ly)\b"  # "8 hourly", "8hrly", "8th hourly"
    rf"|\bevery\s+(?P<c>\d+|{_N})(?:st|nd|rd|th)?\s*(?:h|hrs?|hours?|hourly|hrly)\b", _I)
# "every 2 days", "once in 3 days": an interval in days, read before durations ("x 3 days") are
_EVERY_DAYS = re.compile(rf"\b(?:once\s+in|every)\s+(?P<n>{_N})\s*(?:days?|d)\b", _I)
_FREQ_WORDS = re.compile("|".join(rf"\b(?:{p})(?![a-z])" for _, p in _FREQ_NAMED), _I)
_PILLS = re.compile(rf"(?<![\d./{_DASH}])[0-2½](?:\s*[{_DASH}]\s*[0-2½]){{2,3}}(?![\d./{_DASH}])")
_SINGLE = re.compile(r"\bstat\b|\bsingle[\s-]+dose\b|\b(?:one|1)\s+dose\b|\bonce(?:\s+only)?\b"
                     r"(?!\s+(?:a|daily|weekly|per|in)\b)", _I)
_LOAD_AFTER = re.compile(r"^\s*(?:\(?\s*(?:stat|loading(?:\s+dose)?|load)\s*\)?)", _I)
_LOAD_BEFORE = re.compile(r"(?:loading(?:\s+dose)?|load)\s*(?:of|:|-)?\s*$", _I)
# "9 MU stat then 4.5 MU q12h", "400 mg q12h x 3 doses f/b 400 mg OD": what comes before the connector is a loading
# (or step-down) phase; the Dose describes the phase after it and the first phase is kept as unparsed text.
_THEN = re.compile(r"\bthen\b|\bf\s*/\s*b\b|\bfollowed\s+by\b|→|->", _I)
# "..., Paracetamol 650 mg" inside a known drug's text: another (unknown) drug starts after a separator
_NEXT_ITEM = re.compile(r"(?:\+|,|\band\b|\bplus\b|\bwith\b)\s*(?:(?:tab|cap|inj|syp|syr)\w*\.?\s*)?(?P<w>[a-z][a-z-]{2,})\s+\d", _I)
_NOT_A_DRUG = {"over", "every", "once", "twice", "thrice", "day", "days", "iv", "im", "po", "oral", "stat", "till",
               "until", "single", "total", "max", "maximum", "upto", "for", "then", "daily", "hourly", "repeat", "weeks",
               "week", "continue", "after", "before", "dose", "doses", "load", "loading"}
_RANGE_BEFORE = re.compile(r"\d(?:\.\d+)?\s*(?:-|–|to)\s*$", _I)

_ROUTES = [("IV", r"(?<![a-z])(?:i\.?v\.?|i\s*/\s*v)(?![a-z])|intravenous(?:ly)?"),
           ("IM", r"(?<![a-z])(?:i\.?m\.?|i\s*/\s*m)(?![a-z])|intramuscular(?:ly)?"),
           ("PO", r"(?<![a-z])p\.?o\.?(?![a-z])|per[\s-]*oral(?:ly)?|oral(?:ly)?|by\s+mouth")]
_TRAILING_JOIN = re.compile(r"(?:[\s+,&]|\b(?:and|plus|with)\b)*$", _I)  # "A 2 g IV OD + " -> "A 2 g IV OD"
_LEADING_JOIN = re.compile(r"^(?:[\s+,&]|\b(?:and|plus|with)\b)*", _I)
_NOISE = {"x", "for", "then", "and", "plus", "of", "rx", "dose", "per", "by", "f", "b", "fb", "followed",
          "give", "with", "each", "at", "the", "in", "daily", "to", "route", "start", "continue", "kg", "a", "course"}


class _Segment:
    """One drug's slice of a line; extractors claim character spans, what is left is reported as unparsed."""

    def __init__(self, text: str):
        self.text = text
        self.taken = [False] * len(text)
        self.leftover_info: list[tuple[int, str]] = []  # understood but not representable -> unparsed
        self.spans: dict[str, list[re.Match[str]]] = {}  # "duration" / "single": what gave those fields

    def keep(self, m: re.Match[str]) -> None:
        self.leftover_info.append((m.start(), m.group(0).strip()))

    def free(self, m: re.Match[str]) -> bool:
        return not any(self.taken[m.start():m.end()])

    def take(self, start: int, end: int, keep: bool = False) -> None:
        for i in range(start, end):
            self.taken[i] = True
        if keep:
            self.leftover_info.append((start, self.text[start:end].strip()))

    def matches(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        out = []
        for m in pattern.finditer(self.text):
            if m.group(0).strip() and self.free(m):
                out.append(m)
                self.take(m.start(), m.end())
        return out

    def unparsed(self) -> str:
        pieces = list(self.leftover_info)
        for m in re.finditer(r"[^\W_]+(?:[./][^\W_]+)*", self.text):
            if not any(self.taken[m.start():m.end()]) and m.group(0).lower() not in _NOISE:
                pieces.append((m.start(), m.group(0)))
        return " ".join(p for _, p in sorted(pieces))


def _number(s: str) -> float:
    return float(_NUMBER_WORDS[s.lower()]) if s.lower() in _NUMBER_WORDS else float(s)


def _duration(seg: _Segment) -> float | None:
    found: list[float] = []
    for m in seg.matches(_OPEN_ENDED):
        seg.keep(m)
    seg.spans["duration"] = []
    for m in seg.matches(_DURATION):
        if m["n2"]:  # "5-7 days": a range is not one duration
            seg.keep(m)
            continue
        seg.spans["duration"].append(m)
        if m["a"]:  # "for a week"
            found.append(_UNIT_DAYS[m["ua"].lower().rstrip("s")])
            continue
        unit = m["u"].lower().rstrip("s")
        found.append(_number(m["n"]) * _UNIT_DAYS[unit])
    for m in seg.matches(_FRACTION):
        seg.spans["duration"].append(m)
        found.append(float(m["n"]) * {"7": 1, "52": 7, "12": 30}[m["d"]])
    if len(set(found)) == 1:
        return found[0]
    if found:  # two different durations for one drug: report, do not pick
        seg.leftover_info.append((0, "conflicting durations"))
    return None


def _doses(seg: _Segment) -> list[tuple[re.Match[str], bool]]:
    """Amount matches with a flag 'is a loading dose'; dose ranges and strengths per volume go to unparsed."""
    out = []
    amounts = [m for m in AMOUNT_RE.finditer(seg.text) if seg.free(m)]
    for n, m in enumerate(amounts):
        before = seg.text[:m.start()]
        rng = _RANGE_BEFORE.search(before)
        if rng:
            seg.take(rng.start(), m.end(), keep=True)
            continue
        volume = _PER_VOLUME.match(seg.text[m.end():])
        if volume:  # "250mg/5ml 5 ml": the dose depends on the volume given; not worked out
            seg.take(m.start(), m.end() + volume.end(), keep=True)
            continue
        after = _LOAD_AFTER.match(seg.text[m.end():])
        if after and after.group(0).strip(" (").lower().startswith("stat") and n == len(amounts) - 1:
            after = None  # "500 mg stat" with no dose after it: one dose, not a loading dose
        lead = _LOAD_BEFORE.search(before)
        if after or lead:
            start = lead.start() if lead else m.start()
            end = m.end() + (after.end() if after else 0)
            seg.take(start, end, keep=True)  # the loading dose is kept as text: Dose has one dose per drug
            continue
        seg.take(m.start(), m.end())
        out.append((m, False))
    return out


def _interval(seg: _Segment) -> float | None:
    for m in seg.matches(_FREQ_RANGE):
        seg.leftover_info.append((m.start(), m.group(0).strip()))
    found = [24 * _number(m["n"]) for m in seg.spans.get("every_days", [])]
    for m in seg.matches(_FREQ_HOURS):
        found.append(_number(m["a"] or m["b"] or m["c"]))
    for m in seg.matches(_FREQ_WORDS):
        word = m.group(0)
        found.append(float(next(h for h, p in _FREQ_NAMED if re.fullmatch(p, word, _I))))
    for m in seg.matches(_PILLS):
        slots = re.findall(r"[0-2½]", m.group(0))
        if set(slots) <= {"0", "1"} and "1" in slots:
            found.append(24 / slots.count("1"))
        else:  # "2-0-2" means two tablets a time: the dose per administration is not known
            seg.leftover_info.append((m.start(), m.group(0)))
    singles = seg.matches(_SINGLE)
    seg.spans["single"] = singles
    if not found and singles:
        found.append(0.0)
    if len(set(found)) == 1:
        return found[0]
    if found:
        seg.leftover_info.append((0, "conflicting frequencies"))
    return None


def _tablet_counts(seg: _Segment, forms: list[re.Match[str]]) -> bool:
    """Take "1 tab" beside a strength (the strength is the dose); keep "2 tabs" / "half tab" as text and return True
    (the dose per administration is then not the strength written)."""
    several = False
    for f in forms:
        m = _COUNT_BEFORE.search(seg.text, 0, f.start())
        if not m or not seg.free(m):
            continue
        one = m["n"].lower() in ("1", "one")
        if one and AMOUNT_RE.search(seg.text):
            seg.take(m.start(), m.end())
        else:  # "Septran DS 1 tab BD": a count without a strength says nothing of the dose; kept as text
            seg.take(m.start(), f.end(), keep=True)
            several = several or not one
    return several


def _route(seg: _Segment, form: str | None) -> str | None:
    routes = set()
    for name, pattern in _ROUTES:
        if seg.matches(re.compile(pattern, _I)):
            routes.add(name)
    if len(routes) == 1:
        return routes.pop()
    if len(routes) > 1:
        seg.leftover_info.append((0, "/".join(sorted(routes))))
        return None
    if form is None:
        return None
    return "PO" if not form.lower().startswith(("inj", "vial")) else "IV"  # Inj defaults to IV unless IM is stated


def _parse_segment(text: str, drug: str | None, drug_span: tuple[int, int] | None) -> Dose:
    seg = _Segment(text)
    if drug_span:
        seg.take(*drug_span)
    forms = seg.matches(_FORM)
    several = _tablet_counts(seg, forms)
    seg.matches(_TIMING)  # "after food": taken, it changes no field
    then = _THEN.search(text)
    if then:
        first = next((m for m in AMOUNT_RE.finditer(text, 0, then.start()) if seg.free(m)), None)
        if first:
            seg.take(first.start(), then.end(), keep=True)
    for m in seg.matches(_INFUSION):
        seg.leftover_info.append((m.start(), m.group(0).strip()))
    seg.spans["every_days"] = seg.matches(_EVERY_DAYS)
    duration = _duration(seg)
    doses = _doses(seg)
    interval = _interval(seg)
    if interval == 0 and duration is not None:  # a single dose has no course length
        if duration > 1:  # "stat x 3 days" contradicts itself: keep both as text, pick neither
            for m in seg.spans["single"] + seg.spans["duration"]:
                seg.keep(m)
            interval = None
        duration = None
    route = _route(seg, forms[0].group(0) if forms else None)
    mg = per_kg = units = None
    if len(doses) == 1 and not several:
        m = doses[0][0]
        amount = amount_from_match(m)
        if amount.per_day:  # "20 mg/kg/day" once daily -> 20 mg/kg per dose; unknown frequency -> not resolved
            if interval:
                factor = interval / 24
                mg = amount.mg * factor if amount.mg is not None else None
                per_kg = amount.mg_per_kg * factor if amount.mg_per_kg is not None else None
            else:
                seg.leftover_info.append((m.start(), m.group(0)))
        else:
            mg, per_kg, units = amount.mg, amount.mg_per_kg, amount.units
    elif doses:  # "500 mg 2 tabs", or several maintenance amounts for one drug: keep them as text, pick none
        for m, _ in doses:
            seg.leftover_info.append((m.start(), m.group(0)))
    shown = _LEADING_JOIN.sub("", _TRAILING_JOIN.sub("", text)).strip()
    return Dose(drug, mg, per_kg, units, route, interval, duration, shown, seg.unparsed())


def _unknown_tail(line: str, drug_end: int, seg_end: int) -> int:
    """Where an unknown drug starts inside a known drug's segment (after its first amount), else seg_end."""
    first = AMOUNT_RE.search(line, drug_end, seg_end)
    if not first:
        return seg_end
    for m in _NEXT_ITEM.finditer(line, first.end(), seg_end):
        if m["w"].lower() not in _NOT_A_DRUG and not _FREQ_WORDS.fullmatch(m["w"]):
            return m.start() + (1 if m.group(0)[0] in "+," else 0)
    return seg_end


def parse_line(kb: KnowledgeBase, line: str) -> list[Dose]:
    """One line, possibly several drugs ('A 2 g IV OD + B 500 mg PO OD x 5 days'), into one Dose per drug."""
    mark = _LIST_MARK.match(line)
    if mark:
        line = line[mark.end():]
    spans = kb.find_drug_spans(line)
    starts = []
    prev_end = 0
    for start, end, _ in spans:
        form = _FORM_BEFORE.search(line[prev_end:start])
        starts.append(prev_end + form.start() if form else start)
        prev_end = end
    doses: list[Dose] = []
    bounds = [(starts[i], starts[i + 1] if i + 1 < len(spans) else len(line)) for i in range(len(spans))]
    prefix = line[: starts[0]] if spans else line
    if re.search(r"[^\W_]", prefix) and (not spans or AMOUNT_RE.search(prefix) or _FORM.search(prefix)):
        doses.append(_parse_segment(prefix, None, None))  # a drug the knowledge base does not know
        prefix = ""
    for i, (start, end, drug) in enumerate(spans):
        seg_start, seg_end = bounds[i]
        tail = _unknown_tail(line, end, seg_end)
        offset = seg_start - len(prefix) if i == 0 else seg_start
        text = (prefix + line[seg_start:tail]) if i == 0 else line[seg_start:tail]
        doses.append(_parse_segment(text, drug, (start - offset, end - offset)))
        if tail < seg_end:  # "..., Paracetamol 650 mg SOS": a drug the knowledge base does not know
            doses.append(_parse_segment(line[tail:seg_end], None, None))
    # an unknown-drug piece that holds nothing ("and", "continue") is filler, not a drug
    doses = [d for d in doses if d.drug or d.unparsed or any(
        v is not None for v in (d.dose_mg, d.dose_mg_per_kg, d.dose_units, d.route, d.interval_h, d.duration_days))]
    # "A ... + B ... x 5 days": one trailing duration covers the drugs of the combination given over days, not a
    # single dose ("A 3 g single dose + B 100 mg BD x 10 days": A stays a single dose)
    last = doses[-1].duration_days if doses else None
    courses = [d for d in doses[:-1] if d.interval_h != 0]
    if last is not None and courses and all(d.duration_days is None for d in courses):
        doses = [d if d.interval_h == 0 else replace(d, duration_days=last) for d in doses[:-1]] + [doses[-1]]
    return doses


def parse_prescription(text: str) -> list[Dose]:
    """Every drug of a prescription (lines split on newlines and ';'), one records.Dose each, in order."""
    if not text or not text.strip():
        return []
    kb = load_kb()
    out: list[Dose] = []
    for line in re.split(r"[\n;]+", text):
        if line.strip():
            out.extend(parse_line(kb, line))
    return out
