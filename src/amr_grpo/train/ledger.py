"""The judge ledger of a training run, kept across checkpoints, resumes, kills and several processes.

Each process (rank) writes what its judges did, added to what the same rank had done before a resume, to
OUTPUT_DIR/judge_ledger_ranks/rank-R.json at every logging step, with every checkpoint (a copy inside
checkpoint-N/), on SIGTERM / SIGINT and at the end; rank 0 sums the rank files into OUTPUT_DIR/judge_ledger.json.
A resumed run starts from the newest rank file (it counts the calls made after the last checkpoint too: they were
paid for), else from the checkpoint's copy. Work redone after a resume is counted again, because it was done again.
`segments` lists each process run: the steps it covered and how it ended.

Merging: the judge sections ("judge", "rules": the engines' ledgers) merge as the engine defines it
(amr_grpo.judge.ledger: Ledger.merge adds counts, per-endpoint entries by name and the latency histograms, so the
percentiles of a run resumed or spread over ranks are those of all its calls); "stats" adds up key by key.
Try it: pytest tests/train/test_train.py -k resume
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

from amr_grpo.judge.ledger import Ledger

RANK_DIR = "judge_ledger_ranks"
LEDGER = "judge_ledger.json"
JUDGE_SECTIONS = ("judge", "rules")  # amr_grpo.train.rewards.RewardPipeline.ledger(): each an engine Ledger's to_dict()


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """`a` then `b` (an earlier segment or rank, then a later one) as one ledger."""
    out = {**a, **b}
    for key in JUDGE_SECTIONS:
        if key in a and key in b:  # the later one's backend, model, prices and endpoint states; a's notes first
            out[key] = Ledger.from_dict(b[key]).merge(Ledger.from_dict(a[key])).to_dict()
    if "stats" in a and "stats" in b:
        out["stats"] = {k: a["stats"].get(k, 0) + b["stats"].get(k, 0) for k in {**a["stats"], **b["stats"]}}
    return out


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
