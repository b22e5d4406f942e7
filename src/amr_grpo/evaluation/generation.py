"""Batched generation from a causal LM: a merged model, or a base model plus a LoRA adapter directory.

Used by `amr-grpo evaluate`, the Validator and the local judge. Prompts are plain strings or chat messages
([{"role", "content"}]); chat messages go through the tokenizer's chat template when it has one.
Greedy by default; sampling is a setting. Left padding, so every row of a batch ends where generation starts.
Try it: python -m amr_grpo.evaluation.generation assets/tiny-policy "Patient: F 30y; Diagnosis: cystitis"
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amr_grpo.errors import UserError
from amr_grpo.preflight import check_model_path

Prompt = str | list[dict[str, str]]


@dataclass
class GenerationSettings:
    """How to decode. Defaults: greedy, 512 new tokens, batches of 8."""

    max_new_tokens: int = 512  # the policy format (6-8 steps + decision + regimen + reference) fits in ~300
    batch_size: int = 8  # prompts per generate() call
    do_sample: bool = False  # greedy unless asked: evaluation must be reproducible
    temperature: float = 1.0  # only with do_sample
    top_p: float = 1.0  # only with do_sample
    top_k: int = 0  # only with do_sample; 0 = off
    seed: int = 0  # torch seed set before sampling
    progress: bool = False  # show a progress bar over batches


@dataclass(frozen=True)
class Generation:
    text: str  # the completion only, special tokens removed
    output_tokens: int  # generated tokens up to (not counting) the end-of-sequence token
    prompt_tokens: int = 0  # the prompt's tokens as fed to the model (the local judge's ledger counts them)


def _adapter_base(path: Path, base_model: str | None) -> str:
    """The base model of a LoRA adapter dir: --base-model if given, else adapter_config.json's, resolved
    relative to the working directory, then to the adapter directory (a run saves a relative path)."""
    if base_model:
        return base_model
    cfg = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
    base = cfg.get("base_model_name_or_path")
    if not base:
        raise UserError(f"{path}/adapter_config.json has no base_model_name_or_path", "pass the base model explicitly")
    if Path(base).exists():
        return base
    for parent in (path, *path.parents):
        if (parent / base).exists():
            return str(parent / base)
    return base


def load_model(path: str | Path, base_model: str | None = None, device: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) from a model dir / hub id, or an adapter dir (adapter_config.json) over its base.

    Anything that fails to load raises UserError naming the path (never a traceback at the CLI)."""
    check_model_path(path)  # before importing torch: a wrong path fails in milliseconds
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = Path(path).expanduser()
    is_adapter = p.is_dir() and (p / "adapter_config.json").is_file()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        base = _adapter_base(p, base_model) if is_adapter else str(p) if p.exists() else str(path)
        tok_src = str(p) if is_adapter and (p / "tokenizer_config.json").is_file() else base
        tokenizer = AutoTokenizer.from_pretrained(tok_src)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
        if is_adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(p))
    except UserError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, json.JSONDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = "check the path; a hub id needs the network or a local cache"
        raise UserError(f"model {path} does not load: {first}", hint) from None
    model.to(device).eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def render(tokenizer: Any, prompt: Prompt) -> str:
    """The text fed to the model: chat messages through the chat template (when the tokenizer has one)
    with the generation prompt; a plain string as is (the way TRL feeds a plain-string prompt in training).
    Without a template, messages are joined the way data.prompts.render_prompt_text writes a text prompt."""
    if isinstance(prompt, str):
        return prompt
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return "\n\n".join(m["content"] for m in prompt) + "\n"


class Generator:
    """A loaded model that turns prompts into completions, in batches."""

    def __init__(self, model: Any, tokenizer: Any, settings: GenerationSettings | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.settings = settings or GenerationSettings()

    @classmethod
    def from_pretrained(cls, path: str | Path, base_model: str | None = None, **settings: Any) -> Generator:
        model, tokenizer = load_model(path, base_model=base_model)
        return cls(model, tokenizer, GenerationSettings(**settings))

    def encode(self, prompts: Sequence[Prompt]) -> list[list[int]]:
        """Token ids exactly as TRL builds them in training: a chat prompt as its template renders it (no special
        tokens added: a template writes its own BOS), a plain string through the tokenizer's defaults."""
        return [self.tokenizer(render(self.tokenizer, p), add_special_tokens=isinstance(p, str))["input_ids"]
                for p in prompts]

    def generate(self, prompts: Sequence[Prompt], desc: str = "generating", **generate_kwargs: Any) -> list[Generation]:
        """One Generation per prompt, in order; `generate_kwargs` go to model.generate (e.g. a logits_processor)."""
        import torch
        from tqdm.auto import tqdm

        s, tok = self.settings, self.tokenizer
        ids_list = self.encode(prompts)
        stop_ids = {i for i in (tok.eos_token_id, tok.pad_token_id) if i is not None}
        gen_kwargs: dict[str, Any] = {"max_new_tokens": s.max_new_tokens, "do_sample": s.do_sample,
                                      "pad_token_id": tok.pad_token_id}
        if s.do_sample:
            gen_kwargs.update(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k)
            torch.manual_seed(s.seed)
        else:  # a model's generation_config may carry sampling knobs; greedy ignores them, say so explicitly
            gen_kwargs.update(temperature=None, top_p=None, top_k=None)
        gen_kwargs.update(generate_kwargs)
        out: list[Generation] = []
        batches = range(0, len(ids_list), max(1, s.batch_size))
        for start in tqdm(batches, desc=desc, unit="batch", disable=not s.progress, file=sys.stderr):
            chunk = ids_list[start : start + s.batch_size]
            enc = tok.pad({"input_ids": chunk}, padding=True, return_tensors="pt")  # left padding (load_model)
            enc = {k: v.to(self.model.device) for k, v in enc.items()}
            with torch.inference_mode():
                ids = self.model.generate(**enc, **gen_kwargs)  # (batch, prompt_len + new_len)
            new = ids[:, enc["input_ids"].shape[1] :]  # (batch, new_len): left padding puts every prompt end here
            for row, prompt_ids in zip(new.tolist(), chunk, strict=True):
                n = next((i for i, t in enumerate(row) if t in stop_ids), len(row))
                out.append(Generation(tok.decode(row[:n], skip_special_tokens=True).strip(), n, len(prompt_ids)))
        return out


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python -m amr_grpo.evaluation.generation MODEL PROMPT")
    g = Generator.from_pretrained(sys.argv[1], max_new_tokens=256)
    sys.stdout.write(g.generate([[{"role": "user", "content": sys.argv[2]}]])[0].text + "\n")
