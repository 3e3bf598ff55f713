"""The Python API: grade a file or a few cells and get a result that shows itself.

``mpgrade.check("ass.ipynb", question="Q6")`` is what ``mpgrade check`` does, for
other tools and for notebooks: the returned ``Result`` holds the ``Report`` and renders
as rich HTML in Jupyter (``_repr_html_``, the report's question sections with their
timelines) and as the terminal report in plain text everywhere else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from mpgrade.model import Cell, GradeOptions, QuestionResult, Report, Submission, value_class

DEFAULT_ASSIGNMENT = "15feb-multiprocessing"


@value_class
class Result:
    """A graded submission (or part of one), as the student sees it."""

    report: Report
    note: str = ""  # said above the questions (the magic's word on the kernel's own run)

    @property
    def score(self) -> float:
        return self.report.score

    @property
    def max_score(self) -> float:
        return self.report.max_score

    @property
    def questions(self) -> tuple[QuestionResult, ...]:
        return self.report.questions

    @property
    def passed(self) -> bool:
        return self.report.score >= self.report.max_score - 1e-9

    def text(self, width: int = 100, verbose: bool = False) -> str:
        from mpgrade.report.text import render_text

        body = render_text(self.report, color=False, verbose=verbose, width=width)
        return f"{self.note}\n\n{body}" if self.note else body

    def _repr_html_(self) -> str:
        from mpgrade.report.templated import render_fragment

        return render_fragment(self.report, note=self.note)

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython's text/plain
        printer.text(self.text())

    def __repr__(self) -> str:
        return (f"<mpgrade Result {self.report.submission_path}: "
                f"{self.report.score:g}/{self.report.max_score:g}>")


def _questions(question: str | Sequence[str] | None) -> tuple[str, ...]:
    if question is None:
        return ()
    wanted = [question] if isinstance(question, str) else list(question)
    return tuple(q.strip().upper() if q.strip().upper().startswith("Q") else f"Q{q.strip()}"
                 for q in wanted)


def options(question: str | Sequence[str] | None = None, *, timeout: float | None = None,
            start_method: str | None = None, isolation: str = "auto") -> GradeOptions:
    return GradeOptions(timeout_s=timeout, start_method=start_method, isolation=isolation,
                        questions=_questions(question))


def check(
    path: str | Path,
    question: str | Sequence[str] | None = None,
    assignment: str | None = None,
    *,
    timeout: float | None = None,
    start_method: str | None = None,
    isolation: str = "auto",
) -> Result:
    """Grade ``path`` (all questions, or ``question``) as ``mpgrade check`` does.

    ``assignment``: an exercise id or folder; default the id stamped in the notebook, else
    the best match by question headers. Raises ``MpgradeError`` for an unreadable file, an
    unknown assignment or question."""
    from mpgrade.assignment import choose_assignment
    from mpgrade.grader import grade_submission
    from mpgrade.submission import load

    sub = load(path)
    choice = choose_assignment(assignment, sub)
    chosen = choice.assignment
    return Result(grade_submission(sub, chosen, options(
        question, timeout=timeout, start_method=start_method, isolation=isolation).checked(chosen),
        choice.segmentation))


def check_cells(
    cells: Sequence[str],
    question: str,
    assignment: str | None = None,
    *,
    name: str = "notebook",
    note: str = "",
    timeout: float | None = None,
    isolation: str = "auto",
) -> Result:
    """Grade the last of ``cells`` as the answer to ``question``; the cells before it give
    the definitions it may use, as earlier cells of a notebook do."""
    from mpgrade.grader import grade_submission

    qid = _questions(question)[0]
    made = tuple(Cell(i, "code", src) for i, src in enumerate(cells[:-1]))
    made += (Cell(len(cells) - 1, "code", cells[-1], question=qid),)
    sha = hashlib.sha256("\n\0".join(cells).encode("utf-8", "replace")).hexdigest()
    sub = Submission(name, "ipynb", sha, made)
    chosen = _assignment(assignment or DEFAULT_ASSIGNMENT, sub)
    opts = options(qid, timeout=timeout, isolation=isolation).checked(chosen)
    return Result(grade_submission(sub, chosen, opts), note=note)


def _assignment(requested: str | None, sub: Submission):
    from mpgrade.assignment import choose_assignment

    return choose_assignment(requested, sub).assignment
