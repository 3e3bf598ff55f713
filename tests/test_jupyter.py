"""Checking from inside Jupyter, with a real kernel: a notebook that uses the magics and the
Python API, executed by nbclient, judged by what it displayed."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import CODE, EXAMPLE_Q6, notebook

import mpgrade
from mpgrade import jupyter
from mpgrade.errors import MpgradeError

nbclient = pytest.importorskip("nbclient", reason="pip install '.[test]' installs nbclient")
pytest.importorskip("ipykernel", reason="pip install '.[test]' installs ipykernel")

SHOW = "import multiprocessing\n\ndef show(n):\n    print(n)\n"
FOUR = """if __name__ == "__main__":
    procs = [multiprocessing.Process(target=show, args=(i,)) for i in range(1, 5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    ran_in_kernel = True
"""


def _outputs(cell) -> tuple[str, str, str]:
    """(html, plain text, printed text) a cell displayed."""
    html = plain = printed = ""
    for out in cell.outputs:
        if out.output_type in ("display_data", "execute_result"):
            html += out.data.get("text/html", "")
            plain += out.data.get("text/plain", "")
        elif out.output_type == "stream":
            printed += out.text
        elif out.output_type == "error":
            raise AssertionError("\n".join(out.traceback))
    return html, plain, printed


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> list:
    tmp = tmp_path_factory.mktemp("jupyter")
    saved = notebook(tmp / "ass.ipynb")
    cells = [
        "%load_ext mpgrade",
        SHOW,  # run by the kernel: the definitions the next answers use
        "%%mpgrade Q6\n" + FOUR,
        "%%mpgrade Q6\n" + EXAMPLE_Q6 + "deadlock_ran = True\n",  # hangs if the kernel ran it
        "print('ran_in_kernel' in globals(), 'deadlock_ran' in globals())",
        "%%mpgrade Q3 --also-run\n" + CODE["Q3"] + "also_ran = True\n",
        "print(also_ran)",
        f"%mpgrade {saved} -q Q3",
        f"import mpgrade\nresult = mpgrade.check({str(saved)!r}, question='Q5')\nresult",
        "%%mpgrade Q9\nprint(1)",
        "multiprocessing.set_start_method('spawn', force=True)",
        "%%mpgrade Q5\n" + CODE["Q5"],
        "%%mpgrade Q6 --timeout nan\nprint(1)",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp)}}).execute()
    return nb.cells


def test_cell_magic_grades_the_cell_with_earlier_definitions(executed) -> None:
    html, plain, _ = _outputs(executed[2])
    assert '<div class="mpgrade">' in html and "Passed" in html and "Q6 · Four processes" in html
    assert "<svg" in html and 'class="legend"' in html  # the timeline, as in the report
    assert "PASSED" in plain and "2 / 2" in plain  # the plain-text fallback
    outputs = [o for o in executed[2].outputs if o.output_type == "display_data"]
    assert len(outputs) == 1 and set(outputs[0].data) == {"text/html", "text/plain"}


def test_kernel_does_not_run_the_cell_so_a_deadlock_cannot_hang_it(executed) -> None:
    html, plain, _ = _outputs(executed[3])
    assert "Timed out" in html and "TIMEOUT" in plain and "holds the write end" in plain
    assert _outputs(executed[4])[2].strip() == "False False"


def test_also_run_runs_it_in_the_kernel_too(executed) -> None:
    assert "PASSED" in _outputs(executed[5])[1]
    assert _outputs(executed[6])[2].strip() == "True"


def test_line_magic_and_api_grade_the_saved_notebook(executed) -> None:
    html, plain, _ = _outputs(executed[7])
    assert "ass.ipynb" in plain and "Q3" in plain and "Q5" not in plain.split("Question")[0]
    html, plain, _ = _outputs(executed[8])
    assert '<div class="mpgrade">' in html and "Q5 · A pool of worker processes" in html
    assert "PASSED" in plain


def test_bad_magic_arguments_are_one_line(executed) -> None:
    _, _, printed = _outputs(executed[9])
    assert printed.startswith("mpgrade: error: unknown question 'Q9'") and printed.count("\n") == 1


def test_a_timeout_that_is_no_number_of_seconds_is_one_line_in_the_magic_and_the_api(executed,
                                                                                      tmp_path) -> None:
    _, _, printed = _outputs(executed[12])
    assert printed == "mpgrade: error: timeout must be a positive, finite number of seconds, got nan\n"
    with pytest.raises(MpgradeError, match="finite number of seconds, got inf"):
        mpgrade.check(notebook(tmp_path / "a.ipynb"), question="Q6", timeout=float("inf"))


def test_says_when_the_kernel_itself_would_fail(executed) -> None:
    html, plain, _ = _outputs(executed[11])
    assert "would fail" in plain and "spawn" in plain and "PASSED" in plain
    assert plain.index("would fail") < plain.index("PASSED")  # said first
    assert "would fail" in html
    assert "would fail" not in _outputs(executed[2])[1]  # under fork the kernel copes


def test_api_result_shows_itself(tmp_path: Path) -> None:
    path = notebook(tmp_path / "a.ipynb", code={"Q3": CODE["Q3"].replace("p.start()", "p.start(")})
    result = mpgrade.check(path, question="3")
    assert [q.id for q in result.questions] == ["Q3"] and not result.passed
    assert "ERROR" in result.text() and "does not compile" in result.text()
    assert '<div class="mpgrade">' in result._repr_html_() and "a.ipynb" in repr(result)


def test_kernel_failure_note_needs_children_and_notebook_functions(monkeypatch) -> None:
    monkeypatch.setattr(jupyter.multiprocessing, "get_start_method", lambda allow_none=False: "spawn")
    assert "would fail" in jupyter.kernel_would_fail(CODE["Q5"])
    assert jupyter.kernel_would_fail("print(1)") == ""
    monkeypatch.setattr(jupyter.multiprocessing, "get_start_method", lambda allow_none=False: "fork")
    assert jupyter.kernel_would_fail(CODE["Q5"]) == ""
