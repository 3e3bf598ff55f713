"""Segmentation: every header style seen in real submissions, and the awkward cases."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbconvert import PythonExporter
from nbformat import v4

from mpgrade.model import Cell, Question, Submission
from mpgrade.segment import context_for, segment
from mpgrade.submission import load

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ass.ipynb"


def questions() -> list[Question]:
    spec = tomllib.loads((ROOT / "exercises/15feb-multiprocessing/exercise.toml").read_text())
    return [
        Question(q["id"], q["title"], q["text"], q["kind"], q["points"]) for q in spec["questions"]
    ]


QS = questions()
TEXT = {q.id: q.text for q in QS}


def sub_of(*cells: tuple[str, str] | Cell) -> Submission:
    """A submission from (kind, source) pairs or ready cells."""
    made = tuple(
        c if isinstance(c, Cell) else Cell(i, c[0], c[1])  # type: ignore[arg-type]
        for i, c in enumerate(cells)
    )
    return Submission("t.ipynb", "ipynb", "0" * 64, made)


def codes(seg, qid: str) -> str:
    return seg.answers[qid].code


def test_example_segments_exactly() -> None:
    seg = segment(load(EXAMPLE), QS)
    assert list(seg.answers) == ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]
    shape = {qid: [(c.index, c.kind) for c in a.cells] for qid, a in seg.answers.items()}
    assert shape == {
        "Q1": [(3, "markdown"), (4, "markdown")],
        "Q2": [(9, "markdown"), (10, "markdown")],
        "Q3": [(15, "code")],
        "Q4": [(20, "markdown"), (21, "code")],
        "Q5": [(26, "code")],
        "Q6": [(31, "code")],
    }
    assert "multiprocessing.Process(target = test)" in codes(seg, "Q3")
    assert "square" in codes(seg, "Q4") and "Pool" in seg.answers["Q4"].prose
    assert "cube" in codes(seg, "Q5")
    assert "Pipe()" in codes(seg, "Q6")
    assert seg.answers["Q1"].prose.startswith("Multiprocessing in Python is a built in package")
    assert all(a.attribution.by == "header" for a in seg.answers.values())
    assert [c.index for c in seg.preamble] == [0]
    assert seg.notes == ()


@pytest.mark.filterwarnings("ignore:IPython is needed")
def test_nbconvert_export_of_the_example_segments_the_same(tmp_path: Path) -> None:
    script, _ = PythonExporter().from_notebook_node(nbformat.read(EXAMPLE, as_version=4))
    path = tmp_path / "ass.py"
    path.write_text(script)
    from_py = segment(load(path), QS)
    from_nb = segment(load(EXAMPLE), QS)
    assert {q: a.code for q, a in from_py.answers.items()} == {
        q: a.code for q, a in from_nb.answers.items()
    }
    assert {q: a.prose for q, a in from_py.answers.items()} == {
        q: a.prose for q, a in from_nb.answers.items()
    }


STYLES = [
    "Q{n}. {text}",
    "Q.{n} {text}",
    "Q{n}) {text}",
    "Q {n}: {text}",
    "Question {n}: {text}",
    "QUESTION {n} - {text}",
    "Ques {n} {text}",
    "Qno. {n} {text}",
    "Ans {n} :",
    "Ans{n}.",
    "## {n}. {text}",
    "{n}) {text}",
    "{n}. {text}",
    "## {n}.",
    "**Q{n}.** {text}",
    "<b>Q{n}</b> {text}",
    "### Question {n}",
    "> Q{n}: {text}",
]


@pytest.mark.parametrize("style", STYLES)
def test_markdown_header_styles(style: str) -> None:
    cells: list[tuple[str, str]] = [("markdown", "# My assignment")]
    for n, q in enumerate(QS, 1):
        cells += [("markdown", style.format(n=n, text=q.text)), ("code", f"print({n})")]
    seg = segment(sub_of(*cells), QS)
    assert {q: codes(seg, q) for q in seg.answers} == {f"Q{n}": f"print({n})" for n in range(1, 7)}
    assert seg.preamble[0].source == "# My assignment"


@pytest.mark.parametrize(
    "comment", ["# Q{n}", "#Q{n}.", "# Question {n}: {text}", "# Ans {n}", '"""Q{n}. {text}"""']
)
def test_header_comment_at_start_of_code_cell(comment: str) -> None:
    cells = [
        ("code", comment.format(n=n, text=q.text) + f"\nprint({n})") for n, q in enumerate(QS, 1)
    ]
    seg = segment(sub_of(*cells), QS)
    assert sorted(seg.answers) == [q.id for q in QS]
    for n in range(1, 7):
        assert codes(seg, f"Q{n}").endswith(f"print({n})")
        # the code cell is kept whole so line numbers stay true
        assert (
            seg.answers[f"Q{n}"]
            .cells[0]
            .source.startswith(comment.format(n=n, text=QS[n - 1].text)[:3])
        )


def test_header_in_raw_cell_and_answer_in_raw_cell() -> None:
    seg = segment(
        sub_of(
            ("raw", "Q3. Write a python code to create a process"),
            ("raw", "import multiprocessing\np = multiprocessing.Process(target=print)\np.start()"),
            ("raw", "Q4. What is a pool?"),
            ("raw", "A pool is a group of worker processes."),
        ),
        QS,
    )
    assert seg.answers["Q3"].cells[0].kind == "code"
    assert "Process" in codes(seg, "Q3")
    assert seg.answers["Q4"].prose == "A pool is a group of worker processes."
    assert any("raw cell" in n for n in seg.notes)


def test_question_text_without_number() -> None:
    cells = []
    for n, q in enumerate(QS, 1):
        cells += [("markdown", q.text.upper() if n == 2 else q.text), ("code", f"print({n})")]
    seg = segment(sub_of(*cells), QS)
    assert {q: codes(seg, q) for q in seg.answers} == {f"Q{n}": f"print({n})" for n in range(1, 7)}
    assert any("no number" in n for n in seg.notes)


def test_ans_cells_are_not_new_questions() -> None:
    seg = segment(
        sub_of(
            ("markdown", "Q3. " + TEXT["Q3"]),
            ("markdown", "ANS -"),
            ("code", "print(3)"),
            ("markdown", "Q4. " + TEXT["Q4"]),
            ("markdown", "Ans 4: A pool is a set of worker processes."),
            ("markdown", "Answer:"),
            ("code", "print(4)"),
        ),
        QS,
    )
    assert codes(seg, "Q3") == "print(3)"
    assert [c.source for c in seg.answers["Q4"].cells] == [
        "A pool is a set of worker processes.",
        "print(4)",
    ]
    assert seg.notes == ()


def test_header_cell_with_answer_on_the_same_line() -> None:
    seg = segment(
        sub_of(
            (
                "markdown",
                "Q1. What is multiprocessing in python?\nWhy is it useful?\nIt runs processes.",
            ),
            ("markdown", "Q2. What are the differences? Ans: threads share memory."),
        ),
        QS,
    )
    assert seg.answers["Q1"].prose == "It runs processes."
    assert seg.answers["Q2"].prose == "threads share memory."


def test_metadata_and_tags_win_over_headers() -> None:
    seg = segment(
        sub_of(
            ("markdown", "Q3. " + TEXT["Q3"]),
            ("code", "print(3)"),
            Cell(2, "code", "print('pool')", question="Q5"),
            ("code", "print('still the pool')"),
            Cell(
                4, "markdown", "Q4. a header inside a cell the metadata gives to Q6", question="Q6"
            ),
            Cell(5, "code", "print('six')", question="Q6", tags=("Q6",)),
        ),
        QS,
    )
    assert codes(seg, "Q3") == "print(3)"
    assert seg.answers["Q3"].attribution.by == "header"
    # a cell without metadata after a Q5 cell continues Q5
    assert codes(seg, "Q5") == "print('pool')\n\nprint('still the pool')"
    assert seg.answers["Q5"].attribution.by == "metadata"
    assert "Q4" not in seg.answers
    assert codes(seg, "Q6") == "print('six')"


def test_unknown_metadata_question_is_noted_and_ignored() -> None:
    seg = segment(sub_of(("markdown", "Q3."), Cell(1, "code", "print(3)", question="Q9")), QS)
    assert codes(seg, "Q3") == "print(3)"
    assert any("Q9" in n for n in seg.notes)


def test_nbgrader_notebook(tmp_path: Path) -> None:
    nb = v4.new_notebook(
        cells=[
            v4.new_markdown_cell(TEXT["Q3"], metadata={"nbgrader": {"grade_id": "cell-q3-prompt"}}),
            v4.new_code_cell(
                "print(3)", metadata={"nbgrader": {"grade_id": "cell-q3-answer", "solution": True}}
            ),
            v4.new_code_cell("print(5)", metadata={"nbgrader": {"grade_id": "question_5"}}),
        ]
    )
    path = tmp_path / "nbg.ipynb"
    nbformat.write(nb, path)
    seg = segment(load(path), QS)
    assert codes(seg, "Q3") == "print(3)" and codes(seg, "Q5") == "print(5)"
    assert seg.answers["Q3"].prose == ""  # the prompt is the question, not the answer


def test_one_markdown_cell_answers_two_questions() -> None:
    seg = segment(
        sub_of(
            (
                "markdown",
                "Q4. What is a pool?\nA pool is a group of workers.\n\nQ5. How?\nUse Pool(4).map.",
            ),
        ),
        QS,
    )
    assert seg.answers["Q4"].prose == "A pool is a group of workers."
    assert seg.answers["Q5"].prose == "Use Pool(4).map."
    assert seg.answers["Q5"].cells[0].index == 0
    assert seg.answers["Q5"].cells[0].line_offset == 4


def test_one_code_cell_answers_two_questions() -> None:
    source = "# Q4\ndef square(n):\n    # Q5 is below\n    return n * n\n\n# Q5\nprint(square(3))"
    seg = segment(sub_of(("code", source)), QS)
    assert codes(seg, "Q4") == "# Q4\ndef square(n):\n    # Q5 is below\n    return n * n"
    q5 = seg.answers["Q5"].cells[0]
    assert q5.source == "# Q5\nprint(square(3))" and q5.line_offset == 5


def test_code_in_markdown_fences_becomes_code() -> None:
    md = (
        "Q3. Create a process\n\nHere is my code:\n\n```python\nimport multiprocessing\nprint(3)\n```\n\n"
        "Output:\n\n```\nthis is my main prog\n```\n\n```\n[4, 9]\n```"
    )
    seg = segment(sub_of(("markdown", md), ("code", "print('after')")), QS)
    cells = seg.answers["Q3"].cells
    assert [(c.index, c.kind) for c in cells] == [
        (0, "markdown"),
        (0, "code"),
        (0, "markdown"),
        (1, "code"),
    ]
    assert cells[1].source == "import multiprocessing\nprint(3)"
    assert cells[1].line_offset == 5
    assert codes(seg, "Q3") == "import multiprocessing\nprint(3)\n\nprint('after')"


def test_untagged_fence_with_real_code_is_code() -> None:
    seg = segment(
        sub_of(("markdown", "Q5.\n~~~\nfrom multiprocessing import Pool\nPool(2)\n~~~")), QS
    )
    assert codes(seg, "Q5") == "from multiprocessing import Pool\nPool(2)"


def test_prose_typed_into_code_cell_counts_as_prose() -> None:
    seg = segment(
        sub_of(
            ("markdown", "Q4."),
            ("code", "# A pool is a group of worker processes\n'''reused for many tasks'''"),
        ),
        QS,
    )
    assert seg.answers["Q4"].prose == "A pool is a group of worker processes\nreused for many tasks"
    assert codes(seg, "Q4") == ""


def test_duplicate_number_taken_as_next_question() -> None:
    seg = segment(
        sub_of(
            ("markdown", "Q3."),
            ("code", "print(3)"),
            ("markdown", "Q3."),
            ("code", "print(4)"),
            ("markdown", "Q5."),
            ("code", "print(5)"),
        ),
        QS,
    )
    assert codes(seg, "Q4") == "print(4)"
    assert any("taken as Q4" in n for n in seg.notes)


def test_duplicate_number_without_a_free_question_keeps_both() -> None:
    seg = segment(
        sub_of(
            ("markdown", "Q5."),
            ("code", "print(5)"),
            ("markdown", "Q6."),
            ("code", "print(6)"),
            ("markdown", "Q5."),
            ("code", "print('5 again')"),
        ),
        QS,
    )
    assert codes(seg, "Q5") == "print(5)\n\nprint('5 again')"
    assert any("both parts were kept" in n for n in seg.notes)


def test_wrong_number_but_question_text_decides() -> None:
    seg = segment(
        sub_of(
            ("markdown", "Q4. " + TEXT["Q5"]),
            ("code", "print(5)"),
            ("markdown", "Q6."),
            ("code", "print(6)"),
        ),
        QS,
    )
    assert codes(seg, "Q5") == "print(5)" and "Q4" not in seg.answers
    assert any("repeats the text of Q5" in n for n in seg.notes)


def test_number_beyond_the_assignment_is_ignored() -> None:
    seg = segment(
        sub_of(
            ("markdown", "Q6."),
            ("code", "print(6)"),
            ("markdown", "Q7. Bonus"),
            ("code", "print(7)"),
        ),
        QS,
    )
    assert codes(seg, "Q6") == "print(6)"
    assert any("Q7" in n for n in seg.notes)


def test_numbered_lists_in_prose_are_not_headers() -> None:
    seg = segment(
        sub_of(
            ("markdown", "Q2. " + TEXT["Q2"]),
            ("markdown", "1. Processes have separate memory.\n2. Threads share memory."),
            ("markdown", "3) threads are lighter"),
        ),
        QS,
    )
    assert list(seg.answers) == ["Q2"]
    assert "Threads share memory" in seg.answers["Q2"].prose


def test_missing_questions_are_absent_and_empty_cells_dropped() -> None:
    seg = segment(
        sub_of(
            ("markdown", "Q3."),
            ("code", ""),
            ("code", "print(3)"),
            ("markdown", "Q4."),
            ("code", "  "),
        ),
        QS,
    )
    assert list(seg.answers) == ["Q3"]
    assert [c.index for c in seg.answers["Q3"].cells] == [2]


def test_no_headers_falls_back_to_order() -> None:
    cells = [("code", f"print({n})") for n in range(3, 7)]
    seg = segment(sub_of(*cells), QS)
    assert {q: a.code for q, a in seg.answers.items()} == {
        f"Q{n}": f"print({n})" for n in range(3, 7)
    }
    assert all(a.attribution.by == "order" for a in seg.answers.values())
    assert any("order of the answers" in n for n in seg.notes)


def test_no_headers_and_no_fit_leaves_everything_in_preamble() -> None:
    seg = segment(sub_of(("code", "print(1)"), ("code", "print(2)")), QS)
    assert seg.answers == {} and len(seg.preamble) == 2


def test_percent_script(tmp_path: Path) -> None:
    path = tmp_path / "p.py"
    path.write_text(
        "import os\n\n# %% [markdown]\n# Q3. Create a process\n\n# %%\nprint(3)\n\n# %% Q5\nprint(5)\n"
    )
    seg = segment(load(path), QS)
    assert codes(seg, "Q3") == "print(3)" and codes(seg, "Q5") == "print(5)"
    assert seg.preamble[0].source == "import os"


def test_markdown_file(tmp_path: Path) -> None:
    path = tmp_path / "ass.md"
    path.write_text(
        "# 15 Feb\n\n## Q3. Create\n\n```python\nprint(3)\n```\n\n    3\n\n## Q4.\n\nA pool.\n"
    )
    seg = segment(load(path), QS)
    assert codes(seg, "Q3") == "print(3)"
    code = next(c for c in seg.answers["Q3"].cells if c.kind == "code")
    assert code.line_offset == 5  # file line 6 is line_offset + 1
    assert seg.answers["Q4"].prose == "A pool."


def test_context_for_gives_earlier_code_in_order() -> None:
    seg = segment(
        sub_of(
            ("code", "import multiprocessing"),
            ("markdown", "Q4."),
            ("code", "def square(n):\n    return n * n"),
            ("markdown", "Q5."),
            ("code", "print(square(2))"),
            ("markdown", "Q6."),
            ("code", "print(6)"),
        ),
        QS,
    )
    assert [c.index for c in context_for(seg, "Q5")] == [0, 2]
    assert [c.index for c in context_for(seg, "Q6")] == [0, 2, 4]
    assert context_for(seg, "Q1") == ()


def test_header_repeated_atop_its_code_is_one_question() -> None:
    seg = segment(
        sub_of(("markdown", "## Q3. " + TEXT["Q3"]), ("code", "# Q3\nprint(3)"), ("markdown", "Q5."),
               ("code", "print(5)")),
        QS,
    )
    assert codes(seg, "Q3") == "# Q3\nprint(3)" and "Q4" not in seg.answers
    assert seg.notes == ()


def test_a_rubric_synonym_weighs_in_without_its_subject_prefix() -> None:
    """Segmentation reads a concept's ``@subject`` synonyms as the prose grader does."""
    from mpgrade import patterns

    assert patterns.mentions("The processes run in parallel on two cores", ("@process parallel",))
    assert not patterns.mentions("They run one after another", ("@process parallel",))
    assert not patterns.mentions("(unclosed", ("(unclosed",))  # a bad regex matches nothing
