"""One sandboxed run from start to clean-up: the only place the other sandbox modules meet.

Order matters: the observer listens before the root starts; stacks are taken before the
kill; the kill covers the whole tree every time (also after a normal end, for setsid()
children and orphans); reaping and the leftover count come last, then the dirs go.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from mpgrade.model import RunRequest, RunResult
from mpgrade.sandbox import interpreter, plain, spawn
from mpgrade.sandbox.backends import Backend, choose
from mpgrade.sandbox.capture import Capture
from mpgrade.sandbox.cgroup import RunCgroup, detect
from mpgrade.sandbox.observer import (
    Observer,
    PollObserver,
    ProcConnectorObserver,
    ProcInfo,
    connector_usable,
    read_cpu_s,
    read_stat,
)
from mpgrade.sandbox.scratch import scratch_dir
from mpgrade.sandbox.stacks import collect, read_untrusted
from mpgrade.sandbox.watch import Verdict, Watcher

MAX_TRACE_BYTES = 5 * 1024 * 1024
MAX_TRACE_LINES = 100_000
TICK_S = 0.05
SIGXCPU = getattr(signal, "SIGXCPU", 24)
SIGXFSZ = getattr(signal, "SIGXFSZ", 25)


def run(req: RunRequest) -> RunResult:
    """Run ``req.script`` as an untrusted process tree under ``req.limits``; see the package doc."""
    backend = choose(req.isolation)
    if req.script not in req.files:
        raise ValueError(f"script {req.script!r} is not one of the files")
    python = interpreter.interpreter()
    uid = backend.student_uid(python, req.pythonpath)
    with scratch_dir(req.files) as scratch:
        if uid is not None:
            scratch.give_to(uid)
        return _Run(req, backend, scratch.top, python, uid).execute()


class _Run:
    """State of one run; ``execute`` is the whole life cycle."""

    def __init__(self, req: RunRequest, backend: Backend, top: Path, python: str,
                 uid: int | None = None) -> None:
        self.req = req
        self.python = python
        self.uid = uid
        self.limits = req.limits
        self.backend = backend
        self.work, self.meta = str(top / "work"), str(top / "meta")
        self.wake = threading.Event()
        self.wrapper_depth = backend.wrapper_depth
        layout = detect()
        mb = 1024 * 1024
        self.cgroup = RunCgroup.create(
            layout,
            max_tasks=2 * self.limits.processes + self.wrapper_depth,
            memory_bytes=3 * self.limits.memory_mb * mb,
        )
        self.observer = self._make_observer()
        self.killed_at: float | None = None

    def _make_observer(self) -> Observer:
        if connector_usable():
            try:
                return ProcConnectorObserver(on_change=self._on_change)
            except OSError:
                pass
        procs = self.cgroup.procs if self.cgroup else None
        return PollObserver(cgroup_procs=procs, on_change=self._on_change)

    def _on_change(self) -> None:
        """Wake the watcher at once when the root ends or the tree grows past the limit."""
        members = self.observer.members()
        if not members[0].alive or len(self._student_alive()) > self.limits.processes:
            self.wake.set()

    def _student_alive(self) -> list[ProcInfo]:
        return [p for p in self.observer.alive() if self.observer.depth(p) >= self.wrapper_depth]

    # -- life cycle

    def execute(self) -> RunResult:
        plain.make_subreaper()
        launch = self.backend.launch(self.req, self.work, self.meta, self.python)
        cg_files = self.cgroup.procs_files() if self.cgroup else []
        capture = Capture(self.limits.output_bytes, on_exceed=self.wake.set)
        started = time.monotonic()
        try:
            proc = spawn.start(
                launch.argv,
                cwd=self.work,
                env=launch.env,
                stdin=subprocess.DEVNULL if self.req.stdin is None else subprocess.PIPE,
                limits=self.limits,
                cgroup_procs=cg_files,
                extra_processes=self.wrapper_depth,
                uid=self.uid,
            )
        except BaseException:
            self.observer.stop()
            if self.cgroup:
                self.cgroup.remove()
            raise
        try:
            self.observer.start(proc.pid)
            capture.start(proc.stdout, proc.stderr)  # type: ignore[arg-type]
            if self.req.stdin is not None:
                threading.Thread(target=_feed, args=(proc, self.req.stdin), daemon=True).start()
            verdict, status, rusage_s = self._watch(proc, capture, started)
            ended = time.monotonic()
            stacks = ()
            if verdict and verdict.reason in ("deadlock", "time_limit"):
                stacks = collect(self._student_alive(), self.meta)
            self.killed_at = time.monotonic()
            if status is None:
                status, rusage_s = self._kill_root(proc)
            self._kill_tree(proc)
            leftover = self._reap_and_count()
        finally:
            if self.killed_at is None:  # an error in the supervisor: still kill everything
                self.killed_at = time.monotonic()
                self._kill_root(proc)
                self._kill_tree(proc)
            self.observer.stop()
        capture.join(timeout=2.0)
        cpu = self.cgroup.cpu_s() if self.cgroup else None
        oom = self.cgroup.oom_kills() if self.cgroup else 0
        if self.cgroup:
            self.cgroup.remove()
        return self._result(
            verdict, status, capture, ended - started, max(cpu or 0.0, rusage_s), oom,
            stacks, leftover,
        )

    def _watch(
        self, proc: subprocess.Popen, capture: Capture, started: float
    ) -> tuple[Verdict | None, int | None, float]:
        """Tick until the root ends (its status, its tree's CPU) or a limit is crossed."""
        watcher = Watcher(self.limits, started, moving_pipes=_pipe_inodes(proc))
        while True:
            status, cpu = _reap(proc.pid)
            if status is not None:
                return None, status, cpu
            alive = self._student_alive()
            verdict = watcher.check(
                time.monotonic(),
                [p.pid for p in alive],
                capture.exceeded.is_set(),
                self._too_many(alive),
                lambda alive=alive: self._cpu_s(alive),
            )
            if verdict:
                return verdict, None, 0.0
            self.wake.wait(TICK_S)
            self.wake.clear()

    def _too_many(self, alive: list[ProcInfo]) -> bool:
        """Over the process limit, by the observer or by the cgroup: the kernel's list also
        holds what the observer cannot see (a raw ``clone(CLONE_PARENT)`` child)."""
        if len(alive) > self.limits.processes:
            return True
        if self.cgroup is None:
            return False
        in_cgroup = len(self.cgroup.procs()) - self.wrapper_depth
        return in_cgroup > self.limits.processes or self.cgroup.process_limit_hit()

    def _cpu_s(self, alive: list[ProcInfo]) -> float:
        cpu = self.cgroup.cpu_s() if self.cgroup else None
        return cpu if cpu is not None else sum(read_cpu_s(p.pid) for p in alive)

    def _kill_root(self, proc: subprocess.Popen) -> tuple[int | None, float]:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        return _reap(proc.pid, block=True)

    def _kill_tree(self, proc: subprocess.Popen) -> None:
        """SIGKILL everything: the cgroup first (nothing escapes it), then what we tracked."""
        if self.cgroup:
            self.cgroup.kill()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            if isinstance(self.observer, PollObserver):
                self.observer.poll_once()
            alive = [p for p in self.observer.alive() if _running(p)]
            if not alive:
                break
            for p in alive:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except OSError:
                    pass
            _reap_orphans(alive)
            time.sleep(0.005)

    def _reap_and_count(self) -> int:
        """Reap our adopted orphans; count tracked processes still running (should be 0)."""
        members = self.observer.members()
        _reap_orphans(members, wait_s=1.0)
        end = time.monotonic() + 0.3
        while time.monotonic() < end and any(p.alive for p in members):
            if isinstance(self.observer, PollObserver):
                self.observer.poll_once()
            time.sleep(0.01)
        left = {p.pid for p in members if _running(p)}
        if self.cgroup:
            left |= self.cgroup.procs()
        return len(left)

    # -- result

    def _result(
        self,
        verdict: Verdict | None,
        status: int | None,
        capture: Capture,
        duration: float,
        cpu: float,
        oom: int,
        stacks: tuple,
        leftover: int,
    ) -> RunResult:
        observed = self.observer.snapshot(self.wrapper_depth)
        student = [p for p in self.observer.members() if self.observer.depth(p) >= self.wrapper_depth]
        root_code = student[0].exit_code if student else None
        if root_code is None and status is not None:
            root_code = self.backend.exit_code(status)
        exit_code = root_code if verdict is None else None
        stderr = capture.text("stderr")
        verdict = self._classify(verdict, exit_code, stderr, student, oom)
        trace = read_untrusted(os.path.join(self.meta, "trace.jsonl"), MAX_TRACE_BYTES)
        return RunResult(
            exit_code=exit_code,
            stdout=capture.text("stdout"),
            stderr=stderr,
            duration_s=round(duration, 3),
            cpu_s=round(cpu, 3),
            stdout_truncated=capture.truncated["stdout"],
            stderr_truncated=capture.truncated["stderr"],
            limit=verdict.reason if verdict else None,
            limit_detail=verdict.detail if verdict else "",
            stacks=stacks,
            observed=observed,
            observer=self.observer.kind,
            trace_lines=tuple(trace.decode("utf-8", "replace").splitlines()[:MAX_TRACE_LINES]),
            backend=self.backend.name,
            pid_namespace=self.backend.pid_namespace,
            leftover_processes=leftover,
            student_uid=self.uid,
        )

    def _classify(
        self,
        verdict: Verdict | None,
        exit_code: int | None,
        stderr: str,
        student: list[ProcInfo],
        oom: int,
    ) -> Verdict | None:
        """Name the cause when the kernel or the interpreter stopped the run, not the watcher.

        Memory wins over a timeout or deadlock: a Pool worker killed for memory leaves
        ``Pool.map`` waiting forever, and "timeout" would send the student the wrong way.
        """
        if verdict and verdict.reason in ("output_limit", "process_limit"):
            return verdict
        failed = verdict is not None or (exit_code is not None and exit_code != 0)
        codes = [p.exit_code for p in student if p.exited_at and p.exited_at < (self.killed_at or 0)]
        mb = self.limits.memory_mb
        if oom or (failed and ("MemoryError" in stderr or -signal.SIGKILL in codes)):
            if verdict:
                return Verdict(
                    "memory",
                    f"A process was stopped for using too much memory (limit {mb} MB); "
                    "the others then waited for it forever.",
                )
            return Verdict("memory", f"Your program ran out of memory (the limit is {mb} MB).")
        if verdict:
            return verdict
        if -SIGXCPU in codes or exit_code == -SIGXCPU:
            return Verdict(
                "cpu_limit",
                f"A process used more than {self.limits.cpu_s:.1f} s of CPU time (the CPU limit).",
            )
        if -SIGXFSZ in codes or (failed and "File too large" in stderr):
            return Verdict(
                "file_size",
                f"Your program wrote a file larger than {self.limits.file_size_mb} MB "
                "(the file size limit).",
            )
        return None


def _pipe_inodes(proc: subprocess.Popen) -> frozenset[int]:
    """Inodes of the pipes the supervisor itself drains or feeds (they always move)."""
    inodes = set()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                inodes.add(os.fstat(stream.fileno()).st_ino)
            except (OSError, ValueError):
                pass
    return frozenset(inodes)


def _feed(proc: subprocess.Popen, text: str) -> None:
    """Write stdin from a thread: a student that never reads must not block the supervisor."""
    try:
        proc.stdin.write(text.encode())  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    except OSError:
        pass


def _reap(pid: int, block: bool = False) -> tuple[int | None, float]:
    """wait4 the root ourselves: its status, and the CPU of everything it reaped."""
    try:
        got, status, usage = os.wait4(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return None, 0.0
    if got == 0:
        return None, 0.0
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def _running(p: ProcInfo) -> bool:
    """The pid still names the process we saw (not a reused pid) and it has not exited."""
    stat = read_stat(p.pid)
    return stat is not None and stat[3] == p.start and stat[1] not in ("Z", "X")


def _reap_orphans(procs: list[ProcInfo], wait_s: float = 0.0) -> None:
    """Collect zombies of the tree the kernel handed to us as subreaper, and only those.

    With ``wait_s``, also wait for members still on their way to us: bwrap's outer process
    exits without reaping the inner one (the pid namespace's init), which reaches us only
    once its parent is gone, and would otherwise end as a zombie of pid 1.
    """
    me = os.getpid()
    members = {p.pid for p in procs}
    end = time.monotonic() + wait_s
    while True:
        pending = False
        for p in procs:
            stat = read_stat(p.pid)
            if stat is None or stat[3] != p.start:
                continue
            if stat[0] == me and stat[1] == "Z":
                try:
                    os.waitpid(p.pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            elif stat[0] == me or stat[0] in members:
                pending = True
        if not pending or time.monotonic() >= end:
            return
        time.sleep(0.005)
