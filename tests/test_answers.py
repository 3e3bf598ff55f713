"""Answers found in the layouts real classes hand in, one fixture per layout.

The fixtures in tests/fixtures/answers/ are small files written for these tests after
the shapes seen in real submissions: no headers, prose typed into code cells, raw
cells, a whole answer sheet in one cell, code in Markdown, wrong numbers, a missing
header, a list of the questions first, plain-text and exported scripts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mpgrade.assignment import load_assignment
from mpgrade.build import build_script
from mpgrade.model import (
    Attribution,
    Cell,
    Environment,
    Limits,
    QuestionResult,
    Report,
    Segmentation,
    Submission,
)
from mpgrade.report import render
from mpgrade.segment import context_for, segment
from mpgrade.submission import SubmissionError, load

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "answers"
QUESTIONS = load_assignment("15feb-multiprocessing").questions
MPGRADE = str(Path(sys.executable).with_name("mpgrade"))


def seg_of(name: str) -> Segmentation:
    return segment(load(FIXTURES / name), QUESTIONS)


def runs(seg: Segmentation, qid: str, tmp_path: Path) -> tuple[str, tuple[str, ...]]:
    """Build the answer's script and run it as a real file: its stdout and the build notes."""
    script = build_script(seg.answers[qid], context_for(seg, qid))
    assert script.syntax_error is None, script.syntax_error
    path = tmp_path / f"{qid}.py"
    path.write_text(script.source)
    out = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    return out.stdout, script.notes


def test_no_headers_are_attributed_by_what_each_cell_is() -> None:
    seg = seg_of("no_headers.ipynb")
    assert sorted(seg.answers) == ["Q1", "Q2", "Q3", "Q4", "Q6"]  # Q5 was never answered
    how = {qid: a.attribution for qid, a in seg.answers.items()}
    assert {a.by for a in how.values()} == {"content"}
    assert how["Q3"].evidence == "a single Process"
    assert how["Q6"].evidence == "4 Processes"
    assert "thread" in how["Q2"].evidence
    assert seg.answers["Q4"].prose.startswith("A pool is a set of worker processes")
    assert "Process(target=show" in seg.answers["Q6"].code


def test_prose_in_code_cells_is_found_and_salvaged(tmp_path: Path) -> None:
    seg = seg_of("prose_in_code.ipynb")
    assert sorted(seg.answers) == ["Q3", "Q5", "Q6"]
    assert seg.answers["Q3"].attribution.evidence == "'Ans3. import multiprocessing'"
    out, notes = runs(seg, "Q3", tmp_path)
    assert out == "hello bo\n"
    assert any("'Ans3.' looked like a label" in n for n in notes)
    out, notes = runs(seg, "Q5", tmp_path)
    assert out == "[2, 4, 6]\n"
    assert any("looked like prose" in n for n in notes)  # the question pasted above
    out, notes = runs(seg, "Q6", tmp_path)
    assert sorted(out.replace("\n", "")) == ["1", "2", "3", "4"]  # children may interleave
    assert sum("made a comment" in n for n in notes) == 3  # the question and 2 output lines


def test_answers_in_raw_cells() -> None:
    seg = seg_of("raw_cells.ipynb")
    assert sorted(seg.answers) == [f"Q{n}" for n in range(1, 7)]
    assert seg.answers["Q1"].prose.startswith("Multiprocessing lets")
    assert seg.answers["Q3"].attribution.evidence == "'Answer 3:'"
    assert "Pool(3)" in seg.answers["Q5"].code and "Process(" not in seg.answers["Q5"].code


def test_whole_answer_sheet_in_one_code_cell(tmp_path: Path) -> None:
    seg = seg_of("one_cell_many_answers.ipynb")
    assert sorted(seg.answers) == ["Q1", "Q3", "Q5", "Q6"]
    assert "def twice" in seg.answers["Q5"].code and "def shout" not in seg.answers["Q5"].code
    assert seg.answers["Q6"].cells[0].line_offset > seg.answers["Q5"].cells[0].line_offset
    out, _ = runs(seg, "Q5", tmp_path)  # the shared import comes from the cell's top
    assert out == "[2, 4, 6]\n"


def test_code_in_markdown_unfenced_and_in_triple_quotes(tmp_path: Path) -> None:
    seg = seg_of("code_in_markdown.ipynb")
    assert [c.kind for c in seg.answers["Q3"].cells] == ["code"]
    assert seg.answers["Q3"].cells[0].line_offset == 1  # the line after "Q3."
    assert "'''" not in seg.answers["Q5"].code
    assert "1\n2\n3\n4" not in seg.answers["Q6"].code  # the fenced output stays prose
    assert any("code written in a text cell" in n for n in seg.notes)
    out, _ = runs(seg, "Q5", tmp_path)
    assert out == "[2, 4, 6]\n"


def test_bare_numbers_and_a_repeated_number() -> None:
    seg = seg_of("wrong_numbers.ipynb")
    assert sorted(seg.answers) == ["Q1", "Q3", "Q4", "Q5", "Q6"]
    assert "Pool(3)" in seg.answers["Q5"].code
    assert "Process(target=show" in seg.answers["Q6"].code
    assert any("taken as Q6" in n for n in seg.notes)


def test_program_without_its_header_goes_to_the_question_it_answers() -> None:
    seg = seg_of("missing_header.ipynb")
    assert "Pool(3)" in seg.answers["Q5"].code and "Process(" not in seg.answers["Q5"].code
    q6 = seg.answers["Q6"]
    assert q6.attribution.by == "content" and q6.attribution.sentence() == (
        "attributed by content: 4 Processes"
    )


def test_a_list_of_the_questions_is_not_the_answers() -> None:
    seg = seg_of("question_list.ipynb")
    assert sorted(seg.answers) == ["Q1", "Q3"]
    assert seg.answers["Q1"].prose.startswith("Multiprocessing lets")
    assert seg.notes == ()


def test_plain_text_script_is_split_into_prose_and_code(tmp_path: Path) -> None:
    seg = seg_of("plain_text.py")
    assert sorted(seg.answers) == ["Q1", "Q3", "Q5"]
    assert seg.answers["Q1"].code == "" and "CPU-bound" in seg.answers["Q1"].prose
    out, notes = runs(seg, "Q5", tmp_path)
    assert out == "[2, 4, 6]\n"
    assert any("line 16: 'Use a Pool and give it work" in n for n in notes)  # file lines


def test_nbconvert_export_without_question_text() -> None:
    seg = seg_of("export_no_text.py")
    assert {q: a.attribution.evidence for q, a in seg.answers.items()} == {
        "Q3": "a single Process",
        "Q5": "a Pool with map",
        "Q6": "4 Processes",
    }


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("r_kernel.ipynb", "r_kernel.ipynb: an R notebook, not Python"),
        ("notes.txt", "notes.txt: a .txt file with no Python code, not a notebook or script"),
    ],
)
def test_files_that_are_not_python_are_refused(name: str, message: str) -> None:
    with pytest.raises(SubmissionError, match=message):
        load(FIXTURES / name)
    done = subprocess.run(
        [MPGRADE, "check", str(FIXTURES / name), "--no-color"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and message.split(":")[1].strip() in done.stderr


def test_a_text_answer_sheet_holding_python_is_graded_as_a_script() -> None:
    seg = seg_of("answers.txt")
    assert list(seg.answers) == ["Q3"] and "Process(target=hello" in seg.answers["Q3"].code


def test_every_result_says_how_its_answer_was_found(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    subprocess.run(
        [MPGRADE, "check", str(FIXTURES / "prose_in_code.ipynb"), "--format", "json", "-o",
         str(out), "-q", "Q3", "-q", "Q4"],
        capture_output=True, text=True, timeout=300,
    )
    result = {q["id"]: q for q in json.loads(out.read_text())["questions"]}
    assert result["Q4"]["status"] == "missing" and result["Q4"]["attribution"] is None
    found = result["Q3"]["attribution"]
    assert found["by"] == "header" and found["text"] == "found by its header 'Ans3. import multiprocessing'"
    assert found["salvaged"] == ["cell 2, line 1: 'Ans3.' looked like a label and was ignored"]
    assert result["Q3"]["status"] != "error"


def test_a_header_naming_two_questions_gives_both_the_answer() -> None:
    cells = (
        Cell(0, "markdown", "Question 4 and 5"),
        Cell(1, "markdown", "A pool is a group of worker processes; create it with Pool(4)."),
        Cell(2, "markdown", "Question 6"),
    )
    seg = segment(Submission("t.ipynb", "ipynb", "0" * 64, cells), QUESTIONS)
    assert seg.answers["Q4"].prose == seg.answers["Q5"].prose == cells[1].source
    assert seg.answers["Q5"].attribution.evidence == "'Question 4 and 5'"
    assert any("share one answer" in n for n in seg.notes)


def test_prose_as_strings_and_comments_in_a_script() -> None:
    seg = seg_of("prose_in_strings.py")
    assert seg.answers["Q1"].prose == (
        "It runs work in several processes, so CPU-bound code uses many cores."
    )
    assert seg.answers["Q2"].prose.startswith("Threads share memory") and not seg.answers["Q2"].code
    assert "Process(target=hello)" in seg.answers["Q3"].code


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json", "gradescope"])
def test_every_format_shows_the_attribution_and_the_salvage(fmt: str) -> None:
    found = QuestionResult(
        "Q5", "Pool", "code", "partial", 1.0, 2.0, "The pool's results are not printed.",
        attribution=Attribution("content", "a Pool with map"),
        salvaged=("cell 4, line 1: 'Q5.' looked like a label and was ignored",),
    )
    absent = QuestionResult("Q6", "Four", "code", "missing", 0.0, 2.0, "No answer was found.")
    env = Environment("CPython 3.11", "Linux", "fork", "plain", "poll", Limits())
    report = Report("1", "a", "A", "s.ipynb", "0" * 64, "ipynb", 1.0, 4.0, 1.0, (found, absent), env)
    out = " ".join(render(report, fmt, color=False).split())  # the terminal wraps lines
    assert "attributed by content: a Pool with map" in out
    assert "looked like a label and was ignored" in out
    assert out.count("attributed by") == 1 and "found by" not in out  # none for the missing one
