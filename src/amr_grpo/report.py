"""Evaluation results (and a training metrics log) -> report.md and a self-contained report.html.

A pure function of saved files: reads each RESULTS_DIR's results.jsonl (the numbers are recomputed from
the rows with amr_grpo.summary, so the report never disagrees with them) and summary.json (run details,
judge ledger), plus the training metrics JSONL; imports nothing from training or torch. Any number of runs
side by side: base vs trained, rules judge vs LLM judge on the same outputs.
Try it: amr-grpo report runs/eval-base runs/eval-trained --train-log runs/train/metrics.jsonl -o runs/report
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amr_grpo import report_plots as plots
from amr_grpo.errors import UserError
from amr_grpo.metrics import METRIC_KEYS, get_metric
from amr_grpo.summary import read_results, summarize

NOTICE = ("Research tool, not for clinical use: these scores measure agreement with a rubric and a guideline "
          "knowledge base, not patient outcomes. Do not use this model's validations to treat patients.")


@dataclass
class Run:
    label: str
    path: Path
    rows: list[dict[str, Any]]
    summary: dict[str, Any]  # recomputed from rows
    meta: dict[str, Any] = field(default_factory=dict)  # summary.json as saved (model, split, judge, ledger)


@dataclass
class Block:
    """One piece of the report, rendered to both Markdown and HTML."""

    kind: str  # "h1" | "h2" | "p" | "notice" | "table" | "img"
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    png: bytes = b""


def load_run(path: str | Path, label: str | None = None) -> Run:
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"{p}: not a results directory", "give directories written by `amr-grpo evaluate -o DIR`")
    rows = read_results(p / "results.jsonl")
    meta: dict[str, Any] = {}
    if (p / "summary.json").is_file():
        try:
            meta = json.loads((p / "summary.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"{p / 'summary.json'}: not JSON ({e.msg}, line {e.lineno})") from None
    return Run(label or p.name, p, rows, summarize(rows), meta if isinstance(meta, dict) else {})


def read_train_log(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The training metrics JSONL -> (logged steps, warnings). A line that is not a JSON object (e.g. the
    last line of a run killed mid-write) is skipped and named in the warnings, never silently."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such training log", "TRAIN writes metrics.jsonl in the run directory")
    log, warnings = [], []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            warnings.append(f"{p.name}:{n}: skipped, not JSON")
            continue
        if isinstance(row, dict):
            log.append(row)
        else:
            warnings.append(f"{p.name}:{n}: skipped, not a JSON object")
    return log, warnings


def _fmt(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _stat(s: dict[str, Any], digits: int = 2) -> str:
    if s["mean"] is None:
        return "n/a"
    lo, hi = s["ci95"]
    return f"{s['mean']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _delta(first: dict[str, Any], last: dict[str, Any], digits: int = 2) -> str:
    if first["mean"] is None or last["mean"] is None:
        return "n/a"
    return f"{last['mean'] - first['mean']:+.{digits}f}"


def _runs_table(runs: Sequence[Run]) -> Block:
    rows = []
    for r in runs:
        judge = r.meta.get("judge_backend") or "?"
        if r.meta.get("judge_model"):
            judge += f" ({r.meta['judge_model']})"
        rows.append([r.label, str(r.meta.get("model", "?")), str(r.meta.get("split", "?")), judge,
                     str(r.summary["n"]), str(r.path)])
    return Block("table", header=["run", "model", "split", "judge", "cases", "results"], rows=rows)


def _metric_table(runs: Sequence[Run]) -> Block:
    """Mean score (1-5) [95% CI] per metric and run; the last column is last run minus first run."""
    header = ["metric", "weight", *[r.label for r in runs]]
    if len(runs) > 1:
        header.append(f"change ({runs[-1].label} - {runs[0].label})")
    rows = []
    for k in METRIC_KEYS:
        stats = [r.summary["metrics"][k] for r in runs]
        row = [get_metric(k).name, f"{get_metric(k).weight:.2f}", *[_stat(s) for s in stats]]
        if len(runs) > 1:
            row.append(_delta(stats[0], stats[-1]))
        rows.append(row)
    wr = [r.summary["weighted_reward"] for r in runs]
    row = ["**Weighted reward** (0.2-1.0)", "1.00", *[_stat(s, 3) + f" SE {_fmt(s['se'], 3)}" for s in wr]]
    if len(runs) > 1:
        d = _delta(wr[0], wr[-1], 3)
        if d != "n/a" and wr[0]["se"]:
            d += f" ({(wr[-1]['mean'] - wr[0]['mean']) / wr[0]['se']:.1f} x {runs[0].label}'s SE)"
        row.append(d)
    rows.append(row)
    return Block("table", header=header, rows=rows)


def _decision_table(runs: Sequence[Run]) -> Block:
    rows = []
    for r in runs:
        s = r.summary
        rows.append([r.label, _stat(s["decision_accuracy"]), str(s["decision_accuracy"]["n"]),
                     _fmt(s["parse_failure_rate"]), str(s["judge_failures"]), _fmt(s["mean_output_tokens"], 1),
                     _fmt(s["length_reward_correlation"])])
    return Block("table", header=["run", "decision accuracy [95% CI]", "with gold decision", "parse failure rate",
                                  "judge failures", "mean output tokens", "corr(length, reward)"], rows=rows)


def _confusion_table(run: Run) -> Block:
    cm = run.summary["confusion_matrix"]
    rows = [[f"gold {g}", *map(str, counts)] for g, counts in zip(cm["gold"], cm["counts"])]
    return Block("table", text=run.label, header=[run.label, *[f"pred {p}" for p in cm["predicted"]]], rows=rows)


def _ledger_table(runs: Sequence[Run]) -> Block | None:
    """Scalar entries of each run's judge ledger (calls, tokens, cache hits, failures, cost), side by side."""
    ledgers = [r.meta.get("judge_ledger") or {} for r in runs]
    keys = list(dict.fromkeys(k for led in ledgers for k, v in led.items() if isinstance(v, (int, float, str))))
    if not keys:
        return None
    rows = [[k, *[str(led.get(k, "")) for led in ledgers]] for k in keys]
    return Block("table", header=["judge ledger", *[r.label for r in runs]], rows=rows)


def _agreement_table(runs: Sequence[Run]) -> Block | None:
    """When later runs scored the same outputs as the first (same ids, same text: e.g. rules vs LLM judge), how
    often each metric's score agrees exactly, and the mean absolute difference, over outputs both judges scored."""
    first = {r["id"]: r for r in runs[0].rows}
    pairs = []
    for run in runs[1:]:
        same = [(first[r["id"]], r) for r in run.rows if r["id"] in first and first[r["id"]]["output"] == r["output"]]
        if same and len(same) == len(run.rows) == len(first):
            pairs.append((run, same))
    if not pairs:
        return None
    rows = []
    for k in METRIC_KEYS:
        row = [get_metric(k).name]
        for _, same in pairs:
            both = [(a["scores"][k]["score"], b["scores"][k]["score"]) for a, b in same
                    if k in a["scores"] and k in b["scores"]]
            exact = sum(x == y for x, y in both) / len(both) if both else None
            mad = sum(abs(x - y) for x, y in both) / len(both) if both else None
            row.append(f"{exact:.0%} / {mad:.2f}" if both else "n/a")
        rows.append(row)
    header = ["metric", *[f"{runs[0].label} vs {run.label}: exact / mean abs diff" for run, _ in pairs]]
    return Block("table", header=header, rows=rows)


def _training_blocks(log: list[dict[str, Any]], warnings: list[str]) -> list[Block]:
    blocks = [Block("h2", "Training")]
    png = plots.training_curves(log)
    if png is None:
        blocks.append(Block("p", "The training log has no `reward` or `rewards/<metric>/mean` entries."))
    else:
        blocks.append(Block("img", "Reward over training steps", png=png))
        steps = [r for r in log if "step" in r]
        keys = [k for k in ["reward", *plots.metric_reward_keys(log)] if any(k in r for r in steps)]
        first = {k: next((r[k] for r in steps if k in r), None) for k in keys}
        last = {k: next((r[k] for r in reversed(steps) if k in r), None) for k in keys}
        rows = [[k, _fmt(first[k], 3), _fmt(last[k], 3)] for k in keys]
        blocks.append(Block("table", header=["logged value", "first step", "last step"], rows=rows))
    blocks += [Block("p", w) for w in warnings]
    return blocks


def build(runs: Sequence[Run], train_log: list[dict[str, Any]] | None = None,
          log_warnings: Sequence[str] = ()) -> list[Block]:
    """The report as blocks, in reading order."""
    labels = [r.label for r in runs]
    b = [Block("h1", "amr-grpo evaluation report"), Block("notice", NOTICE), Block("h2", "Runs"), _runs_table(runs),
         Block("h2", "Score per metric"),
         Block("p", "Mean judge score (1-5) with a 95% percentile-bootstrap interval (2000 resamples); outputs "
                    "the judge could not score are left out, not counted as 0. Weighted reward = sum(w * score/5) "
                    "/ sum(w), with its bootstrap standard error (SE)."),
         _metric_table(runs),
         Block("img", "Score per metric", png=plots.metric_bars(labels, [r.summary for r in runs])),
         Block("h2", "Decisions"), _decision_table(runs)]
    b += [_confusion_table(r) for r in runs]
    b.append(Block("img", "Confusion matrices", png=plots.confusion_matrices(labels, [r.summary for r in runs])))
    b += [Block("h2", "Output length and reward"),
          Block("p", "Verbosity-hacking check: if reward rises with output length and lengths grow after training, "
                     "the policy may be padding its answers to please the judge."),
          Block("img", "Output length vs reward", png=plots.length_vs_reward(labels, [r.rows for r in runs]))]
    if train_log is not None:
        b += _training_blocks(train_log, list(log_warnings))
    agreement = _agreement_table(runs) if len(runs) > 1 else None
    if agreement:
        b += [Block("h2", "Judge agreement on the same outputs"),
              Block("p", "Runs that scored exactly the same outputs as the first run (e.g. another judge with "
                         "`amr-grpo evaluate --outputs`): exact score agreement and mean absolute score difference."),
              agreement]
    ledger = _ledger_table(runs)
    if ledger:
        b += [Block("h2", "Judge ledger"), ledger]
    b.append(Block("notice", NOTICE))
    return b


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def render_markdown(blocks: Sequence[Block], image_dir: str = "plots") -> tuple[str, dict[str, bytes]]:
    """Markdown text and the PNG files it links to ({relative path: bytes})."""
    out, files = [], {}
    for blk in blocks:
        if blk.kind == "h1":
            out.append(f"# {blk.text}")
        elif blk.kind == "h2":
            out.append(f"## {blk.text}")
        elif blk.kind == "p":
            out.append(blk.text)
        elif blk.kind == "notice":
            out.append(f"> **{blk.text}**")
        elif blk.kind == "table":
            cells = [[c.replace("|", "\\|") for c in row] for row in [blk.header, *blk.rows]]
            lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(blk.header)]
            out.append("\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells[1:]]))
        elif blk.kind == "img":
            name = f"{image_dir}/{_slug(blk.text)}.png"
            files[name] = blk.png
            out.append(f"![{blk.text}]({name})")
    return "\n\n".join(out) + "\n", files


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f2f4f7}img{max-width:100%}.notice{background:#fff4e5;border-left:4px solid #e08a00;padding:.6em 1em}"""


def render_html(blocks: Sequence[Block]) -> str:
    """One HTML file: inline CSS, PNGs as base64 data URIs; nothing fetched from anywhere."""
    e = html.escape
    out = ['<!doctype html><html lang="en"><head><meta charset="utf-8">',
           "<title>amr-grpo evaluation report</title>", f"<style>{CSS}</style></head><body>"]
    for blk in blocks:
        if blk.kind in ("h1", "h2"):
            out.append(f"<{blk.kind}>{e(blk.text)}</{blk.kind}>")
        elif blk.kind == "p":
            out.append(f"<p>{e(blk.text)}</p>")
        elif blk.kind == "notice":
            out.append(f'<p class="notice" role="note"><strong>{e(blk.text)}</strong></p>')
        elif blk.kind == "table":
            head = "".join(f"<th>{e(c.replace('**', ''))}</th>" for c in blk.header)
            body = "".join("<tr>" + "".join(f"<td>{e(c.replace('**', ''))}</td>" for c in r) + "</tr>"
                           for r in blk.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif blk.kind == "img":
            data = base64.b64encode(blk.png).decode("ascii")
            out.append(f'<figure><img alt="{e(blk.text)}" src="data:image/png;base64,{data}"></figure>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(result_dirs: Sequence[str | Path], out_dir: str | Path, train_log: str | Path | None = None,
                 labels: Sequence[str] | None = None, review_db: str | None = None) -> dict[str, Path]:
    """Read the saved results, write report.md (+ plots/*.png) and report.html to out_dir; return their paths.
    `review_db` (a review store URL or file) adds the judge-vs-clinician agreement (amr_grpo.review)."""
    if not result_dirs:
        raise UserError("no results directories given", "amr-grpo report DIR [DIR ...] -o OUT")
    if labels is not None and len(labels) != len(result_dirs):
        raise UserError(f"--labels has {len(labels)} names for {len(result_dirs)} results directories")
    names = list(labels) if labels else _default_labels([Path(d) for d in result_dirs])
    runs = [load_run(d, name) for d, name in zip(result_dirs, names)]
    log, warnings = read_train_log(train_log) if train_log else (None, [])
    blocks = build(runs, log, warnings)
    if review_db is not None:
        from amr_grpo.review.agreement_report import report_section

        blocks[-1:-1] = report_section(review_db)  # before the closing notice
    out = Path(out_dir)
    md, files = render_markdown(blocks)
    for rel, data in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "report.html").write_text(render_html(blocks), encoding="utf-8")
    return {"markdown": out / "report.md", "html": out / "report.html"}


def _default_labels(dirs: Sequence[Path]) -> list[str]:
    """Directory names; where two runs share a name, parent/name."""
    names = [d.resolve().name for d in dirs]
    return [f"{d.resolve().parent.name}/{n}" if names.count(n) > 1 else n for d, n in zip(dirs, names)]
