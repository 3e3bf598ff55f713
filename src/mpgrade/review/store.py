"""Staff decisions on scores, kept in ``OUT/reviews.sqlite``: one current decision per
(student, question) and the full history of who changed what, when, from which score.

The file lives next to the grades, not in the cache folder, because it is work people
did: deleting ``.mpgrade/`` to force a clean regrade must not lose it.
"""

from __future__ import annotations

import getpass
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from mpgrade.errors import MpgradeError
from mpgrade.model import Review, value_class

FILE = "reviews.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    student TEXT NOT NULL, question TEXT NOT NULL, score REAL NOT NULL, auto_score REAL NOT NULL,
    by TEXT NOT NULL, at TEXT NOT NULL, comment TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (student, question));
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, student TEXT NOT NULL, question TEXT NOT NULL,
    old_score REAL, new_score REAL NOT NULL, auto_score REAL NOT NULL,
    by TEXT NOT NULL, at TEXT NOT NULL, comment TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS published (student TEXT PRIMARY KEY, digest TEXT NOT NULL);
"""


class ReviewError(MpgradeError):
    """A review that cannot be stored (bad score, unreadable database): one line, exit code 2."""


@value_class
class Change:
    """One line of the history: who changed a score, when, from what to what."""

    student: str
    question: str
    old_score: float | None
    new_score: float
    auto_score: float
    by: str
    at: str
    comment: str


def reviewer() -> str:
    """Who is reviewing: ``$MPGRADE_REVIEWER``, else the login name."""
    name = os.environ.get("MPGRADE_REVIEWER", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ReviewStore:
    """The reviews of one output folder; each call opens and closes the database."""

    def __init__(self, outdir: Path) -> None:
        self.path = Path(outdir) / FILE

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
                db.executescript(_SCHEMA)
                yield db
        except sqlite3.Error as exc:
            raise ReviewError(f"{self.path}: {exc}") from None

    def exists(self) -> bool:
        return self.path.is_file()

    def set(self, student: str, question: str, score: float, auto_score: float, max_score: float,
            comment: str = "", by: str | None = None) -> Review:
        """Record a decision (accepting the proposal is a decision too) and its history line."""
        if not (0 <= score <= max_score + 1e-9):
            raise ReviewError(f"score {score:g} is outside 0..{max_score:g} for {question}")
        review = Review(round(score, 4), auto_score, by or reviewer(), now(), comment.strip())
        with self._db() as db:
            old = db.execute("SELECT score FROM reviews WHERE student=? AND question=?",
                             (student, question)).fetchone()
            db.execute("INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (student, question, review.score, auto_score, review.by, review.at, review.comment))
            db.execute("INSERT INTO history (student, question, old_score, new_score, auto_score, by, at, "
                       "comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (student, question, old[0] if old else auto_score, review.score, auto_score,
                        review.by, review.at, review.comment))
        return review

    def all(self) -> dict[str, dict[str, Review]]:
        """student -> question -> current review."""
        if not self.exists():
            return {}
        out: dict[str, dict[str, Review]] = {}
        with self._db() as db:
            for student, question, score, auto, by, at, comment in db.execute(
                    "SELECT student, question, score, auto_score, by, at, comment FROM reviews"):
                out.setdefault(student, {})[question] = Review(score, auto, by, at, comment)
        return out

    def history(self, student: str | None = None) -> list[Change]:
        if not self.exists():
            return []
        query = "SELECT student, question, old_score, new_score, auto_score, by, at, comment FROM history"
        with self._db() as db:
            rows = (db.execute(query + " WHERE student=? ORDER BY id", (student,)) if student
                    else db.execute(query + " ORDER BY id"))
            return [Change(*r) for r in rows]

    def published(self) -> dict[str, str]:
        """student -> digest of the reviews last written into their result and report."""
        if not self.exists():
            return {}
        with self._db() as db:
            return dict(db.execute("SELECT student, digest FROM published"))

    def mark_published(self, digests: dict[str, str]) -> None:
        if not digests:
            return
        with self._db() as db:
            db.executemany("INSERT OR REPLACE INTO published VALUES (?, ?)", digests.items())
