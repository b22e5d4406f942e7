"""The inference API: a trained policy validates prescriptions. Research tool, not for clinical use.

    v = Validator.from_pretrained("runs/main/final")            # merged model, or LoRA adapter dir over its base
    v.validate({"patient": "F 28y", "diagnosis": "cystitis", "prescription": "Ciprofloxacin 500 mg BD x 3 d"})
    -> Validation(steps=[...], decision=Decision.MODIFY, recommended_regimen=..., reference=..., raw=...)

A case is a records.Case, a dict (the dataset's `context`, or {patient, diagnosis, prescription, ...}) or free
text; the prompt is the training prompt (amr_grpo.data.prompts: render_prompt with a chat template,
render_prompt_text without), the output is read with amr_grpo.output_format.parse_validation. `validate_many`
generates in batches.
Try it: amr-grpo validate --model assets/tiny-policy --text "28F, cystitis, ciprofloxacin 500 mg BD x 3 days"
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from amr_grpo.data.prompts import render_prompt, render_prompt_text
from amr_grpo.errors import UserError
from amr_grpo.evaluation.generation import Generation, GenerationSettings, Generator, Prompt
from amr_grpo.output_format import parse_validation
from amr_grpo.reading import read_case
from amr_grpo.records import Case, Validation

CaseLike = Case | dict[str, Any] | str


def to_case(case: CaseLike) -> Case:
    """Case / dict / free text -> Case; a case with nothing to validate raises UserError."""
    if isinstance(case, str) and not case.strip():
        raise UserError("the case is empty", "give the patient, the diagnosis and the prescription")
    if not isinstance(case, (Case, dict, str)):
        raise UserError(f"a case is a Case, a dict or text, not {type(case).__name__}")
    c = read_case(case)
    if not (c.prescription or "").strip() and not (c.patient.text or "").strip():
        raise UserError("the case has no prescription to validate", "add a 'prescription' (drug dose route frequency)")
    return c


class Validator:
    """A loaded policy that writes and parses validations. Thread-safe: generate calls run one at a time."""

    def __init__(self, generator: Generator):
        self.generator = generator
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, path: str | Path, base_model: str | None = None, **gen_kwargs: Any) -> Validator:
        """Load a merged model or a LoRA adapter dir; gen_kwargs are GenerationSettings fields
        (max_new_tokens, do_sample, temperature, top_p, top_k, batch_size, seed, progress)."""
        unknown = set(gen_kwargs) - set(GenerationSettings.__dataclass_fields__)
        if unknown:
            raise UserError(f"unknown generation setting(s): {', '.join(sorted(unknown))}",
                            f"known: {', '.join(GenerationSettings.__dataclass_fields__)}")
        return cls(Generator.from_pretrained(path, base_model=base_model, **gen_kwargs))

    def prompt(self, case: CaseLike) -> Prompt:
        """The prompt the policy was trained on: chat messages, or one string when there is no chat template."""
        c = to_case(case)
        return render_prompt(c) if getattr(self.generator.tokenizer, "chat_template", None) else render_prompt_text(c)

    def generate_many(self, cases: Sequence[CaseLike]) -> list[Generation]:
        prompts = [self.prompt(c) for c in cases]
        with self._lock:
            return self.generator.generate(prompts, desc="validating")

    def validate(self, case: CaseLike) -> Validation:
        return self.validate_many([case])[0]

    def validate_many(self, cases: Sequence[CaseLike]) -> list[Validation]:
        return [parse_validation(g.text) for g in self.generate_many(cases)]
