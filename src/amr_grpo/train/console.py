"""What a training run shows on the console: one progress bar and a compact table, never a raw metrics dict.

The bar (rich; on a terminal, rank 0 only) shows the step, the last batch's judge reward and decision accuracy, and
the ETA. At every logging step one table row is printed: TRL's reward (judge metrics + format), the judge's weighted
reward, the batch decision accuracy, each metric's mean reward, format, KL, mean completion length, the share cut
off at the length cap and seconds a step; the header repeats every HEADER_EVERY rows. Off a terminal (logs, CI) or
with grpo.disable_tqdm the bar is left out and the rows carry the ETA. The Trainer's own printer (which prints the
logs dict) is removed by main(). `quiet_deprecations()` silences the transformers deprecation that TRL's own calls
raise at every generation (TRL 1.16 still calls `model.gradient_checkpointing_enable` and friends); our own
arguments use the current names.
Try it: amr-grpo train --config configs/train/tiny-cpu.yaml grpo.max_steps=10 output_dir=/tmp/amr-console
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from rich.console import Console

HEADER_EVERY = 20
SHORT = {
    "clinical_accuracy": "clin",
    "guideline_adherence": "guide",
    "reasoning_completeness": "reason",
    "safety_awareness": "safety",
    "decision_appropriateness": "decis",
    "reference_accuracy": "ref",
}


def quiet_deprecations() -> None:
    """Ignore the deprecated-alias warnings that TRL's internals raise each generation; nothing a user can act on."""
    warnings.filterwarnings("ignore", message=r"`(is_)?gradient_checkpointing\w*` is deprecated", category=FutureWarning)


def _fmt(v: Any, width: int, digits: int = 3) -> str:
    if v is None:
        return "-".rjust(width)
    if isinstance(v, float):
        return f"{v:.{digits}f}".rjust(width)
    return str(v).rjust(width)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class TableRows:
    """The compact table: column names and widths, one formatted row per logging step."""

    def __init__(self, metrics: list[str]):
        self.columns: list[tuple[str, str, int]] = [
            ("step", "step", 6), ("reward", "reward", 7), ("judge", "judge/weighted_reward", 6),
            ("decision", "judge/decision_accuracy", 8),
            *[(SHORT.get(k, k[:6]), f"rewards/{k}/mean", max(5, len(SHORT.get(k, k[:6])))) for k in metrics],
            ("format", "rewards/format/mean", 6), ("kl", "kl", 6), ("len", "completions/mean_length", 5),
            ("cut", "completions/clipped_ratio", 5), ("s/step", "s_per_step", 6), ("eta", "eta", 8)]

    def header(self) -> str:
        return " ".join(name.rjust(w) for name, _, w in self.columns)

    def row(self, values: dict[str, Any]) -> str:
        out = []
        for _, key, w in self.columns:
            v = values.get(key)
            digits = 1 if key in ("completions/mean_length", "s_per_step") else 3
            out.append(_fmt(round(v) if key == "completions/mean_length" and v is not None else v, w, digits))
        return " ".join(out)


def console_callback(pipeline: Any, metrics: list[str], bar: bool, console: Console | None = None) -> Any:
    """A TrainerCallback drawing the bar and the table on rank 0; `pipeline.last_batch` feeds the bar each step."""
    from transformers import TrainerCallback

    con = console or Console(stderr=True, soft_wrap=True, highlight=False)
    table = TableRows(metrics)

    class ConsoleProgress(TrainerCallback):
        def __init__(self) -> None:
            self.progress: Any = None
            self.task: Any = None
            self.rows = 0
            self.t0 = time.monotonic()
            self.first_step = 0

        def on_train_begin(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            self.t0, self.first_step = time.monotonic(), state.global_step
            if bar and con.is_terminal:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                self.progress = Progress(
                    TextColumn("step"), MofNCompleteColumn(), BarColumn(), TextColumn("{task.fields[batch]}"),
                    TextColumn("eta"), TimeRemainingColumn(), console=con, transient=False)
                self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step,
                                                   batch="")
                self.progress.start()

        def _per_step(self, state) -> float | None:
            done = state.global_step - self.first_step
            return (time.monotonic() - self.t0) / done if done > 0 else None

        def on_step_end(self, args, state, control, **kwargs):
            if self.progress is None:
                return
            last = getattr(pipeline, "last_batch", {}) or {}
            parts = []
            if last.get("weighted_reward") is not None:
                parts.append(f"judge reward {last['weighted_reward']:.3f}")
            if last.get("decision_accuracy") is not None:
                parts.append(f"decision acc {last['decision_accuracy']:.2f}")
            self.progress.update(self.task, completed=state.global_step, batch="  ".join(parts))

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs or "train_runtime" in logs:
                return
            per_step = self._per_step(state)
            eta = per_step * (state.max_steps - state.global_step) if per_step is not None else None
            values = {**logs, "step": state.global_step, "s_per_step": per_step, "eta": _clock(eta)}
            lines = ([table.header()] if self.rows % HEADER_EVERY == 0 else []) + [table.row(values)]
            self.rows += 1
            for line in lines:
                (self.progress.console if self.progress is not None else con).print(line, highlight=False)

        def on_train_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.stop()
                self.progress = None

    return ConsoleProgress()
