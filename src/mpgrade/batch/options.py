"""What a batch is asked to do, and what it did: the interface the CLI builds and reads."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path

from mpgrade.errors import MpgradeError
from mpgrade.model import Assignment, GradeOptions, value_class
from mpgrade.wording import plural


class BatchError(MpgradeError):
    """A batch that cannot start (missing input, bad roster, no Dask): one line, exit code 2."""


@value_class
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
    report_format: str = "html"  # per-student report: a name of ``mpgrade.formats.REPORT_NAMES``
    canvas_assignment_id: str | None = None  # Canvas' numeric id for the gradebook column
    csv_encoding: str = "utf-8-sig"  # of the gradebook CSVs; the BOM makes Excel read UTF-8


@value_class
class BatchResult:
    """The class as the output folder now holds it; the counts add up to ``students``:
    ``students == graded + errors + missing + pending``."""

    students: int  # rows of grades.csv: every submitter, and roster students who submitted nothing
    graded: int  # rows with a score (this run or an earlier one)
    graded_now: int  # of those, graded in this run
    skipped: int  # rows whose stored result was reused: the file had not changed
    errors: int  # rows with status "error": the submission could not be graded
    missing: int  # roster students with no submission
    pending: int  # submitters not graded yet: the run was interrupted, or the cluster lost them
    interrupted: bool
    duration_s: float
    outdir: Path
    written: tuple[Path, ...] = field(default=())  # class-level files (CSVs, summaries)
    problems: tuple[tuple[str, str, str], ...] = ()  # (student, status, why) of each row without a score
    warnings: tuple[str, ...] = ()  # about the gradebook files (an LMS id that could not be found, ...)
    lost: int = 0  # of ``pending``: the Dask cluster failed them (workers lost); no result written
    lost_reason: str = ""  # the cluster's last word about one of them

    @property
    def complete(self) -> bool:
        """Every submitter has a row of their own: graded, or an error of their file."""
        return self.pending == 0

    @property
    def summary_line(self) -> str:
        if self.interrupted:
            state = f"interrupted, incomplete: {self.graded} of {self.students} graded"
        elif self.pending:
            state = (f"incomplete: {self.graded} of {self.students} graded, {self.lost} lost by "
                     f"the cluster ({self.lost_reason or 'no reason given'}); re-run to grade them")
        else:
            state = "done"
        return (
            f"mpgrade grade: {state}: {plural(self.students, 'student')}: "
            f"{self.graded} graded, "
            f"{plural(self.errors, 'error')}, {self.missing} missing, "
            f"{self.pending} pending; this run graded {self.graded_now} and reused {self.skipped}, "
            f"in {self.duration_s:.1f} s -> {self.outdir}"
        )

    def closing_lines(self, limit: int = 20) -> list[str]:
        """The summary line, who could not be graded and why, and the gradebook warnings."""
        lines = [self.summary_line]
        if self.problems:
            lines.append("not graded:")
            lines += [
                f"  {student} [{status}]: {why or ('no submission' if status == 'missing' else status)}"
                for student, status, why in self.problems[:limit]
            ]
            if len(self.problems) > limit:
                lines.append(f"  ... and {len(self.problems) - limit} more (see grades.csv)")
        lines += [f"warning: {w}" for w in self.warnings]
        return lines
