"""Synthetic cases shared by the synth, label-invariant and note tests: generated once per test process.

`cases(n, seed, notes)` is the list of synth.Generated (the record as written and the scenario's structured truth,
with the free-text note where the record has one).
"""

from __future__ import annotations

from functools import lru_cache

from amr_grpo.data.synth.generate import NOTES_SHARE, Generated, generate_cases


@lru_cache(maxsize=None)
def cases(n: int = 600, seed: int = 0, notes: float = NOTES_SHARE) -> tuple[Generated, ...]:
    return tuple(generate_cases(n, seed, notes))
