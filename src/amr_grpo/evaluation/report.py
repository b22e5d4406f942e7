"""Evaluation results (and a training metrics log) -> report.md, a self-contained report.html, every table as
CSV and LaTeX, every plot as PNG, SVG and PDF.

A pure function of saved files: reads each RESULTS_DIR's results.jsonl (the numbers are recomputed from the rows
with amr_grpo.evaluation.summary, so the report never disagrees with them) and summary.json (run details, judge ledger),
plus the training metrics JSONL; imports nothing from training or torch. Any number of runs side by side: base vs
trained, rules judge vs LLM judge on the same outputs. What it says: warnings first (runs over different cases
or splits, a model that gives one decision for 90% of cases, an interrupted run), per-metric scores with 95% CIs,
a paired bootstrap test of each run against the first on the cases they share, decisions against the
majority-class baseline with per-class precision / recall / F1, confusion matrices side by side, the training
curves with reference lines (e.g. the best content-free output's reward), and the best and worst outputs per run.
Try it: amr-grpo report runs/eval-base runs/eval-trained --train-log runs/train/metrics.jsonl -o runs/report
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amr_grpo.evaluation import report_plots as plots
from amr_grpo.errors import UserError
from amr_grpo.metrics import METRIC_KEYS, get_metric
from amr_grpo.evaluation.report_checks import Baseline, read_baselines, warnings_for
from amr_grpo.evaluation.report_render import Block, render_html, render_markdown
from amr_grpo.evaluation.summary import DECISIONS, paired_bootstrap, read_results, summarize

__all__ = ["Baseline", "Block", "Run", "build", "load_run", "read_baselines", "write_report"]

NOTICE = ("Research tool, not for clinical use: these scores measure agreement with a rubric and a guideline "
          "knowledge base, not patient outcomes. Do not use this model's validations to treat patients.")
EXAMPLES = 2  # best and worst outputs shown per run


@dataclass
class Run:
    label: str
    path: Path
    rows: list[dict[str, Any]]
    summary: dict[str, Any]  # recomputed from rows
    meta: dict[str, Any] = field(default_factory=dict)  # summary.json as saved (model, split, judge, ledger)


def load_run(path: str | Path, label: str | None = None) -> Run:
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"{p}: not a results directory", "give directories written by `amr-grpo evaluate -o DIR`")
    rows = read_results(p / "results.jsonl")
    if not rows:
        raise UserError(f"{p / 'results.jsonl'}: no rows", "the evaluation wrote nothing; run it again")
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
        raise UserError(f"{p}: no such training log", "train writes metrics.jsonl in its output directory")
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
    return Block("table", header=["run", "model", "split", "judge", "cases", "results"], rows=rows, name="runs")


def _metric_table(runs: Sequence[Run], baselines: Sequence[Baseline]) -> Block:
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
    for b in baselines:  # a reference, not a run: the same value in every run's column
        rows.append([f"reference: {b.label}", "", *[f"{b.value:.3f}"] * len(runs), *([""] if len(runs) > 1 else [])])
    return Block("table", header=header, rows=rows, name="scores")


def _paired_table(runs: Sequence[Run]) -> Block:
    """Each later run minus the first on the cases both scored: mean difference, its paired bootstrap SE and the
    difference in SEs (a gain of more than 2-3 SE is one the cases' resampling rarely undoes), 95% CI, p, n."""
    first = {r["id"]: r for r in runs[0].rows}
    header = ["measure"]
    for run in runs[1:]:
        header += [f"{run.label} - {runs[0].label}", "SE (x SE)", "95% CI", "p", "n"]
    measures = [(get_metric(k).name, lambda r, k=k: (r["scores"].get(k) or {}).get("score"), 2) for k in METRIC_KEYS]
    measures += [("Weighted reward", lambda r: r.get("weighted_reward"), 3),
                 ("Decision correct (0/1)", lambda r: None if r.get("gold_decision") not in DECISIONS
                  else float(r.get("decision") == r["gold_decision"]), 3)]
    rows = []
    for name, value, digits in measures:
        row = [name]
        for run in runs[1:]:
            pairs = [(value(first[r["id"]]), value(r)) for r in run.rows if r["id"] in first]
            t = paired_bootstrap([a for a, _ in pairs], [b for _, b in pairs])
            if t["n"] == 0:
                row += ["n/a", "", "", "", "0"]
                continue
            lo, hi = t["ci95"]
            ratio = f" ({t['mean_diff'] / t['se']:+.1f})" if t["se"] else ""
            row += [f"{t['mean_diff']:+.{digits}f}", f"{t['se']:.{digits + 1}f}{ratio}",
                    f"[{lo:+.{digits}f}, {hi:+.{digits}f}]", _p(t["p"]), str(t["n"])]
        rows.append(row)
    return Block("table", header=header, rows=rows, name="paired-test")


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _decision_table(runs: Sequence[Run]) -> Block:
    rows = []
    for r in runs:
        s, d = r.summary, r.summary["decisions"]
        base, top = d["majority_baseline"], d["top_prediction"]
        rows.append([r.label, _stat(s["decision_accuracy"]), _fmt(d["macro_f1"]),
                     f"{_fmt(base['accuracy'])} / {_fmt(base['macro_f1'])} (always {base['decision']})" if base
                     else "n/a", f"{top['decision']} {top['share']:.0%}" if top else "n/a",
                     str(s["decision_accuracy"]["n"]), _fmt(s["parse_failure_rate"]), str(s["judge_failures"]),
                     _fmt(s["mean_output_tokens"], 1), _fmt(s["length_reward_correlation"])])
    return Block("table", name="decisions", rows=rows, header=[
        "run", "decision accuracy [95% CI]", "macro-F1", "majority-class baseline: accuracy / macro-F1",
        "most frequent prediction", "with gold decision", "parse failure rate", "judge failures",
        "mean output tokens", "corr(length, reward)"])


def _class_table(runs: Sequence[Run]) -> Block:
    rows = []
    for r in runs:
        for d in DECISIONS:
            c = r.summary["decisions"]["per_class"][d]
            rows.append([r.label, d, _fmt(c["precision"]), _fmt(c["recall"]), _fmt(c["f1"]), str(c["support"]),
                         str(c["predicted"])])
    return Block("table", name="decision-classes", rows=rows,
                 header=["run", "decision", "precision", "recall", "F1", "gold cases", "predicted"])


def _confusion_table(runs: Sequence[Run]) -> Block:
    """The runs' gold x predicted matrices side by side: one row per gold decision, one column group per run."""
    cols = runs[0].summary["confusion_matrix"]["predicted"]
    header = ["gold"] + [f"{r.label}: pred {p}" for r in runs for p in cols]
    rows = [[g] + [str(n) for r in runs for n in r.summary["confusion_matrix"]["counts"][i]]
            for i, g in enumerate(DECISIONS)]
    return Block("table", header=header, rows=rows, name="confusion")


def _ledger_table(runs: Sequence[Run]) -> Block | None:
    """Scalar entries of each run's judge ledger (calls, tokens, cache hits, failures, cost), side by side."""
    ledgers = [r.meta.get("judge_ledger") or {} for r in runs]
    keys = list(dict.fromkeys(k for led in ledgers for k, v in led.items() if isinstance(v, (int, float, str))))
    if not keys:
        return None
    rows = [[k, *[str(led.get(k, "")) for led in ledgers]] for k in keys]
    return Block("table", header=["judge ledger", *[r.label for r in runs]], rows=rows, name="judge-ledger")


def _endpoint_table(runs: Sequence[Run]) -> Block | None:
    """Each judge endpoint of each run's ledger (keys, servers): its model, calls, tokens, failed calls by kind and
    quota state as last seen; None when no run's ledger has endpoints (the rules judge has none)."""
    rows = []
    for r in runs:
        endpoints = (r.meta.get("judge_ledger") or {}).get("endpoints")
        for name, e in (endpoints.items() if isinstance(endpoints, dict) else []):
            errors = {k: v for k, v in (e.get("call_errors") or {}).items() if v}
            failed = f"{sum(errors.values())} ({', '.join(f'{k} {v}' for k, v in sorted(errors.items()))})"
            tokens = int(e.get("prompt_tokens") or 0) + int(e.get("completion_tokens") or 0)
            rows.append([r.label, str(name), str(e.get("model", "")), f"{int(e.get('calls') or 0):,}", f"{tokens:,}",
                         failed if errors else "0", str(e.get("state", ""))])
    return Block("table", header=["run", "endpoint", "model", "calls", "tokens", "failed calls", "quota state"],
                 rows=rows, name="judge-endpoints") if rows else None


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
    return Block("table", header=header, rows=rows, name="judge-agreement")


def _training_blocks(log: list[dict[str, Any]], warnings: list[str], baselines: Sequence[Baseline]) -> list[Block]:
    blocks = [Block("h2", "Training")]
    lines = [(b.label, b.value) for b in baselines]
    fig = plots.training_curves(log, lines)
    if fig is None:
        blocks.append(Block("p", "The training log has no `reward` or `rewards/<metric>/mean` entries."))
    else:
        blocks.append(Block("figure", "Reward over training steps", figure=fig, name="training-reward"))
        per_metric = plots.metric_curves(log)
        if per_metric:
            blocks.append(Block("figure", "Reward per metric over training steps", figure=per_metric,
                                name="training-reward-per-metric"))
        steps = [r for r in log if "step" in r]
        keys = [k for k in ["judge/weighted_reward", "reward", *plots.metric_reward_keys(log)]
                if any(k in r for r in steps)]
        first = {k: next((r[k] for r in steps if k in r), None) for k in keys}
        last = {k: next((r[k] for r in reversed(steps) if k in r), None) for k in keys}
        rows = [[k, _fmt(first[k], 3), _fmt(last[k], 3)] for k in keys]
        blocks.append(Block("table", header=["logged value", "first step", "last step"], rows=rows, name="training"))
    blocks += [Block("p", w) for w in warnings]
    return blocks


def _case_text(prompt: Any) -> str:
    """The case as the policy read it: the last user message of a chat prompt, or the text prompt."""
    if isinstance(prompt, list):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users else json.dumps(prompt, ensure_ascii=False)
    return str(prompt)


def _examples(run: Run, k: int) -> list[Block]:
    """The k best and k worst scored outputs of a run (by weighted reward; ties by id), each with its case,
    its output and every metric's score and justification."""
    scored = sorted((r for r in run.rows if r.get("weighted_reward") is not None),
                    key=lambda r: (-r["weighted_reward"], r["id"]))
    best = scored[:k]
    worst = [r for r in reversed(scored) if r not in best][:k]
    blocks = []
    for kind, chosen in (("best", best), ("worst", worst)):
        for i, r in enumerate(chosen, 1):
            blocks += [
                Block("h3", f"{run.label}, {kind} {i}: {r['id']} (weighted reward {r['weighted_reward']:.3f}; "
                            f"gold {r.get('gold_decision') or 'n/a'}, predicted {r.get('decision') or 'unparsed'})"),
                Block("p", "Case:"), Block("pre", _case_text(r.get("prompt", ""))),
                Block("p", "Output:"), Block("pre", r["output"]),
                Block("table", header=["metric", "score", "justification"],
                      rows=[[get_metric(m).name if m in METRIC_KEYS else m, f"{s['score']}/5",
                             str(s.get("justification", ""))] for m, s in r["scores"].items()])]
    return blocks


def build(runs: Sequence[Run], train_log: list[dict[str, Any]] | None = None, log_warnings: Sequence[str] = (),
          baselines: Sequence[Baseline] = (), examples: int = EXAMPLES, sections: Sequence[Block] = ()) -> list[Block]:
    """The report as blocks, in reading order. `sections` are extra blocks (e.g. a review summary) placed
    before the closing notice."""
    labels, lines = [r.label for r in runs], [(b.label, b.value) for b in baselines]
    b = [Block("h1", "amr-grpo evaluation report"), Block("notice", NOTICE)]
    b += [Block("warning", w) for w in warnings_for(runs)]
    b += [Block("h2", "Runs"), _runs_table(runs), Block("h2", "Score per metric"),
          Block("p", "Mean judge score (1-5) with a 95% percentile-bootstrap interval (2000 resamples); outputs "
                     "the judge could not score are left out, not counted as 0. Weighted reward = sum(w * score/5) "
                     "/ sum(w), with its bootstrap standard error (SE). Reference rows are weighted rewards given "
                     "with --baseline (e.g. the best content-free output: a trained model should clear it)."),
          _metric_table(runs, baselines),
          Block("figure", "Score per metric", figure=plots.metric_bars(labels, [r.summary for r in runs], lines),
                name="score-per-metric")]
    if len(runs) > 1:
        b += [Block("h2", f"Paired comparison with {runs[0].label}"),
              Block("p", "On the cases both runs scored: the mean difference (later run minus first), its "
                         "paired-bootstrap standard error (in brackets: the difference in SEs), its 95% "
                         "paired-bootstrap interval (cases resampled together, 2000 resamples) and a two-sided "
                         "bootstrap p-value; n is the number of shared cases."),
              _paired_table(runs)]
    b += [Block("h2", "Decisions"),
          Block("p", "Decision accuracy against the majority-class baseline (always the most frequent gold "
                     "decision): a model that beats it only by a few points has not learned to decide. Macro-F1 "
                     "averages the per-class F1 below; an unreadable decision counts as wrong."),
          _decision_table(runs), _class_table(runs), _confusion_table(runs),
          Block("figure", "Confusion matrices", figure=plots.confusion_matrices(labels, [r.summary for r in runs]),
                name="confusion-matrices"),
          Block("h2", "Output length and reward"),
          Block("p", "Verbosity-hacking check: if reward rises with output length and lengths grow after training, "
                     "the policy may be padding its answers to please the judge."),
          Block("figure", "Output length vs reward", figure=plots.length_vs_reward(labels, [r.rows for r in runs]),
                name="length-vs-reward")]
    if train_log is not None:
        b += _training_blocks(train_log, list(log_warnings), baselines)
    agreement = _agreement_table(runs) if len(runs) > 1 else None
    if agreement:
        b += [Block("h2", "Judge agreement on the same outputs"),
              Block("p", "Runs that scored exactly the same outputs as the first run (e.g. another judge with "
                         "`amr-grpo evaluate --outputs`): exact score agreement and mean absolute score difference."),
              agreement]
    if examples > 0:
        b.append(Block("h2", "Example outputs"))
        for run in runs:
            b += _examples(run, examples)
    ledger, endpoints = _ledger_table(runs), _endpoint_table(runs)
    if ledger or endpoints:
        b += [Block("h2", "Judge ledger"), *[t for t in (ledger, endpoints) if t is not None]]
    b += list(sections)
    b.append(Block("notice", NOTICE))
    return b


def write_report(result_dirs: Sequence[str | Path], out_dir: str | Path, train_log: str | Path | None = None,
                 labels: Sequence[str] | None = None, baselines: Sequence[Baseline] = (), examples: int = EXAMPLES,
                 sections: Sequence[Block] = (), review_db: str | None = None) -> dict[str, Path]:
    """Read the saved results, write report.md (+ plots/, tables/) and report.html to out_dir; return the paths.
    `review_db` (a review store URL or file) adds the judge-vs-clinician agreement (amr_grpo.review)."""
    if not result_dirs:
        raise UserError("no results directories given", "amr-grpo report DIR [DIR ...] -o OUT")
    if labels is not None and len(labels) != len(result_dirs):
        raise UserError(f"--labels has {len(labels)} names for {len(result_dirs)} results directories")
    if examples < 0:
        raise UserError(f"--examples must be 0 or more, got {examples}")
    names = list(labels) if labels else _default_labels([Path(d) for d in result_dirs])
    if len(set(names)) != len(names):
        raise UserError(f"run labels must differ, got {', '.join(names)}", "name them with --labels a,b,...")
    runs = [load_run(d, name) for d, name in zip(result_dirs, names)]
    log, warnings = read_train_log(train_log) if train_log else (None, [])
    if review_db is not None:
        from amr_grpo.review.agreement_report import report_section  # only with a review database: SQLAlchemy

        sections = [*sections, *report_section(review_db)]
    blocks = build(runs, log, warnings, baselines, examples, sections)
    out = Path(out_dir)
    md, files = render_markdown(blocks)
    for rel, data in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "report.html").write_text(render_html(blocks), encoding="utf-8")
    return {"markdown": out / "report.md", "html": out / "report.html", "plots": out / "plots",
            "tables": out / "tables"}


def _default_labels(dirs: Sequence[Path]) -> list[str]:
    """Directory names; where two runs share a name, parent/name."""
    names = [d.resolve().name for d in dirs]
    return [f"{d.resolve().parent.name}/{n}" if names.count(n) > 1 else n for d, n in zip(dirs, names)]

