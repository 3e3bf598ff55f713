"""The sandbox against real, bounded, adversarial scripts, for every backend this machine has.

"plain-degraded" is the plain backend with cgroups and the proc connector switched off: what
a non-root grader gets. After each run, /proc must hold no process of that run.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mpgrade.model import Limits, RunRequest, RunResult
from mpgrade.sandbox import capabilities, run, runner
from mpgrade.sandbox import observer as ob
from mpgrade.sandbox.cgroup import Layout
from mpgrade.sandbox.stacks import parse_dump

FIXTURES = Path(__file__).parent / "fixtures" / "sandbox"
CAPS = capabilities()
BACKENDS = ["plain", "plain-degraded"] + (["bwrap"] if CAPS.usable("bwrap") else [])
MAIN_BACKENDS = [b for b in BACKENDS if b != "plain-degraded"]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch) -> str:
    if request.param == "plain-degraded":
        monkeypatch.setattr(runner, "detect", lambda: Layout("none", {}))
        monkeypatch.setattr(runner, "connector_usable", lambda: False)
        return "plain"
    return request.param


@pytest.fixture(params=MAIN_BACKENDS)
def main_backend(request) -> str:
    return request.param


def processes_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                    found.append(int(name))
            except OSError:
                pass
    return found


def run_fixture(
    name: str, isolation: str, limits: Limits | None = None, **kw
) -> RunResult:
    """Run a fixture under a unique script name; assert nothing of it is left afterwards."""
    marker = f"t{uuid.uuid4().hex[:10]}"
    script = f"{marker}_{name}"
    source = (FIXTURES / name).read_text() if name.endswith(".py") else kw.pop("source")
    kw.setdefault("pythonpath", (str(FIXTURES),))
    req = RunRequest({script: source}, script, limits=limits or Limits(), isolation=isolation, **kw)
    result = run(req)
    assert result.leftover_processes == 0
    assert processes_with(marker) == []
    return result


def test_capabilities_describe_the_machine() -> None:
    assert CAPS.auto_backend in ("bwrap", "plain")
    assert "spawn" in CAPS.start_methods
    assert CAPS.cgroup in ("v1", "v2", "none")


def test_normal_run_captures_output_of_the_tree(backend: str) -> None:
    src = (
        "import multiprocessing as mp\n"
        "import sys\n"
        "def f(i):\n    sys.stdout.write(f'child {i}\\n')\n"
        "if __name__ == '__main__':\n"
        "    ps = [mp.Process(target=f, args=(i,)) for i in range(3)]\n"
        "    [p.start() for p in ps]; [p.join() for p in ps]\n"
        "    import sys; print('err', file=sys.stderr); print('done')\n"
    )
    r = run_fixture("normal", backend, source=src)
    assert r.exit_code == 0 and r.limit is None
    assert sorted(r.stdout.split("\n")[:3]) == ["child 0", "child 1", "child 2"]
    assert r.stdout.endswith("done\n") and r.stderr == "err\n"
    # The root and its three children, wrappers excluded; polling may miss 1 ms children.
    assert len(r.observed) == 4 if r.observer == "proc_connector" else len(r.observed) >= 1
    assert r.backend == backend


def test_closed_stdin_gives_eof_and_stdin_text_is_fed(main_backend: str) -> None:
    src = "try:\n    input()\nexcept EOFError:\n    print('eof')\n"
    r = run_fixture("stdin", main_backend, source=src)
    assert r.stdout == "eof\n"
    r = run_fixture("stdin", main_backend, source="print(input().upper())", stdin="hello\n")
    assert r.stdout == "HELLO\n"


def test_busy_loop_hits_time_limit_not_deadlock(main_backend: str) -> None:
    r = run_fixture("busy_loop.py", main_backend, Limits(wall_s=2))
    assert r.limit == "time_limit" and r.exit_code is None
    assert "2.0 s" in r.limit_detail
    assert r.duration_s >= 2.0  # not stopped before its limit
    assert r.cpu_s > 0.1  # the loop ran (how much CPU depends on the load of the machine)
    assert any(s.frames and s.frames[-1].function == "<module>" for s in r.stacks)


def test_pipe_deadlock_is_declared_quickly_with_stacks(backend: str) -> None:
    r = run_fixture("pipe_deadlock.py", backend, Limits(wall_s=8))
    print(f"deadlock declared after {r.duration_s:.2f} s ({backend})")
    # Declared by the detector, not by the 8 s limit (benchmarks/bench_deadlock.py times it).
    assert r.limit == "deadlock" and r.exit_code is None
    assert "deadlock" in r.limit_detail
    receiver = [s for s in r.stacks if any(f.function == "receive" for f in s.frames)]
    assert receiver, r.stacks
    assert receiver[0].frames[-1].function in ("_recv", "recv", "_recv_bytes")
    assert receiver[0].wait == "read"
    assert {s.wait for s in r.stacks} >= {"read", "wait4"}


def test_sleep_is_not_a_deadlock(main_backend: str) -> None:
    src = "import time\ntime.sleep(3)\nprint('woke')\n"
    r = run_fixture("sleep", main_backend, Limits(wall_s=5), source=src)
    assert r.limit is None and r.exit_code == 0 and r.stdout == "woke\n"


def test_fork_bomb_hits_process_limit(backend: str) -> None:
    r = run_fixture("fork_bomb.py", backend, Limits(wall_s=10, processes=32))
    assert r.limit == "process_limit", r  # stopped at the process cap, not at the wall limit
    assert "32 processes" in r.limit_detail
    if r.observer == "proc_connector":  # without a cgroup as root only a watchdog caps it
        assert len(r.observed) <= 2 * 32 + 8


def test_large_allocation_is_memory_and_grader_lives(main_backend: str) -> None:
    r = run_fixture("allocate.py", main_backend, Limits(memory_mb=512))
    assert r.limit == "memory" and "512 MB" in r.limit_detail
    assert "MemoryError" in r.stderr and r.exit_code == 1


@pytest.mark.memory_cgroup
def test_pool_worker_killed_for_memory_says_memory_not_timeout() -> None:
    # The kernel may reclaim for seconds before it kills a worker (the tree near its memory
    # limit, on a busy machine): the wall limit leaves room for that, and the verdict must
    # still be memory.
    r = run_fixture("pool_oom.py", "plain", Limits(memory_mb=700, wall_s=20))
    assert r.limit == "memory", r
    assert "waited for it forever" in r.limit_detail
    assert r.exit_code is None


def test_output_flood_is_cut(main_backend: str) -> None:
    r = run_fixture("flood.py", main_backend, Limits(output_bytes=200_000))
    assert r.limit == "output_limit" and r.stdout_truncated
    assert len(r.stdout) + len(r.stderr) <= 200_000
    assert r.stdout.startswith("x" * 1023 + "\n")


def test_setsid_child_and_orphan_are_killed(backend: str) -> None:
    r = run_fixture("setsid_escape.py", backend, Limits(wall_s=10))
    # Ended with its main process (the run did not wait for the escaped orphans until the limit).
    assert r.exit_code == 0 and r.stdout == "parent done\n" and r.limit is None
    assert len(r.observed) >= 2


def test_cpu_limit(main_backend: str) -> None:
    r = run_fixture("busy_loop.py", main_backend, Limits(wall_s=8, cpu_s=1))
    assert r.limit == "cpu_limit", r


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pool_queue_lock_work(main_backend: str, method: str) -> None:
    r = run_fixture("mp_primitives.py", main_backend, Limits(wall_s=20), env={"METHOD": method})
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "[0, 1, 4, 9, 16] [0, 1, 2]\n"


def test_environment_is_scrubbed(main_backend: str, monkeypatch) -> None:
    monkeypatch.setenv("MPGRADE_SECRET_TOKEN", "s3cret")
    monkeypatch.setenv("PYTHONHOME", "/nonexistent")
    src = "import json, os, sys\njson.dump(dict(os.environ), sys.stdout)\n"
    r = run_fixture("env", main_backend, source=src, env={"EXTRA": "1"})
    env = json.loads(r.stdout)
    assert "s3cret" not in r.stdout and "MPGRADE_SECRET_TOKEN" not in env
    assert "PYTHONHOME" not in env and "VIRTUAL_ENV" not in env
    assert env["EXTRA"] == "1" and env["LC_ALL"] == "C.UTF-8"
    # The probe alone: the grader's site-packages come from the environment's .pth, after the stdlib.
    assert env["PYTHONPATH"] == str(FIXTURES)
    assert os.path.basename(env["MPGRADE_TRACE"]) == "trace.jsonl"


def test_trace_lines_are_read_back(main_backend: str) -> None:
    src = (
        "import os\n"
        "with open(os.environ['MPGRADE_TRACE'], 'a') as f:\n"
        "    f.write('{\"event\": 1}\\n{\"event\": 2}\\n')\n"
    )
    r = run_fixture("trace", main_backend, source=src)
    assert r.trace_lines == ('{"event": 1}', '{"event": 2}')


@pytest.mark.bwrap
def test_bwrap_hides_host_and_network() -> None:
    marker = uuid.uuid4().hex
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    env = {
        "MARKER": marker,
        "PORT": str(listener.getsockname()[1]),
        "HOST_FILE": str(Path(__file__).resolve().parent.parent / "pyproject.toml"),
    }
    try:
        r = run_fixture("escape_attempts.py", "bwrap", env=env)
    finally:
        listener.close()
    out = json.loads(r.stdout)
    assert out["uid"] == 65534 and out["cap_eff"] == "0000000000000000"
    assert out["connect"] != "ok"
    assert out["repo"] == "FileNotFoundError" and out["passwd"] == "FileNotFoundError"
    assert out["root_dir"] in ([], [".pyenv"], "FileNotFoundError")
    assert out["pids"] == [1, 2]  # its own pid namespace: bwrap's init and the script
    assert not Path(f"/tmp/leak-{marker}").exists()
    assert not list(Path("/tmp").glob(f"mpgrade-run-*/work/leak-{marker}"))
    assert not (Path.home() / f"leak-{marker}").exists()


def test_script_must_stay_in_the_work_dir() -> None:
    with pytest.raises(ValueError):
        run(RunRequest({"../x.py": "print(1)"}, "../x.py", isolation="plain"))


def test_parse_dump_keeps_main_thread_innermost_last() -> None:
    dump = (
        "Thread 0x00007f01 (most recent call first):\n"
        '  File "/x/threading.py", line 320 in wait\n'
        "\n"
        "Current thread 0x00007f00 (most recent call first):\n"
        '  File "/x/connection.py", line 395 in _recv\n'
        '  File "/w/a.py", line 12 in receive\n'
        '  File "/w/a.py", line 30 in <module>\n'
    )
    frames = parse_dump(dump)
    assert [f.function for f in frames] == ["<module>", "receive", "_recv"]
    assert frames[1].line == 12 and frames[1].file == "/w/a.py"


@pytest.mark.skipif(not CAPS.proc_connector, reason="needs the kernel's process connector")
def test_forks_made_before_a_run_subscribes_are_replayed_to_it_and_no_older_ones() -> None:
    """The hub keeps recent events; a run subscribing late must get every fork of its tree
    made after it started listening, in order, and none from before."""
    before = subprocess.Popen(["sleep", "5"])  # forked before the observer: not replayed
    observer = ob.ProcConnectorObserver()
    root = subprocess.Popen(["sh", "-c", "sleep 5 & sleep 5 & wait"])
    children: list[int] = []
    try:
        deadline = time.monotonic() + 10
        while len(_children_of(root.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # the forks' events have reached the hub
        observer.start(root.pid)
        seen = {info.pid for info in observer.alive()}
        children = _children_of(root.pid)
        assert len(children) == 2 and {*children, root.pid} <= seen
        assert before.pid not in seen
    finally:
        observer.stop()
        for proc in (before, root):
            proc.kill()
            proc.wait()
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)


def _children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


@pytest.mark.skipif(not CAPS.proc_connector, reason="needs the kernel's process connector")
def test_the_kernel_hands_the_connector_only_process_forks_execs_and_exits() -> None:
    """Thread and session events are dropped by the socket's filter, not parsed by the hub."""
    sock = ob.open_connector()
    sock.settimeout(0.2)
    program = ("import os, threading\nos.setsid()\nt = threading.Thread(target=lambda: None)\n"
               "t.start()\nt.join()\n")
    child = subprocess.Popen([sys.executable, "-S", "-c", program])
    child.wait()
    events = []
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                if any(e[1] == child.pid and e[0] == ob.PROC_EVENT_EXIT for e in events):
                    break
                continue
            what = ob._EVENT.unpack_from(data, ob._WHAT)[0]
            pid, tgid, third, fourth = ob._PAIR4.unpack_from(data, ob._DATA)
            if what == ob.PROC_EVENT_FORK:
                events.append((what, third, fourth))  # the child's pid and tgid
            else:
                events.append((what, pid, tgid))
    finally:
        sock.close()
    ours = [e for e in events if e[2] == child.pid]
    assert any(e[0] == ob.PROC_EVENT_EXIT for e in ours)  # the process's own events came
    assert all(e[0] in (ob.PROC_EVENT_FORK, ob.PROC_EVENT_EXEC, ob.PROC_EVENT_EXIT) for e in events)
    assert all(e[1] == e[2] for e in events), "a thread's event reached the socket"
