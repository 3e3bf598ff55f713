"""What the class summary page shows, as plain frozen data.

Batch grading builds a ``ClassSummary`` (directly, or from the per-student reports with
``summarize``) and ``render_summary_html`` draws it; keeping the numbers here means the
page, a CSV export or a test can all read the same figures.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mpgrade.model import QuestionResult, Report

STATUSES = ("passed", "partial", "failed", "error", "timeout", "missing", "needs_review")


@dataclass(frozen=True)
class FailureReason:
    """One recurring reason for lost points, e.g. a diagnosis that many students hit."""

    key: str  # diagnosis code, "check:<check id>" or "status:<status>": stable, for counting
    label: str  # what a teacher reads: the diagnosis title, "check process.started failed", ...
    count: int  # students it happened to
    examples: tuple[str, ...] = ()  # a few of those students, to open their reports
    question: str = ""  # question id; "" when the reason is counted across questions


@dataclass(frozen=True)
class StudentRow:
    """One student's line in the class table."""

    student: str
    score: float | None  # None when the submission could not be graded at all
    max_score: float
    statuses: dict[str, str] = field(default_factory=dict, hash=False)  # question id -> status
    report_href: str | None = None  # relative link to the student's own HTML report
    error: str | None = None  # why it could not be graded (unreadable file, ...)


@dataclass(frozen=True)
class QuestionSummary:
    """How the class did on one question."""

    id: str
    title: str
    kind: str  # "code" | "prose"
    max_score: float
    graded: int  # students with a result for this question
    pass_rate: float  # fraction (0..1) of graded students with status "passed"
    mean_score: float  # mean points among graded students
    status_counts: dict[str, int] = field(default_factory=dict, hash=False)  # status -> students
    top_failures: tuple[FailureReason, ...] = ()  # most frequent first


@dataclass(frozen=True)
class HistogramBin:
    """Students whose total is in [low, high) (the last bin includes ``high``)."""

    low: float
    high: float
    count: int


@dataclass(frozen=True)
class ClassSummary:
    """Everything the class summary page shows for one assignment."""

    assignment_id: str
    assignment_title: str
    max_score: float
    students: tuple[StudentRow, ...]
    questions: tuple[QuestionSummary, ...]
    histogram: tuple[HistogramBin, ...]
    top_failures: tuple[FailureReason, ...] = ()  # across questions, most frequent first
    mean_score: float = 0.0  # among graded students
    median_score: float = 0.0
    generated_at: str = ""  # ISO timestamp, shown in the page footer
    tool_version: str = ""


def summarize(
    assignment_id: str,
    assignment_title: str,
    reports: Sequence[Report],
    links: Mapping[str, str] | None = None,
    ungraded: Mapping[str, str] | None = None,
    bins: int = 10,
    generated_at: str = "",
) -> ClassSummary:
    """Build the summary from per-student reports.

    ``links`` maps a student to their report file; ``ungraded`` maps students whose file
    could not be graded to the one-line reason. A student is ``Report.student``, or the
    submission's file stem when batch grading did not set it.
    """
    links = links or {}
    max_score = reports[0].max_score if reports else 0.0
    rows = [
        StudentRow(
            student=_who(r),
            score=r.score,
            max_score=r.max_score,
            statuses={q.id: q.status for q in r.questions},
            report_href=links.get(_who(r)),
        )
        for r in reports
    ]
    rows += [
        StudentRow(student=s, score=None, max_score=max_score, report_href=links.get(s), error=e)
        for s, e in (ungraded or {}).items()
    ]
    rows.sort(key=lambda row: row.student)
    by_question: dict[str, list[tuple[str, QuestionResult]]] = defaultdict(list)
    for r in reports:
        for q in r.questions:
            by_question[q.id].append((_who(r), q))
    questions = tuple(_question_summary(results) for results in by_question.values())
    scores = [r.score for r in reports]
    return ClassSummary(
        assignment_id=assignment_id,
        assignment_title=assignment_title,
        max_score=max_score,
        students=tuple(rows),
        questions=questions,
        histogram=histogram(scores, max_score, bins),
        top_failures=_top_across(questions),
        mean_score=statistics.fmean(scores) if scores else 0.0,
        median_score=statistics.median(scores) if scores else 0.0,
        generated_at=generated_at,
        tool_version=reports[0].tool_version if reports else "",
    )


def histogram(
    scores: Sequence[float], max_score: float, bins: int = 10
) -> tuple[HistogramBin, ...]:
    """Equal-width bins from 0 to ``max_score``; a full score falls in the last bin."""
    if max_score <= 0 or bins <= 0:
        return ()
    width = max_score / bins
    counts = [0] * bins
    for s in scores:
        counts[min(max(int(s / width), 0), bins - 1)] += 1
    return tuple(
        HistogramBin(round(i * width, 4), round((i + 1) * width, 4), c)
        for i, c in enumerate(counts)
    )


def failure_reasons(q: QuestionResult) -> list[tuple[str, str]]:
    """Why a question lost points, as (key, label) pairs: diagnoses first, then checks, then status."""
    if q.status == "passed":
        return []
    reasons = [(d.code, d.title) for d in q.diagnoses if d.severity == "error"]
    if not reasons:
        reasons = [(f"check:{c.id}", f"check {c.id} failed") for c in q.checks if not c.passed]
    if not reasons and q.status != "partial":
        reasons = [(f"status:{q.status}", f"answer {q.status.replace('_', ' ')}")]
    return reasons


def _who(report: Report) -> str:
    return report.student or Path(report.submission_path).stem


def _question_summary(results: list[tuple[str, QuestionResult]]) -> QuestionSummary:
    first = results[0][1]
    statuses = Counter(q.status for _, q in results)
    seen: dict[str, tuple[str, list[str]]] = {}
    for student, q in results:
        for key, label in dict.fromkeys(failure_reasons(q)):
            seen.setdefault(key, (label, []))[1].append(student)
    ranked = sorted(seen.items(), key=lambda item: (-len(item[1][1]), item[0]))
    return QuestionSummary(
        id=first.id,
        title=first.title,
        kind=first.kind,
        max_score=first.max_score,
        graded=len(results),
        pass_rate=statuses["passed"] / len(results),
        mean_score=statistics.fmean(q.score for _, q in results),
        status_counts={s: statuses[s] for s in STATUSES if statuses[s]},
        top_failures=tuple(
            FailureReason(key, label, len(students), tuple(students[:3]), first.id)
            for key, (label, students) in ranked[:5]
        ),
    )


def _top_across(questions: Sequence[QuestionSummary], limit: int = 10) -> tuple[FailureReason, ...]:
    every = [reason for q in questions for reason in q.top_failures]
    return tuple(sorted(every, key=lambda r: (-r.count, r.question, r.key))[:limit])
