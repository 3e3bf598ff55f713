"""Dask executor: the same ``grade_task`` on a Dask distributed cluster.

Workers may run on machines that cannot see the teacher's files, so each task carries
its file's bytes, read only when the task is submitted (a bounded window is in flight,
so memory stays flat for a large class). Outcomes come back to this process and are
written by the caller exactly as local outcomes are. ``distributed`` is an optional
extra, imported only here.

Losing workers must not change a grade. Each task carries the assignment and options
itself (nothing is scattered, so nothing dies with a worker's memory), and ``grade_task``
turns every failure of the student's code or file into an outcome, so an exception that
reaches this process is the cluster's: the task is submitted again, a few times, to
whichever workers are alive. A task that never comes back is *lost*: it is returned to the
caller, which writes no result for it and reports the batch as incomplete.

Each task also switches off its worker's statistical profiler. It walks every thread's
frames (``sys._current_frames``) every 10 ms; the grader starts short-lived threads all
the time, and CPython 3.11 can deadlock the whole worker there (a garbage collection inside
the walk, which holds the runtime's thread-list lock, while a new thread waits for that
lock holding the GIL). Profiles of grading runs are of no use anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from mpgrade.batch.work import Outcome, Task, grade_task
from mpgrade.model import Assignment, GradeOptions, value_class

CONNECT_TIMEOUT_S = 20
ATTEMPTS = 4  # submissions of one task before it counts as lost
DASK_RETRIES = 2  # Dask's own re-runs when the task raised on a worker
NO_WORKERS_TIMEOUT_S = 120.0  # give up on what is left when no worker exists this long
POLL_S = 1.0


class DaskUnavailable(Exception):
    """``--dask`` without the optional dependency, or a scheduler we cannot reach."""


@value_class
class Lost:
    """A task the cluster could not grade, and the cluster's last word about it."""

    task: Task
    reason: str


def _client(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise DaskUnavailable(
            "--dask needs the optional Dask support: pip install 'mpgrade[dask]'"
        ) from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
        raise DaskUnavailable(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def run_dask(
    address: str,
    tasks: Iterable[Task],
    assignment: Assignment,
    options: GradeOptions,
    fmt: str,
    on_outcome: Callable[[Outcome], None],
) -> list[Lost]:
    """Grade ``tasks`` on the cluster at ``address``; the tasks it could not grade.

    Ctrl-C cancels what has not finished.
    """
    client = _client(address)  # first: it turns a missing ``distributed`` into a clear error
    from distributed import wait

    futures: dict[Any, tuple[Task, int]] = {}
    lost: list[Lost] = []

    def submit(task: Task, attempt: int) -> None:
        future = client.submit(_on_worker, task, assignment, options, fmt, pure=False,
                               retries=DASK_RETRIES)
        futures[future] = (task, attempt)

    try:
        window = max(2, 2 * sum(client.nthreads().values()))
        todo = _with_content(tasks)
        for task in _take(todo, window):
            submit(task, 1)
        workerless_since: float | None = None
        while futures:
            try:
                done = wait(list(futures), timeout=POLL_S, return_when="FIRST_COMPLETED").done
            except (TimeoutError, asyncio.TimeoutError):  # distinct types before Python 3.11
                done = set()
            if not done:
                if client.nthreads():
                    workerless_since = None
                    continue
                workerless_since = workerless_since or time.monotonic()
                if time.monotonic() - workerless_since < NO_WORKERS_TIMEOUT_S:
                    continue
                reason = f"no Dask worker for {NO_WORKERS_TIMEOUT_S:g} s"
                left = [replace(t, content=None) for t, _ in futures.values()] + list(tasks_left(todo))
                lost += [Lost(t, reason) for t in left]
                break
            for future in done:
                task, attempt = futures.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # the cluster's failure: a worker died, a task lost
                    if attempt < ATTEMPTS:
                        submit(task, attempt + 1)
                    else:
                        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
                        lost.append(Lost(replace(task, content=None), reason))
                    continue
                on_outcome(outcome)
                for nxt in _take(todo, 1):
                    submit(nxt, 1)
    finally:
        if futures:
            client.cancel(list(futures))
        client.close()
    return lost


def _on_worker(task: Task, assignment: Assignment, options: GradeOptions, fmt: str) -> Outcome:
    """``grade_task`` on a Dask worker, with the worker's profiler off (see the module doc)."""
    _stop_profiler()
    return grade_task(task, assignment, options, fmt)


def _stop_profiler() -> None:
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # not on a worker (a test calling it directly)
        return
    callbacks = getattr(worker, "periodic_callbacks", {})
    for name in ("profile", "profile-cycle"):
        callback = callbacks.get(name)
        if callback is not None and callback.is_running():
            worker.loop.add_callback(callback.stop)  # the worker's own loop: thread-safe


def tasks_left(todo: Iterator[Task]) -> Iterator[Task]:
    """What was never submitted, without the file contents (the caller needs only names)."""
    for task in todo:
        yield replace(task, content=None)


def _with_content(tasks: Iterable[Task]) -> Iterator[Task]:
    for task in tasks:
        yield replace(task, content=Path(task.path).read_bytes())


def _take(it: Iterator[Task], n: int) -> list[Task]:
    out = []
    for task in it:
        out.append(task)
        if len(out) >= n:
            break
    return out
