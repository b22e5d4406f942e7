"""Knowledge-base tests: facts pinned from the guidelines (source cited per test), lookups by synonym,
sources and confidence labels on every row, and load-time validation of malformed YAML.

Run: .venv/bin/pytest tests/guidelines/test_guidelines.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from amr_grpo.guidelines import CONFIDENCE_LABELS, KBError, KnowledgeBase, load_kb
from amr_grpo.guidelines.loader import DATA_DIR, load_raw


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_kb()


def only_item(kb, syndrome_key, which="first_line", n=0):
    regimen = getattr(kb.syndrome(syndrome_key), which)[n]
    assert len(regimen.items) == 1
    return regimen.items[0]


# ---------------------------------------------------------------- facts (each test cites its source)
def test_cystitis_first_line_is_nitrofurantoin_100mg_po_q12h_5_days(kb):
    # FACTS 2.3, Q-NCDC25 5.1 p. 39 (hand-checked)
    item = only_item(kb, "cystitis_uncomplicated")
    assert (item.drug, item.dose_mg, item.route, item.interval_h) == ("nitrofurantoin", 100.0, "PO", 12.0)
    assert (item.duration_days_min, item.duration_days_max) == (5.0, 5.0)
    assert kb.syndrome("cystitis").source.confidence == "Q-NCDC25"
    assert kb.syndrome("cystitis").source.page == "39"


def test_enteric_fever_forbids_empiric_fluoroquinolone(kb):
    # FACTS 2.6, Q-NCDC25 3.2 p. 28: "Avoid empiric fluoroquinolones". Decision Reject by the knowledge base's one
    # rule (syndromes.yaml header): no enteric fever regimen uses a fluoroquinolone, so it has no place here
    for key in ("enteric_fever_uncomplicated", "enteric_fever_complicated"):
        rule = kb.do_not_use(key, "ciprofloxacin")
        assert rule is not None and rule.decision == "Reject" and "fluoroquinolone" in rule.drugs
    assert kb.do_not_use("enteric_fever_uncomplicated", "azithromycin") is None


def test_complicated_enteric_fever_avoids_empiric_carbapenem(kb):
    # FACTS 2.6, Q-NCDC25 3.2: "Avoid empiric carbapenems in complicated enteric fever"; Reject: no place here
    assert kb.do_not_use("enteric_fever_complicated", "meropenem").decision == "Reject"


def test_amikacin_not_recommended_below_crcl_30(kb):
    # FACTS 4, Q-ICMR19 Table 14.1 row 25 p. 174: <30 not recommended; 30-39 q48h; 40-59 q36h
    assert kb.renal_band("amikacin", 29).action == "avoid"
    assert "q48h" in kb.renal_band("amikacin", 35).advice
    assert "q36h" in kb.renal_band("amikacin", 45).advice
    assert kb.renal_band("amikacin", 29).source.confidence == "Q-ICMR19"
    assert kb.renal_band("amikacin", 80).action == "no_change"


def test_ceftriaxone_needs_no_renal_change(kb):
    # FACTS 4, Q-ICMR19 T14.1 row 11 p. 167: "NC" at every CrCl
    for crcl in (5, 25, 60, 120):
        assert kb.renal_band("ceftriaxone", crcl).action == "no_change"


def test_piperacillin_tazobactam_renal_bands(kb):
    # FACTS 4, Q-ICMR19 T14.1 row 6 p. 165: CrCl 20-40 -> 3.375 g q6h; <20 -> 2.25 g q6h
    assert kb.renal_band("piperacillin-tazobactam", 30).advice == "3.375 g q6h"
    assert kb.renal_band("piperacillin-tazobactam", 40).advice == "3.375 g q6h"  # "20-40" includes 40
    assert kb.renal_band("piperacillin-tazobactam", 15).advice.startswith("2.25 g q6h")
    assert kb.renal_band("piperacillin-tazobactam", 90).action == "no_change"


def test_nitrofurantoin_renal_policy(kb):
    # FACTS 4 (project policy from FDA/MHRA): avoid <30, review 30-59, OK >=60
    assert [kb.renal_band("nitrofurantoin", c).action for c in (25, 45, 59, 60)] == ["avoid", "review", "review", "no_change"]


def test_imipenem_do_not_give_below_crcl_5(kb):
    # FACTS 4, Q-ICMR19 T14.1 row 18 p. 170: < 5 do not give unless HD within 48 h; 41-70 500 mg q8h
    assert kb.renal_band("imipenem-cilastatin", 4).action == "avoid"
    assert kb.renal_band("imipenem-cilastatin", 50).advice == "500 mg q8h"


def test_route_specific_renal_bands_for_amoxicillin_clavulanate(kb):
    # FACTS 4: IV (Q-ICMR19 row 4) 1.2 g stat -> 600 mg q12h at CrCl 10-30; PO (GSK PI, X) one 625 mg tab q12h
    assert "600 mg IV q12h" in kb.renal_band("amoxicillin-clavulanate", 20, route="IV").advice
    assert "625 mg" in kb.renal_band("amoxicillin-clavulanate", 20, route="PO").advice
    assert kb.renal_band("amoxicillin-clavulanate", 20, route="IV").source.confidence == "Q-ICMR19"
    assert kb.renal_band("amoxicillin-clavulanate", 20, route="PO").source.confidence == "X"
    # fosfomycin: the IV dose is reduced below CrCl 80 (GK); the oral 3 g single dose is not adjusted
    assert kb.renal_band("fosfomycin", 20, route="IV").action == "review"
    assert kb.renal_band("fosfomycin", 20, route="PO").action == "no_change"


def test_meningitis_ceftriaxone_2g_q12h_10_to_14_days(kb):
    # FACTS 2.5, Q-NCDC25 2.3 p. 20
    item = only_item(kb, "meningitis_community")
    assert (item.drug, item.dose_mg, item.route, item.interval_h) == ("ceftriaxone", 2000.0, "IV", 12.0)
    assert (item.duration_days_min, item.duration_days_max) == (10.0, 14.0)


def test_linezolid_with_ssri_is_serotonin_syndrome(kb):
    # FACTS 6: linezolid + SSRIs/SNRIs -> serotonin syndrome (FDA label 5.3, X)
    found = kb.interactions("linezolid", ["Tab Escitalopram 10 mg OD"])
    assert len(found) == 1 and "Serotonin syndrome" in found[0].effect and found[0].action == "avoid"
    assert kb.interactions("linezolid", ["Tab Pantoprazole 40 mg"]) == []


def test_other_interactions(kb):
    # FACTS 6: carbapenem + valproate; cotrimoxazole + warfarin; clarithromycin + simvastatin; aminoglycoside + vancomycin
    assert kb.interactions("meropenem", ["sodium valproate 500 mg BD"])[0].action == "avoid"
    assert "INR" in kb.interactions("cotrimoxazole", ["Warfarin 5 mg"])[0].effect
    assert kb.interactions("clarithromycin", ["simvastatin 20 mg HS"])
    assert kb.interactions("azithromycin", ["simvastatin 20 mg HS"]) == []  # azithromycin lacks the CYP3A4 effect
    assert kb.interactions("amikacin", ["Inj Vancomycin 1 g q12h"])  # an antibiotic named by its drug key
    assert kb.interactions("ciprofloxacin", ["Tab Azithro 500"])  # QT: FQ + macrolide, found by antibiotic class


def test_tetracyclines_avoided_in_pregnancy(kb):
    # FACTS 5: tetracyclines avoid (FDA, X); tigecycline avoid
    for d in ("doxycycline", "minocycline", "tetracycline", "tigecycline"):
        assert kb.pregnancy_rule(d).action == "avoid"
    assert kb.pregnancy_rule("doxycycline").source.confidence == "X"


def test_pregnancy_rules_by_class_and_drug(kb):
    # FACTS 5: aminoglycosides avoid; nitrofurantoin not at term; cotrimoxazole 1st trimester and near term;
    # chloramphenicol near term; penicillins/cephalosporins acceptable
    assert kb.pregnancy_rule("gentamicin").action == "avoid"
    assert kb.pregnancy_rule("nitrofurantoin").action == "avoid_near_term"
    assert kb.pregnancy_rule("cotrimoxazole").action == "avoid_first_trimester_and_near_term"
    assert kb.pregnancy_rule("chloramphenicol").action == "avoid_near_term"
    assert kb.pregnancy_rule("ceftriaxone").action == "ok"
    assert kb.pregnancy_rule("clarithromycin").action == "avoid"  # a drug-key row
    assert kb.pregnancy_rule("azithromycin").action == "ok"  # same class, its own row


def test_viral_urti_and_other_no_antibiotic_syndromes(kb):
    # FACTS 1 G7 and 2.7/2.11/2.12: no antibiotic for viral URTI, watery diarrhoea, sinusitis <=10 d, mild AOM, AUFI day 1-2
    for name in ("viral URTI", "common cold", "acute watery diarrhoea", "sinusitis_uncomplicated", "AOM", "AUFI"):
        s = kb.syndrome(name)
        assert s.no_antibiotic and s.first_line == (), name
    assert kb.syndrome("viral URTI").source.section == "7.1, 7.2"
    assert kb.syndrome("viral URTI").source.sections == ("7.1", "7.2")


def test_cap_opd_and_pseudomonas_regimens(kb):
    # FACTS 2.1, Q-NCDC25 12.5 p. 83: amoxicillin 1 g PO q8h x 5-7 d; ICU Pseudomonas risk: pip-tazo 4.5 g q6h + azithro x 7 d
    item = only_item(kb, "cap_opd_no_comorbidity")
    assert (item.drug, item.dose_mg, item.interval_h, item.duration_days_min, item.duration_days_max) == (
        "amoxicillin", 1000.0, 8.0, 5.0, 7.0)
    icu = kb.syndrome("cap_icu_pseudomonas").first_line[0]
    assert [i.drug for i in icu.items] == ["piperacillin-tazobactam", "azithromycin"]
    assert icu.items[0].dose_mg == 4500.0 and icu.items[0].interval_h == 6.0 and icu.items[0].duration_days_max == 7.0


def test_no_empiric_fluoroquinolone_for_cap(kb):
    # FACTS 2.1 do-not-use (ICS/NCCP 2012, X): fluoroquinolones mask TB. Reject, not Modify: no CAP regimen of
    # any setting uses a fluoroquinolone, and a drug with no place in the infection is Reject (issue 17, pattern 5)
    for key in ("cap_opd_no_comorbidity", "cap_ward", "cap_icu"):
        assert kb.do_not_use(key, "levofloxacin").decision == "Reject"


def test_reserve_ceftazidime_avibactam_never_empiric(kb):
    # FACTS 2.2 and 2.8, Q-NCDC25 18.3 / 3.4: ceftazidime-avibactam +/- aztreonam is targeted only -> Reject
    assert kb.drug("ceftazidime-avibactam").aware == "Reserve"
    for key in ("hap_vap", "sepsis_hospital", "septic_shock_community"):
        assert kb.do_not_use(key, "ceftazidime-avibactam").decision == "Reject"


def test_hap_vap_and_septic_shock_regimens(kb):
    # FACTS 2.2, Q-NCDC25 18.3 p. 107: pip-tazo 4.5 g q6h x 7 d; FACTS 2.8: meropenem + teicoplanin for septic shock
    item = only_item(kb, "hap_vap")
    assert (item.drug, item.dose_mg, item.interval_h, item.duration_days_max) == ("piperacillin-tazobactam", 4500.0, 6.0, 7.0)
    shock = kb.syndrome("septic shock").first_line[0]
    assert [i.drug for i in shock.items] == ["meropenem", "teicoplanin"]
    assert shock.items[1].dose_text.startswith("400 mg q12h x 3 doses, then 6-12 mg/kg")


def test_hospital_sepsis_polymyxin_b_in_lakh_units(kb):
    # FACTS 2.8, Q-NCDC25 3.4: + polymyxin B 15-20 lakh U stat -> 7.5-10 lakh U IV q12h
    regimen = next(r for r in kb.syndrome("sepsis_hospital").alternatives if "CRO" in r.when)
    pb = regimen.items[1]
    assert (pb.drug, pb.dose_units, pb.dose_max, pb.interval_h) == ("polymyxin-b", 750_000.0, 1_000_000.0, 12.0)


def test_surgical_prophylaxis_is_single_dose_cefazolin(kb):
    # FACTS 2.15, Q-NCDC25 10.7: cefazolin 1-2 g IV single dose pre-incision
    item = only_item(kb, "surgical prophylaxis")
    assert (item.drug, item.dose_mg, item.dose_max, item.interval_h) == ("cefazolin", 1000.0, 2000.0, 0.0)
    assert kb.syndrome("clean surgery").no_antibiotic


def test_aware_groups(kb):
    # FACTS 3 (WHO AWaRe 2025, X): nitrofurantoin Access, ceftriaxone Watch, colistin Reserve; fosfomycin oral Watch, IV Reserve
    assert kb.drug("nitrofurantoin").aware == "Access"
    assert kb.drug("ceftriaxone").aware == "Watch"
    assert kb.drug("colistin").aware == "Reserve"
    assert kb.drug("fosfomycin").aware_for("PO") == "Watch" and kb.drug("fosfomycin").aware_for("IV") == "Reserve"
    assert kb.drug("cefoperazone-sulbactam").aware_source.confidence == "GK"  # combination not in the WHO list


def test_allergy_conflicts(kb):
    # FACTS 6: non-severe penicillin allergy -> cephalosporins acceptable; severe -> avoid all beta-lactams;
    # aztreonam safe except with ceftazidime allergy
    assert kb.allergy_conflict("amoxicillin", ["Penicillin"]) is not None
    assert kb.allergy_conflict("piperacillin-tazobactam", ["PCN (rash)"]) is not None
    assert kb.allergy_conflict("ceftriaxone", ["penicillin (rash)"]) is None
    assert "beta-lactam" in kb.allergy_conflict("ceftriaxone", ["penicillin - anaphylaxis"])
    assert kb.allergy_conflict("aztreonam", ["penicillin anaphylaxis"]) is None
    assert kb.allergy_conflict("aztreonam", ["ceftazidime"]) is not None
    assert kb.allergy_conflict("cotrimoxazole", ["sulpha drugs"]) is not None
    assert kb.allergy_conflict("cefalexin", ["amoxicillin"]) is None  # a named penicillin -> penicillin group only
    assert kb.allergy_conflict("meropenem", ["NKDA"]) is None
    assert kb.allergy_conflict("ciprofloxacin", ["quinolones"]) is not None


# ---------------------------------------------------------------- lookups
@pytest.mark.parametrize("name,key", [
    ("CAP", "cap_opd_no_comorbidity"),
    ("community acquired pneumonia", "cap_opd_no_comorbidity"),
    ("Pneumonia, community-acquired", "cap_opd_no_comorbidity"),
    ("community-acquired pneumonias", "cap_opd_no_comorbidity"),  # plural
    ("UTI", "cystitis_uncomplicated"),
    ("Cystitis", "cystitis_uncomplicated"),
    ("AGE", "acute_watery_diarrhoea"),
    ("typhoid", "enteric_fever_uncomplicated"),
    ("HAP", "hap_vap"),
    ("C. diff", "c_difficile"),
    ("necrotising fasciitis", "necrotizing_fasciitis"),
    ("Acute Pyelonephritis", "pyelonephritis"),
    ("AECOPD", "copd_exacerbation"),
    ("dog bite", "animal_bite"),
    ("no such syndrome", None),
])
def test_syndrome_lookup_by_synonym(kb, name, key):
    s = kb.syndrome(name)
    assert (s.key if s else None) == key


def test_generic_syndrome_name_picks_the_setting(kb):
    assert kb.syndrome("CAP", setting="ICU").key == "cap_icu"
    assert kb.syndrome("community acquired pneumonia", setting="admitted to the medical ward").key == "cap_ward"
    assert kb.syndrome("typhoid", setting="inpatient").key == "enteric_fever_complicated"
    assert kb.syndrome("cystitis", setting="ICU").key == "cystitis_uncomplicated"  # a specific name ignores setting


def test_search_syndromes_in_free_text(kb):
    assert kb.search_syndromes("Acute uncomplicated cystitis in a non-pregnant woman")[0].key == "cystitis_uncomplicated"
    assert kb.search_syndromes("Community-acquired pneumonia in a COPD patient", setting="ward")[0].key == "cap_ward"


@pytest.mark.parametrize("name,key", [
    ("pip-taz", "piperacillin-tazobactam"), ("piptaz", "piperacillin-tazobactam"), ("Pip-Tazo", "piperacillin-tazobactam"),
    ("Tazocin", "piperacillin-tazobactam"), ("piperacillin/tazobactam", "piperacillin-tazobactam"),
    ("amox-clav", "amoxicillin-clavulanate"), ("co-amoxiclav", "amoxicillin-clavulanate"),
    ("Augmentin", "amoxicillin-clavulanate"), ("amoxicillin + clavulanic acid", "amoxicillin-clavulanate"),
    ("TMP-SMX", "cotrimoxazole"), ("SMX-TMP", "cotrimoxazole"), ("Septran", "cotrimoxazole"),
    ("Bactrim", "cotrimoxazole"), ("co-trimoxazole", "cotrimoxazole"), ("Monocef", "ceftriaxone"),
    ("azithro", "azithromycin"), ("doxy", "doxycycline"), ("metro", "metronidazole"), ("cipro", "ciprofloxacin"),
    ("levo", "levofloxacin"), ("mero", "meropenem"), ("vanc", "vancomycin"), ("Vanco", "vancomycin"),
    ("CMS", "colistin"), ("Magnex", "cefoperazone-sulbactam"), ("cefoperazone-sulbactam", "cefoperazone-sulbactam"),
    ("Polymyxin B", "polymyxin-b"), ("penicillin G", "benzylpenicillin"), ("cephalexin", "cefalexin"),
    ("carbapenems", None), ("paracetamol", None),
])
def test_drug_lookup_by_name_or_abbreviation(kb, name, key):
    d = kb.drug(name)
    assert (d.key if d else None) == key


def test_find_drugs_in_free_text(kb):
    text = "Started Inj Pip-taz 4.5 g q6h + Tab Azithro; earlier amoxicillin/clavulanic acid, then amox. Taxim-O at home."
    # amoxicillin/clavulanic acid is one drug (longest match), 'amox' alone is amoxicillin, Taxim-O is cefixime
    assert kb.find_drugs(text) == [
        "piperacillin-tazobactam", "azithromycin", "amoxicillin-clavulanate", "amoxicillin", "cefixime"]
    assert kb.find_drugs("allergic to penicillin; takes paracetamol") == []  # 'penicillin' alone names no one drug
    assert kb.find_drugs("") == []


# ---------------------------------------------------------------- data integrity
def test_counts(kb):
    assert len(kb.syndromes) >= 25
    assert len(kb.drugs) >= 40
    assert sum(s.no_antibiotic for s in kb.syndromes) >= 5


def test_every_row_has_a_source_with_a_valid_label(kb):
    rows = [s.source for s in kb.syndromes] + [r.source for s in kb.syndromes for r in s.do_not_use]
    rows += [d.source for d in kb.drugs] + [d.aware_source for d in kb.drugs]
    rows += [b.source for d in kb.drugs for b in d.renal] + [i.source for d in kb.drugs for i in d.interactions]
    rows += [d.pregnancy.source for d in kb.drugs if d.pregnancy] + [src for _, _, src in kb.stewardship_rules]
    assert len(rows) > 300
    for src in rows:
        assert src is not None and src.guideline and src.confidence in CONFIDENCE_LABELS


def test_regimens_are_complete(kb):
    for s in kb.syndromes:
        for reg in s.first_line + s.alternatives:
            assert reg.text and reg.items, s.key
            for item in reg.items:
                assert kb.drug(item.drug) is not None
                assert item.route in ("PO", "IV", "IM", "PO/IV", "IV/IM")
                assert sum(x is not None for x in (item.dose_mg, item.dose_mg_per_kg, item.dose_units)) == 1, s.key
                if item.interval_h == 0:
                    assert item.duration_days_min is None, s.key  # a single dose carries no duration


def test_citations_are_real_and_exclude_general_knowledge(kb):
    cites = kb.citations()
    assert any(c.startswith("NCDC/ICMR") and "section 5.1, p. 39" in c for c in cites)
    assert any("Table 14.1 row 25" in c for c in cites)
    assert not any(c.startswith("General clinical knowledge") for c in cites)


def _copy_data(tmp_path: Path) -> Path:
    for f in DATA_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def _edit(path: Path, fn) -> None:
    data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    fn(data)
    path.write_text(yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False))


def test_copied_data_loads(tmp_path):
    kb = KnowledgeBase(load_raw(_copy_data(tmp_path)))
    assert len(kb.drugs) == len(load_kb().drugs)


@pytest.mark.parametrize("file,edit,message", [
    ("drugs.yaml", lambda d: d["drugs"][3].pop("source"), "drugs.yaml: drug 'benzylpenicillin': missing 'source'"),
    ("drugs.yaml", lambda d: d["drugs"][0].update(source="NCDC25 | 1 | 2 | Q-MADEUP"), "confidence label 'Q-MADEUP'"),
    ("drugs.yaml", lambda d: d["drugs"][10]["renal"]["bands"].pop(1), "renal bands must cover"),
    ("syndromes.yaml", lambda d: d["syndromes"][0]["first_line"][0]["items"][0].update(drug="amoxycillinx"),
     "syndrome 'cap_opd_no_comorbidity': regimen drug 'amoxycillinx'"),
    ("syndromes.yaml", lambda d: d["syndromes"][0]["first_line"][0]["items"][0].update(dose="lots"), "dose 'lots'"),
    ("syndromes.yaml", lambda d: d["syndromes"][1].update(synonyms=["CAP OPD"]), "already used by syndrome"),
    ("safety.yaml", lambda d: d["pregnancy"][0].update(action="maybe"), "safety.yaml: pregnancy rule 1: action 'maybe'"),
])
def test_malformed_row_names_file_and_entry(tmp_path, file, edit, message):
    data_dir = _copy_data(tmp_path)
    _edit(data_dir / file, edit)
    with pytest.raises(KBError) as err:
        KnowledgeBase(load_raw(data_dir))
    assert message in str(err.value)


def test_summary_command():
    out = subprocess.run([sys.executable, "-m", "amr_grpo.guidelines"], capture_output=True, text=True, check=True).stdout
    assert "not for clinical use" in out and "syndrome/setting entries: " in out and "Q-ICMR19" in out
