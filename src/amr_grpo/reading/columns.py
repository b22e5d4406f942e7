"""The one table of column names: which spellings of a column name each case, ground-truth and patient field.

Used by `amr-grpo prepare` (data/normalize.py) and by the case reader (reading/reader.py), so a column that one
understands the other understands too. Names are compared after lower-casing with spaces and hyphens read as
underscores ("Case ID" -> "case_id").
Try it: python -c "from amr_grpo.reading.columns import ALIASES; print(ALIASES['diagnosis'])"
"""

from __future__ import annotations

CASE_FIELDS = ("id", "patient", "diagnosis", "prescription", "setting", "decision", "reference",
               "recommended_regimen", "citation", "syndrome", "issues", "flags")
OTHER_FIELDS = ("instruction", "input", "output", "messages")
PATIENT_FIELDS = ("age", "sex", "weight_kg", "comorbidities", "allergies", "crcl_ml_min", "serum_creatinine_mg_dl",
                  "egfr_ml_min", "pregnant", "gestation_weeks", "current_medicines", "cultures", "text")

# Accepted spellings (after lower-casing, spaces/hyphens -> "_") for each field.
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "case_id", "caseid", "uid", "record_id"),
    "patient": ("patient", "patient_profile", "patient_info", "patient_details", "profile"),
    "diagnosis": ("diagnosis", "dx", "indication", "impression", "assessment", "diagnoses", "provisional_diagnosis",
                  "final_diagnosis", "syndrome_name"),
    "prescription": ("prescription", "rx", "prescribed", "prescribed_regimen", "medication_order", "orders",
                     "antibiotic_prescribed", "antibiotics_prescribed", "prescribed_antibiotics"),
    "setting": ("setting", "care_setting", "location", "ward", "unit"),
    "decision": ("decision", "label", "verdict", "gold_decision"),
    "reference": ("reference", "reference_validation", "validation"),
    "recommended_regimen": ("recommended_regimen", "regimen", "recommended"),
    "citation": ("citation", "source", "guideline"),
    "syndrome": ("syndrome", "syndrome_key"),
    "issues": ("issues",),
    "flags": ("flags", "risk_factors"),
    "instruction": ("instruction", "prompt_instruction"),
    "input": ("input",),
    "output": ("output", "response", "completion"),
    "messages": ("messages", "conversation", "conversations"),
}
PATIENT_ALIASES: dict[str, tuple[str, ...]] = {
    "age": ("age", "age_years"),
    "sex": ("sex", "gender"),
    "weight_kg": ("weight_kg", "weight", "wt", "body_weight"),
    "comorbidities": ("comorbidities", "comorbidity", "conditions", "past_history", "pmh"),
    "allergies": ("allergies", "allergy", "drug_allergies"),
    "crcl_ml_min": ("crcl_ml_min", "crcl", "creatinine_clearance"),
    "serum_creatinine_mg_dl": ("serum_creatinine_mg_dl", "serum_creatinine", "creatinine", "scr"),
    "egfr_ml_min": ("egfr_ml_min", "egfr", "gfr"),
    "pregnant": ("pregnant", "pregnancy"),
    "gestation_weeks": ("gestation_weeks", "gestation", "gestational_age", "gestational_age_weeks"),
    "current_medicines": ("current_medicines", "medicines", "medications", "current_medications", "meds"),
    "cultures": ("cultures", "culture", "culture_results", "microbiology"),
    "text": ("text", "notes", "history", "summary", "description", "clinical_notes", "case_text", "note"),
}
# Keys whose value is the whole case as free text (a note, a vignette).
CASE_TEXT_KEYS = ("text", "case", "case_text", "description", "patient_case", "presentation", "summary", "note",
                  "clinical_note", "vignette")


def norm_key(name: str) -> str:
    """'Case ID' -> 'case_id', 'Weight-kg' -> 'weight_kg'."""
    return "_".join(str(name).strip().lower().replace("-", " ").split())
