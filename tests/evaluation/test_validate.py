"""Validator and `amr-grpo validate` on a real tiny model: known answers, batching with left padding, the
plain-text prompt, a LoRA adapter dir over its base, a merged model, and bad model paths as one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from tiny_lm import CASES, VALIDATION
from typer.testing import CliRunner

from amr_grpo.cli import app
from amr_grpo.data.prompts import render_prompt_text
from amr_grpo.errors import UserError
from amr_grpo.output_format import parse_validation
from amr_grpo.records import Decision
from amr_grpo.evaluation.validate import Validator, to_case

CASE = CASES[0]  # a case the tiny LM was fitted to answer with VALIDATION
OTHER_CASES = [
    {"patient": "62-year-old male; CrCl 25 mL/min", "diagnosis": "pyelonephritis",
     "prescription": "Ceftriaxone 2 g IV OD x 7 days"},
    "45-year-old woman, allergic to penicillin, cellulitis, amoxicillin 500 mg PO TDS for 5 days",
    {"patient": "adult", "diagnosis": "community-acquired pneumonia", "prescription": "Azithromycin 500 mg PO OD"},
]


@pytest.fixture(scope="module")
def validator(built_lm: Path) -> Validator:
    return Validator.from_pretrained(built_lm, max_new_tokens=220, batch_size=4)


def test_known_answer_is_parsed_into_a_validation(validator):
    v = validator.validate(CASE)
    # the tiny LM was fitted to answer this case with VALIDATION: 7 steps, Modify, nitrofurantoin, NCDC reference
    assert v.raw == VALIDATION
    assert v.parse_ok and v.decision is Decision.MODIFY and len(v.steps) == 7
    assert v.recommended_regimen == "Nitrofurantoin 100 mg PO BD for 5 days"
    assert v.reference.startswith("NCDC National Treatment Guidelines")
    assert v == parse_validation(v.raw)  # exactly output_format's parse of the text, nothing added


def test_batched_generation_equals_one_at_a_time(validator):
    # left padding: every row of a batch ends where generation starts, so greedy answers cannot depend on the batch
    cases = [CASE, *OTHER_CASES]
    together = [v.raw for v in validator.validate_many(cases)]
    alone = [validator.validate(c).raw for c in cases]
    assert together == alone
    assert len({len(validator.generator.tokenizer(validator.generator.tokenizer.apply_chat_template(
        validator.prompt(c), tokenize=False))["input_ids"]) for c in cases}) > 1  # the prompts differ in length


def test_prompt_is_datas_chat_prompt_or_text_without_template(built_lm):
    v = Validator.from_pretrained(built_lm, max_new_tokens=8)
    msgs = v.prompt(CASE)
    assert [m["role"] for m in msgs] == ["system", "user"] and "cystitis" in msgs[1]["content"]
    tok = v.generator.tokenizer
    # the same token ids TRL's GRPOTrainer feeds in training (apply_chat_template / the tokenizer on a string)
    trl_ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    assert v.generator.encode([msgs, "Patient: adult"]) == [list(trl_ids), tok("Patient: adult")["input_ids"]]
    v.generator.tokenizer.chat_template = None  # a tokenizer without a chat template gets the plain-text prompt
    assert v.prompt(CASE) == render_prompt_text(to_case(CASE))
    assert isinstance(v.validate(CASE).raw, str)


def test_lora_adapter_dir_loads_over_its_base(built_lm, tiny_adapter, tmp_path):
    from peft import PeftModel

    base = Validator.from_pretrained(built_lm, max_new_tokens=220)
    lora = Validator.from_pretrained(tiny_adapter, max_new_tokens=220)
    assert isinstance(lora.generator.model, PeftModel)
    ids = base.generator.tokenizer("Decision: Modify", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        diff = (lora.generator.model(ids).logits - base.generator.model(ids).logits).abs().max().item()
    assert diff > 0  # the adapter's weights are applied, not silently dropped
    assert lora.validate(CASE).decision is Decision.MODIFY  # a small adapter keeps the answer

    # a training run saves a relative base path: it resolves against the adapter dir's parents too
    cfg_path = tiny_adapter / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    moved = tmp_path / "run" / "adapter"
    moved.parent.mkdir()
    import shutil

    shutil.copytree(tiny_adapter, moved)
    shutil.copytree(built_lm, tmp_path / "run" / "base")
    (moved / "adapter_config.json").write_text(json.dumps({**cfg, "base_model_name_or_path": "base"}))
    assert Validator.from_pretrained(moved, max_new_tokens=220).validate(CASE).raw == lora.validate(CASE).raw

    # the merged model (peft merge_and_unload) is a plain model dir with the same outputs
    merged_dir = tmp_path / "merged"
    lora.generator.model.merge_and_unload().save_pretrained(merged_dir)
    lora.generator.tokenizer.save_pretrained(merged_dir)
    merged = Validator.from_pretrained(merged_dir, max_new_tokens=220)
    assert not isinstance(merged.generator.model, PeftModel)
    assert merged.validate(CASE).raw == lora.validate(CASE).raw


def test_bad_models_and_cases_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        Validator.from_pretrained(tmp_path / "nope" / "model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a model directory"):  # found before torch is imported
        Validator.from_pretrained(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{}")  # looks like a model dir, has no model in it
    with pytest.raises(UserError, match="does not load"):
        Validator.from_pretrained(tmp_path / "broken")
    with pytest.raises(UserError, match="unknown generation setting"):
        Validator.from_pretrained(tmp_path / "empty", max_tokens=3)
    with pytest.raises(UserError, match="empty"):
        to_case("   ")
    with pytest.raises(UserError, match="no prescription"):
        to_case({"patient": "", "diagnosis": "cystitis"})


def test_cli_validate_text_case_file_and_errors(built_lm, tmp_path):
    r = CliRunner().invoke(app, ["validate", "--model", str(built_lm), "--max-new-tokens", "220",
                                 "--text", "Patient: 30-year-old female; allergies: none known\nDiagnosis: cystitis\n"
                                           "Prescription: Ciprofloxacin 500 mg PO BD x 3 days"])
    assert r.exit_code == 0, r.output
    assert "Decision: Modify" in r.output and "not for clinical use" in r.output

    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps(CASE))
    r = CliRunner().invoke(app, ["validate", "--model", str(built_lm), "--case", str(case_file), "--json",
                                 "--max-new-tokens", "220"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["validation"]["decision"] == "Modify" and out["verdict"] is None

    r = CliRunner().invoke(app, ["validate", "--model", str(built_lm), "--case", str(case_file), "--judge", "rules",
                                 "--max-new-tokens", "220"])
    assert r.exit_code == 0, r.output
    assert "judge rules (rules-v2)" in r.output and "Guideline adherence" in r.output
    assert re.search(r"weighted reward 0\.\d{3}", r.output)

    for args, message in [
        (["--model", str(tmp_path / "missing" / "m"), "--text", "x"], "not found"),
        (["--model", str(built_lm)], "exactly one of --case FILE or --text"),
        (["--model", str(built_lm), "--case", str(tmp_path / "nofile.json")], "file not found"),
    ]:
        r = CliRunner().invoke(app, ["validate", *args])
        assert r.exit_code == 2, r.output
        assert message in r.output and "Traceback" not in r.output
