"""The pharmacist role prompt given to the policy, and the one writer of the policy output format.

The GRPO record's `prompt` is chat messages (`render_prompt`): a system message with the role and the
output format, then a user message with the case. `render_prompt_text` is the same content as one plain
string, for tokenizers without a chat template (`amr-grpo prepare --prompt-format text`).
`format_validation` writes the output format of DESIGN.md ("Policy output"); synthetic reference
validations and anything else that writes that format call it, and RULES' parser reads it back.
Try it: python -m amr_grpo.data.prompts
"""

from __future__ import annotations

from collections.abc import Sequence

from amr_grpo.records import Case, Decision, Patient, patient_summary

# The step titles of the reference format, in order (6-8 steps; these seven are the canonical set).
STEP_TITLES: tuple[str, ...] = (
    "Clinical picture",
    "Pathogen and setting",
    "Regimen choice",
    "Dose route frequency",
    "Duration",
    "Patient factors and safety",
    "Stewardship",
)
MIN_STEPS, MAX_STEPS = 6, 8

SYSTEM_PROMPT = (
    "You are a clinical pharmacist. Validate the antimicrobial prescription against the Indian national "
    "treatment guidelines (NCDC/ICMR): check the diagnosis, regimen, dose, route, frequency, duration, "
    "allergies, renal function, pregnancy and interactions.\n"
    "Answer in exactly this format, one short sentence per step:\n"
    + "\n".join(f"Step {i} - {t}: ..." for i, t in enumerate(STEP_TITLES, 1))
    + "\nDecision: Approve | Modify | Reject\n"
    "Recommended regimen: <drug dose route frequency duration> (or: No antibiotic; <supportive care>)\n"
    "Reference: <guideline, section>"
)

TASK = "Validate this prescription."


def case_text(case: Case) -> str:
    """The case as the user message shows it. A free-text case (no diagnosis/prescription fields) is shown as given."""
    if not case.diagnosis and not case.prescription:
        return case.patient.text or patient_summary(case.patient)
    return case.render()


def render_prompt(case: Case) -> list[dict[str, str]]:
    """The chat prompt for one case: [{"role": "system", ...}, {"role": "user", ...}]."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"{TASK}\n{case_text(case)}"},
    ]


def render_prompt_text(case: Case) -> str:
    """The same prompt as one plain string (system text, a blank line, the user text), for models without a
    chat template. It ends with a newline so the completion starts on a fresh line."""
    return "\n\n".join(m["content"] for m in render_prompt(case)) + "\n"


def format_validation(
    steps: Sequence[tuple[str, str]],
    decision: Decision | str,
    regimen: str,
    reference: str,
) -> str:
    """Write a validation in the policy format.

    steps: (title, text) pairs, 6-8 of them; decision: a Decision or its name; regimen: for Approve the
    prescribed regimen, for "no antibiotic" 'No antibiotic; <supportive care>'; reference: 'guideline, section'.
    Raises ValueError on a step count outside 6-8, an unknown decision, or an empty part.
    """
    if not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise ValueError(f"a validation has {MIN_STEPS}-{MAX_STEPS} steps, got {len(steps)}")
    d = decision if isinstance(decision, Decision) else Decision.parse(decision)
    if d is None:
        raise ValueError(f"decision must be Approve, Modify or Reject, got {decision!r}")
    lines = []
    for i, (title, text) in enumerate(steps, 1):
        if not title.strip() or not text.strip():
            raise ValueError(f"step {i} has an empty title or text")
        lines.append(f"Step {i} - {_one_line(title)}: {_one_line(text)}")
    if not regimen.strip() or not reference.strip():
        raise ValueError("the recommended regimen and the reference must not be empty")
    lines.append(f"Decision: {d.value}")
    lines.append(f"Recommended regimen: {_one_line(regimen)}")
    lines.append(f"Reference: {_one_line(reference)}")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    demo = Case(
        id="demo",
        patient=Patient(age=28, sex="F", weight_kg=58),
        diagnosis="Uncomplicated cystitis",
        prescription="Tab Nitrofurantoin 100 mg BD x 5 days",
        setting="OPD",
    )
    print(render_prompt_text(demo))
