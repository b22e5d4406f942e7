"""A real tiny causal LM for the evaluate / validate / web tests, built in a few seconds on CPU.

A 2-layer Llama (hidden 64) with a byte-level BPE tokenizer trained here with `tokenizers`, given a chat
template, then fitted for a few hundred steps to answer every prompt with VALIDATION (the policy format of
DESIGN.md), so greedy decoding writes a parseable validation whatever the case. `add_lora` saves a peft
LoRA adapter over it (the base + adapter path). Used when assets/tiny-policy is not there.
"""

from __future__ import annotations

from pathlib import Path

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
PROMPTS = [
    "Validate this prescription.\nPatient: 30-year-old female; allergies: none known\nDiagnosis: cystitis\n"
    "Prescription: Ciprofloxacin 500 mg PO BD x 3 days",
    "Validate this prescription.\nPatient: 62-year-old male; CrCl 25 mL/min\nDiagnosis: pyelonephritis\n"
    "Prescription: Ceftriaxone 2 g IV OD x 7 days",
    "Validate this prescription.\nPatient: 45-year-old female; allergies: penicillin\nDiagnosis: cellulitis\n"
    "Prescription: Amoxicillin 500 mg PO TDS x 5 days",
    "Validate this prescription.\nPatient: adult\nDiagnosis: community-acquired pneumonia\n"
    "Prescription: Azithromycin 500 mg PO OD x 3 days",
]


def build_tiny_lm(out: Path, steps: int = 150) -> Path:
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
        [VALIDATION, *PROMPTS] * 4,
        trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    tok.chat_template = CHAT_TEMPLATE
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(cfg)
    texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
             + VALIDATION + tok.eos_token for p in PROMPTS]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


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
