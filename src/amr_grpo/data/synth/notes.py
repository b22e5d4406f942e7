"""Free-text clinical notes for synthetic cases: the patient written as an Indian clinician writes it (an OPD slip, a
ward note, an ED note, a discharge summary, a pre-anaesthetic note), deterministically for a seeded Random.

A note states every fact the case's label depends on, each in one of several phrasings a careful reader
understands: age and sex ("45/M", "45 yo F", "Male, 45 yrs"), weight, renal function (S.Cr in mg/dL or umol/L,
or a stated CrCl where a band edge makes the computed one ambiguous), the allergen and its reaction, pregnancy
("G2P1 at 20 wks", "POG 20 weeks"), the interacting medicine, the culture report. Around them: complaints that fit
the syndrome, negated symptoms of other systems ("denies dysuria"), past history (k/c/o, h/o, s/p), findings and
lab lines that do not bear on the decision. `Note.phrasing` records which phrasing each fact took, so a test can
tell which phrasings a reader misses.
Try it: amr-grpo synth -n 20 --seed 0 --notes 1 -o /tmp/notes.jsonl && head -c 1200 /tmp/notes.jsonl
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from amr_grpo.data.synth.scenarios import Built
from amr_grpo.guidelines import Syndrome, load_kb
from amr_grpo.reading.renal import cockcroft_gault
from amr_grpo.records import Patient

UMOL_PER_MG_DL = 88.4  # creatinine: 1 mg/dL = 88.4 umol/L


@dataclass
class Note:
    text: str
    phrasing: dict[str, str] = field(default_factory=dict)  # fact -> phrasing id ("allergy" -> "hx_reaction_with")


# complaints and signs by syndrome family (first match on whole words of the key and name); `tags` name the body
# systems involved, so a negated symptom or a "normal" finding never contradicts the syndrome
_FAMILIES = [(re.compile(p, re.I), tags, complaints, signs) for p, tags, complaints, signs in (
    (r"prophyla|surgery", {"surgery"}, ["posted for elective {surgery}"], ["fit for surgery under GA"]),
    (r"\bcopd\b", {"chest"}, ["increased breathlessness and purulent sputum x {d} days"], ["B/L wheeze", "RR 26/min"]),
    (r"pneumonia|\bcap\b|\bhap\b|\bvap\b", {"chest"}, ["fever x {d} days, cough with yellow sputum",
                                                       "fever and breathlessness x {d} days"],
     ["crepts R base", "bronchial breathing L infrascapular", "SpO2 91% on RA"]),
    (r"pharyngitis", {"ent"}, ["sore throat and fever x {d} days"], ["tonsils enlarged with exudate",
                                                                     "tender anterior cervical nodes"]),
    (r"urti|sinusitis|otitis|\baom\b|bronchit", {"ent", "chest"}, ["running nose, sore throat x {d} days",
                                                                    "facial pain and nasal block x {d} days",
                                                                    "ear pain x {d} days", "dry cough x {d} days"],
     ["congested throat", "TM dull"]),
    (r"\bcystitis|\buti\b", {"urine"}, ["burning micturition, frequency and urgency x {d} days"],
     ["suprapubic tenderness"]),
    (r"pyelo|cauti", {"urine", "sepsis"}, ["fever with chills, flank pain and dysuria x {d} days",
                                           "on Foley catheter; fever and cloudy urine x {d} days"],
     ["R renal angle tenderness", "T 102F"]),
    (r"meningitis", {"cns"}, ["fever, headache and vomiting x {d} days"], ["neck rigidity +", "Kernig's sign +"]),
    (r"fasciitis", {"skin", "sepsis"}, ["rapidly spreading painful swelling of L thigh x {d} days"],
     ["crepitus and dusky skin L thigh", "BP 90/60"]),
    (r"cellulitis|erysipelas", {"skin"}, ["redness and swelling of L leg x {d} days"], ["warm tender erythema L shin"]),
    (r"diabetic foot|\bdfi\b", {"skin"}, ["ulcer R foot with discharge x {d} days"], ["erythema 1.5 cm around ulcer"]),
    (r"\bbite\b", {"skin"}, ["dog bite R forearm {d} hours ago"], ["punctured wound, skin breached"]),
    (r"enteric|typhoid", {"gi", "fever"}, ["fever x {d} days, step-ladder pattern, with abdominal discomfort"],
     ["coated tongue", "relative bradycardia"]),
    (r"cholera|watery|diarrh(?:o|)ea without", {"gi"}, ["watery loose stools 8-10 episodes/day x {d} days"],
     ["some dehydration", "skin pinch goes back slowly"]),
    (r"danger signs|dysentery|bloody", {"gi", "fever"}, ["loose stools with blood and mucus, fever x {d} days"],
     ["mild dehydration", "diffuse abdominal tenderness"]),
    (r"difficile", {"gi"}, ["watery diarrhoea 6-8/day x {d} days"], ["mild diffuse abdominal tenderness"]),
    (r"peritonitis|append|divertic|cholecyst|cholang|liver abscess", {"abdomen"},
     ["pain abdomen with fever x {d} days", "RIF pain with vomiting x {d} days", "RUQ pain with fever x {d} days"],
     ["guarding and rigidity", "tenderness RIF", "Murphy's sign +", "tender hepatomegaly"]),
    (r"neutropeni", {"sepsis", "neutropenia"}, ["fever 101F on day 10 after chemotherapy"], ["ANC 300/cumm"]),
    (r"sepsis|septic", {"sepsis"}, ["fever with chills and drowsiness x {d} days"],
     ["BP 88/54, HR 122", "cold peripheries"]),
    (r"aufi|undifferentiated", {"fever"}, ["fever with myalgia x {d} days"], ["no localising signs"]),
    (r"scrub", {"fever"}, ["fever x {d} days with headache"], ["eschar R axilla"]),
    (r"epididym", {"scrotal"}, ["painful swelling of R testis x {d} days"], ["tender R epididymis, Prehn's sign +"]),
)]
_DEFAULT_FAMILY = ({"fever"}, ["fever x {d} days"], ["no other focus"])
_NEGATIVES = [({"urine"}, ["no dysuria", "denies burning micturition"]),
              ({"chest", "ent"}, ["no cough", "no breathlessness"]),
              ({"gi", "abdomen", "fever"}, ["no vomiting or loose stools"]),
              ({"cns"}, ["no headache or neck stiffness"]), ({"skin"}, ["no rash"]),
              ({"abdomen", "gi"}, ["no abdominal pain"]), ({"scrotal"}, ["no scrotal pain"])]
_NORMAL_FINDINGS = [({"chest", "ent"}, "Chest: B/L clear"), ({"abdomen", "gi", "fever"}, "P/A: soft, non-tender"),
                    ({"cns"}, "CNS: NAD"), (set(), "pallor +"), (set(), "dental caries"),
                    (set(), "old healed scar over L knee"), (set(), "no pedal oedema"), (set(), "thyroid not enlarged")]
_SURGERIES = ["lap cholecystectomy", "inguinal hernia repair", "excision of lipoma back", "open hemicolectomy"]
_PAST = [("h/o fracture R radius 2018, healed", 18), ("h/o dengue 2019", 18), ("s/p cataract surgery R eye 2021", 55),
         ("h/o jaundice in childhood", 18), ("s/p tonsillectomy as a child", 18)]
_COMORBIDITY_WORDS = {
    "type 2 diabetes mellitus": ["T2DM", "DM-2", "type 2 DM"], "hypertension": ["HTN", "hypertension"],
    "hypothyroidism": ["hypothyroid", "hypothyroidism"], "dyslipidaemia": ["dyslipidaemia"],
    "asthma": ["BA (bronchial asthma)", "asthma"], "ischaemic heart disease": ["IHD", "CAD"], "GERD": ["GERD", "APD"],
    "COPD": ["COPD"], "chronic liver disease": ["CLD"], "chronic heart failure": ["CHF"],
}
_MEDICINE_DOSES = {
    "amlodipine": "5 mg OD", "metformin": "500 mg BD", "linagliptin": "5 mg OD", "levothyroxine": "50 mcg OD",
    "atorvastatin": "20 mg HS", "salbutamol inhaler": "2 puffs SOS", "aspirin": "75 mg OD", "pantoprazole": "40 mg OD",
    "amiodarone": "200 mg OD", "sotalol": "80 mg BD", "warfarin": "3 mg OD", "divalproex": "500 mg BD",
    "valproate": "500 mg BD", "sertraline": "50 mg OD", "escitalopram": "10 mg OD", "haloperidol": "5 mg HS",
    "ondansetron": "4 mg TDS", "domperidone": "10 mg TDS", "aminophylline": "100 mg BD", "theophylline": "300 mg BD",
    "tramadol": "50 mg BD", "gliclazide": "80 mg BD", "sirolimus": "2 mg OD", "tacrolimus": "2 mg BD",
    "methotrexate": "15 mg weekly", "simvastatin": "20 mg HS", "colchicine": "0.5 mg BD",
}
_REACTION = re.compile(r"^(.*?)\s*\(([^)]*)\)\s*$")


def _pick(rng: random.Random, note: Note, fact: str, options: dict[str, str]) -> str:
    key = rng.choice(sorted(options))
    note.phrasing[fact] = key
    return options[key]


def _who(p: Patient, rng: random.Random, note: Note) -> str:
    age, word = int(p.age or 40), "male" if p.sex == "M" else "female"
    return _pick(rng, note, "age_sex", {
        "slash": f"{age}/{p.sex}", "yo": f"{age} yo {p.sex}", "y/o word": f"{age} y/o {word}",
        "sex yrs": f"{word.capitalize()}, {age} yrs",
        "sentence": f"{age}-year-old {'man' if p.sex == 'M' else 'woman'}",
    })


def _weight(p: Patient, rng: random.Random, note: Note) -> str:
    w = f"{p.weight_kg:g}"
    return _pick(rng, note, "weight", {"wt": f"Wt {w} kg", "weight colon": f"Weight: {w} kg", "kg": f"{w}kg"})


def _renal(b: Built, p: Patient, rng: random.Random, note: Note) -> str:
    """The renal line: creatinine (mg/dL or umol/L), or the CrCl itself where the creatinine would not give the
    label's renal band back (a reader computes Cockcroft-Gault to 0.1 mL/min from the creatinine it reads; the
    label rounds to 1 mL/min)."""
    scr, crcl = p.serum_creatinine_mg_dl, p.crcl_ml_min
    kb = load_kb()
    drugs = {(i.drug, i.route) for i in b.prescribed + (b.recommended or [])}

    def same_bands(creatinine_mg_dl: float) -> bool:
        computed = cockcroft_gault(p.age, p.weight_kg, creatinine_mg_dl, p.sex)
        return all(kb.renal_band(d, computed, r) == kb.renal_band(d, crcl, r) for d, r in drugs)

    umol = round(scr * UMOL_PER_MG_DL)
    options = {"crcl stated": f"S.Cr {scr:g} mg/dL; CrCl (CG) {crcl:g} mL/min",
               "crcl tilde": f"CrCl ~{crcl:g} ml/min (S. creatinine {scr:g})"}
    if same_bands(scr):
        options.update({"scr mg/dl": f"S.Cr {scr:g} mg/dL", "creatinine mg/dl": f"S. creatinine {scr:g} mg/dl"})
    if same_bands(round(umol / UMOL_PER_MG_DL, 2)):
        options.update({"creat umol": f"Creat {umol} µmol/L", "scr umol": f"serum creatinine {umol} umol/L"})
    return _pick(rng, note, "renal", options)


def _allergy(p: Patient, rng: random.Random, note: Note) -> str:
    if not p.allergies:
        return _pick(rng, note, "allergy", {"nkda": "NKDA", "no known": "No known drug allergies",
                                            "no h/o": "no h/o drug allergy", "nil": "Allergies: nil"})
    m = _REACTION.match(p.allergies[0])
    what, reaction = (m.group(1), m.group(2)) if m else (p.allergies[0], "rash")
    return _pick(rng, note, "allergy", {
        "allergy colon": f"Allergy: {what} ({reaction})", "allergic to": f"Allergic to {what} - {reaction}",
        "drug allergy": f"Drug allergy: {what} ({reaction})",
        "known allergy to": f"Known allergy to {what} ({reaction})",
        "hx reaction with": f"H/o {reaction} with {what}",
    })


def _medicines(p: Patient, rng: random.Random, note: Note) -> str:
    meds = [m for m in p.current_medicines if m != "ethanol"]
    lines = []
    if meds:
        dosed = [f"{m} {_MEDICINE_DOSES.get(m, '')}".strip() for m in meds]
        lines.append(_pick(rng, note, "medicines", {
            "on tab": "On " + ", ".join(("" if "inhaler" in m else "T. ") + d for m, d in zip(meds, dosed)),
            "current medications": "Current medications: " + "; ".join(dosed),
            "regular meds dash": "Regular meds - " + ", ".join(dosed),
            "takes": "Takes " + " and ".join(meds) + " regularly",
        }))
    if "ethanol" in p.current_medicines:
        lines.append(_pick(rng, note, "alcohol", {"drinks": "Drinks alcohol daily (about 3 pegs)",
                                                  "alcohol use": "Alcohol use: daily, ~90 mL whisky"}))
    return ". ".join(lines)


def _pregnancy(p: Patient, rng: random.Random, note: Note) -> str:
    if p.pregnant:
        w = f"{p.gestation_weeks:g}"
        return _pick(rng, note, "pregnancy", {
            "gp at": f"G2P1 at {w} wks", "pog": f"POG {w} weeks", "primi": f"Primigravida, {w} weeks pregnant",
            "wks pregnant": f"{w} wks pregnant", "gestation": f"Pregnant ({w} weeks of gestation)"})
    if p.sex == "F" and (p.age or 99) <= 45:
        return _pick(rng, note, "pregnancy", {"upt negative": "UPT negative", "lmp": "LMP 2 weeks ago, regular cycles",
                                              "not stated": ""})
    return ""


def _cultures(p: Patient, rng: random.Random, note: Note) -> str:
    text = p.cultures
    if not text:
        return ""
    if "awaited" in text:
        return _pick(rng, note, "cultures", {"sent": text[0].upper() + text[1:],
                                             "c/s sent": "C/S sent; report awaited"})
    m = re.match(r"day (\d+): (.+?) grew (.+)$", text)
    if not m:
        return f"Cultures: {text}"
    day, where, report = m.groups()
    short = re.sub(r"\bEscherichia\b", "E.", re.sub(r"\bStreptococcus\b", "Strep.", report))
    return _pick(rng, note, "cultures", {
        "cultures colon": f"Cultures: {text}", "c/s day": f"{where[0].upper() + where[1:]} (day {day}) C/S: {short}",
        "report": f"Day {day} {where} report - {report}"})


def _family(s: Syndrome):
    text = f"{s.key} {s.name}".replace("_", " ")
    return next(((tags, c, sg) for rx, tags, c, sg in _FAMILIES if rx.search(text)), _DEFAULT_FAMILY)


def _history(p: Patient, rng: random.Random, note: Note) -> str:
    words = [rng.choice(_COMORBIDITY_WORDS.get(c, [re.sub(r"^chronic kidney disease", "CKD", c), c]))
             for c in p.comorbidities]
    if not words:
        return _pick(rng, note, "history", {"none known": "No known comorbidities", "not kco": "Not a k/c/o DM/HTN"})
    return _pick(rng, note, "history", {"kco": "K/c/o " + ", ".join(words), "pmh": "PMH: " + "; ".join(words),
                                        "known case": "Known case of " + ", ".join(words)})


def render_note(b: Built, s: Syndrome, rng: random.Random) -> Note:
    """The patient of a built case as a clinical note of the kind its setting writes."""
    p, note = b.patient, Note("")
    tags, complaints, signs = _family(s)
    d = rng.choice([2, 3, 4, 5])
    complaint = rng.choice(complaints).format(d=d, surgery=rng.choice(_SURGERIES))
    negatives = [rng.choice(ph) for t, ph in _NEGATIVES if not t & tags]
    negative = ", ".join(rng.sample(negatives, k=min(len(negatives), rng.choice([1, 2]))))
    normal = [f for t, f in _NORMAL_FINDINGS if not t & tags]
    temperature = _pick(rng, note, "temperature", {"whole F": f"T {rng.choice(['99', '101', '102'])}F",
                                                   "decimal F": "T 100.4F", "celsius": "Temp 38.3 C"})
    sign = rng.choice(signs)
    if "on RA" in sign:
        note.phrasing["spo2"] = "on RA"
    vitals = [temperature, f"PR {rng.randint(78, 118)}/min", f"BP {rng.randint(100, 140)}/{rng.randint(60, 90)}"]
    exam = "; ".join(vitals + [sign] + rng.sample(normal, k=min(len(normal), 2)))
    tlc = rng.randint(3, 9) if "neutropenia" in tags else rng.randint(60, 180)
    labs = "; ".join([f"Hb {rng.uniform(9.5, 14.5):.1f} g/dL", f"TLC {tlc * 100}/cumm",
                      f"Plt {rng.uniform(1.2, 3.8):.1f} L", _renal(b, p, rng, note),
                      f"RBS {rng.randint(90, 220)} mg/dL"])
    past = [t for t, min_age in _PAST if (p.age or 0) >= min_age]
    join = _pick(rng, note, "who_join", {"comma": ", ", "period": ". "})
    who, weight = _who(p, rng, note), _weight(p, rng, note)
    facts = [who + join + (weight.lower() if join == ", " else weight)]
    kind = {"OPD": "opd", "ward": rng.choice(["ward", "discharge"]), "ICU": rng.choice(["ed", "icu"])}.get(
        s.setting, "preop")
    note.phrasing["kind"] = kind
    head = {"opd": "OPD slip - General Medicine", "ward": "Ward note - day 2 of admission",
            "discharge": "Discharge summary (draft)", "ed": "ED note", "icu": "ICU admission note",
            "preop": "Pre-anaesthetic check-up note"}[kind]
    lead = {"opd": "C/o ", "preop": "", "discharge": "Presented with "}.get(kind, "Admitted with ")
    opening = f"{lead}{complaint}; {negative}."
    opening = opening[0].upper() + opening[1:]
    lines = [head, facts[0] + ".", opening, _history(p, rng, note) + ".", rng.choice(past) + ".",
             _allergy(p, rng, note) + ".", _medicines(p, rng, note), _pregnancy(p, rng, note),
             f"O/E: {exam}.", f"Inv: {labs}.", _cultures(p, rng, note)]
    note.text = "\n".join([head] + [line.rstrip(".") + "." for line in lines[1:] if line and line != "."])
    return note
