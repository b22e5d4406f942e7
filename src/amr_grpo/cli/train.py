"""CLI: `amr-grpo train` - GRPO-train a policy from a YAML recipe plus key=value overrides; `--plan` first.
`amr-grpo sft` - the warm start before it: supervised fine-tuning on the train split's reference validations.

Try it: amr-grpo train --config configs/train/llama31-8b-lora.yaml --plan data.dir=runs/main/data
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from amr_grpo.cli.common import console, user_errors


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("sft")(sft)


@user_errors
def train(
    overrides: Annotated[Optional[list[str]], typer.Argument(
        help="Config overrides as dotted key=value, e.g. grpo.max_steps=50 judge.backend=openai.")] = None,
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML recipe (configs/train/*.yaml).")] = Path(
        "configs/train/tiny-cpu.yaml"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in output_dir from its latest checkpoint.")] = False,
    print_config: Annotated[bool, typer.Option("--print-config", help="Check and print the resolved config, then exit.")] = False,
    plan: Annotated[bool, typer.Option("--plan", help=(
        "Print the plan and exit, loading no model: steps, completions, judge calls (LLM and rules), tokens, cost "
        "and days of the provider's quota, and the step where a day's quota runs out."))] = False,
    world_size: Annotated[int, typer.Option("--world-size", min=0, help=(
        "With --plan: the number of training processes (GPUs) the run will use; default $WORLD_SIZE or 1."))] = 0,
) -> None:
    """GRPO-train a policy (TRL GRPOTrainer, LoRA, judge rewards). Research tool, not for clinical use.

    Example: amr-grpo train --config configs/train/tiny-cpu.yaml grpo.max_steps=20 output_dir=runs/try
    """
    from amr_grpo import config as config_io
    from amr_grpo.train.checks import check_config
    from amr_grpo.train.config import TrainConfig

    cfg = config_io.load(TrainConfig, config, list(overrides or []))
    if cfg.model.use_unsloth and not (print_config or plan):
        from amr_grpo.train.main import import_unsloth

        import_unsloth()  # before check_config imports transformers, so Unsloth's patches apply
    check_config(cfg)
    if print_config:
        import yaml

        typer.echo(yaml.safe_dump(config_io.to_dict(cfg), sort_keys=False), nl=False)
        return
    if plan:
        from amr_grpo.train.plan import make_plan, render

        p = make_plan(cfg, world_size=world_size or int(os.environ.get("WORLD_SIZE", "1")))
        for line in render(p, str(config)):
            console.print(line, highlight=False)
        return
    from amr_grpo.train.main import main

    summary = main(cfg, resume=resume, recipe=str(config))
    if not summary:  # not the main process of a multi-process run
        return
    calls, naive = summary.get("judge_calls") or 0, summary.get("naive_judge_calls") or 0
    ratio = f", {naive / calls:.0f}x fewer" if calls else ""
    console.print(
        f"done: {summary['global_step']} steps in {summary['wall_s']:.0f}s; judge {summary['judge']['backend']}: "
        f"{summary['completions_scored']} completions scored, {calls} model calls (naive: {naive}, one call per "
        f"metric per completion per step{ratio}); could not score {summary['judge_failures']}",
        highlight=False,
    )
    if summary.get("stopped"):
        console.print(f"[bold yellow]stopped:[/] {summary['stopped']}", highlight=False)
    for key in ("model_dir", "metrics_jsonl", "judge_ledger", "config", "tensorboard"):
        if summary.get(key):
            console.print(f"  {key:14s} {summary[key]}", highlight=False)


@user_errors
def sft(
    overrides: Annotated[Optional[list[str]], typer.Argument(
        help="Config overrides as dotted key=value, e.g. sft.max_steps=20 output_dir=runs/warm.")] = None,
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML recipe (configs/train/tiny-sft.yaml).")] = Path(
        "configs/train/tiny-sft.yaml"),
    print_config: Annotated[bool, typer.Option(
        "--print-config", help="Check and print the resolved config, then exit.")] = False,
) -> None:
    """Warm-start a policy before GRPO: supervised fine-tuning (TRL SFTTrainer) on the TRAIN split's reference
    validations only (val and test measure it). Research tool, not for clinical use.

    Example: amr-grpo sft --config configs/train/tiny-sft.yaml data.dir=runs/main/data output_dir=runs/main/warm
    """
    from amr_grpo import config as config_io
    from amr_grpo.train.warm_start import WarmStartConfig, check_warm_start, warm_start

    cfg = config_io.load(WarmStartConfig, config, list(overrides or []))
    check_warm_start(cfg)
    if print_config:
        import yaml

        typer.echo(yaml.safe_dump(config_io.to_dict(cfg), sort_keys=False), nl=False)
        return
    console.print(f"amr-grpo sft {config} -> {cfg.output_dir}  (Research tool, not for clinical use.)", highlight=False)
    summary = warm_start(cfg)
    console.print(f"done: {summary['steps']} steps on {summary['train_records']} references in "
                  f"{summary['wall_s']:.0f}s; "
                  f"loss {summary['first_loss']:.3f} -> {summary['final_loss']:.3f}; model {summary['model_dir']}",
                  highlight=False)
