"""The train step: GRPO on the prepared dataset with the judge as the reward.

main.py (main: checks, plan, rewards, policy, GRPOTrainer, train, save), config.py (the recipe's dataclass tree),
rewards.py (TRL reward functions over the judge engine), checks.py (config, machine and key checks before anything
loads), plan.py (the judge-budget plan, --plan), ledger.py (judge calls across resumes and kills), console.py
(progress bar and table), model_card.py (the trained model's base and card), warm_start.py (`amr-grpo sft`: SFT
on the train split's references before GRPO). Research tool, not for clinical use.
Try it: amr-grpo train --config configs/train/tiny-cpu.yaml grpo.max_steps=2 --plan
"""
