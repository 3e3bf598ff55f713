"""Dask executor: the same ``grade_task`` on a Dask distributed cluster.

Workers may run on machines that cannot see the teacher's files, so each task carries
its file's bytes, read only when the task is submitted (a bounded window is in flight,
so memory stays flat for a large class). Outcomes come back to this process and are
written by the caller exactly as local outcomes are. ``distributed`` is an optional
extra, imported only here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from mpgrade.batch.work import Outcome, Task, grade_task, lost_outcome
from mpgrade.model import Assignment, GradeOptions

CONNECT_TIMEOUT_S = 20


class DaskUnavailable(Exception):
    """``--dask`` without the optional dependency, or a scheduler we cannot reach."""


def _client(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise DaskUnavailable(
            "--dask needs the optional Dask support: pip install 'mpgrade[dask]'"
        ) from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise DaskUnavailable(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def run_dask(
    address: str,
    tasks: Iterable[Task],
    assignment: Assignment,
    options: GradeOptions,
    fmt: str,
    on_outcome: Callable[[Outcome], None],
) -> None:
    """Grade ``tasks`` on the cluster at ``address``; Ctrl-C cancels what has not finished."""
    client = _client(address)  # first: it turns a missing ``distributed`` into a clear error
    from distributed import as_completed

    futures: dict[Any, Task] = {}
    try:
        spec = client.scatter([assignment, options], broadcast=True)
        window = max(2, 2 * sum(client.nthreads().values()))
        todo = _with_content(tasks)
        running = as_completed()
        for task in _take(todo, window):
            running.add(_submit(client, futures, task, spec, fmt))
        for future in running:
            task = futures.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # the worker died, or the task was lost on the way
                outcome = lost_outcome(task, f"Dask task failed: {type(exc).__name__}: {exc}", assignment, options, fmt)
            on_outcome(outcome)
            for nxt in _take(todo, 1):
                running.add(_submit(client, futures, nxt, spec, fmt))
    finally:
        if futures:
            client.cancel(list(futures))
        client.close()


def _submit(client: Any, futures: dict[Any, Task], task: Task, spec: list[Any], fmt: str) -> Any:
    future = client.submit(grade_task, task, spec[0], spec[1], fmt, pure=False)
    futures[future] = task
    return future


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
