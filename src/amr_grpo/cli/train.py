"""CLI: `amr-grpo train` - GRPO-train a policy from a YAML recipe plus key=value overrides.

Try it: amr-grpo train --config configs/train/tiny-cpu.yaml grpo.max_steps=2 output_dir=/tmp/amr-train
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from amr_grpo.cli.common import console, user_errors

NOTICE = "Research tool, not for clinical use."


def register(app: typer.Typer) -> None:
    app.command("train")(train)


@user_errors
def train(
    overrides: Annotated[Optional[list[str]], typer.Argument(
        help="Config overrides as dotted key=value, e.g. grpo.max_steps=50 judge.backend=openai.")] = None,
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML recipe (configs/train/*.yaml).")] = Path(
        "configs/train/tiny-cpu.yaml"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in output_dir from its latest checkpoint.")] = False,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the resolved config and exit.")] = False,
) -> None:
    """GRPO-train a policy (TRL GRPOTrainer, LoRA, judge rewards). Research tool, not for clinical use."""
    from amr_grpo import config as config_io
    from amr_grpo.train_config import TrainConfig

    cfg = config_io.load(TrainConfig, config, list(overrides or []))
    if print_config:
        import yaml

        typer.echo(yaml.safe_dump(config_io.to_dict(cfg), sort_keys=False), nl=False)
        return
    console.print(f"[bold]amr-grpo train[/] {config} -> {cfg.output_dir}  ({NOTICE})", highlight=False)
    from amr_grpo.train import main

    summary = main(cfg, resume=resume)
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
    for key in ("model_dir", "metrics_jsonl", "judge_ledger", "config", "tensorboard"):
        if summary.get(key):
            console.print(f"  {key:14s} {summary[key]}", highlight=False)
