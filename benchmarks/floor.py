"""The floor every benchmark compares against: an answer run as a plain `python` script."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def run_plain(script: Path, cap: float) -> float:
    """Seconds to run ``script`` with no sandbox and no probe; a hung one is stopped at ``cap``
    together with its children (its own session), as a grader without detection would."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(script)], cwd=script.parent, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=cap)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return time.monotonic() - started
