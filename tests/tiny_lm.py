"""A real tiny causal LM for the evaluate / validate / web tests, built in a few seconds on CPU.

A 2-layer Llama (hidden 64) with a byte-level BPE tokenizer trained here with `tokenizers`, given a chat
template, then fitted for a few hundred steps to answer every prompt with VALIDATION (the policy format of
amr_grpo.output_format), so greedy decoding writes a parseable validation whatever the case. `add_lora` saves a peft
LoRA adapter over it (the base + adapter path).

Fixtures (import them into a test module): `tiny_policy` = the bundled assets/tiny-policy when it is
committed, else the model built here; `built_lm` = always the model built here (its answer is known);
`tiny_adapter` = a LoRA adapter dir over `built_lm`. The build is cached in pytest's cache dir, keyed by a
hash of this file, so only the first run pays for it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "assets" / "tiny-policy"

VALIDATION = (
    "Step 1 - Clinical picture: acute uncomplicated cystitis in a non-pregnant woman.\n"
    "Step 2 - Pathogen and setting: community E. coli, outpatient.\n"
    "Step 3 - Guideline regimen: nitrofurantoin 100 mg PO BD for 5 days.\n"
    "Step 4 - Dose, route, frequency: ciprofloxacin is not first line for cystitis.\n"
    "Step 5 - Duration: 5 days.\n"
    "Step 6 - Patient factors and safety: no allergy, normal renal function.\n"
    "Step 7 - Stewardship: avoid fluoroquinolones in cystitis.\n"
    "Decision: Modify\n"
    "Recommended regimen: Nitrofurantoin 100 mg PO BD for 5 days\n"
    "Reference: NCDC National Treatment Guidelines for Antimicrobial Use 2025, urinary tract infection"
)
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
# The cases the tiny LM is fitted on (the chat prompt of each): the test cases, the web page's first example.
CASES = [
    {"patient": "30-year-old female; allergies: none known", "diagnosis": "cystitis",
     "prescription": "Ciprofloxacin 500 mg PO BD x 3 days"},
    {"patient": "62-year-old male; CrCl 25 mL/min", "diagnosis": "pyelonephritis",
     "prescription": "Ceftriaxone 2 g IV OD x 7 days"},
    {"patient": "28-year-old woman, 58 kg, no known allergies, not pregnant, normal kidney function",
     "diagnosis": "Acute uncomplicated cystitis", "prescription": "Tab Ciprofloxacin 500 mg PO BD x 3 days",
     "setting": "OPD"},
    {"patient": "adult", "diagnosis": "community-acquired pneumonia", "prescription": "Azithromycin 500 mg PO OD"},
]
# Plain user prompts too, so the answer does not hang on the system prompt alone.
PROMPTS = [
    "Validate this prescription.\nPatient: 45-year-old female; allergies: penicillin\nDiagnosis: cellulitis\n"
    "Prescription: Amoxicillin 500 mg PO TDS x 5 days",
    "Validate this prescription.\nPatient: 70-year-old male\nDiagnosis: HAP\nPrescription: Meropenem 1 g IV q8h",
]


def build_tiny_lm(out: Path, steps: int = 120) -> Path:
    """Train the tokenizer and the model, save both to `out` (a Hugging Face model directory)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    specials = ["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        [VALIDATION, *PROMPTS, *[m["content"] for c in CASES for m in _data_prompt(c)]] * 4,
        trainers.BpeTrainer(vocab_size=1500, special_tokens=specials,
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    tok.chat_template = CHAT_TEMPLATE
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(cfg)
    chats = [[{"role": "user", "content": p}] for p in PROMPTS] + [_data_prompt(c) for c in CASES]
    prompts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    enc = tok([p + VALIDATION + tok.eos_token for p in prompts], return_tensors="pt", padding=True,
              add_special_tokens=False)  # right padding: (n, seq)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)  # (n, seq)
    for i, p in enumerate(prompts):  # learn the answer only, whatever the prompt
        labels[i, : len(tok(p, add_special_tokens=False)["input_ids"])] = -100
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    if loss.item() > 0.05:
        raise RuntimeError(f"tiny LM did not fit its answer (loss {loss.item():.3f}); raise steps")
    model.eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _data_prompt(case: dict[str, str]) -> list[dict[str, str]]:
    """The chat prompt (system message + case), exactly as the Validator builds it."""
    from amr_grpo.data.prompts import render_prompt
    from amr_grpo.evaluation.validate import to_case

    return render_prompt(to_case(case))


def add_lora(base: Path, out: Path) -> Path:
    """Save a LoRA adapter over `base` (random B init made non-zero so the adapter changes outputs a little)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.fill_(1e-4)
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def built_lm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    cached = request.config.cache.mkdir(f"tiny-lm-{digest}") if request.config.cache else None
    if cached is not None and (cached / "config.json").is_file():
        return cached
    staging = tmp_path_factory.mktemp("tiny-lm")
    build_tiny_lm(staging / "model")
    if cached is None:
        return staging / "model"
    try:  # rename into the (empty) cache dir; another process that got there first wins
        os.replace(staging / "model", cached)
    except OSError:
        shutil.rmtree(staging / "model", ignore_errors=True)
    return cached


@pytest.fixture(scope="session")
def tiny_policy(request: pytest.FixtureRequest) -> Path:
    if (BUNDLED / "config.json").is_file():
        return BUNDLED
    return request.getfixturevalue("built_lm")


@pytest.fixture(scope="session")
def tiny_adapter(built_lm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return add_lora(built_lm, tmp_path_factory.mktemp("adapter") / "lora")
