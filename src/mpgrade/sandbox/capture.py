"""Bounded capture of stdout and stderr.

Both pipes are drained concurrently (a child blocked on a full stderr pipe while we wait on
stdout would look like a deadlock), and only the first ``limit`` bytes of the two streams
together are kept, so 50 MB of output costs the grader at most ``limit`` bytes of memory.
"""

from __future__ import annotations

import os
import selectors
import threading
from collections.abc import Callable
from typing import BinaryIO


class Capture:
    """Drains stdout and stderr in one thread under one shared byte budget."""

    def __init__(self, limit: int, on_exceed: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self._on_exceed = on_exceed
        self.total = 0  # bytes produced, kept or not
        self.exceeded = threading.Event()
        self._kept = 0
        self._lock = threading.Lock()
        self._bufs: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self.truncated: dict[str, bool] = {"stdout": False, "stderr": False}
        self._threads: list[threading.Thread] = []

    def start(self, stdout: BinaryIO, stderr: BinaryIO) -> None:
        t = threading.Thread(target=self._drain, args=({"stdout": stdout, "stderr": stderr},),
                             daemon=True)
        t.start()
        self._threads.append(t)

    def _drain(self, pipes: dict[str, BinaryIO]) -> None:
        """Read whichever pipe has data until both reach end-of-file: one thread per run
        where a thread per pipe would double the threads that take turns on the GIL."""
        selector = selectors.DefaultSelector()
        try:
            for name, pipe in pipes.items():
                selector.register(pipe, selectors.EVENT_READ, name)
            while selector.get_map():
                for key, _ in selector.select():
                    chunk = os.read(key.fd, 65536)
                    if chunk:
                        self._take(key.data, chunk)
                    else:
                        selector.unregister(key.fileobj)
        except (OSError, ValueError):
            pass
        finally:
            selector.close()
            for pipe in pipes.values():
                pipe.close()

    def _take(self, name: str, chunk: bytes) -> None:
        with self._lock:
            self.total += len(chunk)
            room = self.limit - self._kept
            if room > 0:
                self._bufs[name] += chunk[:room]
                self._kept += min(room, len(chunk))
            if len(chunk) > room:
                self.truncated[name] = True
                self.exceeded.set()
                if self._on_exceed:
                    self._on_exceed()

    def join(self, timeout: float) -> None:
        """Wait for end-of-file on both pipes (every writer is dead once the tree is killed)."""
        for t in self._threads:
            t.join(timeout)

    def text(self, name: str) -> str:
        with self._lock:
            return self._bufs[name].decode("utf-8", "replace")
