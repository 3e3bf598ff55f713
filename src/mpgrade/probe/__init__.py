"""The probe room: code that runs inside the student's process tree (``inside/``) and the
grader-side parser that turns what it recorded into a confirmed ``Trace``.

Importing this package byte-compiles ``inside/`` when its byte-code is stale: the sandbox runs every interpreter
with PYTHONDONTWRITEBYTECODE, so without a ready ``.pyc`` each process of the student's
tree would compile the probe again (several ms per process).
"""

from __future__ import annotations

import importlib.util
import os

from mpgrade.resources import probe_dir


def compile_probe() -> bool:
    """Write the ``.pyc`` files of the probe next to it; False when the folder is read-only.

    Nothing is written, and ``compileall`` not even imported, when every ``.pyc`` is
    already the one of its source (the common case: every start after the first)."""
    folder = str(probe_dir())
    try:
        sources = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".py")]
    except OSError:
        return False
    if not any(map(_stale, sources)):
        return True
    import compileall

    try:
        return bool(compileall.compile_dir(folder, maxlevels=0, quiet=2))
    except OSError:
        return False


def _stale(source: str) -> bool:
    """Whether ``compileall`` would compile ``source`` again: its cached byte-code is
    missing, or its header (magic number, flags, the source's mtime) is not the one it
    would write."""
    try:
        with open(importlib.util.cache_from_source(source), "rb") as f:
            header = f.read(12)
        mtime = int(os.stat(source).st_mtime) & 0xFFFFFFFF
    except OSError:
        return True
    return header != importlib.util.MAGIC_NUMBER + bytes(4) + mtime.to_bytes(4, "little")


compile_probe()

from mpgrade.probe.trace import parse_trace  # noqa: E402

__all__ = ["compile_probe", "parse_trace"]
