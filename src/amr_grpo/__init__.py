"""amr-grpo: GRPO fine-tuning of LLMs that validate antimicrobial prescriptions against the Indian
national guidelines (NCDC/ICMR 2025; ICMR 2019 for renal dosing). Research tool, not for clinical use."""

__version__ = "0.1.0"
