"""Each named failure pattern, from a realistic context: stacks, trace, stderr and source."""

from __future__ import annotations

import textwrap

import contexts
from conftest import EXAMPLE_Q6
from contexts import MAIN, child

from mpgrade.diagnose import diagnose
from mpgrade.model import (
    CheckContext,
    Diagnosis,
    OutputLine,
    PoolInfo,
    ProcessInfo,
    ProcessStack,
    StackFrame,
)

LIB = "/usr/lib/python3.11/multiprocessing"
PROCESS_CHECKS = ("process.started", "process.each_printed_number")


def line_of(code: str, text: str) -> int:
    """1-based line of the first line containing ``text`` in the dedented code."""
    lines = textwrap.dedent(code).strip("\n").splitlines()
    return next(i for i, ln in enumerate(lines, 1) if text in ln)


def frame(code: str, text: str, function: str = "<module>") -> StackFrame:
    return StackFrame("/tmp/run/answer.py", line_of(code, text), function, text)


def make_ctx(code: str, **kw) -> CheckContext:
    """A Q6 answer that ran for 1.2 s, checked by the process checks unless told otherwise."""
    return contexts.make_ctx(code, **{"qid": "Q6", "duration_s": 1.2, "checks": PROCESS_CHECKS, **kw})


def find(diags: tuple[Diagnosis, ...], code: str) -> Diagnosis:
    by_code = {d.code: d for d in diags}
    assert code in by_code, [d.code for d in diags]
    return by_code[code]


# --------------------------------------------------------------------------- pipes and queues

Q6_EXAMPLE = EXAMPLE_Q6


def q6_hung(method: str = "fork") -> CheckContext:
    stacks = (
        ProcessStack(100, "main", (frame(Q6_EXAMPLE, "m2.join()"),
                                   StackFrame(f"{LIB}/popen_fork.py", 27, "poll")), wait="wait4"),
        ProcessStack(102, "Process-2", (
            StackFrame(f"{LIB}/process.py", 108, "run"),
            frame(Q6_EXAMPLE, "msg = conn.recv()", "receive"),
            StackFrame(f"{LIB}/connection.py", 430, "_recv_bytes"),
        ), wait="read"),
    )
    return make_ctx(
        Q6_EXAMPLE,
        processes=(MAIN, child(101, "__main__.sender"), child(102, "__main__.receive", exitcode=None)),
        lines=tuple(OutputLine(102, "stdout", str(i)) for i in (1, 2, 3, 4)),
        exit_code=None, limit="deadlock", stacks=stacks, method=method,
        limit_detail="no progress for 1.0 s, every process waiting",
    )


def test_example_q6_names_the_inherited_write_end_and_the_recv_line() -> None:
    d = find(diagnose(q6_hung()), "pipe_inherited_write_end")
    assert d.severity == "error"
    assert d.location == "line 11"
    assert d.explanation.startswith(
        "Your receiver is stuck in `conn.recv()` on line 11 because it still holds the pipe's write end"
    )
    assert "EVERY copy of the write end is closed" in d.explanation
    assert "`child_conn.close()` at the start of `receive`" in d.fix
    assert "sentinel such as None" in d.fix
    assert "deadlock" not in [x.code for x in diagnose(q6_hung())]  # the specific one wins


def test_lines_are_mapped_back_through_the_line_map() -> None:
    ctx = q6_hung()
    shifted = make_ctx(
        Q6_EXAMPLE, processes=ctx.trace.processes, exit_code=None, limit="deadlock", script_offset=5,
        stacks=tuple(ProcessStack(s.pid, s.name, tuple(
            StackFrame(f.file, f.line + 5 if f.file.endswith("answer.py") else f.line, f.function, f.code)
            for f in s.frames), s.wait) for s in ctx.run.stacks),
    )
    assert find(diagnose(shifted), "pipe_inherited_write_end").location == "line 11"


def test_under_spawn_the_same_hang_is_a_plain_deadlock_with_each_blocked_line() -> None:
    diags = diagnose(q6_hung("spawn"))
    assert "pipe_inherited_write_end" not in [d.code for d in diags]
    d = find(diags, "deadlock")
    assert "the main process waits in `m2.join()` (line 26)" in d.explanation
    assert "Process-2 waits in `msg = conn.recv()` (line 11)" in d.explanation


QUEUE = """
import multiprocessing

def produce(q):
    q.put(list(range(1_000_000)))

if __name__ == "__main__":
    q = multiprocessing.Queue()
    p = multiprocessing.Process(target=produce, args=(q,))
    p.start()
    p.join()
    data = q.get()
    print(len(data))
"""


def test_queue_join_before_drain() -> None:
    stacks = (
        ProcessStack(100, "main", (frame(QUEUE, "p.join()"), StackFrame(f"{LIB}/popen_fork.py", 43, "wait")),
                     wait="wait4"),
        ProcessStack(101, "Process-1", (
            StackFrame(f"{LIB}/util.py", 357, "_exit_function"),
            StackFrame(f"{LIB}/queues.py", 199, "_finalize_join"),
            StackFrame("/usr/lib/python3.11/threading.py", 1132, "join"),
        ), wait="futex"),
    )
    ctx = make_ctx(QUEUE, processes=(MAIN, child(101, "__main__.produce", exitcode=None)),
                   exit_code=None, limit="deadlock", stacks=stacks)
    d = find(diagnose(ctx), "queue_join_before_drain")
    assert d.location == "line 10"
    assert "waits in `p.join()` on line 10" in d.explanation and "Process-1 cannot end" in d.explanation
    assert "`q.get()`" in d.fix


# --------------------------------------------------------------------------- pools

KILLED_POOL = """
import multiprocessing, os

def square(n):
    if n == 3:
        os._exit(1)
    return n * n

if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.map(square, [1, 2, 3, 4]))
"""


def test_pool_worker_killed() -> None:
    workers = (
        ProcessInfo(201, 100, "ForkPoolWorker-1", None, role="pool_worker", exitcode=1, confirmed=True),
        ProcessInfo(202, 100, "ForkPoolWorker-2", None, role="pool_worker", exitcode=None, confirmed=True),
    )
    stacks = (ProcessStack(100, "main", (frame(KILLED_POOL, "print(pool.map(square, [1, 2, 3, 4]))"),
                                         StackFrame(f"{LIB}/pool.py", 768, "wait")), wait="futex"),)
    ctx = make_ctx(KILLED_POOL, processes=(MAIN,) + workers, pools=(PoolInfo(1, 2, ("map",)),),
                   exit_code=None, limit="time_limit", stacks=stacks, checks=("pool.used",))
    d = find(diagnose(ctx), "pool_worker_killed")
    assert "ForkPoolWorker-1 (pid 201) exited with code 1 while running a task" in d.explanation
    assert "waits for its result forever" in d.explanation and d.location == "line 10"
    assert "os._exit()" in d.fix
    assert "time_limit" not in [x.code for x in diagnose(ctx)]


def test_pool_worker_killed_for_memory() -> None:
    worker = ProcessInfo(201, 100, "ForkPoolWorker-1", None, role="pool_worker", exitcode=-9, confirmed=True)
    ctx = make_ctx(KILLED_POOL, processes=(MAIN, worker), pools=(PoolInfo(1, 2, ("map",)),),
                   exit_code=None, limit="memory", checks=("pool.used",))
    d = find(diagnose(ctx), "pool_worker_killed")
    assert "was killed by SIGKILL (most likely for using too much memory)" in d.explanation


NO_GUARD_POOL = """
import multiprocessing

def square(n):
    return n * n

pool = multiprocessing.Pool(4)
print(pool.map(square, [1, 2, 3]))
"""

BOOTSTRAP = """Traceback (most recent call last):
  File "<string>", line 1, in <module>
  File "/usr/lib/python3.11/multiprocessing/spawn.py", line 120, in spawn_main
    exitcode = _main(fd, parent_sentinel)
  File "/tmp/run/answer.py", line 6, in <module>
    pool = multiprocessing.Pool(4)
RuntimeError:
        An attempt has been made to start a new process before the
        current process has finished its bootstrapping phase.
"""


def test_missing_main_guard_under_spawn() -> None:
    ctx = make_ctx(NO_GUARD_POOL, stderr=BOOTSTRAP * 3, exit_code=None, limit="time_limit",
                   method="spawn", checks=("pool.used",))
    diags = diagnose(ctx)
    d = find(diags, "missing_main_guard")
    assert d.location == "line 6"
    assert "the `Pool(...)` on line 6 runs again in every child" in d.explanation
    assert "bootstrapping phase" in d.explanation
    assert 'if __name__ == "__main__":' in d.fix
    assert "fork_only" not in [x.code for x in diags]


def test_missing_guard_under_fork_is_a_portability_warning() -> None:
    ctx = make_ctx(NO_GUARD_POOL, method="fork", checks=("pool.used",),
                   lines=(OutputLine(100, "stdout", "[1, 4, 9]"),))
    diags = diagnose(ctx)
    d = find(diags, "fork_only")
    assert d.severity == "warning" and d.location == "line 6"
    assert "Windows and macOS" in d.explanation and "forkserver" in d.explanation
    assert "missing_main_guard" not in [x.code for x in diags]


def test_unpicklable_lambda_in_pool() -> None:
    code = """
    import multiprocessing
    if __name__ == "__main__":
        with multiprocessing.Pool(4) as pool:
            print(pool.map(lambda n: n ** 3, [1, 2, 3]))
    """
    stderr = ("Traceback (most recent call last):\n"
              '  File "/tmp/run/answer.py", line 4, in <module>\n'
              "    print(pool.map(lambda n: n ** 3, [1, 2, 3]))\n"
              "_pickle.PicklingError: Can't pickle <function <lambda> at 0x7f>: "
              "attribute lookup <lambda> on __main__ failed\n")
    ctx = make_ctx(code, stderr=stderr, exit_code=1, pools=(PoolInfo(1, 4, ("map",)),),
                   checks=("pool.used",))
    d = find(diagnose(ctx), "unpicklable_callable")
    assert d.location == "line 4"
    assert "Can't pickle <function <lambda>" in d.explanation and "lambda" in d.explanation
    assert "`def` at the top level" in d.fix


def test_nested_function_found_statically() -> None:
    code = """
    import multiprocessing
    def main():
        def cube(n):
            return n ** 3
        with multiprocessing.Pool(2) as pool:
            return pool.map(cube, [1, 2])
    """
    d = find(diagnose(make_ctx(code, exit_code=1, checks=("pool.used",))), "unpicklable_callable")
    assert d.location == "line 6"


# --------------------------------------------------------------------------- processes


def test_target_called_in_parent() -> None:
    code = """
    import multiprocessing
    def show(n):
        print(n)
    if __name__ == "__main__":
        for i in range(4):
            p = multiprocessing.Process(target=show(i))
            p.start()
    """
    kids = tuple(child(101 + i, None) for i in range(4))
    ctx = make_ctx(code, processes=(MAIN,) + kids,
                   lines=tuple(OutputLine(100, "stdout", str(i)) for i in range(4)))
    d = find(diagnose(ctx), "target_called_in_parent")
    assert d.location == "line 6"
    assert d.explanation.startswith("`target=show(i)` runs `show` immediately in the main process")
    assert "`target=show, args=(...,)`" in d.fix


SEQUENTIAL = """
import multiprocessing
def show(n):
    print(n)
if __name__ == "__main__":
    for i in range(4):
        p = multiprocessing.Process(target=show, args=(i,))
        p.start()
        p.join()
"""


def test_sequential_start_join_is_a_warning() -> None:
    kids = tuple(child(101 + i, "__main__.show", started_at=0.1 * i, ended_at=0.1 * i + 0.05) for i in range(4))
    ctx = make_ctx(SEQUENTIAL, processes=(MAIN,) + kids,
                   lines=tuple(OutputLine(101 + i, "stdout", str(i)) for i in range(4)))
    d = find(diagnose(ctx), "sequential_start_join")
    assert d.severity == "warning" and d.location == "line 5"
    assert "ran one after the other" in d.explanation


def test_sequential_seen_in_the_trace_alone() -> None:
    code = """
    import multiprocessing
    def show(n):
        print(n)
    def run(i):
        p = multiprocessing.Process(target=show, args=(i,))
        p.start()
        p.join()
    if __name__ == "__main__":
        run(0)
        run(1)
    """
    kids = (child(101, "__main__.show", started_at=0.0, ended_at=0.3),
            child(102, "__main__.show", started_at=0.31, ended_at=0.6))
    assert find(diagnose(make_ctx(code, processes=(MAIN,) + kids)), "sequential_start_join").location == ""


def test_a_quick_child_ending_before_the_next_starts_is_not_sequential() -> None:
    # The example's sender often exits before the receiver is forked: no join in between.
    kids = (child(101, "__main__.sender", started_at=0.0, ended_at=0.004),
            child(102, "__main__.receive", started_at=0.005, ended_at=0.3))
    assert "sequential_start_join" not in [d.code for d in diagnose(make_ctx(Q6_EXAMPLE, processes=(MAIN,) + kids))]


def test_parallel_children_are_not_sequential() -> None:
    code = SEQUENTIAL.replace("        p.join()\n", "")
    kids = tuple(child(101 + i, "__main__.show", started_at=0.01 * i, ended_at=0.2) for i in range(4))
    assert diagnose(make_ctx(code, processes=(MAIN,) + kids)) == ()


def test_daemon_killed_before_printing() -> None:
    code = """
    import multiprocessing, time
    def show(n):
        time.sleep(0.5)
        print(n)
    if __name__ == "__main__":
        for i in range(4):
            multiprocessing.Process(target=show, args=(i,), daemon=True).start()
        print("main done")
    """
    kids = tuple(child(101 + i, "__main__.show", exitcode=-15, daemon=True) for i in range(4))
    ctx = make_ctx(code, processes=(MAIN,) + kids, lines=(OutputLine(100, "stdout", "main done"),))
    d = find(diagnose(ctx), "daemon_killed")
    assert d.location == "line 7" and "terminated as soon as the main process ends" in d.explanation
    assert "join()" in d.fix


def test_threads_not_processes() -> None:
    code = """
    import threading
    def show(n):
        print(n)
    for i in range(4):
        threading.Thread(target=show, args=(i,)).start()
    """
    ctx = make_ctx(code, threads=4, lines=tuple(OutputLine(100, "stdout", str(i)) for i in range(4)))
    diags = diagnose(ctx)
    d = find(diags, "threads_not_processes")
    assert d.location == "line 5" and "one Python process" in d.explanation
    assert "multiprocessing.Process" in d.fix
    assert "printed_without_process" not in [x.code for x in diags]


def test_printed_without_process() -> None:
    code = """
    for i in range(4):
        print(i)
    """
    ctx = make_ctx(code, lines=tuple(OutputLine(100, "stdout", str(i)) for i in range(4)))
    d = find(diagnose(ctx), "printed_without_process")
    assert d.explanation == "The output (4 lines) was printed by the main process; no child process ran."
    assert "Process(target=f" in d.fix


def test_guard_global_read_by_a_child_is_fork_only() -> None:
    code = """
    import multiprocessing
    def show():
        print(numbers)
    if __name__ == "__main__":
        numbers = [1, 2, 3]
        p = multiprocessing.Process(target=show)
        p.start()
        p.join()
    """
    ctx = make_ctx(code, processes=(MAIN, child(101, "__main__.show")),
                   lines=(OutputLine(101, "stdout", "[1, 2, 3]"),))
    d = find(diagnose(ctx), "fork_only")
    assert "`show` reads `numbers`" in d.explanation and "args=(...)" in d.fix


def test_lambda_target_under_fork_is_fork_only() -> None:
    code = """
    import multiprocessing
    if __name__ == "__main__":
        p = multiprocessing.Process(target=lambda: print(1))
        p.start()
        p.join()
    """
    ctx = make_ctx(code, processes=(MAIN, child(101, "__main__.<lambda>")))
    diags = diagnose(ctx)
    assert find(diags, "fork_only").location == "line 3"
    assert "unpicklable_callable" not in [d.code for d in diags]


# --------------------------------------------------------------------------- generic limits


def test_generic_time_limit_memory_process_and_output() -> None:
    code = """
    import multiprocessing
    def spin():
        while True:
            pass
    if __name__ == "__main__":
        p = multiprocessing.Process(target=spin)
        p.start()
        p.join()
    """
    kids = (MAIN, child(101, "__main__.spin", exitcode=None))
    for limit, words in (("time_limit", "Stopped after 10 s (the time limit for this question)."),
                         ("memory", "more memory than allowed"),
                         ("process_limit", "more processes than allowed"),
                         ("output_limit", "printed more than allowed")):
        ctx = make_ctx(code, processes=kids, exit_code=None, limit=limit,
                       limit_detail=words if limit == "time_limit" else "")
        d = find(diagnose(ctx), limit)
        assert words in d.explanation and d.fix


def test_a_healthy_run_has_no_diagnosis_and_no_run_none() -> None:
    code = """
    import multiprocessing
    def show(n):
        print(n)
    if __name__ == "__main__":
        ps = [multiprocessing.Process(target=show, args=(i,)) for i in range(4)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
    """
    kids = tuple(child(101 + i, "__main__.show", started_at=0.01 * i, ended_at=0.1) for i in range(4))
    ctx = make_ctx(code, processes=(MAIN,) + kids,
                   lines=tuple(OutputLine(101 + i, "stdout", str(i)) for i in range(4)))
    assert diagnose(ctx) == ()
    assert diagnose(CheckContext(ctx.question, ctx.answer, ctx.script, None, ctx.trace)) == ()
