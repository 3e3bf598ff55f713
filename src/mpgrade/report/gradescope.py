"""Gradescope's results.json: one test per check, grouped and numbered by question.

Gradescope shows tests, not questions, and sums nothing itself when a top-level score
is given; so the tests here are built to add up to the report's score exactly (a
question whose score is not fully explained by its checks, e.g. a rubric-scored prose
part, gets one extra test carrying the rest), and the top-level score is that sum.
"""

from __future__ import annotations

import re
from typing import Any

from mpgrade.model import Diagnosis, QuestionResult, Report
from mpgrade.report import story

EPSILON = 1e-9


def render_gradescope(report: Report) -> dict[str, Any]:
    tests: list[dict[str, Any]] = []
    for index, q in enumerate(report.questions, start=1):
        tests.extend(_question_tests(q, _number(q.id, index)))
    return {
        "score": _round(sum(t["score"] for t in tests)),
        "execution_time": round(report.duration_s, 2),
        "output": summary_markdown(report),
        "output_format": "md",
        "test_output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def summary_markdown(report: Report) -> str:
    rows = "\n".join(
        f"| {q.id} | {q.title.replace('|', '/')} | {q.status.replace('_', ' ')} | "
        f"{story.points(q.score)} / {story.points(q.max_score)} |"
        for q in report.questions
    )
    return (
        f"**{report.assignment_title}**: {story.points(report.score)} / "
        f"{story.points(report.max_score)} points, graded by mpgrade {report.tool_version} "
        f"(Python {report.environment.python}, start method {report.environment.start_method}).\n\n"
        f"| Question | Title | Status | Score |\n| --- | --- | --- | --- |\n{rows}\n"
    )


def _question_tests(q: QuestionResult, number: str) -> list[dict[str, Any]]:
    tests = []
    for i, check in enumerate(q.checks, start=1):
        tests.append(
            _test(
                q,
                f"{q.id} · {check.id}",
                f"{number}.{i}",
                check.score,
                check.max_score,
                check.passed,
                check.message,
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
                f"{q.id} · {label}",
                f"{number}.{len(tests) + 1}",
                rest_score,
                rest_max,
                passed,
                _rest_message(q),
            )
        )
    first = tests[0]
    # Without checks the feedback is already the message; a rubric check may repeat it too.
    feedback = q.feedback if q.checks and q.feedback not in first["output"] else ""
    first["output"] = "\n\n".join(
        part for part in (first["output"], feedback, _diagnoses(q.diagnoses), _stacks(q)) if part
    )
    return tests


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
) -> dict[str, Any]:
    return {
        "name": name,
        "number": number,
        "score": _round(score),
        "max_score": _round(max_score),
        "status": "passed" if passed else "failed",
        "output": output,
        "output_format": "md",
        "visibility": "visible",
        "tags": [q.id, q.kind],
    }


def _rest_message(q: QuestionResult) -> str:
    """The question's own verdict, for the part its checks do not cover."""
    note = ""
    if q.status == "needs_review":
        note = "\n\n*This score is a proposal from the rubric; your instructor will confirm it.*"
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
