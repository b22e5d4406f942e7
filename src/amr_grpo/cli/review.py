"""`amr-grpo review ...`: the clinician-review loop (thin wrappers over amr_grpo.review).

  export     sample outputs for review -> DIR/review.html, labels.csv, items.jsonl, key.json
  import     a filled labels.csv -> the review database
  agreement  judge-vs-clinician and clinician-vs-clinician agreement -> agreement.json/.md/.html
  to-cases   reviewed items -> a cases JSONL that `amr-grpo prepare` reads
  migrate    create or upgrade the review database's schema now (it also happens on first use)
The web form for reviewers is `amr-grpo serve --review DIR`. Research tool, not for clinical use.
Try it: amr-grpo review export data/cases.jsonl -n 30 -o runs/review
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from amr_grpo import NOTICE
from amr_grpo.cli.common import check_output_file, console, user_errors

DB_HELP = ("Review database: a URL (sqlite:///FILE, postgresql+psycopg://USER:PASSWORD@HOST/DB), a SQLite file, or a "
           "review directory (its review.sqlite). Default: $AMR_GRPO_DATABASE_URL")
Db = Annotated[str | None, typer.Option("--db", help=DB_HELP)]

app = typer.Typer(name="review", no_args_is_help=True, add_completion=False,
                  help="Clinician review: export outputs for review, import labels, measure judge-vs-clinician "
                       "agreement, turn corrections into cases. Research tool, not for clinical use.")


@app.command("export")
@user_errors
def export_cmd(
    input: Annotated[Path, typer.Argument(help="An `amr-grpo evaluate` run dir, a JSONL of evaluation requests "
                                               "(with verdicts), an `amr-grpo judge` output (with --requests), or "
                                               "a cases file that `prepare` reads (its reference validations are "
                                               "reviewed).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Directory for review.html, labels.csv, items.jsonl, "
                                                          "key.json.")],
    n: Annotated[int, typer.Option("-n", help="Items to sample.")] = 50,
    seed: Annotated[int, typer.Option(help="Sampling seed: the same input and seed give the same items.")] = 0,
    show_scores: Annotated[bool, typer.Option("--show-scores", help="Show the judges' scores to reviewers "
                                                                     "(hidden by default: they anchor).")] = False,
    requests: Annotated[Path | None, typer.Option(help="The requests JSONL an `amr-grpo judge` output INPUT "
                                                       "scored.")] = None,
    also: Annotated[list[Path] | None, typer.Option(help="Another judge's verdicts on the same outputs (an "
                                                         "evaluate --outputs run dir, or a judge output file); "
                                                         "repeatable.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the review files in DIR.")] = False,
) -> None:
    """Sample N outputs (stratified by decision and judge score, or decision and scenario for cases), blinded,
    for clinicians to rate. Give reviewers review.html or labels.csv, or serve them with
    `amr-grpo serve --review DIR`; keep key.json to yourself."""
    from amr_grpo.review.export import export

    r = export(input, out, n, seed=seed, show_scores=show_scores, requests=requests, also=also, force=force)
    if r.n_items < n:
        console.print(f"[yellow]warning:[/] only {r.available} outputs to sample from; took all of them",
                      highlight=False)
    strata = ", ".join(f"{k}: {v}" for k, v in r.strata.items())
    console.print(f"export {r.export_id}: {r.n_items} of {r.available} items ({strata})", highlight=False)
    console.print(f"wrote {r.out_dir}/review.html, labels.csv, items.jsonl and key.json (keep key.json from the "
                  f"reviewers). {NOTICE}", highlight=False)


@app.command("import")
@user_errors
def import_cmd(
    labels: Annotated[Path, typer.Argument(help="A filled labels.csv (the export's template or review.html's "
                                                "download).")],
    db: Db = None,
    review_dir: Annotated[Path | None, typer.Option(help="The review directory the labels belong to (default: the "
                                                         "CSV's directory, when it holds key.json).")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the valid rows and report the "
                                                                      "others (default: any bad row -> nothing is "
                                                                      "written).")] = False,
) -> None:
    """Check every row, then store the labels (default database: review.sqlite in the review directory). A bad row
    is FILE:LINE: field 'x': problem. Importing the same file again changes nothing."""
    from amr_grpo.review.labels_csv import import_labels
    from amr_grpo.review.store import Store, resolve_url

    rdir = review_dir or labels.parent
    store = Store.open(resolve_url(db, rdir))
    try:
        r = import_labels(labels, store, review_dir, skip_invalid=skip_invalid)
    finally:
        store.close()
    for line in r.invalid:
        console.print(f"skipped {line}", highlight=False, markup=False)
    console.print(f"{store.url}: {r.inserted} new, {r.updated} changed, {r.unchanged} unchanged labels; "
                  f"{r.empty} empty rows, {len(r.invalid)} problems skipped; {r.items_registered} items registered",
                  highlight=False, markup=False)


@app.command("agreement")
@user_errors
def agreement_cmd(
    out: Annotated[Path, typer.Option("-o", "--out", help="Directory for agreement.json, agreement.md, "
                                                          "agreement.html.")],
    db: Db = None,
    export_id: Annotated[str | None, typer.Option(help="Only this export's items (default: every label).")] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Agreement of each judge with the clinicians (quadratic kappa, Spearman, exact, within 1, decisions) and of
    the clinicians with each other (Krippendorff's alpha), with bootstrap intervals."""
    from amr_grpo.review.agreement_report import write_agreement

    if n_boot < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--n-boot")
    paths = write_agreement(db, out, export_id=export_id, n_boot=n_boot, seed=seed)
    console.print(f"wrote {paths['json']}, {paths['markdown']} and {paths['html']}. {NOTICE}", highlight=False)


@app.command("to-cases")
@user_errors
def to_cases_cmd(
    out: Annotated[Path, typer.Option("-o", "--out", help="Cases JSONL to write (read it with amr-grpo prepare).")],
    db: Db = None,
    export_id: Annotated[str | None, typer.Option(help="Only this export's items.")] = None,
    reviewer: Annotated[str | None, typer.Option(help="Only this reviewer's labels.")] = None,
) -> None:
    """Reviewed items with the clinician's decision, regimen and comment -> cases for `amr-grpo prepare`."""
    from amr_grpo.review.store import Store, resolve_url
    from amr_grpo.review.to_cases import to_cases

    check_output_file(out)
    store = Store.open(resolve_url(db))
    try:
        r = to_cases(store, out, export_id=export_id, reviewer=reviewer)
    finally:
        store.close()
    console.print(f"wrote {r.written} cases to {out}; {r.no_decision} reviewed items had no decision; "
                  f"{len(r.disagreements)} left out because clinicians disagree on the decision"
                  + (f" ({', '.join(r.disagreements[:10])})" if r.disagreements else ""), highlight=False)
    console.print(f"next: amr-grpo prepare {out} -o DIR. {NOTICE}", highlight=False)


@app.command("migrate")
@user_errors
def migrate_cmd(db: Db = None) -> None:
    """Create or upgrade the review database schema (alembic) and print its revision."""
    from amr_grpo.review.store import Store, resolve_url

    store = Store.open(resolve_url(db))
    try:
        console.print(f"{store.url}: schema at revision {store.migrate()}", highlight=False)
    finally:
        store.close()


def register(root: typer.Typer) -> None:
    root.add_typer(app)
