"""The feedback a learning platform shows a student beside the grade, built here once.

Moodle's feedback columns (``batch/gradebook.py``) and the LTI score's ``comment``
(``report/lti.py``) must tell a student the same thing, including what a reviewer wrote:
the total; each question that lost points or carries a staff comment, with that comment
right after its line; and which scores are still proposals. The gradebooks know a
student by the compact record and the LTI score by the full report, so each hands over
``Mark``s and the wording is decided only here.
"""

from __future__ import annotations

from collections.abc import Sequence

from mpgrade.model import QuestionResult, Report, value_class
from mpgrade.report.story import points, short
from mpgrade.report.summary import failure_reasons
from mpgrade.safe_text import plain

FEEDBACK_LIMIT = 1000  # characters: platforms show it in a small box; the full report is elsewhere
STAFF_COMMENT_LIMIT = 300  # of one reviewer comment, so that one cannot push the other questions out


@value_class
class Mark:
    """One question as the feedback line tells it."""

    id: str
    score: float
    max_score: float
    status: str
    reason: str = ""  # the first reason it lost points; "" when none is named
    reviewed: bool = False  # the score is a person's decision
    comment: str = ""  # what the reviewer wrote to the student


def feedback(score: float, max_score: float, marks: Sequence[Mark]) -> str:
    """One plain line: "Score 7.05/10. Q1: 1.25/1.5 partial (…), reviewed by staff. Staff
    comment: … Proposed, not yet reviewed by staff: Q2."."""
    parts = [f"Score {points(score)}/{points(max_score)}."]
    for m in marks:
        if m.status == "passed" and not m.comment:
            continue
        why = f" ({m.reason})" if m.reason else ""
        seen = ", reviewed by staff" if m.reviewed else ""
        parts.append(f"{m.id}: {points(m.score)}/{points(m.max_score)} {m.status.replace('_', ' ')}{why}{seen}.")
        if m.comment:
            said = short(m.comment, STAFF_COMMENT_LIMIT)
            parts.append(f"Staff comment on {m.id}: {said}{'' if said.endswith(('.', '!', '?', '…')) else '.'}")
    waiting = [m.id for m in marks if m.status == "needs_review"]
    if waiting:
        parts.append(f"Proposed, not yet reviewed by staff: {', '.join(waiting)}.")
    return bounded(" ".join(parts))


def report_feedback(report: Report) -> str:
    """``feedback`` of a full report (the LTI score's comment)."""
    return feedback(report.score, report.max_score, [_mark(q) for q in report.questions])


def _mark(q: QuestionResult) -> Mark:
    reasons = failure_reasons(q)
    return Mark(q.id, q.score, q.max_score, q.status, reasons[0][1] if reasons else "", q.reviewed,
                q.review.comment if q.review else "")


def bounded(text: str) -> str:
    """Any text for a platform's feedback box: one line of inert characters, at most
    ``FEEDBACK_LIMIT`` long (a reason can quote a student's file name)."""
    return plain(short(text, FEEDBACK_LIMIT))
