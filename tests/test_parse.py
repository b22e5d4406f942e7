"""The completion parser on a literal table of completions: each row states the Validation fields it must give."""

from __future__ import annotations

import pytest

from amr_grpo.output_format import as_prescribed, clean_line, no_regimen, parse_validation
from amr_grpo.records import Decision

CLEAN = """Step 1 - Clinical picture: 28-year-old woman with dysuria and frequency, afebrile: uncomplicated cystitis.
Step 2 - Pathogen and setting: E. coli most likely; community, OPD.
Step 3 - Regimen choice: nitrofurantoin is the NCDC first-line agent.
Step 4 - Dose route frequency: 100 mg PO q12h is the guideline dose.
Step 5 - Duration: 5 days, as the guideline says.
Step 6 - Patient factors and safety: no allergy, not pregnant, normal renal function.
Step 7 - Stewardship: Access drug; send urine culture and narrow on report.
Decision: Approve
Recommended regimen: Nitrofurantoin 100 mg PO BD x 5 days
Reference: NCDC/ICMR NTG v2.0 (2025), section 5.1"""

MARKDOWN = """## Validation
**Step 1 - Clinical picture:** community-acquired pneumonia, CURB-65 of 0.
- **Step 2 -** Pathogen and setting: S. pneumoniae; OPD.
* **Step 3:** Regimen choice: amoxicillin first line.
> **Step 4.** Dose: 1 g PO TDS.
### Step 5 - Duration
5 days.
1. Step 6 - Safety: penicillin allergy absent.

**Decision:** **Modify**
**Recommended regimen:** Amoxicillin 1 g PO TDS x 5 days
**Reference:** *NCDC/ICMR NTG 2025, section 12.5*"""

LOWER_SPACES = """step 1 -   clinical picture :   cystitis
step 2 - pathogen:  e. coli
   step 3 - regimen:   nitrofurantoin
decision :    reject
recommended regimen :   no antibiotic; oral fluids
reference:   ncdc 2025 section 5.1   """

NUMBERED = """1. Clinical picture: acute watery diarrhoea without danger signs.
2) Pathogen and setting: mostly viral; OPD.
(3) Regimen choice: no antibiotic indicated.
Final decision - REJECTED.
Reference - NCDC 2025, section 4.2"""

VALUE_NEXT_LINE = """Step one - Clinical picture: cellulitis.
Step two - Regimen: cefalexin.
Decision:
**Approve**
Recommended regimen:
Cefalexin 500 mg PO q6h x 5 days
Reference: NCDC 2025 section 9.3"""

MISSING_DECISION = """Step 1 - Clinical picture: CAP.
Step 2 - Regimen: amoxicillin.
Recommended regimen: Amoxicillin 1 g PO TDS x 5 days
Reference: NCDC 2025"""

TWO_DECISIONS = """Step 1 - Clinical picture: CAP.
Decision: Approve
Some further thought.
Decision: Reject
Reference: NCDC 2025"""

NO_STEPS = "Decision: Approve\nRecommended regimen: as prescribed\nReference: NCDC 2025, section 5.1"


# (name, completion, expected): expected keys are Validation fields, plus n_steps and problems_include.
TABLE = [
    ("clean", CLEAN, dict(parse_ok=True, decision=Decision.APPROVE, n_steps=7, problems=[],
                          recommended_regimen="Nitrofurantoin 100 mg PO BD x 5 days",
                          reference="NCDC/ICMR NTG v2.0 (2025), section 5.1")),
    # bold, headers, bullets, quote marks; "Step 5" header with its text on the next line is one step
    ("markdown", MARKDOWN, dict(parse_ok=True, decision=Decision.MODIFY, n_steps=6, problems=[],
                                recommended_regimen="Amoxicillin 1 g PO TDS x 5 days",
                                reference="NCDC/ICMR NTG 2025, section 12.5")),
    ("lower case, extra spaces", LOWER_SPACES, dict(parse_ok=True, decision=Decision.REJECT, n_steps=3,
                                                    recommended_regimen="no antibiotic; oral fluids",
                                                    reference="ncdc 2025 section 5.1")),
    # bare numbering is a step; "Final decision - REJECTED." is a decision; Reject with no regimen line is a gap
    ("numbered", NUMBERED, dict(parse_ok=True, decision=Decision.REJECT, n_steps=3, recommended_regimen=None,
                                reference="NCDC 2025, section 4.2",
                                problems_include="no recommended regimen for Reject")),
    ("value on next line", VALUE_NEXT_LINE, dict(parse_ok=True, decision=Decision.APPROVE, n_steps=2,
                                                 recommended_regimen="Cefalexin 500 mg PO q6h x 5 days")),
    ("missing decision", MISSING_DECISION, dict(parse_ok=False, decision=None, n_steps=2,
                                                problems_include="no decision line")),
    ("two decisions", TWO_DECISIONS, dict(parse_ok=False, decision=None,
                                          problems_include="two conflicting decisions: Approve, Reject")),
    ("no steps", NO_STEPS, dict(parse_ok=True, decision=Decision.APPROVE, n_steps=0, problems_include="no steps")),
    ("garbage", "lorem ipsum dolor sit amet 12345 !!!", dict(parse_ok=False, decision=None, n_steps=0,
                                                             problems_include="no decision line")),
    ("empty", "   \n  ", dict(parse_ok=False, decision=None, n_steps=0, problems=["empty output"])),
    ("ambiguous decision", "Step 1 - x: y\nDecision: Approve or Modify\nReference: NCDC",
     dict(parse_ok=False, decision=None, problems_include="ambiguous decision")),
    ("negated decision", "Step 1 - x: y\nDecision: not approved\nReference: NCDC",
     dict(parse_ok=False, decision=None, problems_include="negated decision")),
    ("decision with reason", "Step 1 - x: y\nDecision: Modify (do not approve as written)\nReference: NCDC",
     dict(parse_ok=True, decision=Decision.MODIFY)),
    ("unknown decision word", "Step 1 - x: y\nDecision: maybe later\nReference: NCDC",
     dict(parse_ok=False, decision=None, problems_include="names none of Approve/Modify/Reject")),
    ("same decision twice", "Step 1 - x: y\nDecision: Reject\nDecision: **REJECT**\nReference: NCDC",
     dict(parse_ok=True, decision=Decision.REJECT)),
    ("decision-making is not a decision", "Step 1 - Decision-making: weigh options\nDecision: Approve\nReference: x",
     dict(parse_ok=True, decision=Decision.APPROVE, n_steps=1)),
]


@pytest.mark.parametrize("name,text,expected", TABLE, ids=[t[0] for t in TABLE])
def test_parse_table(name: str, text: str, expected: dict) -> None:
    v = parse_validation(text)
    assert v.raw == text
    for key, want in expected.items():
        if key == "n_steps":
            assert len(v.steps) == want, v.steps
        elif key == "problems_include":
            assert any(want in p for p in v.problems), v.problems
        else:
            assert getattr(v, key) == want, (key, getattr(v, key))


def test_steps_keep_title_and_text_and_join_continuations() -> None:
    v = parse_validation(MARKDOWN)
    assert v.steps[0] == "Clinical picture: community-acquired pneumonia, CURB-65 of 0."
    assert v.steps[4] == "Duration 5 days."  # header line plus its continuation line


def test_regimen_is_parsed_with_the_kb_prescription_parser() -> None:
    v = parse_validation(CLEAN)
    assert [d.drug for d in v.regimen] == ["nitrofurantoin"]
    d = v.regimen[0]
    # 100 mg, BD = every 12 h, oral, 5 days
    assert (d.dose_mg, d.route, d.interval_h, d.duration_days) == (100.0, "PO", 12.0, 5.0)


def test_no_antibiotic_and_as_prescribed_give_no_doses() -> None:
    assert parse_validation(LOWER_SPACES).regimen == []
    assert parse_validation(NO_STEPS).regimen == []
    assert no_regimen("No antibiotic; ORS and zinc") and not no_regimen("Nitrofurantoin 100 mg")
    assert as_prescribed("As prescribed.") and as_prescribed("No change")
    assert not as_prescribed("Continue nitrofurantoin 100 mg BD")  # names a drug: a real regimen


def test_clean_line_strips_markdown_but_not_numbers() -> None:
    assert clean_line("### **Step 1 -** Clinical") == "Step 1 - Clinical"
    assert clean_line("> - *Decision*: Modify") == "Decision: Modify"
    assert clean_line("4.5 g IV q6h") == "4.5 g IV q6h"


def test_none_input_is_unparseable_not_a_crash() -> None:
    v = parse_validation(None)  # type: ignore[arg-type]
    assert v.parse_ok is False and v.problems == ["empty output"]
