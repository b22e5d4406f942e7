"""The report's matplotlib figures (Agg backend), each returned as {"png", "svg", "pdf"} bytes.

Training curves (weighted reward with reference lines, completion length), one reward curve per metric,
per-metric bars with 95% intervals for any number of runs, confusion matrices side by side, and output length
next to reward (verbosity check). PNG at 200 dpi for the page, SVG and PDF for a paper; the same figure gives
the same bytes from run to run (no dates, fixed SVG ids). Pure: inputs are rows and summaries from saved files.
Try it: amr-grpo report runs/main/eval-before runs/main/eval-after --train-log runs/main/train/metrics.jsonl -o /tmp/r
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from amr_grpo.metrics import METRIC_KEYS, get_metric  # noqa: E402

METRIC_REWARD = re.compile(r"^rewards/(?P<name>.+)/mean$")
LENGTH_KEYS = ("completions/mean_length", "completion_length")
# The judge's weighted reward (rewards.py logs it without the format reward), and TRL's total reward.
REWARD_KEYS = (("judge/weighted_reward", "judge's weighted reward"), ("reward", "reward (TRL total)"))
DPI = 200  # PNG resolution: sharp on a page and a slide; SVG and PDF are vector
FORMATS = ("png", "svg", "pdf")
plt.rcParams["svg.hashsalt"] = "amr-grpo"  # fixed element ids: the same figure gives the same SVG bytes
plt.rcParams["svg.fonttype"] = "none"  # SVG text stays text: editable in a paper, searchable, smaller
plt.rcParams["pdf.fonttype"] = 42  # TrueType in the PDF (journals reject Type 3 fonts)

Baseline = tuple[str, float]  # (label, weighted reward): a reference line, e.g. the best content-free output


def render_figure(fig: Any) -> dict[str, bytes]:
    """A matplotlib figure as PNG, SVG and PDF bytes (byte-stable), then closed."""
    out = {}
    for fmt in FORMATS:
        buf = io.BytesIO()
        meta = {"Software": None} if fmt == "png" else {"Date": None} if fmt == "svg" else {"CreationDate": None}
        fig.savefig(buf, format=fmt, dpi=DPI, bbox_inches="tight", metadata=meta)
        out[fmt] = buf.getvalue()
    plt.close(fig)
    return out


def _baseline_lines(ax: Any, baselines: Sequence[Baseline]) -> None:
    """Labelled dashed horizontal lines: named in the legend and at the right end of the line."""
    for i, (label, value) in enumerate(baselines):
        colour = f"C{(i + 3) % 10}"
        ax.axhline(value, color=colour, linestyle="--", linewidth=1.2, label=f"{label} ({value:.3f})")
        ax.annotate(label, xy=(1.0, value), xycoords=("axes fraction", "data"), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=7, color=colour)


def _series(log: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pts = [(r["step"], r[key]) for r in log if isinstance(r.get(key), (int, float)) and "step" in r]
    return [p[0] for p in pts], [p[1] for p in pts]


def metric_reward_keys(log: Sequence[dict[str, Any]]) -> list[str]:
    """The logged `rewards/<name>/mean` keys, rubric metrics first in rubric order, then any others."""
    names = {m.group("name"): k for r in log for k in r if (m := METRIC_REWARD.match(k))}
    ordered = [names[k] for k in METRIC_KEYS if k in names]
    return ordered + sorted(v for k, v in names.items() if k not in METRIC_KEYS)


def training_curves(log: Sequence[dict[str, Any]], baselines: Sequence[Baseline] = ()) -> dict[str, bytes] | None:
    """Weighted reward (the baselines as reference lines), all per-metric rewards together and (when logged)
    mean completion length, against the step."""
    metric_keys = metric_reward_keys(log)
    length_key = next((k for k in LENGTH_KEYS if any(k in r for r in log)), None)
    series = [(label, *_series(log, key)) for key, label in REWARD_KEYS]
    series = [s for s in series if s[1]]
    if not series and not metric_keys:
        return None
    fig, axes = plt.subplots(1, 3 if length_key else 2, figsize=(15 if length_key else 11, 3.8))
    for label, xs, ys in series:
        axes[0].plot(xs, ys, marker="o", ms=3, label=label)
    _baseline_lines(axes[0], baselines)
    axes[0].set(title="Weighted reward", xlabel="step", ylabel="reward")
    if series or baselines:
        axes[0].legend(fontsize=7)
    for k in metric_keys:
        mx, my = _series(log, k)
        axes[1].plot(mx, my, marker=".", ms=3, label=METRIC_REWARD.match(k).group("name"))
    axes[1].set(title="Reward per metric", xlabel="step")
    if metric_keys:
        axes[1].legend(fontsize=7)
    if length_key:
        lx, ly = _series(log, length_key)
        axes[2].plot(lx, ly, color="tab:gray", marker=".", ms=3)
        axes[2].set(title="Mean completion length", xlabel="step", ylabel="tokens")
    for ax in axes:
        ax.grid(alpha=0.3)
    return render_figure(fig)


def metric_curves(log: Sequence[dict[str, Any]]) -> dict[str, bytes] | None:
    """One panel per metric: its mean reward (score/5) against the step, on a shared 0-1 scale."""
    keys = metric_reward_keys(log)
    if not keys:
        return None
    cols = min(3, len(keys))
    rows = -(-len(keys) // cols)  # ceil
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False, sharex=True)
    for ax, k in zip(axes.flat, keys):
        name = METRIC_REWARD.match(k).group("name")
        xs, ys = _series(log, k)
        ax.plot(xs, ys, marker=".", ms=3)
        ax.set(title=get_metric(name).name if name in METRIC_KEYS else name, ylim=(0, 1.05), xlabel="step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    fig.tight_layout()
    return render_figure(fig)


def metric_bars(labels: Sequence[str], summaries: Sequence[dict[str, Any]],
                baselines: Sequence[Baseline] = ()) -> dict[str, bytes]:
    """Per-metric mean score (1-5) and the weighted reward, one bar per run, with 95% bootstrap intervals;
    the baselines as reference lines on the weighted reward."""
    fig, (ax, axw) = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [5, 1]})
    x = np.arange(len(METRIC_KEYS))  # (n_metrics,)
    width = 0.8 / max(1, len(labels))
    for i, (label, s) in enumerate(zip(labels, summaries)):
        means, errs = _bars([s["metrics"][k] for k in METRIC_KEYS])
        ax.bar(x + i * width - 0.4 + width / 2, means, width, yerr=errs, capsize=3, label=label)
        wm, we = _bars([s["weighted_reward"]])
        axw.bar([i], wm, 0.8, yerr=we, capsize=3, color=f"C{i}")
    ax.set_xticks(x, [get_metric(k).name for k in METRIC_KEYS], rotation=15, fontsize=8)
    ax.set(ylim=(0, 5.3), ylabel="mean score (1-5)", title="Score per metric (95% bootstrap CI)")
    ax.legend(fontsize=8)
    _baseline_lines(axw, baselines)
    axw.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
    axw.set(ylim=(0, 1.05), title="Weighted reward")
    for a in (ax, axw):
        a.grid(axis="y", alpha=0.3)
    return render_figure(fig)


def _bars(stats: Sequence[dict[str, Any]]) -> tuple[list[float], np.ndarray]:
    """Means (0 where none) and asymmetric error bars (2, n) from bootstrap stats."""
    means = [s["mean"] if s["mean"] is not None else 0.0 for s in stats]
    lo = [m - s["ci95"][0] if s["ci95"] else 0.0 for m, s in zip(means, stats)]
    hi = [s["ci95"][1] - m if s["ci95"] else 0.0 for m, s in zip(means, stats)]
    return means, np.array([lo, hi])  # (2, n)


def confusion_matrices(labels: Sequence[str], summaries: Sequence[dict[str, Any]]) -> dict[str, bytes]:
    """One gold x predicted decision matrix per run, side by side, counts written in the cells."""
    fig, axes = plt.subplots(1, len(labels), figsize=(4.2 * len(labels), 3.6), squeeze=False)
    for ax, label, s in zip(axes[0], labels, summaries):
        cm = s["confusion_matrix"]
        counts = np.array(cm["counts"])  # (3 gold, 4 predicted)
        ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, counts.max()))
        for (i, j), v in np.ndenumerate(counts):
            ax.text(j, i, str(v), ha="center", va="center", color="white" if v > counts.max() / 2 else "black")
        ax.set_xticks(range(len(cm["predicted"])), cm["predicted"], fontsize=8)
        ax.set_yticks(range(len(cm["gold"])), cm["gold"], fontsize=8)
        ax.set(xlabel="predicted", title=label)
    axes[0][0].set_ylabel("gold")
    fig.tight_layout()
    return render_figure(fig)


def length_vs_reward(labels: Sequence[str], runs_rows: Sequence[Sequence[dict[str, Any]]]) -> dict[str, bytes]:
    """Output-length histogram per run, next to length against weighted reward: a policy that games the
    judge with longer answers shows lengths shifting right while reward tracks length."""
    fig, (ah, asc) = plt.subplots(1, 2, figsize=(12, 4))
    all_len = [r["output_tokens"] for rows in runs_rows for r in rows if r.get("output_tokens") is not None]
    bins = np.histogram_bin_edges(all_len or [0, 1], bins=20)
    for i, (label, rows) in enumerate(zip(labels, runs_rows)):
        lens = [r["output_tokens"] for r in rows if r.get("output_tokens") is not None]
        ah.hist(lens, bins=bins, histtype="step", linewidth=1.5, label=label, color=f"C{i}")
        pts = [(r["output_tokens"], r["weighted_reward"]) for r in rows
               if r.get("output_tokens") is not None and r.get("weighted_reward") is not None]
        if pts:
            asc.scatter(*zip(*pts), s=12, alpha=0.6, label=label, color=f"C{i}")
    ah.set(title="Output length", xlabel="output tokens", ylabel="outputs")
    asc.set(title="Length vs weighted reward", xlabel="output tokens", ylabel="weighted reward", ylim=(0, 1.05))
    for a in (ah, asc):
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    return render_figure(fig)
