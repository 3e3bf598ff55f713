"""Local executor: a few long-lived worker interpreters, one task each at a time.

Why not ``ProcessPoolExecutor``: one worker killed (a student's tree exhausting memory
takes the grader with it now and then) breaks that whole pool, and it offers no way to
stop a worker that hangs. Here each worker is a plain subprocess in its own session;
a dead or overdue worker costs one error row and is replaced, and stopping the batch
terminates every worker, which kills its students' trees before it exits.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

from mpgrade.batch.protocol import kill_descendants, read_frame, write_frame
from mpgrade.batch.work import Outcome, Task, lost_outcome
from mpgrade.model import Assignment, GradeOptions

STOP_GRACE_S = 5.0


def default_workers() -> int:
    """Submissions mostly wait (on their own children, or hung at no CPU cost): cores, at least 2."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(2, cores)


def task_deadline(assignment: Assignment, options: GradeOptions) -> float:
    """Seconds after which a task is considered stuck: every limit run back to back, plus slack."""
    limits = options.limits or assignment.limits
    walls = [
        options.timeout_s or q.timeout_s or limits.wall_s
        for q in assignment.questions
        if q.kind == "code" and (not options.questions or q.id in options.questions)
    ]
    runs = 4 if options.portability else 1
    return sum(walls) * runs + 60.0


@dataclass
class _Worker:
    number: int
    proc: subprocess.Popen[bytes]
    log: Path
    task: Task | None = None
    since: float = 0.0

    @property
    def replies(self) -> IO[bytes]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    @property
    def requests(self) -> IO[bytes]:
        assert self.proc.stdin is not None
        return self.proc.stdin


class LocalExecutor:
    """Runs tasks on ``workers`` worker processes; use as a context manager."""

    def __init__(
        self,
        workers: int,
        assignment: Assignment,
        options: GradeOptions,
        fmt: str,
        log_dir: Path,
    ) -> None:
        self.size = max(1, workers)
        self.assignment = assignment
        self.options = options
        self.fmt = fmt
        self.log_dir = log_dir
        self.deadline_s = task_deadline(assignment, options)
        self._workers: list[_Worker] = []
        self._started = 0
        self._selector = selectors.DefaultSelector()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        with no_interrupts():
            self.shutdown()

    def run(self, tasks: Iterable[Task], on_outcome: Callable[[Outcome], None]) -> None:
        pending = deque(tasks)
        while pending or any(w.task for w in self._workers):
            while pending and (worker := self._idle_worker(len(pending))) is not None:
                self._assign(worker, pending.popleft())
            for key, _ in self._selector.select(timeout=self._wait_s()):
                if (outcome := self._collect(key.data)) is not None:
                    on_outcome(outcome)
            for worker in [w for w in self._workers if w.task and self._overdue(w)]:
                task = worker.task
                assert task is not None
                self._retire(worker)
                reason = f"grading took longer than {self.deadline_s:g} s; its worker was stopped"
                on_outcome(lost_outcome(task, reason, self.assignment, self.options, self.fmt))

    def worker_pids(self) -> list[int]:
        """Pids of the live workers (their trees are what ``shutdown`` kills)."""
        return [w.proc.pid for w in self._workers if w.proc.poll() is None]

    def shutdown(self) -> None:
        """Stop every worker and whatever it started; wait a little, then kill what is left."""
        doomed: list[psutil.Process] = []
        for w in self._workers:
            try:
                doomed += [psutil.Process(w.proc.pid), *psutil.Process(w.proc.pid).children(recursive=True)]
            except psutil.Error:
                pass
            if w.proc.poll() is None:
                try:
                    w.proc.send_signal(signal.SIGTERM)
                except OSError:
                    pass
        _, alive = psutil.wait_procs(doomed, timeout=STOP_GRACE_S)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=2.0)
        for w in list(self._workers):
            self._forget(w)
        self._selector.close()

    # ----------------------------------------------------------------------- workers

    def _idle_worker(self, backlog: int) -> _Worker | None:
        for w in self._workers:
            if w.task is None:
                return w
        if len(self._workers) < self.size and backlog > 0:
            return self._spawn()
        return None

    def _spawn(self) -> _Worker:
        self._started += 1
        log = self.log_dir / f"worker-{self._started}.log"
        with open(log, "ab") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mpgrade.batch.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                bufsize=0,
                start_new_session=True,  # a Ctrl-C reaches the batch, which stops workers in order
            )
        worker = _Worker(self._started, proc, log)
        write_frame(worker.requests, (self.assignment, self.options, self.fmt))
        self._workers.append(worker)
        self._selector.register(worker.replies, selectors.EVENT_READ, worker)
        return worker

    def _assign(self, worker: _Worker, task: Task) -> None:
        worker.task, worker.since = task, time.monotonic()
        try:
            write_frame(worker.requests, task)
        except OSError:
            pass  # the worker is dead; its EOF arrives through the selector

    def _collect(self, worker: _Worker) -> Outcome | None:
        """The worker's reply; a lost row when it died with a task, None when it died idle."""
        task = worker.task
        try:
            outcome = read_frame(worker.replies)
        except (EOFError, OSError, ValueError):
            code = worker.proc.wait(timeout=5)
            self._retire(worker)
            if task is None:
                return None
            reason = f"the grading worker died (exit code {code}){_last_line(worker.log)}"
            return lost_outcome(task, reason, self.assignment, self.options, self.fmt)
        worker.task = None
        return outcome

    def _wait_s(self) -> float:
        """How long to wait for a reply: a second, or less when a task's deadline comes first
        (a worker past its deadline is stopped then, not after a reply that came later)."""
        busy = [w.since + self.deadline_s - time.monotonic() for w in self._workers if w.task]
        return max(0.0, min([1.0, *busy]))

    def _overdue(self, worker: _Worker) -> bool:
        return time.monotonic() - worker.since > self.deadline_s

    def _retire(self, worker: _Worker) -> None:
        """Kill a worker (dead or stuck) with its tree; the next task starts a new one."""
        kill_descendants(worker.proc.pid)
        try:
            worker.proc.kill()
        except OSError:
            pass
        worker.proc.wait()
        self._forget(worker)

    def _forget(self, worker: _Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        try:
            self._selector.unregister(worker.replies)
        except (KeyError, ValueError):
            pass
        for stream in (worker.proc.stdin, worker.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if worker.proc.poll() is None:
            worker.proc.kill()
        worker.proc.wait()


def sigterm_interrupts() -> AbstractContextManager[None]:
    """SIGTERM (a CI timeout, ``kill``) stops a batch as Ctrl-C does: workers and trees included."""
    return _handling(signal.SIGTERM, signal.default_int_handler)


def no_interrupts() -> AbstractContextManager[None]:
    """A second Ctrl-C while workers are stopped or gradebooks written must not leave a mess."""
    return _handling(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _handling(signum: signal.Signals, handler: Callable[..., object] | signal.Handlers) -> Iterator[None]:
    """``handler`` for ``signum`` while the block runs; only the main thread may set one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def _last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return f": {lines[-1].strip()[:200]}" if lines else ""
