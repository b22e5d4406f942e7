"""GRPO training on CPU with the bundled tiny policy and the rules judge: 2 real steps change the LoRA weights and
log per-metric rewards; a run killed mid-way and resumed ends at the same step with every step logged once;
every recipe loads through config.load; the CLI prints the resolved config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file
from transformers import TrainerCallback
from typer.testing import CliRunner

from amr_grpo import config as config_io
from amr_grpo.cli import app
from amr_grpo.data.prepare import PrepareOptions, prepare
from amr_grpo.errors import UserError
from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.train import main, truncate_metrics
from amr_grpo.train_config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "assets" / "tiny-policy"
RECIPE = ROOT / "configs" / "train" / "tiny-cpu.yaml"
RECIPES = sorted((ROOT / "configs" / "train").glob("*.yaml"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A real `prepare` output built from the shipped alpaca-style example cases."""
    out = tmp_path_factory.mktemp("prep") / "data"
    prepare([ROOT / "data" / "examples" / "alpaca.jsonl"], out, PrepareOptions(val_size=1, test_size=1))
    return out


def tiny_cfg(data_dir: Path, out: Path, *overrides: str) -> TrainConfig:
    return config_io.load(TrainConfig, RECIPE, [
        f"model.name_or_path={TINY}", f"data.dir={data_dir}", f"output_dir={out}",
        "grpo.per_device_train_batch_size=8", "grpo.num_generations=4",  # 2 prompts x 4 completions a step
        "grpo.max_completion_length=160", "grpo.logging_steps=1", "grpo.report_to=[none]",
        "grpo.learning_rate=5e-3", *overrides])


def test_two_steps_change_lora_weights_and_log_each_metric(data_dir, tmp_path):
    out = tmp_path / "run"
    summary = main(tiny_cfg(data_dir, out, "grpo.max_steps=2", "grpo.save_steps=100"))
    assert summary["global_step"] == 2
    # peft initialises every lora_B to zero: a non-zero B means the optimizer moved the adapter
    weights = load_file(out / "model" / "adapter_model.safetensors")
    lora_b = {k: v for k, v in weights.items() if "lora_B" in k}
    assert lora_b and any(v.abs().max() > 0 for v in lora_b.values())

    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        for key in [*METRIC_KEYS, "format"]:  # the recipe scores all six metrics
            assert 0.0 <= r[f"rewards/{key}/mean"] <= 1.0
    ledger = json.loads((out / "judge_ledger.json").read_text())
    assert ledger["stats"]["completions"] == 16  # 2 steps x 8 completions, each scored once
    assert ledger["stats"]["naive_calls"] == 16 * 6
    # the saved config reproduces the run
    assert config_io.load(TrainConfig, out / "config.yaml") == tiny_cfg(data_dir, out, "grpo.max_steps=2",
                                                                         "grpo.save_steps=100")


class KillAt(TrainerCallback):
    """Stands in for a kill -9 after step `step` was logged (and after the checkpoint of step - 1)."""

    def __init__(self, step: int):
        self.step = step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"killed at step {self.step}")


def test_killed_run_resumes_to_the_same_steps_and_rewards(data_dir, tmp_path):
    steps = ["grpo.max_steps=4", "grpo.save_steps=2"]
    whole = tmp_path / "whole"
    main(tiny_cfg(data_dir, whole, *steps))
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        main(tiny_cfg(data_dir, killed, *steps), callbacks=[KillAt(3)])
    # step 3 was logged after checkpoint-2: resuming must drop it and log it again, once
    assert [json.loads(x)["step"] for x in (killed / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
    summary = main(tiny_cfg(data_dir, killed, *steps), resume=True)
    assert summary["global_step"] == 4
    a = [json.loads(x) for x in (whole / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    # same data order, optimizer and RNG state: the resumed steps sample the same completions, so the same rewards
    assert [r["reward"] for r in b] == pytest.approx([r["reward"] for r in a], abs=1e-6)
    assert [r["completions/mean_length"] for r in b] == [r["completions/mean_length"] for r in a]


def test_resume_and_fresh_runs_refuse_the_wrong_directory(data_dir, tmp_path):
    with pytest.raises(UserError, match="no checkpoint"):
        main(tiny_cfg(data_dir, tmp_path / "empty"), resume=True)
    (tmp_path / "old" / "checkpoint-5").mkdir(parents=True)
    with pytest.raises(UserError, match="already holds a run"):
        main(tiny_cfg(data_dir, tmp_path / "old"))


def test_truncate_metrics_keeps_steps_up_to_the_checkpoint(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n{"step": 4, "rew')  # last line cut by the kill
    assert truncate_metrics(p, 2) == 2
    assert p.read_text() == '{"step": 1}\n{"step": 2}\n'


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.name for p in RECIPES])
def test_every_recipe_loads_and_names_its_launch_command(recipe):
    cfg = config_io.load(TrainConfig, recipe)  # unknown keys or wrong types raise ConfigError
    assert cfg.grpo.per_device_train_batch_size % cfg.grpo.num_generations == 0
    head = recipe.read_text().splitlines()[:4]
    assert head[0].startswith("#") and any("Launch" in x for x in head) and any("Hardware" in x for x in
                                                                             recipe.read_text().splitlines()[:12])


def test_seed_recipe_matches_the_seed():
    cfg = config_io.load(TrainConfig, ROOT / "configs" / "train" / "llama31-8b-lora.yaml")
    assert cfg.model.name_or_path == "meta-llama/Llama-3.1-8B-Instruct" and cfg.model.lora_r == 16
    assert cfg.grpo.learning_rate == 5e-6 and cfg.grpo.per_device_train_batch_size == 2
    assert cfg.grpo.num_generations == 2 and cfg.grpo.num_train_epochs == 3
    assert cfg.grpo.max_prompt_length + cfg.grpo.max_completion_length == 1024
    assert cfg.judge.metrics == "priority" and cfg.judge.every_n_steps == 10


def test_cli_print_config_and_unknown_key():
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--config", str(RECIPE), "grpo.max_steps=7", "--print-config"])
    assert res.exit_code == 0 and "max_steps: 7" in res.output
    res = runner.invoke(app, ["train", "--config", str(RECIPE), "grpo.max_stepz=7"])
    assert res.exit_code == 2 and "grpo.max_stepz" in res.output
