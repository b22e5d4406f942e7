"""Datasets: the policy prompt (prompts), raw cases -> GRPO records (prepare), synthetic cases (synth)."""
