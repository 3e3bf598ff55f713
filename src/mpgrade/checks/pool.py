"""Checks on ``multiprocessing.Pool``: created, given work, computed in workers, correctly.

Results are judged from the probe's task records (input and result reprs per worker),
so a pool that ran is graded on what its workers returned, not on what was printed.
"""

from __future__ import annotations

import math
import re

from mpgrade.checks import static
from mpgrade.checks.facts import (
    confirmed,
    count,
    exception_sentence,
    is_number,
    literal,
    main_pids,
    run_problem,
    short,
)
from mpgrade.checks.registry import Outcome, check
from mpgrade.model import CheckContext, PoolTask

_USE = "`with multiprocessing.Pool(4) as pool: results = pool.map(f, items)`"

# expectation -> (exponent, how a student would name the function, how to write it)
_EXPECT = {
    "square": (2, re.compile(r"sq|square", re.I), "n ** 2 or n*n"),
    "cube": (3, re.compile(r"cub", re.I), "n ** 3 or n*n*n"),
}


def _no_pool_reason(ctx: CheckContext) -> str:
    raised = exception_sentence(ctx)
    if raised:
        return f"No Pool did any work because your code {raised}."
    problem = run_problem(ctx)
    if problem:
        return f"No Pool was seen: {problem}."
    return f"No multiprocessing Pool was created: use {_USE}."


def no_task_reason(ctx: CheckContext) -> str:
    """Why no Pool task ran: no pool, an idle pool, or the error that stopped it."""
    pool = used(ctx, {})
    if not pool.passed:
        return pool.message
    raised = exception_sentence(ctx)
    problem = f"your code {raised}" if raised else run_problem(ctx)
    if problem:
        return f"Your Pool was given work, but no task finished in a worker: {problem}."
    return "Your Pool was given work, but no task finished in a worker process."


@check("pool.used")
def used(ctx: CheckContext, params: dict) -> Outcome:
    """A Pool of worker processes (not threads) was created and given work."""
    pools = ctx.trace.pools
    busy = [p for p in pools if p.kind == "process" and p.calls]
    if busy:
        p = busy[0]
        return Outcome(True, f"A Pool of {count(p.size, 'worker process', 'worker processes')} was "
                             f"created and given work with {', '.join(dict.fromkeys(p.calls))}.")
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
            f"You created a Pool of {idle[0].size} workers but never gave it work: call "
            f"`pool.map(f, items)` (or apply_async, imap, starmap) inside the `with` block."
        ))
    return Outcome(False, _no_pool_reason(ctx))


def _worker_pids(ctx: CheckContext) -> set[int]:
    return {p.pid for p in confirmed(ctx.trace) if p.role != "main"} - main_pids(ctx.trace)


@check("pool.workers_computed")
def workers_computed(ctx: CheckContext, params: dict) -> Outcome:
    """The tasks were computed in confirmed pool worker processes, not in the parent."""
    tasks = ctx.trace.tasks
    if not tasks:
        return Outcome(False, no_task_reason(ctx))
    workers = _worker_pids(ctx)
    in_parent = [t for t in tasks if t.worker_pid in main_pids(ctx.trace)]
    if in_parent:
        return Outcome(False, (
            f"{len(in_parent)} of {len(tasks)} tasks ran in the main process (pid {in_parent[0].worker_pid}), "
            f"not in worker processes: use `multiprocessing.Pool`, not a ThreadPool or a plain loop."
        ))
    ran = sorted({t.worker_pid for t in tasks if t.worker_pid in workers})
    if not ran:
        return Outcome(False, "No task ran in a worker process the grader could confirm.")
    return Outcome(True, (
        f"{count(len(tasks), 'task').capitalize()} ran in {count(len(ran), 'worker process', 'worker processes')} "
        f"(pids {short([str(pid) for pid in ran])}), not in the parent."
    ))


def _chosen(tasks: tuple[PoolTask, ...], name: re.Pattern[str]) -> list[PoolTask]:
    """The tasks of the function the question is about: by name first, else the busiest."""
    by_func: dict[str, list[PoolTask]] = {}
    for t in tasks:
        by_func.setdefault(t.func.rsplit(".", 1)[-1], []).append(t)
    named = [f for f in by_func if name.search(f)]
    best = max(named or by_func, key=lambda f: len(by_func[f]))
    return by_func[best]


def _close(a: object, b: object) -> bool:
    """Exact for integers (no float overflow on big cubes), tolerant for floats."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return is_number(a) and is_number(b) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@check("pool.results_correct")
def results_correct(ctx: CheckContext, params: dict) -> Outcome:
    """The pool's function returned input**2 ("square") or input**3 ("cube") for every number."""
    expect = str(params.get("expect", "square"))
    if expect not in _EXPECT:
        raise ValueError(f"pool.results_correct: expect must be one of {sorted(_EXPECT)}")
    power, name, how = _EXPECT[expect]
    if not ctx.trace.tasks:
        return Outcome(False, no_task_reason(ctx))
    tasks = _chosen(ctx.trace.tasks, name)
    checked = 0
    for t in tasks:
        fn = t.func.rsplit(".", 1)[-1]
        x = literal(t.input)
        if not is_number(x):
            continue
        call = f"{fn}({t.input})"
        if t.error is not None:
            return Outcome(False, f"{call} raised `{t.error}`: {fn} should return n**{power} ({how}).")
        y = literal(t.result)
        if t.result == "None":
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
    fn = sample.func.rsplit(".", 1)[-1]
    return Outcome(True, f"{fn} returned the {expect} of all {checked} numeric inputs "
                         f"(e.g. {fn}({sample.input}) = {sample.result}).")
