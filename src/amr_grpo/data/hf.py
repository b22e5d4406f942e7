"""The GRPO records as a Hugging Face `datasets` DatasetDict, with explicit features (so empty splits and
all-null columns keep their types). Read it back with `datasets.load_from_disk(DIR / "hf")`.
Try it: python -c "import datasets; print(datasets.load_from_disk('runs/demo/data/hf'))"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def features(prompt_format: str):
    from datasets import Features, List, Value

    text, num, flag = Value("string"), Value("float64"), Value("bool")
    patient = {"age": num, "sex": text, "weight_kg": num, "comorbidities": List(text), "allergies": List(text),
               "crcl_ml_min": num, "serum_creatinine_mg_dl": num, "egfr_ml_min": num, "renal_basis": text,
               "pregnant": Value("bool"),
               "gestation_weeks": num, "current_medicines": List(text), "cultures": text, "text": text}
    return Features({
        "id": text,
        "prompt": List({"role": text, "content": text}) if prompt_format == "chat" else text,
        "reference": text,
        "context": {"id": text, "patient": patient, "diagnosis": text, "prescription": text, "setting": text,
                    "syndrome": text, "severity": text, "severity_signs": List(text),
                    "syndrome_candidates": List(text)},
        "ground_truth": {"decision": text, "issues": List(text), "recommended_regimen": text, "reference": text,
                         "citation": text, "syndrome": text, "flags": List(text)},
        "checklist": {"syndrome": text, "syndrome_name": text, "candidates": List(text), "antibiotic_needed": flag,
                      "expected_decisions": List(text), "decision_why": text, "regimens": List(text),
                      "avoid": List(text), "sections": List(text), "version": text, "serious": flag,
                      "items": List({"key": text, "kind": text, "importance": text, "text": text,
                                     "evidence": List(text), "source": text})},
    })


def save_dataset_dict(rows: dict[str, list[dict[str, Any]]], path: Path, prompt_format: str) -> None:
    import datasets

    quiet = datasets.is_progress_bar_enabled()
    if quiet:
        datasets.disable_progress_bars()
    try:
        feats = features(prompt_format)
        dd = datasets.DatasetDict({  # from_dict: an empty split keeps its columns (from_list([]) loses them)
            s: datasets.Dataset.from_dict({k: [row[k] for row in r] for k in feats}, features=feats)
            for s, r in rows.items()
        })
        # an empty split needs one (empty) shard to load back; large splits get a shard per 100k rows
        dd.save_to_disk(str(path), num_shards={s: max(1, len(r) // 100_000) for s, r in rows.items()})
    finally:
        if quiet:
            datasets.enable_progress_bars()
