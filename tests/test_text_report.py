"""The terminal report as a student reads it: short, each thing said once, nothing from the
submission able to act on the terminal."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from conftest import EXAMPLE, run_cli
from test_report import sample_report

from mpgrade.model import OutputLine, ProcessInfo
from mpgrade.report import render
from mpgrade.report.text import render_text
from mpgrade.safe_text import plain

QUESTION_ROW = re.compile(r"^[✓✗] (Q\d+) ")


def _sections(out: str) -> dict[str, str]:
    """Question id -> its part of the report (its row and what follows it)."""
    found: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        m = QUESTION_ROW.match(line)
        if m:
            current = m[1]
            found[current] = []
        elif line.startswith("Question "):  # the summary table
            current = None
        if current:
            found[current].append(line)
    return {qid: "\n".join(lines) for qid, lines in found.items()}


def _sentences(text: str) -> list[str]:
    """Sentences of rendered text, rejoined across wrapped lines, as a reader counts them."""
    flat = " ".join(line.strip(" │├└─→") for line in text.splitlines())
    parts = re.split(r"(?<=[.!?])\s+|(?<=:)\s+", flat)
    keys = (re.sub(r"[\W_]+", " ", p.lower()).strip() for p in parts)
    return [k for k in keys if len(k.split()) >= 4]


def test_example_at_80_columns_is_short_and_says_each_thing_once() -> None:
    proc = run_cli("check", str(EXAMPLE), env={"COLUMNS": "80"})
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) <= 60, proc.stdout
    assert all(len(line) <= 80 for line in lines)
    assert "examples/ass.ipynb" in lines[0] and "15feb-multiprocessing" in lines[0]
    sections = _sections(proc.stdout)
    assert list(sections) == ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]
    for qid, status in (("Q3", "PASSED"), ("Q4", "NEEDS REVIEW"), ("Q5", "PASSED")):
        assert sections[qid].count("\n") == 0 and status in sections[qid]
    for qid, body in sections.items():
        said = _sentences(body)
        repeated = {s for s in said if said.count(s) > 1}
        assert not repeated, f"{qid} repeats: {repeated}"
    q6 = sections["Q6"]
    assert q6.index("Not yet what the question asks") < q6.index("Pipe receiver waits forever")
    assert "→ 11 │" in q6 and "◀ blocked here" in q6 and "ERROR:" not in proc.stdout
    assert "Checks:" in q6 and "Messages (in order)" not in q6
    assert "6.4 / 10 points" in " ".join(lines[-2:])


def test_width_follows_the_console() -> None:
    wide = render_text(sample_report(), color=False, width=140).splitlines()
    narrow = render_text(sample_report(), color=False, width=60).splitlines()
    assert max(map(len, wide)) > 100 and max(map(len, narrow)) <= 60
    assert len(narrow) > len(wide)
    # wrapped feedback hangs under its first word, never at column 0
    q6 = narrow[narrow.index(next(line for line in narrow if " Q6 " in line)):]
    body = q6[1 : q6.index("") if "" in q6 else None]
    assert all(line.startswith("  ") for line in body)


def _hostile(report):
    """Student-controlled strings that try to act on a terminal or be read as rich markup."""
    evil = "\x1b[2J\x1b]52;c;ZXZpbA==\x07\x1b[1;32m 10 / 10 PASSED [/bold] [red]x[/red]\x9b31m"
    q6 = report.questions[5]
    trace = q6.run.trace
    procs = tuple(replace(p, name=evil, target=f"{evil}.f") if p.pid == 202 else p for p in trace.processes)
    lines = trace.lines + (OutputLine(202, "stdout", evil, t=0.07),)
    extra = (ProcessInfo(203, 200, "\ud800lone", None, confirmed=True),)
    run = replace(q6.run, trace=replace(trace, processes=procs + extra, lines=lines))
    q = replace(q6, run=run, title=f"Four {evil}", feedback=evil)
    return replace(report, questions=report.questions[:5] + (q,))


def test_student_text_never_acts_on_the_terminal() -> None:
    report = _hostile(sample_report())
    for color in (False, True):
        for verbose in (False, True):
            out = render(report, "text", color=color, verbose=verbose)
            out.encode("utf-8")  # a lone surrogate would raise here
            escapes = set(re.findall(r"\x1b[^m]{0,12}", out))
            if color:  # only our own colour codes (SGR) survive
                assert all(re.fullmatch(r"\x1b\[[0-9;]*", e) for e in escapes), escapes
                assert "\x1b[2J" not in out and "\x1b]52" not in out
            else:
                assert not escapes
            assert "\x07" not in out and "\x9b" not in out
            assert "[/bold]" in out and "[red]x[/red]" in out  # shown as typed, never markup
            assert "␛[2J" in out


def test_plain_makes_controls_visible_and_keeps_text() -> None:
    assert plain("a\tb\nc") == "a\tb\nc"
    assert plain("\x1b[2J\r\x7f\x9b\u202e\ud800") == "␛[2J␍␡\ufffd\ufffd\ufffd"
    assert plain("[/bold] ünïcödé") == "[/bold] ünïcödé"


def test_plain_replaces_lone_surrogates_as_every_reader_of_student_text_does() -> None:
    from mpgrade.untrusted import clean_text

    name = "caf\udce9.py"  # os.fsdecode of a Latin-1 file name
    assert plain(name) == clean_text(name) == "caf\\xe9.py"
    assert plain("\ud800\x1b") == "\ufffd␛"


def test_syntax_error_shows_the_line_with_a_caret(make_notebook) -> None:
    path: Path = make_notebook(code={"Q3": "import multiprocessing\n\ndef greet(:\n    print('hi')\n"})
    proc = run_cli("check", str(path), "-q", "Q3", env={"COLUMNS": "80"})
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "→ 3 │ def greet(:" in line)
    caret = lines[at + 1]
    assert caret.rstrip().endswith("^ does not compile")
    assert caret.index("^") == lines[at].index("(:") + 1  # under the colon that does not fit
    assert "cell 6" in proc.stdout  # counted from 1, as Jupyter shows cells


def test_verbose_tells_every_run_in_full() -> None:
    out = render(sample_report(), "text", color=False, verbose=True)
    q3 = _sections(out)["Q3"]
    assert "Run: exit 0" in q3 and "Hello from the child process" in q3
    assert "Messages (in order)" in out and "worker pid 302 ran cube(2) → 8" in out


HOSTILE_Q3 = '''import multiprocessing

def greet():
    print("\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07\\x1b[1;32m 10 / 10 PASSED [/bold]")

if __name__ == "__main__":
    p = multiprocessing.Process(target=greet, name="\\x1b[31mevil[/bold]\\x1b]0;title\\x07")
    p.start()
    p.join()
'''


def test_a_hostile_submission_cannot_act_on_the_terminal(make_notebook, tmp_path: Path) -> None:
    path = make_notebook(code={"Q3": HOSTILE_Q3})
    proc = run_cli("check", str(path), "-q", "Q3", "--no-color", "-v")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert "␛[31mevil[/bold]" in proc.stdout and "10 / 10 PASSED [/bold]" in proc.stdout
    out = tmp_path / "report.txt"
    assert run_cli("check", str(path), "-q", "Q3", "-v", "-o", str(out)).returncode == 0
    assert "\x1b" not in out.read_text(encoding="utf-8")


def test_full_marks_is_a_line_per_question_and_the_total(make_notebook) -> None:
    proc = run_cli("check", str(make_notebook()), env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    assert len(lines) <= 14, proc.stdout  # the long temporary path may wrap the first line
    assert not any(ln.startswith("Question ") for ln in lines)  # the rows are the table
    assert [ln.split()[1] for ln in lines if QUESTION_ROW.match(ln)] == ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]
    assert "10 / 10 points" in lines[-1]
