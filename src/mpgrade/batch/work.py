"""The unit of batch work: grade one student's file, wherever that happens.

Local worker processes and Dask workers run the very same ``grade_task``, and both
send back an ``Outcome`` that the submitting process writes to disk; that is what
makes a distributed run produce exactly the files a local one does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mpgrade import __version__
from mpgrade.batch.record import Record, record_from_report
from mpgrade.model import Assignment, GradeOptions, Segmentation, Ungradable, value_class


@value_class
class Task:
    student: str
    path: str  # where the file is on the submitting machine
    source: str  # how the reports name it
    key: str  # resume cache key
    content: bytes | None = None  # the file itself, for workers that cannot see ``path``


@value_class
class Outcome:
    record: Record
    result: dict[str, Any] | None = None  # the JSON result (docs/schema.md), with "student"
    report: str | None = None  # the rendered per-student report
    lti: str | None = None  # the LTI score (``--format lti``) of the student
    saved: bytes | None = None  # the full Report and answers, encoded, to render again once reviewed


def grade_task(task: Task, assignment: Assignment, options: GradeOptions, fmt: str = "html") -> Outcome:
    """Grade one file; an unreadable file is an error row, an internal failure one not cached.

    A file that came with the task is read from memory: no copy of the student's work is
    left in a worker's temp dir when the worker is killed.
    """
    from mpgrade.grader import grade_submission
    from mpgrade.report import render, to_json
    from mpgrade.review.codec import dump_report
    from mpgrade.segment import segment
    from mpgrade.submission import SubmissionError, load, loads

    try:
        sub = load(task.path) if task.content is None else loads(task.content, task.path)
        seg = segment(sub, assignment.questions)
        report = grade_submission(sub, assignment, options, seg)
        answers = answer_texts(seg)
    except SubmissionError as exc:
        return ungradable_outcome(task.student, task.key, task.source, _one_line(exc), assignment, options, fmt)
    except Exception as exc:  # a grader bug must cost one row, not the class
        reason = f"internal error of mpgrade: {type(exc).__name__}: {_one_line(exc)}"
        return ungradable_outcome(task.student, "", task.source, reason, assignment, options, fmt, "grader")
    report = replace(report, submission_path=task.source, student=task.student)
    record = record_from_report(report, task.student, task.key, task.source)
    return Outcome(record, to_json(report), render(report, fmt, color=False), render(report, "lti"),
                   dump_report(report, answers))


def answer_texts(seg: Segmentation) -> dict[str, str]:
    """Each question's answer as the student wrote it (every cell, in order): what a reviewer reads."""
    return {qid: "\n\n".join(c.source for c in a.cells if c.source.strip()) for qid, a in seg.answers.items()}


def lost_outcome(
    task: Task, reason: str, assignment: Assignment, options: GradeOptions, fmt: str = "html"
) -> Outcome:
    """The row of a task whose worker died or hung: worth retrying, so never cached."""
    return ungradable_outcome(task.student, "", task.source, reason, assignment, options, fmt, "grader")


def ungradable_outcome(
    student: str,
    key: str,
    source: str,
    problem: str,
    assignment: Assignment,
    options: GradeOptions,
    fmt: str = "html",
    fault: str = "file",
) -> Outcome:
    """An error (or missing) row with its JSON result, report and LTI score all the same.

    ``problem`` is what the teacher reads in the gradebook; the student's files say what
    to do about it, by ``fault``: "file" (theirs to fix), "grader" (not their score) or
    "missing" (nothing handed in).
    """
    from mpgrade.report import error_json, render_error
    from mpgrade.submission import unreadable

    out_of = max_score(assignment, options)
    missing = fault == "missing"
    if missing:
        reason = "No submission was found."
    elif fault == "file":
        reason = unreadable(problem)
    else:
        reason = f"The grader failed on your submission ({problem}); this is not your score."
    u = Ungradable(
        assignment.id, assignment.title, out_of, reason, source, None, student, missing, __version__
    )
    status = "missing" if missing else "error"
    record = Record(student, key, source, status, 0.0, out_of, error=problem if not missing else "")
    return Outcome(record, error_json(u), render_error(u, fmt), render_error(u, "lti"))


def max_score(assignment: Assignment, options: GradeOptions) -> float:
    """Points of the questions being graded: what an ungradable row is out of."""
    return round(
        sum(q.points for q in assignment.questions if not options.questions or q.id in options.questions), 4
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
