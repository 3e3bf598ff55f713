"""Gradebook CSVs: our own ``grades.csv`` and the import formats of Canvas and Moodle.

Scores of rows without a grade (error, missing, pending) are left blank in the LMS
files: an LMS import leaves a blank cell alone, so a file we could not read never
overwrites a grade a teacher entered by hand with a zero.

Every file is written for spreadsheets too: UTF-8 with a byte-order mark by default (so
Excel shows accented names rightly; Canvas and Moodle skip the mark), and every text
cell that a spreadsheet would take for a formula (starting with ``= + - @``, a tab or a
carriage return) is prefixed with ``'``, as OWASP advises against CSV injection: names
and file stems come from students.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from mpgrade import regexes
from mpgrade.batch.record import Row
from mpgrade.batch.store import write_atomic
from mpgrade.model import Question, value_class
from mpgrade.report.lms import Mark, bounded, feedback

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = regexes.compile(r"-?\d+(?:\.\d+)?")


@value_class
class CsvStyle:
    encoding: str = "utf-8-sig"  # "utf-8-sig" writes the BOM; any Python codec name


def num(x: float) -> str:
    """1.5 -> "1.5", 2.0 -> "2": what a person would type."""
    return f"{round(x, 4):g}"


def cell(text: str) -> str:
    """Text a spreadsheet shows as text, never runs as a formula (a number, or Moodle's
    "-" for no date, stays as it is)."""
    if text == "-" or _NUMBER.fullmatch(text):
        return text
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _write_csv(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], style: CsvStyle
) -> Path:
    """``rows`` hold text cells (neutralised here) except those made by ``num`` (safe)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([cell(h) for h in header])
    writer.writerows([cell(c) for c in row] for row in rows)
    write_atomic(path, buf.getvalue(), encoding=style.encoding)
    return path


def write_grades(
    path: Path,
    rows: Sequence[Row],
    questions: Sequence[Question],
    style: CsvStyle = CsvStyle(),
    incomplete: str = "",
) -> Path:
    """student, name, one column per question, total, max, status, notes, then the questions
    whose score is still an automatic proposal and those staff reviewed.

    After an interrupted run every row not graded yet is there as ``pending`` and its
    note says so; ``incomplete`` ("incomplete: 5 of 14 graded") is added to every note.
    """
    header = ["student", "name", *(q.id for q in questions), "total", "max", "status", "notes",
              "proposals", "reviewed"]
    lines = []
    for row in rows:
        rec = row.record
        scores = {q.id: q.score for q in rec.questions}
        graded = row.graded
        notes = notes_of(row) + ([incomplete] if incomplete else [])
        lines.append([
            row.student,
            row.name,
            *(num(scores[q.id]) if graded and q.id in scores else "" for q in questions),
            num(rec.score) if graded else "",
            num(rec.max_score),
            rec.status,
            "; ".join(notes),
            " ".join(proposals_of(row)),
            " ".join(q.id for q in rec.questions if q.reviewed),
        ])
    return _write_csv(path, header, lines, style)


def notes_of(row: Row) -> list[str]:
    """What a teacher should know about a row beyond its numbers."""
    notes = [row.record.error] if row.record.error else []
    notes.extend(row.notes)
    notes.extend(f"{q.id}: the automatic score changed to {num(q.auto_score or 0)} since the review: "
                 "take a second look" for q in row.record.questions if q.stale)
    return notes


def proposals_of(row: Row) -> list[str]:
    """Questions whose score is still an automatic proposal waiting for staff."""
    return [q.id for q in row.record.questions if q.status == "needs_review"]


def write_canvas(
    path: Path, rows: Sequence[Row], column: str, max_score: float, style: CsvStyle = CsvStyle()
) -> Path:
    """Canvas gradebook import: rows matched on ID, SIS User ID or SIS Login ID; the
    column matches an existing assignment only when it ends in ``(<assignment id>)``."""
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column]
    lines = [["Points Possible", "", "", "", "", num(max_score)]]
    for row in rows:
        r, ident = row.roster, row.identity
        layout = ident.layout if ident else ""
        canvas_id = (r.lms_id if r else "") or (ident.student if layout == "canvas" else "")
        sis_user = (r.sis_user_id if r else "") or (ident.student if layout == "gradescope" else "")
        sis_login = (r.sis_login_id if r else "") or (
            row.student if not (canvas_id or sis_user) else ""
        )
        score = num(row.record.score) if row.graded else ""
        lines.append([row.name or row.student, canvas_id, sis_user, sis_login, r.section if r else "", score])
    return _write_csv(path, header, lines, style)


# The columns of Moodle's "Download grading worksheet" (an assignment with file
# submissions and feedback comments, identity field email), in Moodle's order.
MOODLE_WORKSHEET = (
    "Identifier",
    "Full name",
    "Email address",
    "Status",
    "Grade",
    "Maximum Grade",
    "Grade can be changed",
    "Last modified (submission)",
    "Last modified (grade)",
    "Feedback comments",
)


def write_moodle_worksheet(
    path: Path,
    rows: Sequence[Row],
    max_score: float,
    style: CsvStyle = CsvStyle(),
    now: datetime | None = None,
) -> tuple[Path, int]:
    """Moodle's offline grading worksheet, for the assignment's "Upload grading worksheet".

    Moodle matches a row by ``Identifier`` ("Participant <n>", the assignment's own number
    for the student, known only from a worksheet or a Moodle download), and keeps a grade
    changed in Moodle after ``Last modified (grade)``, here the time of writing. Rows
    without a participant number cannot be imported and are left out; their count is
    returned.
    """
    stamp = moodle_date(now or datetime.now().astimezone())
    lines, left_out = [], 0
    for row in rows:
        r, ident = row.roster, row.identity
        moodle_id = (r.moodle_id if r else "") or (ident.student if ident and ident.layout == "moodle" else "")
        if not moodle_id.isdigit():
            left_out += 1
            continue
        graded = row.graded
        lines.append([
            f"Participant {moodle_id}",
            row.name or row.student,
            row.email,
            "No submission" if row.record.status == "missing" else "Submitted for grading",
            num(row.record.score) if graded else "",
            num(max_score),
            "Yes",
            "-",
            stamp if graded else "-",
            feedback_line(row),
        ])
    return _write_csv(path, MOODLE_WORKSHEET, lines, style), left_out


def write_moodle_gradebook(
    path: Path, rows: Sequence[Row], title: str, style: CsvStyle = CsvStyle()
) -> tuple[Path, int]:
    """For the course gradebook's "Import > CSV file": map ``Email address`` (or
    ``Username``) to the user, the score column to the grade item, and ``Feedback`` to its
    feedback. Moodle rejects the whole import when one row's user is unknown, so rows with
    neither email nor username are left out; their count is returned."""
    header = ["Email address", "Username", "Full name", title, "Feedback"]
    lines, left_out = [], 0
    for row in rows:
        username = row.roster.sis_login_id if row.roster else ""
        if not (row.email or username):
            left_out += 1
            continue
        score = num(row.record.score) if row.graded else ""
        lines.append([row.email, username, row.name or row.student, score, feedback_line(row)])
    return _write_csv(path, header, lines, style), left_out


def moodle_date(when: datetime) -> str:
    """A date as Moodle writes it in a worksheet (and reads back with strtotime):
    "Wednesday, 2 December 2026, 5:32 AM"."""
    hour = when.hour % 12 or 12
    days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    months = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
    return (
        f"{days[when.weekday()]}, {when.day} {months[when.month - 1]} {when.year}, "
        f"{hour}:{when.minute:02d} {'AM' if when.hour < 12 else 'PM'}"
    )


def feedback_line(row: Row) -> str:
    """What the student reads in the LMS: ``report.lms.feedback``, the LTI comment's words."""
    rec = row.record
    if rec.status == "missing":
        return "No submission was found."
    if rec.status == "pending":
        return ""
    if rec.status == "error":
        return bounded(f"Your submission could not be graded: {rec.error}")
    marks = [Mark(q.id, q.score, q.max_score, q.status, q.reasons[0].label if q.reasons else "", q.reviewed,
                  q.comment) for q in rec.questions]
    return feedback(rec.score, rec.max_score, marks)
