"""Synthetic patient profiles consistent with a syndrome and a scenario: age, sex, weight, comorbidities (and the
medicines they imply), allergies, serum creatinine with the Cockcroft-Gault creatinine clearance computed from it,
pregnancy with gestation weeks, cultures.

Only the `random.Random` passed in is used, so a seed gives the same patients.
Try it: python -c "import random; from amr_grpo.data.patients import make_patient; print(make_patient(random.Random(0), 'cap_opd', 'Community-acquired pneumonia'))"
"""

from __future__ import annotations

import random

from amr_grpo.records import Patient

# words of a syndrome's key or name -> (sex, age range, comorbidities it implies)
_PROFILE = [
    (("chorioamnionitis", "caesarean", "cesarean"), "F", (19, 38), ()),
    (("puerperal", "postpartum", "septic abortion", "abortion", "vaginosis", "pelvic inflammatory"), "F", (18, 40), ()),
    (("epididymo", "orchitis", "prostat"), "M", (20, 70), ()),
    (("neutropeni",), None, (20, 70), ("acute myeloid leukaemia on chemotherapy",)),
    (("diabetic foot",), None, (40, 80), ("type 2 diabetes mellitus",)),
    (("copd",), None, (50, 85), ("COPD",)),
    (("bronchiectasis",), None, (30, 80), ("bronchiectasis",)),
    (("spontaneous bacterial peritonitis", "sbp"), None, (35, 75), ("alcohol-related cirrhosis",)),
    (("comorbid",), None, (50, 85), ("type 2 diabetes mellitus",)),
    (("elderly", "older", "over 50", "age > 50"), None, (55, 88), ()),
    (("young",), None, (18, 35), ()),
]
_BACKGROUND = [("hypertension", "amlodipine"), ("type 2 diabetes mellitus", "metformin"),
               ("hypothyroidism", "levothyroxine"), ("dyslipidaemia", "atorvastatin"), ("asthma", "salbutamol inhaler"),
               ("ischaemic heart disease", "aspirin"), ("GERD", "pantoprazole")]
_MEDICINE_OF = dict(_BACKGROUND)
# why a patient takes a medicine that a scenario adds for an interaction
INDICATION = {
    "amiodarone": "atrial fibrillation", "sotalol": "atrial fibrillation", "dronedarone": "atrial fibrillation",
    "warfarin": "atrial fibrillation", "acenocoumarol": "atrial fibrillation", "apixaban": "atrial fibrillation",
    "rivaroxaban": "deep vein thrombosis", "dabigatran": "atrial fibrillation", "haloperidol": "schizophrenia",
    "ondansetron": "chemotherapy-induced nausea", "hydroxychloroquine": "rheumatoid arthritis",
    "methotrexate": "rheumatoid arthritis", "chloroquine": "rheumatoid arthritis", "citalopram": "depression",
    "escitalopram": "depression", "sertraline": "depression", "fluoxetine": "depression", "paroxetine": "depression",
    "fluvoxamine": "obsessive-compulsive disorder", "venlafaxine": "depression", "duloxetine": "diabetic neuropathy",
    "desvenlafaxine": "depression", "selegiline": "Parkinson's disease", "rasagiline": "Parkinson's disease",
    "domperidone": "gastroparesis", "theophylline": "COPD", "aminophylline": "COPD", "doxofylline": "COPD",
    "tizanidine": "spasticity", "tramadol": "chronic back pain", "tapentadol": "chronic back pain",
    "methadone": "opioid substitution therapy", "simvastatin": "dyslipidaemia", "lovastatin": "dyslipidaemia",
    "atorvastatin": "dyslipidaemia", "colchicine": "gout", "tacrolimus": "renal transplant",
    "ciclosporin": "renal transplant", "cyclosporine": "renal transplant", "sirolimus": "renal transplant",
    "prednisolone": "rheumatoid arthritis", "dexamethasone": "brain tumour", "methylprednisolone": "vasculitis",
    "glimepiride": "type 2 diabetes mellitus", "gliclazide": "type 2 diabetes mellitus",
    "glibenclamide": "type 2 diabetes mellitus", "glipizide": "type 2 diabetes mellitus",
    "insulin": "type 2 diabetes mellitus", "dolutegravir": "HIV infection", "efavirenz": "HIV infection",
    "nevirapine": "HIV infection", "ritonavir": "HIV infection", "fluconazole": "oral candidiasis",
    "voriconazole": "invasive aspergillosis", "itraconazole": "chronic pulmonary aspergillosis",
    "quinidine": "atrial fibrillation", "ergotamine": "migraine", "valproate": "epilepsy",
}


def profile_for(text: str) -> tuple[str | None, tuple[int, int], tuple[str, ...]]:
    low = text.lower()
    for words, sex, ages, comorbid in _PROFILE:
        if any(w in low for w in words):
            return sex, ages, comorbid
    return None, (18, 85), ()


def cockcroft_gault(age: float, weight: float, sex: str, scr: float) -> float:
    """Creatinine clearance in mL/min: (140 - age) x weight / (72 x SCr), x 0.85 for women."""
    return (140 - age) * weight / (72 * scr) * (0.85 if sex == "F" else 1.0)


def make_patient(
    rng: random.Random,
    syndrome_key: str,
    syndrome_name: str,
    *,
    crcl: float | None = None,
    pregnant_weeks: float | None = None,
    allergies: tuple[str, ...] = (),
    medicines: tuple[str, ...] = (),
    cultures: str | None = None,
    sex: str | None = None,
) -> Patient:
    """A patient for this syndrome. crcl: the target creatinine clearance (default: normal, 65-125 mL/min); the
    profile carries the serum creatinine that gives it, and the CrCl recomputed from that rounded creatinine."""
    want_sex, (lo, hi), implied = profile_for(f"{syndrome_key} {syndrome_name}")
    if pregnant_weeks is not None:
        sex, lo, hi = "F", 18, 40
    sex = sex or want_sex or rng.choice("MF")
    for _ in range(50):  # a normal-renal patient needs an age/weight that reaches CrCl >= 62 with SCr >= 0.6
        age = rng.randint(lo, hi)
        weight = rng.randint(50, 90) if sex == "M" else rng.randint(42, 80)
        if pregnant_weeks is not None:
            weight += int(pregnant_weeks // 6)
        unit = cockcroft_gault(age, weight, sex, 1.0)  # CrCl at SCr 1.0
        if crcl is not None or unit / 62 >= 0.6:
            break
    if crcl is None:
        scr = round(rng.uniform(0.6, min(1.2, unit / 62)), 1)
    else:
        scr = max(0.4, round(unit / crcl, 1))
    actual = round(cockcroft_gault(age, weight, sex, scr))

    comorbid = list(implied)
    meds: list[str] = []
    for name, med in rng.sample(_BACKGROUND, k=rng.choice([0, 0, 1, 1, 2])):
        if name not in comorbid:
            comorbid.append(name)
    for c in comorbid:
        if c in _MEDICINE_OF:  # metformin is stopped below CrCl 30; a DPP-4 inhibitor instead
            meds.append("linagliptin" if _MEDICINE_OF[c] == "metformin" and actual < 30 else _MEDICINE_OF[c])
    if actual < 60:
        stage = "5" if actual < 15 else "4" if actual < 30 else "3b" if actual < 45 else "3a"
        comorbid.append(f"chronic kidney disease stage {stage}")
    for m in medicines:
        if m not in meds:
            meds.append(m)
        if INDICATION.get(m) and INDICATION[m] not in comorbid:
            comorbid.insert(0, INDICATION[m])
    return Patient(
        age=float(age),
        sex=sex,
        weight_kg=float(weight),
        comorbidities=comorbid,
        allergies=list(allergies),
        crcl_ml_min=float(actual),
        serum_creatinine_mg_dl=scr,
        pregnant=pregnant_weeks is not None if sex == "F" else None,
        gestation_weeks=pregnant_weeks,
        current_medicines=meds,
        cultures=cultures,
    )
