"""The reference validation of a synthetic case: the seven steps in the policy format, the recommended regimen and
the reference line, written from the case's ground truth so that every step agrees with the decision and the facts.

The likely organisms follow the syndrome (bloody diarrhoea is invasive bacteria, a Centor score below 3 is mostly
viral); the stewardship step never tells a patient who needs no antibiotic to finish a course or send cultures;
the safety step names the renal function, allergy, pregnancy and interactions of this patient; the clinical picture
states how ill the case shows the patient to be (the severity the case reader reads from its vital signs).
Try it: amr-grpo synth -n 5 --seed 0 -o /tmp/cases.jsonl && head -c 1500 /tmp/cases.jsonl
"""

from __future__ import annotations

import re

from amr_grpo.data.synth.phrasing import Item, canonical_text, display_name
from amr_grpo.output_format import STEP_TITLES, format_validation
from amr_grpo.data.synth.scenarios import Built, Ctx, brief, dose_line, names
from amr_grpo.guidelines import Syndrome
from amr_grpo.records import Case, Patient

_F = re.IGNORECASE
# likely organisms by whole words of the syndrome's key and name: first match wins, specific before generic
PATHOGENS = [(re.compile(p, _F), text) for p, text in (
    (r"\b(?:hap|vap)\b|hospital-acquired.*pneumonia|ventilator", "hospital Gram-negatives incl. Pseudomonas and "
                                                                  "Acinetobacter"),
    (r"\bcopd\b", "H. influenzae, M. catarrhalis and pneumococcus"),
    (r"pneumonia|\bcap\b", "pneumococcus, H. influenzae and atypicals"),
    (r"cystitis|pyelonephritis|\bcauti\b|\buti\b|urinary", "E. coli and other Enterobacterales"),
    (r"\bmrsa\b", "MRSA"),
    (r"fasciitis", "group A streptococcus, S. aureus, or mixed Gram-negatives and anaerobes"),
    (r"cellulitis|erysipelas", "streptococci and S. aureus"),
    (r"\bbite\b", "Pasteurella, streptococci, S. aureus and anaerobes"),
    (r"diabetic foot|\bdfi\b", "staphylococci, streptococci and Gram-negatives"),
    (r"meningitis.*(?:over 50|elderly|immunocompromised)", "pneumococcus, meningococcus and Listeria"),
    (r"meningitis", "pneumococcus and meningococcus"),
    (r"enteric|typhoid", "Salmonella Typhi/Paratyphi"),
    (r"cholera", "Vibrio cholerae"),
    (r"difficile", "Clostridioides difficile"),
    (r"danger signs|dysentery|bloody", "invasive bacteria (Shigella, Campylobacter, non-typhoidal Salmonella)"),
    (r"peritonitis|appendic|cholecyst|cholang|divertic", "Enterobacterales and anaerobes"),
    (r"amoebic", "Entamoeba histolytica"),
    (r"neutropeni", "Gram-negatives incl. Pseudomonas"),
    (r"sepsis|septic", "Gram-negative bacilli and S. aureus"),
    (r"pharyngitis", "group A streptococcus"),
    (r"sinusitis", "pneumococcus, H. influenzae and M. catarrhalis"),
    (r"scrub", "Orientia tsutsugamushi"),
    (r"epididym.*(?:young|sexually)", "N. gonorrhoeae and Chlamydia trachomatis"),
    (r"epididym", "E. coli and other enteric organisms"),
    (r"colorectal|bowel", "skin and bowel flora incl. anaerobes"),
    (r"prophyla|surgery", "skin flora (S. aureus, streptococci)"),
)]
# where no antibiotic is indicated the step says why
NO_ANTIBIOTIC_CAUSES = [(re.compile(p, _F), text) for p, text in (
    (r"diarrh", "mostly viral (rotavirus, norovirus) or toxin-mediated, and self-limiting"),
    (r"surgery|prophyla", "no infection to treat: a clean operation with a low wound-infection risk"),
    (r"aufi|undifferentiated|febrile illness", "mostly viral fevers (dengue and others) on day 1-2"),
    (r"centor", "mostly viral; group A streptococcus is unlikely at a Centor score below 3"),
)]


def pathogens(s: Syndrome) -> str:
    text = f"{s.key} {s.name}".replace("_", " ")
    table = NO_ANTIBIOTIC_CAUSES if s.no_antibiotic else PATHOGENS
    default = "mostly viral and self-limiting" if s.no_antibiotic else "the usual organisms of this syndrome"
    return next((p for rx, p in table if rx.search(text)), default)


def safety_text(ctx: Ctx, p: Patient, drugs: list[str]) -> str:
    crcl = p.crcl_ml_min
    parts = [f"CrCl {crcl:g} mL/min, {'renal impairment' if crcl < 60 else 'normal'}"]
    parts.append("allergy: " + ", ".join(p.allergies) if p.allergies else "no allergies")
    if p.pregnant:
        parts.append(f"pregnant, {p.gestation_weeks:g} weeks")
    hits = sorted({f"{d} with {m}" for d in drugs for m in p.current_medicines if ctx.kb.interactions(d, [m])})
    parts.append("interaction: " + ", ".join(hits) if hits else "no interactions")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


_STEWARD = re.compile(r"cultur|stop|de-?escalat|review|source control|short course|rehydrat|remove|debridement|"
                      r"before incision|rabies|without waiting|widal|torsion|defervescence", _F)
_NO_ABX_POINT = re.compile(r"\bno\s+(?:antibiotic|routine|empiric)|rehydrat|\bors\b", _F)
_NOTE = re.compile(r"PDF|GK|extracted|%|calls for", _F)


def stewardship_text(s: Syndrome, b: Built) -> str:
    """A stewardship point from the syndrome's key points that fits the case; for no antibiotic, why none."""
    if "stewardship" in b.notes:
        return b.notes["stewardship"]
    # the first sentence of each key point ("No antibiotic; oral rehydration (ORS). An antibiotic here calls for ...")
    points = [brief(re.split(r"(?<=[a-z)])\.\s+(?=[A-Z])", k.replace(" (GK)", ""))[0], 14) for k in s.key_points]
    if b.recommended is None:
        point = next((p for p in points if _NO_ABX_POINT.search(p) and not _NOTE.search(p)), None)
        return point + "." if point else f"No antibiotic: {b.supportive}; review if it does not settle."
    for point in points:
        if _STEWARD.search(point) and not _NOTE.search(point) and not _NO_ABX_POINT.search(point):
            return point + "."
    if all(i.interval_h == 0 for i in b.recommended):
        return "One dose is the whole course; review if symptoms persist."
    return "Send cultures before the first dose and review at 48-72 h." if s.setting != "OPD" else \
        "Review at 48-72 h and stop at the end of the course."


def _same(a: list[Item] | None, b: list[Item] | None) -> bool:
    """The same drugs, doses and loading doses (durations aside)."""
    def strip(xs: list[Item]) -> list[tuple]:
        return [(i.drug, i.route, i.interval_h, i.dose_mg, i.dose_mg_per_kg, i.dose_units, i.load) for i in xs]

    return a is not None and b is not None and strip(a) == strip(b)


RENAL_TABLE = "Table 14.1"  # ICMR 2019 renal dose modification table


def citation(ctx: Ctx, s: Syndrome, b: Built) -> str:
    """The reference line: the syndrome's source, then the ICMR 2019 Table 14.1 rows the renal reasoning rests on.

    A general-knowledge (GK) syndrome row names no guideline: it is cited as what it is ("General clinical knowledge,
    not verified against a source"), without the row's notes on where the knowledge base looked. The Table 14.1 rows:
    the band (other than no change) of every recommended drug given over days at the patient's CrCl, and of a
    prescribed drug the reference avoids for renal function."""
    parts = {(s.source.guideline if s.source.confidence == "GK" else s.citation): None}
    crcl = b.patient.crcl_ml_min
    items = list(b.recommended or [])
    if "renal_contraindicated" in b.issues:
        items += b.prescribed
    for it in (i for i in items if i.interval_h != 0):  # a single dose is not renally dosed
        band = ctx.kb.renal_band(it.drug, crcl, it.route) if crcl is not None else None
        if band and band.action != "no_change" and (band.source.section or "").startswith(RENAL_TABLE):
            parts.setdefault(band.source.cite(), None)
    return "; ".join(parts)


def _lower_first(text: str) -> str:
    """'Cellulitis, mild' -> 'cellulitis, mild'; an abbreviation keeps its case ('CAP ward', 'AECOPD')."""
    return text if text[1:2].isupper() else text[0].lower() + text[1:]


def severity_shown(case: Case) -> str:
    """How ill the case shows the patient to be, as the clinical picture states it ('mild illness (haemodynamically
    stable)', 'moderate illness (SBP 100)'), from the case reader's reading of it; '' when the case does not show
    it (no vital signs, no stated severity)."""
    if not case.severity:
        return ""
    signs = [x for x in case.severity_signs if not x.startswith("stated ")]
    return f"{case.severity} illness" + (f" ({', '.join(signs)})" if signs else "")


def reference_text(ctx: Ctx, s: Syndrome, b: Built, diagnosis: str, setting: str, cite: str,
                   severity: str = "") -> tuple[str, str]:
    """(reference validation, recommended regimen text); `severity` (severity_shown) joins the clinical picture."""
    p, rec = b.patient, b.recommended
    who = f"{p.age:g}-year-old " + ("pregnant woman" if p.pregnant else "man" if p.sex == "M" else "woman")
    link = "for" if "prophyla" in diagnosis.lower() else "with"
    if rec is None:
        dose, duration = "No antibiotic dose applies.", "No antibiotic course is needed."
    else:
        dose = f"{dose_line(rec)} is correct." if _same(b.prescribed, rec) else f"Give {dose_line(rec)}."
        days = sorted({i.days for i in rec if i.days})
        duration = ("A single dose is the full course." if all(i.interval_h == 0 for i in rec) else
                    f"{days[0]:g} days is the guideline duration." if len(days) == 1 else
                    ", ".join(f"{display_name(i.drug)} {i.days:g} days" for i in rec if i.days) + " as per guideline."
                    if days else "Duration follows the clinical response and source control.")
    texts = {
        "Clinical picture": f"{who} {link} {_lower_first(diagnosis)}" + (f"; {severity}." if severity else "."),
        "Pathogen and setting": f"{setting}; likely {pathogens(s)}.",
        "Regimen choice": b.notes.get("regimen", f"{names(rec)} is the guideline choice." if rec else ""),
        "Dose route frequency": b.notes.get("dose", dose),
        "Duration": b.notes.get("duration", duration),
        "Patient factors and safety": safety_text(ctx, p, [i.drug for i in b.prescribed + (rec or [])]),
        "Stewardship": stewardship_text(s, b),
    }
    regimen = canonical_text(rec) if rec else f"No antibiotic; {b.supportive}"
    steps = [(t, texts[t]) for t in STEP_TITLES]
    return format_validation(steps, b.decision, regimen, cite), regimen
