"""How a rubric pattern is written and matched: an optional ``@subject `` prefix, then a
regular expression matched case-insensitively.

One reading for the exercise loader (which rejects a bad one), the prose grader and the
segmenter. Compiled regexes are kept: every answer of a class is matched against the same
few dozen, and ``re``'s own cache is looked up again on every call.
"""

from __future__ import annotations

import re
from functools import lru_cache

from mpgrade import regexes

_SUBJECT = regexes.compile(r"@(\w+)\s+")


def split(pattern: str) -> tuple[str, str]:
    """"@thread share memory" -> ("thread", "share memory"); no prefix -> ("", pattern)."""
    m = _SUBJECT.match(pattern)
    return (m.group(1), pattern[m.end():]) if m else ("", pattern)


@lru_cache(maxsize=1024)
def compiled(regex: str) -> re.Pattern[str]:
    """``regex`` compiled case-insensitively; raises ``re.error`` for a bad one."""
    return regexes.compile(regex, re.IGNORECASE)


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return compiled(split(pattern)[1])
    except re.error:
        return None


def mentions(text: str, patterns: tuple[str, ...]) -> bool:
    """Whether any of ``patterns`` matches somewhere in ``text``, whoever it is said of."""
    for pattern in patterns:
        regex = _regex(pattern)
        if regex is not None and regex.search(text):
            return True
    return False
