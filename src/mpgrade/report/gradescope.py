"""Gradescope's results.json: one test per check, grouped and numbered by question.

Gradescope shows tests, not questions, and sums nothing itself when a top-level score
is given; so the tests here are built to add up to the report's score exactly (a
question whose score is not fully explained by its checks, e.g. a rubric-scored prose
part, gets one extra test carrying the rest), and the top-level score is that sum.

``GradescopeOptions`` holds what an instructor chooses when building the autograder:
who sees the tests and the autograder's stdout, and whether a prose score counts while
it is an unreviewed proposal (it does by default, and says so in the test's name).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mpgrade.model import Diagnosis, Question, QuestionResult, Report, Ungradable, value_class
from mpgrade.report import story

EPSILON = 1e-9
PROPOSAL = "proposal, to be reviewed"


@value_class
class GradescopeOptions:
    visibility: str = "visible"  # of every test and of the whole result (mpgrade.cli.VISIBILITIES)
    stdout_visibility: str = "hidden"  # of run_autograder's stdout: the instructor log
    prose: str = "count"  # "count": an unreviewed proposal counts; "hold": 0 until reviewed


def render_gradescope(
    report: Report, options: GradescopeOptions = GradescopeOptions(), output: str = ""
) -> dict[str, Any]:
    """results.json of a graded report; ``output`` is put before the summary table."""
    tests: list[dict[str, Any]] = []
    for index, q in enumerate(report.questions, start=1):
        tests.extend(_question_tests(_held(q, options), _number(q.id, index), options))
    return results(tests, report.duration_s, _joined(output, summary_markdown(report)), options)


def results(
    tests: list[dict[str, Any]], execution_time: float, output: str, options: GradescopeOptions
) -> dict[str, Any]:
    """The top level of results.json around ``tests``, its score their sum."""
    return {
        "score": _round(sum(t["score"] for t in tests)),
        "execution_time": round(execution_time, 2),
        "output": output,
        "output_format": "md",
        "test_output_format": "md",
        "visibility": options.visibility,
        "stdout_visibility": options.stdout_visibility,
        "tests": tests,
    }


def render_gradescope_error(
    u: Ungradable, options: GradescopeOptions = GradescopeOptions()
) -> dict[str, Any]:
    """Nothing graded: a score of 0, no tests, and what the student should do."""
    return {**results([], 0.0, u.reason, options), "output_format": "text"}


def not_graded_tests(
    questions: Sequence[Question], reason: str, options: GradescopeOptions
) -> list[dict[str, Any]]:
    """One failed test per question the autograder could not reach, worth 0 of its points."""
    return [
        {
            "name": f"{q.id} · not graded",
            "number": f"{_number(q.id, index)}.1",
            "score": 0.0,
            "max_score": _round(q.points),
            "status": "failed",
            "output": reason,
            "output_format": "md",
            "visibility": options.visibility,
            "tags": [q.id, q.kind],
        }
        for index, q in enumerate(questions, start=1)
    ]


def question_tests(
    q: QuestionResult, index: int, options: GradescopeOptions = GradescopeOptions()
) -> list[dict[str, Any]]:
    """The tests of one graded question (the autograder writes them as questions finish)."""
    return _question_tests(_held(q, options), _number(q.id, index), options)


def _held(q: QuestionResult, options: GradescopeOptions) -> QuestionResult:
    """With ``prose = "hold"`` an unreviewed proposal scores 0 until a person confirms it."""
    if options.prose != "hold" or q.status != "needs_review":
        return q
    note = (f"The automatic proposal ({story.points(q.score)}/{story.points(q.max_score)}) "
            "counts once your instructor has reviewed this answer.")
    return replace(
        q,
        score=0.0,
        checks=tuple(replace(c, score=0.0, passed=False) for c in q.checks),
        feedback=f"{q.feedback}\n\n*{note}*",
    )


def _joined(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p)


def summary_table(
    rows: Sequence[tuple[str, str, str, float, float]], not_graded: Sequence[tuple[str, str, float]]
) -> str:
    """Question, title, status and score of each graded question, then those not graded."""
    lines = [
        f"| {qid} | {title.replace('|', '/')} | {status.replace('_', ' ')} | "
        f"{story.points(score)} / {story.points(points)} |"
        for qid, title, status, score, points in rows
    ] + [
        f"| {qid} | {title.replace('|', '/')} | not graded | 0 / {story.points(points)} |"
        for qid, title, points in not_graded
    ]
    return "| Question | Title | Status | Score |\n| --- | --- | --- | --- |\n" + "\n".join(lines) + "\n"


def summary_markdown(report: Report) -> str:
    rows = [(q.id, q.title, q.status, q.score, q.max_score) for q in report.questions]
    return (
        f"**{report.assignment_title}**: {story.points(report.score)} / "
        f"{story.points(report.max_score)} points, graded by mpgrade {report.tool_version} "
        f"({report.environment.python}, start method {report.environment.start_method}).\n\n"
        + summary_table(rows, ())
    )


def _question_tests(q: QuestionResult, number: str, options: GradescopeOptions) -> list[dict[str, Any]]:
    tests = []
    proposal = f" ({PROPOSAL})" if q.status == "needs_review" and options.prose == "count" else ""
    for i, check in enumerate(q.checks, start=1):
        tests.append(
            _test(
                q,
                f"{q.id} · {check.id}{proposal if check.id == 'prose.rubric' else ''}",
                f"{number}.{i}",
                check.score,
                check.max_score,
                check.outcome != "failed",
                f"n/a: {check.message}" if check.outcome == "not_applicable" else check.message,
                options,
            )
        )
    rest_score = q.score - sum(c.score for c in q.checks)
    rest_max = q.max_score - sum(c.max_score for c in q.checks)
    if not tests or abs(rest_score) > EPSILON or abs(rest_max) > EPSILON:
        label = "written answer" if q.kind == "prose" or q.checks else "answer"
        passed = q.status == "passed" or (rest_max > EPSILON and rest_score >= rest_max - EPSILON)
        tests.append(
            _test(
                q,
                f"{q.id} · {label}{proposal}",
                f"{number}.{len(tests) + 1}",
                rest_score,
                rest_max,
                passed,
                _rest_message(q),
                options,
            )
        )
    first = tests[0]
    # Without checks the feedback is already the message; a rubric check may repeat it too.
    feedback = q.feedback if q.checks and q.feedback not in first["output"] else ""
    first["output"] = "\n\n".join(
        part
        for part in (first["output"], feedback, _diagnoses(q.diagnoses), _stacks(q), _found(q))
        if part
    )
    return tests


def _found(q: QuestionResult) -> str:
    """How the answer was found, as in every other format (Markdown-escaped: student text)."""
    line = story.found_line(q)
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", line) if line else ""


def _stacks(q: QuestionResult) -> str:
    """Where each process of a hung run was stuck, as in every other format."""
    if q.run is None or not q.run.stacks:
        return ""
    lines = "\n".join(f"- {line}" for line in story.stack_lines(q.run))
    return f"**Where the processes were stuck**\n\n{lines}"


def _test(
    q: QuestionResult,
    name: str,
    number: str,
    score: float,
    max_score: float,
    passed: bool,
    output: str,
    options: GradescopeOptions,
) -> dict[str, Any]:
    return {
        "name": name,
        "number": number,
        "score": _round(score),
        "max_score": _round(max_score),
        "status": "passed" if passed else "failed",
        "output": output,
        "output_format": "md",
        "visibility": options.visibility,
        "tags": [q.id, q.kind],
    }


def _rest_message(q: QuestionResult) -> str:
    """The question's own verdict, for the part its checks do not cover."""
    note = ""
    if q.status == "needs_review":
        note = "\n\n*This score is a proposal from the rubric; your instructor will confirm it.*"
    elif q.reviewed:
        note = "\n\n*Reviewed by staff: this is the final score.*"
    elif q.status == "missing":
        note = "\n\n*No answer to this question was found in your submission.*"
    return (q.feedback or f"Status: {q.status.replace('_', ' ')}.") + note


def _diagnoses(diagnoses: tuple[Diagnosis, ...]) -> str:
    return "\n\n".join(
        f"**{d.title}**{f' ({d.location})' if d.location else ''}: {d.explanation}\n\n"
        f"*Fix:* {d.fix}"
        for d in diagnoses
    )


def _number(qid: str, index: int) -> str:
    """ "Q3" -> "3": Gradescope sorts tests by this number."""
    digits = re.search(r"\d+", qid)
    return digits.group(0) if digits else str(index)


def _round(x: float) -> float:
    return round(x, 4)
