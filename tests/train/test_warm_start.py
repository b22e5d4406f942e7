"""The warm start (amr-grpo sft): TRL's SFTTrainer on the train split's reference validations, a real tiny model.

The bundled policy is fine-tuned for a few steps on four train records; it must then give those references a
lower answer loss than before (what SFT is for), be saved where `evaluate` and `train` load it, and write
warm_start.json last. The val and test splits are refused: they measure the policy and must never teach it.
Run: .venv/bin/pytest tests/train/test_warm_start.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from amr_grpo import config as config_io
from amr_grpo.data.prepare import PrepareOptions, prepare
from amr_grpo.errors import UserError
from amr_grpo.train.warm_start import DONE_FILE, WarmStartConfig, check_warm_start, sft_records, warm_start

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "assets" / "tiny-policy"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("warm") / "data"
    prepare([ROOT / "data" / "examples" / "alpaca.jsonl"], out, PrepareOptions(val_size=1, test_size=1))
    return out


def answer_loss(model_dir: Path | str, records: list[dict]) -> float:
    """Mean loss of each reference given its own prompt (the answer tokens only)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
    losses = []
    for rec in records:
        prompt = tok.apply_chat_template(rec["prompt"], add_generation_prompt=True, tokenize=True,
                                         return_dict=True)["input_ids"]
        answer = tok(rec["completion"][0]["content"] + tok.eos_token, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt + answer])  # (1, T)
        labels = torch.tensor([[-100] * len(prompt) + answer])  # (1, T): the loss on the answer only
        with torch.no_grad():
            losses.append(model(input_ids=ids, labels=labels).loss.item())
    return sum(losses) / len(losses)


def test_the_make_run_recipe_loads_and_names_its_launch_command():
    recipe = ROOT / "configs" / "train" / "tiny-sft.yaml"
    cfg = config_io.load(WarmStartConfig, recipe)  # unknown keys or wrong types raise ConfigError
    assert cfg.data.split == "train" and cfg.model.name_or_path == "assets/tiny-policy"
    head = recipe.read_text().splitlines()[:12]
    assert head[0].startswith("#") and any("Launch" in x for x in head[:4]) and any("Hardware" in x for x in head)


def test_records_are_prompt_and_reference_and_skip_a_missing_reference():
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    rows = sft_records([{"prompt": chat, "reference": "Decision: Approve"}, {"prompt": "case", "reference": "R"},
                        {"prompt": "no reference", "reference": "  "}, {"prompt": "none"}])
    assert rows == [{"prompt": chat, "completion": [{"role": "assistant", "content": "Decision: Approve"}]},
                    {"prompt": [{"role": "user", "content": "case"}],
                     "completion": [{"role": "assistant", "content": "R"}]}]


@pytest.mark.parametrize("split", ["val", "test"])
def test_only_the_train_split_teaches(data, tmp_path, split):
    cfg = config_io.load(WarmStartConfig, None, [f"data.dir={data}", f"data.split={split}", f"output_dir={tmp_path}"])
    with pytest.raises(UserError, match="train split only"):
        check_warm_start(cfg)


def test_a_few_steps_lower_the_answer_loss_and_save_a_loadable_model(data, tmp_path):
    out = tmp_path / "warm"
    cfg = config_io.load(WarmStartConfig, None, [
        f"model.name_or_path={POLICY}", f"data.dir={data}", "data.max_train_samples=4", f"output_dir={out}",
        "sft.max_steps=6", "sft.per_device_train_batch_size=4", "sft.learning_rate=2e-3", "sft.warmup_steps=0",
        "sft.logging_steps=1"])
    records = check_warm_start(cfg)
    before = answer_loss(POLICY, records)
    summary = warm_start(cfg)
    # six steps over the same four references at 2e-3: their loss falls well below the bundled policy's
    assert summary["steps"] == 6 and summary["train_records"] == 4
    assert answer_loss(out, records) < before - 0.3
    assert json.loads((out / DONE_FILE).read_text())["steps"] == 6
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    with pytest.raises(UserError, match="already holds a finished warm start"):  # never overwritten silently
        check_warm_start(cfg)
