"""The agreement as files: agreement.json, agreement.md (+ plots/) and a self-contained agreement.html, and the
same section for `amr-grpo report --review-db URL`. The Markdown and HTML are rendered by amr_grpo.evaluation.report.
Try it: amr-grpo review agreement --db runs/review/review.sqlite -o runs/review/agreement
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.review.agreement import NOTICE, compute
from amr_grpo.review.store import Store, resolve_url

METHOD = ("Judge vs clinician: every clinician label paired with the judge's score of the same item. Kappa = Cohen's "
          "kappa with quadratic weights on the 1-5 scale (1 perfect, 0 chance); Spearman = rank correlation; exact / "
          "within 1 = share of pairs with equal scores / scores at most 1 apart. The weighted reward is compared with "
          "the same formula over the clinician's scores (Spearman on the rewards; kappa, exact and within 1 on "
          "round(5 x reward)). Clinicians with each other: Krippendorff's alpha on items rated by two or more. "
          "Brackets: 95% percentile bootstrap over items.")


def _ci(stat: dict[str, Any] | None, pct: bool = False) -> str:
    if not stat or stat.get("value") is None:
        return "n/a"
    f = (lambda x: f"{100 * x:.0f}%") if pct else (lambda x: f"{x:.2f}")
    ci = stat.get("ci95")
    return f"{f(stat['value'])} [{f(ci[0])}, {f(ci[1])}]" if ci else f(stat["value"])


def blocks(result: dict[str, Any]) -> list[Any]:
    """The agreement as report blocks (headings, tables, the plot)."""
    from amr_grpo.evaluation.report import Block  # the report's renderers load matplotlib: only when writing

    c = result["counts"]
    out = [Block("h2", "Clinician review: judge-vs-clinician agreement"),
           Block("p", f"{c['labels']} labels by {len(c['reviewers'])} clinician(s) ({', '.join(c['reviewers'])}) on "
                      f"{c['items_labelled']} of {c['items']} items. {METHOD}"),
           Block("notice", NOTICE)]
    if not c["labels"]:
        return out + [Block("p", "No labels yet: nothing to compare.")]
    header = ["metric", "pairs", "kappa (quadratic)", "Spearman", "exact", "within 1", "mean judge", "mean clinician"]
    for judge, res in result["judges"].items():
        rows = []
        for key, s in [*res["metrics"].items(), ("weighted_reward", res["weighted_reward"])]:
            rows.append([key, str(s["n_pairs"]), _ci(s.get("kappa_quadratic")), _ci(s.get("spearman")),
                         _ci(s.get("exact"), True), _ci(s.get("within_1"), True),
                         f"{s['mean_judge']:.2f}" if s.get("mean_judge") is not None else "n/a",
                         f"{s['mean_clinician']:.2f}" if s.get("mean_clinician") is not None else "n/a"])
        out += [Block("p", f"Judge `{judge}` vs clinicians"), Block("table", header=header, rows=rows)]
    d = result["decision"]
    out += [Block("p", "Decision: the clinician's decision against the decision the judges reward (reference) and "
                       "against the reviewed output's own decision."),
            Block("table", header=["compared with", "pairs", "kappa", "exact"],
                  rows=[[name, str(s["n_pairs"]), _ci(s.get("kappa")), _ci(s.get("exact"), True)]
                        for name, s in d.items()])]
    cl = result["clinicians"]
    if cl["n_items"]:
        rows = [[k, cl[k]["level"], str(cl[k]["n_ratings"]), _ci(cl[k]["alpha"])]
                for k in (*METRIC_KEYS, "decision", "weighted_reward")]
        out += [Block("p", f"Clinicians with each other: {cl['n_items']} items rated by two or more of "
                           f"{', '.join(cl['reviewers'])}."),
                Block("table", header=["what", "alpha level", "ratings", "Krippendorff's alpha"], rows=rows)]
    else:
        out.append(Block("p", "Clinicians with each other: no item was rated by two clinicians yet."))
    figure = plot(result)
    if figure:
        out.append(Block("figure", "Judge-clinician agreement per metric", name="agreement", figure=figure))
    return out


def plot(result: dict[str, Any]) -> dict[str, bytes] | None:
    """Quadratic kappa per metric (and weighted reward) with its interval: one marker series per judge, plus the
    clinicians' alpha when two rated the same items."""
    import matplotlib.pyplot as plt

    from amr_grpo.evaluation.report_plots import render_figure  # Agg backend, PNG + SVG + PDF as every report figure

    keys = [*METRIC_KEYS, "weighted_reward"]
    series = [(f"judge {j}", [*r["metrics"].values(), r["weighted_reward"]], "kappa_quadratic")
              for j, r in result["judges"].items()]
    if result["clinicians"]["n_items"]:
        series.append(("clinicians (alpha)", [result["clinicians"][k] for k in keys], "alpha"))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(series)
    for s, (label, stats, name) in enumerate(series):
        xs, ys, lo, hi = [], [], [], []
        for i, st in enumerate(stats):
            v = (st or {}).get(name) or {}
            if v.get("value") is None:
                continue
            xs.append(i - 0.4 + width * (s + 0.5))
            ys.append(v["value"])
            ci = v.get("ci95") or [v["value"], v["value"]]
            lo.append(v["value"] - ci[0])
            hi.append(ci[1] - v["value"])
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=3, label=label)
    ax.axhline(0, color="#888", lw=0.8)
    ax.set_xticks(range(len(keys)), [k.replace("_", "\n") for k in keys], fontsize=8)
    ax.set(ylim=(-1.05, 1.05), ylabel="agreement (1 = perfect, 0 = chance)",
           title="Judge vs clinician (quadratic kappa) and clinician vs clinician (alpha), 95% bootstrap CI")
    ax.legend(fontsize=8, loc="lower left")
    return render_figure(fig)


def write_agreement(db: str | None, out_dir: str | Path, export_id: str | None = None, n_boot: int = 1000,
                    seed: int = 0) -> dict[str, Path]:
    """Compute the agreement from the review store; write agreement.json, agreement.md (+ plots/), agreement.html."""
    from amr_grpo.evaluation.report import Block, render_html, render_markdown

    store = Store.open(resolve_url(db))
    try:
        result = compute(store, export_id, n_boot, seed)
    finally:
        store.close()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = [Block("h1", "amr-grpo clinician review: agreement"), *blocks(result)]
    md, files = render_markdown(doc)
    for rel, data in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    (out / "agreement.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "agreement.md").write_text(md, encoding="utf-8")
    (out / "agreement.html").write_text(render_html(doc).replace(
        "<title>amr-grpo evaluation report</title>", "<title>amr-grpo clinician review: agreement</title>"),
                                        encoding="utf-8")
    return {"json": out / "agreement.json", "markdown": out / "agreement.md", "html": out / "agreement.html"}


def report_section(db: str) -> list[Any]:
    """The blocks `amr-grpo report --review-db URL` adds (the agreement over every label in the store)."""
    store = Store.open(resolve_url(db))
    try:
        return blocks(compute(store))
    finally:
        store.close()
