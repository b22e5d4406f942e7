"""Reading clinical cases: free text or structured records -> records.Case, with what was read and from where.

Try it: python -c "from amr_grpo.reading import read; print(read('58M, RR 30, BP 88/50. Dx: severe CAP').to_dict())"
"""

from amr_grpo.reading.reader import FieldReading, Reading, normalise_setting, read, read_case
from amr_grpo.reading.truth import read_ground_truth

__all__ = ["FieldReading", "Reading", "normalise_setting", "read", "read_case", "read_ground_truth"]
