"""Build the bundled tiny policy (assets/tiny-policy/) from scratch, deterministically, on CPU.

A small Llama-architecture model with a byte-level BPE tokenizer trained on our corpus (the prompts and
reference validations of the synthetic TRAIN split only), warm-started by supervised fine-tuning on the
reference validations and stopped early: it writes the policy format but still makes mistakes that GRPO can
fix (a fully trained policy gives GRPO groups with zero reward variance, i.e. no gradient).
Research tool, not for clinical use.

Try it (about two minutes on 2 CPU cores):
    make data                                   # synth + prepare: runs/main/data/{train,val,test}.jsonl
    python scripts/build_tiny_policy.py --data runs/main/data --out assets/tiny-policy
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

ROLES = ("system", "user", "assistant")
END, PAD = "<|end|>", "<|pad|>"
SPECIAL_TOKENS = [PAD, END] + [f"<|{r}|>" for r in ROLES]
# One turn = <|role|>\n content <|end|>\n ; the assistant turn ends with <|end|> (the eos token).
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def read_split(path: Path) -> list[dict]:
    """GRPO records {id, prompt, reference, ...}; `prompt` is chat messages or a plain string."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        for key in ("prompt", "reference"):
            if not row.get(key):
                raise SystemExit(f"{path}:{n}: field {key!r} is missing or empty")
        rows.append(row)
    if not rows:
        raise SystemExit(f"{path}: no records")
    return rows


def as_messages(prompt: str | list[dict]) -> list[dict]:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def train_tokenizer(texts: list[str], vocab_size: int, max_token_length: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE over whole texts (no split at spaces), tokens of at most `max_token_length` characters: the
    policy format's fixed phrases ("Step 4 - Dose route frequency: ") become a few tokens, so prompts and
    completions are about half as long as with word-level pre-splitting, and GRPO steps twice as fast on CPU."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        max_token_length=max_token_length,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=END, pad_token=PAD, padding_side="left", truncation_side="left"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def encode_example(tok: PreTrainedTokenizerFast, row: dict, max_len: int) -> tuple[list[int], list[int]] | None:
    """Token ids of prompt + reference and labels (-100 on the prompt: the loss is on the answer only)."""
    prompt = tok.apply_chat_template(as_messages(row["prompt"]), tokenize=False, add_generation_prompt=True)
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tok(row["reference"] + END, add_special_tokens=False)["input_ids"]
    if len(p_ids) + len(a_ids) > max_len:
        return None
    return p_ids + a_ids, [-100] * len(p_ids) + a_ids


def build_model(tok: PreTrainedTokenizerFast, args: argparse.Namespace) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=args.hidden,
        intermediate_size=args.hidden * 8 // 3 // 16 * 16,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        max_position_embeddings=args.max_len,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return LlamaForCausalLM(config)


def sft(model: LlamaForCausalLM, examples: list[tuple[list[int], list[int]]], pad_id: int, args) -> list[float]:
    """Plain PyTorch SFT loop: AdamW, linear warm-up then cosine decay, fixed shuffles from the seed."""
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    warmup = max(1, args.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, args.steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    rng = random.Random(args.seed)
    order: list[int] = []
    losses = []
    model.train()
    for step in range(args.stop_after or args.steps):
        if len(order) < args.batch_size:
            order += rng.sample(range(len(examples)), len(examples))
        batch = [examples[i] for i in order[: args.batch_size]]
        del order[: args.batch_size]
        width = max(len(ids) for ids, _ in batch)
        # right padding; pad positions are masked out of attention and loss
        input_ids = torch.tensor([ids + [pad_id] * (width - len(ids)) for ids, _ in batch])  # (B, T)
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch])  # (B, T)
        attention = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch])  # (B, T)
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 10 == 0 or step == (args.stop_after or args.steps) - 1:
            print(f"sft step {step:4d}/{args.steps}  loss {loss.item():.3f}  lr {sched.get_last_lr()[0]:.2e}", flush=True)
    model.eval()
    return losses


def sample_outputs(model, tok, rows: list[dict], n: int) -> list[str]:
    outs = []
    for row in rows[:n]:
        ids = tok.apply_chat_template(
            as_messages(row["prompt"]), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.no_grad():
            gen = model.generate(**ids, max_new_tokens=400, do_sample=False)
        outs.append(tok.decode(gen[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))
    return outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("runs/main/data"), help="prepare output dir holding train.jsonl")
    ap.add_argument("--out", type=Path, default=Path("assets/tiny-policy"), help="where to write the policy")
    ap.add_argument("--vocab-size", type=int, default=4096, help="byte-level BPE vocabulary size")
    ap.add_argument("--max-token-length", type=int, default=16, help="longest BPE token in characters")
    ap.add_argument("--hidden", type=int, default=256, help="hidden size")
    ap.add_argument("--layers", type=int, default=4, help="transformer layers")
    ap.add_argument("--heads", type=int, default=4, help="attention heads")
    ap.add_argument("--max-len", type=int, default=1024, help="longest prompt + answer in tokens (longer: skipped)")
    ap.add_argument("--steps", type=int, default=150, help="length of the SFT learning-rate schedule (warm-up + cosine)")
    ap.add_argument("--stop-after", type=int, default=40,
                    help="stop SFT after this many steps, early on purpose: GRPO needs mistakes to fix (0 = --steps)")
    ap.add_argument("--batch-size", type=int, default=16, help="SFT batch size")
    ap.add_argument("--lr", type=float, default=1e-3, help="SFT peak learning rate")
    ap.add_argument("--seed", type=int, default=0, help="seed for init, shuffling and everything else")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (fixed, so reruns match bit for bit)")
    ap.add_argument("--samples", type=int, default=2, help="greedy samples to print at the end")
    args = ap.parse_args()

    t0 = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.use_deterministic_algorithms(True)

    rows = read_split(args.data / "train.jsonl")
    corpus = [m["content"] for r in rows for m in as_messages(r["prompt"])] + [r["reference"] for r in rows]
    tok = train_tokenizer(corpus, args.vocab_size, args.max_token_length)
    encoded = [encode_example(tok, r, args.max_len) for r in rows]
    examples = [e for e in encoded if e is not None]
    lengths = sorted(len(ids) for ids, _ in examples)
    print(
        f"{len(rows)} train records, {len(examples)} used ({len(rows) - len(examples)} over {args.max_len} tokens); "
        f"vocab {len(tok)}; tokens per example median {lengths[len(lengths) // 2]} max {lengths[-1]}",
        flush=True,
    )

    model = build_model(tok, args)
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters", flush=True)
    losses = sft(model, examples, tok.pad_token_id, args)

    args.out.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, max_new_tokens=400, do_sample=False
    )
    model.save_pretrained(args.out, safe_serialization=True)
    tok.save_pretrained(args.out)
    meta = {
        "what": "amr-grpo bundled tiny policy (research tool, not for clinical use)",
        "built_by": "scripts/build_tiny_policy.py",
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "train_records": len(rows),
        "sft_final_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    (args.out / "build_info.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    for text in sample_outputs(model, tok, rows, args.samples):
        print("--- sample ---\n" + text, flush=True)
    size = sum(f.stat().st_size for f in args.out.iterdir()) / 2**20
    print(f"wrote {args.out} ({size:.1f} MB) in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
