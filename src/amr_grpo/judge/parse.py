"""Where the completion parser used to live: it is now amr_grpo.output_format (the one home of the policy output
format). These names stay importable from here for modules not yet moved over (the case reader, the web page).
Try it: python -c "from amr_grpo.judge.parse import parse_validation as p; print(p('Decision: Modify').decision)"
"""

from amr_grpo.output_format import as_prescribed, clean_line, no_regimen, parse_regimen, parse_validation

__all__ = ["as_prescribed", "clean_line", "no_regimen", "parse_regimen", "parse_validation"]
