"""CLI: `amr-grpo judge`: score a JSONL file of evaluation requests (thin wrapper over amr_grpo.judge.batch).

Research tool, not for clinical use.
Try it: amr-grpo judge --input tests/data/judge_requests.jsonl --judge rules --metrics all -o /tmp/out.jsonl
        amr-grpo judge --input FILE.jsonl --judge openai --dry-run
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from amr_grpo import NOTICE
from amr_grpo.cli.common import (
    Judge,
    JudgeBaseUrl,
    JudgeConfigFile,
    JudgeModel,
    JudgeSet,
    NoProbe,
    OldBackend,
    OldBaseUrl,
    OldConfig,
    OldModel,
    OldSet,
    check_output_file,
    console,
    fail,
    renamed,
    user_errors,
)


def judge_cmd(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            "-i",
            help='JSONL, one request per line: {"patient_case": text or object, "model_output": text, '
            '"ground_truth": text or object (optional), "metrics": "priority" | "all" | a list of keys (optional), '
            '"id": your id (optional), "meta": {anything} (optional)}; id and meta are echoed in the output.',
        ),
    ],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output JSONL, one response per line.")] = None,
    judge: Judge = None,
    judge_config: JudgeConfigFile = None,
    judge_model: JudgeModel = None,
    judge_base_url: JudgeBaseUrl = None,
    judge_set: JudgeSet = None,
    metrics: Annotated[
        str | None, typer.Option(help="priority | all | comma-separated keys, for lines without their own 'metrics'.")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="Evaluations in flight at once.")] = None,
    budget: Annotated[
        str | None,
        typer.Option(
            help="Cap the run: '200' calls or '50k tokens'; the rest fall back "
            "to rules or fail, as judge.quota_fallback says."
        ),
    ] = None,
    cache: Annotated[Path | None, typer.Option(help="SQLite verdict cache file.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the verdict cache.")] = False,
    group: Annotated[bool, typer.Option("--group", help="Score completions of the same case in one call.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the calls, tokens and cost; call nothing.")] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Keep the lines already scored in --output; score only the rest.")
    ] = False,
    no_probe: NoProbe = False,
    backend: OldBackend = None,
    model: OldModel = None,
    base_url: OldBaseUrl = None,
    config: OldConfig = None,
    set_: OldSet = None,
) -> None:
    """Score validations with the rubric judge; write one response per input line, the ledger beside it.

    Results are written as they finish: Ctrl-C keeps them, and --resume scores only what is left.
    Research tool, not for clinical use.

    Example: amr-grpo judge -i tests/data/judge_requests.jsonl --judge rules -o out.jsonl"""
    from amr_grpo.judge import build_engine, estimate_cost, probe
    from amr_grpo.judge.batch import judge_file, parse_budget, read_requests
    from amr_grpo.judge.config import load_judge_config
    from amr_grpo.metrics import resolve_metrics

    given: dict[str, Any] = {
        "backend": renamed(judge, backend, "--backend", "--judge"),
        "model": renamed(judge_model, model, "--model", "--judge-model"),
        "base_url": renamed(judge_base_url, base_url, "--base-url", "--judge-base-url"),
        "concurrency": concurrency,
        "metrics": metrics,
        "cache_path": str(cache) if cache else None,
        "group_mode": group or None,
    }
    if budget is not None:
        given["budget_calls"], given["budget_tokens"] = parse_budget(budget)
    overrides = renamed(judge_set, set_, "--set", "--judge-set") or []
    cfg = load_judge_config(renamed(judge_config, config, "--config", "--judge-config"), overrides, **given)
    if no_cache:
        cfg = dataclasses.replace(cfg, cache_path=None)
    if cache is not None and cfg.backend == "rules":
        console.print(f"note: the rules judge is deterministic and free; it keeps no cache (--cache {cache} ignored)",
                      highlight=False, markup=False)
    try:  # once, here: else every line without its own metrics would be reported bad for the same typo
        resolve_metrics(cfg.metrics)
    except ValueError as e:
        raise fail(str(e), "--metrics priority | all | a comma list of metric keys") from None
    if output is not None:
        check_output_file(output, "--output")
    lines = read_requests(input, default_metrics=cfg.metrics)
    for ln in lines:
        if ln.error:
            console.print(ln.error, highlight=False, soft_wrap=True, markup=False)
    reqs = [ln.request for ln in lines if ln.request is not None]

    if dry_run:
        _print_estimate(estimate_cost(reqs, cfg), len(lines) - len(reqs))
        return
    if output is None:
        raise fail("--output is required (or use --dry-run)")
    if not no_probe:
        probe(cfg)
    engine = build_engine(cfg)
    with Progress(
        TextColumn("judging"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as bar:
        task = bar.add_task("judge", total=len(reqs))
        run = judge_file(
            lines, output, engine, group=cfg.group_mode, progress=lambda n: bar.advance(task, n), resume=resume
        )
    if run.resumed:
        console.print(f"resumed: {run.resumed} lines already scored in {output} were kept", highlight=False)
    if run.interrupted:
        console.print(
            f"interrupted: {run.written} of {len(lines)} lines are in {output} ({len(lines) - run.written} not "
            f"scored yet); the ledger "
            f"is in {run.ledger_path}. Run the same command with --resume to score the rest.",
            highlight=False, markup=False,
        )
        raise typer.Exit(130)
    for ln, err in run.failed:
        console.print(f"{input}:{ln.number}: could not score ({err.kind}): {err}", highlight=False, markup=False)
    _print_summary(run.summary(), run.ledger)
    console.print(f"wrote {run.output} and {run.ledger_path}. {NOTICE}", highlight=False)
    if not run.ok:
        raise typer.Exit(1)


def _print_estimate(est: dict[str, Any], bad: int) -> None:
    t = Table(title=f"dry run: {est['backend']} judge (nothing was called)")
    t.add_column("what")
    t.add_column("value", justify="right")
    for label, key in (
        ("evaluations", "evaluations"),
        ("already cached", "cached"),
        ("API calls", "calls"),
        ("naive calls (1 per metric)", "naive_calls"),
        ("prompt tokens", "prompt_tokens"),
        ("completion tokens", "completion_tokens"),
    ):
        t.add_row(label, f"{est[key]:,}")
    t.add_row("estimated cost (USD)", f"{est['estimated_cost_usd']:.4f}")
    if bad:
        t.add_row("bad lines (not scored)", str(bad))
    console.print(t)
    if len(est["endpoints"]) > 1:
        for e in est["endpoints"]:
            quotas = ", ".join(f"{k} {e[k]:g}" for k in ("rpm", "tpm", "rpd", "tpd") if e[k])
            console.print(f"endpoint {e['name']}: {e['model']}, key ${e['api_key_env']}; {quotas or 'no quotas'}",
                          highlight=False, markup=False)
    for w in est["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    console.print(NOTICE)


def _print_summary(s: dict[str, Any], ledger: dict[str, Any]) -> None:
    t = Table(title=f"{s['scored']} of {s['lines']} lines scored")
    t.add_column("metric")
    t.add_column("mean score (1-5)", justify="right")
    for k, m in s["metric_means"].items():
        t.add_row(k, f"{m:.2f}")
    console.print(t)
    d = s["weighted_reward"]
    if d:
        console.print(
            f"weighted reward: mean {d['mean']:.3f}, min {d['min']:.3f}, p25 {d['p25']:.3f}, median "
            f"{d['median']:.3f}, p75 {d['p75']:.3f}, max {d['max']:.3f}",
            highlight=False,
        )
    failed = s["could_not_score"]
    console.print(
        f"bad lines {s['bad_lines']}; could not score {sum(failed.values())} {failed or ''}; "
        f"injection suspected {s['injection_suspected']}; critical errors {s['critical_error']}; "
        f"cases unread {s['case_unread']}; "
        f"verdicts by backend {s['by_backend']}",
        highlight=False,
    )
    console.print(
        f"judge: {ledger['calls']} calls (naive {ledger['naive_calls']}), {ledger['cache_hits']} cache hits, "
        f"{ledger['retries']} retries, {ledger['prompt_tokens'] + ledger['completion_tokens']:,} tokens, "
        f"~${ledger['estimated_cost_usd']:.4f}",
        highlight=False,
    )
    endpoints = ledger.get("endpoints") or {}
    if len(endpoints) > 1 or any(e["state"] != "ok" for e in endpoints.values()):
        for name, e in endpoints.items():
            errors = f", errors {e['call_errors']}" if e["call_errors"] else ""
            console.print(
                f"  endpoint {name} ({e['model']}): {e['calls']} calls, "
                f"{e['prompt_tokens'] + e['completion_tokens']:,} tokens{errors}; {e['state']}",
                highlight=False, markup=False,
            )


def register(app: typer.Typer) -> None:
    app.command("judge")(user_errors(judge_cmd))
