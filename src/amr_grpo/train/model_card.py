"""The trained model directory made portable and described: the base it needs, recorded so it loads from any folder,
and a model card (README.md) saying what it is, how it was trained and judged, and that it is for research only.

`record_base(model_dir, base)` writes the absolute path or hub id of the base into adapter_config.json (peft would
otherwise keep the relative path the run was given). `write_model_card(...)` replaces TRL's template card. Its
evaluation section sits between EVAL_START and EVAL_END so that a later `amr-grpo evaluate` can fill it in.
Try it: amr-grpo train --config configs/train/tiny-cpu.yaml grpo.max_steps=2 output_dir=/tmp/amr-card && cat /tmp/amr-card/model/README.md
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVAL_START = "<!-- amr-grpo:evaluation:start -->"
EVAL_END = "<!-- amr-grpo:evaluation:end -->"
NOTICE = ("**Research tool, not for clinical use.** This model has not been reviewed by a clinician and makes "
          "mistakes. Do not use its output to treat patients.")


def record_base(model_dir: Path, base: str) -> None:
    """Point the adapter at `base` (absolute path or hub id) so it loads from any working directory."""
    path = Path(model_dir) / "adapter_config.json"
    if not path.is_file():
        return
    cfg = json.loads(path.read_text(encoding="utf-8"))
    cfg["base_model_name_or_path"] = base
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _first_last(metrics_path: Path, key: str) -> tuple[float | None, float | None]:
    if not metrics_path.is_file():
        return None, None
    values = []
    for line in metrics_path.read_text(encoding="utf-8").splitlines():
        try:
            v = json.loads(line).get(key)
        except (json.JSONDecodeError, AttributeError):
            continue
        if isinstance(v, (int, float)):
            values.append(float(v))
    return (values[0], values[-1]) if values else (None, None)


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def write_model_card(model_dir: Path, cfg: Any, base: str, *, prompts: int, steps: int, weights: dict[str, float],
                     ledger: dict[str, Any], metrics_path: Path, recipe: str = "") -> Path:
    """Write MODEL_DIR/README.md: base, data, recipe, reward and judge, training figures, evaluation, notice."""
    m, g, j = cfg.model, cfg.grpo, cfg.judge
    hub = not Path(base).is_absolute()
    adapter = m.use_lora
    front = ["---", f"base_model: {base}" if hub else None, f"library_name: {'peft' if adapter else 'transformers'}",
             "pipeline_tag: text-generation", "tags:", "- amr-grpo", "- grpo", "- trl", "- lora" if adapter else None,
             "- research-only", "---"]
    judge = j.backend if j.backend == "rules" else f"{j.backend} ({j.model or 'default model'})"
    every = "" if j.backend == "rules" or j.every_n_steps == 1 else f", on every {j.every_n_steps}th step (rules between)"
    stats, llm = ledger.get("stats", {}), ledger.get("judge", {})
    data = Path(cfg.data.dir)
    prep = data / "prepare.json"
    by_decision = ""
    if prep.is_file():
        try:
            counts = json.loads(prep.read_text(encoding="utf-8"))["summary"]["by_decision"][cfg.data.train_split]
            by_decision = " (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")"
        except (KeyError, TypeError, json.JSONDecodeError):
            by_decision = ""
    figures = [("TRL reward (judge metrics + format)", "reward"), ("judge weighted reward", "judge/weighted_reward"),
               ("batch decision accuracy", "judge/decision_accuracy")]
    load = (["from peft import AutoPeftModelForCausalLM", "from transformers import AutoTokenizer",
             f'model = AutoPeftModelForCausalLM.from_pretrained("{model_dir}")']
            if adapter else ["from transformers import AutoModelForCausalLM, AutoTokenizer",
                             f'model = AutoModelForCausalLM.from_pretrained("{model_dir}")'])
    lines = [x for x in front if x is not None] + [
        "",
        f"# {Path(cfg.output_dir).name}: antimicrobial prescription validation, GRPO-trained (amr-grpo)",
        "",
        f"> {NOTICE}",
        "",
        "Given a patient case and a prescription, the model writes a step-by-step validation, a decision "
        "(Approve / Modify / Reject), the guideline regimen and a citation of the Indian national treatment "
        "guidelines (NCDC/ICMR).",
        "",
        "## Base model",
        "",
        f"`{base}`" + (f"; this directory holds a LoRA adapter (r={m.lora_r}, alpha={m.lora_alpha}, "
                       f"modules {', '.join(m.lora_target_modules)})" if adapter else "; full weights")
        + ("; 4-bit NF4 base during training" if m.load_in_4bit else "") + ".",
        "",
        "## Load it",
        "",
        "```python",
        *load,
        f'tokenizer = AutoTokenizer.from_pretrained("{model_dir}")',
        "```",
        "",
        f"Or: `amr-grpo validate --model {model_dir} --text \"...\"`. The base is recorded in "
        "adapter_config.json; if it moved, edit `base_model_name_or_path` there." if adapter else
        f"Or: `amr-grpo validate --model {model_dir} --text \"...\"`.",
        "",
        "## Data",
        "",
        f"`{data / (cfg.data.train_split + '.jsonl')}`: {prompts} training prompts{by_decision}.",
        "",
        "## Recipe",
        "",
        f"{recipe or 'config.yaml beside this directory'} (the resolved config is `config.yaml` in the run "
        f"directory). TRL GRPOTrainer: {steps} steps, learning rate {g.learning_rate:g} ({g.lr_scheduler_type}), "
        f"{g.per_device_train_batch_size} completions a device a step, {g.num_generations} generations a prompt, "
        f"prompts up to {g.max_prompt_length} and completions up to {g.max_completion_length} tokens, "
        f"temperature {g.temperature:g}, beta {g.beta:g}, loss {g.loss_type}, reward scaling {g.scale_rewards}, "
        f"seed {g.seed}.",
        "",
        "## Reward and judge",
        "",
        "One reward per rubric metric (score / 5), weighted: "
        + ", ".join(f"{k} {w:.3f}" for k, w in weights.items()) + f". Judge: {judge}{every}.",
        f"Completions scored: {stats.get('completions', '-')}; LLM judge calls: {llm.get('calls', 0)}, "
        f"tokens: {llm.get('prompt_tokens', 0) + llm.get('completion_tokens', 0)}, estimated cost "
        f"${llm.get('estimated_cost_usd', 0) or 0:.4f} (judge_ledger.json in the run directory).",
        "",
        "## Training figures",
        "",
        "| logged figure | first logged step | last logged step |",
        "|---|---|---|",
        *[f"| {name} | {_num(a)} | {_num(b)} |" for name, key in figures for a, b in [_first_last(metrics_path, key)]],
        "",
        "These are training-batch figures, not a held-out evaluation.",
        "",
        "## Evaluation before and after training",
        "",
        EVAL_START,
        "Not measured by training. Measure the base and this model on the held-out test split with "
        f"`amr-grpo evaluate --model {model_dir} --data {data} --split test -o EVAL_DIR` "
        "(and the same with `--model` set to the base), then `amr-grpo report`.",
        EVAL_END,
        "",
        "## Limits",
        "",
        "Trained and judged on the cases above; the rules judge encodes the national guidelines as read through "
        "third-party extractions, and an LLM judge can be wrong. " + NOTICE,
        "",
    ]
    path = Path(model_dir) / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
