"""The records passed between stages: Patient, Case, GroundTruth, Dose, Validation, MetricScore, Verdict,
Checklist (with its ChecklistItem).

Small typed dataclasses with a fixed schema, each with to_dict()/from_dict() for JSON I/O.
Try it: python -c "from amr_grpo.records import Case; print(Case.from_dict({'id': 'x', 'patient': 'F 30y', 'diagnosis': 'cystitis', 'prescription': 'Nitrofurantoin 100 mg BD x 5d'}))"
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any


class Decision(str, Enum):
    APPROVE = "Approve"
    MODIFY = "Modify"
    REJECT = "Reject"

    @classmethod
    def parse(cls, text: str | None) -> Decision | None:
        """'approve', 'APPROVED', '**Modify**', 'reject.' -> Decision; anything else -> None (never a guess)."""
        if not text:
            return None
        word = text.strip().strip("*_`#:.- ").lower()
        for d in cls:
            if word in (d.value.lower(), d.value.lower() + "d", d.value.lower() + "ed"):
                return d
        if word in ("modification", "modify regimen"):
            return cls.MODIFY
        return None


def _pick(cls, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class Patient:
    """A patient profile; any field may be unknown (None / empty). `text` keeps a free-text profile as given."""

    age: float | None = None
    sex: str | None = None  # "M" | "F"
    weight_kg: float | None = None
    comorbidities: list[str] = field(default_factory=list)
    allergies: list[str] = field(default_factory=list)
    crcl_ml_min: float | None = None  # creatinine clearance, mL/min: stated, or Cockcroft-Gault when weight is known
    serum_creatinine_mg_dl: float | None = None
    egfr_ml_min: float | None = None  # eGFR, mL/min/1.73 m2: stated, or CKD-EPI 2021 (race-free) from creatinine
    renal_basis: str | None = None  # which value doses are judged by: see RENAL_BASES; None = renal function unknown
    pregnant: bool | None = None
    gestation_weeks: float | None = None
    current_medicines: list[str] = field(default_factory=list)
    cultures: str | None = None
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Patient:
        return cls(**_pick(cls, data))

    def renal_function(self) -> float | None:
        """The value renal dose bands are read with (mL/min): the one `renal_basis` names, else a stated or
        Cockcroft-Gault CrCl, else the eGFR (stated or estimated). None when the case gives no renal function."""
        if self.renal_basis in ("stated eGFR", "CKD-EPI 2021 eGFR (estimated)") and self.egfr_ml_min is not None:
            return self.egfr_ml_min
        return self.crcl_ml_min if self.crcl_ml_min is not None else self.egfr_ml_min


# Where a patient's renal function comes from, in the order a reader prefers them (a stated value wins).
RENAL_BASES = ("stated CrCl", "stated eGFR", "Cockcroft-Gault CrCl", "CKD-EPI 2021 eGFR (estimated)")
SEVERITIES = ("mild", "moderate", "severe")  # Case.severity; None = unknown (never silently taken as mild)


@dataclass
class Case:
    """One prescription to validate. `patient` is structured or free text (then in Patient.text)."""

    id: str
    patient: Patient
    diagnosis: str
    prescription: str
    setting: str | None = None  # e.g. "OPD", "ward", "ICU", "ED", "nursing home"; None = not stated
    syndrome: str | None = None  # knowledge-base syndrome key, when known
    severity: str | None = None  # one of SEVERITIES; None = unknown
    severity_signs: list[str] = field(default_factory=list)  # what the severity rests on: "RR 30", "SBP 90", "confused"
    syndrome_candidates: list[str] = field(default_factory=list)  # KB keys that nearly matched when syndrome is unknown

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["patient"] = self.patient.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        p = data.get("patient")
        patient = Patient(text=p) if isinstance(p, str) else Patient.from_dict(p or {})
        d = _pick(cls, data)
        d["patient"] = patient
        d["id"] = str(d.get("id", ""))
        return cls(**d)

    def render(self) -> str:
        """The case as the text a pharmacist (or a judge) reads."""
        lines = [f"Patient: {patient_summary(self.patient)}", f"Diagnosis: {self.diagnosis}"]
        if self.setting:
            lines.append(f"Setting: {self.setting}")
        lines.append(f"Prescription: {self.prescription}")
        return "\n".join(lines)


def patient_summary(p: Patient) -> str:
    if p.text and not any([p.age, p.sex, p.weight_kg, p.allergies, p.crcl_ml_min, p.current_medicines]):
        return p.text
    parts: list[str] = []
    if p.age is not None:
        parts.append(f"{p.age:g}-year-old")
    if p.sex:
        parts.append({"M": "male", "F": "female"}.get(p.sex.upper()[:1], p.sex))
    if p.weight_kg is not None:
        parts.append(f"{p.weight_kg:g} kg")
    s = " ".join(parts) or "adult"
    extra = []
    if p.pregnant:
        extra.append(f"pregnant ({p.gestation_weeks:g} weeks)" if p.gestation_weeks else "pregnant")
    if p.comorbidities:
        extra.append("comorbidities: " + ", ".join(p.comorbidities))
    extra.append("allergies: " + (", ".join(p.allergies) if p.allergies else "none known"))
    if p.crcl_ml_min is not None:
        extra.append(f"CrCl {p.crcl_ml_min:g} mL/min")
    if p.serum_creatinine_mg_dl is not None:
        extra.append(f"serum creatinine {p.serum_creatinine_mg_dl:g} mg/dL")
    if p.current_medicines:
        extra.append("current medicines: " + ", ".join(p.current_medicines))
    if p.cultures:
        extra.append(f"cultures: {p.cultures}")
    if p.text:
        extra.append(p.text)
    return s + "; " + "; ".join(extra)


@dataclass
class GroundTruth:
    """What a correct validation concludes. Any field may be unknown; `reference` is the reference validation text."""

    decision: Decision | None = None
    issues: list[str] = field(default_factory=list)  # e.g. ["renal_adjustment_missed", "allergy"]
    recommended_regimen: str | None = None
    reference: str | None = None
    citation: str | None = None
    syndrome: str | None = None
    flags: list[str] = field(default_factory=list)  # risk factors the validation must acknowledge

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["decision"] = self.decision.value if self.decision else None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroundTruth:
        d = _pick(cls, data)
        if "regimen" in data and "recommended_regimen" not in d:
            d["recommended_regimen"] = data["regimen"]
        d["decision"] = Decision.parse(d.get("decision")) if isinstance(d.get("decision"), str) else d.get("decision")
        return cls(**d)


@dataclass(frozen=True)
class Dose:
    """One drug of a parsed prescription line. Unknown parts are None; `unparsed` keeps what was not understood."""

    drug: str | None  # canonical knowledge-base drug key, e.g. "piperacillin-tazobactam"
    dose_mg: float | None = None  # absolute dose per administration in mg (None if weight-based or unknown)
    dose_mg_per_kg: float | None = None
    dose_units: float | None = None  # for unit-dosed drugs (MU, lakh U), in units
    route: str | None = None  # "PO" | "IV" | "IM"
    interval_h: float | None = None  # 24 = OD, 12 = BD, 8 = TDS, 6 = QID; 0 = single dose / stat
    duration_days: float | None = None
    text: str = ""  # the source text of this item
    unparsed: str = ""  # the part of `text` the parser could not interpret

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Validation:
    """A policy output parsed into the output format of amr_grpo.output_format. parse_ok False = unparseable (no guess was made).
    Frozen: the parser caches one record per text and every reader of that text shares it."""

    raw: str
    steps: list[str] = field(default_factory=list)
    decision: Decision | None = None
    recommended_regimen: str | None = None
    regimen: list[Dose] = field(default_factory=list)
    reference: str | None = None
    parse_ok: bool = False
    problems: list[str] = field(default_factory=list)  # why parsing failed or was partial

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["decision"] = self.decision.value if self.decision else None
        return d


@dataclass(frozen=True)
class MetricScore:
    score: int  # 1-5
    justification: str


@dataclass
class Verdict:
    """A judge's scores for one completion, serialised exactly as the HTTP contract's response."""

    scores: dict[str, MetricScore]
    weighted_reward: float
    metrics_used: list[str]
    backend: str
    model: str
    rubric_version: str
    cached: bool = False
    injection_suspected: bool = False
    critical_error: bool = False  # every score was capped (metrics.apply_critical_cap)
    case_unread: bool = False  # the case could not be matched to a syndrome: only what needs none was scored

    def to_dict(self) -> dict[str, Any]:
        return {
            "scores": {k: {"score": v.score, "justification": v.justification} for k, v in self.scores.items()},
            "weighted_reward": self.weighted_reward,
            "metrics_used": list(self.metrics_used),
            "judge": {"backend": self.backend, "model": self.model, "rubric_version": self.rubric_version},
            "cached": self.cached,
            "flags": {"injection_suspected": self.injection_suspected, "critical_error": self.critical_error,
                      "case_unread": self.case_unread},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        j, f = data.get("judge", {}), data.get("flags", {})
        return cls(
            scores={k: MetricScore(int(v["score"]), str(v["justification"])) for k, v in data["scores"].items()},
            weighted_reward=float(data["weighted_reward"]),
            metrics_used=list(data["metrics_used"]),
            backend=j.get("backend", ""),
            model=j.get("model", ""),
            rubric_version=j.get("rubric_version", ""),
            cached=bool(data.get("cached", False)),
            injection_suspected=bool(f.get("injection_suspected", False)),
            critical_error=bool(f.get("critical_error", False)),
            case_unread=bool(f.get("case_unread", False)),
        )


CHECKLIST_KINDS = ("indication", "patient", "regimen", "allergy", "renal", "pregnancy", "interaction", "culture",
                   "severity", "decision", "citation")
IMPORTANCE = ("essential", "important", "pitfall")


@dataclass(frozen=True)
class ChecklistItem:
    """One thing a correct validation of this case states or does, with the case-specific content that shows it."""

    key: str  # unique within a checklist: "indication", "allergy:penicillin", "renal:vancomycin", "decision" ...
    kind: str  # one of CHECKLIST_KINDS
    importance: str  # one of IMPORTANCE: essential (missing it is a wrong validation), important, pitfall (must NOT do)
    text: str  # the rubric item as one sentence a judge or a clinician can check
    evidence: tuple[str, ...] = ()  # case-specific terms that show the item is stated (the allergen, "crcl 25" ...)
    source: str = ""  # the guideline row behind the item

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = list(self.evidence)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChecklistItem:
        d = _pick(cls, data)
        d["evidence"] = tuple(d.get("evidence") or ())
        return cls(**d)


@dataclass(frozen=True)
class Checklist:
    """What the judge expects of a validation of one case, built once per case from the case and the knowledge base.

    Every judge (rules, LLM, hybrid, the Edge Function) checks the same items; `prepare` stores it in each record.
    """

    syndrome: str | None  # knowledge-base key; None when the case could not be matched (the case is "unread")
    syndrome_name: str | None
    candidates: tuple[str, ...]  # KB keys that nearly matched, when syndrome is None
    antibiotic_needed: bool | None  # None: unknown
    expected_decisions: tuple[str, ...]  # acceptable decisions ("Modify", "Reject"); () when unknown
    decision_why: str
    regimens: tuple[str, ...]  # acceptable regimens for this patient, constraints applied, as text
    avoid: tuple[str, ...]  # drug keys this patient must not be given (allergy, pregnancy, interaction, resistance)
    sections: tuple[str, ...]  # guideline sections that may be cited for this case
    items: tuple[ChecklistItem, ...]
    version: str = ""
    serious: bool | None = None  # a serious infection (withholding its antibiotic is a critical error); None: unknown

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in ("candidates", "expected_decisions", "regimens", "avoid", "sections"):
            d[k] = list(d[k])
        d["items"] = [i.to_dict() for i in self.items]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checklist:
        d = _pick(cls, data)
        for k in ("candidates", "expected_decisions", "regimens", "avoid", "sections"):
            d[k] = tuple(d.get(k) or ())
        d["items"] = tuple(ChecklistItem.from_dict(i) for i in d.get("items") or ())
        return cls(**d)
