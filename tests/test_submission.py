"""Reading submissions: every notebook version and script flavour, and every way a file is bad."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
import pytest
from nbconvert import PythonExporter
from nbformat import v3, v4

from mpgrade.submission import SubmissionError, load, question_id_from_label

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ass.ipynb"


def write_nb(path: Path, nb: nbformat.NotebookNode) -> Path:
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path


def test_example_notebook_loads_every_cell() -> None:
    sub = load(EXAMPLE)
    assert sub.format == "ipynb"
    assert len(sub.cells) == 35
    assert sub.sha256 == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert [c.index for c in sub.cells] == list(range(35))
    assert sub.cells[1].kind == "markdown" and sub.cells[1].source.startswith("Q1.")
    assert sub.cells[15].kind == "code" and "multiprocessing.Process" in sub.cells[15].source
    assert not any(c.from_script for c in sub.cells)


def test_v3_notebook_with_worksheets_and_heading_cells(tmp_path: Path) -> None:
    nb = v3.new_notebook(
        worksheets=[
            v3.new_worksheet(
                cells=[
                    v3.new_heading_cell("Q3. Create a process", level=2),
                    v3.new_text_cell("markdown", "Some prose"),
                    v3.new_code_cell(input="import multiprocessing\nprint(1)"),
                    v3.new_text_cell("raw", "raw text"),
                ]
            )
        ]
    )
    path = tmp_path / "old.ipynb"
    path.write_text(v3.writes_json(nb), encoding="utf-8")
    sub = load(path)
    assert [c.kind for c in sub.cells] == ["markdown", "markdown", "code", "raw"]
    assert "Q3. Create a process" in sub.cells[0].source
    assert sub.cells[2].source == "import multiprocessing\nprint(1)"


def test_colab_notebook_with_extra_metadata(tmp_path: Path) -> None:
    data = {
        "nbformat": 4,
        "nbformat_minor": 0,
        "metadata": {"colab": {"provenance": [], "name": "ass.ipynb"}, "accelerator": "GPU"},
        "cells": [
            {"cell_type": "markdown", "metadata": {"id": "abc"}, "source": ["Q1. What", " is it?"]},
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {
                    "id": "x1",
                    "colab": {"base_uri": "https://localhost:8080/"},
                    "outputId": "f00",
                },
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}],
                "source": ["print('hi')\n", "print(2)"],
            },
        ],
    }
    path = tmp_path / "colab.ipynb"
    path.write_text(json.dumps(data), encoding="utf-8")
    sub = load(path)
    assert [c.source for c in sub.cells] == ["Q1. What is it?", "print('hi')\nprint(2)"]


def test_notebook_without_version_keys_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "bare.ipynb"
    path.write_text(
        json.dumps({"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}}]})
    )
    assert load(path).cells[0].source == "x = 1"


def test_raw_cells_keep_their_kind(tmp_path: Path) -> None:
    nb = v4.new_notebook(cells=[v4.new_raw_cell("Q2. answer in a raw cell")])
    assert load(write_nb(tmp_path / "raw.ipynb", nb)).cells[0].kind == "raw"


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"mpgrade": {"question": "Q3"}}, "Q3"),
        ({"mpgrade": {"question": "q5"}}, "Q5"),
        ({"nbgrader": {"grade_id": "q3", "grade": True}}, "Q3"),
        ({"nbgrader": {"grade_id": "question_4"}}, "Q4"),
        ({"nbgrader": {"grade_id": "cell-q6-answer"}}, "Q6"),
        ({"nbgrader": {"grade_id": "cell-8a1c2d3e4f5a6b7c"}}, None),
        ({"tags": ["Q2"]}, "Q2"),
        ({"tags": ["q3", "hide-input"]}, "Q3"),
        ({"tags": ["hide-input"]}, None),
        ({}, None),
    ],
)
def test_explicit_question_from_metadata(
    tmp_path: Path, metadata: dict, expected: str | None
) -> None:
    nb = v4.new_notebook(cells=[v4.new_code_cell("x = 1", metadata=metadata)])
    cell = load(write_nb(tmp_path / "m.ipynb", nb)).cells[0]
    assert cell.question == expected
    assert cell.tags == tuple(metadata.get("tags", ()))


def test_assignment_id_from_notebook_metadata(tmp_path: Path) -> None:
    nb = v4.new_notebook(metadata={"mpgrade": {"assignment": "15feb-multiprocessing"}})
    sub = load(write_nb(tmp_path / "t.ipynb", nb))
    assert sub.assignment_id == "15feb-multiprocessing"
    assert sub.cells == ()


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Q3", "Q3"),
        ("q3", "Q3"),
        ("question_3", "Q3"),
        ("cell-q3-answer", "Q3"),
        ("ques 12", "Q12"),
        ("ans3", "Q3"),
        ("cell-abc", None),
        ("equation2", None),
        ("", None),
    ],
)
def test_question_id_from_label(label: str, expected: str | None) -> None:
    assert question_id_from_label(label) == expected


# --------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ass.ipynb", b'{\n  "cells": [\n    x\n', "ass.ipynb: not valid JSON: Expecting value at line 3, column 5"),
        ("ass.ipynb", b"[1, 2, 3]", "ass.ipynb: valid JSON but not a Jupyter notebook"),
        ("ass.ipynb", b'{"name": "x"}', "ass.ipynb: valid JSON but not a Jupyter notebook"),
        ("ass.ipynb", b"", "ass.ipynb: empty file"),
        ("ass.py", b"  \n\n\t\n", "ass.py: empty file"),
        ("ass.ipynb", b"\x89PNG\r\n\x1a\n\x00\x00", "ass.ipynb: binary file (a PNG image)"),
        ("ass.ipynb", b"%PDF-1.4\n%\xe2\xe3", "ass.ipynb: binary file (a PDF)"),
        ("ass.py", b"import os\x00\x01\x02", "ass.py: binary file"),
        ("ass.ipynb", b'{"cells": 5, "nbformat": 4}', "ass.ipynb: not a readable Jupyter notebook"),
    ],
)
def test_unreadable_files_give_one_line_naming_the_file(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SubmissionError) as info:
        load(path)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match=r"^nope.ipynb: no such file$"):
        load(tmp_path / "nope.ipynb")
    (tmp_path / "dir.ipynb").mkdir()
    with pytest.raises(SubmissionError, match=r"^dir.ipynb: is a directory"):
        load(tmp_path / "dir.ipynb")


def test_empty_notebook_has_zero_cells(tmp_path: Path) -> None:
    sub = load(write_nb(tmp_path / "empty.ipynb", v4.new_notebook()))
    assert sub.cells == () and sub.format == "ipynb"


# --------------------------------------------------------------------------- scripts

PLAIN = """\
# Q1. What is multiprocessing?
# It runs work in separate processes.

# Q3. Create a process
import multiprocessing


def test():
    print("child")

if __name__ == "__main__":
    p = multiprocessing.Process(target=test)
    p.start()
    p.join()
"""


def test_plain_script_comment_paragraphs_become_prose(tmp_path: Path) -> None:
    path = tmp_path / "plain.py"
    path.write_text(PLAIN)
    sub = load(path)
    assert sub.format == "py"
    assert [(c.kind, c.line_offset) for c in sub.cells] == [
        ("markdown", 0),
        ("markdown", 3),
        ("code", 4),
    ]
    assert (
        sub.cells[0].source == "Q1. What is multiprocessing?\nIt runs work in separate processes."
    )
    code = sub.cells[2]
    assert code.source.startswith("import multiprocessing\n\n\ndef test():")
    assert code.source.endswith("p.join()")
    assert code.from_script
    # line_offset + line in cell = line in the file
    file_lines = PLAIN.split("\n")
    for n, line in enumerate(code.source.split("\n"), 1):
        assert file_lines[code.line_offset + n - 1] == line


@pytest.mark.filterwarnings("ignore:IPython is needed")
def test_nbconvert_export_round_trips_the_example(tmp_path: Path) -> None:
    nb = nbformat.read(EXAMPLE, as_version=4)
    script, _ = PythonExporter().from_notebook_node(nb)
    path = tmp_path / "ass.py"
    path.write_text(script)
    cells = load(path).cells
    kept = [c for c in nbformat.read(EXAMPLE, as_version=4).cells if c.source.strip()]
    assert [c.source.strip() for c in cells] == [c.source.strip() for c in kept]
    assert [c.kind for c in cells] == [c.cell_type for c in kept]
    lines = script.split("\n")
    for cell in cells:
        if cell.kind == "code":
            assert lines[cell.line_offset] == cell.source.split("\n")[0]


PERCENT = """\
# ---
# jupyter:
#   jupytext:
#     text_representation:
#       format_name: percent
# ---

# %% [markdown]
# Q1. What is multiprocessing?
#
# It uses processes.

# %% tags=["Q3"]
import multiprocessing
print(1)

# %% Q4 a pool
x = 2
# %% [raw]
raw stuff
"""


def test_percent_script_cells_markdown_tags_and_titles(tmp_path: Path) -> None:
    path = tmp_path / "p.py"
    path.write_text(PERCENT)
    cells = load(path).cells
    assert [(c.kind, c.source) for c in cells] == [
        ("markdown", "Q1. What is multiprocessing?\n\nIt uses processes."),
        ("code", "import multiprocessing\nprint(1)"),
        ("markdown", "Q4 a pool"),
        ("code", "x = 2"),
        ("raw", "raw stuff"),
    ]
    assert cells[1].question == "Q3" and cells[1].tags == ("Q3",)
    assert PERCENT.split("\n")[cells[1].line_offset] == "import multiprocessing"


def test_markdown_file_is_one_prose_cell(tmp_path: Path) -> None:
    path = tmp_path / "ass.md"
    path.write_text("\n\n# Q3\n```python\nprint(1)\n```\n")
    (cell,) = load(path).cells
    assert cell.kind == "markdown" and cell.line_offset == 2 and cell.source.startswith("# Q3")


def test_notebook_saved_under_another_suffix_is_still_a_notebook(tmp_path: Path) -> None:
    path = tmp_path / "ass.txt"
    path.write_text(nbformat.writes(v4.new_notebook(cells=[v4.new_code_cell("x = 1")])))
    sub = load(path)
    assert sub.format == "ipynb" and sub.cells[0].source == "x = 1"


# --------------------------------------------------------------------------- encodings

TRICKY = "# Q3. Café ☕ process 🚀\nimport multiprocessing\nif True:\n\tprint('é')\n"


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: s.encode("utf-8"),
        lambda s: b"\xef\xbb\xbf" + s.replace("\n", "\r\n").encode("utf-8"),
        lambda s: s.replace("\n", "\r").encode("utf-8"),
        lambda s: s.encode("utf-16"),
        lambda s: s.replace("☕ ", "").replace("🚀", "").encode("latin-1"),
    ],
    ids=["utf8", "bom-crlf", "cr", "utf16", "latin1"],
)
def test_script_encodings_and_newlines_do_not_matter(tmp_path: Path, encode) -> None:
    path = tmp_path / "s.py"
    path.write_bytes(encode(TRICKY))
    cells = load(path).cells
    assert cells[0].kind == "markdown" and cells[0].source.startswith("Q3. Café")
    assert cells[1].source == "import multiprocessing\nif True:\n\tprint('é')"


def test_notebook_with_bom_and_crlf(tmp_path: Path) -> None:
    nb = v4.new_notebook(cells=[v4.new_code_cell("print('🚀')\r\nprint(2)")])
    path = tmp_path / "b.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + nbformat.writes(nb).replace("\n", "\r\n").encode("utf-8"))
    assert load(path).cells[0].source == "print('🚀')\nprint(2)"
