"""The rules judge as a small package: the case context built once and frozen (context.py, build.py), the per-case
checklist (checklist.py), the regimen check (regimen.py), the reading of a completion (reading.py), the six metric
checks (scores.py, references.py) and the judge (judge.py). Research tool, not for clinical use.
Try it: python -m amr_grpo.judge.rules
"""

from amr_grpo.judge.rules.build import case_context
from amr_grpo.judge.rules.judge import RulesJudge

__all__ = ["RulesJudge", "case_context"]
