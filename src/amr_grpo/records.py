"""The records passed between stages: Patient, Case, GroundTruth, Dose, Validation, MetricScore, Verdict.

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
    crcl_ml_min: float | None = None  # creatinine clearance (Cockcroft-Gault), mL/min
    serum_creatinine_mg_dl: float | None = None
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


@dataclass
class Case:
    """One prescription to validate. `patient` is structured or free text (then in Patient.text)."""

    id: str
    patient: Patient
    diagnosis: str
    prescription: str
    setting: str | None = None  # e.g. "OPD", "ward", "ICU"
    syndrome: str | None = None  # knowledge-base syndrome key, when known

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


@dataclass
class Validation:
    """A policy output parsed into the DESIGN.md format. parse_ok False = unparseable (no guess was made)."""

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
    critical_error: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "scores": {k: {"score": v.score, "justification": v.justification} for k, v in self.scores.items()},
            "weighted_reward": self.weighted_reward,
            "metrics_used": list(self.metrics_used),
            "judge": {"backend": self.backend, "model": self.model, "rubric_version": self.rubric_version},
            "cached": self.cached,
            "flags": {"injection_suspected": self.injection_suspected, "critical_error": self.critical_error},
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
        )
