"""Run a command as a process that cannot write what its mode bits forbid, even when the tests run as root.

chmod does not stop root: root writes a 0444 file through CAP_DAC_OVERRIDE. The child gets that capability (and
CAP_DAC_READ_SEARCH) dropped from its bounding set before exec, so it is still root but the mode bits bind it, as
they bind any user: the same fault a user meets with a read-only cache. Where the capability cannot be dropped
(no CAP_SETPCAP), `skip_reason()` says so and the tests that need it skip.
Try it: .venv/bin/pytest tests/judge/test_cache.py -k read_only
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from typing import Any

_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 24, 1, 2


def _drop() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def skip_reason() -> str | None:
    """Why mode bits cannot be made to bind a child here, or None when they can."""
    if os.geteuid() != 0:
        return None
    try:
        subprocess.run(["true"], preexec_fn=_drop, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        return f"running as root without CAP_SETPCAP: chmod cannot make a file read-only to a child ({e})"
    return None


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """subprocess.run(args) with text output captured, in a child bound by mode bits."""
    pre = _drop if os.geteuid() == 0 else None
    return subprocess.run(args, preexec_fn=pre, capture_output=True, text=True, **kwargs)
