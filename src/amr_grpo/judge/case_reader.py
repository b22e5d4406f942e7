"""Read a patient case (free text as Indian clinicians write it, or a structured dict) into a records.Case,
and a ground truth (reference validation text or a dict) into a records.GroundTruth.

Free text: labelled parts ("Dx:", "Rx -", "Imp:", "Plan:", "Diagnosis: ... Prescription: ..." on one line) or, without
labels, the sentences that read like a dose; the patient facts are read by judge/patient_text.py. Structured dicts:
the records.Case shape (the dataset's `context`) or a flat dict with common key aliases.
Nothing is guessed: a field the case does not state stays None / empty.
Try it:
  python -c "from amr_grpo.judge.case_reader import read_case as r; print(r('70/M, 60 kg, S. Cr 2.1 mg/dl. Dx: CAP'))"
"""

from __future__ import annotations

import re
from typing import Any

from amr_grpo.judge.parse import parse_validation
from amr_grpo.judge.patient_text import (
    FORM_DOT,
    NKDA,
    allergens,
    fill_crcl,
    items,
    medicines,
    read_patient,
    sex_of,
)
from amr_grpo.records import Case, Decision, GroundTruth, Patient

_F = re.IGNORECASE

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

_SETTINGS = (("ICU", re.compile(r"\b(?:[mst]?icu|intensive\s+care|on\s+ventilator|ventilated|hdu)\b", _F)),
             ("ward", re.compile(r"\b(?:ward|admitted|inpatient|in-patient|ipd|hospitali[sz]ed)\b", _F)),
             ("OPD", re.compile(r"\b(?:opd|outpatient|out-patient|clinic|ambulatory)\b", _F)))
_SENTENCE = re.compile(r"(?<=[.;])\s+(?=[A-Z(])|\n")
_ORDERED = re.compile(r"\b(?:started|prescribed|given|advised|rx|initiated|commenced|plan)\b", _F)
_DOSE_LIKE = re.compile(r"\d\s*(?:mg|g|gm|mu|iu|lakh)\b(?!\s*(?:/\s*(?:dl|l|ml|mmol)\b|%))"
                        r"|\b(?:q\d+h|od|bd|tds|qid|stat)\b", _F)  # a dose, not a lab value ("2.1 mg/dl", "Hb 10 g/dl")


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
    sentences = _SENTENCE.split(FORM_DOT.sub(r"\1", text))  # "Inj. X" is not a sentence end
    return " ".join(s.strip() for s in sentences if _DOSE_LIKE.search(s) and not re.search(r"\ballerg", s, _F)
                    and (_ORDERED.search(s) or not medicines(s)))


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
                v = [] if NKDA.search(v) or v.strip().lower() in ("none", "nil", "no") else (
                    allergens("allergic to " + v) if name == "allergies" else items(v))
            setattr(p, name, [str(x).strip().lower() if name != "comorbidities" else str(x).strip() for x in v])
        elif name == "sex":
            p.sex = sex_of(str(v).strip()[:6]) if str(v).strip() else None
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
            d[key] = items(d[key])
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
