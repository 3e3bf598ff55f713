"""Gradebook CSVs: our own ``grades.csv`` and the import formats of Canvas and Moodle.

Scores of rows that could not be graded (error, missing) are left blank in the LMS
files: an LMS import leaves a blank cell alone, so a file we could not read never
overwrites a grade a teacher entered by hand with a zero.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from mpgrade.batch.record import Row
from mpgrade.batch.store import write_atomic
from mpgrade.model import Question


def num(x: float) -> str:
    """1.5 -> "1.5", 2.0 -> "2": what a person would type."""
    return f"{round(x, 4):g}"


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_atomic(path, buf.getvalue())
    return path


def write_grades(path: Path, rows: Sequence[Row], questions: Sequence[Question]) -> Path:
    """student, name, one column per question, total, max, status, notes."""
    header = ["student", "name", *(q.id for q in questions), "total", "max", "status", "notes"]
    lines = []
    for row in rows:
        rec = row.record
        scores = {q.id: q.score for q in rec.questions}
        graded = row.graded
        lines.append([
            row.student,
            row.name,
            *(num(scores[q.id]) if graded and q.id in scores else "" for q in questions),
            num(rec.score) if graded else "",
            num(rec.max_score),
            rec.status,
            "; ".join(notes_of(row)),
        ])
    return _write_csv(path, header, lines)


def notes_of(row: Row) -> list[str]:
    """What a teacher should know about a row beyond its numbers."""
    notes = [row.record.error] if row.record.error else []
    notes.extend(row.notes)
    return notes


def write_canvas(path: Path, rows: Sequence[Row], column: str, max_score: float) -> Path:
    """Canvas gradebook import: matched on ID, SIS User ID or SIS Login ID."""
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
    return _write_csv(path, header, lines)


def write_moodle(path: Path, rows: Sequence[Row], max_score: float) -> Path:
    """Moodle's offline grading worksheet: "Participant <id>" identifiers, grade, feedback."""
    header = ["Identifier", "Full name", "Email address", "Grade", "Maximum Grade", "Feedback comments"]
    lines = []
    for row in rows:
        r, ident = row.roster, row.identity
        moodle_id = (r.moodle_id if r else "") or (ident.student if ident and ident.layout == "moodle" else "")
        identifier = f"Participant {moodle_id}" if moodle_id else row.student
        score = num(row.record.score) if row.graded else ""
        lines.append([identifier, row.name, row.email, score, num(max_score), feedback_line(row)])
    return _write_csv(path, header, lines)


def feedback_line(row: Row) -> str:
    """One line for the student in the LMS: the total, then each question that lost points."""
    rec = row.record
    if rec.status == "missing":
        return "No submission was found."
    if rec.status == "error":
        return f"Your submission could not be graded: {rec.error}"
    parts = [f"Score {num(rec.score)}/{num(rec.max_score)}."]
    for q in rec.questions:
        if q.status == "passed":
            continue
        why = f" ({q.reasons[0].label})" if q.reasons else ""
        parts.append(f"{q.id}: {num(q.score)}/{num(q.max_score)} {q.status.replace('_', ' ')}{why}.")
    return " ".join(parts)
