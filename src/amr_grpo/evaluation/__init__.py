"""The evaluate and report steps: a model's validations of a split, scored by the judge, summarised and reported.

generation.py (batched generation from a model or a LoRA adapter), evaluate.py (model x split -> results.jsonl +
summary.json), summary.py (the numbers: means with CIs, decision accuracy; pure), report.py with report_checks.py,
report_render.py, report_plots.py (results -> report.md / report.html, tables, plots; imports nothing from
training), validate.py (the inference API: Validator). Research tool, not for clinical use.
Try it: amr-grpo evaluate --help
"""
