"""Prose rubrics on the 15 Feb example's own answers (from the seed submission)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpgrade.checks import grade_prose
from mpgrade.model import Concept, Misconception, Rubric

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

EXERCISE = Path(__file__).resolve().parents[1] / "exercises" / "15feb-multiprocessing" / "exercise.toml"

Q1_ANSWER = """Multiprocessing in Python is a built in package that allows the system to run multiple processes simultaneously.
It will enable the breaking of application into smaller threads that can run independently. The operating system then can allocate all these threads or processes to the processor to run them parallelly, thus improving the overall performance and efficiency.

A Multiprocessing system can be represented as:
- A system with more than a single central processor
- A multi-core processor, a single computing unit with multiple independent core processing units.
In Multiprocessing, the system can divide and assign tasks to different processors."""

Q2_ANSWER = """Multiprocessing:
Multiprocessing refers to using multiple cpus/processors in a single system. multiple cpu can act in a parallel fashion and execute multiple processes that run on multiple processors. when the task is over, the result from all processors compiled together to provide the final output. multiprocessing increase the computing power to a great extent.

Multithreading :

Multithreading refers to multiple threads being executed by a single cpu in such a way that each thread is executed in a parallel fashion and cpu/processors is switched between them using context switch. Multithreading is a technique to increase the throughput of a processor. in multithreading, accessing memory addresses is easy because all of the threads share the same parent process."""

Q4_ANSWER = ("Python Multiprocessing Pool can be used for parallel execution of a function across "
             "multiple input data across processes.")


def rubric(qid: str) -> Rubric:
    """The rubric exactly as the exercise file declares it."""
    data = tomllib.loads(EXERCISE.read_text())
    q = next(q for q in data["questions"] if q["id"] == qid)
    r = q["rubric"]
    return Rubric(
        concepts=tuple(Concept(c["id"], c["description"], tuple(c["synonyms"]), c["points"])
                       for c in r.get("concepts", [])),
        misconceptions=tuple(Misconception(m["id"], tuple(m["patterns"]), m["message"], m["penalty"])
                             for m in r.get("misconceptions", [])),
        points=r["points"],
        min_words=r["min_words"],
    )


def test_q1_flags_threads_misconception_and_names_the_missing_gil() -> None:
    grade = grade_prose(Q1_ANSWER, rubric("Q1"))
    assert [m for m, _ in grade.misconceptions] == ["processes_are_threads"]
    assert {"separate_processes", "parallelism", "performance"} <= set(grade.found)
    assert "gil" in dict(grade.missing)
    assert grade.score == pytest.approx(1.5 - 0.25)
    assert "does not split a program into threads" in grade.feedback
    assert "Good: you explained that the work runs in separate processes" in grade.feedback


def test_q2_earns_full_points_despite_missing_concepts() -> None:
    grade = grade_prose(Q2_ANSWER, rubric("Q2"))
    assert grade.score == grade.max_score == 1.5
    assert grade.misconceptions == ()
    assert {"memory_model", "gil", "parallel_cpus"} <= set(grade.found)
    assert "remaining points" not in grade.feedback


def test_q4_prose_reaches_the_full_rubric_points() -> None:
    grade = grade_prose(Q4_ANSWER, rubric("Q4"))
    assert grade.score == grade.max_score == 1.0
    assert set(grade.found) >= {"workers", "data_parallel"}


def test_too_short_answer_gets_a_small_share() -> None:
    grade = grade_prose("Parallel processes, faster.", rubric("Q1"))
    assert grade.words == 3
    assert grade.score == pytest.approx(1.5 * 0.25)
    assert "too short" in grade.feedback


def test_penalties_never_go_below_zero_and_feedback_says_what_is_missing() -> None:
    text = ("Multiprocessing is when multitasking happens, it is about how a computer "
            "splits work into threads and then multitasking goes on and on for a while.")
    grade = grade_prose(text, rubric("Q2"))
    assert grade.score == 0.0
    assert {m for m, _ in grade.misconceptions} == {"multitasking", "processes_are_threads"}
    assert "does not yet cover the key ideas" in grade.feedback
    assert "also explain that processes have separate memory" in grade.feedback


def test_empty_text() -> None:
    grade = grade_prose("   ", rubric("Q1"))
    assert grade.score == 0 and grade.feedback == "No written answer was found."
