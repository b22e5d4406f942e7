"""The `local` judge: the same rubric prompt and answer parser through a transformers causal LM on your machine.

For users with a GPU and open judge weights (e.g. a Prometheus 2 or Llama 3.x Instruct checkpoint) and no API.
The prompt goes through the tokenizer's chat template when it has one (else "role: content" blocks), decoding is
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
from amr_grpo.judge.base import JudgeError, Usage
from amr_grpo.judge.llm import PromptJudge


class LocalJudge(PromptJudge):
    backend = "local"

    def __init__(
        self,
        model_path: str | Path,
        *,
        max_new_tokens: int = 1024,
        device: str | None = None,
        dtype: str = "auto",
        generate_kwargs: dict[str, Any] | None = None,
    ):
        """`generate_kwargs` go to model.generate (e.g. a logits_processor); sampling stays off (greedy)."""
        super().__init__()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(model_path).expanduser()
        if not path.exists():
            raise UserError(f"local judge model not found: {path}", hint="judge.model must be a local model directory")
        self.model = str(model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        if device:
            self.lm.to(device)
        self.lm.eval()
        self.max_new_tokens = max_new_tokens
        self.generate_kwargs = dict(generate_kwargs or {})
        self._lock = threading.Lock()

    def _max_tokens(self, prompt: Any) -> int:
        return self.max_new_tokens

    def _encode(self, messages: list[dict[str, str]]) -> Any:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        text = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant: "
        return tok(text, return_tensors="pt")

    def _generate(self, messages: list[dict[str, str]], max_new_tokens: int) -> tuple[str, Usage]:
        import torch

        inputs = self._encode(messages).to(self.lm.device)
        n_in = inputs["input_ids"].shape[1]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with self._lock, torch.inference_mode():
            out = self.lm.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad, **self.generate_kwargs
            )
        new = out[0, n_in:]  # (generated tokens,)
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return text, Usage(calls=1, prompt_tokens=int(n_in), completion_tokens=int(new.shape[0]))

    async def _complete(self, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, Usage]:
        try:
            return await asyncio.to_thread(self._generate, messages, max_tokens)
        except (RuntimeError, ValueError) as e:  # out of memory, a context longer than the model's, ...
            raise JudgeError(
                "unavailable", f"the local judge could not generate: {type(e).__name__}: {e}"[:300]
            ) from None
