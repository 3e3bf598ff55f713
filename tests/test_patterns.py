"""Each known failure pattern, really run end to end, gets its named explanation."""

from __future__ import annotations

import multiprocessing

import pytest
from conftest import EXAMPLE, by_id, check_json

PIPE_HANG = EXAMPLE  # the example's Q6: receiver inherited the write end under fork


def codes(question: dict) -> list[str]:
    return [d["code"] for d in question["diagnoses"]]


def test_example_q6_names_the_inherited_write_end_and_the_line() -> None:
    _, result = check_json(PIPE_HANG, "-q", "Q6", "--start-method", "fork")
    q6 = by_id(result)["Q6"]
    assert q6["status"] == "timeout" and q6["reason"] == "deadlock"
    # stopped by the deadlock watcher (every process waiting), not by the time limit
    assert q6["run"]["reason"] == "deadlock" and q6["run"]["reason_detail"].endswith(": a deadlock.")
    assert "pipe_inherited_write_end" in codes(q6)
    diag = next(d for d in q6["diagnoses"] if d["code"] == "pipe_inherited_write_end")
    assert "line 11" in diag["explanation"] + diag["location"]  # `msg = conn.recv()` in the cell
    assert "write end" in diag["explanation"]
    receiver = [s for s in q6["run"]["stacks"] if any("recv" in f["function"] for f in s["frames"])]
    assert receiver and receiver[0]["wait"] == "read"


def test_same_pipe_code_ends_under_spawn() -> None:
    _, result = check_json(PIPE_HANG, "-q", "Q6", "--start-method", "spawn")
    q6 = by_id(result)["Q6"]
    assert q6["reason"] is None
    order = next(c for c in q6["checks"] if c["id"] == "pipe.order")
    assert order["passed"] and "order" in order["message"]


def _q(make_notebook, qid: str, code: str, *extra: str) -> dict:
    _, result = check_json(make_notebook(code={qid: code}), "-q", qid, "--timeout", "6", *extra)
    return by_id(result)[qid]


def test_queue_join_before_drain(make_notebook) -> None:
    code = """import multiprocessing

def produce(q):
    q.put("x" * 2_000_000)

if __name__ == "__main__":
    q = multiprocessing.Queue()
    p = multiprocessing.Process(target=produce, args=(q,))
    p.start()
    p.join()
    print(len(q.get()))
"""
    q3 = _q(make_notebook, "Q3", code)
    assert q3["status"] == "timeout"
    assert "queue_join_before_drain" in codes(q3)


def test_pool_worker_killed(make_notebook) -> None:
    code = """import multiprocessing, os

def cube(n):
    if n == 3:
        os._exit(1)
    return n ** 3

if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.map(cube, [1, 2, 3, 4]))
"""
    q5 = _q(make_notebook, "Q5", code)
    assert q5["status"] == "timeout"
    assert "pool_worker_killed" in codes(q5)


def test_missing_main_guard_under_spawn(make_notebook) -> None:
    code = """import multiprocessing

def cube(n):
    return n ** 3

pool = multiprocessing.Pool(2)
print(pool.map(cube, [1, 2, 3]))
"""
    q5 = _q(make_notebook, "Q5", code, "--start-method", "spawn")
    assert q5["status"] in ("timeout", "error")
    assert "missing_main_guard" in codes(q5)


def test_unpicklable_lambda(make_notebook) -> None:
    code = """import multiprocessing

if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.map(lambda n: n ** 3, [1, 2, 3]))
"""
    assert "unpicklable_callable" in codes(_q(make_notebook, "Q5", code))


def test_target_called_in_parent(make_notebook) -> None:
    code = """import multiprocessing

def show(n):
    print(n)

if __name__ == "__main__":
    procs = [multiprocessing.Process(target=show(i)) for i in range(1, 5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
"""
    q6 = _q(make_notebook, "Q6", code)
    assert q6["status"] != "passed"
    assert "target_called_in_parent" in codes(q6)


def test_start_join_in_one_loop_is_a_warning_not_a_failure(make_notebook) -> None:
    code = """import multiprocessing, time

def show(n):
    time.sleep(0.1)
    print(n)

if __name__ == "__main__":
    for i in range(1, 5):
        p = multiprocessing.Process(target=show, args=(i,))
        p.start()
        p.join()
"""
    q6 = _q(make_notebook, "Q6", code)
    assert q6["status"] == "passed"
    warning = next(d for d in q6["diagnoses"] if d["code"] == "sequential_start_join")
    assert warning["severity"] == "warning"


def test_daemon_killed_before_printing(make_notebook) -> None:
    code = """import multiprocessing, time

def greet():
    time.sleep(0.5)
    print("hello from the child")

if __name__ == "__main__":
    p = multiprocessing.Process(target=greet, daemon=True)
    p.start()
    print("main is done")
"""
    q3 = _q(make_notebook, "Q3", code)
    assert q3["status"] != "passed"
    assert "daemon_killed" in codes(q3)


def test_threads_instead_of_processes(make_notebook) -> None:
    code = """import threading

def greet():
    print("hello")

t = threading.Thread(target=greet)
t.start()
t.join()
"""
    assert "threads_not_processes" in codes(_q(make_notebook, "Q3", code))


def test_output_without_any_process(make_notebook) -> None:
    code = 'print("this is my main prog")\nprint("this is my multiprocessing prog")\n'
    assert "printed_without_process" in codes(_q(make_notebook, "Q3", code))


@pytest.mark.parametrize("body", ["time.sleep(2.5)", "sum(i * i for i in range(12_000_000))"])
def test_sleep_or_compute_is_not_a_deadlock(make_notebook, body: str) -> None:
    code = f"""import multiprocessing, time

def greet():
    {body}
    print("hello from the child")

if __name__ == "__main__":
    p = multiprocessing.Process(target=greet)
    p.start()
    p.join()
"""
    q3 = _q(make_notebook, "Q3", code)
    assert q3["reason"] is None, q3["run"]["reason_detail"]
    assert q3["status"] == "passed"


def test_portability_shows_spawn_failing_without_a_guard(make_notebook) -> None:
    code = """import multiprocessing

def greet():
    print("hello from the child")

p = multiprocessing.Process(target=greet)
p.start()
p.join()
"""
    q3 = _q(make_notebook, "Q3", code, "--portability", "--start-method", "fork")
    matrix = q3["portability"]
    assert matrix["fork"]["status"] == "passed"
    assert matrix["spawn"]["status"] != "passed"
    assert "guard" in matrix["spawn"]["reason"].lower() or "__main__" in matrix["spawn"]["reason"]
    assert any(d["severity"] == "warning" and "spawn" in d["title"] for d in q3["diagnoses"])
    from conftest import run_cli

    text = run_cli("check", str(make_notebook("text.ipynb", code={"Q3": code})), "-q", "Q3",
                   "--portability", "--start-method", "fork").stdout
    assert "Start-method portability" in text and "forkserver" in text


def test_a_race_is_reported_as_a_race(make_notebook, tmp_path) -> None:
    """One run prints the same number four times, the next four different numbers (a toggle
    file outside the scratch dir stands in for timing): the race is named and the lower
    result counts."""
    toggle = tmp_path / "toggle"
    code = f"""import multiprocessing, os

def show(n):
    print(n)

if __name__ == "__main__":
    lucky = os.path.exists({str(toggle)!r})
    open({str(toggle)!r}, "a").close()
    procs = [multiprocessing.Process(target=show, args=(i if lucky else 1,)) for i in range(1, 5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
"""
    q6 = _q(make_notebook, "Q6", code, "--isolation", "plain")
    assert toggle.exists()
    assert "race" in codes(q6), q6["diagnoses"]
    distinct = next(c for c in q6["checks"] if c["id"] == "process.distinct_numbers")
    assert not distinct["passed"]
    assert q6["status"] == "partial"


@pytest.mark.parametrize("processes", [0, 2])
def test_only_an_answer_that_ran_concurrently_runs_again(make_notebook, tmp_path, processes) -> None:
    """A failing answer that ran as one process (no child, pool or thread) has nothing to
    race: it runs once. With processes it runs a second time. Each run leaves a line."""
    runs = tmp_path / "runs"
    code = f"""import multiprocessing

def show(n):
    print(1)

if __name__ == "__main__":
    open({str(runs)!r}, "a").write("run\\n")
    procs = [multiprocessing.Process(target=show, args=(i,)) for i in range({processes})]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print(1)
"""
    _, result = check_json(make_notebook(code={"Q6": code}), "-q", "Q6", "--isolation", "plain")
    assert by_id(result)["Q6"]["status"] in ("partial", "failed")
    expected = 2 if processes or result["environment"]["observer"] != "proc_connector" else 1
    assert runs.read_text().count("run") == expected


def test_a_race_whose_second_run_is_worse_keeps_the_portability_matrix(make_notebook, tmp_path) -> None:
    """The race re-run is one more planned run: the lower result counts, and the matrix of the
    other start methods stays (a flag file per start method stands in for timing)."""
    code = f"""import multiprocessing, os

def show(n, loud):
    if loud:
        print(n)

if __name__ == "__main__":
    flag = os.path.join({str(tmp_path)!r}, multiprocessing.get_start_method())
    again = os.path.exists(flag)
    open(flag, "a").close()
    procs = [multiprocessing.Process(target=show, args=(1, not again)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
"""
    q6 = _q(make_notebook, "Q6", code, "--isolation", "plain", "--start-method", "fork",
            "--portability")
    assert "race" in codes(q6), q6["diagnoses"]
    printed = next(c for c in q6["checks"] if c["id"] == "process.each_printed_number")
    assert not printed["passed"]  # the second, worse run counts
    assert set(q6["portability"]) == set(multiprocessing.get_all_start_methods())
    assert q6["portability"]["fork"]["status"] == "partial"


def test_every_format_shows_where_the_hung_processes_were(tmp_path) -> None:
    from conftest import run_cli

    for fmt in ("text", "markdown", "html", "gradescope", "json"):
        out = tmp_path / f"q6.{fmt}"
        verbose = ["-v"] if fmt == "text" else []  # the terse terminal names the line only
        proc = run_cli("check", str(EXAMPLE), "-q", "Q6", "--start-method", "fork",
                       "--format", fmt, "-o", str(out), *verbose)
        assert proc.returncode == 1, proc.stderr
        text = out.read_text()
        assert "conn.recv()" in text and "wait4" in text and "read" in text, fmt
        if fmt == "text":
            terse = run_cli("check", str(EXAMPLE), "-q", "Q6", "--start-method", "fork")
            assert "conn.recv()" in terse.stdout and "m2.join()" in terse.stdout
