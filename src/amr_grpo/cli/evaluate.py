"""CLI: `amr-grpo evaluate`, `amr-grpo report`, `amr-grpo validate` (thin wrappers over evaluate.py,
report.py and validate.py). Research tool, not for clinical use.

Try it: amr-grpo evaluate --model assets/tiny-policy --data runs/main/data --judge rules -o runs/eval-base
        amr-grpo report runs/eval-base runs/eval-trained --labels base,trained -o runs/report
        amr-grpo validate --model assets/tiny-policy --text "28F, cystitis, ciprofloxacin 500 mg BD x 3 days"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from amr_grpo import NOTICE
from amr_grpo.cli.common import (
    Judge,
    JudgeBaseUrl,
    JudgeConfigFile,
    JudgeModel,
    JudgeSet,
    NoProbe,
    OldJudgeOpt,
    console,
    renamed,
    user_errors,
)
from amr_grpo.errors import UserError
from amr_grpo.judge.config import JUDGE_BACKENDS, JudgeBackend


Model = Annotated[str, typer.Option("--model", help="Model dir or hub id, merged, or a LoRA adapter dir (peft).")]
BaseModel = Annotated[str | None, typer.Option(help="Base model of a LoRA adapter (default: adapter_config.json's).")]
MaxNew = Annotated[int, typer.Option(help="Most tokens generated per validation.")]
Sample = Annotated[bool, typer.Option("--sample/--greedy", help="Sample instead of greedy decoding.")]
Temperature = Annotated[float, typer.Option(help="Sampling temperature (with --sample).")]
TopP = Annotated[float, typer.Option(help="Nucleus sampling top-p (with --sample).")]
Seed = Annotated[int, typer.Option(help="Random seed for sampling.")]


def evaluate_cmd(
    data: Annotated[Path, typer.Option(help="Prepared dataset dir (DIR/{train,val,test}.jsonl).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output dir for results.jsonl and summary.json.")],
    model: Annotated[str | None, typer.Option(help="Model dir / hub id, merged or a LoRA adapter dir.")] = None,
    split: Annotated[str, typer.Option(help="Which split: train, val or test.")] = "test",
    judge: Judge = None,
    judge_config: JudgeConfigFile = None,
    judge_model: JudgeModel = None,
    judge_base_url: JudgeBaseUrl = None,
    judge_set: JudgeSet = None,
    outputs: Annotated[Path | None, typer.Option(help="Rescore this results.jsonl's outputs, no generation.")] = None,
    base_model: BaseModel = None,
    max_samples: Annotated[int | None, typer.Option(help="Evaluate only the first N records.")] = None,
    batch_size: Annotated[int, typer.Option(help="Prompts per generation batch.")] = 8,
    max_new_tokens: MaxNew = 512,
    sample: Sample = False,
    temperature: Temperature = 1.0,
    top_p: TopP = 1.0,
    seed: Seed = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in OUT: skip the cases "
                                                          "already in its results.jsonl.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Start over even if OUT holds an interrupted run.")] = False,
    no_probe: NoProbe = False,
    judge_opt: OldJudgeOpt = None,
) -> None:
    """Generate validations for a dataset split and score them on all six metrics. Rows are written as each
    batch finishes; Ctrl-C keeps them and --resume continues. Research tool, not for clinical use."""
    from amr_grpo.evaluation.evaluate import EvaluationInterrupted, evaluate
    from amr_grpo.evaluation.generation import GenerationSettings

    gen = GenerationSettings(max_new_tokens=max_new_tokens, batch_size=batch_size, do_sample=sample,
                             temperature=temperature, top_p=top_p, seed=seed, progress=True)
    overrides = renamed(judge_set, judge_opt, "--judge-opt", "--judge-set")
    cfg = _judge_config(judge, judge_config, judge_model, judge_base_url, overrides, no_probe)
    try:
        s = evaluate(model, data, out, cfg, split=split, max_samples=max_samples, gen=gen, base_model=base_model,
                     outputs=outputs, resume=resume, force=force)
    except EvaluationInterrupted as e:
        console.print(f"[yellow]interrupted:[/] {e.kept} of {e.total} cases kept in {e.results}; "
                      "continue with the same command plus --resume", highlight=False)
        raise typer.Exit(130) from None
    wr, acc = s["weighted_reward"], s["decision_accuracy"]
    console.print(f"{s['n']} cases, judge {cfg.backend}: weighted reward {_ci(wr, 3)}, decision accuracy "
                  f"{_ci(acc, 2)}, parse failures {s['parse_failure_rate']:.2f}, judge failures {s['judge_failures']}",
                  highlight=False)
    console.print(f"wrote {out / 'results.jsonl'} and {out / 'summary.json'}. {NOTICE}", highlight=False)


def _judge_config(judge: JudgeBackend | None, path: Path | None, model: str | None, base_url: str | None,
                  overrides: list[str] | None, no_probe: bool) -> Any:
    """The judge options of evaluate and validate as a JudgeConfig (--no-probe: probe=False)."""
    from amr_grpo.judge.config import load_judge_config

    return load_judge_config(path, overrides or [], backend=judge, model=model, base_url=base_url,
                             probe=False if no_probe else None)


def _ci(stat: dict[str, Any], digits: int) -> str:
    if stat["mean"] is None:
        return "n/a"
    return f"{stat['mean']:.{digits}f} [{stat['ci95'][0]:.{digits}f}, {stat['ci95'][1]:.{digits}f}]"


def report_cmd(
    results: Annotated[list[Path], typer.Argument(help="Results dirs written by `amr-grpo evaluate`, in order.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output dir for report.md, report.html, plots/, tables/.")],
    train_log: Annotated[Path | None, typer.Option(help="Training metrics JSONL (one object per logged step).")] = None,
    labels: Annotated[str | None, typer.Option(help="Comma-separated run names, one per results dir.")] = None,
    baseline: Annotated[list[str] | None, typer.Option(help="A reference weighted reward drawn as a line, NAME=VALUE "
                                                             "(e.g. the best content-free output); repeatable.")] = None,
    baseline_json: Annotated[list[Path] | None, typer.Option(help="JSON {name, weighted_reward, split} (or a list) "
                                                                  "of reference lines; repeatable.")] = None,
    examples: Annotated[int, typer.Option(help="Best and worst outputs shown per run (0: none).")] = 2,
    review_db: Annotated[str | None, typer.Option(help="Review database (URL or SQLite file): adds the "
                                                       "judge-vs-clinician agreement (amr-grpo review).")] = None,
) -> None:
    """Write report.md and a self-contained report.html from saved results (pure: no model, no judge), with
    every table as CSV and LaTeX and every plot as PNG, SVG and PDF. Research tool, not for clinical use."""
    from amr_grpo.evaluation.report import read_baselines, write_report

    names = [n.strip() for n in labels.split(",")] if labels else None
    lines = read_baselines(baseline or [], baseline_json or [])
    paths = write_report(results, out, train_log=train_log, labels=names, baselines=lines, examples=examples,
                         review_db=review_db)
    console.print(f"wrote {paths['markdown']} and {paths['html']} (tables as CSV and LaTeX in {paths['tables']}, "
                  f"plots as PNG, SVG and PDF in {paths['plots']}). {NOTICE}", highlight=False)


def _read_case_file(path: Path) -> tuple[Any, Any]:
    """A case file: a JSON object (a case, or a dataset record with context/ground_truth) or free text."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})", "save the file as UTF-8") from None
    if path.suffix.lower() not in (".json", ".jsonl") and not text.lstrip().startswith("{"):
        return text, None
    try:
        obj = json.loads(text.strip().splitlines()[0] if path.suffix.lower() == ".jsonl" else text)
    except (json.JSONDecodeError, IndexError) as e:
        raise UserError(f"{path}: not a JSON object ({e})", "give a JSON case or a plain-text case") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a JSON object")
    if isinstance(obj.get("context"), (dict, str)):
        return obj["context"], obj.get("ground_truth")
    return obj, obj.get("ground_truth")


def validate_cmd(
    model: Model,
    case: Annotated[Path | None, typer.Option(help="Case file: JSON {patient, diagnosis, prescription}, or text.")] = (
        None
    ),
    text: Annotated[str | None, typer.Option(help="The case as free text.")] = None,
    judge: Annotated[JudgeBackend | None, typer.Option(
        "--judge", metavar="BACKEND", help=f"Also score the validation with this judge: {' | '.join(JUDGE_BACKENDS)}.")
    ] = None,
    judge_config: JudgeConfigFile = None,
    judge_model: JudgeModel = None,
    judge_base_url: JudgeBaseUrl = None,
    judge_set: JudgeSet = None,
    base_model: BaseModel = None,
    max_new_tokens: MaxNew = 512,
    sample: Sample = False,
    temperature: Temperature = 1.0,
    seed: Seed = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    no_probe: NoProbe = False,
    judge_opt: OldJudgeOpt = None,
) -> None:
    """Validate one prescription with a trained policy (and optionally score it).
    Research tool, not for clinical use."""
    if (case is None) == (text is None):
        raise UserError("give exactly one of --case FILE or --text '...'")
    case_obj, truth = _read_case_file(case) if case else (text, None)
    from amr_grpo.judge import probe
    from amr_grpo.preflight import check_judge_key
    from amr_grpo.evaluation.validate import Validator, to_case

    overrides = renamed(judge_set, judge_opt, "--judge-opt", "--judge-set")
    cfg = _judge_config(judge, judge_config, judge_model, judge_base_url, overrides, no_probe) if judge else None
    if cfg is not None:  # the judge's key, then that it answers, before the case reader (spaCy) and the model load
        check_judge_key(cfg)
        probe(cfg)
    c = to_case(case_obj)
    v = Validator.from_pretrained(model, base_model=base_model, max_new_tokens=max_new_tokens, do_sample=sample,
                                  temperature=temperature, seed=seed).validate(c)
    verdict = _judge(c, v.raw, truth, cfg) if cfg is not None else None
    if as_json:
        typer.echo(json.dumps({"validation": v.to_dict(), "verdict": verdict.to_dict() if verdict else None,
                               "notice": NOTICE}, indent=2, ensure_ascii=False))
        return
    _print_validation(v, verdict)


def _judge(case: Any, output: str, truth: Any, cfg: Any) -> Any:
    import asyncio

    from amr_grpo.judge import build_engine
    from amr_grpo.judge.base import EvalRequest, JudgeError
    from amr_grpo.metrics import METRIC_KEYS

    engine = build_engine(cfg)

    async def run() -> Any:
        try:
            return await engine.score(EvalRequest(case.to_dict(), output, truth, METRIC_KEYS))
        finally:
            await engine.aclose()

    try:
        return asyncio.run(run())
    except JudgeError as e:
        raise UserError(f"the {cfg.backend} judge could not score ({e.kind}): {e}") from None


def _print_validation(v: Any, verdict: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console()
    colour = {"Approve": "green", "Modify": "yellow", "Reject": "red"}
    for step in v.steps:
        out.print(step, highlight=False)
    d = v.decision.value if v.decision else None
    out.print(f"Decision: [bold {colour.get(d, 'magenta')}]{d or 'unparsed'}[/]")
    if v.recommended_regimen:
        out.print(f"Recommended regimen: {v.recommended_regimen}", highlight=False)
    if v.reference:
        out.print(f"Reference: {v.reference}", highlight=False)
    if not v.parse_ok:
        out.print(f"[magenta]The output does not follow the format: {'; '.join(v.problems)}[/]\n--- raw output ---",
                  highlight=False)
        out.print(v.raw, markup=False, highlight=False)
    if verdict is not None:
        from amr_grpo.metrics import get_metric

        table = Table("metric", "score", "justification", title=f"judge {verdict.backend} ({verdict.model})")
        for k, s in verdict.scores.items():
            table.add_row(get_metric(k).name, f"{s.score}/5", s.justification)
        out.print(table)
        out.print(f"weighted reward {verdict.weighted_reward:.3f}")
    out.print(f"[dim]{NOTICE}[/]")


EVALUATE_EPILOG = """Examples:

  amr-grpo evaluate --model assets/tiny-policy --data runs/main/data --split test -o runs/eval-base

  amr-grpo evaluate --model runs/main/train/model --data runs/main/data -o runs/eval-trained --resume   (after Ctrl-C)

  GROQ_API_KEY=... amr-grpo evaluate --outputs runs/eval-base/results.jsonl --data runs/main/data --judge openai -o runs/eval-llm
"""
REPORT_EPILOG = """Example:

  amr-grpo report runs/eval-base runs/eval-trained --labels base,trained --train-log runs/main/train/metrics.jsonl --baseline "best constant=0.41" -o runs/report
"""
VALIDATE_EPILOG = """Examples:

  amr-grpo validate --model assets/tiny-policy --text "28F, cystitis, ciprofloxacin 500 mg BD x 3 days"

  amr-grpo validate --model runs/main/train/model --case case.json --judge rules --json
"""


def register(app: typer.Typer) -> None:
    app.command("evaluate", epilog=EVALUATE_EPILOG)(user_errors(evaluate_cmd))
    app.command("report", epilog=REPORT_EPILOG)(user_errors(report_cmd))
    app.command("validate", epilog=VALIDATE_EPILOG)(user_errors(validate_cmd))
