"""`amr-grpo synth`: synthetic cases from the guideline knowledge base, and the invariants their labels hold.

generate.py (the cases file: decisions in fixed shares, scenarios in turn), scenarios.py with scenarios_safety.py
and scenarios_stewardship.py (one builder per scenario), patients.py (patient profiles), regimens.py, dosing.py and
phrasing.py (regimens from the KB, renal dosing, clinician phrasing), notes.py (free-text clinical notes),
reference.py (the reference validation), label_checks.py (invariants every synthetic label holds).
Synthetic data for research, not for clinical use.
Try it: amr-grpo synth -n 20 --seed 0 -o /tmp/cases.jsonl
"""
