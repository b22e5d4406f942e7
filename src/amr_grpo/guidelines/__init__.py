"""Guideline knowledge base (NCDC/ICMR NTG v2.0 2025, ICMR 2019 renal table, WHO AWaRe 2025) and prescription parser.

Data lives in the YAML files of this folder; every row carries its source and a confidence label
(defined in sources.yaml).
Research tool, not for clinical use. Try it: python -m amr_grpo.guidelines
"""

from amr_grpo.guidelines.kb import KnowledgeBase, load_kb, normalise_setting
from amr_grpo.guidelines.loader import KBError
from amr_grpo.guidelines.model import (
    CONFIDENCE_LABELS,
    DoNotUse,
    Drug,
    Interaction,
    PregnancyRule,
    Regimen,
    RegimenItem,
    RenalBand,
    Source,
    Syndrome,
)
from amr_grpo.guidelines.prescription import parse_prescription

__all__ = [
    "CONFIDENCE_LABELS", "DoNotUse", "Drug", "Interaction", "KBError", "KnowledgeBase", "PregnancyRule", "Regimen",
    "RegimenItem", "RenalBand", "Source", "Syndrome", "load_kb", "normalise_setting", "parse_prescription",
]
