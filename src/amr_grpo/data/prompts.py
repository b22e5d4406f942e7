"""The pharmacist role prompt given to the policy.

The GRPO record's `prompt` is chat messages (`render_prompt`): a system message with the role and the
output format (amr_grpo.output_format, where the writer, parser and step titles live), then a user message
with the case.
`render_prompt_text` is the same content as one plain string, for tokenizers without a chat template
(`amr-grpo prepare --prompt-format text`).
Try it: python -m amr_grpo.data.prompts
"""

from __future__ import annotations

from amr_grpo.output_format import FORMAT_INSTRUCTIONS
from amr_grpo.records import Case, Patient, patient_summary

__all__ = ["SYSTEM_PROMPT", "case_text", "render_prompt", "render_prompt_text"]

SYSTEM_PROMPT = (
    "You are a clinical pharmacist. Validate the antimicrobial prescription against the Indian national "
    "treatment guidelines (NCDC/ICMR): check the diagnosis, regimen, dose, route, frequency, duration, "
    "allergies, renal function, pregnancy and interactions.\n" + FORMAT_INSTRUCTIONS
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


if __name__ == "__main__":
    demo = Case(
        id="demo",
        patient=Patient(age=28, sex="F", weight_kg=58),
        diagnosis="Uncomplicated cystitis",
        prescription="Tab Nitrofurantoin 100 mg BD x 5 days",
        setting="OPD",
    )
    print(render_prompt_text(demo))
