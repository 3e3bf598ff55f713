"""An LTI 1.3 Assignment and Grade Services (AGS) score, ready to POST to a line item's
``/scores`` endpoint.

The fields are the score service's: ``scoreGiven`` out of ``scoreMaximum``,
``activityProgress``, ``gradingProgress``, ``timestamp`` and a plain-text ``comment``, the
words of the Moodle feedback columns (``report.lms``).
``gradingProgress`` is ``PendingManual`` while a prose score is an unreviewed proposal
(the platform then asks a grader to look), ``FullyGraded`` otherwise, and ``Failed`` when
the submission could not be graded (the platform then ignores ``scoreGiven``).
``userId`` is the platform's id of the learner: mpgrade knows only its own student id,
so it is present when batch grading set one and the integration maps it to the LTI
``sub`` before posting.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from mpgrade.model import Report, Ungradable
from mpgrade.report.lms import bounded, report_feedback


def pending_review(report: Report) -> bool:
    """True while some score of the report is a proposal a person has still to confirm."""
    return any(q.status == "needs_review" for q in report.questions)


def lti_score(report: Report, now: datetime | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "scoreGiven": report.score,
        "scoreMaximum": report.max_score,
        "comment": report_feedback(report),
        "timestamp": _timestamp(now),
        "activityProgress": "Completed",
        "gradingProgress": "PendingManual" if pending_review(report) else "FullyGraded",
    }
    if report.student is not None:
        out["userId"] = report.student
    return out


def lti_error(u: Ungradable, now: datetime | None = None) -> dict[str, Any]:
    """No score: ``Failed`` grading (or a learner who never started), with the reason."""
    out: dict[str, Any] = {
        "scoreMaximum": u.max_score,
        "comment": bounded(u.reason),
        "timestamp": _timestamp(now),
        "activityProgress": "Initialized" if u.missing else "Submitted",
        "gradingProgress": "NotReady" if u.missing else "Failed",
    }
    if u.student is not None:
        out["userId"] = u.student
    return out


def _timestamp(now: datetime | None) -> str:
    """ISO 8601 with sub-second precision and an offset, as the score service asks."""
    return (now or datetime.now(timezone.utc)).isoformat(timespec="milliseconds")
