"""Synthetic patient profiles consistent with a syndrome and a scenario: age, sex, weight, comorbidities (and the
medicines they imply), the risk factor the syndrome's name states, allergies, serum creatinine with the
Cockcroft-Gault creatinine clearance computed from it, pregnancy with gestation weeks, cultures.

The profile is read from whole words of the syndrome's key and name after negated phrases are set aside ("no
comorbidity", "no Pseudomonas risk", "without sepsis"): "uncomplicated cystitis" is a woman's, "epididymo-orchitis,
young" a man of 18-35, a "no comorbidity" patient has none at all (no background disease, normal renal function, no
long-term medicine), "with Pseudomonas risk" names the risk (bronchiectasis, recent IV antibiotics ...). A scenario
that the profile cannot hold (a pregnant COPD patient, renal impairment without comorbidity) raises Unfit, so the
generator tries another syndrome rather than bend a fact. Only the `random.Random` passed in is used.
Try it: python -c "import random; from amr_grpo.data.synth.patients import make_patient; print(make_patient(random.Random(0), 'cap_opd_no_comorbidity', 'Community-acquired pneumonia, outpatient, no comorbidity'))"
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from amr_grpo.records import Patient


class Unfit(Exception):
    """The scenario asks for a patient this syndrome's profile cannot be (the builder then returns no case)."""


@dataclass(frozen=True)
class Profile:
    sex: str | None  # "M" | "F" | None (either)
    ages: tuple[int, int]
    conditions: tuple[tuple[str, ...], ...]  # each: alternatives, one of which the patient has (comorbidity or risk)
    no_comorbidity: bool = False

    def pregnancy_ages(self) -> tuple[int, int] | None:
        """The ages at which a patient of this profile can plausibly be pregnant; None when none."""
        lo, hi = max(self.ages[0], PREGNANCY_AGES[0]), min(self.ages[1], PREGNANCY_AGES[1])
        return (lo, hi) if self.sex != "M" and lo <= hi else None


PREGNANCY_AGES = (18, 42)
_NEGATED = re.compile(r"\b(?:no|without|not)\s+[^,;()]*", re.I)  # "no comorbidity", "without sepsis", to the clause end
_NO_COMORBIDITY = re.compile(r"\b(?:no|without)\s+comorbidit", re.I)
_SEX = [(re.compile(r"epididym|orchitis|prostat", re.I), "M"),
        (re.compile(r"chorioamnionitis|puerperal|post-?partum|abortion|vaginosis|pelvic inflammatory|vulvovagin|"
                    r"obstetric|^(?=.*\bcystitis\b)(?=.*\buncomplicated\b)", re.I), "F")]
# first match wins: a stated age group before a syndrome's usual ages
_AGES = [(re.compile(r"chorioamnionitis|puerperal|post-?partum|abortion|obstetric", re.I), PREGNANCY_AGES),
         (re.compile(r"\belderly\b|\bolder\b|\bover 50\b|age > 50", re.I), (55, 88)),
         (re.compile(r"\byoung\b", re.I), (18, 35)),
         (re.compile(r"\bcopd\b", re.I), (50, 85)),
         (re.compile(r"meningitis", re.I), (18, 49)),  # adults under 50: "over 50" is its own entry
         (re.compile(r"diabetic foot|\bdfi\b", re.I), (40, 80)),
         (re.compile(r"neutropeni", re.I), (20, 70)),
         (re.compile(r"\bcystitis\b", re.I), (18, 65)),
         (re.compile(r"bronchiectasis", re.I), (30, 80)),
         (re.compile(r"cirrhosis|spontaneous bacterial peritonitis", re.I), (35, 75))]
_CONDITIONS = [
    (re.compile(r"\bcopd\b", re.I), ("COPD",)),
    (re.compile(r"diabetic foot|\bdfi\b", re.I), ("type 2 diabetes mellitus",)),
    (re.compile(r"neutropeni", re.I),
     ("acute myeloid leukaemia on chemotherapy", "non-Hodgkin lymphoma on chemotherapy")),
    (re.compile(r"bronchiectasis", re.I), ("bronchiectasis",)),
    (re.compile(r"cirrhosis|spontaneous bacterial peritonitis", re.I), ("alcohol-related cirrhosis",)),
    (re.compile(r"comorbidit", re.I), ("type 2 diabetes mellitus", "chronic heart failure", "COPD",
                                        "chronic liver disease")),
    (re.compile(r"pseudomonas", re.I), ("bronchiectasis", "post-tuberculosis structural lung disease",
                                        "IV antibiotics in the last 90 days", "on chemotherapy for lymphoma")),
    (re.compile(r"\bmrsa\b", re.I), ("MRSA colonisation on screening", "previous MRSA skin abscess")),
    (re.compile(r"recent (?:bl/bli|carbapenem|antibiotic)|\bmdr risk\b", re.I),
     ("received meropenem in the last 90 days", "received piperacillin-tazobactam in the last 90 days")),
    (re.compile(r"difficile|antibiotic associated", re.I),
     ("ceftriaxone course in the last 4 weeks", "amoxicillin-clavulanate course in the last 4 weeks")),
]


# the youngest age at which a scenario's medicine's indication is plausible (atrial fibrillation on quinidine at 18
# is not); others from 18
_INDICATION_MIN_AGE = {"atrial fibrillation": 45, "gout": 35, "dyslipidaemia": 35, "Parkinson's disease": 50,
                       "COPD": 45, "type 2 diabetes mellitus": 30, "deep vein thrombosis": 25,
                       "diabetic neuropathy": 35}


def profile_for(text: str) -> Profile:
    """The profile a syndrome's key and name describe (negated phrases set aside)."""
    words = text.replace("_", " ")
    positive = _NEGATED.sub(" ", words)
    sex = next((s for rx, s in _SEX if rx.search(positive)), None)
    ages = next((a for rx, a in _AGES if rx.search(positive)), (18, 85))
    if _NO_COMORBIDITY.search(words):
        return Profile(sex, ages, (), no_comorbidity=True)
    conditions = tuple(c for rx, c in _CONDITIONS if rx.search(positive))
    return Profile(sex, ages, conditions)


# (background disease, its usual medicine, youngest age it is given to, possible in pregnancy: statins, amlodipine
# and secondary-prevention aspirin are not pregnancy medicines)
_BACKGROUND = [("hypertension", "amlodipine", 35, False), ("type 2 diabetes mellitus", "metformin", 30, True),
               ("hypothyroidism", "levothyroxine", 18, True), ("dyslipidaemia", "atorvastatin", 35, False),
               ("asthma", "salbutamol inhaler", 18, True), ("ischaemic heart disease", "aspirin", 45, False),
               ("GERD", "pantoprazole", 18, True)]
_MEDICINE_OF = {name: med for name, med, _, _ in _BACKGROUND}
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
) -> Patient:
    """A patient for this syndrome. crcl: the target creatinine clearance (default: normal, 62-125 mL/min); the
    profile carries the serum creatinine that gives it, and the CrCl recomputed from that rounded creatinine.
    Raises Unfit when the syndrome's profile cannot hold the request (pregnancy in a man or an older age group;
    renal impairment or a long-term medicine in a "no comorbidity" patient)."""
    prof = profile_for(f"{syndrome_key} {syndrome_name}")
    lo, hi = prof.ages
    sex = prof.sex or rng.choice("MF")
    if pregnant_weeks is not None:
        ages = prof.pregnancy_ages()
        if ages is None:
            raise Unfit(f"no pregnancy in the {syndrome_key} profile")
        sex, (lo, hi) = "F", ages
    lo = max([lo] + [_INDICATION_MIN_AGE.get(INDICATION.get(m, ""), 18) for m in medicines])
    if lo > hi:
        raise Unfit(f"{syndrome_key}: ages {prof.ages} too young for the indication of {medicines}")
    if prof.no_comorbidity and ((crcl is not None and crcl < 60) or any(INDICATION.get(m) for m in medicines)):
        raise Unfit(f"{syndrome_key}: no comorbidity means normal renal function and no long-term medicine")
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
    if prof.no_comorbidity and actual < 60:
        raise Unfit(f"{syndrome_key}: renal impairment is a comorbidity")

    comorbid = [rng.choice(choices) for choices in prof.conditions]
    meds: list[str] = []
    if not prof.no_comorbidity:
        fit = [b for b in _BACKGROUND if age >= b[2] and (pregnant_weeks is None or b[3])]
        for name, *_ in rng.sample(fit, k=rng.choice([0, 0, 1, 1, 2])):
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
