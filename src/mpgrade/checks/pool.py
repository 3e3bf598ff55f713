"""Checks on ``multiprocessing.Pool``: created, given work, computed in workers, correctly.

Results are judged from the probe's task records (input and result reprs per worker),
so a pool that ran is graded on what its workers returned, not on what was printed.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from mpgrade import regexes
from mpgrade.checks import static
from mpgrade.checks.facts import (
    confirmed,
    count,
    exception_sentence,
    is_number,
    literal,
    main_pids,
    not_seen,
    numbers_in,
    run_problem,
    short,
)
from mpgrade.checks.registry import Outcome, check, not_applicable
from mpgrade.model import CheckContext, PoolTask, ProcessInfo, value_class
from mpgrade.wording import plural


@value_class
class PoolParams:
    """``executor``: whether a ``concurrent.futures.ProcessPoolExecutor`` that did work counts
    as a pool ("count"), counts with a note that a multiprocessing Pool was asked for
    ("note"), or not ("no")."""

    executor: Literal["count", "note", "no"] = "no"


@value_class
class ResultsParams:
    """``expect``: what the pool's function must return: "square", "cube", or "by_name"
    (a function named like a square must square, one named like a cube must cube, any
    other function does not apply). ``printed``: a value the worker printed for its input
    counts as returned (a worker that prints its result and returns None)."""

    expect: Literal["square", "cube", "by_name"] = "square"
    printed: bool = False

_USE = "`with multiprocessing.Pool(4) as pool: results = pool.map(f, items)`"

# expectation -> (exponent, how a student would name the function, how to write it)
_EXPECT = {
    "square": (2, regexes.compile(r"sq(?:r|uare)?(?![a-z])|square", re.I), "n ** 2 or n*n"),
    "cube": (3, regexes.compile(r"cub", re.I), "n ** 3 or n*n*n"),
}


def executor_workers(ctx: CheckContext) -> tuple[ProcessInfo, ...]:
    """Confirmed worker processes of a ``ProcessPoolExecutor`` the answer created: the probe
    records no tasks for it, but its workers only start once it is given work."""
    code = static.parse(ctx)
    if code is None or not static.calls(code, "ProcessPoolExecutor"):
        return ()
    pooled = any(p.kind == "process" for p in ctx.trace.pools)
    return () if pooled else confirmed(ctx.trace, "pool_worker")


_EXECUTOR_NOTE = ("You used `concurrent.futures.ProcessPoolExecutor`, which counts: the question "
                  "names `multiprocessing.Pool`, which does the same job.")


def _no_pool_reason(ctx: CheckContext) -> str:
    return not_seen(ctx, "No Pool", "did any work") or f"No multiprocessing Pool was created: use {_USE}."


def without_tasks(ctx: CheckContext, unchecked: str) -> Outcome | None:
    """The outcome of a check on task results when no task was recorded, None when some
    were: a ProcessPoolExecutor's tasks never are, so ``unchecked`` says what was not checked."""
    if ctx.trace.tasks:
        return None
    if executor_workers(ctx):
        return not_applicable(f"The results of a ProcessPoolExecutor's tasks are not recorded, "
                              f"so {unchecked}.")
    return Outcome(False, no_task_reason(ctx))


def no_task_reason(ctx: CheckContext) -> str:
    """Why no Pool task ran: no pool, an idle pool, or the error that stopped it."""
    pool = used(ctx, PoolParams())
    if not pool.passed:
        return pool.message
    raised = exception_sentence(ctx)
    problem = f"your code {raised}" if raised else run_problem(ctx)
    if problem:
        return f"Your Pool was given work, but no task finished in a worker: {problem}."
    return "Your Pool was given work, but no task finished in a worker process."


@check("pool.used", params=PoolParams)
def used(ctx: CheckContext, params: PoolParams) -> Outcome:
    """A Pool of worker processes (not threads) was created and given work."""
    pools = ctx.trace.pools
    busy = [p for p in pools if p.kind == "process" and p.calls]
    if busy:
        p = busy[0]
        return Outcome(True, f"A Pool of {count(p.size, 'worker process', 'worker processes')} was "
                             f"created and given work with {', '.join(dict.fromkeys(p.calls))}.")
    workers = executor_workers(ctx) if params.executor != "no" else ()
    if workers:
        return Outcome(True, f"A ProcessPoolExecutor was given work and started "
                             f"{count(len(workers), 'worker process', 'worker processes')}.",
                       note=_EXECUTOR_NOTE if params.executor == "note" else "")
    code = static.parse(ctx)
    threaded = code is not None and static.calls(code, "ThreadPool", "ThreadPoolExecutor")
    if any(p.kind == "thread" for p in pools) or (threaded and not pools):
        return Outcome(False, (
            "You used a ThreadPool: its workers are threads inside one process, so they share the "
            "GIL. Use `multiprocessing.Pool`, whose workers are separate processes."
        ))
    idle = [p for p in pools if p.kind == "process"]
    if idle:
        return Outcome(False, (
            f"You created a Pool of {plural(idle[0].size, 'worker')} but never gave it work: call "
            f"`pool.map(f, items)` (or apply_async, imap, starmap) inside the `with` block."
        ))
    return Outcome(False, _no_pool_reason(ctx))


def _worker_pids(ctx: CheckContext) -> set[int]:
    return {p.pid for p in confirmed(ctx.trace) if p.role != "main"} - main_pids(ctx.trace)


@check("pool.workers_computed", params=PoolParams)
def workers_computed(ctx: CheckContext, params: PoolParams) -> Outcome:
    """The tasks were computed in confirmed pool worker processes, not in the parent."""
    tasks = ctx.trace.tasks
    workers = executor_workers(ctx) if params.executor != "no" and not tasks else ()
    if workers:
        return Outcome(True, f"The work ran in the executor's worker processes "
                             f"(pids {short([str(p.pid) for p in workers])}), not in the parent.")
    if not tasks:
        return Outcome(False, no_task_reason(ctx))
    workers = _worker_pids(ctx)
    in_parent = [t for t in tasks if t.worker_pid in main_pids(ctx.trace)]
    if in_parent:
        return Outcome(False, (
            f"{len(in_parent)} of {plural(len(tasks), 'task')} ran in the main process (pid {in_parent[0].worker_pid}), "
            f"not in worker processes: use `multiprocessing.Pool`, not a ThreadPool or a plain loop."
        ))
    ran = sorted({t.worker_pid for t in tasks if t.worker_pid in workers})
    if not ran:
        return Outcome(False, "No task ran in a worker process the grader could confirm.")
    return Outcome(True, (
        f"{count(len(tasks), 'task').capitalize()} ran in {count(len(ran), 'worker process', 'worker processes')} "
        f"(pids {short([str(pid) for pid in ran])}), not in the parent."
    ))


def _chosen(tasks: tuple[PoolTask, ...], names: list[re.Pattern[str]]) -> list[PoolTask]:
    """The tasks of the function the question is about: by name first, else the busiest."""
    by_func: dict[str, list[PoolTask]] = {}
    for t in tasks:
        by_func.setdefault(t.func.rsplit(".", 1)[-1], []).append(t)
    named = [f for f in by_func if any(name.search(f) for name in names)]
    best = max(named or by_func, key=lambda f: len(by_func[f]))
    return by_func[best]


def _close(a: object, b: object) -> bool:
    """Exact for integers (no float overflow on big cubes), tolerant for floats."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return is_number(a) and is_number(b) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _expected(func: str, expect: str) -> str:
    """"square", "cube", or "" when ``expect`` is by name and the name says neither."""
    if expect != "by_name":
        return expect
    name = func.rsplit(".", 1)[-1]
    return next((e for e, (_, pattern, _) in _EXPECT.items() if pattern.search(name)), "")


def _printed_by(ctx: CheckContext, pid: int, value: object) -> bool:
    """The worker printed ``value`` as a number (any number when ``value`` is None)."""
    lines = [ln.text for ln in ctx.trace.lines if ln.stream == "stdout" and ln.pid == pid]
    return any(value is None or _close(literal(n), value) for line in lines for n in numbers_in(line))


@check("pool.results_correct", params=ResultsParams)
def results_correct(ctx: CheckContext, params: ResultsParams) -> Outcome:
    """The pool's function computed squares or cubes, as `expect` or the function's name asks."""
    missing = without_tasks(ctx, "they were not checked")
    if missing is not None:
        return missing
    patterns = [pattern for _, pattern, _ in _EXPECT.values()]
    if params.expect != "by_name":
        patterns = [_EXPECT[params.expect][1]]
    tasks = _chosen(ctx.trace.tasks, patterns)
    fn = tasks[0].func.rsplit(".", 1)[-1]
    expect = _expected(tasks[0].func, params.expect)
    if not expect:
        return not_applicable(f"`{fn}` is named like neither a square nor a cube, so any result it "
                              f"computes answers the question.")
    power, _, how = _EXPECT[expect]
    checked = 0
    for t in tasks:
        x = literal(t.input)
        if not is_number(x):
            continue
        call = f"{fn}({t.input})"
        if t.error is not None:
            return Outcome(False, f"{call} raised `{t.error}`: {fn} should return n**{power} ({how}).")
        y = literal(t.result)
        if t.result == "None":
            if params.printed and _printed_by(ctx, t.worker_pid, x**power):
                checked += 1
                continue
            if params.printed and _printed_by(ctx, t.worker_pid, None):
                return not_applicable(f"{call} returned nothing and printed its own output instead, "
                                      f"so there was no returned {expect} to check.")
            return Outcome(False, (
                f"{call} returned None: {fn} must `return` the value ({how}); printing it in the "
                f"worker does not send it back to the parent."
            ))
        if not _close(y, x**power):
            other = next((p for p in (1, 2, 3, 4) if p != power and _close(y, x**p)), None)
            got = f"{t.result}, which is {t.input}**{other}" if other else f"{t.result}, not {x**power}"
            return Outcome(False, f"{call} returned {got}: {fn} should return n**{power} ({how}).")
        checked += 1
    if not checked:
        return Outcome(False, f"None of the pool's inputs was a number, so the {expect} results could "
                              f"not be checked: map your function over numbers, e.g. [1, 2, 3, 4].")
    sample = max(tasks, key=lambda t: abs(literal(t.input)) if is_number(literal(t.input)) else -1)
    return Outcome(True, f"{fn} computed the {expect} of all {checked} numeric inputs "
                         f"(e.g. {fn}({sample.input}) = {sample.result}).")
