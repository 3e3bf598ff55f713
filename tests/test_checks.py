"""Checks are pure functions of a CheckContext: these tests build realistic contexts.

The traces below are what the probe records for the 15 Feb example answers and for the
mistakes real submissions make.
"""

from __future__ import annotations

import textwrap

import pytest
from conftest import EXAMPLE_Q6
from contexts import MAIN, child, make_ctx

from mpgrade.checks import CheckError, Outcome, available_checks, check, register_module, run_check
from mpgrade.checks.facts import last_exception, numbers_in, student_line
from mpgrade.model import (
    Answer,
    BuiltScript,
    Cell,
    CheckContext,
    CheckResult,
    CheckSpec,
    Message,
    OutputLine,
    PoolInfo,
    PoolTask,
    ProcessInfo,
    ProcessStack,
    Question,
    RunResult,
    StackFrame,
    Trace,
)


def worker(pid: int) -> ProcessInfo:
    return ProcessInfo(pid, 100, f"SpawnPoolWorker-{pid - 200}", None, role="pool_worker",
                       exitcode=-15, confirmed=True)


def out(pid: int, *texts: str) -> tuple[OutputLine, ...]:
    return tuple(OutputLine(pid, "stdout", t) for t in texts)


def grade(check_id: str, ctx: CheckContext, points: float = 0.5, **params) -> CheckResult:
    return run_check(CheckSpec(check_id, points, params), ctx)


# --------------------------------------------------------------------------- the example's answers

Q3 = """
import multiprocessing

def test():
    print("this is my multiprocessing prog")
if __name__ == "__main__":
    m = multiprocessing.Process(target = test)
    print("this is my main prog")
    m.start()
    m.join()
"""


def q3_ctx() -> CheckContext:
    return make_ctx(
        Q3,
        processes=(MAIN, child(101, "__main__.test")),
        lines=out(100, "this is my main prog") + out(101, "this is my multiprocessing prog"),
    )


def test_q3_example_passes_every_check() -> None:
    ctx = q3_ctx()
    started = grade("process.started", ctx, min=1)
    ran = grade("process.target_ran", ctx)
    printed = grade("process.child_printed", ctx)
    assert (started.passed, ran.passed, printed.passed) == (True, True, True)
    assert started.score == 0.5
    assert "pid 101" in started.message
    assert ran.message == "A child process (pid 101) ran `test` and exited with code 0."
    assert '"this is my multiprocessing prog"' in printed.message


Q4 = """
import multiprocessing

def square(n):
    return n **2
if __name__ == "__main__":
    with multiprocessing.Pool(processes = 5) as pool:
        out = pool.map(square , [2,2,3,4,5,5,45,6,7])
        print(out)
"""


def pool_tasks(func: str, inputs: list[int], fn, workers: tuple[int, ...]) -> tuple[PoolTask, ...]:
    return tuple(
        PoolTask(1, workers[i % len(workers)], func, repr(x), repr(fn(x)), t=0.01 * i)
        for i, x in enumerate(inputs)
    )


def pool_ctx(code: str, func: str, inputs: list[int], fn, size: int = 5, printed: bool = True,
             calls: tuple[str, ...] = ("map",)) -> CheckContext:
    workers = tuple(201 + i for i in range(size))
    results = [fn(x) for x in inputs]
    return make_ctx(
        code,
        processes=(MAIN,) + tuple(worker(w) for w in workers),
        pools=(PoolInfo(1, size, calls),),
        tasks=pool_tasks(func, inputs, fn, workers) if calls else (),
        lines=out(100, repr(results)) if printed else (),
        checks=("pool.used",),
    )


def test_q4_example_pool_used_and_squares_correct() -> None:
    ctx = pool_ctx(Q4, "__main__.square", [2, 2, 3, 4, 5, 5, 45, 6, 7], lambda n: n**2)
    used = grade("pool.used", ctx, 0.25, optional_code=True)
    correct = grade("pool.results_correct", ctx, 0.25, expect="square", optional_code=True)
    assert used.passed and used.score == 0.25
    assert "five worker processes" in used.message and "map" in used.message
    assert correct.passed, correct.message
    assert "square(45) = 2025" in correct.message


def test_q4_prose_only_makes_optional_code_checks_not_applicable() -> None:
    ctx = make_ctx("", code_optional=True, checks=("pool.used",))
    for cid, params in (("pool.used", {}), ("pool.results_correct", {"expect": "square"})):
        result = grade(cid, ctx, 0.25, optional_code=True, **params)
        assert result.outcome == "not_applicable" and not result.passed and result.score == 0
        assert result.message == "No code given; prose alone answers this question."


def test_missing_code_fails_when_code_is_required() -> None:
    result = grade("pool.used", make_ctx("", checks=("pool.used",)))
    assert not result.passed and "No code was found" in result.message


Q5 = """
import multiprocessing

def cube(n):
    return n**3
if __name__ == "__main__":
    with multiprocessing.Pool(processes = 6) as pool:
        out = pool.map(cube , [3,4,6,8,14,34,8,9])
        print (out)
"""


def test_q5_example_passes_every_check() -> None:
    ctx = pool_ctx(Q5, "__main__.cube", [3, 4, 6, 8, 14, 34, 8, 9], lambda n: n**3, size=6)
    results = {cid: grade(cid, ctx) for cid in ("pool.used", "pool.workers_computed", "output.results_printed")}
    results["pool.results_correct"] = grade("pool.results_correct", ctx, expect="cube")
    assert all(r.passed for r in results.values()), {k: r.message for k, r in results.items()}
    assert "six worker processes" in results["pool.used"].message
    assert "eight tasks ran in six worker processes" in results["pool.workers_computed"].message.lower()
    assert "cube(34) = 39304" in results["pool.results_correct"].message


def test_cube_returning_squares_names_the_mistake() -> None:
    ctx = pool_ctx(Q5.replace("n**3", "n**2"), "__main__.cube", [3, 4, 6], lambda n: n**2, size=6)
    result = grade("pool.results_correct", ctx, expect="cube")
    assert not result.passed and result.score == 0
    assert result.message == "cube(3) returned 9, which is 3**2: cube should return n**3 (n ** 3 or n*n*n)."


def test_function_returning_none_is_told_to_return() -> None:
    ctx = pool_ctx(Q5, "__main__.cube", [3, 4], lambda n: None)
    result = grade("pool.results_correct", ctx, expect="cube")
    assert "cube(3) returned None" in result.message and "`return`" in result.message


def test_results_correct_prefers_the_function_named_like_the_expectation() -> None:
    ctx = pool_ctx(Q5, "__main__.cube", [2, 3], lambda n: n**3)
    extra = tuple(PoolTask(1, 201, "__main__.helper", repr(x), repr(x + 1)) for x in range(5))
    ctx = CheckContext(ctx.question, ctx.answer, ctx.script, ctx.run,
                       Trace("fork", ctx.trace.processes, ctx.trace.lines, ctx.trace.pools,
                             ctx.trace.tasks + extra))
    assert grade("pool.results_correct", ctx, expect="cube").passed


def test_pool_created_but_never_used() -> None:
    code = """
    import multiprocessing
    def cube(n):
        return n**3
    if __name__ == "__main__":
        pool = multiprocessing.Pool(4)
        print("done")
    """
    ctx = pool_ctx(code, "__main__.cube", [], lambda n: n, size=4, printed=False, calls=())
    result = grade("pool.used", ctx)
    assert not result.passed
    assert "created a Pool of 4 workers but never gave it work" in result.message
    assert "no task" in grade("pool.workers_computed", ctx).message.lower() or \
        "never gave it work" in grade("pool.workers_computed", ctx).message


def test_threadpool_is_not_a_process_pool() -> None:
    code = """
    from multiprocessing.pool import ThreadPool
    def cube(n):
        return n**3
    with ThreadPool(4) as pool:
        print(pool.map(cube, [1, 2, 3]))
    """
    tasks = tuple(PoolTask(1, 100, "__main__.cube", repr(x), repr(x**3)) for x in (1, 2, 3))
    ctx = make_ctx(code, pools=(PoolInfo(1, 4, ("map",), kind="thread"),), tasks=tasks,
                   lines=out(100, "[1, 8, 27]"))
    used = grade("pool.used", ctx)
    computed = grade("pool.workers_computed", ctx)
    assert not used.passed and "ThreadPool" in used.message and "threads" in used.message
    assert not computed.passed and "ran in the main process" in computed.message


def test_results_not_printed() -> None:
    ctx = pool_ctx(Q5, "__main__.cube", [3, 4], lambda n: n**3, printed=False)
    result = grade("output.results_printed", ctx)
    assert not result.passed and "27, 64" in result.message and "print" in result.message


def test_result_found_as_whole_number_only() -> None:
    ctx = pool_ctx(Q5, "__main__.cube", [45], lambda n: n**3, printed=False)
    ctx = CheckContext(ctx.question, ctx.answer, ctx.script,
                       RunResult(0, "912250\n91125000\n", "", 0.1), ctx.trace)
    assert not grade("output.results_printed", ctx).passed


# --------------------------------------------------------------------------- Q6

Q6_EXAMPLE = EXAMPLE_Q6
SENT = ["1", "2", "3", "4", "[5, 6, 7]", "8", "9", "10", "[11, 12, 13, 14]"]


def q6_example_ctx() -> CheckContext:
    messages = tuple(Message("pipe-1", "pipe", "send", 101, v, t=0.01 * i) for i, v in enumerate(SENT))
    messages += tuple(Message("pipe-1", "pipe", "recv", 102, v, t=0.01 * i + 0.005) for i, v in enumerate(SENT))
    stacks = (
        ProcessStack(100, "main", (StackFrame("/tmp/run/answer.py", 26, "<module>", "m2.join()"),
                                   StackFrame("/usr/lib/python3.11/multiprocessing/popen_fork.py", 27, "poll")),
                     wait="wait4"),
        ProcessStack(102, "Process-2", (
            StackFrame("/usr/lib/python3.11/multiprocessing/process.py", 108, "run"),
            StackFrame("/tmp/run/answer.py", 11, "receive", "msg = conn.recv()"),
            StackFrame("/usr/lib/python3.11/multiprocessing/connection.py", 430, "_recv_bytes"),
        ), wait="read"),
    )
    return make_ctx(
        Q6_EXAMPLE,
        processes=(MAIN, child(101, "__main__.sender"), child(102, "__main__.receive", exitcode=None)),
        lines=out(102, *SENT),
        messages=messages,
        exit_code=None,
        limit="deadlock",
        limit_detail="Every process was waiting for another one and none used CPU for 1.0 s: a deadlock.",
        stacks=stacks,
    )


def test_q6_example_fails_started_naming_two_of_four() -> None:
    result = grade("process.started", q6_example_ctx(), min=4)
    assert not result.passed and result.score == 0
    assert result.message.startswith("Two child processes were started")
    assert "where four were asked for" in result.message
    assert "`sender`" in result.message and "`receive`" in result.message


def test_q6_example_numbers_and_completion() -> None:
    ctx = q6_example_ctx()
    each = grade("process.each_printed_number", ctx, min=4)
    distinct = grade("process.distinct_numbers", ctx, min=4)
    done = grade("run.completed", ctx)
    order = grade("pipe.order", ctx, 0.0)
    assert not each.passed and "Only one child process printed a number" in each.message
    assert not distinct.passed and distinct.score == 0
    assert not done.passed
    assert done.message == ("Every process was waiting for another one and none used CPU for 1.0 s: "
                            "a deadlock; Process-2 was waiting in `msg = conn.recv()` on line 11.")
    assert order.passed and order.message == "9 messages sent over pipe-1, 9 received in order."


def four_children(texts: list[str], target: str | None = "__main__.print_number") -> CheckContext:
    code = """
    import multiprocessing
    def print_number(n):
        print(n)
    if __name__ == "__main__":
        ps = [multiprocessing.Process(target=print_number, args=(i,)) for i in range(4)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
    """
    kids = tuple(child(101 + i, target) for i in range(4))
    lines = tuple(line for i, t in enumerate(texts) for line in out(101 + i, t))
    return make_ctx(code, processes=(MAIN,) + kids, lines=lines)


def test_q6_four_processes_four_numbers_passes() -> None:
    ctx = four_children(["0", "1", "2", "3"])
    for cid, params in (("process.started", {"min": 4}), ("process.each_printed_number", {"min": 4}),
                        ("process.distinct_numbers", {"min": 4}), ("run.completed", {})):
        result = grade(cid, ctx, **params)
        assert result.passed and result.score == 0.5, (cid, result.message)
    assert "four child processes printed 4 different numbers" in \
        grade("process.distinct_numbers", ctx, min=4).message.lower()


def test_distinct_numbers_uses_a_matching() -> None:
    # Each child prints its index and a shared value: a different number for each exists.
    ctx = four_children([f"worker {i} got 7" for i in range(4)])
    assert grade("process.distinct_numbers", ctx, min=4).passed


def test_same_number_from_every_child() -> None:
    result = grade("process.distinct_numbers", four_children(["5", "5", "5", "5"]), min=4)
    assert not result.passed and "same number 5" in result.message and "args=(i,)" in result.message


def test_strings_instead_of_numbers() -> None:
    result = grade("process.each_printed_number", four_children(["hello"] * 4), min=4)
    assert not result.passed and 'text without a number ("hello")' in result.message


def test_numbers_glued_to_names_do_not_count() -> None:
    assert numbers_in("Process-1 says 5, pid=3.") == ["5", "3"]
    assert numbers_in("x2 and -4 and 2.5") == ["-4", "2.5"]


PRINT_POOL = """
import multiprocessing
def print_number(n):
    print(n)
if __name__ == "__main__":
    with multiprocessing.Pool(4) as pool:
        pool.map(print_number, [1, 2, 3, 4])
"""


def pool_print_ctx(assignment: list[int]) -> CheckContext:
    """Pool(4).map(print_number, [1, 2, 3, 4]) where number i was printed by worker assignment[i]."""
    workers = tuple(worker(201 + i) for i in range(4))
    tasks = tuple(PoolTask(1, 201 + w, "__main__.print_number", str(n + 1), "None")
                  for n, w in enumerate(assignment))
    lines = tuple(line for n, w in enumerate(assignment) for line in out(201 + w, str(n + 1)))
    return make_ctx(PRINT_POOL, processes=(MAIN,) + workers, pools=(PoolInfo(1, 4, ("map",)),),
                    tasks=tasks, lines=lines)


@pytest.mark.parametrize("cid", ["process.each_printed_number", "process.distinct_numbers"])
def test_pool_for_q6_gets_half_credit_whatever_the_distribution(cid: str) -> None:
    spread = grade(cid, pool_print_ctx([0, 1, 2, 3]), min=4)
    lumped = grade(cid, pool_print_ctx([0, 0, 0, 1]), min=4)
    assert spread.score == lumped.score == 0.25
    assert spread.message == lumped.message
    assert "does not guarantee one number per process" in spread.message


def test_pool_of_four_counts_as_four_processes() -> None:
    result = grade("process.started", pool_print_ctx([0, 1, 2, 3]), min=4)
    assert result.passed and "four worker processes" in result.message


def test_threads_instead_of_processes() -> None:
    code = """
    import threading
    def print_number(n):
        print(n)
    ts = [threading.Thread(target=print_number, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    """
    ctx = make_ctx(code, threads=4, lines=out(100, "0", "1", "2", "3"))
    result = grade("process.started", ctx, min=4)
    assert not result.passed and "threads, not processes" in result.message
    assert "multiprocessing.Process" in result.message


def test_printed_without_process() -> None:
    code = """
    for i in range(4):
        print(i)
    """
    ctx = make_ctx(code, lines=out(100, "0", "1", "2", "3"))
    for cid, params in (("process.started", {"min": 4}), ("process.child_printed", {}),
                        ("process.each_printed_number", {"min": 4})):
        result = grade(cid, ctx, **params)
        assert not result.passed
        assert "printed by the main process" in result.message and "no child process ran" in result.message


def test_target_called_in_parent() -> None:
    code = """
    import multiprocessing
    def print_number(n):
        print(n)
    if __name__ == "__main__":
        for i in range(4):
            p = multiprocessing.Process(target=print_number(i))
            p.start()
    """
    kids = tuple(child(101 + i, None) for i in range(4))
    ctx = make_ctx(code, processes=(MAIN,) + kids, lines=out(100, "0", "1", "2", "3"))
    ran = grade("process.target_ran", ctx)
    each = grade("process.each_printed_number", ctx, min=4)
    assert not ran.passed
    assert ran.message.startswith("`target=print_number(i)` on line 6 calls `print_number` in the main")
    assert "`target=print_number`" in ran.message
    assert not each.passed and "target=print_number(i)" in each.message


TRACEBACK = """Traceback (most recent call last):
  File "/tmp/run/answer.py", line 3, in <module>
    print(x)
          ^
NameError: name 'x' is not defined
"""


def test_exception_before_any_process_names_it() -> None:
    code = """
    import multiprocessing

    print(x)
    """
    ctx = make_ctx(code, stderr=TRACEBACK, exit_code=1)
    started = grade("process.started", ctx)
    done = grade("run.completed", ctx)
    assert "raised `NameError: name 'x' is not defined` on line 3" in started.message
    assert done.message == "Your code raised `NameError: name 'x' is not defined` on line 3."


def test_child_that_raised() -> None:
    stderr = """Process Process-1:
Traceback (most recent call last):
  File "/usr/lib/python3.11/multiprocessing/process.py", line 314, in _bootstrap
    self.run()
  File "/tmp/run/answer.py", line 3, in test
    1 / 0
ZeroDivisionError: division by zero
"""
    ctx = make_ctx(Q3, processes=(MAIN, child(101, "__main__.test", exitcode=1)), stderr=stderr)
    result = grade("process.target_ran", ctx)
    assert not result.passed
    assert "exited with code 1: it raised `ZeroDivisionError: division by zero` on line 3" in result.message


def test_process_created_but_not_started() -> None:
    code = """
    import multiprocessing
    def f():
        print("hi")
    if __name__ == "__main__":
        p = multiprocessing.Process(target=f)
    """
    result = grade("process.started", make_ctx(code))
    assert "never called `.start()`" in result.message and "line 5" in result.message


def test_unconfirmed_processes_do_not_count() -> None:
    forged = ProcessInfo(101, 100, "Process-1", "__main__.test", exitcode=0, confirmed=False)
    ctx = make_ctx(Q3, processes=(MAIN, forged), lines=out(101, "this is my multiprocessing prog"))
    assert not grade("process.started", ctx).passed
    assert not grade("process.child_printed", ctx).passed


# --------------------------------------------------------------------------- run and pipes


def test_run_completed_reports_limits() -> None:
    ctx = make_ctx(Q3, exit_code=None, limit="time_limit",
                   limit_detail="Stopped after 10 s (the time limit for this question).")
    result = grade("run.completed", ctx)
    assert not result.passed
    assert result.message == "Stopped after 10 s (the time limit for this question)."
    bare = grade("run.completed", make_ctx(Q3, exit_code=None, limit="memory"))
    assert bare.message == "Your program used more memory than allowed and was killed."
    assert grade("run.completed", q3_ctx()).message.startswith("The program ended by itself in 0.21 s")


def test_pipe_order_reports_first_out_of_order_message() -> None:
    sends = [Message("pipe-1", "pipe", "send", 101, v, t=i) for i, v in enumerate(["1", "2", "3"])]
    recvs = [Message("pipe-1", "pipe", "recv", 102, v, t=10 + i) for i, v in enumerate(["1", "3"])]
    ctx = make_ctx(Q3, messages=tuple(sends + recvs))
    result = grade("pipe.order", ctx, 0.0)
    assert not result.passed and result.score == 0 and result.max_score == 0
    assert "the 2nd message received over pipe-1 was 3, but 2 was sent 2nd" in result.message


def test_pipe_order_without_pipes_does_not_apply() -> None:
    result = grade("pipe.order", q3_ctx(), 0.0)
    assert result.outcome == "not_applicable" and result.message == "No Pipe or Queue was used."


def test_duplex_pipe_and_multi_producer_queue() -> None:
    msgs = (
        Message("pipe-1", "pipe", "send", 101, "'ping'", t=1),
        Message("pipe-1", "pipe", "recv", 102, "'ping'", t=2),
        Message("pipe-1", "pipe", "send", 102, "'pong'", t=3),
        Message("pipe-1", "pipe", "recv", 101, "'pong'", t=4),
        Message("queue-2", "queue", "send", 103, "1", t=1),
        Message("queue-2", "queue", "send", 104, "2", t=1),
        Message("queue-2", "queue", "recv", 100, "2", t=2),
        Message("queue-2", "queue", "recv", 100, "1", t=3),
    )
    result = grade("pipe.order", make_ctx(Q3, messages=msgs), 0.0)
    assert result.passed, result.message
    assert "2 messages put on queue-2 by 2 processes, 2 received" in result.message


def test_one_message_is_said_in_the_singular() -> None:
    pipe = (Message("pipe-1", "pipe", "send", 101, "'ping'", t=1), Message("pipe-1", "pipe", "recv", 102, "'ping'", t=2))
    result = grade("pipe.order", make_ctx(Q3, messages=pipe), 0.0)
    assert result.passed and result.message == "1 message sent over pipe-1, 1 received in order."


# --------------------------------------------------------------------------- registry


def test_available_checks_lists_every_builtin_with_a_doc() -> None:
    listed = available_checks()
    for cid in ("process.started", "process.target_ran", "process.child_printed",
                "process.each_printed_number", "process.distinct_numbers", "run.completed",
                "pipe.order", "pool.used", "pool.workers_computed", "pool.results_correct",
                "output.results_printed"):
        assert listed[cid], cid


def test_unknown_check_id_is_an_error() -> None:
    with pytest.raises(CheckError, match="unknown check 'nope'"):
        grade("nope", q3_ctx())


def test_a_crashing_check_becomes_a_failed_result() -> None:
    @check("test.crashes")
    def crashes(ctx: CheckContext, params: dict) -> Outcome:
        """Always raises."""
        raise RuntimeError("bug")

    result = grade("test.crashes", q3_ctx())
    assert not result.passed and "RuntimeError: bug" in result.message
    assert not result.evaluated and grade("process.started", q3_ctx()).evaluated


def test_a_question_with_a_check_that_could_not_decide_needs_review() -> None:
    """The message promises a person will look: the status makes the review list show it."""
    from mpgrade.scoring import score

    @check("test.crashes_too")
    def crashes(ctx: CheckContext, params: dict) -> Outcome:
        """Always raises."""
        raise RuntimeError("bug")

    statuses = []
    for checks in (("process.started",), ("process.started", "test.crashes_too")):
        ctx = make_ctx(Q3, processes=(MAIN, child(102, "test")), checks=checks)
        statuses.append(score(ctx.question, ctx, (), None, "fork").status)
    assert statuses[0] in ("passed", "partial") and statuses[1] == "needs_review"


def test_register_module_loads_decorated_and_plain_functions(tmp_path) -> None:
    path = tmp_path / "checks.py"
    path.write_text(textwrap.dedent('''
        from mpgrade.checks import Outcome, check
        from mpgrade.model import CheckResult

        @check("custom.queue_used")
        def queue_used(ctx, params):
            """A Queue carried messages."""
            return Outcome(any(m.kind == "queue" for m in ctx.trace.messages), "queue?")

        def printed_twice(ctx, params):
            """The child printed at least twice."""
            return CheckResult("x", False, 1.0, 2.0, "half")

        def _helper(ctx, params):
            return None
    '''))
    ids = register_module(path)
    assert set(ids) == {"custom.queue_used", "printed_twice"}
    assert register_module(path) == ids  # idempotent
    assert available_checks(path)["printed_twice"] == "The child printed at least twice."
    assert "printed_twice" not in available_checks()  # custom checks belong to their exercise
    half = run_check(CheckSpec("printed_twice", 1.0, {}, source=str(path)), q3_ctx())
    assert half.score == 0.5 and half.id == "printed_twice" and half.message == "half"
    assert not run_check(CheckSpec("custom.queue_used", 0.5, {}, source=str(path)), q3_ctx()).passed


# --------------------------------------------------------------------------- facts


def test_student_line_counts_lines_across_the_answers_cells() -> None:
    cells = (Cell(3, "code", "import os"), Cell(4, "markdown", "text"), Cell(5, "code", "a = 1\nb = 2"),
             Cell(6, "code", "c = 3\nd = 4\ne = 5"))
    script = BuiltScript("import sys\n" * 20, {2: (1, 1), 10: (5, 2), 12: (6, 3)})
    ctx = CheckContext(Question("Q", "t", "x", "code", 1.0), Answer("Q", cells), script, None, Trace())
    assert student_line(ctx, 10) == "line 4"  # "import os", blank, "a = 1", "b = 2"
    assert student_line(ctx, 12) == "line 8"
    assert student_line(ctx, 2) == "line 1 of cell 2"  # cells count from 1, as in Jupyter
    assert student_line(ctx, 5) == ""


def test_last_exception_reads_multi_line_messages() -> None:
    stderr = """Traceback (most recent call last):
  File "<string>", line 1, in <module>
  File "/usr/lib/python3.11/multiprocessing/spawn.py", line 120, in spawn_main
RuntimeError:
        An attempt has been made to start a new process before the
        current process has finished its bootstrapping phase.
"""
    exc = last_exception(stderr)
    assert exc is not None and exc.line is None
    assert exc.text == ("RuntimeError: An attempt has been made to start a new process before the "
                        "current process has finished its bootstrapping phase.")


def test_an_executors_unrecorded_tasks_leave_result_checks_not_applicable() -> None:
    code = """
    from concurrent.futures import ProcessPoolExecutor
    if __name__ == "__main__":
        with ProcessPoolExecutor(2) as ex:
            print(list(ex.map(abs, [1, -2])))
    """
    ctx = make_ctx(code, processes=(MAIN, worker(201), worker(202)), lines=out(100, "[1, 2]"))
    said = {cid: grade(cid, ctx) for cid in ("pool.results_correct", "output.results_printed")}
    assert not any(r.applicable for r in said.values())
    assert said["pool.results_correct"].message.endswith("tasks are not recorded, so they were not checked.")
    assert said["output.results_printed"].message.endswith("so their printing was not checked.")


def test_no_pool_and_no_child_name_what_stopped_the_run_first() -> None:
    stopped = make_ctx("import multiprocessing\nwhile True:\n    pass\n", exit_code=None,
                       limit="time_limit")
    assert grade("pool.used", stopped).message == (
        "No Pool was seen: your program did not finish within the time limit and was stopped.")
    assert grade("process.started", stopped).message == (
        "No child process was seen: your program did not finish within the time limit and was stopped.")
    raised = make_ctx("import multiprocessing\n\nprint(x)\n", stderr=TRACEBACK, exit_code=1)
    assert grade("pool.used", raised).message == (
        "No Pool did any work because your code raised `NameError: name 'x' is not defined` on line 3.")
    assert grade("process.started", raised).message.startswith(
        "No child process ran because your code raised `NameError")


def test_pool_that_raised_names_the_error_in_its_checks() -> None:
    code = """
    import multiprocessing
    if __name__ == "__main__":
        with multiprocessing.Pool(2) as pool:
            print(pool.map(lambda n: n ** 3, [1, 2, 3]))
    """
    stderr = ("Traceback (most recent call last):\n"
              '  File "/tmp/run/answer.py", line 4, in <module>\n'
              "    print(pool.map(lambda n: n ** 3, [1, 2, 3]))\n"
              "_pickle.PicklingError: Can't pickle <function <lambda>>: attribute lookup <lambda> failed\n")
    ctx = make_ctx(code, pools=(PoolInfo(1, 2, ("map",)),), stderr=stderr, exit_code=1)
    for cid in ("pool.workers_computed", "pool.results_correct", "output.results_printed"):
        result = grade(cid, ctx, **({"expect": "cube"} if cid == "pool.results_correct" else {}))
        assert not result.passed
        assert result.message == ("Your Pool was given work, but no task finished in a worker: your code "
                                  "raised `_pickle.PicklingError: Can't pickle <function <lambda>>: "
                                  "attribute lookup <lambda> failed` on line 4.")


# --------------------------------------------------------------------------- declarations, gating, n/a


def test_checks_carry_declared_parameters_and_tags() -> None:
    from mpgrade.checks import declared_checks, tagged

    table = declared_checks()
    started = table["process.started"]
    assert started.description.startswith("At least `min` child processes")
    assert "process" in started.tags and "pool" in table["output.results_printed"].tags
    specs = (CheckSpec("output.results_printed", 1.0), CheckSpec("run.completed", 1.0))
    assert [s.id for s in tagged("pool", specs)] == ["output.results_printed"]


def test_cli_lists_each_checks_parameters_as_an_exercise_file_spells_them() -> None:
    from conftest import run_cli

    listing = run_cli("checks").stdout
    assert "pool: \"count\" | \"note\" | \"no\" = \"count\"" in listing
    assert "expect: \"square\" | \"cube\" | \"by_name\" = \"square\"" in listing
    assert "clean_exit: bool = true" in listing and "requires: list of str = []" in listing
    assert "`with_target`: only children given a function to run count" in " ".join(listing.split())


def test_the_docs_table_of_checks_is_what_mpgrade_checks_prints() -> None:
    """docs/writing-exercises.md shows the declarations, not a copy that can drift from them."""
    import re
    from pathlib import Path

    from conftest import run_cli

    doc = (Path(__file__).parents[1] / "docs" / "writing-exercises.md").read_text()
    block = re.search(r"<!-- begin: the output of `mpgrade checks --format markdown`[^\n]*-->\n"
                      r"(.*?)<!-- end: the output of `mpgrade checks --format markdown` -->", doc, re.S)
    assert block, "the markers of the generated table are missing"
    printed = run_cli("checks", "--format", "markdown")
    assert printed.returncode == 0, printed.stderr
    assert block.group(1) == printed.stdout, "run `mpgrade checks --format markdown` and paste it"
    assert "| `process.started` |" in printed.stdout and "| `run.completed` |" in printed.stdout


def test_a_required_check_that_failed_gates_the_points_of_its_dependants() -> None:
    from mpgrade.checks import scored, settle

    ctx = make_ctx("x = 1\n", lines=out(100, "1"))
    specs = (CheckSpec("process.started", 1.0, {"min": 4}),
             CheckSpec("run.completed", 1.0, {"requires": ["process.started"]}))
    ungated = tuple(run_check(s, ctx) for s in specs)
    assert ungated[1].passed  # the program did end by itself...
    gated = settle(specs, ungated)
    assert not gated[1].passed and gated[1].score == 0  # ...but that pays nothing on its own
    assert gated[1].message == "`run.completed` counts only once `process.started` passes."
    assert scored(2.0, gated) == 0


def test_not_applicable_weight_goes_to_the_applicable_checks() -> None:
    from mpgrade.checks import redistributed, scored

    results = (CheckResult("a", True, 0.5, 0.5, "ok"), CheckResult("b", False, 0.25, 1.0, "half"),
               CheckResult("c", False, 0.0, 0.5, "no pipe", applicable=False))
    moved = redistributed(results)
    assert [r.max_score for r in moved] == [0.6667, 1.3333, 0.0]  # in proportion, adding up to 2
    assert [r.outcome for r in moved] == ["passed", "failed", "not_applicable"]
    assert scored(2.0, results) == pytest.approx(0.6667 + 0.3333)


def test_a_declaration_is_checked_when_it_is_registered() -> None:
    with pytest.raises(CheckError, match="must take exactly"):
        check("test.bad_signature")(lambda ctx: Outcome(True, "x"))
    with pytest.raises(CheckError, match="params must be a dataclass"):
        check("test.bad_params", params=dict)


def test_every_module_of_the_package_is_a_registered_family() -> None:
    """A new family is one new module: importing the package imports it (fresh interpreter)."""
    import subprocess
    import sys

    code = ("import pkgutil, sys, mpgrade.checks as c; "
            "print(sorted(m.name for m in pkgutil.iter_modules(c.__path__) "
            "if f'mpgrade.checks.{m.name}' not in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    families = {cid.split(".", 1)[0] for cid in available_checks()}
    assert {"process", "pool", "pipe", "output", "run"} <= families


def test_the_static_checks_of_an_answer_share_one_parse(monkeypatch) -> None:
    from mpgrade.checks import static

    parsed: list[str] = []
    real = static.parse_python
    monkeypatch.setattr(static, "parse_python", lambda source: parsed.append(source) or real(source))
    static._tree.cache_clear()
    static._answer_nodes.cache_clear()
    ctx = q3_ctx()
    first, second = static.parse(ctx), static.parse(ctx)
    assert first is not None and second is not None
    assert len(parsed) == 1 and first.tree is second.tree
    assert list(first.nodes()) == list(second.nodes()) and any(True for _ in first.nodes())
