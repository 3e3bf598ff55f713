"""The grading policy of the 15 Feb assignment, end to end: real notebooks, real runs.

Each fixture is a small answer modelled on what real submissions do;
the policy itself lives in exercises/15feb-multiprocessing/exercise.toml as check
parameters, so these tests pin what that data means.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import EXAMPLE, notebook

from mpgrade.assignment import load_assignment
from mpgrade.grader import grade_file
from mpgrade.model import GradeOptions, QuestionResult
from mpgrade.resources import data_dir

ASSIGNMENT = load_assignment("15feb-multiprocessing")
GUARD = 'if __name__ == "__main__":\n'


def graded(tmp_path: Path, code: dict[str, str] | None = None, prose: dict[str, str] | None = None,
           limits=None) -> dict[str, QuestionResult]:
    """Grade only the questions given; every other question keeps the correct default."""
    asked = tuple(sorted({*(code or {}), *(prose or {})}))
    path = notebook(tmp_path / "answers.ipynb", code, prose)
    report = grade_file(path, ASSIGNMENT, GradeOptions(questions=asked, limits=limits))
    return {q.id: q for q in report.questions}


def full(q: QuestionResult) -> bool:
    return q.score >= q.max_score - 1e-9


def outcome(q: QuestionResult, check_id: str) -> str:
    return next(c.outcome for c in q.checks if c.id == check_id)


# --------------------------------------------------------------------------- Q5: any function


SQUARE_POOL = """import multiprocessing

def square(n):
    return n * n

if __name__ == "__main__":
    with multiprocessing.Pool(3) as pool:
        print(pool.map(square, [1, 2, 3, 4]))
"""

PRINTING_WORKER = """import multiprocessing

def worker(n):
    print("worker got", n, "->", n * 10)

if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        pool.map(worker, [1, 2, 3])
"""

EXECUTOR = """from concurrent.futures import ProcessPoolExecutor

def task(n):
    return n + 100

if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=2) as ex:
        print(list(ex.map(task, [1, 2, 3])))
"""

SHOWN_VALUE = """import multiprocessing

def double(n):
    return 2 * n

pool = multiprocessing.Pool(2)
results = pool.map(double, [1, 2, 3, 4])
pool.close()
results
"""


def test_q5_any_function_run_by_the_pool_is_a_full_answer(tmp_path: Path) -> None:
    q5 = graded(tmp_path, {"Q5": SQUARE_POOL})["Q5"]
    assert full(q5) and q5.status == "passed", q5.feedback
    # `square` is named like a square and computes squares: the check applies and passes.
    assert outcome(q5, "pool.results_correct") == "passed"


def test_q5_a_worker_that_prints_and_returns_none_is_a_full_answer(tmp_path: Path) -> None:
    q5 = graded(tmp_path, {"Q5": PRINTING_WORKER})["Q5"]
    assert full(q5), q5.feedback
    correct = next(c for c in q5.checks if c.id == "pool.results_correct")
    assert correct.outcome == "not_applicable" and correct.max_score == 0  # weight moved on
    assert sum(c.max_score for c in q5.checks) == pytest.approx(q5.max_score)


def test_q5_process_pool_executor_counts_with_a_note(tmp_path: Path) -> None:
    q5 = graded(tmp_path, {"Q5": EXECUTOR})["Q5"]
    assert full(q5), q5.feedback
    assert "Note: You used `concurrent.futures.ProcessPoolExecutor`" in q5.feedback


def test_q5_results_shown_as_the_cells_value_count_with_a_note(tmp_path: Path) -> None:
    q5 = graded(tmp_path, {"Q5": SHOWN_VALUE})["Q5"]
    assert full(q5), q5.feedback
    assert "`print(...)` it" in q5.feedback


def test_q5_thread_pool_earns_nothing(tmp_path: Path) -> None:
    code = SQUARE_POOL.replace("import multiprocessing", "from multiprocessing.pool import ThreadPool")
    q5 = graded(tmp_path, {"Q5": code.replace("multiprocessing.Pool(3)", "ThreadPool(3)")})["Q5"]
    assert q5.score == 0 and q5.status == "failed", q5.feedback
    assert "ThreadPool" in q5.feedback


# --------------------------------------------------------------------------- Q3


TARGET_CALLED = """import multiprocessing

def hello():
    print("hello")

if __name__ == "__main__":
    p = multiprocessing.Process(target=hello())
    p.start()
    p.join()
"""

SILENT_CHILD = """import multiprocessing

def work(n):
    total = sum(range(n))

if __name__ == "__main__":
    p = multiprocessing.Process(target=work, args=(100,))
    p.start()
    p.join()
"""

POOL_FOR_Q3 = """import multiprocessing

def cube(n):
    return n ** 3

if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.apply_async(cube, (3,)).get())
"""

NEVER_STARTED = """import multiprocessing

def hello():
    print("hello")

if __name__ == "__main__":
    p = multiprocessing.Process(target=hello)
"""

CRASH_BEFORE_CHILD = """import multiprocessing

def hello():
    print("hello")

if __name__ == "__main__":
    raise ValueError("not yet")
    p = multiprocessing.Process(target=hello)
    p.start()
"""


@pytest.mark.parametrize("code", [TARGET_CALLED, NEVER_STARTED, CRASH_BEFORE_CHILD],
                         ids=["target_called", "never_started", "crash_before_child"])
def test_q3_no_child_running_the_target_earns_nothing(tmp_path: Path, code: str) -> None:
    q3 = graded(tmp_path, {"Q3": code})["Q3"]
    assert q3.score == 0, (q3.score, q3.feedback)


CHILD_RAISES = """import multiprocessing

def divide(items):
    print(sum(items) / len(items) / 0)

if __name__ == "__main__":
    p = multiprocessing.Process(target=divide, args=([1, 2],))
    p.start()
    p.join()
    print("done")
"""


def test_q3_a_target_that_ran_in_the_child_and_raised_passes_with_a_note(tmp_path: Path) -> None:
    q3 = graded(tmp_path, {"Q3": CHILD_RAISES})["Q3"]
    assert full(q3), q3.feedback
    assert "Note: The child Process-1" in q3.feedback and "ZeroDivisionError" in q3.feedback


def test_q3_printing_in_the_child_is_not_required(tmp_path: Path) -> None:
    q3 = graded(tmp_path, {"Q3": SILENT_CHILD})["Q3"]
    assert full(q3) and q3.status == "passed", q3.feedback


def test_q3_a_pool_instead_of_a_process_gets_full_marks_with_a_note(tmp_path: Path) -> None:
    q3 = graded(tmp_path, {"Q3": POOL_FOR_Q3})["Q3"]
    assert full(q3), q3.feedback
    assert "Note: You used a Pool where the question asked for a `multiprocessing.Process`" in q3.feedback


# --------------------------------------------------------------------------- Q6: points for nothing


THREADS_Q6 = """import threading

def show(i):
    print(i)

if __name__ == "__main__":
    ts = [threading.Thread(target=show, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
"""

SEQUENTIAL_Q6 = """import multiprocessing

def show(i):
    print(i)

if __name__ == "__main__":
    for i in range(4):
        p = multiprocessing.Process(target=show, args=(i,))
        p.start()
        p.join()
"""

STRINGS_Q6 = """import multiprocessing

def show(name):
    print("hello from", name)

if __name__ == "__main__":
    ps = [multiprocessing.Process(target=show, args=(n,)) for n in ["ann", "bob", "cy", "dee"]]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
"""

POOL_Q6 = """import multiprocessing

def show(i):
    print(i)

if __name__ == "__main__":
    with multiprocessing.Pool(4) as pool:
        pool.map(show, [1, 2, 3, 4])
"""


@pytest.mark.parametrize("code", ["x = 1\n", "for i in range(1, 5):\n    print(i)\n", THREADS_Q6],
                         ids=["assignment", "plain_loop", "threads"])
def test_q6_without_child_processes_earns_nothing(tmp_path: Path, code: str) -> None:
    q6 = graded(tmp_path, {"Q6": code})["Q6"]
    assert q6.score == 0, q6.feedback
    assert outcome(q6, "pipe.order") == "not_applicable"
    completed = next(c for c in q6.checks if c.id == "run.completed")
    assert completed.score == 0 and "counts only once `process.started` passes" in completed.message


def test_q6_start_and_join_in_one_loop_passes_with_a_note(tmp_path: Path) -> None:
    q6 = graded(tmp_path, {"Q6": SEQUENTIAL_Q6})["Q6"]
    assert full(q6), q6.feedback
    assert "Note: Your processes ran one after the other" in q6.feedback


@pytest.mark.parametrize("code", [STRINGS_Q6, POOL_Q6], ids=["strings", "pool"])
def test_q6_strings_or_a_pool_are_not_full_marks(tmp_path: Path, code: str) -> None:
    q6 = graded(tmp_path, {"Q6": code})["Q6"]
    assert 0 < q6.score < q6.max_score, q6.feedback


# --------------------------------------------------------------------------- Q4: prose is the answer


BROKEN_EXAMPLE = """import multiprocessing

def square(n):
    return n * n

if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.map(square, [1, 2, "three"]))
"""


def test_q4_nonsense_prose_earns_nothing_from_absent_code(tmp_path: Path) -> None:
    q4 = graded(tmp_path, {"Q4": ""}, {"Q4": "I like cheese."})["Q4"]
    assert q4.score == 0, q4.feedback
    assert {c.outcome for c in q4.checks if c.id.startswith("pool.")} == {"not_applicable"}
    assert q4.status == "needs_review"


def test_q4_good_prose_with_broken_example_code_is_full_marks_with_a_note(tmp_path: Path) -> None:
    q4 = graded(tmp_path, {"Q4": BROKEN_EXAMPLE})["Q4"]
    assert full(q4), q4.feedback
    assert q4.status == "needs_review"  # the written part is a proposal, as for Q1 and Q2
    assert "Note: Your code raised `TypeError" in q4.feedback, q4.feedback
    assert [c.outcome for c in q4.checks if c.note] == ["not_applicable"]


def test_q4_prose_written_as_comments_in_the_code_cell_is_read(tmp_path: Path) -> None:
    from conftest import PROSE

    commented = "\n".join(f"# {line}" for line in PROSE["Q4"].split("; ")) + "\n"
    q4 = graded(tmp_path, {"Q4": commented}, {"Q4": ""})["Q4"]
    rubric = next(c for c in q4.checks if c.id == "prose.rubric")
    assert rubric.score > 0, q4.feedback


# --------------------------------------------------------------------------- killed by a limit


FORK_BOMB_Q3 = """import multiprocessing, time

def hello():
    print("hello")

def nap():
    time.sleep(30)

if __name__ == "__main__":
    p = multiprocessing.Process(target=hello)
    p.start()
    p.join()
    for _ in range(12):
        multiprocessing.Process(target=nap).start()
"""


def test_a_run_stopped_by_a_limit_never_earns_full_marks(tmp_path: Path) -> None:
    limits = replace(ASSIGNMENT.limits, processes=6, wall_s=8)
    q3 = graded(tmp_path, {"Q3": FORK_BOMB_Q3}, limits=limits)["Q3"]
    assert q3.status == "timeout", q3.feedback
    assert 0 < q3.score < q3.max_score  # keeps what the checks earned before the kill
    assert "The grader stopped this run (process limit)" in q3.feedback


# --------------------------------------------------------------------------- one cause, said once


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 3]


def _repeats(q: QuestionResult) -> list[str]:
    """Sentences said twice in the feedback, or twice among the checks and diagnoses (the
    feedback may summarise a check, once)."""
    found = []
    feedback = _sentences(q.feedback)
    found += sorted({s for s in feedback if feedback.count(s) > 1})
    sources = [s for c in q.checks for s in _sentences(c.message)]
    sources += [s for d in q.diagnoses for s in _sentences(f"{d.explanation} {d.fix}")]
    found += sorted({s for s in sources if sources.count(s) > 1})
    return found


VARIANTS = sorted((data_dir("exercises") / "15feb-multiprocessing" / "variants").glob("*.py"))


@pytest.mark.parametrize("path", [EXAMPLE, *VARIANTS], ids=lambda p: Path(p).stem)
def test_no_sentence_is_said_twice(path: Path) -> None:
    report = grade_file(path, ASSIGNMENT, GradeOptions())
    for q in report.questions:
        assert not _repeats(q), (q.id, _repeats(q))


def test_no_sentence_is_said_twice_without_child_processes(tmp_path: Path) -> None:
    found = graded(tmp_path, {"Q3": "x = 1\n", "Q5": "y = 2\n", "Q6": THREADS_Q6})
    for q in found.values():
        assert not _repeats(q), (q.id, _repeats(q))


def test_every_format_shows_a_check_that_does_not_apply_as_n_a(tmp_path: Path) -> None:
    import json

    from mpgrade.report import render, validate_json

    path = notebook(tmp_path / "answers.ipynb", {"Q5": PRINTING_WORKER, "Q6": "x = 1\n"})
    report = grade_file(path, ASSIGNMENT, GradeOptions(questions=("Q5", "Q6")))
    text = render(report, "text", color=False)
    assert "– n/a pipe.order" in text  # the terminal details the question that lost points
    assert "| `pool.results_correct` | n/a |" in render(report, "markdown")
    assert '<li class="na"><span class="mark">– n/a</span>' in render(report, "html")
    data = json.loads(render(report, "json"))
    validate_json(data)
    checks = {c["id"]: c for c in data["questions"][0]["checks"]}
    assert checks["pool.results_correct"]["outcome"] == "not_applicable"
    tests = json.loads(render(report, "gradescope"))["tests"]
    na = next(t for t in tests if t["name"].endswith("pool.results_correct"))
    assert na["output"].startswith("n/a: ") and na["status"] == "passed" and na["max_score"] == 0


def test_portability_of_a_mixed_question_judges_its_code_only(tmp_path: Path) -> None:
    path = notebook(tmp_path / "answers.ipynb")
    report = grade_file(path, ASSIGNMENT, GradeOptions(questions=("Q4",), portability=True))
    matrix = report.questions[0].portability
    assert matrix and {status for status, _ in matrix.values()} == {"passed"}, matrix


# --------------------------------------------------------------------------- Q5 in words


def test_q5_answered_in_words_is_a_proposal_whole_only_with_pool_and_work(tmp_path: Path) -> None:
    """"How can we create a pool" may be answered in prose: a proposal for staff, whole when it
    names the Pool and how it gets work, half when it names only the Pool; a question without
    a prose_answer (Q6) stays an error without code."""
    both = ("First import multiprocessing and define the function each worker runs. Then create "
            "a multiprocessing.Pool with the number of worker processes and hand it the inputs "
            "with pool.map() or apply_async().")
    pool_only = ("Import the multiprocessing module and create a multiprocessing.Pool object "
                 "that holds the number of worker processes you want to keep.")
    q = graded(tmp_path, code={"Q5": "", "Q6": ""}, prose={"Q5": both, "Q6": pool_only})
    assert q["Q5"].status == "needs_review" and full(q["Q5"])
    assert q["Q5"].feedback.startswith("No program was found")
    assert q["Q6"].status == "error" and q["Q6"].score == 0
    half = graded(tmp_path, code={"Q5": ""}, prose={"Q5": pool_only})["Q5"]
    assert half.status == "needs_review" and 0 < half.score < half.max_score
