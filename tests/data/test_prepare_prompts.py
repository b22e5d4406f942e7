"""The policy prompt (render_prompt) and the one writer of the policy output format (format_validation)."""

from __future__ import annotations

import pytest

from amr_grpo.data.prompts import SYSTEM_PROMPT, render_prompt, render_prompt_text
from amr_grpo.output_format import STEP_TITLES, format_validation
from amr_grpo.output_format import parse_validation
from amr_grpo.records import Case, Patient

CASE = Case(id="x", patient=Patient(age=30, sex="F", allergies=["penicillin"]), diagnosis="Uncomplicated cystitis",
            prescription="Tab Nitrofurantoin 100 mg BD x 5 days", setting="OPD")


def test_chat_prompt_has_role_format_and_case():
    system, user = render_prompt(CASE)
    assert (system["role"], user["role"]) == ("system", "user")
    assert "clinical pharmacist" in system["content"]
    for title in STEP_TITLES:
        assert f"- {title}:" in system["content"]
    assert "Decision: Approve | Modify | Reject" in system["content"]
    for part in ("30-year-old female", "allergies: penicillin", "Diagnosis: Uncomplicated cystitis", "Setting: OPD",
                 "Prescription: Tab Nitrofurantoin 100 mg BD x 5 days"):
        assert part in user["content"]
    # compact for the tiny policy: about 4 characters a token, under 200 tokens
    assert len(SYSTEM_PROMPT) < 800


def test_text_prompt_is_the_same_content():
    assert render_prompt_text(CASE) == SYSTEM_PROMPT + "\n\n" + render_prompt(CASE)[1]["content"] + "\n"


def test_free_text_case_is_shown_as_given():
    case = Case(id="y", patient=Patient(text="45 M with a cold, given azithromycin 500 mg OD x 3 days"), diagnosis="",
                prescription="")
    assert render_prompt(case)[1]["content"].endswith("45 M with a cold, given azithromycin 500 mg OD x 3 days")


def test_format_validation_round_trips_through_the_parser():
    steps = [(t, f"{t} text.") for t in STEP_TITLES]
    text = format_validation(steps, "modify", "Fosfomycin 3 g PO single dose", "NCDC/ICMR NTG v2.0 (2025), section 5.1")
    assert text.splitlines()[0] == "Step 1 - Clinical picture: Clinical picture text."
    v = parse_validation(text)
    assert v.parse_ok and not v.problems
    assert len(v.steps) == 7 and v.decision.value == "Modify"
    assert v.recommended_regimen == "Fosfomycin 3 g PO single dose"
    assert v.regimen[0].drug == "fosfomycin" and v.regimen[0].interval_h == 0


@pytest.mark.parametrize("steps, decision, message", [
    ([("a", "b")] * 5, "Approve", "6-8 steps"),
    ([("a", "b")] * 9, "Approve", "6-8 steps"),
    ([("a", "b")] * 7, "Maybe", "Approve, Modify or Reject"),
    ([("a", "b")] * 6 + [("", "b")], "Approve", "empty title"),
])
def test_format_validation_refuses_bad_parts(steps, decision, message):
    with pytest.raises(ValueError, match=message):
        format_validation(steps, decision, "x", "y")
