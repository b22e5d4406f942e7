"""The reference_accuracy check: the citation against the real guideline sections of the knowledge base.

Every cited section is judged and the worst one decides (citing many sections can only lose): a section of this
syndrome 5; a real section of another syndrome 2; a section the guideline does not have 1; ICMR 2019 Table 14.1 fits
when a drug of the regimen needs renal dosing and is a misfit (3) otherwise. `fault` says when the citation is
invented or about another syndrome: the clinical check counts it as an untrue statement.
Try it: pytest tests/judge/test_rules_judge.py -k reference
"""

from __future__ import annotations

import re
from functools import lru_cache

from amr_grpo.guidelines import load_kb
from amr_grpo.judge.rules.context import CaseContext, one_route
from amr_grpo.judge.rules.reading import Reading

_F = re.IGNORECASE
_NATIONAL = re.compile(r"ncdc|icmr|national\s+treatment\s+guideline|\bntg\b|national\s+guideline", _F)
_OTHER_REAL = re.compile(r"\bwho\b|aware|idsa|\bnice\b|\bcdc\b|\bfda\b|sanford|\bics\b|nccp|\bbnf\b|naco|eucast|"
                         r"clsi|\bats\b|escmid|\bsign\b", _F)
_SECTION = re.compile(r"(?:sections?|sec\.?|§|chapters?|ch\.?)\s*(\d+(?:\.\d+)*(?:\s*(?:,|and|&)\s*\d+(?:\.\d+)+)*)",
                      _F)
_NUMBER = re.compile(r"\d+(?:\.\d+)+")
_TABLE = re.compile(r"table\s*(\d+(?:\.\d+)*)", _F)
_PAGE = re.compile(r"\b(?:p|pg|page|pp)\.?\s*(\d+)", _F)
_GENERAL = re.compile(r"general\s+(?:clinical\s+)?knowledge", _F)
RENAL_TABLE = "14.1"  # ICMR 2019 Table 14.1: renal dose modification


@lru_cache(maxsize=1)
def known_sections() -> dict[str, str]:
    """Every real guideline section number of the knowledge base ('5.1', '12.5' ...) -> what it covers."""
    kb = load_kb()
    out: dict[str, str] = {}
    for s in kb.syndromes:
        for number in s.source.sections:
            out.setdefault(number, s.name)
    for c in kb.citations():
        if "section" in c and "table" not in c.lower():
            for number in _NUMBER.findall(c.split("section", 1)[1].split(", p.")[0]):
                out.setdefault(number, "a guideline section")
    return out


def _expected(ctx: CaseContext) -> set[str]:
    out = set(ctx.syndrome.source.sections) if ctx.syndrome else set()
    if ctx.gt.citation:
        for m in _SECTION.finditer(ctx.gt.citation):
            out.update(_NUMBER.findall(m.group(1)) or [m.group(1)])
    return out


def _renal_relevant(ctx: CaseContext, r: Reading) -> bool:
    """A drug of the endorsed regimen, given over days, needs renal dosing from Table 14.1 (a single pre-incision
    dose is given in full whatever the CrCl, so there is no renal dosing for the table to back)."""
    endorsed = {(d.drug, one_route(d.route)) for d in r.endorsed or () if d.drug and d.interval_h != 0
                and not ((t := ctx.normal_target(d.drug)) and t.interval_h == 0)}
    return any(k.kind == "renal" and k.action in ("adjust", "avoid") and RENAL_TABLE in k.source
               for d, route in endorsed for k in ctx.drug_risks(d, route))


def reference_score(ctx: CaseContext, r: Reading) -> tuple[int, str, bool]:
    """(score, justification, fault: an invented section or one about another syndrome)."""
    ref = r.v.reference
    if not ref:
        return 1, "reference: no reference line", False
    flat = " ".join(ref.split())
    own = ctx.syndrome.source if ctx.syndrome else None
    if own and own.guideline.lower() in flat.lower() and not _NATIONAL.search(own.guideline):
        # the knowledge base's source for this syndrome is not the national guideline (e.g. a trial): citing it
        # is citing what the knowledge base rests on
        return 5, f"reference: cites the source the knowledge base gives for {ctx.syndrome.name}", False
    if own and own.confidence == "GK" and _GENERAL.search(ref):
        return 5, f"reference: general clinical knowledge, as the knowledge base has it for {ctx.syndrome.name}", False
    if not _NATIONAL.search(ref):
        if _OTHER_REAL.search(ref):
            return 2, "reference: a real guideline, but not the national NCDC/ICMR guideline", False
        return 1, f"reference: guideline not recognised: {ref[:60]!r}", True
    sections, expected = known_sections(), _expected(ctx)
    renal = _renal_relevant(ctx, r)
    cited = [n for m in _SECTION.finditer(flat) for n in (_NUMBER.findall(m.group(1)) or [m.group(1)])]
    tables = [m.group(1) for m in _TABLE.finditer(flat)]
    judged: list[tuple[int, str, bool]] = []
    for n in dict.fromkeys(cited):
        if n not in sections:
            judged.append((1, f"section {n} does not exist in the guideline", True))
        elif expected and n not in expected:
            judged.append((2, f"section {n} covers {sections[n]}, not this case", True))
        elif not expected:
            judged.append((4, f"real section {n}; the knowledge base has no section for this case to check against",
                           False))
        else:
            judged.append((5, f"section {n} is the one for this case", False))
    for n in dict.fromkeys(tables):
        if n != RENAL_TABLE:
            judged.append((1, f"table {n} is not a guideline table the knowledge base knows", True))
        elif not renal:
            judged.append((3, "ICMR 2019 Table 14.1 cited, but no drug here needs renal dosing", False))
    if not cited:
        if tables and renal and not any(j[0] < 4 for j in judged):
            return 4, "reference: renal table cited, no syndrome section", False
        worst = min(judged, default=(3, "the right guideline but no section", False))
        return min(3, worst[0]), "reference: " + worst[1], worst[2]
    worst = min(judged, key=lambda j: j[0])
    if worst[0] < 5:
        return worst[0], "reference: " + worst[1], worst[2]
    if renal and not any(t == RENAL_TABLE for t in tables) and "renal" not in flat.lower():
        return 4, "reference: right section, but renal dosing without ICMR Table 14.1", False
    part = next((p for p in re.split(r"[;\n]", ref) if any(n in expected for m in _SECTION.finditer(p)
                                                           for n in _NUMBER.findall(m.group(1)))), ref)
    page = _PAGE.search(part)
    want_page = ctx.syndrome.source.page if ctx.syndrome else None
    if page and want_page and page.group(1) not in re.findall(r"\d+", want_page):
        return 4, f"reference: right section, page {page.group(1)} instead of {want_page}", False
    return 5, "reference: " + worst[1], False
