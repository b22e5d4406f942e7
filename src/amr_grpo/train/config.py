"""The training config: one dataclass tree, loaded as defaults -> YAML recipe -> key=value overrides.

Every field carries a one-line comment; the `grpo` section mirrors the TRL GRPOConfig fields we expose
(same names, see https://huggingface.co/docs/trl/grpo_trainer and the GRPO paper, arXiv:2402.03300).
The resolved config is saved as OUTPUT_DIR/config.yaml with every run.
Try it: amr-grpo train --config configs/train/tiny-cpu.yaml grpo.max_steps=2 --print-config
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from amr_grpo.judge.config import JudgeConfig

LORA_ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class ModelConfig:
    name_or_path: str = "assets/tiny-policy"  # local model dir or hub id of the policy to train
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"  # "auto" (bf16 on CUDA, fp32 on CPU) | "bfloat16" | "float16" | "float32"
    use_lora: bool = True  # train a LoRA adapter (peft) instead of all weights
    lora_r: int = 16  # LoRA rank (Hu et al. 2021, arXiv:2106.09685)
    lora_alpha: int = 32  # LoRA scaling numerator: the update is scaled by alpha / r
    lora_dropout: float = 0.05  # dropout on the LoRA input
    lora_target_modules: list[str] = field(default_factory=lambda: list(LORA_ALL_LINEAR))  # modules given adapters
    load_in_4bit: bool = False  # QLoRA: 4-bit NF4 base weights via bitsandbytes (CUDA and bitsandbytes; else an error)
    use_unsloth: bool = False  # load through Unsloth's FastLanguageModel (CUDA and the unsloth package; else an error)
    attn_implementation: str | None = None  # e.g. "sdpa" | "flash_attention_2"; None = the transformers default


@dataclass
class DataConfig:
    dir: str = "runs/main/data"  # `amr-grpo prepare` output (what `make data` writes): DIR/{train,val,test}.jsonl
    train_split: str = "train"  # split GRPO trains on
    max_train_samples: int | None = None  # keep the first N records of the train split (None = all)


@dataclass
class GRPOSection:
    learning_rate: float = 1e-5  # AdamW peak learning rate
    lr_scheduler_type: str = "constant_with_warmup"  # transformers scheduler name
    warmup_steps: int = 0  # linear warm-up steps
    weight_decay: float = 0.0  # AdamW weight decay
    max_grad_norm: float = 1.0  # gradient clipping
    per_device_train_batch_size: int = 8  # completions (not prompts) per device per micro-step
    gradient_accumulation_steps: int = 1  # micro-steps per optimizer step
    num_generations: int = 4  # G: completions sampled per prompt; advantages are relative within a group
    max_prompt_length: int = 768  # prompts longer than this (tokens) are dropped from the train set, with a count
    max_completion_length: int = 256  # generated tokens per completion
    num_train_epochs: float = 1.0  # passes over the train split (ignored when max_steps > 0)
    max_steps: int = -1  # optimizer steps; -1 = from num_train_epochs
    beta: float = 0.0  # KL coefficient against the reference policy (0 = no reference model, TRL's default)
    epsilon: float = 0.2  # PPO-style clipping range of the importance ratio
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo", "cispo", "sapo"] = "dapo"  # TRL loss normalisation
    scale_rewards: Literal["group", "batch", "none"] = "group"  # advantage scaling: "group" (std of the group) | "batch" | "none" (Dr. GRPO)
    temperature: float = 1.0  # sampling temperature of the rollouts
    top_p: float = 1.0  # nucleus sampling of the rollouts
    top_k: int = 0  # top-k sampling of the rollouts; 0 = off
    logging_steps: int = 1  # log (TensorBoard, metrics JSONL) every N steps
    save_steps: int = 50  # checkpoint every N steps (resume picks the latest)
    save_total_limit: int | None = 2  # keep only the newest N checkpoints
    seed: int = 0  # seed for init, data order and sampling
    bf16: bool | None = None  # None = on when CUDA supports it, off on CPU
    gradient_checkpointing: bool = False  # trade compute for memory (on for 8B, off for a tiny model)
    use_vllm: bool = False  # generate with vLLM (CUDA and the `vllm` extra; else an error)
    vllm_mode: Literal["server", "colocate"] = "server"  # "server": a separate `trl vllm-serve` process; "colocate": inside each rank
    vllm_server_host: str = "127.0.0.1"  # host of `trl vllm-serve` (server mode)
    vllm_server_port: int = 8000  # port of `trl vllm-serve` (server mode)
    vllm_gpu_memory_utilization: float = 0.3  # GPU memory fraction for vLLM in colocate mode
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])  # "tensorboard", "wandb", or "none"
    log_completions: bool = True  # print and log a sample of prompts, completions and rewards each logging step
    num_completions_to_print: int = 2  # completions shown per logging step when log_completions is on
    disable_tqdm: bool = False  # no progress bar: one plain line per logging step instead (logs, CI)


@dataclass
class RewardsConfig:
    format_weight: float = 0.1  # weight of `format`: 1 exact policy format, 0.5 parses, 0 unparseable or cut off


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)  # the policy
    data: DataConfig = field(default_factory=DataConfig)  # the GRPO dataset
    grpo: GRPOSection = field(default_factory=GRPOSection)  # TRL GRPOConfig fields
    judge: JudgeConfig = field(default_factory=JudgeConfig)  # the judge scoring the completions (metrics, backend, every_n_steps)
    rewards: RewardsConfig = field(default_factory=RewardsConfig)  # reward shaping on top of the judge
    output_dir: str = "runs/tiny-cpu/train"  # run dir: checkpoints, model/, config.yaml, metrics.jsonl, judge_ledger.json

