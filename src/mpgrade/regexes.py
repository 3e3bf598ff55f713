"""Regular expressions compiled once per machine instead of once per process.

``re.compile`` parses and assembles a pattern in pure Python (about 0.15 ms each), and a
``check`` uses some 150 of the package's and its exercises' patterns: a fifth of its own
start-up. The assembled program is a list of integers, which ``_sre.compile`` (what
``re.compile`` ends in) turns back into a pattern in microseconds. Programs are kept in one
cache file per interpreter build (``_sre.MAGIC`` and the exact version are in the key, so a
program is only ever read back by the ``re`` that assembled it); ``_sre`` validates a
program before it accepts it, and anything unexpected falls back to ``re.compile``.

New programs are written by ``save``: at interpreter exit, and by the console entry before
it leaves without exit handlers.
"""

from __future__ import annotations

import atexit
import re
import sys
import threading
from typing import Any

from mpgrade import cache

try:  # the parts of ``re.compile``: its parser and assembler, and the C engine
    import _sre
    from re import _compiler, _parser  # type: ignore[attr-defined]
except ImportError:  # Python 3.10 names them sre_compile and sre_parse
    try:
        import _sre
        import sre_compile as _compiler
        import sre_parse as _parser
    except ImportError:  # not CPython: no programs to keep
        _sre = None  # type: ignore[assignment]

_NAME = "regex-programs"
_MAX_BYTES = 256 * 1024  # several hundred patterns (read at every start); past that it starts over
_lock = threading.Lock()
_known: dict[str, list[Any]] | None = None
_new: dict[str, list[Any]] = {}


def _key() -> tuple[str, ...]:
    return (_NAME, sys.version, str(getattr(_sre, "MAGIC", "")), str(getattr(_sre, "CODESIZE", "")))


def _programs() -> dict[str, list[Any]]:
    global _known
    if _known is None:
        stored = cache.recall(_NAME, _key(), limit=_MAX_BYTES)
        _known = stored if isinstance(stored, dict) else {}
    return _known


def compile(pattern: str, flags: int = 0) -> re.Pattern[str]:  # noqa: A001 - re's own name
    """``re.compile(pattern, flags)``, from the kept program when this machine has one."""
    if _sre is None or not isinstance(pattern, str):
        return re.compile(pattern, flags)
    slot = f"{int(flags)}:{pattern}"
    with _lock:
        program = _new.get(slot) or _programs().get(slot)  # a refused kept one is replaced in _new
    if program is not None:
        try:
            return _engine(pattern, program)
        except (TypeError, ValueError, RuntimeError, LookupError, OverflowError):
            pass  # not a program this engine accepts: assemble it afresh
    parsed = _parser.parse(pattern, flags)  # raises re.error for a bad pattern, as re does
    names = dict(parsed.state.groupdict)
    index: list[str | None] = [None] * parsed.state.groups
    for name, number in names.items():
        index[number] = name
    program = [int(flags | parsed.state.flags), list(_compiler._code(parsed, flags)),
               parsed.state.groups - 1, names, index]
    compiled = _engine(pattern, program)
    with _lock:
        if not _new:
            atexit.register(save)
        _new[slot] = program
    return compiled


def _engine(pattern: str, program: list[Any]) -> re.Pattern[str]:
    """The pattern object for an assembled program, as ``re.compile`` makes it last."""
    flags, code, groups, names, index = program
    return _sre.compile(pattern, flags, code, groups, names, tuple(index))


def save() -> None:
    """Add the programs assembled in this process to the machine's file (no-op without any)."""
    with _lock:
        if not _new:
            return
        merged = {**_programs(), **_new}
        if not cache.store(_NAME, _key(), merged, limit=_MAX_BYTES):
            cache.store(_NAME, _key(), dict(_new), limit=_MAX_BYTES)
        _programs().update(_new)
        _new.clear()
