"""Renal function from a case: a stated CrCl or eGFR, else Cockcroft-Gault CrCl (creatinine, age, weight, sex), else
CKD-EPI 2021 eGFR (creatinine, age, sex; race-free), marked as estimated.

Precedence (records.RENAL_BASES): stated CrCl > stated eGFR > Cockcroft-Gault CrCl > CKD-EPI 2021 eGFR. crcl_ml_min
only ever holds a CrCl (stated or Cockcroft-Gault); an eGFR goes in egfr_ml_min; renal_basis names the value renal
dose bands are read with (Patient.renal_function()).
Try it: python -c "from amr_grpo.reading.renal import ckd_epi_2021; print(ckd_epi_2021(2.4, 72, 'M'))"
"""

from __future__ import annotations

import re

from amr_grpo.reading.facts import Evidence, _ev
from amr_grpo.records import Patient

_F = re.IGNORECASE
_NUM = r"(\d{1,3}(?:\.\d+)?)"
_LESS = r"(<|less\s+than|below|under)?\s*"
_CRCL = re.compile(r"\b(?:crcl|cr\.?\s*cl|ccr|creatinine\s+clearance|clcr)\b\s*(?:\(\s*(?:cockcroft[- ]gault|c-?g)\s*\)\s*)?"
                   r"(?:of|is|was|=|:|~|-|approx\.?|about|estimated\s+at)*\s*" + _LESS + _NUM, _F)
_EGFR = re.compile(r"\be?gfr\b\s*(?:\([^)]*\)\s*)?(?:of|is|was|=|:|~|-|approx\.?|about)*\s*" + _LESS + _NUM, _F)
_SCR = re.compile(
    r"\b(?:s(?:erum|r)?\.?\s*)?(?:cr|creat|creatinine)\b(?!\.?\s*cl)(?!\s*clearance)\.?\s*"
    r"(?:\([^)]*\)\s*)?(?:of|is|was|=|:|-|on\s+admission)?\s*"
    r"(\d{1,4}(?:\.\d+)?)\s*(mg\s*/\s*d[li]|mg%|(?:µ|u|micro)mol(?:\s*/\s*l)?)?", _F)


def cockcroft_gault(age: float, weight_kg: float, scr_mg_dl: float, sex: str) -> float:
    """CrCl (mL/min) = (140 - age) x weight / (72 x SCr), x 0.85 for women."""
    crcl = (140.0 - age) * weight_kg / (72.0 * scr_mg_dl)
    return round(crcl * (0.85 if sex.upper().startswith("F") else 1.0), 1)


def ckd_epi_2021(scr_mg_dl: float, age: float, sex: str) -> float:
    """eGFR (mL/min/1.73 m2), CKD-EPI 2021 race-free: 142 x min(SCr/k, 1)^a x max(SCr/k, 1)^-1.200 x 0.9938^age
    (x 1.012 for women); k = 0.7 (F) / 0.9 (M), a = -0.241 (F) / -0.302 (M)."""
    female = sex.upper().startswith("F")
    k, a = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = scr_mg_dl / k
    egfr = 142.0 * min(ratio, 1.0) ** a * max(ratio, 1.0) ** -1.200 * 0.9938 ** age * (1.012 if female else 1.0)
    return round(egfr, 1)


def _bounded(less: str | None, value: float) -> float:
    """'CrCl < 30' -> just below 30, so 'below the 30 threshold' checks see it below; otherwise the value."""
    return value - 0.1 if less else value


def renal_values(text: str) -> list[Evidence]:
    """Stated CrCl, stated eGFR and the first serum creatinine (mg/dL; umol/L converted) a text gives."""
    out: list[Evidence] = []
    if m := _CRCL.search(text):
        out.append(_ev("crcl_ml_min", _bounded(m.group(1), float(m.group(2))), text, m))
    if m := _EGFR.search(text):
        out.append(_ev("egfr_ml_min", _bounded(m.group(1), float(m.group(2))), text, m))
    for m in _SCR.finditer(text):
        value, unit = float(m.group(1)), (m.group(2) or "").lower()
        mg = round(value / 88.4, 2) if "mol" in unit or (not unit and value > 20) else value
        if 0.1 <= mg <= 30:
            out.append(_ev("serum_creatinine_mg_dl", mg, text, m))
            break
    return out


def fill_renal(p: Patient, stated_crcl: bool = False, stated_egfr: bool = False) -> None:
    """Set renal_basis (and compute Cockcroft-Gault CrCl / CKD-EPI eGFR) by the precedence above. stated_*: the
    patient's crcl_ml_min / egfr_ml_min were stated by the case (not computed)."""
    scr, age, sex = p.serum_creatinine_mg_dl, p.age, p.sex
    if p.crcl_ml_min is None and scr and age is not None and p.weight_kg and sex:
        p.crcl_ml_min = cockcroft_gault(age, p.weight_kg, scr, sex)
        computed_crcl = True
    else:
        computed_crcl = False
    if p.egfr_ml_min is None and scr and age is not None and sex:
        p.egfr_ml_min = ckd_epi_2021(scr, age, sex)
        computed_egfr = True
    else:
        computed_egfr = False
    if p.crcl_ml_min is not None and not computed_crcl and (stated_crcl or p.renal_basis is None):
        p.renal_basis = "stated CrCl"
    elif p.egfr_ml_min is not None and not computed_egfr and (stated_egfr or p.renal_basis is None):
        p.renal_basis = "stated eGFR"
    elif computed_crcl:
        p.renal_basis = "Cockcroft-Gault CrCl"
    elif computed_egfr:
        p.renal_basis = "CKD-EPI 2021 eGFR (estimated)"
