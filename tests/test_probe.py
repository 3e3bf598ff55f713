"""The probe, end to end: real interpreters run student-like scripts with the probe on
PYTHONPATH, and parse_trace turns what they wrote into a Trace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from conftest import EXAMPLE_Q6

from mpgrade.model import ObservedProcess, RunResult, Trace
from mpgrade.probe.trace import parse_trace
from mpgrade.resources import probe_dir

METHODS = ("fork", "spawn", "forkserver")
TIMEOUT = 30


def _env(tmp_path: Path, method: str | None, probe: bool = True) -> dict[str, str]:
    """A clean environment like the sandbox's: unbuffered, so children's output interleaves."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), "PYTHONPATH": str(probe_dir()),
           "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
    if probe:
        (tmp_path / "meta").mkdir(exist_ok=True)
        env["MPGRADE_TRACE"] = str(tmp_path / "trace.jsonl")
        env["MPGRADE_META"] = str(tmp_path / "meta")
    if method:
        env["MPGRADE_START_METHOD"] = method
    return env


def _script(tmp_path: Path, code: str) -> Path:
    path = tmp_path / "answer.py"
    path.write_text(textwrap.dedent(code))
    return path


def _trace_lines(tmp_path: Path) -> tuple[str, ...]:
    path = tmp_path / "trace.jsonl"
    return tuple(path.read_text(errors="replace").splitlines()) if path.exists() else ()


def _claimed_pids(lines: tuple[str, ...]) -> list[int]:
    """Every pid the trace names, in order of appearance: the script's own first."""
    pids: dict[int, None] = {}
    for line in lines:
        event = json.loads(line)
        pids[event["pid"]] = None
        if "child" in event:
            pids[event["child"]] = None
    return list(pids)


def run(tmp_path: Path, code: str, method: str | None = None,
        python: str = sys.executable) -> tuple[subprocess.CompletedProcess, Trace]:
    """Run a script with the probe and parse its trace.

    These tests are about what the probe records, so the supervisor's view is taken to
    be every pid the trace names; confirmation itself is tested with real observation.
    """
    proc = subprocess.run([python, str(_script(tmp_path, code))], cwd=tmp_path,
                          env=_env(tmp_path, method), capture_output=True, text=True,
                          timeout=TIMEOUT)
    lines = _trace_lines(tmp_path)
    observed = tuple(ObservedProcess(pid=pid, ppid=0) for pid in _claimed_pids(lines))
    result = RunResult(exit_code=proc.returncode, stdout=proc.stdout, stderr=proc.stderr,
                       duration_s=0.0, observed=observed, observer="proc_connector",
                       trace_lines=lines)
    return proc, parse_trace(result)


# --------------------------------------------------------------------------- processes


@pytest.mark.parametrize("method", METHODS)
def test_one_process_printing(tmp_path, method):
    proc, trace = run(tmp_path, """
        import multiprocessing

        def test():
            print("this is my multiprocessing prog")

        if __name__ == "__main__":
            m = multiprocessing.Process(target=test)
            print("this is my main prog")
            m.start()
            m.join()
    """, method)
    assert proc.returncode == 0, proc.stderr
    assert trace.start_method == method
    [main] = [p for p in trace.processes if p.role == "main"]
    [child] = trace.children()
    assert child.target == "test" and child.exitcode == 0 and child.confirmed
    # ppid is the kernel's parent: under forkserver, the fork server forks the child
    parent = main if method != "forkserver" else next(
        p for p in trace.processes if p.role == "helper" and p.name == "forkserver")
    assert child.ppid == parent.pid
    by_text = {ln.text: ln.pid for ln in trace.lines}
    assert by_text == {"this is my main prog": main.pid,
                       "this is my multiprocessing prog": child.pid}
    assert not trace.rejected


@pytest.mark.parametrize("method", METHODS)
def test_four_processes_each_print_a_number(tmp_path, method):
    proc, trace = run(tmp_path, """
        import multiprocessing

        def show(n):
            print(n)

        if __name__ == "__main__":
            ps = [multiprocessing.Process(target=show, args=(i,)) for i in range(4)]
            for p in ps:
                p.start()
            for p in ps:
                p.join()
    """, method)
    assert proc.returncode == 0, proc.stderr
    kids = trace.children()
    assert len(kids) == 4 and all(p.confirmed and p.exitcode == 0 for p in kids)
    assert sorted(p.args for p in kids) == ["(0,)", "(1,)", "(2,)", "(3,)"]
    printed = {ln.text: ln.pid for ln in trace.lines}
    assert sorted(printed) == ["0", "1", "2", "3"]
    assert set(printed.values()) == {p.pid for p in kids}
    helpers = [p for p in trace.processes if p.role == "helper"]
    assert (method == "forkserver") == any(p.name == "forkserver" for p in helpers)


def test_target_called_in_parent_is_none(tmp_path):
    proc, trace = run(tmp_path, """
        import multiprocessing

        def f(x):
            print("called", x)

        if __name__ == "__main__":
            p = multiprocessing.Process(target=f(3))
            p.start()
            p.join()
    """, "fork")
    [child] = trace.children()
    assert child.target is None
    [line] = trace.lines
    assert line.text == "called 3" and line.pid != child.pid


def test_partial_lines_and_the_event_cap(tmp_path):
    proc, trace = run(tmp_path, """
        import multiprocessing, sys

        def tail():
            print("child without newline", end="")

        if __name__ == "__main__":
            for i in range(5003):
                print(i, file=sys.stderr)
            p = multiprocessing.Process(target=tail)
            p.start()
            p.join()
            print("main without newline", end="")
    """, "fork")
    assert proc.returncode == 0, proc.stderr
    [child] = trace.children()
    last = {ln.pid: ln.text for ln in trace.lines if ln.stream == "stdout"}
    assert last[child.pid] == "child without newline"
    assert "main without newline" in last.values()
    assert len([ln for ln in trace.lines if ln.stream == "stderr"]) == 5000
    assert trace.capped == ("stderr",) and not trace.rejected  # the probe's own cap: no forgery


def test_set_start_method_in_student_code_still_works(tmp_path):
    proc, trace = run(tmp_path, """
        import multiprocessing

        def g():
            print("in", multiprocessing.current_process().name)

        if __name__ == "__main__":
            print("before", multiprocessing.get_start_method(allow_none=True))
            multiprocessing.set_start_method("spawn")
            print(multiprocessing.get_start_method())
            p = multiprocessing.Process(target=g)
            p.start()
            p.join()
            q = multiprocessing.get_context("fork").Process(target=g)
            q.start()
            q.join()
    """, "forkserver")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:2] == ["before None", "spawn"]
    assert trace.start_method == "spawn"
    assert len(trace.children()) == 2
    assert {ln.text for ln in trace.lines} >= {"in Process-1", "in ForkProcess-2"}


def test_start_method_from_environment_is_the_default(tmp_path):
    proc, trace = run(tmp_path, """
        import multiprocessing

        if __name__ == "__main__":
            print(multiprocessing.get_start_method())
            p = multiprocessing.Process(target=print, args=("child",))
            p.start()
            p.join()
    """, "spawn")
    assert proc.stdout.splitlines()[0] == "spawn"
    assert trace.start_method == "spawn" and trace.children()[0].target == "print"


def test_process_subclass_and_manager_server(tmp_path):
    proc, trace = run(tmp_path, """
        import multiprocessing

        class Worker(multiprocessing.Process):
            def run(self):
                print("subclass ran")

        def fill(d):
            d["x"] = 1

        if __name__ == "__main__":
            w = Worker()
            w.start()
            w.join()
            with multiprocessing.Manager() as manager:
                d = manager.dict()
                p = multiprocessing.Process(target=fill, args=(d,))
                p.start()
                p.join()
                print(dict(d))
    """, "fork")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.target for p in trace.children()) == ["Worker.run", "fill"]
    [server] = [p for p in trace.processes if p.role == "helper"]
    assert "managers" in (server.target or "")
    assert trace.messages == () and [ln.text for ln in trace.lines][-1] == "{'x': 1}"


# --------------------------------------------------------------------------- pools


@pytest.mark.parametrize("method", METHODS)
def test_pool_map_records_tasks(tmp_path, method):
    proc, trace = run(tmp_path, """
        import multiprocessing

        def square(n):
            return n ** 2

        if __name__ == "__main__":
            with multiprocessing.Pool(processes=3) as pool:
                print(pool.map(square, [2, 2, 3, 4, 5, 5, 45, 6, 7]))
    """, method)
    assert proc.returncode == 0, proc.stderr
    [pool] = trace.pools
    assert (pool.size, pool.kind, pool.calls) == (3, "process", ("map",))
    workers = {p.pid for p in trace.processes if p.role == "pool_worker"}
    assert len(workers) == 3
    assert sorted((int(t.input), int(t.result)) for t in trace.tasks) == sorted(
        (n, n * n) for n in [2, 2, 3, 4, 5, 5, 45, 6, 7])
    assert all(t.func == "square" and t.pool_id == pool.id for t in trace.tasks)
    assert {t.worker_pid for t in trace.tasks} <= workers
    assert trace.lines[0].text == "[4, 4, 9, 16, 25, 25, 2025, 36, 49]"


def test_pool_apply_async_imap_unordered_and_errors(tmp_path):
    proc, trace = run(tmp_path, """
        import multiprocessing

        def cube(n):
            if n < 0:
                raise ValueError("negative")
            return n ** 3

        if __name__ == "__main__":
            with multiprocessing.Pool(2) as pool:
                print(pool.apply_async(cube, (3,)).get())
                print(sorted(pool.imap_unordered(cube, range(4))))
                print(pool.starmap(pow, [(2, 5)]))
                try:
                    pool.apply(cube, (-1,))
                except ValueError as e:
                    print("error", e)
    """, "spawn")
    assert proc.returncode == 0, proc.stderr
    [pool] = trace.pools
    assert pool.calls == ("apply_async", "imap_unordered", "starmap", "apply")
    got = {(t.func, t.input): (t.result, t.error) for t in trace.tasks}
    assert got[("cube", "3")] == ("27", None)
    assert {got[("cube", str(n))][0] for n in range(4)} == {"0", "1", "8", "27"}
    assert got[("pow", "(2, 5)")] == ("32", None)
    assert got[("cube", "-1")] == (None, "ValueError('negative')")
    assert proc.stdout.splitlines()[-1] == "error negative"


def test_lambda_in_pool_map_raises_the_same_pickling_error(tmp_path):
    code = """
        import multiprocessing

        if __name__ == "__main__":
            with multiprocessing.Pool(2) as pool:
                pool.map(lambda x: x * x, [1, 2, 3])
    """
    script = _script(tmp_path, code)
    with_probe = subprocess.run([sys.executable, str(script)], env=_env(tmp_path, "fork"),
                                capture_output=True, text=True, timeout=TIMEOUT)
    without = subprocess.run([sys.executable, str(script)], env=_env(tmp_path, None, probe=False),
                             capture_output=True, text=True, timeout=TIMEOUT)
    last = [r.stderr.strip().splitlines()[-1].split(" at 0x")[0] for r in (with_probe, without)]
    assert last[0] == last[1] and "PicklingError" in last[0]
    assert with_probe.returncode == without.returncode == 1
    events = [json.loads(line) for line in _trace_lines(tmp_path)]
    assert any(e["e"] == "pcall" and e["func"] == "<lambda>" for e in events)


def test_threads_and_thread_pool_are_seen(tmp_path):
    proc, trace = run(tmp_path, """
        import threading
        from multiprocessing.pool import ThreadPool

        def work(n):
            print("thread", n)

        if __name__ == "__main__":
            ts = [threading.Thread(target=work, args=(i,)) for i in range(3)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            with ThreadPool(2) as tp:
                print(tp.map(abs, [-1, -2]))
    """)
    assert proc.returncode == 0, proc.stderr
    assert trace.threads_started == 3  # the ThreadPool's own threads are not the student's
    [pool] = trace.pools
    assert pool.kind == "thread" and pool.calls == ("map",)
    assert {t.input for t in trace.tasks} == {"-1", "-2"}
    assert len({ln.pid for ln in trace.lines}) == 1 and not trace.children()


# --------------------------------------------------------------------------- pipes and queues

PIPE_EXAMPLE = "\n" + textwrap.indent(EXAMPLE_Q6, "    ")  # indented like the others
SENT = ["1", "2", "3", "4", "[5, 6, 7]", "8", "9", "10", "[11, 12, 13, 14]"]


@pytest.mark.parametrize("method", ("spawn", "forkserver"))
def test_pipe_sender_receiver(tmp_path, method):
    proc, trace = run(tmp_path, PIPE_EXAMPLE, method)
    assert proc.returncode == 0, proc.stderr
    kids = {p.target: p.pid for p in trace.children()}
    assert sorted(p.args for p in trace.children()) == [
        "(<Connection>, [1, 2, 3, 4, [5, 6, 7], 8, 9, 10, [11, 12, 13, 14]])", "(<Connection>,)"]
    assert {m.channel for m in trace.messages} == {"pipe-1"}
    sends = [m for m in trace.messages if m.op == "send"]
    recvs = [m for m in trace.messages if m.op == "recv"]
    assert [m.value for m in sends] == SENT and {m.pid for m in sends} == {kids["sender"]}
    assert [m.value for m in recvs] == SENT and {m.pid for m in recvs} == {kids["receive"]}
    assert all(s.t <= r.t for s, r in zip(sends, recvs, strict=True))
    [eof] = trace.channel_errors
    assert (eof.op, eof.error, eof.pid) == ("recv", "EOFError", kids["receive"])
    printed = [ln.text for ln in trace.lines if ln.pid == kids["receive"]]
    assert printed == [*SENT, ""]  # print(e) of the EOFError: an empty line


@pytest.mark.parametrize("method", ("fork", "spawn"))
def test_queue_producer_consumer(tmp_path, method):
    proc, trace = run(tmp_path, """
        import multiprocessing

        def producer(q):
            for i in range(3):
                q.put(i * 10)
            q.put(None)

        def consumer(q, done):
            while (item := q.get()) is not None:
                print("got", item)
            done.put("finished")

        if __name__ == "__main__":
            q, done = multiprocessing.Queue(), multiprocessing.SimpleQueue()
            ps = [multiprocessing.Process(target=producer, args=(q,)),
                  multiprocessing.Process(target=consumer, args=(q, done))]
            for p in ps:
                p.start()
            print(done.get())
            for p in ps:
                p.join()
    """, method)
    assert proc.returncode == 0, proc.stderr
    kids = {p.target: p.pid for p in trace.children()}
    queue = [m for m in trace.messages if m.channel == "queue-1"]
    assert [(m.op, m.value, m.pid) for m in queue if m.op == "send"] == [
        ("send", v, kids["producer"]) for v in ("0", "10", "20", "None")]
    assert [m.value for m in queue if m.op == "recv"] == ["0", "10", "20", "None"]
    done = [(m.op, m.value) for m in trace.messages if m.channel == "queue-2"]
    assert done == [("send", "'finished'"), ("recv", "'finished'")]
    assert {m.kind for m in trace.messages} == {"queue"}


# --------------------------------------------------------------------------- trust


FORGER = """
    import json, os, time, multiprocessing

    def work(n):
        time.sleep(0.5)
        print("real", n, flush=True)

    if __name__ == "__main__":
        ps = [multiprocessing.Process(target=work, args=(i,)) for i in range(2)]
        for p in ps:
            p.start()
        fd = os.open(os.environ["MPGRADE_TRACE"], os.O_WRONLY | os.O_APPEND)
        def forge(**event):
            os.write(fd, (json.dumps(dict(t=time.monotonic(), **event)) + "\\n").encode())
        for fake in (4194001, 4194002):
            forge(e="start", pid=os.getpid(), child=fake, name="Fake", target="work",
                  args="(9,)", daemon=False, method="fork")
            forge(e="begin", pid=fake, ppid=os.getpid(), name="Fake", target="work")
            forge(e="out", pid=fake, s="stdout", text=f"forged by {fake}")
        forge(e="out", pid=ps[0].pid, s="stdout", text="never printed")
        forge(e="out", pid=ps[1].pid, s="stdout", text="real 1")  # a copy of a real line
        os.write(fd, b"not json\\n[1, 2]\\n" + b'{"e": "out", "pid": "x"}\\n' + b"x" * 20000 + b"\\n")
        for p in ps:
            p.join()
"""


def _supervise(tmp_path: Path, code: str) -> tuple[subprocess.CompletedProcess, list[int]]:
    """Run a script while watching its process tree with psutil, as a "poll" observer;
    the pids seen, the root (the process the supervisor started) first."""
    script = _script(tmp_path, code)
    with subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=_env(tmp_path, "fork"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as popen:
        seen = {popen.pid}
        root = psutil.Process(popen.pid)
        deadline = time.monotonic() + TIMEOUT
        while popen.poll() is None and time.monotonic() < deadline:
            try:
                seen.update(c.pid for c in root.children(recursive=True))
            except psutil.Error:
                pass
            time.sleep(0.01)
        out, err = popen.communicate(timeout=TIMEOUT)
    ordered = [popen.pid, *sorted(seen - {popen.pid})]
    return subprocess.CompletedProcess(popen.args, popen.returncode, out, err), ordered


@pytest.mark.parametrize("observer", ("proc_connector", "poll"))
def test_forged_trace_lines_are_rejected(tmp_path, observer):
    proc, seen = _supervise(tmp_path, FORGER)
    assert proc.returncode == 0, proc.stderr
    lines = _trace_lines(tmp_path)
    observed = tuple(ObservedProcess(pid=pid, ppid=0) for pid in seen)
    trace = parse_trace(RunResult(exit_code=0, stdout=proc.stdout, stderr=proc.stderr,
                                  duration_s=1.0, observed=observed, observer=observer,
                                  trace_lines=lines))
    real = {p.pid for p in trace.children() if p.confirmed}
    assert len(real) == 2 and real <= set(seen)
    fakes = [p for p in trace.children() if not p.confirmed]
    assert sorted(p.pid for p in fakes) == [4194001, 4194002]
    texts = sorted(ln.text for ln in trace.lines)
    assert texts == ["real 0", "real 1"]
    assert {ln.pid for ln in trace.lines} <= real
    reasons = " | ".join(trace.rejected)
    assert "4194001" in reasons and "never printed" in reasons
    assert "not JSON" in reasons and "oversized" in reasons and "bad pid" in reasons

    blind = parse_trace(RunResult(exit_code=0, stdout=proc.stdout, stderr=proc.stderr,
                                  duration_s=1.0, trace_lines=lines))
    assert not any(p.confirmed for p in blind.children()) and not blind.lines


def test_pids_in_a_namespace_and_confirmation_by_count():
    def line(**event):
        return json.dumps({"t": 1.0, **event})

    lines = (
        line(e="boot", pid=1, ppid=0, kind="python", v=1, py="3.11.7"),
        *(line(e="start", pid=1, child=c, name=f"Process-{c}", target="f", args="()",
               daemon=False, method="fork") for c in (2, 3, 4)),
        *(line(e="out", pid=c, s="stdout", text=str(c)) for c in (2, 3, 4)),
    )
    base = dict(exit_code=0, stdout="2\n3\n4\n", stderr="", duration_s=0.1, trace_lines=lines)
    mapped = tuple(ObservedProcess(pid=9000 + n, ppid=0, ns_pid=n) for n in (1, 2, 3, 4))
    trace = parse_trace(RunResult(**base, observed=mapped, observer="proc_connector"))
    assert all(p.confirmed for p in trace.processes) and len(trace.lines) == 3

    unmapped = tuple(ObservedProcess(pid=9000 + n, ppid=0) for n in (1, 2, 3))
    trace = parse_trace(RunResult(**base, observed=unmapped, observer="poll"))
    assert [p.confirmed for p in trace.processes] == [True, True, True, False]
    assert len(trace.lines) == 2 and any("Process-4" in r for r in trace.rejected)


def test_interleaved_output_is_confirmed_by_characters():
    def line(**event):
        return json.dumps({"t": 1.0, **event})

    lines = (
        line(e="boot", pid=1, ppid=0, kind="python", v=1, py="3.11.7"),
        *(line(e="start", pid=1, child=c, name=f"P{c}", target="f", args="()", daemon=False,
               method="spawn") for c in (2, 3)),
        line(e="out", pid=2, s="stdout", text="child 0"),
        line(e="out", pid=3, s="stdout", text="child 1"),
        line(e="out", pid=3, s="stdout", text="child 2"),
    )
    observed = tuple(ObservedProcess(pid=n, ppid=0) for n in (1, 2, 3))
    trace = parse_trace(RunResult(exit_code=0, stdout="childchild 1\n 0\n", stderr="",
                                  duration_s=0.1, observed=observed, trace_lines=lines))
    assert [(ln.pid, ln.text) for ln in trace.lines] == [(2, "child 0"), (3, "child 1")]
    assert any("child 2" in r for r in trace.rejected)


def test_garbage_never_raises():
    lines = ("", "{", "null", "[]", '{"e": 1}', '{"e": "out", "pid": 1, "t": "now"}',
             '{"e": "out", "pid": true, "t": 1}', '{"e": "boot", "pid": 1, "t": NaN}',
             '{"e": "start", "pid": 1, "t": 1, "child": -5}', "[" * 100000, "[" * 10000, "\x00" * 10,
             '{"e": "msg", "pid": 1, "t": 1, "ch": "nope", "kind": "pipe", "op": "send", '
             '"value": "1"}')
    trace = parse_trace(RunResult(exit_code=0, stdout="", stderr="", duration_s=0.0,
                                  trace_lines=lines))
    assert trace.messages == () and not any(p.confirmed for p in trace.processes)
    assert len(trace.rejected) >= 8


# --------------------------------------------------------------------------- stacks, absence


def test_sigusr1_writes_each_process_stack(tmp_path):
    script = _script(tmp_path, """
        import multiprocessing, time

        def sleeper():
            time.sleep(20)

        if __name__ == "__main__":
            p = multiprocessing.Process(target=sleeper)
            p.start()
            p.join()
    """)
    meta = tmp_path / "meta"
    with subprocess.Popen([sys.executable, str(script)], env=_env(tmp_path, "spawn"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          start_new_session=True) as popen:
        try:
            deadline = time.monotonic() + TIMEOUT
            child = None
            while child is None and time.monotonic() < deadline:
                events = [json.loads(x) for x in _trace_lines(tmp_path)]
                child = next((e["pid"] for e in events if e["e"] == "begin"), None)
                time.sleep(0.05)
            assert child is not None
            time.sleep(0.2)  # let the child reach time.sleep
            for pid in (popen.pid, child):
                os.kill(pid, signal.SIGUSR1)
            stacks = {pid: meta / f"stacks-{pid}.txt" for pid in (popen.pid, child)}
            while time.monotonic() < deadline and not all(
                    p.exists() and p.stat().st_size for p in stacks.values()):
                time.sleep(0.05)
            assert 'line 5 in sleeper' in stacks[child].read_text()
            assert "in <module>" in stacks[popen.pid].read_text()
            assert popen.poll() is None  # the signal did not kill anything
        finally:
            os.killpg(popen.pid, signal.SIGKILL)


def test_without_environment_the_probe_does_nothing(tmp_path):
    script = _script(tmp_path, """
        import signal, sys
        print(type(sys.stdout).__name__, sorted(type(f).__name__ for f in sys.meta_path))
        print("threading" in sys.modules, "multiprocessing" in sys.modules)
        print(signal.getsignal(signal.SIGUSR1))
        import multiprocessing.process as mp
        print(mp.BaseProcess.start.__code__.co_filename.endswith("process.py"))
    """)
    outputs = []
    for env in (_env(tmp_path, None, probe=False), {"PATH": os.environ.get("PATH", "")}):
        r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                           text=True, timeout=TIMEOUT)
        outputs.append((r.returncode, r.stdout, r.stderr))
    assert outputs[0] == outputs[1] and outputs[0][0] == 0
    assert not (tmp_path / "trace.jsonl").exists()


def test_the_probe_loads_no_module_the_program_does_not(tmp_path):
    """Every interpreter of a run loads the probe before the student's first line: what it
    imports beyond a built-in module is paid on every run. A printed line that needs
    escaping still makes a valid trace (``_json`` is loaded for it then)."""
    script = _script(tmp_path, """
        import sys
        sys.stdout.write(" ".join(sorted(sys.modules)) + chr(10))
    """)
    loaded = []
    for env in ({"PATH": os.environ.get("PATH", "")}, _env(tmp_path, None)):
        r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr
        loaded.append(set(r.stdout.split()))
    extra = loaded[1] - loaded[0] - {"_mpgrade_probe", "sitecustomize"}
    assert extra <= set(sys.builtin_module_names), extra - set(sys.builtin_module_names)
    _, trace = run(tmp_path, r"""print('say "hi"\\', chr(7))""")
    assert [line.text for line in trace.lines] == ['say "hi"\\ \x07']


def test_the_shadowed_sitecustomize_still_runs(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import builtins\nbuiltins.CHAINED = 'yes'\n")
    script = _script(tmp_path, "print(CHAINED)")
    for probe in (False, True):
        env = _env(tmp_path, None, probe=probe)
        env["PYTHONPATH"] += os.pathsep + str(site)
        r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                           text=True, timeout=TIMEOUT)
        assert r.stdout == "yes\n", r.stderr


def _other_pythons() -> list[str]:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = {}
    for exe in sorted(root.glob("3.1[0-3]*/bin/python3")):
        found.setdefault(exe.parent.parent.name.rsplit(".", 1)[0], str(exe))
    current = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return [exe for version, exe in found.items() if version != current]


@pytest.mark.parametrize("python", _other_pythons() or [pytest.param("", marks=pytest.mark.skip(
    reason="no other Python 3.10-3.13 installed"))])
def test_other_python_versions(tmp_path, python):
    proc, trace = run(tmp_path, PIPE_EXAMPLE.replace("if __name__", """
    def square(n):
        return n * n

    if __name__""").replace("    parent_conn.close()", """    parent_conn.close()
        with multiprocessing.Pool(2) as pool:
            print(pool.map(square, [1, 2]))"""), "spawn", python=python)
    assert proc.returncode == 0, proc.stderr
    assert [m.value for m in trace.messages if m.op == "recv"] == SENT
    assert sorted(t.result for t in trace.tasks) == ["1", "4"]
    assert len(trace.children()) == 2 and not trace.rejected
