"""Score one demo completion with the rules judge and print each metric with its justification.
Try it: python -m amr_grpo.judge.rules
"""

from amr_grpo.judge.base import EvalRequest
from amr_grpo.judge.rules.judge import RulesJudge
from amr_grpo.metrics import METRIC_KEYS

demo = EvalRequest(
    patient_case="28/F, NKDA. Dx: uncomplicated cystitis. Rx: Tab nitrofurantoin 100 mg BD x 5 days. OPD.",
    model_output="Step 1 - Clinical picture: uncomplicated cystitis.\nDecision: Approve\nReference: NCDC 2025",
    ground_truth={"decision": "Approve"},
    metrics=METRIC_KEYS,
)
for key, s in RulesJudge().score_sync(demo).scores.items():
    print(f"{key:26s} {s.score}  {s.justification}")
