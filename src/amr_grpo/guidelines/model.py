"""Typed rows of the guideline knowledge base (the data lives in the YAML files beside this module).

Every row carries a Source: the guideline, section, page and a confidence label (Q-NCDC25, Q-ICMR19, S-ICMR19,
X, GK; sources.yaml says what each means). Try it: python -m amr_grpo.guidelines
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CONFIDENCE_LABELS = ("Q-NCDC25", "Q-ICMR19", "S-ICMR19", "X", "GK")
PREGNANCY_ACTIONS = (  # PregnancyRule.action
    "ok", "caution", "avoid", "avoid_first_trimester", "avoid_near_term", "avoid_first_trimester_and_near_term",
)


@dataclass(frozen=True)
class Source:
    guideline: str  # e.g. "NCDC/ICMR NTG v2.0 (2025)", "ICMR 2019 Table 14.1", "US FDA label"
    section: str | None
    page: str | None
    confidence: str  # one of CONFIDENCE_LABELS

    @property
    def sections(self) -> tuple[str, ...]:
        """The numbered sections this source spans: '7.1, 7.2' -> ('7.1', '7.2'); '12.1-12.2' -> ('12.1', '12.2')."""
        return tuple(re.findall(r"(?<![\w.])\d+(?:\.\d+)+", self.section or ""))

    def cite(self) -> str:
        """Human citation, e.g. 'NCDC/ICMR NTG v2.0 (2025), section 5.1, p. 39'."""
        parts = [self.guideline]
        if self.section:
            parts.append(f"section {self.section}")
        if self.page:
            parts.append(f"p. {self.page}")
        return ", ".join(parts)


@dataclass(frozen=True)
class RegimenItem:
    """One drug of a guideline regimen, adult normal-renal-function dose."""

    drug: str  # canonical drug key
    route: str  # "PO" | "IV" | "IM" | "PO/IV"
    interval_h: float  # 24, 12, 8, 6, 4; 0 = single dose
    dose_mg: float | None = None
    dose_mg_per_kg: float | None = None
    dose_units: float | None = None  # unit-dosed drugs (e.g. polymyxin B in units)
    duration_days_min: float | None = None
    duration_days_max: float | None = None
    dose_text: str = ""  # as a clinician reads it: "4.5 g IV q6h"
    dose_max: float | None = None  # upper end of a dose range ("1-2 g"), in the unit of the dose field that is set
    interval_h_max: float | None = None  # upper end of an interval range ("q8-12h"); interval_h is the lower end


@dataclass(frozen=True)
class Regimen:
    items: tuple[RegimenItem, ...]
    text: str  # "Piperacillin-tazobactam 4.5 g IV q6h x 7 days"
    when: str = ""  # condition for this option, e.g. "penicillin allergy"


@dataclass(frozen=True)
class DoNotUse:
    drugs: tuple[str, ...]  # drug keys or class names ("fluoroquinolone")
    reason: str
    decision: str  # "Modify" | "Reject": what prescribing it calls for
    source: Source


@dataclass(frozen=True)
class Syndrome:
    key: str  # e.g. "cap_opd_no_comorbidity"
    name: str
    synonyms: tuple[str, ...]
    setting: str  # "OPD" | "ward" | "ICU" | "any" ...
    no_antibiotic: bool  # True where no antibiotic is indicated (viral URTI, watery diarrhoea ...)
    first_line: tuple[Regimen, ...]
    alternatives: tuple[Regimen, ...]
    do_not_use: tuple[DoNotUse, ...]
    key_points: tuple[str, ...]
    source: Source
    group: str = ""  # family of settings sharing generic synonyms, e.g. "cap" for every CAP setting

    @property
    def citation(self) -> str:
        return self.source.cite()


@dataclass(frozen=True)
class RenalBand:
    crcl_min: float | None  # inclusive lower bound, mL/min (None = no lower bound)
    crcl_max: float | None  # exclusive upper bound (None = no upper bound)
    action: str  # "no_change" | "adjust" | "avoid" | "review"
    advice: str  # e.g. "3.375 g q6h"
    source: Source
    route: str | None = None  # set when the band applies to one route only (amoxicillin-clavulanate PO vs IV)


@dataclass(frozen=True)
class PregnancyRule:
    action: str  # "ok" | "caution" | "avoid" | "avoid_first_trimester" | "avoid_near_term" | "avoid_first_trimester_and_near_term"
    note: str
    source: Source


@dataclass(frozen=True)
class Interaction:
    with_drugs: tuple[str, ...]  # names of interacting medicines or classes (lower case)
    effect: str
    action: str  # "avoid" | "monitor"
    source: Source


@dataclass(frozen=True)
class Drug:
    key: str  # canonical, lower case, e.g. "amoxicillin-clavulanate"
    name: str
    synonyms: tuple[str, ...]  # names, abbreviations, brand-style forms: "amox-clav", "co-amoxiclav", "augmentin"
    drug_class: str  # e.g. "penicillin", "cephalosporin", "fluoroquinolone"
    allergy_groups: tuple[str, ...]  # allergy labels that forbid it: ("penicillin", "beta-lactam")
    aware: str  # "Access" | "Watch" | "Reserve"
    adult_dose: str
    renal: tuple[RenalBand, ...]
    pregnancy: PregnancyRule | None
    interactions: tuple[Interaction, ...]
    source: Source
    notes: tuple[str, ...] = field(default_factory=tuple)
    aware_by_route: tuple[tuple[str, str], ...] = ()  # route-specific AWaRe group, e.g. (("IV", "Reserve"),)
    aware_source: Source | None = None  # where the AWaRe group comes from (WHO AWaRe 2025)

    def aware_for(self, route: str | None) -> str:
        """AWaRe group for a route ("IV", "PO" ...); the drug's default group when the route has no entry."""
        for r, group in self.aware_by_route:
            if route and r == route.upper():
                return group
        return self.aware
