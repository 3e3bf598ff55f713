"""The unit of batch work: grade one student's file, wherever that happens.

Local worker processes and Dask workers run the very same ``grade_task``, and both
send back an ``Outcome`` that the submitting process writes to disk; that is what
makes a distributed run produce exactly the files a local one does.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mpgrade.batch.record import Record, error_record, record_from_report
from mpgrade.model import Assignment, GradeOptions


@dataclass(frozen=True)
class Task:
    student: str
    path: str  # where the file is on the submitting machine
    source: str  # how the reports name it
    key: str  # resume cache key
    content: bytes | None = None  # the file itself, for workers that cannot see ``path``


@dataclass(frozen=True)
class Outcome:
    record: Record
    result: dict[str, Any] | None = None  # schema v1 JSON, with "student"
    report: str | None = None  # the rendered per-student report


def grade_task(task: Task, assignment: Assignment, options: GradeOptions, fmt: str = "html") -> Outcome:
    """Grade one file; an unreadable file is an error row, an internal failure one not cached."""
    from mpgrade.grader import grade_file
    from mpgrade.report import render, to_json
    from mpgrade.submission import SubmissionError

    out_of = max_score(assignment, options)
    try:
        if task.content is None:
            report = grade_file(task.path, assignment, options)
        else:
            with tempfile.TemporaryDirectory(prefix="mpgrade-task-") as tmp:
                local = Path(tmp) / Path(task.path).name
                local.write_bytes(task.content)
                report = grade_file(local, assignment, options)
    except SubmissionError as exc:
        return Outcome(error_record(task.student, task.key, task.source, _one_line(exc), out_of))
    except Exception as exc:  # a grader bug must cost one row, not the class
        reason = f"internal error of mpgrade: {type(exc).__name__}: {_one_line(exc)}"
        return Outcome(error_record(task.student, "", task.source, reason, out_of))
    report = replace(report, submission_path=task.source, student=task.student)
    record = record_from_report(report, task.student, task.key, task.source)
    return Outcome(record, to_json(report), render(report, fmt, color=False))


def lost_outcome(task: Task, reason: str, assignment: Assignment, options: GradeOptions) -> Outcome:
    """The row of a task whose worker died or hung: worth retrying, so never cached."""
    return Outcome(error_record(task.student, "", task.source, reason, max_score(assignment, options)))


def max_score(assignment: Assignment, options: GradeOptions) -> float:
    """Points of the questions being graded: what an ungradable row is out of."""
    return round(
        sum(q.points for q in assignment.questions if not options.questions or q.id in options.questions), 4
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
