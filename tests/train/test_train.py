"""GRPO training on CPU with the bundled tiny policy and the rules judge, run as a user runs it: `amr-grpo train`
prints the plan, one table row per logging step and no raw dict or deprecation warning; its steps are the plan's;
the LoRA weights move; the saved adapter loads from another folder offline in five lines of transformers + peft.
A run killed mid-way and resumed ends at the same step with every step logged once and its ledger added up;
a spent judge quota with quota_fallback=none stops the run with a checkpoint. Config mistakes fail in one line
before any model loads. Every recipe loads; the CLI prints the resolved config."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from safetensors.torch import load_file
from transformers import TrainerCallback
from typer.testing import CliRunner

from amr_grpo import config as config_io
from amr_grpo.cli import app
from amr_grpo.data.prepare import PrepareOptions, prepare
from amr_grpo.errors import UserError
from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.train.main import OUR_GRPO_FIELDS, main, training_args, truncate_metrics
from amr_grpo.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "assets" / "tiny-policy"
RECIPE = ROOT / "configs" / "train" / "tiny-cpu.yaml"
# GRPO recipes; tiny-sft.yaml is the warm start's (a WarmStartConfig, checked in tests/train/test_warm_start.py)
RECIPES = sorted(p for p in (ROOT / "configs" / "train").glob("*.yaml") if p.name != "tiny-sft.yaml")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """In-process runs on one thread, as the subprocess runs get OMP_NUM_THREADS=1: on a shared 2-core machine two
    threads fighting for the cores are several times slower than one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


def run_cli(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "amr_grpo", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


@pytest.fixture(scope="module")
def cli_run(data_dir, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`amr-grpo train` for one epoch of 4 prompts (2 prompts x 4 completions a step = 2 steps), with activation
    checkpointing on (the argument transformers renamed) and a table row at every step."""
    out = tmp_path_factory.mktemp("cli") / "run"
    proc = run_cli("train", "--config", str(RECIPE), f"model.name_or_path={TINY}", f"data.dir={data_dir}",
                   f"output_dir={out}", "data.max_train_samples=4", "grpo.num_train_epochs=1",
                   "grpo.max_steps=-1",  # the recipe fixes its length in steps; here one epoch decides it
                   "grpo.per_device_train_batch_size=8", "grpo.num_generations=4", "grpo.max_completion_length=160",
                   "grpo.logging_steps=1", "grpo.report_to=[none]", "grpo.learning_rate=5e-3",
                   "grpo.gradient_checkpointing=true", "grpo.save_steps=100")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_cli_run_trains_the_planned_steps_with_a_readable_console(cli_run):
    out, proc = cli_run
    console = proc.stdout + proc.stderr
    summary = json.loads((out / "train_summary.json").read_text())
    # 4 prompts // 2 prompts a step = 2 steps an epoch (TRL drops a partial batch): the plan and the run agree
    assert summary["global_step"] == summary["planned_steps"] == 2
    assert re.search(r"steps\s+2\s+\(4 train prompts, 2 steps an epoch", console)
    # the Trainer's printer would print {'loss': ...}; transformers would warn gradient_checkpointing -> activation_
    assert "{'loss'" not in console and "'train_runtime'" not in console
    assert "FutureWarning" not in console and "deprecated" not in console
    header = [x for x in console.splitlines() if x.split()[:4] == ["step", "reward", "judge", "decision"]]
    rows = [x.split() for x in console.splitlines() if re.match(r"^\s+[12]\s+\d\.\d{3}\s", x)]
    assert len(header) == 1 and [r[0] for r in rows] == ["1", "2"]  # one row per logging step, one header

    # peft initialises every lora_B to zero: a non-zero B means the optimizer moved the adapter
    weights = load_file(out / "model" / "adapter_model.safetensors")
    lora_b = {k: v for k, v in weights.items() if "lora_B" in k}
    assert lora_b and any(v.abs().max() > 0 for v in lora_b.values())
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        for key in [*METRIC_KEYS, "format", "judge/decision_accuracy"]:  # the recipe scores all six metrics
            assert 0.0 <= r[key if key.startswith("judge/") else f"rewards/{key}/mean"] <= 1.0
    ledger = json.loads((out / "judge_ledger.json").read_text())
    assert ledger["stats"]["completions"] == 16  # 2 steps x 8 completions, each scored once
    assert ledger["stats"]["naive_calls"] == 16 * 6
    assert ledger["segments"] == [{"from_step": 0, "to_step": 2, "end": "finished"}]
    # the saved config reproduces the run
    saved = config_io.load(TrainConfig, out / "config.yaml")
    assert saved.data.max_train_samples == 4 and saved.grpo.gradient_checkpointing is True


def test_trained_adapter_loads_from_any_folder_offline(cli_run, tmp_path):
    out, _ = cli_run
    model_dir = out / "model"
    base = json.loads((model_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert Path(base).is_absolute() and Path(base) == TINY.resolve()
    card = (model_dir / "README.md").read_text()
    assert "not for clinical use" in card and str(TINY.resolve()) in card and "[None]" not in card
    assert "<!-- amr-grpo:evaluation:start -->" in card and "4 training prompts" in card
    assert (out / "README.md").read_text() == card  # the run dir's card too, not TRL's "fine-tuned version of [None]"
    five_lines = (  # what the model card tells a user to run, from a folder that is not the repository
        "from peft import AutoPeftModelForCausalLM\n"
        "from transformers import AutoTokenizer\n"
        f"model = AutoPeftModelForCausalLM.from_pretrained({str(model_dir)!r})\n"
        f"tokenizer = AutoTokenizer.from_pretrained({str(model_dir)!r})\n"
        "print(tokenizer.decode(model.generate(**tokenizer('Decision:', return_tensors='pt'), max_new_tokens=3)[0], skip_special_tokens=True))\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([sys.executable, "-c", five_lines], cwd=elsewhere, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("Decision:")


class KillAt(TrainerCallback):
    """Stands in for a kill -9 after step `step` was logged (and after the checkpoint of step - 1)."""

    def __init__(self, step: int):
        self.step = step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"killed at step {self.step}")


def test_killed_run_resumes_to_the_same_steps_and_rewards(data_dir, tmp_path):
    steps = ["grpo.max_steps=4", "grpo.save_steps=2", "grpo.max_completion_length=48"]  # short: 3 runs of 2-4 steps
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
    # the ledger counts what was done: steps 1-3 before the kill, steps 3-4 again after resuming from checkpoint-2,
    # 8 completions a step: (3 + 2) x 8 = 40 (the uninterrupted run: 4 x 8 = 32)
    ledger = json.loads((killed / "judge_ledger.json").read_text())
    assert ledger["stats"]["completions"] == 40
    assert json.loads((whole / "judge_ledger.json").read_text())["stats"]["completions"] == 32
    assert ledger["segments"] == [{"from_step": 0, "to_step": 3, "end": "KeyboardInterrupt"},
                                  {"from_step": 2, "to_step": 4, "end": "finished"}]
    # each checkpoint carries the ledger as it stood then: checkpoint-2 after 2 steps of the first process
    kept = json.loads((killed / "checkpoint-2" / "judge_ledger_ranks" / "rank-0.json").read_text())
    assert kept["stats"]["completions"] == 16


def test_spent_quota_with_no_fallback_stops_with_a_checkpoint(data_dir, tmp_path, monkeypatch):
    class SpendQuotaAfter(TrainerCallback):  # the provider's daily quota runs out once step 1 is done
        def __init__(self, fake: FakeOpenAI):
            self.fake = fake

        def on_step_end(self, args, state, control, **kwargs):
            self.fake.quota_exhausted = True

    out = tmp_path / "run"
    monkeypatch.setenv("AMR_GRPO_JUDGE_API_KEY", "test-key")
    with FakeOpenAI() as fake:
        summary = main(tiny_cfg(data_dir, out, "grpo.max_steps=4", "grpo.save_steps=100", "judge.backend=openai",
                                f"judge.base_url={fake.base_url}", "judge.model=fake-judge", "judge.rpm=0",
                                "judge.tpm=0", "judge.cache_path=null", "judge.quota_fallback=none",
                                "judge.metrics=priority", "grpo.max_completion_length=48"), callbacks=[SpendQuotaAfter(fake)])
    # step 1 is judged (8 calls); step 2's calls get the daily-quota 429: the run stops at the end of step 2
    assert summary["global_step"] == 2 and "quota spent at step 2" in summary["stopped"]
    assert (out / "checkpoint-2").is_dir()
    ledger = json.loads((out / "judge_ledger.json").read_text())
    assert ledger["segments"][-1]["end"] == "quota_spent" and ledger["stats"]["failures"] >= 1


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
    assert cfg.judge.metrics == "priority" and cfg.judge.group_mode and cfg.judge.every_n_steps == 60
    # the grpo section reaches TRL's GRPOConfig as is: every field that is not ours, by the same name and value
    args = training_args(cfg, Path("runs/seed"), [0.5, 0.3, 0.2], cuda=False)
    passed = {k: v for k, v in dataclasses.asdict(cfg.grpo).items() if k not in OUR_GRPO_FIELDS}
    assert len(passed) == 30 and {k: getattr(args, k) for k in passed} == passed
    assert args.data_seed == cfg.grpo.seed and args.reward_weights == [0.5, 0.3, 0.2] and args.use_cpu
    assert args.activation_checkpointing is True and args.disable_tqdm  # the 8B recipe checkpoints; our bar, not TRL's


def test_cli_print_config_and_unknown_key():
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--config", str(RECIPE), "grpo.max_steps=7", "--print-config"])
    assert res.exit_code == 0 and "max_steps: 7" in res.output
    res = runner.invoke(app, ["train", "--config", str(RECIPE), "grpo.max_stepz=7"])
    assert res.exit_code == 2 and "grpo.max_stepz" in res.output


# ---------------------------------------------------------------------------------------------------------------
# One-line failures before anything heavy
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("override, message, hint", [
    ("judge.metrics=clinical_acuracy", "unknown metric(s) 'clinical_acuracy'", "judge.metrics=priority"),
    ("grpo.report_to=[wandb]", "grpo.report_to: wandb is not installed", "amr-grpo[wandb]"),
    ("grpo.report_to=[tensorbord]", "unknown logger 'tensorbord'", "tensorboard"),
    ("grpo.per_device_train_batch_size=6", "not a multiple of grpo.num_generations=8", "batch_size=8"),
    ("grpo.loss_type=ppo", "grpo.loss_type: expected one of", None),
])
def test_config_mistakes_are_one_line_even_for_print_config(override, message, hint):
    if "wandb" in override and __import__("importlib.util").util.find_spec("wandb"):
        pytest.skip("wandb is installed here")
    res = CliRunner().invoke(app, ["train", "--config", str(RECIPE), override, "--print-config"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert message in res.output and (hint is None or hint in res.output)


def test_missing_judge_key_fails_at_start_naming_the_variable(data_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    monkeypatch.delenv("AMR_GRPO_JUDGE_API_KEY", raising=False)
    with pytest.raises(UserError, match="GROQ_API_KEY is not set") as e:
        main(tiny_cfg(data_dir, tmp_path / "run", "judge.backend=openai"))
    assert "judge.backend=rules" in e.value.hint
    assert not (tmp_path / "run").exists()  # failed before the run dir, the dataset or the model


@pytest.mark.parametrize("override, package", [
    ("model.load_in_4bit=true", "bitsandbytes"), ("grpo.use_vllm=true", "vllm"), ("model.use_unsloth=true", "unsloth")])
def test_gpu_recipe_without_its_package_is_an_error_not_a_16gb_surprise(data_dir, tmp_path, override, package):
    """On CUDA (cuda=True), a missing package is an error naming the install command, never a silent fallback."""
    from amr_grpo.train.checks import check_environment, has_package

    if has_package(package):
        pytest.skip(f"{package} is installed here")
    cfg = tiny_cfg(data_dir, tmp_path / "run", override)
    with pytest.raises(UserError, match=f"{package}.*not installed") as e:
        check_environment(cfg, cuda=True)
    assert "pip install" in e.value.hint
    with pytest.raises(UserError, match="CUDA"):  # and on this CPU machine: needs a GPU, said first
        check_environment(cfg, cuda=False)


def test_unsloth_is_imported_before_trl_and_transformers(data_dir, tmp_path):
    """A stand-in `unsloth` package (the real one cannot install beside TRL 1.16, nor import without a GPU) records
    which of TRL, transformers and peft were already imported when the CLI imported it."""
    fake = tmp_path / "site" / "unsloth"
    fake.mkdir(parents=True)
    seen = tmp_path / "seen.json"
    (fake / "__init__.py").write_text(
        "import json, sys\n"
        f"open({str(seen)!r}, 'w').write(json.dumps(sorted(m for m in ('trl', 'transformers', 'peft') "
        "if m in sys.modules)))\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}
    proc = run_cli("train", "--config", str(RECIPE), "model.use_unsloth=true", f"data.dir={data_dir}",
                   f"output_dir={tmp_path / 'run'}", env=env)
    assert json.loads(seen.read_text()) == []
    # then, on this CPU machine, one line: Unsloth needs CUDA
    assert proc.returncode == 2 and "Unsloth needs a CUDA GPU" in proc.stderr and "Traceback" not in proc.stderr


def test_vllm_extra_pins_the_range_the_installed_trl_supports():
    import importlib
    import inspect

    src = inspect.getsource(importlib.import_module("trl.import_utils").is_vllm_available)
    low, high = re.search(r'Version\("([\d.]+)"\) <= _vllm_base_version <= Version\("([\d.]+)"\)', src).groups()
    pyproject = (ROOT / "pyproject.toml").read_text()
    pins = re.findall(r'"vllm>=([\d.]+),<=([\d.]+)"', pyproject)
    assert pins and all(p == (low, high) for p in pins), f"TRL supports vllm {low}-{high}; pyproject pins {pins}"


# ---------------------------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------------------------
def recipe_cfg(name: str, data_dir: Path, *overrides: str) -> TrainConfig:
    return config_io.load(TrainConfig, ROOT / "configs" / "train" / name, [f"data.dir={data_dir}", *overrides])


def test_plan_of_the_seed_recipe_fits_one_free_tier_day(data_dir):
    from amr_grpo.train.plan import make_plan, render

    p = make_plan(recipe_cfg("llama31-8b-lora.yaml", data_dir), prompts=480)
    # 480 prompts, 2 completions a step of 1 prompt: 480 steps an epoch x 3 epochs = 1,440 steps, 2,880 completions
    assert (p.steps, p.completions, p.steps_per_epoch) == (1440, 2880, 480)
    # LLM steps at global_step 0, 60, ..., 1380: 24; group mode scores both completions of a prompt in one call
    assert (p.llm_steps, p.calls_per_llm_step, p.llm_calls) == (24, 1, 24)
    assert p.rules_completions == (1440 - 24) * 2
    assert p.llm_tokens == 24 * p.tokens_per_call and p.llm_tokens < 100_000  # Groq free tier: 100k tokens a day
    assert p.quota_step is None and p.days < 1
    assert any("fits one day" in x for x in render(p))


def test_plan_says_where_the_daily_quota_runs_out(data_dir):
    from amr_grpo.train.plan import make_plan, render

    cfg = recipe_cfg("llama31-8b-lora.yaml", data_dir, "judge.every_n_steps=10", "judge.group_mode=false")
    p = make_plan(cfg, prompts=480)
    assert (p.llm_steps, p.calls_per_llm_step, p.llm_calls) == (144, 2, 288)  # ceil(1440 / 10), one call a completion
    # one day's 100,000 tokens cover k LLM steps of 2 calls; the (k+1)-th, at global_step 10k, is step 10k + 1
    k = 100_000 // (2 * p.tokens_per_call)
    assert k < 144 and p.quota_step == 10 * k + 1
    assert p.days == round(max(288 / 1000, p.llm_tokens / 100_000), 2)
    text = "\n".join(render(p))
    assert f"runs out near step {p.quota_step:,}" in text and "rules judge scores the remaining" in text
    p = make_plan(recipe_cfg("llama31-8b-lora.yaml", data_dir, "judge.every_n_steps=10", "judge.group_mode=false",
                             "judge.quota_fallback=none"), prompts=480)
    assert "training stops there with a checkpoint" in "\n".join(render(p))


def test_plan_counts_processes_and_sums_endpoints(data_dir, monkeypatch):
    from amr_grpo.train.plan import make_plan, render

    monkeypatch.setenv("KEY_A", "a")
    monkeypatch.delenv("KEY_B", raising=False)
    monkeypatch.delenv("AMR_GRPO_JUDGE_API_KEY", raising=False)
    cfg = recipe_cfg("llama31-8b-lora.yaml", data_dir, "judge.endpoints=[{name: groq-a, api_key_env: KEY_A}, "
                     "{name: groq-b, api_key_env: KEY_B, tpd: 300000}]")
    p = make_plan(cfg, prompts=480, world_size=2)
    # 2 processes x 2 completions = 4 completions, 2 prompts a step: 240 steps an epoch, 720 steps
    assert (p.completions_per_step, p.prompts_per_step, p.steps) == (4, 2, 720)
    assert p.day_tokens == 100_000 + 300_000 and p.day_requests == 2_000
    assert [round(e.share, 2) for e in p.endpoints] == [0.25, 0.75]  # by daily token quota
    lines = render(p)
    assert any("groq-a" in x and "$KEY_A set" in x for x in lines)
    assert any("groq-b" in x and "$KEY_B NOT SET" in x for x in lines)


def test_cli_plan_loads_no_model(data_dir):
    res = CliRunner().invoke(app, ["train", "--config", str(ROOT / "configs/train/llama31-8b-lora.yaml"), "--plan",
                                   f"data.dir={data_dir}", "model.name_or_path=/nonexistent/weights"])
    assert res.exit_code == 0, res.output
    assert "10 train prompts" in res.output and "LLM calls" in res.output


def _judge_ledger(latencies: list[float], endpoint: str, model: str = "m") -> dict:
    from amr_grpo.judge.base import Usage
    from amr_grpo.judge.ledger import Ledger

    led = Ledger("openai", model, 0.5, 1.0)
    for s in latencies:  # each call: 100 prompt + 10 completion tokens
        led.record_call(Usage(calls=1, prompt_tokens=100, completion_tokens=10), s, endpoint=endpoint)
    led.naive_calls = 3 * len(latencies)
    return led.to_dict()


def test_a_resumed_runs_ledger_has_the_percentiles_of_all_its_calls(tmp_path):
    from amr_grpo.judge.ledger import Ledger
    from amr_grpo.train.ledger import LEDGER, RunLedger

    before, after = [0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0]  # call seconds before the kill, then after --resume
    first = RunLedger(tmp_path, 0, lambda: {"judge": _judge_ledger(before, "groq-a"), "stats": {"completions": 8}})
    first.flush(2, end="SIGTERM")
    resumed = RunLedger(tmp_path, 0, lambda: {"judge": _judge_ledger(after, "groq-b"), "stats": {"completions": 8}},
                        start_step=2)
    resumed.flush(4, end="finished")
    j = json.loads((tmp_path / LEDGER).read_text())["judge"]
    one = Ledger.from_dict(_judge_ledger(before + after, "groq-a"))  # the same 8 calls in one ledger
    # nearest rank: p50 is the 4th of 8 (0.4 s, the middle of its 5%-wide bin), p95 and p99 the 8th (4.0 s, kept
    # exactly); before, the latest segment's p50 (2.0 s) stood for the whole run
    assert j["latency_s"]["call"] == one.call_latency.percentiles() == {"p50": pytest.approx(0.4, rel=0.025),
                                                                        "p95": 4.0, "p99": 4.0}
    assert (j["calls"], j["naive_calls"], j["calls_per_naive_call"]) == (8, 24, round(8 / 24, 4))
    assert (j["prompt_tokens"], j["completion_tokens"]) == (800, 80)
    assert j["estimated_cost_usd"] == pytest.approx(800 / 1000 * 0.5 + 80 / 1000 * 1.0)  # 0.48 USD, recomputed
    # per endpoint, as the engine merges them: by name, each with its own counts
    assert {n: (e["calls"], e["prompt_tokens"]) for n, e in j["endpoints"].items()} == {"groq-a": (4, 400),
                                                                                      "groq-b": (4, 400)}
    led = json.loads((tmp_path / LEDGER).read_text())
    assert led["stats"] == {"completions": 16}
    assert led["segments"] == [{"from_step": 0, "to_step": 2, "end": "SIGTERM"},
                               {"from_step": 2, "to_step": 4, "end": "finished"}]


def test_the_ranks_ledgers_add_up_as_one(tmp_path):
    from amr_grpo.train.ledger import LEDGER, RunLedger

    RunLedger(tmp_path, 1, lambda: {"judge": _judge_ledger([1.0, 2.0, 3.0, 4.0], "groq-a")}).flush(3)
    RunLedger(tmp_path, 0, lambda: {"judge": _judge_ledger([0.1, 0.2, 0.3, 0.4], "groq-a")}).flush(3)
    led = json.loads((tmp_path / LEDGER).read_text())
    # both ranks' 8 calls: the 4th is 0.4 s, the last 4.0 s, as in one ledger; the endpoint's calls add up
    assert led["judge"]["latency_s"]["call"] == {"p50": pytest.approx(0.4, rel=0.025), "p95": 4.0, "p99": 4.0}
    assert led["judge"]["endpoints"]["groq-a"]["calls"] == 8 and len(led["per_rank"]) == 2
