"""Reading the kernel's small files (``/proc``, cgroupfs) in as few system calls as possible.

The supervisor's threads read them on every tick, several runs at a time. Python's
``open()`` costs seven calls per file (stat, isatty, seek, two reads, close...), and every
call releases the GIL, which another thread then takes: ``os.open`` and ``os.read`` cost
four. What is read is bounded: the first ``limit`` bytes.
"""

from __future__ import annotations

import os

_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def read(path: str, limit: int = 65536) -> bytes:
    """The first ``limit`` bytes of ``path``; raises ``OSError`` like ``open`` does."""
    fd = os.open(path, _FLAGS)
    try:
        data = os.read(fd, limit)
        while data and len(data) < limit:
            more = os.read(fd, limit - len(data))
            if not more:
                break
            data += more
        return data
    finally:
        os.close(fd)


def text(path: str, limit: int = 65536) -> str:
    """``read`` as text (ASCII in every file read here; anything else replaced)."""
    return read(path, limit).decode("utf-8", "replace")
