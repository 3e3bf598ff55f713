"""The compact per-student line the gradebooks and the class summary are built from.

A full report (streams, traces, stacks) can weigh hundreds of kilobytes; a class of a
thousand must not hold them all. The worker boils each report down to a ``Record``
(scores, statuses, failure reasons), which is stored next to the results as the
resume cache's entry and is all that CSVs and the summary ever read back.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mpgrade.batch.discover import Identity
from mpgrade.batch.roster import Student
from mpgrade.model import QuestionResult, Report, value_class
from mpgrade.report.summary import failure_reasons

RowStatus = str  # "passed" | "partial" | "failed" | "error" | "missing" | "pending"


@value_class
class Reason:
    """Why a question lost points: a diagnosis, a failed check, a limit or a status."""

    key: str  # stable, for counting: diagnosis code, "check:<id>", "limit:<reason>", "status:<s>"
    label: str  # what a teacher reads


@value_class
class QuestionRow:
    id: str
    title: str
    kind: str
    status: str
    score: float
    max_score: float
    reasons: tuple[Reason, ...] = ()
    reviewed: bool = False  # the score is a person's decision, not a proposal
    auto_score: float | None = None  # the automatic score, when a review replaced it
    stale: bool = False  # reviewed, but the automatic score changed since
    comment: str = ""  # the reviewer's words to the student


@value_class
class Record:
    """One student's graded (or ungradable) submission, as stored on disk."""

    student: str
    key: str  # resume cache key; "" = never reuse (internal error, interrupted work)
    source: str
    status: RowStatus
    score: float = 0.0
    max_score: float = 0.0
    questions: tuple[QuestionRow, ...] = ()
    error: str = ""
    duration_s: float = 0.0
    tool_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        questions = tuple(
            QuestionRow(**{**q, "reasons": tuple(Reason(**r) for r in q.get("reasons", ()))})
            for q in data.get("questions", ())
        )
        return cls(**{**data, "questions": questions})


def row_status(score: float, max_score: float) -> RowStatus:
    if max_score > 0 and score >= max_score - 1e-9:
        return "passed"
    return "partial" if score > 0 else "failed"


def record_from_report(report: Report, student: str, key: str, source: str) -> Record:
    return Record(
        student=student,
        key=key,
        source=source,
        status=row_status(report.score, report.max_score),
        score=report.score,
        max_score=report.max_score,
        questions=tuple(_question(q) for q in report.questions),
        duration_s=report.duration_s,
        tool_version=report.tool_version,
    )


def _question(q: QuestionResult) -> QuestionRow:
    reasons = tuple(Reason(key, label) for key, label in failure_reasons(q))
    return QuestionRow(q.id, q.title, q.kind, q.status, q.score, q.max_score, reasons)


@value_class
class Row:
    """A line of the gradebooks: the record joined with what roster and discovery know."""

    student: str
    record: Record
    name: str = ""
    email: str = ""
    notes: tuple[str, ...] = ()
    roster: Student | None = None
    identity: Identity | None = None

    @property
    def graded(self) -> bool:
        return self.record.status not in UNGRADED


UNGRADED = ("error", "missing", "pending")  # row statuses without a score
