"""The records the rules judge knows about a case before it reads a completion, and the knowledge-base facts behind
them: the regimens the guideline accepts (Target, Option), each patient risk factor (Risk), the syndrome.

A CaseContext is built once per distinct case and ground truth (judge/rules/build.py) and is frozen: nothing
another module computes is written into it. Its private caches (the patient's risks per drug, the regimen checks of
the regimens completions endorse) are filled by its own methods, `drug_risks` and `check`.
Try it:
  python -c "from amr_grpo.judge.rules import case_context as c; print(c('70/M 60 kg S. Cr 2.1 Dx: CAP', None).risks)"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from amr_grpo.guidelines import RegimenItem, Syndrome, load_kb, normalise_setting
from amr_grpo.records import Case, Checklist, Decision, Dose, GroundTruth

FIRST_TRIMESTER_END = 14.0  # weeks: the 1st trimester is weeks 1-13
NEAR_TERM_WEEKS = 36.0  # from here "avoid near term" rules apply (nitrofurantoin at 38-42 weeks)
RENAL_CONCERN = 60.0  # mL/min: below this a renal statement is expected even if no drug needs a change
MAX_CHECKS = 256  # regimen checks remembered per case
MAX_FREQUENCIES = 3  # the prescribed one and a two-drug regimen's are three; a list of every frequency is more
ECHO_TOKENS = 12  # a run this long copied from the case (not its diagnosis or prescription) is an echo, not a reading
_F = re.IGNORECASE
_RENAL_DISEASE = re.compile(r"\bckd\b|\baki\b|dialysis|\bm?hd\b|renal\s+(?:failure|impairment|insufficiency)|"
                            r"kidney\s+disease", _F)


@dataclass(frozen=True)
class Target:
    """One drug of an accepted regimen: what a validation's dose is compared with."""

    drug: str
    route: str | None
    interval_h: float | None
    mg: float | None = None
    per_kg: float | None = None
    units: float | None = None
    days_min: float | None = None
    days_max: float | None = None
    dose_max: float | None = None  # upper end of a dose range ("1-2 g"), same unit as the dose that is set
    interval_h_max: float | None = None  # upper end of an interval range ("q8-12h")


def target_of(i: RegimenItem) -> Target:
    return Target(i.drug, i.route, i.interval_h, i.dose_mg, i.dose_mg_per_kg, i.dose_units, i.duration_days_min,
                  i.duration_days_max, i.dose_max, i.interval_h_max)


def target_from_dose(d: Dose) -> Target | None:
    if not d.drug:
        return None
    return Target(d.drug, d.route, d.interval_h, d.dose_mg, d.dose_mg_per_kg, d.dose_units, d.duration_days,
                  d.duration_days)


@dataclass(frozen=True)
class Option:
    targets: tuple[Target, ...]
    text: str
    kind: str  # "ground truth" | "first-line" | "alternative"
    justified: bool = True  # an alternative with a reason in this case (allergy, first line contraindicated ...)


@dataclass(frozen=True)
class Risk:
    """A patient risk factor for one drug (or for the case). major: it changes management; contraindicated: the
    drug must not be given to this patient."""

    kind: str  # "allergy" | "renal" | "pregnancy" | "interaction"
    detail: str
    drug: str | None = None
    major: bool = True
    contraindicated: bool = False
    action: str = ""  # renal band action / interaction action / pregnancy action
    source: str = ""  # citation of the rule (e.g. "ICMR ... (2019), section Table 14.1 row 6, p. 165")
    value: str = ""  # what it is about: the allergy as written, the interacting medicine, the renal advice


@dataclass(frozen=True)
class RegimenCheck:
    score: int  # 1-5, guideline_adherence anchors
    why: str
    contraindicated: tuple[str, ...] = ()  # reasons a drug must not be given to this patient
    renal_unadjusted: tuple[str, ...] = ()  # drugs whose dose ignores an "adjust" renal band
    overdosed: tuple[str, ...] = ()  # drugs dosed above twice the guideline maximum
    option: str = ""
    faults: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (drug, element, how the regimen writes it)


@dataclass(frozen=True)
class CaseContext:
    case: Case
    gt: GroundTruth
    syndrome: Syndrome | None
    syndrome_via: str  # "ground truth" | "case" | "diagnosis" | ""
    prescribed: tuple[Dose, ...]
    options: tuple[Option, ...]
    no_antibiotic: bool  # the guideline (or ground truth) says no antibiotic is indicated
    serious: bool  # a serious infection: the guideline treats it in hospital, or the case says it is severe
    risks: tuple[Risk, ...]  # for the prescribed and the ground truth's drugs
    susceptible: frozenset[str] = frozenset()  # drug keys the culture report says the isolate is sensitive to
    resistant: frozenset[str] = frozenset()  # drug keys the culture report says it is resistant to
    expected: frozenset[Decision] = frozenset()  # acceptable decisions; empty = unknown
    expected_source: str = ""
    prescription_check: RegimenCheck | None = None  # the prescription itself against the guideline
    checklist: Checklist | None = None
    matchers: tuple = ()  # checklist.Matcher per item, in the checklist's order
    item_text: dict[str, str] = field(default_factory=dict, compare=False)  # checklist item key -> its text
    value_evidence: bool = False  # an item's evidence is a dose or a frequency (list-stuffing checks apply)
    related_drugs: frozenset[str] = frozenset()  # drugs a validation of this case may name without stuffing
    related_syndromes: frozenset[str] = frozenset()  # syndrome keys it may name
    allergy_groups: frozenset[str] = frozenset()  # the allergy groups of the patient's allergies
    echo: frozenset[tuple[str, ...]] = frozenset()  # ECHO_TOKENS-grams of the case text a validation may not copy
    echo_ends: frozenset[tuple[str, str]] = frozenset()  # (first, last) token of each of them
    max_frequencies: int = MAX_FREQUENCIES  # distinct frequencies a validation may name before they are a list
    _drug_risks: dict[tuple[str, str | None], tuple[Risk, ...]] = field(default_factory=dict, repr=False,
                                                                      compare=False)
    _checks: dict[tuple[Dose, ...] | None, RegimenCheck] = field(default_factory=dict, repr=False, compare=False)

    @property
    def unread(self) -> bool:
        """No syndrome could be matched with confidence: only what needs no syndrome is scored."""
        return self.syndrome is None

    def normal_target(self, drug: str) -> Target | None:
        """The guideline's normal-renal-function dose of this drug for the syndrome (not the ground truth's, which
        may already be adjusted); None when the syndrome's regimens do not use it."""
        return next((t for o in self.options if o.kind != "ground truth" for t in o.targets if t.drug == drug), None)

    def check(self, doses: tuple[Dose, ...] | None) -> RegimenCheck:
        """regimen.check_regimen of an endorsed regimen, remembered (a GRPO group repeats regimens); at most
        MAX_CHECKS kept per case."""
        if doses not in self._checks:
            from amr_grpo.judge.rules.regimen import check_regimen  # regimen.py reads this module's records

            if len(self._checks) >= MAX_CHECKS:
                self._checks.clear()
            self._checks[doses] = check_regimen(self, doses)
        return self._checks[doses]

    def drug_risks(self, drug: str, route: str | None = None) -> tuple[Risk, ...]:
        """The patient's risk factors for this drug (by route where the renal bands differ)."""
        k = (drug, route)
        if k not in self._drug_risks:
            self._drug_risks[k] = risks_for_drug(self.case, drug, route)
        return self._drug_risks[k]


def pregnancy_flags(action: str, weeks: float | None) -> tuple[bool, bool]:
    """(major, contraindicated) for a pregnancy rule at this gestation (None = unknown)."""
    if action == "ok":
        return False, False
    if action == "avoid":
        return True, True
    first = "first_trimester" in action and weeks is not None and weeks < FIRST_TRIMESTER_END
    term = "near_term" in action and weeks is not None and weeks >= NEAR_TERM_WEEKS
    return True, first or term


def renal_label(case: Case) -> str:
    """'CrCl' or 'eGFR': what the patient's renal value is (Patient.renal_basis)."""
    return "eGFR" if (case.patient.renal_basis or "").endswith(("eGFR", "eGFR (estimated)")) else "CrCl"


def risks_for_drug(case: Case, drug: str, route: str | None = None) -> tuple[Risk, ...]:
    kb, p = load_kb(), case.patient
    d = kb.drug(drug)
    name = d.name if d else drug
    out: list[Risk] = []
    for allergy in p.allergies:
        if why := kb.allergy_conflict(drug, [allergy]):
            out.append(Risk("allergy", why, drug, True, True, "avoid", value=allergy))
            break
    renal = p.renal_function()
    if renal is not None and (band := kb.renal_band(drug, renal, route)) and band.action != "no_change":
        out.append(Risk("renal", f"{name} at {renal_label(case)} {renal:g} mL/min: {band.action} ({band.advice})",
                        drug, True, band.action == "avoid", band.action, band.source.cite(), band.advice))
    if p.pregnant and (rule := kb.pregnancy_rule(drug)):
        major, contra = pregnancy_flags(rule.action, p.gestation_weeks)
        if major:
            out.append(Risk("pregnancy", f"{name} in pregnancy: {rule.action} ({rule.note})", drug, True, contra,
                            rule.action, rule.source.cite()))
    for it in kb.interactions(drug, p.current_medicines):
        med = next((m for m in p.current_medicines if it in kb.interactions(drug, [m])), p.current_medicines[0])
        out.append(Risk("interaction", f"{name} + {med}: {it.effect} ({it.action})", drug, True,
                        it.action == "avoid", it.action, it.source.cite(), med))
    return tuple(out)


def case_risks(case: Case, drugs: list[tuple[str, str | None]],
               cache: dict[tuple[str, str | None], tuple[Risk, ...]]) -> tuple[Risk, ...]:
    """The risks of the given drugs, then the case's own risk factors no drug rule covers."""
    p = case.patient
    risks: list[Risk] = []
    for drug in drugs:
        cache[drug] = risks_for_drug(case, *drug)
        risks.extend(r for r in cache[drug] if r not in risks)
    kinds = {r.kind for r in risks}
    if p.allergies and "allergy" not in kinds:
        risks.append(Risk("allergy", "allergy to " + ", ".join(p.allergies), major=False,
                          value=", ".join(p.allergies)))
    if p.pregnant and "pregnancy" not in kinds:
        risks.append(Risk("pregnancy", "pregnant" + (f" ({p.gestation_weeks:g} weeks)" if p.gestation_weeks else "")))
    renal = p.renal_function()
    if renal is not None and renal < RENAL_CONCERN and "renal" not in kinds:
        risks.append(Risk("renal", f"{renal_label(case)} {renal:g} mL/min", major=False))
    elif renal is None and _RENAL_DISEASE.search(" ".join(p.comorbidities) + " " + (p.text or "")):
        risks.append(Risk("renal", "kidney disease stated, no CrCl or eGFR given", major=False))
    return tuple(risks)


def _stated(condition: str, case_words: set[str]) -> bool:
    """An alternative's condition ('cefazolin unavailable', 'rickettsia-endemic area') is written in the case:
    at least two thirds of its words (4+ letters) are."""
    words = [w for w in re.findall(r"[a-z0-9]+", condition) if len(w) >= 4]
    return bool(words) and sum(w in case_words for w in words) * 3 >= 2 * len(words)


def one_route(route: str | None) -> str | None:
    """'PO/IV' (either) -> None, so a renal lookup takes the drug's default bands."""
    return route if route in ("PO", "IV", "IM") else None


def options_for(syndrome: Syndrome | None, gt_doses: list[Dose], gt_text: str, case: Case) -> tuple[Option, ...]:
    """The regimens the guideline accepts: the ground truth's, the first line, the alternatives (justified when the
    case gives their reason, or when every first-line option is contraindicated)."""
    out: list[Option] = []
    gt_targets = tuple(t for t in map(target_from_dose, gt_doses) if t)
    if gt_targets:
        out.append(Option(gt_targets, gt_text, "ground truth"))
    if syndrome is None:
        return tuple(out)
    first = [Option(tuple(map(target_of, r.items)), r.text, "first-line") for r in syndrome.first_line]
    blocked = all(any(rk.contraindicated for t in o.targets
                      for rk in risks_for_drug(case, t.drug, one_route(t.route))) for o in first)
    p = case.patient
    stated = set(re.findall(r"[a-z0-9]+", " ".join((case.diagnosis, p.text or "", p.cultures or "",
                                                       " ".join(p.comorbidities))).lower()))
    renal = p.renal_function()
    for r in syndrome.alternatives:
        when = r.when.lower()
        reason = blocked or (bool(p.allergies) and "allerg" in when) or (bool(p.pregnant) and "pregnan" in when) or (
            renal is not None and renal < RENAL_CONCERN and "renal" in when) or _stated(when, stated)
        text = r.text + (f" ({r.when})" if r.when else "")
        first.append(Option(tuple(map(target_of, r.items)), text, "alternative", reason))
    return tuple(out + first)


def find_syndrome(case: Case, gt: GroundTruth) -> tuple[Syndrome | None, str]:
    """The knowledge-base syndrome: the ground truth's, then the one the case reader resolved with confidence.
    None when neither: the case is unread (the reader lists candidates; incidental or historical words never
    choose a syndrome here)."""
    kb = load_kb()
    setting = normalise_setting(case.setting)
    for name, via in ((gt.syndrome, "ground truth"), (case.syndrome, "case")):
        if name and (s := kb.syndrome(name, setting)):
            return s, via
    return None, ""


_SUSCEPTIBILITY = re.compile(r"\b(sensitive|susceptible|resistant)\s+(?:only\s+)?to\s+(.+?)"
                             r"(?=[;.](?:\s|$)|$|,?\s+(?:and\s+|but\s+)?(?:sensitive|susceptible|resistant)\b)", _F)


@lru_cache(maxsize=1024)
def read_culture(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """Drug keys a culture report calls sensitive and resistant: 'E. coli sensitive to nitrofurantoin, fosfomycin;
    resistant to ciprofloxacin' -> ({nitrofurantoin, fosfomycin}, {ciprofloxacin})."""
    if not text:
        return frozenset(), frozenset()
    kb = load_kb()
    found: dict[str, set[str]] = {"s": set(), "r": set()}
    for m in _SUSCEPTIBILITY.finditer(text):
        found["r" if m.group(1).lower() == "resistant" else "s"].update(kb.find_drugs(m.group(2)))
    return frozenset(found["s"] - found["r"]), frozenset(found["r"])
