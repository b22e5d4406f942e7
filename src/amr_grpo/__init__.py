"""amr-grpo: GRPO fine-tuning of LLMs that validate antimicrobial prescriptions against the Indian
national guidelines (NCDC/ICMR 2025; ICMR 2019 for renal dosing). Research tool, not for clinical use.

The Python API (loaded on first use, so `import amr_grpo` stays light):
  judge_case(case, output, ground_truth=None, metrics="all", judge="rules")  -> Verdict
  prepare(inputs, out_dir, **options)                                        -> PrepareSummary
  evaluate_model(model, data_dir, out_dir, judge="rules", split="test", ...) -> summary dict
  write_report(result_dirs, out_dir, train_log=None, labels=None, ...)       -> {markdown, html, ...}
  Validator.from_pretrained(path).validate(case)                             -> Validation
Examples: the README's "Python API" section.
"""

__version__ = "0.1.0"
NOTICE = "Research tool, not for clinical use."  # said by every command, report, export and API answer

_API = {"judge_case": "amr_grpo.api", "prepare": "amr_grpo.api", "evaluate_model": "amr_grpo.api",
        "write_report": "amr_grpo.evaluation.report", "Validator": "amr_grpo.evaluation.validate"}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'amr_grpo' has no attribute {name!r}")
