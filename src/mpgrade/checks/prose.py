"""Rubric grading of written answers: concepts found, misconceptions flagged, TA feedback.

Prose is matched with the rubric's own regex synonyms, so an instructor tunes grading
in the exercise file, not here. The score is a proposal a person confirms; the
feedback is written to be useful to the student either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mpgrade.model import Concept, Misconception, Rubric

_SHORT_SHARE = 0.25  # at most this share of the points for an answer under min_words


@dataclass(frozen=True)
class ProseGrade:
    score: float
    max_score: float
    found: tuple[str, ...]  # concept ids
    missing: tuple[tuple[str, str], ...]  # (concept id, description)
    misconceptions: tuple[tuple[str, str], ...]  # (misconception id, message)
    words: int
    feedback: str


def _matches(patterns: tuple[str, ...], text: str) -> bool:
    return any(re.search(p, text, re.IGNORECASE) for p in patterns)


def _join(concepts: list[Concept]) -> str:
    """Descriptions complete "You explained ..." (see the exercise file), joined as prose."""
    items = [c.description.rstrip(".") for c in concepts]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _feedback(
    found: list[Concept],
    missing: list[Concept],
    wrong: list[Misconception],
    full: bool,
    short_by: int,
) -> str:
    """What was good, what to add, what to correct: in that order, in plain sentences."""
    parts: list[str] = []
    if found:
        parts.append(f"Good: you explained {_join(found)}.")
    else:
        parts.append("Your answer does not yet cover the key ideas of the question.")
    if missing and not full:
        parts.append(f"To earn the remaining points, also explain {_join(missing)}.")
    for m in wrong:
        parts.append(f"One thing to correct: {m.message}")
    if short_by:
        parts.append(f"The answer is too short to earn full marks: write {short_by} more words or so, "
                     "in complete sentences.")
    if full and not wrong and not short_by:
        parts.append("Complete answer: well done.")
    return " ".join(parts)


def grade_prose(text: str, rubric: Rubric) -> ProseGrade:
    """Score ``text`` against ``rubric``: concept points up to the rubric's, minus penalties."""
    flat = " ".join(text.split())
    words = len(re.findall(r"[A-Za-z0-9']+", flat))
    found = [c for c in rubric.concepts if _matches(c.synonyms, flat)]
    missing = [c for c in rubric.concepts if c not in found]
    wrong = [m for m in rubric.misconceptions if _matches(m.patterns, flat)]
    earned = min(rubric.points, sum(c.points for c in found))
    score = max(0.0, earned - sum(m.penalty for m in wrong))
    short_by = max(0, rubric.min_words - words)
    if short_by:
        score = min(score, rubric.points * _SHORT_SHARE)
    score = round(score, 4)
    if not flat:
        feedback = "No written answer was found."
    else:
        feedback = _feedback(found, missing, wrong, earned >= rubric.points, short_by)
    return ProseGrade(
        score=score,
        max_score=rubric.points,
        found=tuple(c.id for c in found),
        missing=tuple((c.id, c.description) for c in missing),
        misconceptions=tuple((m.id, m.message) for m in wrong),
        words=words,
        feedback=feedback,
    )
