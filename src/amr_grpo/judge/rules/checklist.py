"""The per-case checklist: what a correct validation of this case states or does, built once per case from the case
and the knowledge base (rubric items in the manner of "Rubrics as Rewards", but deterministic).

Items: the indication (and whether an antibiotic is needed at all); the prescribed drug and, when the prescription is
wrong, the element at fault as prescribed; the regimen the guideline accepts for this patient; each risk with its
case value (the allergen, the CrCl or eGFR and the adjustment, the gestation, the interacting medicine, the organism
and its sensitivities, the severity); the expected decision and why; the sections that may be cited; and pitfalls,
what must not be done (endorse a drug the patient must not get, give an antibiotic where none is indicated, withhold
one where it is needed, approve a flawed prescription). Importance: essential (missing it is a wrong validation),
important, pitfall.
Each item carries its evidence: the case-specific words that show it is stated. `matchers` compiles them; generic
words ("allergy, renal, pregnancy") are never evidence.
Try it: amr-grpo checklist data/cases.jsonl:1
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from amr_grpo.guidelines import load_kb
from amr_grpo.guidelines.text import words as kb_words
from amr_grpo.judge.rules.context import CaseContext, one_route, pregnancy_flags, renal_label
from amr_grpo.judge.rules.regimen import dose_words
from amr_grpo.records import Checklist, ChecklistItem, Decision

CHECKLIST_VERSION = "checklist-v1"
RENAL_TABLE = "Table 14.1"  # ICMR 2019 Table 14.1: renal dose modification
_REACTIONS = frozenset("""hives rash urticaria anaphylaxis anaphylactic angioedema itching itch swelling severe mild
reaction reactions allergy allergic allergies intolerance stevens johnson sjs ten gi upset nausea vomiting
wheeze wheezing breathlessness blisters documented history unknown type childhood""".split())
_STOP = frozenset("""the and with without for from due not non of in on to or a an at by as is are was were be this that
acute chronic severe mild moderate infection infections community acquired hospital adult patient outpatient inpatient
uncomplicated complicated presumed suspected likely probable ill severely day days empiric therapy treatment admitted
ward icu opd setting no yes routine stage grade type recent non any other risk exposure associated related onset
late early due after before history""".split())
_GENERIC_ORGANS = frozenset("kidney renal liver hepatic heart cardiac lung disease failure chronic".split())
_ORGANISM = re.compile(
    r"\b(e\.?\s?coli|klebsiella|pseudomonas|acinetobacter|staph\w*|s\.\s?aureus|aureus|mrsa|mssa|strep\w*|enterococc\w*|"
    r"vre|salmonella|typhi|paratyphi|esbl|carbapenem[- ]resistant|cre|cro|candida|proteus|enterobacter|citrobacter|"
    r"serratia|haemophilus|h\.\s?influenzae|shigella|vibrio|clostridi\w*|difficile|gonorrh\w*|gonococc\w*|chlamydia|"
    r"listeria|bacteroides|mycoplasma|legionella|pneumococc\w*|meningococc\w*|orientia|entamoeba)\b", re.I)


# ---- text normalisation shared with the reading of an output ---------------------------------------------------
_TOKENS = re.compile(r"\d+(?:\.\d+)?|[a-z]+")


def tokens(text: str) -> list[str]:
    """Lower-case words and numbers, split apart, punctuation dropped: '200mg BD.' -> ['200', 'mg', 'bd']."""
    return _TOKENS.findall(text.lower())


def normalise(text: str) -> str:
    """The tokens joined by single spaces and padded: '200mg BD.' -> ' 200 mg bd '; a needle search is then a
    substring test."""
    return " " + " ".join(tokens(text)) + " "


def needle(phrase: str) -> str:
    """A phrase as it is searched for in normalise()d text: a leading word boundary; a number also ends at one."""
    n = normalise(phrase).rstrip()
    return n + " " if n[-1:].isdigit() else n


@dataclass(frozen=True)
class Matcher:
    """How one checklist item is found stated in an output.

    how: "phrases" (any needle in the normalised text) | "names" (every word of one name) | "drugs" (every drug key
    named, and a dose for each when `groups` are given) | "any drug" (one of them named) | "patient" (one of the
    patient's own values) | "renal" (a value or band that contains `value`) | "pregnancy" (pregnancy named with the
    gestation `value`, weeks) | "regimen" (the
    endorsed regimen passes the regimen check) | "decision" | "citation" | "pitfall" (never "stated": it is a thing
    not to do, checked by the judge's safety checks)."""

    key: str
    kind: str
    importance: str
    how: str
    needles: tuple[str, ...] = ()
    drugs: frozenset[str] = frozenset()
    value: float | None = None
    groups: tuple[tuple[str, ...], ...] = ()  # each group needs one of its needles too (a dose per drug)
    names: tuple[frozenset[str], ...] = ()  # "names": stated when every word of one of these is
    danger: bool = False  # a risk that makes the prescription itself dangerous if it is missed


def _core_words(text: str, drop: frozenset[str] = _REACTIONS) -> list[str]:
    """The words of an allergy or medicine that name it: 'Penicillins (hives)' -> ['penicillin']."""
    text = re.sub(r"\([^)]*\)", " ", text.lower())
    return [w for w in kb_words(text) if len(w) >= 3 and w not in drop and w not in _STOP and not w.isdigit()]


def _indication_names(ctx: CaseContext) -> tuple[frozenset[str], ...]:
    """The names of the indication as word sets: the syndrome's name and synonyms and the diagnosis as written.
    The indication is stated when every word of one of them is ('CAUTI', 'catheter-associated UTI'); a single word
    they share with other syndromes ('surgery', 'catheter') is not enough."""
    names = [ctx.case.diagnosis] + ([ctx.syndrome.name, *ctx.syndrome.synonyms] if ctx.syndrome else [])
    out: list[frozenset[str]] = []
    for name in names:
        content = frozenset(w for w in kb_words(name or "") if len(w) >= 3 and w not in _STOP and not w.isdigit())
        if content and content not in out:
            out.append(content)
    return tuple(out)


def allergy_groups(text: str) -> frozenset[str]:
    from amr_grpo.judge.rules.statements import allergy_groups as groups  # statements.py reads this module

    return groups(text)


def _drug_names(keys) -> str:
    kb = load_kb()
    return ", ".join((d.name if (d := kb.drug(k)) else k) for k in keys)


def _item(key: str, kind: str, importance: str, text: str, evidence: tuple[str, ...] = (), source: str = "",
          how: str = "phrases", needles: tuple[str, ...] | None = None, drugs: frozenset[str] = frozenset(),
          value: float | None = None, groups: tuple[tuple[str, ...], ...] = (),
          names: tuple[frozenset[str], ...] = (), danger: bool = False) -> tuple[ChecklistItem, Matcher]:
    item = ChecklistItem(key, kind, importance, text, tuple(evidence), source)
    got = needles if needles is not None else tuple(dict.fromkeys(needle(e) for e in evidence if e.strip()))
    return item, Matcher(key, kind, importance, how, got, drugs, value, groups, names, danger)


def _regimen_drugs(ctx: CaseContext) -> frozenset[str]:
    """The drugs of the regimen a correct validation ends with: the ground truth's, else the prescription when it
    is to be approved, else the first-line regimen's."""
    gt = next((o for o in ctx.options if o.kind == "ground truth"), None)
    if gt:
        return frozenset(t.drug for t in gt.targets)
    if Decision.APPROVE in ctx.expected:
        return frozenset(d.drug for d in ctx.prescribed if d.drug)
    first = next((o for o in ctx.options if o.kind == "first-line"), None)
    return frozenset(t.drug for t in first.targets) if first else frozenset()


def build(ctx: CaseContext) -> tuple[Checklist, tuple[Matcher, ...]]:
    """The checklist of a case and the matchers that find each item in an output."""
    kb, p = load_kb(), ctx.case.patient
    rows: list[tuple[ChecklistItem, Matcher]] = []
    s = ctx.syndrome
    expected = sorted(d.value for d in ctx.expected)
    prescribed = frozenset(d.drug for d in ctx.prescribed if d.drug)
    regimen_drugs = _regimen_drugs(ctx)
    relevant = prescribed | regimen_drugs
    # the route each drug is given by here (renal bands can differ by route: amoxicillin-clavulanate PO vs IV)
    routes = {t.drug: one_route(t.route) for o in ctx.options for t in o.targets if o.kind == "ground truth"}
    routes.update({d.drug: one_route(d.route) for d in ctx.prescribed if d.drug and d.drug not in routes})

    # the indication
    need = "no antibiotic is indicated" if ctx.no_antibiotic else "an antibiotic is indicated" if s else \
        "the syndrome could not be matched in the knowledge base"
    what = s.name if s else (ctx.case.diagnosis or "the diagnosis")
    rows.append(_item("indication", "indication", "essential", f"Names the indication: {what} ({need}).",
                      (what,), s.citation if s else "", how="names", names=_indication_names(ctx)))
    # the prescription, and what is wrong with it
    if prescribed:
        # to approve, a validation restates what it approves: each drug with its dose as prescribed
        doses = tuple(w for d in ctx.prescribed if d.drug and (w := tuple(needle(x) for x in dose_words(d))))
        approve = Decision.APPROVE in ctx.expected and bool(doses)
        what = "drugs and their doses" if approve else "drug"
        rows.append(_item("prescription", "regimen", "essential",
                          f"Names the prescribed {what}: {ctx.case.prescription}.",
                          tuple(sorted(prescribed)) + tuple(w[0].strip() for w in doses if approve),
                          how="drugs" if approve else "any drug", drugs=prescribed, groups=doses if approve else ()))
    regimen_check = ctx.prescription_check
    wrong = ctx.expected and Decision.APPROVE not in ctx.expected
    if regimen_check is not None and wrong and regimen_check.faults:
        faults = [f for f in regimen_check.faults if f[2]]
        if faults:
            said = "; ".join(f"{_drug_names([d])} {element} ({words[0]})" for d, element, words in faults)
            evidence = tuple(w for _, _, words in faults for w in words)
            rows.append(_item("fault", "regimen", "essential", f"Says what is wrong as prescribed: {said}.",
                              evidence))
    # the patient in front of it: a validation that states none of the patient's own facts is patient-blind
    facts = _patient_facts(ctx)
    if facts:
        rows.append(_item("patient", "patient", "essential",
                          "Reads the patient: states the patient's own facts (" + ", ".join(facts[:4]) + ").",
                          tuple(facts), how="patient", value=p.renal_function()))
    # the regimen to end with
    if ctx.no_antibiotic:
        rows.append(_item("regimen", "regimen", "essential", "Recommends no antibiotic (supportive care only).",
                          ("no antibiotic",), s.citation if s else "", how="regimen"))
    elif regimen_drugs:
        texts = [o.text for o in ctx.options if o.kind == "ground truth"] or (
            [ctx.case.prescription] if Decision.APPROVE in ctx.expected else [o.text for o in ctx.options[:1]])
        rows.append(_item("regimen", "regimen", "essential",
                          f"Ends with a regimen the guideline accepts for this patient: {texts[0]}.",
                          tuple(sorted(regimen_drugs)), how="regimen", drugs=regimen_drugs))

    # each risk with its value
    for allergy in p.allergies:
        conflicts = sorted(d for d in relevant | prescribed if kb.allergy_conflict(d, [allergy]))
        core = _core_words(allergy)
        named = kb.find_drugs(allergy)
        # the allergen's own group and the words clinicians use for it ("PCN", "sulpha") name it too
        # (a short term that starts its group's name, "pen", would also match "penem": the name itself is enough)
        terms = [w for g in sorted(allergy_groups(allergy)) for w in (g, *kb.raw.allergy_terms.get(g, ()))
                 if len(w) >= 3 and not (len(w) <= 3 and g.startswith(w) and w != g)]
        evidence = tuple(dict.fromkeys([*core, *named, *terms])) or (allergy,)
        act = f"; avoid {_drug_names(conflicts)}" if conflicts else ""
        rows.append(_item(f"allergy:{allergy}", "allergy", "essential" if conflicts else "important",
                          f"States the allergy: {allergy}{act}.", evidence,
                          danger=any(kb.allergy_conflict(d, [allergy]) for d in prescribed)))
    renal = p.renal_function()
    if renal is not None:
        label = renal_label(ctx.case)
        due = [r for d in sorted(relevant) for r in ctx.drug_risks(d, routes.get(d)) if r.kind == "renal"]
        acts = "; ".join(f"{_drug_names([r.drug])}: {r.action} ({r.value})" for r in due)
        band = "renal impairment" if renal < 60 else "no renal dose change"
        rows.append(_item("renal", "renal", "essential" if due else "important",
                          f"States the renal function: {label} {renal:g} mL/min ({acts or band}).",
                          (f"{label} {renal:g}",), due[0].source if due else "", how="renal", value=renal,
                          danger=any(r.drug in prescribed and r.action in ("adjust", "avoid") for r in due)))
    elif any(r.kind == "renal" for r in ctx.risks):
        rows.append(_item("renal", "renal", "important", "Notes the kidney disease (no CrCl or eGFR given).",
                          ("kidney", "renal", "ckd", "dialysis")))
    if p.pregnant:
        weeks = p.gestation_weeks
        rules = [(d, r) for d in sorted(relevant) if (r := kb.pregnancy_rule(d))
                 and pregnancy_flags(r.action, weeks)[0]]
        act = "; ".join(f"{_drug_names([d])}: {r.action}" for d, r in rules)
        when = f"{weeks:g} weeks" if weeks else "gestation not given"
        rows.append(_item("pregnancy", "pregnancy", "essential" if rules else "important",
                          f"States the pregnancy ({when}){': ' + act if act else ''}.",
                          ("pregnant", f"{weeks:g} weeks") if weeks else ("pregnant",), how="pregnancy",
                          value=weeks, danger=any(d in prescribed for d, _ in rules)))
    for r in ctx.risks:
        if r.kind == "interaction" and r.drug in relevant:
            core = _core_words(r.value, _STOP) or [r.value]
            rows.append(_item(f"interaction:{r.value}", "interaction", "essential",
                              f"States the interaction: {r.detail}.", tuple(core), r.source,
                              danger=r.drug in prescribed))
    if p.cultures:
        organisms = [m.group(0) for m in _ORGANISM.finditer(p.cultures)]
        drugs = sorted(ctx.susceptible | ctx.resistant)
        if organisms or drugs:
            rows.append(_item("culture", "culture", "important", f"Reads the culture report: {p.cultures}.",
                              tuple(dict.fromkeys(organisms + [load_kb().drug(d).name for d in drugs]))))
    # the severity, by the signs the case shows (SBP 88, RR 30, CURB-65 0, confused): the words 'mild' or 'severe'
    # alone are no reading of the case (a constant text can name them all), nor is the diagnosis's own 'severe'
    if ctx.case.severity and (signs := [x for x in ctx.case.severity_signs if not x.startswith("stated ")]):
        rows.append(_item("severity", "severity", "important",
                          f"Notes the severity: {ctx.case.severity} ({', '.join(signs)}).", tuple(signs),
                          needles=_severity_needles(signs)))

    # the decision, the citation
    if expected:
        rows.append(_item("decision", "decision", "essential",
                          f"Decides {' or '.join(expected)}: {ctx.expected_source}.", tuple(expected),
                          how="decision"))
    sections = expected_sections(ctx)
    where = ", ".join(sections) if sections else "the national guideline (the knowledge base has no section for it)"
    rows.append(_item("citation", "citation", "important", f"Cites {where}.", sections or ("NCDC/ICMR",),
                      how="citation"))

    # pitfalls
    avoid = avoid_drugs(ctx)
    for d, why in sorted(avoid.items()):
        rows.append(_item(f"avoid:{d}", "regimen", "pitfall", f"Does not endorse {_drug_names([d])}: {why}.",
                          (d,), how="pitfall"))
    if ctx.no_antibiotic and prescribed:
        rows.append(_item("no_antibiotic", "indication", "pitfall", "Does not give an antibiotic: none is indicated.",
                          how="pitfall"))
    if not ctx.no_antibiotic and ctx.options:
        sev = " (a serious infection: withholding is a critical error)" if ctx.serious else ""
        rows.append(_item("withhold", "indication", "pitfall", f"Does not withhold the antibiotic{sev}.",
                          how="pitfall"))
    if wrong and prescribed:
        rows.append(_item("approve", "decision", "pitfall", "Does not approve the prescription as written.",
                          how="pitfall"))

    items = tuple(i for i, _ in rows)
    regimens = tuple(o.text + _renal_note(ctx, o) for o in ctx.options
                     if o.justified and not any(r.contraindicated for t in o.targets for r in ctx.drug_risks(t.drug)))
    checklist = Checklist(
        syndrome=s.key if s else None,
        syndrome_name=s.name if s else None,
        candidates=tuple(ctx.case.syndrome_candidates),
        antibiotic_needed=None if s is None and not ctx.gt.recommended_regimen else not ctx.no_antibiotic,
        expected_decisions=tuple(expected),
        decision_why=ctx.expected_source,
        regimens=regimens,
        avoid=tuple(sorted(avoid)),
        sections=sections,
        items=items,
        version=CHECKLIST_VERSION,
        serious=ctx.serious,
    )
    return checklist, tuple(m for _, m in rows)


_SIGN_VALUE = re.compile(r"^(?P<name>[A-Za-z][\w-]*?)\s+(?P<value>\d+(?:\.\d+)?%?)$")
_SIGN_LINKS = ("", "of", "is", "was", "score", "score of")  # 'CURB-65 0', 'CURB-65 of 0', 'CURB-65 score of 0'


def _severity_needles(signs: list[str]) -> tuple[str, ...]:
    """Each sign the severity rests on as clinicians write it: a value sign with the words that join a name to its
    value ('CURB-65 of 0'); a sign read from words (shock, ventilated, altered mentation) by any of the reader's
    words for it ('intubated', 'on noradrenaline', 'confused')."""
    from amr_grpo.reading.context import SEVERITY_WORDS

    out = []
    for sign in signs:
        if m := _SIGN_VALUE.match(sign):
            out += [" ".join(x for x in (m["name"], link, m["value"]) if x) for link in _SIGN_LINKS]
            continue
        group = next((k for k, ws in SEVERITY_WORDS.items() if sign == k or sign in ws), None)
        out += [sign, *SEVERITY_WORDS[group]] if group else [sign]
    return tuple(dict.fromkeys(needle(e) for e in out))


def _patient_facts(ctx: CaseContext) -> list[str]:
    """The patient's own values as a validation writes them: age, weight, the renal value; without any of these,
    the names of the allergies, medicines and comorbidities."""
    p = ctx.case.patient
    out: list[str] = []
    if p.age is not None:
        out.append(f"{p.age:g}-year-old")
    if p.weight_kg is not None:
        out.append(f"{p.weight_kg:g} kg")
    if p.renal_function() is not None:
        out.append(f"{renal_label(ctx.case)} {p.renal_function():g}")
    if not out:
        for text in (*p.allergies, *p.current_medicines, *p.comorbidities):
            out += _core_words(text, _REACTIONS | _STOP | _GENERIC_ORGANS)
    return list(dict.fromkeys(out))


def _renal_note(ctx: CaseContext, o) -> str:
    """' (renal dose at CrCl 33: 3.375 g q6h)' for an option whose dose this patient's kidneys change (not for the
    ground truth's, which is already the patient's dose)."""
    if o.kind == "ground truth":
        return ""
    due = [r for t in o.targets if t.interval_h != 0 for r in ctx.drug_risks(t.drug, one_route(t.route))
           if r.kind == "renal" and r.action == "adjust"]
    renal = ctx.case.patient.renal_function()
    return f" (renal dose at {renal_label(ctx.case)} {renal:g}: " + "; ".join(
        f"{_drug_names([r.drug])} {r.value}" for r in due) + ")" if due else ""


def expected_sections(ctx: CaseContext) -> tuple[str, ...]:
    """The guideline sections a validation of this case may cite: the syndrome's, the ground truth's citation, and
    ICMR 2019 Table 14.1 when a drug of the case needs renal dosing."""
    out: list[str] = []
    if ctx.syndrome:
        out += [f"section {x}" for x in ctx.syndrome.source.sections]
    if ctx.gt.citation:
        out += [f"section {x}" for x in re.findall(r"section\s*(\d+(?:\.\d+)+)", ctx.gt.citation, re.I)]
    if any(r.kind == "renal" and r.action in ("adjust", "avoid") and "14.1" in r.source for r in ctx.risks):
        out.append(RENAL_TABLE)
    return tuple(dict.fromkeys(out))


def avoid_drugs(ctx: CaseContext) -> dict[str, str]:
    """Drug key -> why this patient must not get it: among the prescribed and guideline drugs and the syndrome's
    do-not-use list (allergy, pregnancy, interaction, renal, resistance, the guideline's own rule)."""
    kb = load_kb()
    out: dict[str, str] = {}
    drugs = {d.drug for d in ctx.prescribed if d.drug} | {t.drug for o in ctx.options for t in o.targets}
    for d in sorted(drugs):
        for r in ctx.drug_risks(d):
            if r.contraindicated:
                out.setdefault(d, r.detail)
    for d in sorted(ctx.resistant):
        out.setdefault(d, "the culture shows resistance")
    if ctx.syndrome:
        for d in sorted(drugs):
            if d not in ctx.susceptible and (rule := kb.do_not_use(ctx.syndrome.key, d)):
                out.setdefault(d, rule.reason)
    return out
