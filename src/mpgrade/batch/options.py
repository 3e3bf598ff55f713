"""What a batch is asked to do, and what it did: the interface the CLI builds and reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mpgrade.errors import MpgradeError
from mpgrade.model import Assignment, GradeOptions


class BatchError(MpgradeError):
    """A batch that cannot start (missing input, bad roster, no Dask): one line, exit code 2."""


@dataclass(frozen=True)
class BatchOptions:
    inputs: tuple[Path, ...]
    outdir: Path
    assignment: Assignment
    grade: GradeOptions = GradeOptions()
    workers: int = 0  # 0 = default_workers()
    force: bool = False  # regrade even unchanged submissions
    roster: Path | None = None
    dask: str | None = None  # scheduler address; None = local worker processes
    progress: bool | None = None  # None: live on a terminal, one final line otherwise; False: silent
    report_format: str = "html"  # per-student report: "html" | "markdown" | "text"
    canvas_assignment_id: str | None = None  # Canvas' numeric id for the gradebook column


@dataclass(frozen=True)
class BatchResult:
    students: int  # rows of grades.csv
    graded: int  # submissions graded in this run
    skipped: int  # unchanged since a previous run: result reused
    errors: int  # rows with status "error"
    missing: int  # roster students with no submission
    pending: int  # submissions left ungraded because the run was interrupted
    interrupted: bool
    duration_s: float
    outdir: Path
    written: tuple[Path, ...] = field(default=())  # class-level files (CSVs, summaries)

    @property
    def summary_line(self) -> str:
        state = f"interrupted, {self.pending} left" if self.interrupted else "done"
        return (
            f"mpgrade grade: {state}: {self.students} students, {self.graded} graded, "
            f"{self.skipped} unchanged, {self.errors} error{'' if self.errors == 1 else 's'}, "
            f"{self.missing} missing "
            f"in {self.duration_s:.1f} s -> {self.outdir}"
        )
