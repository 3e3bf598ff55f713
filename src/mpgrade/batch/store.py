"""The output folder as the batch's memory: results on disk are the resume cache.

Every file is written to a temporary name and renamed into place, and a student's
record is written last: a record on disk therefore always describes finished files,
whatever moment a crash or Ctrl-C picked. A re-run reuses a result when its record
carries the same key (content hash, assignment spec hash, mpgrade version, options).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from mpgrade import __version__
from mpgrade.batch.options import BatchError
from mpgrade.batch.record import Record
from mpgrade.batch.work import Outcome
from mpgrade.model import Assignment, GradeOptions

RESULTS, REPORTS, LTI, STATE = "results", "reports", "lti", ".mpgrade"
# The folders a Store makes, each after the one it lies in.
_LAYOUT = (RESULTS, REPORTS, LTI, STATE, f"{STATE}/records", f"{STATE}/logs", f"{STATE}/graded")


def safe_name(student: str) -> str:
    """A file name for a student id; a short hash keeps ids that differ only in odd characters apart."""
    clean = re.sub(r"[^A-Za-z0-9._@+-]+", "_", student).strip("._")[:80]
    if clean == student:
        return clean
    return f"{clean or 'student'}-{hashlib.sha256(student.encode()).hexdigest()[:8]}"


def spec_hash(assignment: Assignment, options: GradeOptions, fmt: str) -> str:
    """What, besides the file, decides a result: the exercise's content (not where it lives)."""
    spec = replace(assignment, root="", solution=None, variants=(), custom_checks=None)
    custom = ""
    if assignment.custom_checks:
        try:
            custom = Path(assignment.custom_checks).read_text(encoding="utf-8")
        except OSError:
            custom = "unreadable"
    text = "\n".join((repr(spec), custom, repr(options), fmt, __version__))
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(content_sha: str, spec: str) -> str:
    return hashlib.sha256(f"{content_sha}:{spec}".encode()).hexdigest()


class Store:
    """Reads and writes one output folder."""

    def __init__(self, outdir: Path, report_ext: str = "html") -> None:
        self.outdir = outdir
        self.report_ext = report_ext
        for sub in _LAYOUT:
            (outdir / sub).mkdir(parents=True, exist_ok=True)

    def remove_if_empty(self) -> None:
        """Undo the folder a failed first run made: its layout and lock file go when nothing
        else was written there, deepest first; anything else there stays."""
        (self.state / "lock").unlink(missing_ok=True)
        for sub in (*reversed(_LAYOUT), ""):
            try:
                (self.outdir / sub).rmdir()
            except OSError:
                pass

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One batch per output folder: two writing the same records would undo each other."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the user keeps runs apart
            yield
            return
        with open(self.state / "lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise BatchError(f"{self.outdir}: another `mpgrade grade` is writing there") from None
            yield

    @property
    def state(self) -> Path:
        return self.outdir / STATE

    def result_path(self, student: str) -> Path:
        return self.outdir / RESULTS / f"{safe_name(student)}.json"

    def report_path(self, student: str) -> Path:
        return self.outdir / REPORTS / f"{safe_name(student)}.{self.report_ext}"

    def lti_path(self, student: str) -> Path:
        return self.outdir / LTI / f"{safe_name(student)}.json"

    def report_href(self, student: str) -> str:
        return f"{REPORTS}/{safe_name(student)}.{self.report_ext}"

    def record_path(self, student: str) -> Path:
        return self.state / "records" / f"{safe_name(student)}.json"

    def saved_path(self, student: str) -> Path:
        """The full automatic report, encoded: what a review is rendered onto."""
        return self.state / "graded" / f"{safe_name(student)}.json.gz"

    def load(self, student: str) -> Record | None:
        try:
            data = json.loads(self.record_path(student).read_text(encoding="utf-8"))
            record = Record.from_dict(data)
        except (OSError, ValueError, TypeError):
            return None
        return record if record.student == student else None

    def is_current(self, student: str, key: str) -> bool:
        """True when a finished result for exactly this file, spec and version is on disk."""
        record = self.load(student)
        if record is None or not record.key or record.key != key:
            return False
        return record.status == "error" or self.result_path(student).is_file()

    def save(self, outcome: Outcome) -> None:
        """Write one student's files, record last (the record is the commit marker)."""
        student = outcome.record.student
        self.record_path(student).unlink(missing_ok=True)
        files = (
            (self.result_path(student), None if outcome.result is None else json.dumps(outcome.result, indent=1) + "\n"),
            (self.report_path(student), outcome.report),
            (self.lti_path(student), outcome.lti),
        )
        for path, text in files:
            if text is None:  # no stale file of an older submission may stand next to this row
                path.unlink(missing_ok=True)
            else:
                write_atomic(path, text)
        if outcome.saved is None:
            self.saved_path(student).unlink(missing_ok=True)
        else:
            write_atomic_bytes(self.saved_path(student), outcome.saved)
        write_atomic(self.record_path(student), json.dumps(outcome.record.to_dict()) + "\n")


def write_atomic(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write to a sibling temporary file, then rename: readers see the old or the new file.

    A character ``encoding`` cannot hold becomes ``?``: a name garbled in a legacy code
    page is better than a gradebook not written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding, errors="replace", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic_bytes(path: Path, data: bytes) -> None:
    """``write_atomic`` for bytes."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
