"""Renderers: every format from realistic, hand-built reports (no grading, no sandbox)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mpgrade.model import (
    CheckResult,
    Diagnosis,
    Environment,
    Limits,
    Message,
    OutputLine,
    PoolInfo,
    PoolTask,
    ProcessInfo,
    ProcessStack,
    QuestionResult,
    Report,
    RunSummary,
    StackFrame,
    Trace,
)
from mpgrade.report import (
    ClassSummary,
    FailureReason,
    QuestionSummary,
    SchemaError,
    StudentRow,
    load_schema,
    render,
    render_gradescope,
    render_summary_html,
    story,
    to_json,
    validate_json,
)
from mpgrade.report.summary import histogram

SVG = "{http://www.w3.org/2000/svg}"

Q6_SCRIPT = """\
from multiprocessing import Pipe, Process


def sender(conn):
    for n in [1, 2, 3]:
        conn.send(n)
    conn.close()


def receiver(conn):
    while True:
        msg = conn.recv()
        print(msg)


if __name__ == "__main__":
    parent, child = Pipe()
    s = Process(target=sender, args=(parent,))
    r = Process(target=receiver, args=(child,))
    s.start(); r.start()
    s.join(); r.join()
"""


def check(cid: str, passed: bool, score: float, max_score: float, message: str) -> CheckResult:
    return CheckResult(cid, passed, score, max_score, message)


def q3_passed() -> QuestionResult:
    trace = Trace(
        start_method="fork",
        processes=(
            ProcessInfo(
                100, 1, "MainProcess", None, role="main", exitcode=0, ended_at=0.09, confirmed=True
            ),
            ProcessInfo(
                101,
                100,
                "Process-1",
                "worker",
                args="()",
                exitcode=0,
                started_at=0.02,
                ended_at=0.06,
                confirmed=True,
            ),
        ),
        lines=(OutputLine(101, "stdout", "Hello from the child process", t=0.04),),
    )
    run = RunSummary(
        0,
        0.09,
        "fork",
        None,
        "",
        "Hello from the child process\n",
        "",
        False,
        trace,
        script="import multiprocessing\n...",
    )
    return QuestionResult(
        "Q3",
        "Create a Process",
        "code",
        "passed",
        1.5,
        1.5,
        "Your process started, ran its target and printed from the child.",
        checks=(
            check("process.started", True, 0.5, 0.5, "1 process started."),
            check("process.target_ran", True, 0.5, 0.5, "worker ran in Process-1."),
            check("process.child_printed", True, 0.5, 0.5, "Process-1 printed 1 line."),
        ),
        run=run,
    )


def q5_pool() -> QuestionResult:
    workers = (301, 302, 303)
    tasks = tuple(
        PoolTask(1, workers[i % 3], "cube", str(n), str(n**3), t=0.05 + 0.01 * n)
        for i, n in enumerate(range(1, 9))
    )
    processes = (
        ProcessInfo(
            300, 1, "MainProcess", None, role="main", exitcode=0, ended_at=0.3, confirmed=True
        ),
    )
    processes += tuple(
        ProcessInfo(
            pid,
            300,
            f"ForkPoolWorker-{i}",
            None,
            role="pool_worker",
            exitcode=-15,
            started_at=0.03,
            ended_at=0.28,
            confirmed=True,
        )
        for i, pid in enumerate(workers, start=1)
    )
    trace = Trace("fork", processes, pools=(PoolInfo(1, 3, ("map",)),), tasks=tasks)
    run = RunSummary(
        0, 0.3, "fork", None, "", "", "", False, trace, script="from multiprocessing import Pool\n"
    )
    return QuestionResult(
        "Q5",
        "A pool of workers that cubes numbers",
        "code",
        "partial",
        1.5,
        2.0,
        "The pool computed the cubes, but the results were never printed.",
        checks=(
            check("pool.used", True, 0.5, 0.5, "Pool(3).map was called."),
            check("pool.workers_computed", True, 0.5, 0.5, "3 workers computed items."),
            check("pool.results_correct", True, 0.5, 0.5, "All 8 cubes are correct."),
            check(
                "output.results_printed", False, 0.0, 0.5, "The list of results was not printed."
            ),
        ),
        run=run,
    )


def q6_deadlock() -> QuestionResult:
    messages = []
    for i, n in enumerate((1, 2, 3)):
        messages.append(Message("pipe-1", "pipe", "send", 201, repr(n), t=0.05 + 0.01 * i))
        messages.append(Message("pipe-1", "pipe", "recv", 202, repr(n), t=0.055 + 0.01 * i))
    trace = Trace(
        start_method="fork",
        processes=(
            ProcessInfo(200, 1, "MainProcess", None, role="main", confirmed=True),
            ProcessInfo(
                201,
                200,
                "Process-1",
                "sender",
                args="(<Connection>,)",
                exitcode=0,
                started_at=0.03,
                ended_at=0.09,
                confirmed=True,
            ),
            ProcessInfo(
                202,
                200,
                "Process-2",
                "receiver",
                args="(<Connection>,)",
                started_at=0.04,
                confirmed=True,
            ),
        ),
        lines=tuple(
            OutputLine(202, "stdout", str(n), t=0.06 + 0.01 * i) for i, n in enumerate((1, 2, 3))
        ),
        messages=tuple(messages),
    )
    frame = StackFrame(
        "/usr/lib/python3.11/multiprocessing/connection.py",
        430,
        "_recv_bytes",
        "buf = self._recv(4)",
    )
    stacks = (
        ProcessStack(
            200,
            "MainProcess",
            (StackFrame("answer.py", 21, "<module>", "s.join(); r.join()"),),
            wait="wait4",
        ),
        ProcessStack(
            202,
            "Process-2",
            (StackFrame("answer.py", 12, "receiver", "msg = conn.recv()"), frame),
            wait="read",
        ),
    )
    run = RunSummary(
        None,
        1.21,
        "fork",
        "deadlock",
        "No process made progress for 1.0 s and every process waited without a deadline.",
        "1\n2\n3\n",
        "",
        False,
        trace,
        stacks=stacks,
        script=Q6_SCRIPT,
        blocking_line=12,
    )
    return QuestionResult(
        "Q6",
        "Four processes, four numbers",
        "code",
        "timeout",
        0.5,
        2.0,
        "Your program never finished: the receiver waited forever for more messages.",
        checks=(
            check("process.started", True, 0.5, 0.5, "2 processes started."),
            check(
                "process.each_printed_number",
                False,
                0.0,
                0.5,
                "Only 1 of 4 processes printed a number.",
            ),
            check("process.distinct_numbers", False, 0.0, 0.5, "Fewer than 4 distinct numbers."),
            check("run.completed", False, 0.0, 0.5, "Stopped: deadlock after 1.21 s."),
            check("pipe.order", True, 0.0, 0.0, "Messages arrived in the order sent."),
        ),
        diagnoses=(
            Diagnosis(
                "pipe_inherited_write_end",
                "The receiver kept the pipe's write end open",
                "Under fork the receiver inherits both ends of the Pipe, so recv() never sees end-of-file.",
                "Close the unused end in each process (conn.close()) or send a sentinel like None to stop.",
                location="answer.py:12",
            ),
        ),
        run=run,
        portability={
            "fork": ("timeout", "deadlock"),
            "spawn": ("passed", ""),
            "forkserver": ("passed", ""),
        },
    )


def sample_report(student: str | None = None) -> Report:
    """A six-question report covering every shape a renderer must handle."""
    questions = (
        QuestionResult(
            "Q1",
            "What is multiprocessing?",
            "prose",
            "passed",
            1.5,
            1.5,
            "You explained separate processes, parallelism and the GIL.",
        ),
        QuestionResult(
            "Q2",
            "Multiprocessing vs multithreading",
            "prose",
            "needs_review",
            1.0,
            1.5,
            "Proposed 1/1.5: memory model and GIL found; cost of processes not mentioned.",
        ),
        q3_passed(),
        QuestionResult(
            "Q4", "Pool: what and why", "code", "missing", 0.0, 1.5, "No answer to Q4 was found."
        ),
        q5_pool(),
        q6_deadlock(),
    )
    return Report(
        tool_version="0.1.0",
        assignment_id="15feb-multiprocessing",
        assignment_title="15 Feb assignment: multiprocessing in Python",
        submission_path="submissions/ada/ass.ipynb",
        submission_sha256="ab" * 32,
        submission_format="ipynb",
        score=sum(q.score for q in questions),
        max_score=sum(q.max_score for q in questions),
        duration_s=2.34,
        questions=questions,
        environment=Environment(
            "3.11.7", "Linux-6.1-x86_64", "fork", "bwrap", "proc_connector", Limits()
        ),
        student=student,
    )


@pytest.fixture()
def report() -> Report:
    return sample_report()


# --------------------------------------------------------------------------- json


def test_json_validates_and_carries_the_run(report: Report) -> None:
    obj = to_json(report)
    validate_json(obj)
    validate_json(json.loads(render(report, "json")))
    assert obj["schema_version"] == 2 and obj["tool"]["name"] == "mpgrade"
    assert obj["status"] == "graded" and obj["error"] is None
    assert [q["id"] for q in obj["questions"]] == ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]
    assert "student" not in obj
    q6 = obj["questions"][5]
    assert q6["reason"] == "deadlock" and q6["run"]["blocking_line"] == 12
    assert len(q6["run"]["messages"]) == 6 and len(q6["run"]["stacks"]) == 2
    assert q6["run"]["processes"][2]["output"] == ["1", "2", "3"]
    assert q6["portability"]["spawn"] == {"status": "passed", "reason": ""}
    assert obj["questions"][0]["run"] is None and obj["questions"][0]["reason"] is None
    pool = obj["questions"][4]["run"]["pools"][0]
    assert {t["worker_pid"] for t in pool["tasks"]} == {301, 302, 303}
    assert obj["environment"]["limits"]["wall_s"] == 10.0
    assert to_json(sample_report(student="ada"))["student"] == "ada"


@pytest.mark.parametrize(
    "breakage",
    [
        lambda o: o.pop("score"),
        lambda o: o["questions"][0].update(status="great"),
        lambda o: o["questions"][5]["run"].update(exit_code="none"),
        lambda o: o.update(unexpected=1),
    ],
)
def test_invalid_json_fails_validation(report: Report, breakage) -> None:
    obj = to_json(report)
    breakage(obj)
    with pytest.raises(SchemaError, match="schema v2"):
        validate_json(obj)


def test_json_bounds_streams(report: Report) -> None:
    q3 = report.questions[2]
    noisy = replace(q3, run=replace(q3.run, stdout="x" * 100_000))
    obj = to_json(replace(report, questions=(noisy,)))
    validate_json(obj)
    run = obj["questions"][0]["run"]
    assert len(run["stdout"]) < 21_000 and run["truncated"] is True


def test_schema_documents_every_field() -> None:
    undocumented = []

    def walk(node, path):
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    undocumented.append(f"{path}.{name}")
            for key, sub in node.items():
                if key != "allOf":  # conditions restating fields documented above
                    walk(sub, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    schema = load_schema()
    walk(schema, "$")
    assert undocumented == []
    assert schema["$id"].endswith(":2") and "2020-12" in schema["$schema"]


# --------------------------------------------------------------------------- text


def test_text_without_colour_tells_the_whole_story(report: Report) -> None:
    out = render(report, "text", color=False, verbose=True)
    assert "\x1b[" not in out
    for q in report.questions:
        assert q.id in out and q.title in out
    for word in ("PASSED", "NEEDS REVIEW", "MISSING", "PARTIAL", "TIMEOUT"):
        assert word in out
    assert "6 / 10" in out and "1.5 / 2" in out
    assert "Process-2 (pid 202) · target receiver" in out
    assert "blocked at line 12 in receiver: msg = conn.recv()" in out
    assert "Process-1 sent 1 on pipe-1" in out and "Process-2 received 3 on pipe-1" in out
    assert "worker pid 301 ran cube(1) → 1" in out
    assert "Fix: Close the unused end" in out
    assert "process.each_printed_number" in out and "stopped: deadlock" in out
    assert "bwrap" in out and "fork" in out


def test_text_default_is_terse_and_right_first(report: Report) -> None:
    out = render(report, "text", color=False)
    lines = out.splitlines()
    assert "submissions/ada/ass.ipynb" in lines[0] and "15feb-multiprocessing" in lines[0]
    q3 = next(i for i, line in enumerate(lines) if " Q3 " in line)
    assert "PASSED" in lines[q3] and " Q4 " in lines[q3 + 1]  # a pass is one line
    assert "Run:" not in "\n".join(lines[q3 : q3 + 1])
    assert "Process-1 sent 1 on pipe-1" not in out  # message log only with -v
    assert "pipe-1: 3 sent by Process-1; 3 received by Process-2" in out
    q6 = out[out.index(" Q6 ") :]
    assert q6.index("Not yet what the question asks") < q6.index("The receiver kept")
    assert "→ 12 │         msg = conn.recv()  ◀ blocked here" in q6
    assert "ERROR:" not in out
    assert "6 / 10 points · 2 passed, 1 partial" in " ".join(lines[-2:])  # the total is last
    total = next(line for line in lines if line.startswith("Total "))
    assert total.endswith("6 / 10") and out.index(total) > out.index(" Q6 ")


def test_text_colour_follows_flag_and_no_color(report: Report, monkeypatch) -> None:
    assert "\x1b[" in render(report, "text", color=True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in render(report, "text", color=True)


# --------------------------------------------------------------------------- markdown


def test_markdown_has_tables_story_and_code(report: Report) -> None:
    md = render(report, "markdown")
    assert "| Question | Title | Status | Score |" in md
    for q in report.questions:
        assert f"| {q.id} |" in md and f"## {q.id} · " in md
    assert "| `process.started` | passed | 0.5 / 0.5 |" in md
    assert "**Problem: The receiver kept the pipe's write end open** (`answer.py:12`)" in md
    assert (
        "- **Process-2 (pid 202) · target receiver(&lt;Connection>,)** → killed by the grader" in md
    )
    assert "- worker pid 302 ran 3: `cube(2) → 8`" in md
    assert "12          msg = conn.recv()   ◀ blocked here" in md
    assert "```python" in md and "**Total**" in md


# --------------------------------------------------------------------------- html


class _Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)
        self.ids.update(v for k, v in attrs if k == "id" and v)


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg.*?</svg>", html, flags=re.S)]


def test_html_is_self_contained_and_accessible(report: Report) -> None:
    html = render(report, "html")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert "@media print" in html
    outline = _Outline()
    outline.feed(html)
    assert outline.tags.count("h1") == 1 and outline.tags.count("h2") >= 7
    for q in report.questions:
        assert f"q-{q.id}" in outline.ids
    assert "Needs review" in html and "Timed out" in html  # status as words, not only colour
    assert 'class="line blocking" id="q-Q6-L12"' in html and "◀ blocked here" in html


def test_html_timeline_draws_lanes_arrows_and_block(report: Report) -> None:
    html = render(report, "html")
    svgs = _svgs(html)
    assert len(svgs) == 3  # Q3, Q5, Q6
    q6 = svgs[2]
    assert q6.find(f"{SVG}title") is not None and q6.find(f"{SVG}desc") is not None
    lanes = [g for g in q6.iter(f"{SVG}g") if g.get("class") == "lane"]
    assert len(lanes) == 3
    arrows = [line for line in q6.iter(f"{SVG}line") if line.get("class") == "message"]
    assert len(arrows) == 3
    assert all(a.get("stroke-dasharray") is None for a in arrows)  # all were received
    blocked = [line for line in q6.iter(f"{SVG}line") if line.get("class") == "blocked"]
    assert len(blocked) == 2  # the receiver and the main process joining it
    tips = " ".join(t.text or "" for t in q6.iter(f"{SVG}title"))
    assert "blocked at line 12 in receiver" in tips and "Process-2 printed at" in tips
    assert "Process-1 sent 1 on pipe-1 to Process-2" in q6.find(f"{SVG}desc").text
    squares = [r for r in svgs[1].iter(f"{SVG}rect") if r.get("class") == "task"]
    assert len(squares) == 8


def test_unreceived_message_is_a_dashed_stub(report: Report) -> None:
    q6 = report.questions[5]
    lost = Message("queue-1", "queue", "send", 201, "'lost'", t=0.08)
    trace = replace(q6.run.trace, messages=q6.run.trace.messages + (lost,))
    html = render(
        replace(report, questions=(replace(q6, run=replace(q6.run, trace=trace)),)), "html"
    )
    arrows = [a for a in _svgs(html)[0].iter(f"{SVG}line") if a.get("class") == "message"]
    assert [a.get("stroke-dasharray") for a in arrows].count("3 2") == 1


def test_template_override_wins_and_falls_back(report: Report, tmp_path: Path) -> None:
    (tmp_path / "_style.css.j2").write_text("body { color: #123456; }\n")
    html = render(report, "html", templates=tmp_path)
    assert "#123456" in html and "--pass-bg" not in html and "q-Q6" in html
    (tmp_path / "report.md.j2").write_text(
        "Custom {{ report.assignment_id }}: {{ report.score | points }}\n"
    )
    assert render(report, "markdown", templates=tmp_path) == "Custom 15feb-multiprocessing: 6\n"


def test_html_escapes_student_output(report: Report) -> None:
    q3 = report.questions[2]
    evil = OutputLine(101, "stdout", "<img src=x onerror=alert(1)>", t=0.05)
    run = replace(q3.run, trace=replace(q3.run.trace, lines=(evil,)), stdout=evil.text)
    html = render(replace(report, questions=(replace(q3, run=run),)), "html")
    assert "<img" not in html and "&lt;img" in html


# --------------------------------------------------------------------------- gradescope


def test_gradescope_tests_sum_to_the_score(report: Report) -> None:
    gs = render_gradescope(report)
    assert json.loads(render(report, "gradescope")) == gs
    for key in (
        "score",
        "execution_time",
        "output",
        "output_format",
        "visibility",
        "stdout_visibility",
        "tests",
    ):
        assert key in gs
    assert gs["score"] == pytest.approx(report.score)
    assert sum(t["score"] for t in gs["tests"]) == pytest.approx(report.score)
    assert sum(t["max_score"] for t in gs["tests"]) == pytest.approx(report.max_score)
    for t in gs["tests"]:
        assert t["status"] in ("passed", "failed") and t["visibility"] == "visible"
        assert set(t) >= {"name", "number", "score", "max_score", "output", "output_format", "tags"}
    q6 = [t for t in gs["tests"] if t["tags"][0] == "Q6"]
    assert [t["number"] for t in q6] == ["6.1", "6.2", "6.3", "6.4", "6.5"]
    assert q6[0]["name"] == "Q6 · process.started" and q6[0]["tags"] == ["Q6", "code"]
    assert "The receiver kept the pipe's write end open" in q6[0]["output"]
    assert "pipe's write end" not in q6[1]["output"]
    q2 = [t for t in gs["tests"] if t["tags"][0] == "Q2"]
    assert len(q2) == 1 and q2[0]["score"] == 1.0 and "proposal" in q2[0]["output"]
    assert {t["tags"][0] for t in gs["tests"]} == {q.id for q in report.questions}


def test_gradescope_covers_score_not_explained_by_checks(report: Report) -> None:
    mixed = QuestionResult(
        "Q4",
        "Pool: what and why",
        "code",
        "partial",
        1.0,
        1.5,
        "Prose good; the pool was never used.",
        checks=(
            check("pool.used", False, 0.0, 0.25, "No pool."),
            check("pool.results_correct", False, 0.0, 0.25, "-"),
        ),
    )
    gs = render_gradescope(replace(report, questions=(mixed,), score=1.0, max_score=1.5))
    assert [t["name"] for t in gs["tests"]] == [
        "Q4 · pool.used",
        "Q4 · pool.results_correct",
        "Q4 · written answer",
    ]
    assert gs["tests"][2]["score"] == 1.0 and gs["tests"][2]["max_score"] == 1.0
    assert gs["score"] == 1.0


def test_unknown_format_is_a_clear_error(report: Report) -> None:
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        render(report, "pdf")


# --------------------------------------------------------------------------- story helpers


def test_story_pairs_messages_fifo_and_names_signals(report: Report) -> None:
    pairs = story.deliveries(report.questions[5].run.trace.messages)
    assert [(d.send.value, d.recv.value) for d in pairs] == [("1", "1"), ("2", "2"), ("3", "3")]
    workers = story.flatten(story.process_forest(report.questions[4].run))
    assert [n.end for n in workers[1:]] == ["stopped by its pool"] * 3
    forest = story.process_forest(report.questions[5].run)
    assert len(forest) == 1 and [c.info.name for c in forest[0].children] == [
        "Process-1",
        "Process-2",
    ]


# --------------------------------------------------------------------------- class summary


def test_class_summary_page(report: Report) -> None:
    pipe = FailureReason("pipe_inherited_write_end", "Pipe receiver waits forever", 2,
                         ("ada", "alan"), "Q6")
    statuses = {q.id: q.status for q in report.questions}
    summary = ClassSummary(
        assignment_id="15feb-multiprocessing",
        assignment_title="15 Feb",
        max_score=10.0,
        students=(
            StudentRow("ada", report.score, 10.0, statuses, "ada.html"),
            StudentRow("alan", report.score, 10.0, statuses),
            StudentRow("bob", None, 10.0, error="unreadable notebook"),
            StudentRow("grace", 10.0, 10.0, {q.id: "passed" for q in report.questions}, "grace.html"),
        ),
        questions=tuple(
            QuestionSummary(q.id, q.title, q.kind, q.max_score, 3, 1 / 3, q.score,
                            {"passed": 1, q.status: 2} if q.status != "passed" else {"passed": 3},
                            (pipe,) if q.id == "Q6" else ())
            for q in report.questions
        ),
        histogram=histogram([report.score, report.score, 10.0], 10.0),
        top_failures=(pipe,),
    )
    html = render_summary_html(summary)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert '<a href="ada.html">ada</a>' in html and "unreadable notebook" in html
    assert len(_svgs(html)) == 3
    for q in report.questions:
        assert f"<strong>{q.id}</strong>" in html


def test_feedback_markdown_makes_code_and_keeps_student_text_plain(report: Report) -> None:
    q6 = report.questions[5]
    evil = "Process `<b>x</b>` named [click](javascript:alert(1)) <img src=x onerror=alert(1)> **bold**"
    html = render(replace(report, questions=(replace(q6, feedback=evil),)), "html")
    assert "<code>&lt;b&gt;x&lt;/b&gt;</code>" in html
    assert "<img" not in html and "<a href=\"javascript" not in html and "<strong>bold" not in html
    assert "[click](javascript:alert(1))" in html and "**bold**" in html


def test_markdown_and_html_carry_no_control_characters(report: Report) -> None:
    q3 = report.questions[2]
    evil = OutputLine(101, "stdout", "\x1b[2J\x1b]52;c;ZXZpbA==\x07 10 / 10 PASSED", t=0.05)
    run = replace(q3.run, trace=replace(q3.run.trace, lines=(evil,)), stdout=evil.text)
    bad = replace(report, questions=(replace(q3, run=run, title="Create \x1b[31ma Process"),))
    for fmt in ("markdown", "html"):
        out = render(bad, fmt)
        assert "\x1b" not in out and "\x07" not in out and "␛[2J" in out, fmt


def test_html_question_says_each_sentence_once(report: Report) -> None:
    q6 = report.questions[5]
    d = q6.diagnoses[0]
    feedback = f"{d.explanation} Fix: {d.fix} {q6.checks[1].message}"
    html = render(replace(report, questions=(replace(q6, feedback=feedback),)), "html")
    assert html.count("so recv() never sees end-of-file") == 1
    assert html.count("Only 1 of 4 processes printed a number") == 1
    assert "write end open" in html and "Fewer than 4 distinct numbers" in html  # titles, new facts stay


def test_rejected_trace_claims_reach_staff_in_one_bounded_line(report: Report) -> None:
    q3 = report.questions[2]
    assert story.rejected_line(q3) == ""
    reasons = (
        "process Process-9 (pid 77) claimed by the trace was not seen by the supervisor",
        "line '<img src=x onerror=alert(1)>\x1b[2J' attributed to pid 101 is not in the supervisor's stdout",
        "events of unconfirmed processes (3 lines)",
        "malformed: not JSON (2 lines)",
        *(f"forged {i}" for i in range(40)),
    )
    run = replace(q3.run, trace=replace(q3.run.trace, rejected=reasons))
    forged = replace(report, questions=(replace(q3, run=run),))
    obj = to_json(forged)
    validate_json(obj)
    kept = obj["questions"][0]["run"]["rejected"]
    assert kept[:4] == list(reasons[:4]) and len(kept) == 25
    assert "rejected" not in to_json(report)["questions"][2]["run"]
    from mpgrade.report.text import render_text

    outputs = {"text": render_text(forged, color=False, width=400),
               "markdown": render(forged, "markdown"), "html": render(forged, "html")}
    for fmt, out in outputs.items():
        lines = [line for line in out.splitlines() if "For staff:" in line]
        assert len(lines) == 1, (fmt, lines)
        assert "possible forgery" in lines[0] and "44 reasons" in lines[0] and "and 41 more" in lines[0]
        assert "Process-9" in lines[0] and "forged 0" not in lines[0]
        assert "\x1b" not in out and ("␛\\[2J" if fmt == "markdown" else "␛[2J") in out, fmt
    assert "<img" not in outputs["html"] and "<img" not in outputs["markdown"]
    assert len(outputs["markdown"].split("For staff:")[1].splitlines()[0]) < 500


def test_what_the_probe_stopped_recording_is_in_the_json_but_no_staff_line(report: Report) -> None:
    """A passing answer that prints a lot reaches the probe's own cap: not a forgery to report."""
    q3 = report.questions[2]
    assert q3.status == "passed"
    run = replace(q3.run, trace=replace(q3.run.trace, capped=("stdout",)))
    busy = replace(report, questions=(replace(q3, run=run),))
    obj = to_json(busy)
    validate_json(obj)
    assert obj["questions"][0]["run"]["capped"] == ["stdout"]
    assert "rejected" not in obj["questions"][0]["run"]
    from mpgrade.report.text import render_text

    for out in (render_text(busy, color=False, width=400), render(busy, "markdown"), render(busy, "html")):
        assert "For staff" not in out and "forgery" not in out


def test_markdown_cells_carry_no_links_or_html() -> None:
    from mpgrade.report.templated import md_cell

    cell = md_cell("name [click](https://evil.example) ![i](x.png) <b>|C:\\dir\\[x]")
    assert cell == ("name \\[click\\](https://evil.example) !\\[i\\](x.png) &lt;b>\\|"
                    "C:\\\\dir\\\\\\[x\\]")
