"""What mpgrade learns once: about this machine, and about the exercise files it read.

``once`` memoises a probe per process and is safe under the grader's question threads:
the first caller probes while the others wait for its answer, instead of each running the
probe itself. ``remembered`` keeps a probe's answer on disk between invocations, keyed by
a fingerprint of everything the answer depends on, so a new key simply probes again
(``recall`` and ``store`` are its two halves). Values are JSON, never code.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
_MAX_CACHE_BYTES = 64 * 1024


def once(fn: Callable[[], T]) -> Callable[[], T]:
    """``fn()`` computed at most once per process, however many threads ask at once."""
    lock = threading.Lock()
    box: list[T] = []

    @functools.wraps(fn)
    def wrapper() -> T:
        if not box:
            with lock:
                if not box:
                    box.append(fn())
        return box[0]

    wrapper.cache_clear = box.clear  # type: ignore[attr-defined]
    return wrapper


def cache_dir() -> Path:
    """``$MPGRADE_CACHE_DIR``, else ``$XDG_CACHE_HOME/mpgrade``, else ``~/.cache/mpgrade``."""
    explicit = os.environ.get("MPGRADE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mpgrade"


def file_identity(path: str | None) -> str:
    """A file's identity without running it: a new version is a new inode, size or mtime."""
    if not path:
        return "-"
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}:missing"
    return f"{os.path.realpath(path)}:{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def read_small(path: str) -> str:
    """The first bytes of a /proc or /sys setting, or "-" where it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read(256).decode("ascii", "replace").strip()
    except OSError:
        return "-"


def fingerprint(parts: tuple[str, ...]) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "replace")).hexdigest()


def _entry(name: str, key: tuple[str, ...]) -> Path:
    """One file per name and key: two interpreters or exercise versions never evict each other."""
    return cache_dir() / f"{name}-{fingerprint(key)[:24]}.json"


def recall(name: str, key: tuple[str, ...], limit: int = _MAX_CACHE_BYTES) -> object | None:
    """The answer stored under ``name`` for ``key``, else None. The file is the grader's own;
    anything unexpected in it (or past ``limit`` bytes) counts as a miss."""
    digest = fingerprint(key)
    try:
        with open(_entry(name, key), "rb") as f:
            stored = json.loads(f.read(limit))
        if isinstance(stored, dict) and stored.get("key") == digest and "value" in stored:
            return stored["value"]
    except (OSError, ValueError, RecursionError):
        pass
    return None


def store(name: str, key: tuple[str, ...], value: object, limit: int = _MAX_CACHE_BYTES) -> bool:
    """Keep ``value`` for ``key`` (atomically); whether it was kept. A cache that cannot be
    written is no cache, and neither is a value that JSON cannot hold or ``recall`` would
    not read back whole (over ``limit`` bytes)."""
    path = _entry(name, key)
    try:
        text = json.dumps({"key": fingerprint(key), "value": value})
    except (TypeError, ValueError, RecursionError):
        return False
    if len(text.encode("utf-8")) > limit:
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        return False
    return True


def remembered(name: str, key: tuple[str, ...], probe: Callable[[], T | None]) -> T | None:
    """The answer stored under ``name`` for ``key``, else ``probe()`` (stored unless None).

    Only answers worth keeping are stored: a probe that says "unavailable" returns None and
    runs again next time, so a machine that gains a capability is never stuck without it.
    """
    stored = recall(name, key)
    if stored is not None:
        return stored  # type: ignore[return-value]
    value = probe()
    if value is not None:
        store(name, key, value)
    return value
