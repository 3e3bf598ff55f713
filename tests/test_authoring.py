"""Instructor tools: blank templates that grade exactly, and validation of exercise sets."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mpgrade.assignment import load_assignment
from mpgrade.authoring import (
    ValidationOutcome,
    ValidationRow,
    answer_kinds,
    render_validation,
    template_notebook,
    validate,
    write_template,
)
from mpgrade.model import Assignment, GradeOptions

SETS = ("15feb-multiprocessing", "locks-queues")
MPGRADE = [sys.executable, "-m", "mpgrade"]


def reference_answers(assignment: Assignment) -> dict[tuple[str, str], str]:
    """(question id, cell type) -> source of the reference solution's tagged answer cells."""
    assert assignment.solution is not None
    nb = nbformat.read(assignment.solution, as_version=4)
    return {
        (c.metadata["mpgrade"]["question"], c.cell_type): c.source
        for c in nb.cells
        if "mpgrade" in c.metadata
    }


def filled(assignment: Assignment, path: Path) -> Path:
    """The blank template with the reference answers typed into its tagged cells."""
    write_template(assignment, path, "ipynb")
    nb = nbformat.read(path, as_version=4)
    answers = reference_answers(assignment)
    for cell in nb.cells:
        qid = cell.metadata.get("mpgrade", {}).get("question")
        if qid:
            cell.source = answers[(qid, cell.cell_type)]
    nbformat.write(nb, path)
    return path


def auto_part(checks: tuple) -> tuple[float, float]:
    machine = [c for c in checks if c.id != "prose.rubric"]
    return sum(c.score for c in machine), sum(c.max_score for c in machine)


# --------------------------------------------------------------------------- templates


@pytest.mark.parametrize("aid", SETS)
def test_template_notebook_tags_every_answer_cell(aid: str, tmp_path: Path) -> None:
    a = load_assignment(aid)
    path = write_template(a, tmp_path / "blank.ipynb", "ipynb")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["mpgrade"]["assignment"] == aid
    for q in a.questions:
        prompts = [c for c in nb.cells if c.source.startswith(f"## {q.id}. ")]
        assert len(prompts) == 1 and "mpgrade" not in prompts[0].metadata
        assert f"({q.points:g} point" in prompts[0].source
        cells = [c for c in nb.cells if c.metadata.get("mpgrade", {}).get("question") == q.id]
        assert tuple(c.cell_type for c in cells) == answer_kinds(q)
        assert all(c.metadata["tags"] == [q.id] and c.source == "" for c in cells)


def test_mixed_question_gets_prose_and_code_cells() -> None:
    q4 = load_assignment("15feb-multiprocessing").question("Q4")
    assert answer_kinds(q4) == ("markdown", "code")


@pytest.mark.parametrize("fmt", ["ipynb", "py"])
def test_blank_template_has_no_answers(fmt: str, tmp_path: Path) -> None:
    """The prompts are not mistaken for answers: an untouched template answers nothing."""
    from mpgrade.segment import segment
    from mpgrade.submission import load

    a = load_assignment("15feb-multiprocessing")
    sub = load(write_template(a, tmp_path / f"blank.{fmt}", fmt))
    seg = segment(sub, a.questions)
    assert seg.answers == {}
    assert seg.empty == tuple(q.id for q in a.questions)  # each place is there, still empty


def test_percent_template_carries_question_ids(tmp_path: Path) -> None:
    from mpgrade.submission import load

    a = load_assignment("locks-queues")
    path = write_template(a, tmp_path / "blank.py", "py")
    text = path.read_text()
    assert '# %% tags=["Q2"]' in text and '# %% [markdown] tags=["Q1"]' in text
    path.write_text(text.replace('# %% tags=["Q2"]\n', '# %% tags=["Q2"]\nprint("hi")\n'))
    sub = load(path)
    cells = [c for c in sub.cells if c.question == "Q2"]
    assert [(c.kind, c.source) for c in cells] == [("code", 'print("hi")')]
    assert sub.assignment_id == "locks-queues"  # from the jupytext header: no flag needed


def test_unknown_template_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown template format"):
        write_template(load_assignment("locks-queues"), tmp_path / "x.md", "md")  # type: ignore[arg-type]


@pytest.mark.parametrize("aid", SETS)
def test_round_trip_template_filled_with_reference_gets_full_marks(aid: str, tmp_path: Path) -> None:
    from mpgrade.grader import grade_submission
    from mpgrade.submission import load

    a = load_assignment(aid)
    sub = load(filled(a, tmp_path / "student.ipynb"))
    assert sub.assignment_id == aid
    report = grade_submission(sub, a, GradeOptions())
    for qr in report.questions:
        assert qr.status != "missing", qr.id
        if qr.kind == "code":
            score, top = auto_part(qr.checks)
            assert score == pytest.approx(top), (qr.id, qr.feedback)


# --------------------------------------------------------------------------- validation


def tmp_exercise(tmp_path: Path, aid: str, answers: dict[tuple[str, str], str]) -> Assignment:
    """A copy of a bundled set pinned to fork, without variants, with ``answers`` as reference.

    Only for sets without a checks.py: a copy's custom checks would clash with the original's ids.
    """
    src = load_assignment(aid)
    folder = tmp_path / aid
    shutil.copytree(src.root, folder)
    text = (folder / "exercise.toml").read_text().split("[[variants]]")[0]
    text = text.replace('solution = "../../solutions/', 'start_method = "fork"\nsolution = "')
    text = text.replace(f'"{aid}/solution.ipynb"', '"solution.ipynb"')
    (folder / "exercise.toml").write_text(text)
    a = load_assignment(folder)
    nb = template_notebook(a)
    for cell in nb.cells:
        qid = cell.metadata.get("mpgrade", {}).get("question")
        if qid:
            cell.source = answers[(qid, cell.cell_type)]
    nbformat.write(nb, folder / "solution.ipynb")
    return a


def test_validate_catches_a_broken_reference(tmp_path: Path) -> None:
    answers = reference_answers(load_assignment("15feb-multiprocessing"))
    answers[("Q5", "code")] = answers[("Q5", "code")].replace("n ** 3", "n ** 2")
    outcome = validate(tmp_exercise(tmp_path, "15feb-multiprocessing", answers))
    assert not outcome.ok
    bad = [r for r in outcome.rows if not r.ok]
    assert [(r.subject, r.start_method, r.question) for r in bad] == [("reference", "fork", "Q5")]
    assert "pool.results_correct" in bad[0].note
    text = render_validation(outcome)
    assert "FAIL" in text and "FAILED (1 problem)" in text


def test_validate_catches_a_variant_the_checks_miss(tmp_path: Path) -> None:
    aid = "15feb-multiprocessing"
    a = tmp_exercise(tmp_path, aid, reference_answers(load_assignment(aid)))
    toml = Path(a.root) / "exercise.toml"
    toml.write_text(toml.read_text() + '\n[[variants]]\npath = "solution.ipynb"\nloses = ["Q6"]\n')
    outcome = validate(load_assignment(toml))
    assert not outcome.ok
    [bad] = [r for r in outcome.rows if not r.ok]
    assert (bad.subject, bad.question, bad.expect) == ("solution.ipynb", "Q6", "loses points")
    assert "full marks" in bad.note


def test_validate_without_a_solution_is_not_ok(tmp_path: Path) -> None:
    folder = tmp_path / "nosol"
    folder.mkdir()
    text = (Path(load_assignment("15feb-multiprocessing").root) / "exercise.toml").read_text()
    text = text.split("[[variants]]")[0].replace("solution = ", "# solution = ")
    (folder / "exercise.toml").write_text(text)
    outcome = validate(load_assignment(folder))
    assert not outcome.ok and "no reference solution" in outcome.problems[0]
    (folder / "exercise.toml").write_text(text.replace("# solution = ", "solution = ", 1))
    named = load_assignment(folder)  # named, but not there: say where it was looked for
    assert named.solution is not None and not Path(named.solution).exists()
    assert validate(named).problems == (f"reference: no such file: {named.solution}",)


@pytest.mark.parametrize("aid", SETS)
def test_bundled_sets_validate(aid: str) -> None:
    a = load_assignment(aid)
    outcome = validate(a)
    assert outcome.ok, render_validation(outcome)
    variants = {r.subject for r in outcome.rows if r.expect == "loses points"}
    assert len(variants) == len(a.variants)


def test_render_validation_explains_failures() -> None:
    rows = (
        ValidationRow("reference", "spawn", "Q3", "full marks", 1.0, 1.5, "partial", False,
                      "process.started: no child process was seen"),
        ValidationRow("reference", "spawn", "Q1", "review", 1.0, 1.5, "needs_review", True,
                      "prose proposal 1/1.5"),
        ValidationRow("variants/x.py", "spawn", "Q5", "loses points", 2.0, 2.0, "passed", False,
                      "got full marks: the checks do not catch this mistake"),
    )
    text = render_validation(ValidationOutcome("demo", "Demo", rows, timings=(("reference (spawn)", 1.2),)))
    assert "why: process.started: no child process was seen" in text
    assert "note: prose proposal 1/1.5" in text
    assert "variants/x.py" in text and "FAILED (2 problems)" in text
    assert render_validation(ValidationOutcome("demo", "Demo", rows[1:2])).splitlines()[-1].startswith("OK")


# --------------------------------------------------------------------------- command line


def test_cli_template_then_check_without_assignment(tmp_path: Path) -> None:
    """The notebook names its exercise: `check` picks it even where headers would not."""
    out = tmp_path / "blank.ipynb"
    made = subprocess.run([*MPGRADE, "template", "locks-queues", "-o", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    checked = subprocess.run([*MPGRADE, "check", str(out), "--format", "json"],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 1, checked.stderr  # graded, every answer missing
    result = json.loads(checked.stdout)
    assert result["assignment"]["id"] == "locks-queues"
    assert {q["status"] for q in result["questions"]} == {"missing"}
    # The student uses the template: they are told the answer is empty, not to use the template.
    assert all("still empty" in q["feedback"] and "template" not in q["feedback"]
               for q in result["questions"])


def test_cli_template_of_one_question_says_one_question(tmp_path: Path) -> None:
    tiny = (Path(__file__).parent / "fixtures" / "batch" / "tiny" / "exercise.toml").read_text()
    exercise = tmp_path / "exercise.toml"
    exercise.write_text(tiny[: tiny.index("[[questions]]", tiny.index("[[questions]]") + 1)])  # Q1 only
    out = tmp_path / "blank.ipynb"
    made = subprocess.run([*MPGRADE, "template", str(exercise), "-o", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    intro = nbformat.read(out, as_version=4).cells[0].source
    assert "\n\n1 question, 1 point. Answer each question" in intro


def test_cli_template_without_output_writes_id_ipynb_here_and_never_over_a_file(tmp_path: Path) -> None:
    def template() -> subprocess.CompletedProcess[str]:
        return subprocess.run([*MPGRADE, "template", "locks-queues"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    made = template()
    written = tmp_path / "locks-queues.ipynb"
    assert made.returncode == 0 and "locks-queues.ipynb" in made.stderr, made.stderr
    written.write_text("a student's filled-in copy")
    again = template()
    assert again.returncode == 2 and "already exists" in again.stderr
    assert written.read_text() == "a student's filled-in copy"


def test_cli_validate_exit_code(tmp_path: Path) -> None:
    answers = reference_answers(load_assignment("15feb-multiprocessing"))
    answers[("Q3", "code")] = "print('no process here')\n"
    a = tmp_exercise(tmp_path, "15feb-multiprocessing", answers)
    run = subprocess.run([*MPGRADE, "validate", a.root], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    assert "FAIL" in run.stdout and "Q3" in run.stdout
