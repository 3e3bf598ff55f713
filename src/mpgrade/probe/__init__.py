"""The probe room: code that runs inside the student's process tree (``inside/``) and the
grader-side parser that turns what it recorded into a confirmed ``Trace``.

Importing this package byte-compiles ``inside/`` once: the sandbox runs every interpreter
with PYTHONDONTWRITEBYTECODE, so without a ready ``.pyc`` each process of the student's
tree would compile the probe again (several ms per process).
"""

from __future__ import annotations

import compileall

from mpgrade.resources import probe_dir


def compile_probe() -> bool:
    """Write the ``.pyc`` files of the probe next to it; False when the folder is read-only."""
    try:
        return bool(compileall.compile_dir(str(probe_dir()), maxlevels=0, quiet=2))
    except OSError:
        return False


compile_probe()

from mpgrade.probe.trace import parse_trace  # noqa: E402

__all__ = ["compile_probe", "parse_trace"]
