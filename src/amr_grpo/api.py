"""The Python API in one place: judge one validation, prepare cases, evaluate a model, write a report,
validate a prescription. Each is a function over the same library the CLI calls; `import amr_grpo` exposes them
lazily (importing the package loads no torch).

    import amr_grpo
    v = amr_grpo.judge_case({"diagnosis": "cystitis", "prescription": "Nitrofurantoin 100 mg BD x 5 days",
                             "patient": "34F"}, "Step 1 - ...\nDecision: Approve", ground_truth={"decision": "Approve"})
    amr_grpo.prepare(["cases.csv"], "runs/x/data", map_file="map.yaml")
    amr_grpo.evaluate_model("assets/tiny-policy", "runs/x/data", "runs/x/eval", judge="rules")
    amr_grpo.write_report(["runs/x/eval"], "runs/x/report")
    amr_grpo.Validator.from_pretrained("assets/tiny-policy").validate("28F, cystitis, ciprofloxacin 500 mg BD")

The README's "Python API" section is run as a test. Research tool, not for clinical use.
Try it: python -c "import amr_grpo; help(amr_grpo.judge_case)"
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amr_grpo.data.prepare import PrepareOptions
from amr_grpo.data.prepare import prepare as run_prepare
from amr_grpo.errors import UserError
from amr_grpo.evaluation.evaluate import evaluate
from amr_grpo.evaluation.generation import GenerationSettings
from amr_grpo.judge import build_engine
from amr_grpo.judge.base import EvalRequest
from amr_grpo.judge.config import JudgeConfig
from amr_grpo.metrics import resolve_metrics
from amr_grpo.preflight import check_judge_key
from amr_grpo.records import Verdict

if TYPE_CHECKING:
    from amr_grpo.judge.config import JudgeBackend


def judge_config(judge: JudgeBackend | JudgeConfig = "rules", **options: Any) -> JudgeConfig:
    """A JudgeConfig from a backend name (amr_grpo.judge.config.JudgeBackend) and JudgeConfig fields, or the
    JudgeConfig given, as is."""
    if isinstance(judge, JudgeConfig):
        if options:
            raise UserError("give judge options in the JudgeConfig, or a backend name with options, not both")
        return judge
    if not isinstance(judge, str):
        raise UserError(f"judge: a backend name or a JudgeConfig, not {type(judge).__name__}")
    unknown = set(options) - set(JudgeConfig.__dataclass_fields__)
    if unknown:
        raise UserError(f"unknown judge option(s): {', '.join(sorted(unknown))}",
                        f"JudgeConfig fields: {', '.join(JudgeConfig.__dataclass_fields__)}")
    return JudgeConfig(backend=judge, **options)


def judge_case(case: str | dict[str, Any], output: str, ground_truth: str | dict[str, Any] | None = None,
               metrics: str | Sequence[str] = "all", judge: Any = "rules", **judge_options: Any) -> Verdict:
    """Score one validation `output` for one `case` on the rubric's metrics; return the Verdict (scores with
    justifications, weighted_reward, flags). `case` is free text or {patient, diagnosis, prescription, ...};
    `ground_truth` a reference text or {decision, recommended_regimen, ...}; `metrics` "all", "priority" or keys.
    Raises JudgeError when the judge cannot score (never a made-up score). Works inside a running event loop
    (a notebook) too: it then scores on a thread of its own."""
    try:
        keys = tuple(resolve_metrics(metrics))
    except ValueError as e:
        raise UserError(str(e)) from None
    cfg = judge_config(judge, **judge_options)
    check_judge_key(cfg)
    engine = build_engine(cfg)

    async def score() -> Verdict:
        try:
            return await engine.score(EvalRequest(case, output, ground_truth, keys))
        finally:
            await engine.aclose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(score())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:  # a loop is running: use another thread
        return pool.submit(asyncio.run, score()).result()


def prepare(inputs: Sequence[str | Path], out_dir: str | Path, **options: Any) -> Any:
    """Raw cases (JSONL / JSON / CSV) -> GRPO splits in out_dir; options are PrepareOptions fields (field_map,
    map_file, val_size, test_size, seed, skip_invalid, force, ...). Returns the PrepareSummary."""
    unknown = set(options) - set(PrepareOptions.__dataclass_fields__)
    if unknown:
        raise UserError(f"unknown prepare option(s): {', '.join(sorted(unknown))}",
                        f"PrepareOptions fields: {', '.join(PrepareOptions.__dataclass_fields__)}")
    if "map_file" in options and options["map_file"] is not None:
        options["map_file"] = str(options["map_file"])
    return run_prepare([Path(p) for p in inputs], Path(out_dir), PrepareOptions(**options))


def evaluate_model(model: str | Path | None, data_dir: str | Path, out_dir: str | Path, judge: Any = "rules",
                   split: str = "test", max_samples: int | None = None, resume: bool = False, force: bool = False,
                   base_model: str | None = None, outputs: str | Path | None = None, **generation: Any) -> dict:
    """Generate a validation for every case of data_dir's split, score all six metrics, write results.jsonl
    and summary.json to out_dir; return the summary (means with 95% CIs, decision accuracy and F1, ...).
    `judge` is a backend name or a JudgeConfig; `generation` holds GenerationSettings fields (max_new_tokens,
    batch_size, do_sample, temperature, top_p, top_k, seed, progress). With model=None, `outputs` names an
    earlier results.jsonl to rescore. Ctrl-C keeps the finished rows; resume=True continues."""
    unknown = set(generation) - set(GenerationSettings.__dataclass_fields__)
    if unknown:
        raise UserError(f"unknown generation setting(s): {', '.join(sorted(unknown))}",
                        f"known: {', '.join(GenerationSettings.__dataclass_fields__)}")
    return evaluate(model, data_dir, out_dir, judge_config(judge), split=split, max_samples=max_samples,
                    gen=GenerationSettings(**generation), base_model=base_model, outputs=outputs, resume=resume,
                    force=force)
