"""Class statistics from the stored records: the report room's ``ClassSummary``, plus
``summary.json`` and a ``summary.md`` a teacher can read in a minute.

Built from the compact records, not from the full reports, so summarising a class of
a thousand costs what a thousand small dicts cost.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from mpgrade import __version__
from mpgrade.batch.gradebook import notes_of, proposals_of
from mpgrade.batch.options import BatchResult
from mpgrade.batch.record import Row
from mpgrade.batch.reviews import review_counts
from mpgrade.model import Assignment, Question
from mpgrade.report import (
    ClassSummary,
    FailureReason,
    QuestionSummary,
    StudentRow,
    render_summary_markdown,
)
from mpgrade.report.summary import STATUSES, AttentionRow, BatchFacts, histogram

TOP_PER_QUESTION, TOP_OVERALL, EXAMPLES = 5, 10, 3
ATTENTION_LIMIT = 40  # rows listed under "Needs a look"; the rest are in grades.csv


def build_summary(
    assignment: Assignment,
    questions: Sequence[Question],
    rows: Sequence[Row],
    href: Callable[[str], str],
) -> ClassSummary:
    graded = [r for r in rows if r.graded]
    reviewed, waiting = review_counts(rows)
    max_score = round(sum(q.points for q in questions), 4)
    students = tuple(
        StudentRow(
            student=r.student,
            score=r.record.score if r.graded else None,
            max_score=max_score,
            statuses={q.id: q.status for q in r.record.questions},
            report_href=href(r.student) if r.record.status != "pending" else None,
            error=None if r.graded else (r.record.error or r.record.status),
        )
        for r in rows
    )
    per_question = tuple(_question(q, graded) for q in questions)
    every = [f for q in per_question for f in q.top_failures]
    scores = [r.record.score for r in graded]
    return ClassSummary(
        assignment_id=assignment.id,
        assignment_title=assignment.title,
        max_score=max_score,
        students=students,
        questions=per_question,
        histogram=histogram(scores, max_score, bins=10),
        top_failures=tuple(
            sorted(every, key=lambda f: (-f.count, _kind_rank(f.key), f.question, f.key))[:TOP_OVERALL]
        ),
        mean_score=round(statistics.fmean(scores), 4) if scores else 0.0,
        median_score=statistics.median(scores) if scores else 0.0,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        tool_version=__version__,
        reviewed=reviewed,
        proposals=waiting,
    )


def _kind_rank(key: str) -> int:
    """On equal counts the most telling reason first: a limit, a diagnosis, a check, a status."""
    prefix = key.split(":", 1)[0] if ":" in key else "diagnosis"
    return {"limit": 0, "diagnosis": 1, "check": 2}.get(prefix, 3)


def _question(question: Question, graded: Sequence[Row]) -> QuestionSummary:
    results = [(r.student, q) for r in graded for q in r.record.questions if q.id == question.id]
    statuses = Counter(q.status for _, q in results)
    labels: dict[str, str] = {}
    who: dict[str, list[str]] = {}
    for student, q in results:
        for reason in q.reasons:
            labels.setdefault(reason.key, reason.label)
            who.setdefault(reason.key, []).append(student)
    ranked = sorted(who.items(), key=lambda kv: (-len(kv[1]), _kind_rank(kv[0]), kv[0]))[:TOP_PER_QUESTION]
    n = len(results)
    return QuestionSummary(
        id=question.id,
        title=question.title,
        kind=question.kind,
        max_score=question.points,
        graded=n,
        # the "passed" count over graded: a proposal at full points still needs review, not passed
        pass_rate=round(statuses["passed"] / n, 4) if n else 0.0,
        mean_score=round(statistics.fmean(q.score for _, q in results), 4) if n else 0.0,
        status_counts={s: statuses[s] for s in STATUSES if statuses[s]},
        top_failures=tuple(
            FailureReason(key, labels[key], len(names), tuple(sorted(names)[:EXAMPLES]), question.id)
            for key, names in ranked
        ),
    )


def summary_json(summary: ClassSummary, result: BatchResult, rows: Sequence[Row]) -> str:
    data: dict[str, Any] = asdict(summary)
    data["batch"] = {
        "students": result.students,
        "graded": result.graded,
        "graded_this_run": result.graded_now,
        "unchanged": result.skipped,
        "errors": result.errors,
        "missing": result.missing,
        "pending": result.pending,
        "interrupted": result.interrupted,
        "incomplete": summary.incomplete,
        "warnings": list(result.warnings),
        "lost": result.lost,
        "duration_s": round(result.duration_s, 3),
        "row_status_counts": dict(Counter(r.record.status for r in rows)),
    }
    data["notes"] = {r.student: notes_of(r) for r in rows if notes_of(r)}
    data["reviews"] = {
        "reviewed": summary.reviewed,
        "waiting": summary.proposals,
        "by_student": {r.student: {"reviewed": [q.id for q in r.record.questions if q.reviewed],
                                   "proposals": proposals_of(r)} for r in rows if r.graded},
    }
    return json.dumps(data, indent=1) + "\n"


def summary_markdown(summary: ClassSummary, result: BatchResult, rows: Sequence[Row], report_href: str) -> str:
    """The one-minute read (``summary.md.j2``); ``report_href`` shows where reports are."""
    attention = [r for r in rows if notes_of(r) or not r.graded]
    facts = BatchFacts(
        students=result.students,
        graded=result.graded,
        errors=result.errors,
        missing=result.missing,
        pending=result.pending,
        attention=tuple(
            AttentionRow(
                f"{r.student} ({r.name})" if r.name and r.name != r.student else r.student,
                r.record.status,
                "; ".join(notes_of(r)) or "no submission",
            )
            for r in attention[:ATTENTION_LIMIT]
        ),
        attention_more=max(0, len(attention) - ATTENTION_LIMIT),
        files=(
            "grades.csv", "canvas.csv", "moodle-worksheet.csv", "moodle-gradebook.csv",
            "summary.html", "results/<student>.json", report_href, "lti/<student>.json",
        ),
    )
    return render_summary_markdown(summary, facts)
