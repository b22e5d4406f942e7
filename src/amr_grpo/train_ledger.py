"""The judge ledger of a training run, kept across checkpoints, resumes, kills and several processes.

Each process (rank) writes what its judges did, added to what the same rank had done before a resume, to
OUTPUT_DIR/judge_ledger_ranks/rank-R.json at every logging step, with every checkpoint (a copy inside
checkpoint-N/), on SIGTERM / SIGINT and at the end; rank 0 sums the rank files into OUTPUT_DIR/judge_ledger.json.
A resumed run starts from the newest rank file (it counts the calls made after the last checkpoint too: they were
paid for), else from the checkpoint's copy. Work redone after a resume is counted again, because it was done again.
`segments` lists each process run: the steps it covered and how it ended.

Merging (written here because the engine's Ledger has no merge for the train ledger's sections): numbers add up,
counters and sections merge key by key, lists of named entries (endpoints) merge by name, other lists concatenate;
latency percentiles and prices cannot be added and are the latest segment's; calls_per_naive_call is recomputed.
Try it: pytest tests/test_train.py -k resume
"""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

RANK_DIR = "judge_ledger_ranks"
LEDGER = "judge_ledger.json"
LATEST_ONLY = {"latency_s", "price_per_1k_tokens_usd", "calls_per_naive_call"}


def merge(a: Any, b: Any, key: str = "") -> Any:
    """`a` then `b` (two ledgers, or two of their values) as one."""
    if key in LATEST_ONLY:
        return b if b is not None else a
    if isinstance(a, bool) or isinstance(b, bool):
        return b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a + b
    if isinstance(a, dict) and isinstance(b, dict):
        out = {k: merge(a[k], b[k], k) if k in a and k in b else (b[k] if k in b else a[k]) for k in {**a, **b}}
        if isinstance(out.get("calls"), int) and out.get("naive_calls"):
            out["calls_per_naive_call"] = round(out["calls"] / out["naive_calls"], 4)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if all(isinstance(x, dict) and "name" in x for x in a + b):
            named = {x["name"]: x for x in a}
            for x in b:
                named[x["name"]] = merge(named[x["name"]], x) if x["name"] in named else x
            return list(named.values())
        return [json.loads(x) for x in dict.fromkeys(json.dumps(x, sort_keys=True) for x in a + b)]  # notes, once
    if a is None or b is None:
        return a if b is None else b
    return b


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically: a reader (or a resume after a kill) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def rank_files(folder: Path) -> list[Path]:
    found = [(int(m.group(1)), p) for p in folder.glob("rank-*.json") if (m := re.fullmatch(r"rank-(\d+)\.json", p.name))]
    return [p for _, p in sorted(found)]


def total(per_rank: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's ledger: every section summed over the ranks, the ranks themselves, rank 0's segments."""
    out: dict[str, Any] = {}
    for led in per_rank:
        out = merge(out, {k: v for k, v in led.items() if k != "segments"})
    out["per_rank"] = [{k: v for k, v in led.items() if k != "segments"} for led in per_rank]
    out["segments"] = per_rank[0].get("segments", []) if per_rank else []
    return out


class RunLedger:
    """One rank's ledger for this process run: `prior` (before a resume) + what `source()` says now."""

    def __init__(self, out: Path, rank: int, source: Callable[[], dict[str, Any]], start_step: int = 0,
                 checkpoint: Path | None = None):
        self.out, self.rank, self.source, self.start_step = Path(out), rank, source, start_step
        name = f"rank-{rank}.json"
        prior = _read_json(self.out / RANK_DIR / name)
        if prior is None and checkpoint is not None:
            prior = _read_json(Path(checkpoint) / RANK_DIR / name)
        self.prior: dict[str, Any] = prior or {}
        self.signalled: str | None = None  # the signal that ended this process run, if one did
        self._lock = threading.RLock()  # re-entrant: a signal can arrive while the main thread is flushing

    def current(self, step: int, end: str = "running") -> dict[str, Any]:
        now = merge({k: v for k, v in self.prior.items() if k != "segments"}, self.source())
        now["segments"] = [*self.prior.get("segments", []),
                           {"from_step": self.start_step, "to_step": step, "end": end}]
        return now

    def flush(self, step: int, end: str = "running", checkpoint: Path | None = None) -> None:
        """Write this rank's file (and its copy in `checkpoint`); rank 0 then rewrites the run's total."""
        with self._lock:
            data = self.current(step, end)
            _write_json(self.out / RANK_DIR / f"rank-{self.rank}.json", data)
            if checkpoint is not None and checkpoint.is_dir():
                _write_json(checkpoint / RANK_DIR / f"rank-{self.rank}.json", data)
            if self.rank == 0:
                self.write_total()

    def write_total(self) -> dict[str, Any]:
        per_rank = [d for p in rank_files(self.out / RANK_DIR) if (d := _read_json(p)) is not None]
        led = total(per_rank)
        _write_json(self.out / LEDGER, led)
        return led

    def callback(self) -> Any:
        """A TrainerCallback flushing at every log and with every checkpoint (all ranks call both)."""
        from transformers import TrainerCallback

        ledger = self

        class LedgerFlush(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                ledger.flush(state.global_step)

            def on_save(self, args, state, control, **kwargs):
                ledger.flush(state.global_step, checkpoint=Path(args.output_dir) / f"checkpoint-{state.global_step}")

        return LedgerFlush()

    def on_signals(self, step: Callable[[], int]) -> Callable[[], None]:
        """Flush on SIGTERM / SIGINT, then let the signal do what it did before; return a function undoing this."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous: dict[int, Any] = {}

        def handler(signum, frame):
            self.signalled = signal.Signals(signum).name
            self.flush(step(), end=self.signalled)
            before = previous[signum]
            signal.signal(signum, before if before is not None else signal.SIG_DFL)
            if callable(before):
                before(signum, frame)
            elif before != signal.SIG_IGN:  # SIG_DFL: end the process as the signal would have
                os.kill(os.getpid(), signum)

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)

        def restore() -> None:
            for sig, h in previous.items():
                signal.signal(sig, h)

        return restore
