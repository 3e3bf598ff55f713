"""The gradebook files cell by cell, from hand-made rows (no grading): Moodle's worksheet
exactly as Moodle exports it, the gradebook import by email, Canvas' assignment column
from a Canvas export, spreadsheet encodings and formula neutralising."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

from mpgrade.batch.gradebook import (
    CsvStyle,
    cell,
    moodle_date,
    write_canvas,
    write_grades,
    write_moodle_gradebook,
    write_moodle_worksheet,
)
from mpgrade.batch.record import QuestionRow, Reason, Record, Row
from mpgrade.batch.roster import RosterIndex, canvas_assignment_columns, load_roster
from mpgrade.model import Question

WHEN = datetime(2026, 12, 2, 17, 5)
Q1 = Question("Q1", "One", "", "code", 1.0)
Q2 = Question("Q2", "Two", "", "code", 2.0)


def _csv(path: Path, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding))))


def _rows(tmp_path: Path) -> list[Row]:
    roster = tmp_path / "worksheet.csv"
    roster.write_text(  # a Moodle grading worksheet as downloaded, used as the roster
        "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
        "Last modified (submission),Last modified (grade),Feedback comments\n"
        "Participant 4211,Zoë Ångström,zoe@uni.edu,Submitted for grading,,3,Yes,-,-,\n"
        "Participant 4212,=HYPERLINK(\"http://x\"),eve@uni.edu,No submission,,3,Yes,-,-,\n",
        encoding="utf-8",
    )
    index = RosterIndex(load_roster(roster))
    zoe, eve = index.match("zoe@uni.edu"), index.match("eve@uni.edu")
    assert zoe is not None and eve is not None and zoe.moodle_id == "4211"
    graded = Record("4211", "k", "zoe.ipynb", "partial", 2.5, 3.0, (
        QuestionRow("Q1", "One", "code", "passed", 1.0, 1.0),
        QuestionRow("Q2", "Two", "code", "timeout", 1.5, 2.0, (Reason("limit:deadlock", "stopped: deadlock"),)),
    ))
    return [
        Row("4211", graded, zoe.name, zoe.email, roster=zoe),
        Row("4212", Record("4212", "", "", "missing", 0.0, 3.0), eve.name, eve.email, roster=eve),
        Row("-stem", Record("-stem", "", "+x.py", "error", 0.0, 3.0, error="@cmd|' /C calc'!A0")),
    ]


def test_moodle_worksheet_as_moodle_exports_it(tmp_path: Path) -> None:
    path, left_out = write_moodle_worksheet(tmp_path / "w.csv", _rows(tmp_path), 3.0, now=WHEN)
    assert left_out == 1  # "-stem" has no participant number: Moodle could not match it
    rows = _csv(path)
    assert rows[0] == [
        "Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
        "Grade can be changed", "Last modified (submission)", "Last modified (grade)", "Feedback comments",
    ]
    assert rows[1] == [
        "Participant 4211", "Zoë Ångström", "zoe@uni.edu", "Submitted for grading", "2.5", "3", "Yes",
        "-", "Wednesday, 2 December 2026, 5:05 PM", "Score 2.5/3. Q2: 1.5/2 timeout (stopped: deadlock).",
    ]
    assert rows[2] == [
        "Participant 4212", "'=HYPERLINK(\"http://x\")", "eve@uni.edu", "No submission", "", "3", "Yes",
        "-", "-", "No submission was found.",
    ]
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert moodle_date(datetime(2026, 1, 5, 0, 7)) == "Monday, 5 January 2026, 12:07 AM"


def test_moodle_gradebook_matches_by_email_with_feedback(tmp_path: Path) -> None:
    path, left_out = write_moodle_gradebook(tmp_path / "g.csv", _rows(tmp_path), "Processes")
    assert left_out == 1
    rows = _csv(path)
    assert rows[0] == ["Email address", "Username", "Full name", "Processes", "Feedback"]
    assert rows[1][:4] == ["zoe@uni.edu", "", "Zoë Ångström", "2.5"]
    assert rows[2] == ["eve@uni.edu", "", "'=HYPERLINK(\"http://x\")", "", "No submission was found."]


def test_formula_cells_are_neutralised_everywhere(tmp_path: Path) -> None:
    for start in "=+-@\t\r":
        assert cell(f"{start}1+1") == f"'{start}1+1"
    assert cell("Ada") == "Ada" and cell("") == ""
    rows = _csv(write_grades(tmp_path / "grades.csv", _rows(tmp_path), (Q1, Q2)))
    error = rows[3]
    assert error[0] == "'-stem" and error[6] == "error" and error[7] == "'@cmd|' /C calc'!A0"
    for row in rows:
        for value in row:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_csv_encoding_switch(tmp_path: Path) -> None:
    path = write_grades(tmp_path / "grades.csv", _rows(tmp_path), (Q1, Q2), CsvStyle("cp1252"))
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and "Zoë Ångström".encode("cp1252") in raw
    plain = write_grades(tmp_path / "plain.csv", _rows(tmp_path), (Q1, Q2), CsvStyle("utf-8"))
    assert plain.read_bytes().startswith(b"student,")
    ascii_only = write_grades(tmp_path / "a.csv", _rows(tmp_path), (Q1, Q2), CsvStyle("ascii"))
    assert "Zo? ?ngstr?m" in ascii_only.read_text(encoding="ascii")


def test_canvas_column_from_a_canvas_export(tmp_path: Path) -> None:
    export = tmp_path / "canvas-export.csv"
    export.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Processes and pools (12345),Quiz 1 (777),"
        "Current Score\n"
        "    Points Possible,,,,,10,5,\n"
        "\"Adams, Alice\",1001,s1001,alice,Sec A,,,\n",
        encoding="utf-8-sig",
    )
    assert canvas_assignment_columns(export) == (
        ("Processes and pools (12345)", "Processes and pools"), ("Quiz 1 (777)", "Quiz 1"),
    )
    [alice] = load_roster(export)
    row = Row("1001", Record("1001", "k", "a.py", "passed", 10.0, 10.0), alice.name, roster=alice)
    rows = _csv(write_canvas(tmp_path / "canvas.csv", [row], "Processes and pools (12345)", 10.0))
    assert rows[0][-1] == "Processes and pools (12345)"
    assert rows[1] == ["Points Possible", "", "", "", "", "10"]
    assert rows[2] == ["Adams, Alice", "1001", "s1001", "alice", "Sec A", "10"]
