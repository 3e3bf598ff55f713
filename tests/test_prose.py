"""Prose rubrics: claims asserted or negated, misconceptions as claims, off-target text, quotes."""

from __future__ import annotations

import pytest

from mpgrade.assignment import load_assignment
from mpgrade.checks import grade_prose
from mpgrade.model import Concept, Misconception, Rubric

# Written in the style of real answers (copied textbook lines included), not copied from any.
Q1_ANSWER = """Multiprocessing in Python is a built in package that lets the system run several processes
simultaneously. It enables the breaking of an application into smaller threads that run independently.
The operating system then allocates these threads to the processors, improving performance.

A multiprocessing system can be:
- A system with more than one central processor
- A multi-core processor with several independent cores."""

Q2_GOOD = """| Feature | Multiprocessing | Multithreading |
|---|---|---|
| Memory | Each process has its own memory space | Threads share the memory of their process |
| Parallelism | True parallelism on multiple CPU cores | Only one thread runs Python code at a time because of the GIL |
| Best for | CPU-bound tasks | I/O-bound tasks such as network requests |
| Cost | Higher overhead, slower to start | Lightweight |"""

Q4_ANSWER = ("Python Multiprocessing Pool can be used for parallel execution of a function across "
             "multiple input data across processes.")


def rubric(qid: str) -> Rubric:
    """The rubric exactly as the bundled exercise declares it."""
    rub = load_assignment("15feb-multiprocessing").question(qid).rubric
    assert rub is not None
    return rub


def test_negated_and_contradicted_ideas_earn_nothing_and_are_quoted() -> None:
    text = "Multiprocessing is never parallel and threads never share memory. The GIL is irrelevant."
    grade = grade_prose(text, rubric("Q2"))
    assert grade.score == 0.0 and grade.found == ()
    assert {cid for cid, _ in grade.contradictions} == {"memory_model", "gil", "parallel_cpus"}
    assert "well done" not in grade.feedback.lower()
    assert "To correct: “The GIL is irrelevant” contradicts the GIL." in grade.feedback


def test_the_same_words_asserted_earn_the_points() -> None:
    text = ("Processes run in parallel on several CPU cores and do not share memory, while threads share "
            "the memory of their process. The GIL lets only one thread run Python code at a time, so "
            "threads suit I/O-bound work; processes have more overhead to start.")
    grade = grade_prose(text, rubric("Q2"))
    assert grade.score == grade.max_score
    assert grade.contradictions == () and grade.misconceptions == ()
    assert grade.feedback.endswith("Complete answer: well done.")


def test_a_claim_counts_only_of_its_subject() -> None:
    said_of_threads = grade_prose("Threads do not share memory with each other, they are separate things "
                                  "that the operating system runs one by one.", rubric("Q2"))
    assert "memory_model" not in said_of_threads.found
    assert [cid for cid, _ in said_of_threads.contradictions] == ["memory_model"]
    said_of_processes = grade_prose("Processes do not share memory with each other, they are separate "
                                    "things that the operating system runs one by one.", rubric("Q2"))
    assert "memory_model" in said_of_processes.found


def test_table_columns_name_the_subject_of_each_cell() -> None:
    grade = grade_prose(Q2_GOOD, rubric("Q2"))
    assert set(grade.found) == {"memory_model", "gil", "workload", "cost", "parallel_cpus"}
    assert grade.score == grade.max_score


def test_headings_carry_the_subject_over_a_list() -> None:
    text = "Multithreading:\n- do not share memory, each has its own copy\n- run one at a time\n"
    grade = grade_prose(text * 3, rubric("Q2"))
    assert "memory_model" not in grade.found


def test_misconceptions_are_claims_and_a_denied_one_is_not_flagged() -> None:
    wrong = grade_prose("Multiprocessing breaks the program into smaller threads that run on the cores of the "
                        "computer at the same time, which is faster.", rubric("Q1"))
    assert [m for m, _ in wrong.misconceptions] == ["processes_are_threads"]
    assert "To correct: “…breaks the program into smaller threads" in wrong.feedback
    denied = grade_prose("Multiprocessing does not break the program into threads: it starts separate "
                         "processes that run at the same time on several cores, which is faster.", rubric("Q1"))
    assert denied.misconceptions == ()


@pytest.mark.parametrize("text, misconception", [
    ("Multithreading is the ability of a processor to run many threads at once, where each thread runs a "
     "process, and multiprocessing runs many processors.", "thread_runs_process"),
    ("Multiprocessing runs multiple processes within a single thread, while multithreading runs threads "
     "inside one process.", "thread_runs_process"),
    ("Multitasking and multiprocessing differ: multitasking switches between programs on one CPU "
     "and multiprocessing uses more CPUs.", "multitasking"),
])
def test_recurring_q2_misconceptions(text: str, misconception: str) -> None:
    grade = grade_prose(text, rubric("Q2"))
    assert misconception in {m for m, _ in grade.misconceptions}
    assert "well done" not in grade.feedback


def test_copied_hardware_text_is_off_target_and_earns_nothing() -> None:
    grade = grade_prose(Q1_ANSWER, rubric("Q1"))
    assert [m for m, _ in grade.misconceptions] == ["processes_are_threads"]
    assert any("more than one central processor" in q for q in grade.off_target)
    assert "multiprocessor hardware" in grade.feedback
    assert "cpu_bound" in dict(grade.missing)
    assert "isolation" in dict(grade.missing)  # "threads that run independently": a wrong claim earns nothing
    assert grade.score < grade.max_score * 0.8
    textbook = grade_prose("Multiprocessing is the use of two or more CPUs in one computer system. The CPUs "
                           "are added to increase the computing power of the system. It can be symmetric or "
                           "asymmetric.", rubric("Q1"))
    assert textbook.score <= textbook.max_score * 0.25
    assert len(textbook.off_target) == 3


def test_feedback_quotes_the_sentence_that_earned_a_point_and_says_it_is_a_proposal() -> None:
    grade = grade_prose("Multiprocessing runs several processes in parallel, each with its own interpreter "
                        "and memory, so CPU-bound code uses every core and finishes faster.", rubric("Q1"))
    assert grade.feedback.startswith("Good: work in several processes, running at the same time")
    assert "(“Multiprocessing runs several processes in parallel" in grade.feedback
    assert grade.proposal_note == f"Proposal: {grade.score:g}/1.5, until staff review it."


def test_q4_prose_reaches_the_full_rubric_points() -> None:
    grade = grade_prose(Q4_ANSWER, rubric("Q4"))
    assert grade.score == grade.max_score == 1.0
    assert "data_parallel" in grade.found  # what a pool does and why, in one idea


def test_q4_half_answers_and_off_question_text() -> None:
    """The group of workers (what) or parallel speed (why) alone is half an answer, both are
    whole; text about multiprocessing in general says nothing of a pool."""
    q4 = rubric("Q4")
    assert grade_prose("A pool is a collection of worker processes kept ready by Python.", q4).score == 0.5
    whole = grade_prose("A pool is a collection of worker processes, so tasks finish faster.", q4)
    assert whole.score == 1.0 and {"workers", "speed"} <= set(whole.found)
    general = grade_prose("Multiprocessing is a built-in package that lets the system run "
                          "multiple processes simultaneously on several cores.", q4)
    assert general.score <= 0.5


def test_too_short_answer_gets_a_small_share() -> None:
    grade = grade_prose("Parallel processes, faster.", rubric("Q1"))
    assert grade.words == 3
    assert grade.score <= 1.5 * 0.25
    assert "Too short for full marks" in grade.feedback


def test_penalties_never_go_below_zero_and_feedback_says_what_is_missing() -> None:
    text = ("Multiprocessing is when multitasking happens, it is about how a computer "
            "splits work into threads and then multitasking goes on and on for a while.")
    grade = grade_prose(text, rubric("Q2"))
    assert grade.score == 0.0
    assert {m for m, _ in grade.misconceptions} == {"multitasking", "processes_are_threads"}
    assert grade.feedback.startswith("None of the key ideas of the question yet. Also explain: separate vs shared memory")


def test_plain_regex_rubrics_still_work_with_default_subjects() -> None:
    rub = Rubric(concepts=(Concept("p", "that it is parallel", ("parallel",), 1.0),),
                 misconceptions=(Misconception("t", ("@thread own gil",), "Threads share one GIL.", 0.5),),
                 points=1.0, min_words=3)
    assert grade_prose("It runs work in parallel, fine.", rub).score == 1.0
    assert grade_prose("It is not parallel at all, sadly.", rub).contradictions
    flagged = grade_prose("Each thread has its own GIL, and it runs in parallel.", rub)
    assert [m for m, _ in flagged.misconceptions] == ["t"]


def test_empty_and_huge_text_are_bounded() -> None:
    grade = grade_prose("   ", rubric("Q1"))
    assert grade.score == 0 and grade.feedback == "No written answer was found."
    huge = grade_prose("Processes run in parallel. " * 50_000 + "x" * 100_000, rubric("Q1"))
    assert huge.score > 0


def test_a_negation_swallowed_by_a_wildcard_still_negates() -> None:
    rub = Rubric(concepts=(Concept("c", "that a lock makes updates correct", ("correct",), 1.0),),
                 misconceptions=(Misconception("speed", ("lock.{0,30}faster",), "A lock is for correctness.", 0.5),),
                 points=1.0, min_words=3)
    assert grade_prose("A lock makes the program slower, not faster, but correct.", rub).misconceptions == ()
    assert grade_prose("A lock makes the program faster and correct.", rub).misconceptions


def test_a_negation_said_of_the_contrasted_subject_is_the_contrast_not_a_contradiction() -> None:
    text = ("Processes run in parallel on several cores, while threads cannot use several cores for Python "
            "code and do not give better performance for CPU-bound work.")
    grade = grade_prose(text, rubric("Q1"))
    assert grade.contradictions == ()
    assert {"parallelism", "cores", "cpu_bound"} <= set(grade.found)
    wrong = grade_prose("Multiprocessing does not use several cores and gives no better performance at all, "
                        "it only looks that way.", rubric("Q1"))
    assert {cid for cid, _ in wrong.contradictions} == {"cores", "performance"}


def test_locks_rubric_reads_atomicity_as_a_claim() -> None:
    rub = load_assignment("locks-queues").question("Q1").rubric
    assert rub is not None
    right = grade_prose("counter.value += 1 is not atomic, so with two processes one update can be lost; a lock "
                        "lets one process at a time change it, and then no update is lost.", rub)
    assert {"not_atomic", "lost_updates", "mutual_exclusion"} <= set(right.found) and right.contradictions == ()
    wrong = grade_prose("The increment is atomic so no lock is needed, a race condition never happens with a "
                        "Value in this program.", rub)
    assert "not_atomic" not in wrong.found and [m for m, _ in wrong.misconceptions] == ["value_is_atomic"]
