"""The `local` judge: the same rubric prompt and answer parser through a transformers causal LM on your machine.

For users with a GPU and open judge weights (e.g. a Prometheus 2 or Llama 3.x Instruct checkpoint) and no API.
The model loads and generates through evaluation/generation.py, as the policy does in `amr-grpo evaluate`. The
prompt goes through the tokenizer's chat template when it has one (else "role: content" blocks), decoding is
greedy, and the answer is validated like the `openai` judge's: one retry quoting the error, then
JudgeError("bad_answer"). Generations run one at a time on a worker thread, so the event loop stays free.
Judging quality is the model's: the tests drive this code path with a tiny random Llama, which cannot judge
anything; they only show that garbage becomes a could-not-score error and a valid answer becomes a Verdict.
Try it: amr-grpo judge --input tests/data/judge_requests.jsonl --judge local --judge-model /path/to/judge-model -o /tmp/out.jsonl
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from amr_grpo.errors import UserError
from amr_grpo.evaluation.generation import GenerationSettings, Generator, load_model
from amr_grpo.judge.base import JudgeError, Usage
from amr_grpo.judge.llm import PromptJudge


class LocalJudge(PromptJudge):
    backend = "local"

    def __init__(self, model_path: str | Path, *, max_new_tokens: int = 1024, device: str | None = None,
                 generate_kwargs: dict[str, Any] | None = None):
        """`generate_kwargs` go to model.generate (e.g. a logits_processor); sampling stays off (greedy)."""
        super().__init__()
        path = Path(model_path).expanduser()
        if not path.exists():
            raise UserError(f"local judge model not found: {path}", hint="judge.model must be a local model directory")
        self.model = str(model_path)
        lm, self.tokenizer = load_model(path, device=device)
        self.generator = Generator(lm, self.tokenizer, GenerationSettings(max_new_tokens=max_new_tokens, batch_size=1))
        self.generate_kwargs = dict(generate_kwargs or {})
        self._lock = threading.Lock()  # one generation at a time on the shared model

    def _max_tokens(self, prompt: Any) -> int:
        return self.generator.settings.max_new_tokens

    def _prompt(self, messages: list[dict[str, str]]) -> str | list[dict[str, str]]:
        """The messages as they are for a chat template; without one, "role: content" blocks ending in "assistant: "
        (a judge needs to see which text is the instruction and which the case)."""
        if getattr(self.tokenizer, "chat_template", None):
            return messages
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant: "

    def _generate(self, messages: list[dict[str, str]], max_new_tokens: int) -> tuple[str, Usage]:
        with self._lock:
            (out,) = self.generator.generate([self._prompt(messages)], max_new_tokens=max_new_tokens,
                                             **self.generate_kwargs)
        return out.text, Usage(calls=1, prompt_tokens=out.prompt_tokens, completion_tokens=out.output_tokens)

    async def _complete(self, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, Usage]:
        try:
            return await asyncio.to_thread(self._generate, messages, max_tokens)
        except (RuntimeError, ValueError) as e:  # out of memory, a context longer than the model's, ...
            raise JudgeError(
                "unavailable", f"the local judge could not generate: {type(e).__name__}: {e}"[:300]
            ) from None
