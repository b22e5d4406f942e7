"""How fast and how big is a GRPO step of the 8B recipe on this GPU? For users sizing hardware.

A random-initialised causal LM of a given shape (default: Llama 3.1 8B; nothing is downloaded) with LoRA r=16 runs a
few GRPO steps of configs/train/llama31-8b-lora.yaml through amr-grpo's own training code, on synthetic prompts of a
fixed token length, judged by the rules judge (no network). Random weights rarely stop early, so completions run to
the length cap: the worst case, which is what sizing needs. It prints seconds a step (the first step, a warm-up, is
left out), generated tokens a second and peak GPU memory, for plain `generate` and, when vllm is installed, for vLLM
colocate mode, and the ratio of the two measured in the same run. Each mode runs in its own process.
Without a CUDA GPU it says so in one line and exits 0; `--device cpu --tiny` runs the same logic on a tiny model.
Try it: python bench/gpu_step.py            (or: python bench/gpu_step.py --device cpu --tiny --steps 2)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs" / "train" / "llama31-8b-lora.yaml"
LLAMA31_8B = {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
              "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072, "rope_theta": 500000.0}
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 2048, "max_position_embeddings": 2048, "rope_theta": 500000.0}
SPECIAL = ["<pad>", "<bos>", "<eos>", "<unk>"]


def build_model_dir(shape: dict, folder: Path, device: str) -> None:
    """A random Llama-architecture model of `shape` and a word-level tokenizer with as many tokens, saved to `folder`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL + [f"t{i}" for i in range(shape["vocab_size"] - len(SPECIAL))])}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
                                  unk_token="<unk>")
    tok.save_pretrained(folder)
    cfg = LlamaConfig(**shape, pad_token_id=0, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(dtype)
    model.save_pretrained(folder)
    del model


def write_prompts(folder: Path, n: int, prompt_tokens: int, vocab_size: int, seed: int = 0) -> None:
    """`n` GRPO records whose plain-text prompts are `prompt_tokens` word-level tokens long."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "train.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            words = " ".join(f"t{rng.randrange(vocab_size - len(SPECIAL))}" for _ in range(prompt_tokens))
            f.write(json.dumps({"id": f"bench-{i}", "prompt": words, "context": "synthetic", "ground_truth": None}) + "\n")


def worker(args: argparse.Namespace) -> None:
    """One mode in this process: run the recipe's GRPO steps, write {s_per_step, tokens_per_s, peak_gib} as JSON."""
    import torch
    from transformers import TrainerCallback

    from amr_grpo import config as config_io
    from amr_grpo.train.main import main
    from amr_grpo.train.config import TrainConfig

    cuda = args.device == "cuda"
    overrides = [f"model.name_or_path={args.model_dir}", f"data.dir={args.data_dir}", f"output_dir={args.out_dir}",
                 f"grpo.max_steps={args.steps}", f"grpo.max_prompt_length={args.prompt_tokens + 8}",
                 f"grpo.max_completion_length={args.completion_tokens}", "grpo.logging_steps=1",
                 "grpo.save_steps=100000", "grpo.report_to=[none]", "grpo.log_completions=false",
                 "grpo.disable_tqdm=true", "judge.backend=rules", "judge.cache_path=null", f"model.lora_r={args.lora_r}",
                 f"model.lora_alpha={2 * args.lora_r}"]
    if not cuda:
        overrides += ["model.dtype=float32", "grpo.bf16=false"]
    if args.mode == "vllm":
        overrides += ["grpo.use_vllm=true", "grpo.vllm_mode=colocate"]
    cfg = config_io.load(TrainConfig, RECIPE, overrides)

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.t = 0.0
            self.seconds: list[float] = []
            self.tokens: list[float] = []

        def on_step_begin(self, a, state, control, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            self.seconds.append(time.perf_counter() - self.t)

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "completions/mean_length" in logs:
                per_step = a.per_device_train_batch_size * a.gradient_accumulation_steps
                self.tokens.append(logs["completions/mean_length"] * per_step)

    timer = StepTimer()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    main(cfg, callbacks=[timer])
    timed = timer.seconds[1:] or timer.seconds  # the first step compiles kernels and warms caches
    tokens = timer.tokens[1:] or timer.tokens
    result = {"mode": args.mode, "steps": len(timer.seconds), "s_per_step": sum(timed) / len(timed),
              "tokens_per_s": sum(tokens) / sum(timed) if tokens else None,
              "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None}
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")


def run_mode(args: argparse.Namespace, mode: str, model_dir: Path, data_dir: Path, work: Path) -> dict | None:
    result = work / f"{mode}.json"
    cmd = [sys.executable, __file__, "--worker", "--mode", mode, "--device", args.device, "--steps", str(args.steps),
           "--model-dir", str(model_dir), "--data-dir", str(data_dir), "--out-dir", str(work / f"run-{mode}"),
           "--prompt-tokens", str(args.prompt_tokens), "--completion-tokens", str(args.completion_tokens),
           "--lora-r", str(args.lora_r), "--result", str(result)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    if mode == "vllm":  # TRL's colocate mode runs vLLM as an external launcher: it wants a (one-process) world
        env.update({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                    "MASTER_PORT": env.get("MASTER_PORT", "29531")})
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0 or not result.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        print(f"{mode}: failed ({tail[0][:200]})")
        return None
    return json.loads(result.read_text(encoding="utf-8"))


def _row(r: dict) -> str:
    peak = "n/a (CPU)" if r["peak_gib"] is None else f"{r['peak_gib']:.1f} GiB"
    tps = "-" if r["tokens_per_s"] is None else f"{r['tokens_per_s']:,.0f}"
    return f"{r['mode']:9s} {r['s_per_step']:10.2f} {tps:>12s} {peak:>12s}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--tiny", action="store_true", help="a tiny Llama-3.1-shaped model instead of the 8B shape")
    ap.add_argument("--steps", type=int, default=4, help="GRPO steps a mode (the first is a warm-up, not timed)")
    ap.add_argument("--layers", type=int, help="override the number of decoder layers (e.g. 4 for a quick look)")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--prompt-tokens", type=int, help="prompt length (default: 400, tiny: 32)")
    ap.add_argument("--completion-tokens", type=int, help="completion cap (default: the recipe's 512, tiny: 16)")
    ap.add_argument("--no-vllm", action="store_true", help="time plain generate only")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--mode", "--model-dir", "--data-dir", "--out-dir", "--result"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.prompt_tokens = args.prompt_tokens or (32 if args.tiny else 400)
    args.completion_tokens = args.completion_tokens or (16 if args.tiny else 512)
    if args.worker:
        worker(args)
        return 0

    import importlib.util

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_step: no CUDA GPU on this machine; run it where one is (or --device cpu --tiny to check the script)")
        return 0
    shape = dict(TINY if args.tiny else LLAMA31_8B)
    if args.layers:
        shape["num_hidden_layers"] = args.layers
    modes = ["generate"]
    if args.device == "cuda" and not args.no_vllm and importlib.util.find_spec("vllm"):
        modes.append("vllm")
    with tempfile.TemporaryDirectory(prefix="amr-gpu-step-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        build_model_dir(shape, work / "model", args.device)
        write_prompts(work / "data", n=64, prompt_tokens=args.prompt_tokens, vocab_size=shape["vocab_size"])
        gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
        print(f"gpu_step: {gpu}; Llama shape {shape['num_hidden_layers']} layers x {shape['hidden_size']} hidden, "
              f"vocab {shape['vocab_size']:,}; LoRA r={args.lora_r}; recipe {RECIPE.name}; prompts "
              f"{args.prompt_tokens} tokens, completions up to {args.completion_tokens}; built in "
              f"{time.perf_counter() - t0:.0f}s")
        results = [r for m in modes if (r := run_mode(args, m, work / "model", work / "data", work)) is not None]
    if not results:
        return 1
    print(f"{'mode':9s} {'s/step':>10s} {'gen tok/s':>12s} {'peak memory':>12s}")
    for r in results:
        print(_row(r))
    if len(results) == 2:
        print(f"vLLM colocate / generate: {results[0]['s_per_step'] / results[1]['s_per_step']:.2f}x faster a step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
