"""The instructor's side: blank student notebooks, and proof that an exercise grades right.

An exercise is data (``exercise.toml``), so nothing but running it shows that its checks
accept a correct answer and reject the mistakes they were written for. ``validate``
grades the reference solution (which must get full marks under every start method, so
students on macOS or Python 3.14 are not marked down for the platform) and each declared
wrong variant (which must lose points where the file says). ``write_template`` gives
students a notebook whose answer cells carry their question id, so that segmentation
never has to guess and ``mpgrade check`` needs no ``--assignment``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mpgrade.model import (
    Assignment,
    CellKind,
    GradeOptions,
    Question,
    QuestionResult,
    Report,
    value_class,
)
from mpgrade.wording import noun, plural

TemplateFormat = Literal["ipynb", "py"]
Expectation = Literal["full marks", "loses points", "review"]
# The rubric part of a mixed question: a proposal a person confirms, never a gate.
PROSE_CHECK = "prose.rubric"


# --------------------------------------------------------------------------- templates


def answer_kinds(q: Question) -> tuple[CellKind, ...]:
    """Answer cells a question gets: prose, code, or both when code comes with a rubric."""
    if q.kind == "prose":
        return ("markdown",)
    return ("markdown", "code") if q.rubric is not None else ("code",)


def _points(value: float) -> str:
    return f"{value:g} {noun(value, 'point')}"


def _prompt(q: Question) -> str:
    """The question cell: one header line, which segmentation drops whole.

    Anything on a further line would count as part of the student's answer, so the
    points go on the header line and the instructions into the title cell.
    """
    text = " ".join((q.text or q.title).split())
    return f"## {q.id}. {text} ({_points(q.points)})"


def _answer_cell(q: Question, kind: CellKind) -> NotebookNode:
    cell = new_markdown_cell("") if kind == "markdown" else new_code_cell("")
    cell.metadata["mpgrade"] = {"question": q.id}
    cell.metadata["tags"] = [q.id]
    return cell


def template_notebook(assignment: Assignment) -> NotebookNode:
    """The blank student notebook: a title, then per question its prompt and answer cells."""
    total = sum(q.points for q in assignment.questions)
    intro = (
        f"# {assignment.title}\n\n"
        f"{plural(len(assignment.questions), 'question')}, {_points(total)}. Answer each question in the "
        "cell(s) right below it: a text cell for explanations, a code cell for programs. Keep "
        "the cells in place, they tell the grader which question you are answering. Every code "
        "answer is run on its own, as a script, so import what it needs and guard process "
        'creation with `if __name__ == "__main__":`.'
    )
    cells = [new_markdown_cell(intro)]
    for q in assignment.questions:
        cells.append(new_markdown_cell(_prompt(q)))
        cells.extend(_answer_cell(q, kind) for kind in answer_kinds(q))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["mpgrade"] = {"assignment": assignment.id}
    return nb


def _percent(nb: NotebookNode) -> str:
    """A jupytext "percent" script: ``# %%`` cells, tags in the header, markdown as comments."""
    out = [
        "# ---",
        "# jupyter:",
        "#   mpgrade:",
        f"#     assignment: {nb.metadata['mpgrade']['assignment']}",
        "# ---",
    ]
    for cell in nb.cells:
        header = "# %% [markdown]" if cell.cell_type == "markdown" else "# %%"
        if "tags" in cell.metadata:
            header += " tags=" + json.dumps(cell.metadata["tags"])
        out += ["", header]
        lines = cell.source.splitlines()
        if cell.cell_type == "markdown":
            out += [f"# {ln}".rstrip() for ln in lines]
        else:
            out += lines
    return "\n".join(out) + "\n"


def write_template(assignment: Assignment, path: str | Path, fmt: TemplateFormat = "ipynb") -> Path:
    """Write the blank student notebook (``ipynb``) or its percent-format script (``py``)."""
    if fmt not in ("ipynb", "py"):
        raise ValueError(f"unknown template format {fmt!r} (use ipynb or py)")
    path = Path(path)
    nb = template_notebook(assignment)
    if fmt == "ipynb":
        nbformat.validate(nb)
        path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    else:
        path.write_text(_percent(nb), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- validation


@value_class
class ValidationRow:
    """One question of one graded file, against what the exercise says should happen."""

    subject: str  # "reference" or the variant's path relative to the exercise folder
    start_method: str
    question: str
    expect: Expectation
    score: float  # of the automatically graded part (prose: the proposal)
    max_score: float
    status: str
    ok: bool
    note: str = ""


@value_class
class ValidationOutcome:
    assignment_id: str
    title: str
    rows: tuple[ValidationRow, ...]
    problems: tuple[str, ...] = ()  # what stopped a file from being graded at all
    timings: tuple[tuple[str, float], ...] = ()  # (subject and method, seconds)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.problems and all(r.ok for r in self.rows)


def _auto_part(qr: QuestionResult) -> tuple[float, float]:
    """Score and maximum of the checks a machine decides (everything but the rubric)."""
    checks = [c for c in qr.checks if c.id != PROSE_CHECK]
    if not checks:  # not run at all (missing, syntax error): the whole question counts
        return qr.score, qr.max_score
    return sum(c.score for c in checks), sum(c.max_score for c in checks)


def _proposal(qr: QuestionResult) -> str:
    rubric = next((c for c in qr.checks if c.id == PROSE_CHECK), None)
    return f"prose proposal {rubric.score:g}/{rubric.max_score:g}" if rubric else ""


def _lost(qr: QuestionResult, limit: int = 300) -> str:
    """Which checks took points and why, short enough to sit under a table row."""
    failed = [f"{c.id}: {c.message}" for c in qr.checks
              if c.score < c.max_score - 1e-9 and c.id != PROSE_CHECK]
    text = "; ".join(failed) or qr.feedback
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reference_rows(report: Report, assignment: Assignment, method: str) -> list[ValidationRow]:
    rows = []
    for qr in report.questions:
        q = assignment.question(qr.id)
        if q.start_method and q.start_method != method:
            continue  # a pinned question is judged only under its own method
        if q.kind == "prose":
            ok = qr.status != "missing"
            note = _proposal(qr) if ok else "the reference has no answer to this question"
            rows.append(ValidationRow("reference", method, qr.id, "review", qr.score,
                                      qr.max_score, qr.status, ok, note))
            continue
        score, top = _auto_part(qr)
        ok = score >= top - 1e-9
        note = _proposal(qr) if ok else _lost(qr)
        rows.append(ValidationRow("reference", method, qr.id, "full marks", score, top,
                                  qr.status, ok, note))
    return rows


def _variant_rows(report: Report, subject: str, method: str) -> list[ValidationRow]:
    rows = []
    for qr in report.questions:
        if qr.status == "missing":
            ok, note = False, "the variant has no answer to this question, so it proves nothing"
        else:
            ok = qr.score < qr.max_score - 1e-9
            note = _lost(qr, 160) if ok else "got full marks: the checks do not catch this mistake"
        rows.append(ValidationRow(subject, method, qr.id, "loses points", qr.score,
                                  qr.max_score, qr.status, ok, note))
    return rows


def reference_methods(assignment: Assignment) -> tuple[str, ...]:
    """Start methods the reference must pass under: the pinned one, else all this Python has."""
    from mpgrade.grader import available_start_methods

    methods = [assignment.start_method] if assignment.start_method else list(available_start_methods())
    methods += [q.start_method for q in assignment.questions if q.start_method]
    return tuple(dict.fromkeys(methods))


def validate(assignment: Assignment, isolation: str = "auto") -> ValidationOutcome:
    """Grade the reference under every start method and each variant under the first one."""
    from mpgrade.grader import grade_file
    from mpgrade.submission import SubmissionError

    started = time.monotonic()
    rows: list[ValidationRow] = []
    problems: list[str] = []
    timings: list[tuple[str, float]] = []
    methods = reference_methods(assignment)
    root = Path(assignment.root)

    def grade(path: str, label: str, method: str, questions: tuple[str, ...] = ()) -> Report | None:
        if not Path(path).is_file():  # the path as resolved from the exercise folder
            problems.append(f"{label}: no such file: {path}")
            return None
        t0 = time.monotonic()
        options = GradeOptions(isolation=isolation, start_method=method, questions=questions)
        try:
            report = grade_file(path, assignment, options)
        except SubmissionError as exc:
            problems.append(f"{label}: {exc}")
            return None
        timings.append((f"{label} ({method})", round(time.monotonic() - t0, 2)))
        return report

    if assignment.solution is None:
        problems.append("no reference solution: add `solution = \"path\"` to exercise.toml")
    else:
        for method in methods:
            report = grade(assignment.solution, "reference", method)
            if report is None:
                break
            rows += _reference_rows(report, assignment, method)
    for variant in assignment.variants:
        subject = _relative(Path(variant.path), root)
        report = grade(variant.path, subject, methods[0], variant.loses)
        if report is not None:
            rows += _variant_rows(report, subject, methods[0])
    return ValidationOutcome(
        assignment_id=assignment.id,
        title=assignment.title,
        rows=tuple(rows),
        problems=tuple(problems),
        timings=tuple(timings),
        duration_s=round(time.monotonic() - started, 2),
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def render_validation(outcome: ValidationOutcome) -> str:
    """A plain table (it ends up in CI logs), failures explained under their row."""
    head = ("file", "method", "question", "expected", "score", "status", "verdict")
    body = [
        (r.subject, r.start_method, r.question, r.expect, f"{r.score:g}/{r.max_score:g}",
         r.status, "ok" if r.ok else "FAIL")
        for r in outcome.rows
    ]
    widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [f"Validating {outcome.assignment_id}: {outcome.title}", "", line(head),
           line(tuple("-" * w for w in widths))]
    shown: set[tuple[str, str, str]] = set()  # a prose proposal is the same under every method
    for row, cells in zip(outcome.rows, body, strict=True):
        out.append(line(cells))
        if not row.ok:
            out.append(f"    why: {row.note}")
        elif row.note and (row.subject, row.question, row.note) not in shown:
            shown.add((row.subject, row.question, row.note))
            out.append(f"    note: {row.note}")
    out += [f"problem: {p}" for p in outcome.problems]
    failed = sum(not r.ok for r in outcome.rows) + len(outcome.problems)
    slowest = ", ".join(f"{label} {s:g}s" for label, s in sorted(outcome.timings, key=lambda t: -t[1])[:3])
    out.append("")
    verdict = "OK" if outcome.ok else f"FAILED ({plural(failed, 'problem')})"
    out.append(f"{verdict}: {plural(len(outcome.rows), 'row')} in {outcome.duration_s:g}s"
               + (f"; slowest: {slowest}" if slowest else ""))
    return "\n".join(out)
