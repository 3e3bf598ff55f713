"""Building the script of one answer: context definitions, magics, salvage, line numbers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mpgrade.build import build_script, where
from mpgrade.magics import neutralise
from mpgrade.model import Answer, BuiltScript, Cell, Question, Submission
from mpgrade.segment import context_for, segment
from mpgrade.submission import load

ROOT = Path(__file__).resolve().parent.parent
QS = [Question(f"Q{n}", "", "", "code", 1.0) for n in range(1, 7)]


def run(
    script: BuiltScript, tmp_path: Path, *, spawn: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run the script as a real file, as the sandbox does; optionally under spawn."""
    source = script.source
    if spawn:
        # force=True: spawn children re-import this file and must not fail on a second call
        source = (
            "import multiprocessing; multiprocessing.set_start_method('spawn', force=True)\n"
            + source
        )
    path = tmp_path / "answer.py"
    path.write_text(source)
    return subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=timeout, cwd=tmp_path
    )


def answer(*sources: str, first: int = 10, qid: str = "Q5") -> Answer:
    return Answer(qid, tuple(Cell(first + i, "code", s) for i, s in enumerate(sources)))


def assert_line_map_true(script: BuiltScript, ans: Answer) -> None:
    """Every mapped line is the student's line, or what salvage/magics left of it."""
    lines = script.source.split("\n")
    by_index = {c.index: c for c in ans.cells}
    assert script.line_map
    for n, (index, line) in script.line_map.items():
        cell = by_index[index]
        original = cell.source.split("\n")[line - 1 - cell.line_offset]
        built = lines[n - 1].strip()
        assert (
            built == original.strip()
            or original.strip().endswith(built)
            or built.startswith(("#", "pass"))
        )


def test_example_q3_builds_and_runs(tmp_path: Path) -> None:
    seg = segment(load(ROOT / "examples" / "ass.ipynb"), QS)
    ans = seg.answers["Q3"]
    script = build_script(ans, context_for(seg, "Q3"))
    assert script.syntax_error is None and script.notes == ()
    assert_line_map_true(script, ans)
    assert script.line_map[min(script.line_map)] == (15, 1)
    out = run(script, tmp_path)
    assert out.returncode == 0
    assert "this is my multiprocessing prog" in out.stdout


PREAMBLE = "import multiprocessing\nimport time\nfrom functools import reduce\nLIMIT = 3\nprint('preamble ran')"
Q4_CELL = """\
def square(n):
    return n * n

NUMBERS = [1, 2, LIMIT]
helper = lambda x: x
time.sleep(100)
while True:
    pass
"""
Q5_CELL = """\
def cube_of_square(n):
    return square(n) * n

if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.map(cube_of_square, NUMBERS))
"""


@pytest.mark.parametrize("spawn", [False, True], ids=["default", "spawn"])
def test_cross_cell_definitions_are_copied_but_nothing_that_runs(
    tmp_path: Path, spawn: bool
) -> None:
    sub = Submission(
        "t.ipynb",
        "ipynb",
        "0" * 64,
        (
            Cell(0, "code", PREAMBLE),
            Cell(1, "markdown", "Q4."),
            Cell(2, "code", Q4_CELL),
            Cell(3, "markdown", "Q5."),
            Cell(4, "code", Q5_CELL),
        ),
    )
    seg = segment(sub, QS)
    script = build_script(seg.answers["Q5"], context_for(seg, "Q5"))
    assert script.syntax_error is None
    source = script.source
    for absent in ("time.sleep", "while True", "preamble ran", "reduce", "helper", "import time"):
        assert absent not in source
    assert "import multiprocessing" in source and "def square" in source and "LIMIT = 3" in source
    assert "(1, 3)" in source  # the header names the cells the definitions came from, counted from 1
    out = run(script, tmp_path, spawn=spawn, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1, 8, 27]"


def test_context_later_definition_wins_and_unparsable_cells_are_skipped() -> None:
    context = [
        Cell(0, "code", "def f():\n    return 1"),
        Cell(1, "code", "this is not python at all ((("),
        Cell(2, "code", "%matplotlib inline\ndef f():\n    return 2"),
        Cell(3, "code", "from os import *\nimport json"),
    ]
    script = build_script(answer("print(f(), getcwd())"), context)
    assert "return 2" in script.source and "return 1" not in script.source
    assert "from os import *" in script.source and "import json" not in script.source


@pytest.mark.parametrize(
    ("line", "expected", "note"),
    [
        ("%time f()", "f()", "ran 'f()'"),
        ("%timeit -n 1 -r 1 f()", "f()", "ran 'f()'"),
        ("%matplotlib inline", "pass  # %matplotlib inline", "was not run"),
        ("%load_ext autoreload", "pass  # %load_ext autoreload", "was not run"),
        ("%pip install numpy", "pass  # %pip install numpy", "was not run"),
        ("!pip install numpy", "pass  # !pip install numpy", "shell command"),
        ("!ls", "pass  # !ls", "shell command"),
        ("pip install tqdm", "pass  # pip install tqdm", "shell command"),
        ("files = !ls", "files = []  # !ls", "set to []"),
        ("multiprocessing.Pool?", "pass  # multiprocessing.Pool?", "help"),
    ],
)
def test_line_magics_are_neutralised_in_place(line: str, expected: str, note: str) -> None:
    source = f"def f():\n    return 1\n{line}\nprint('after')"
    new, notes = neutralise(source)
    assert new is not None
    assert new.split("\n") == ["def f():", "    return 1", expected, "print('after')"]
    assert notes[0][0] == 3 and note in notes[0][1]
    compile(new, "x", "exec")


def test_indented_magic_keeps_its_block() -> None:
    new, _ = neutralise("if True:\n    !echo hi\n    %time print(1)")
    assert new == "if True:\n    pass  # !echo hi\n    print(1)"


def test_valid_python_is_never_touched() -> None:
    source = "x = 5\ny = (x\n% 2)\ns = '''\n!not a shell\n%not a magic\n'''"
    assert neutralise(source) == (source, [])


@pytest.mark.parametrize("magic", ["%%time", "%%timeit -n 1", "%%capture out"])
def test_cell_magics_that_run_the_body_once(magic: str, tmp_path: Path) -> None:
    ans = answer(f"{magic}\nprint('body ran')")
    script = build_script(ans, [])
    assert script.syntax_error is None
    assert f"# {magic}" in script.source
    assert script.notes and script.notes[0].startswith("cell 11, line 1: cell magic")
    assert run(script, tmp_path).stdout == "body ran\n"
    assert_line_map_true(script, ans)


@pytest.mark.parametrize(
    "magic", ["%%bash", "%%sh", "%%html", "%%writefile worker.py", "%%javascript"]
)
def test_cell_magics_that_are_not_python_are_skipped_with_a_note(magic: str) -> None:
    script = build_script(answer(f"{magic}\necho hi", "print('kept')"), [])
    assert "echo hi" not in script.source and "print('kept')" in script.source
    assert any(magic.split()[0] in n and "not run" in n for n in script.notes)
    assert set(script.line_map.values()) == {(11, 1)}


def test_label_and_prose_in_code_are_salvaged(tmp_path: Path) -> None:
    cell = (
        "Ans3. import multiprocessing\n"
        "This is my code for creating a process\n"
        "def test():\n"
        "    print('child ran')\n"
        "Here the main program starts:\n"
        "if __name__ == '__main__':\n"
        "    p = multiprocessing.Process(target=test)\n"
        "    p.start()\n"
        "    p.join()"
    )
    ans = answer(cell, first=14, qid="Q3")
    script = build_script(ans, [])
    assert script.syntax_error is None
    assert script.notes == (
        "cell 15, line 1: 'Ans3.' looked like a label and was ignored",
        "cell 15, line 2: 'This is my code for creating a process' looked like prose and was made a comment",
        "cell 15, line 5: 'Here the main program starts:' looked like prose and was made a comment",
    )
    assert_line_map_true(script, ans)
    out = run(script, tmp_path)
    assert out.returncode == 0 and out.stdout == "child ran\n"


@pytest.mark.parametrize("label", ["ANS -", "Q3)", "Answer:", "Ans 3 :"])
def test_label_lines_alone(label: str) -> None:
    script = build_script(answer(f"{label}\nprint(1)"), [])
    assert script.syntax_error is None
    assert "looked like a label" in script.notes[0]


def test_code_that_cannot_be_salvaged_reports_the_student_line() -> None:
    cell = "import multiprocessing\n\ndef f(:\n    pass"
    ans = answer("print(0)", cell, first=13)
    script = build_script(ans, [Cell(0, "code", "import os")])
    assert script.syntax_error == "SyntaxError in cell 15, line 3: invalid syntax"
    assert "def f(:" in script.source  # kept as the student wrote it
    assert_line_map_true(script, ans)


def test_salvage_does_not_run_when_code_is_python2() -> None:
    script = build_script(answer('print "hello"'), [])
    assert script.syntax_error and script.syntax_error.startswith("SyntaxError in cell 11, line 1:")
    assert 'print "hello"' in script.source


def test_mixed_tabs_and_whole_cell_indentation(tmp_path: Path) -> None:
    script = build_script(answer("if True:\n    x = 1\n\tprint(x)", "    y = 2\n    print(y)"), [])
    assert script.syntax_error is None, script.syntax_error
    assert any("tabs" in n for n in script.notes) and any("indented" in n for n in script.notes)
    assert run(script, tmp_path).stdout == "1\n2\n"


def test_line_map_across_cells_and_split_cells() -> None:
    ans = Answer(
        "Q5",
        (
            Cell(3, "code", "a = 1\nb = 2"),
            Cell(3, "markdown", "prose"),
            Cell(4, "code", "c = 3", line_offset=6),
        ),
    )
    script = build_script(ans, [])
    lines = script.source.split("\n")
    assert sorted(script.line_map.values()) == [(3, 1), (3, 2), (4, 7)]
    for n, where_ in script.line_map.items():
        assert lines[n - 1] == {(3, 1): "a = 1", (3, 2): "b = 2", (4, 7): "c = 3"}[where_]


def test_script_submissions_report_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "ass.py"
    path.write_text("# Q3. Create a process\nimport multiprocessing\n\ndef f(:\n    pass\n")
    seg = segment(load(path), QS)
    script = build_script(seg.answers["Q3"], [])
    assert script.syntax_error == "SyntaxError in line 4: invalid syntax"
    code = seg.answers["Q3"].cells[-1]
    assert where(code, 4) == "line 4"
    assert set(script.line_map.values()) == {(code.index, n) for n in range(2, 6)}


def test_future_import_in_answer_skips_context() -> None:
    script = build_script(
        answer("from __future__ import annotations\nprint(square(2))"),
        [Cell(0, "code", "def square(n):\n    return n * n")],
    )
    assert "def square" not in script.source and script.syntax_error is None
    assert any("__future__" in n for n in script.notes)


def test_empty_answer_builds_an_empty_script() -> None:
    script = build_script(Answer("Q4", (Cell(1, "markdown", "just prose"),)), [])
    assert script.line_map == {} and script.syntax_error is None
    compile(script.source, "x", "exec")


@pytest.mark.parametrize(
    "cell",
    [
        "import os\n\ndef f():\n    print(1)\n\nif __name__ == '__main__':",  # an empty block
        "import os\nprint(os.sep\n",  # a broken last statement
        "Here is my code:\nimport os\nfor x in range(3)\n    print(x)\nThat is all.",
    ],
)
def test_salvage_never_hides_broken_code(cell: str) -> None:
    script = build_script(answer(cell), [])
    assert script.syntax_error is not None


def test_code_pasted_between_prose_runs_with_a_note(tmp_path: Path) -> None:
    cell = (
        "Sure! Here is a program that starts a process:\n"
        "import multiprocessing\n\n"
        "def work():\n    print('working')\n\n"
        "if __name__ == '__main__':\n"
        "    p = multiprocessing.Process(target=work)\n    p.start()\n    p.join()\n"
        "In this example, the child prints a line."
    )
    script = build_script(answer(cell), [])
    assert script.syntax_error is None
    assert run(script, tmp_path).stdout == "working\n"
    assert len(script.notes) == 2 and all("made a comment" in n for n in script.notes)
