"""How a count and its noun read, one rule for every output: "1 student", "2 students".

Warnings, templates, reports and check messages all print counts that can be one; each
writing its own ``'s' if n != 1`` (or forgetting to) gave "1 students left out".
"""

from __future__ import annotations


def noun(count: float, word: str, many: str | None = None) -> str:
    """``word`` as it follows ``count``: itself for exactly one, else ``many`` (``word`` + "s")."""
    return word if count == 1 else (many or word + "s")


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "student")`` -> "1 student"; ``plural(3, "process", "processes")`` -> "3 processes"."""
    return f"{count} {noun(count, word, many)}"
