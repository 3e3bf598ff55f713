"""The class list: who should have submitted, and their names for the gradebooks.

Teachers export rosters from the LMS they use, so the reader accepts the column
names of Canvas' gradebook export, Moodle's grading worksheet, Gradescope's roster and
a plain ``id,name,email`` file. A submission is matched against every identifier a
student has (LMS user id, SIS id, login, email), because each LMS names files by a
different one.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from mpgrade import regexes
from mpgrade.model import value_class


class RosterError(Exception):
    """A roster that cannot be used: a usage error (exit code 2)."""


@value_class
class Student:
    """One row of the roster."""

    id: str  # the identifier the gradebooks use
    lms_id: str = ""  # "ID" of a Canvas export (its user id, the number in Canvas file names)
    name: str = ""
    email: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    moodle_id: str = ""  # Moodle "Participant <n>" number
    aliases: tuple[str, ...] = ()  # every identifier, lower-cased, for matching


# Column names (lower-cased) per field, most specific first.
_ID = ("id", "student id", "student_id", "studentid", "user id", "userid", "sid", "student number")
_SIS_USER = ("sis user id", "sis_user_id")
_SIS_LOGIN = ("sis login id", "sis_login_id", "login", "login id", "username", "user name")
_EMAIL = ("email", "email address", "e-mail", "mail")
_NAME = ("name", "full name", "fullname", "student name")
_FIRST = ("first name", "firstname", "given name")
_LAST = ("last name", "lastname", "surname", "family name")
_SECTION = ("section", "sections", "group")
_MOODLE = ("identifier",)


def load_roster(path: Path) -> tuple[Student, ...]:
    """Read a roster CSV; raise ``RosterError`` with one line when it is unusable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(f"roster {path}: cannot read it ({exc})") from exc
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise RosterError(f"roster {path}: empty file")
    header = [h.strip().lower() for h in rows[0]]
    if not any(h in header for h in (*_ID, *_SIS_USER, *_SIS_LOGIN, *_EMAIL, *_MOODLE, "student")):
        raise RosterError(f"roster {path}: no id column (expected one of id, sid, sis user id, login, email)")
    students: list[Student] = []
    seen: set[str] = set()
    canvas = bool({"sis user id", "sis login id"} & set(header))
    for row in rows[1:]:
        cells = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}
        student = _student(cells, canvas)
        if student is None or student.id.lower() in seen:
            continue
        seen.add(student.id.lower())
        students.append(student)
    return tuple(students)


def _first(cells: dict[str, str], names: tuple[str, ...]) -> str:
    return next((cells[n] for n in names if cells.get(n)), "")


def _student(cells: dict[str, str], canvas: bool) -> Student | None:
    # Canvas puts the name in "Student" next to an "ID"; a plain roster may use "student" as the id.
    has_id = any(cells.get(n) for n in _ID)
    name = _first(cells, _NAME) or (cells.get("student", "") if has_id else "")
    if not name:
        name = " ".join(p for p in (_first(cells, _FIRST), _first(cells, _LAST)) if p)
    if {name.lower(), cells.get("student", "").lower()} & {"points possible", "student, test", "test student"}:
        return None  # Canvas' exports carry these pseudo-students
    moodle = re.sub(r"^participant\s*", "", cells.get("identifier", ""), flags=re.I)
    sis_user, sis_login = _first(cells, _SIS_USER), _first(cells, _SIS_LOGIN)
    email = _first(cells, _EMAIL)
    primary = _first(cells, _ID) or sis_user or sis_login or moodle or email
    if not primary and not has_id:
        primary = cells.get("student", "")
    if not primary:
        return None
    aliases = {v.lower() for v in (primary, sis_user, sis_login, email, moodle) if v}
    if email:
        aliases.add(email.split("@")[0].lower())
    return Student(
        id=primary,
        lms_id=cells.get("id", "") if canvas else "",
        name=name,
        email=email,
        sis_user_id=sis_user,
        sis_login_id=sis_login,
        section=_first(cells, _SECTION),
        moodle_id=moodle,
        aliases=tuple(sorted(aliases)),
    )


_CANVAS_FIXED = {"student", "id", "sis user id", "sis login id", "section", "integration id", "root account"}
_CANVAS_ASSIGNMENT = regexes.compile(r"^(?P<title>.*\S)\s*\((?P<id>\d+)\)$")


def canvas_assignment_columns(path: Path) -> tuple[tuple[str, str], ...]:
    """(header, title) of each assignment column of a Canvas gradebook export, whose header
    ends in the assignment's numeric id: ``Processes and pools (12345)``."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return ()
    out = []
    for h in header:
        name = h.strip()
        match = _CANVAS_ASSIGNMENT.match(name)
        if match and name.lower() not in _CANVAS_FIXED:
            out.append((name, match.group("title")))
    return tuple(out)


class RosterIndex:
    """Looks up the roster row of a submission's identifier."""

    def __init__(self, students: tuple[Student, ...]) -> None:
        self.students = students
        self._by_alias: dict[str, Student] = {}
        for s in students:
            for alias in s.aliases:
                self._by_alias.setdefault(alias, s)

    def match(self, *identifiers: str) -> Student | None:
        for ident in identifiers:
            if ident and (hit := self._by_alias.get(ident.lower())):
                return hit
        return None
