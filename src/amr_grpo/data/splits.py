"""Read one split written by `amr-grpo prepare` (DIR/<split>.jsonl), checked line by line.

The one reader that training and evaluation share: a bad line raises UserError naming the file, the line
and the field. Try it: python -c "from amr_grpo.data.splits import read_split; print(len(read_split('runs/main/data/test.jsonl')))"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from amr_grpo.errors import UserError

REQUIRED_FIELDS = ("id", "prompt", "context")


def read_split(path: str | Path) -> list[dict[str, Any]]:
    """GRPO records {id, prompt, context, ground_truth, ...} from one split file; never an empty list."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: not found", "write the splits with `amr-grpo prepare CASES -o DIR`")
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{n}: not JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise UserError(f"{path}:{n}: expected a JSON object")
        for key in REQUIRED_FIELDS:
            if key not in rec or rec[key] in (None, "", []):
                raise UserError(f"{path}:{n}: missing field {key!r}", "a GRPO record has id, prompt, context")
        if not _is_prompt(rec["prompt"]):
            raise UserError(f"{path}:{n}: field 'prompt' must be a string or a list of {{role, content}} messages")
        if not isinstance(rec["context"], (dict, str)):
            raise UserError(f"{path}:{n}: field 'context' must be an object or a string")
        if not isinstance(rec.get("ground_truth"), (dict, str, type(None))):
            raise UserError(f"{path}:{n}: field 'ground_truth' must be an object, a string or null")
        records.append(rec)
    if not records:
        raise UserError(f"{path}: no records (prepare put no case in this split)",
                        "choose another --split, or prepare again with --test-size N / --val-size N")
    return records


def _is_prompt(p: Any) -> bool:
    if isinstance(p, str):
        return bool(p.strip())
    return isinstance(p, list) and bool(p) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in p)
