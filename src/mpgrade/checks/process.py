"""Checks on ``multiprocessing.Process`` children: started, ran their target, printed.

Only processes the supervisor confirmed count, and a printed line counts for the pid the
probe attributed it to: a program that prints "child 1" from the parent earns nothing
here, which is the point of the exercise.
"""

from __future__ import annotations

from typing import Literal

from mpgrade.checks import static
from mpgrade.checks.facts import (
    confirmed,
    count,
    describe,
    exception_sentence,
    exit_phrase,
    last_exception,
    main_pids,
    not_seen,
    number_word,
    numbers_in,
    quote,
    short,
    stdout_of,
    target_name,
)
from mpgrade.checks.registry import NoParams, Outcome, check
from mpgrade.model import CheckContext, ProcessInfo, value_class


@value_class
class StartedParams:
    """``min``: how many children must have run; ``pool``: whether Pool workers count
    instead ("count"), count with a note that a Process was asked for ("note"), or not
    ("no"); ``with_target``: only children given a function to run count (``target=f()``
    hands the child None)."""

    min: int = 1
    pool: Literal["count", "note", "no"] = "count"
    with_target: bool = False


@value_class
class TargetParams:
    """``pool = "count"``: Pool workers that ran the tasks without an error also pass.
    ``clean_exit = false``: a target that ran in the child and raised still passes, with
    a note (the question asks for a process, not for the function's correctness)."""

    pool: Literal["count", "no"] = "no"
    clean_exit: bool = True


@value_class
class MinParams:
    """``min``: how many child processes must do so."""

    min: int = 1

_HOW = (
    "create it with `multiprocessing.Process(target=your_function, args=(...))` "
    "and call `.start()` on it (then `.join()`)"
)


def no_child_reason(ctx: CheckContext) -> str:
    """Why no child process ran, as one sentence with the fix."""
    trace = ctx.trace
    code = static.parse(ctx)
    threads = trace.threads_started or any(p.kind == "thread" for p in trace.pools)
    if threads or (code is not None and static.thread_use(code) is not None):
        return (
            "You used threads, not processes: a `threading.Thread` (or ThreadPool) runs inside the "
            "one Python process and shares its GIL. Use `multiprocessing.Process` instead, "
            "with the same target and args."
        )
    stopped = not_seen(ctx, "No child process", "ran")
    if stopped:
        return stopped
    if code is not None and static.calls(code, "Process") and not static.calls(code, "start"):
        call = static.calls(code, "Process")[0]
        return f"You created a Process on {code.where(call)} but never called `.start()` on it, so it never ran."
    printed = stdout_of(trace, main_pids(trace))
    if printed:
        return (
            f"The text was printed by the main process ({quote(printed[0])}); no child process ran: "
            f"{_HOW}."
        )
    return f"No child process was started: {_HOW}."


def _children(ctx: CheckContext) -> tuple[ProcessInfo, ...]:
    return confirmed(ctx.trace, "child")


def _pool_workers(ctx: CheckContext) -> tuple[ProcessInfo, ...]:
    process_pools = {p.id for p in ctx.trace.pools if p.kind == "process"}
    return confirmed(ctx.trace, "pool_worker") if process_pools else ()


@check("process.started", params=StartedParams)
def started(ctx: CheckContext, params: StartedParams) -> Outcome:
    """At least `min` child processes really ran (confirmed by the supervisor)."""
    want = params.min
    kids = _children(ctx)
    if params.with_target and kids and not any(p.target for p in kids):
        return Outcome(False, _target_none(ctx))
    if len(kids) >= want:
        if len(kids) == 1:
            return Outcome(True, f"A child process, {describe(kids[0])}, was started.")
        return Outcome(True, f"{count(len(kids), 'child process', 'child processes').capitalize()} "
                             f"were started: {short([describe(p) for p in kids])}.")
    workers = _pool_workers(ctx) if params.pool != "no" else ()
    if len(workers) >= want:
        said = (f"Your Pool started {count(len(workers), 'worker process', 'worker processes')} "
                f"(pids {short([str(p.pid) for p in workers])}).")
        note = ("You used a Pool where the question asked for a `multiprocessing.Process`; its workers "
                "are child processes too, so this counts.") if params.pool == "note" else ""
        return Outcome(True, said, note=note)
    if kids or workers:
        found = kids or workers
        kind = "child process" if kids else "Pool worker process"
        verb = "was" if len(found) == 1 else "were"
        extra = " (Pool() without a number starts one worker per CPU)" if not kids else ""
        return Outcome(False, (
            f"{count(len(found), kind, kind.replace('process', 'processes')).capitalize()} {verb} started"
            f"{extra} ({short([describe(p) for p in found])}) where {number_word(want)} "
            f"{'was' if want == 1 else 'were'} asked for: create {want} `multiprocessing.Process` objects "
            f"(for example in a loop with `args=(i,)`), start them all, then join them all."
        ))
    return Outcome(False, no_child_reason(ctx))


def _raised_in_target(ctx: CheckContext, p: ProcessInfo) -> bool:
    """The child's error rose inside its target: the target ran (unlike a child that died
    while re-importing the main module under spawn, before its target was called)."""
    raised = last_exception(ctx.run.stderr) if ctx.run is not None else None
    return raised is not None and raised.function == target_name(p)


def _target_none(ctx: CheckContext) -> str:
    """``target=f(x)``: the sentence naming the call and the fix."""
    code = static.parse(ctx)
    called = static.target_called(code) if code is not None else None
    text = code.text(static.keyword(called, "target")) if code and called else "f(x)"
    where = f" on {code.where(called)}" if code and called else ""
    fn = text.split("(", 1)[0] or "f"
    return (
        f"`target={text}`{where} calls `{fn}` in the main process and passes its return value "
        f"(None) as the target, so the child had nothing to run: pass the function itself, "
        f"`target={fn}`, and its arguments with `args=(...)`."
    )


@check("process.target_ran", params=TargetParams)
def target_ran(ctx: CheckContext, params: TargetParams) -> Outcome:
    """A child ran its target function in its own process and exited with code 0."""
    kids = _children(ctx)
    good = [p for p in kids if p.target and p.exitcode == 0]
    if good:
        p = good[0]
        return Outcome(True, f"A child process (pid {p.pid}) ran `{target_name(p)}` and exited with code 0.")
    code = static.parse(ctx)
    called = static.target_called(code) if code is not None else None
    if called is not None or any(p.target is None for p in kids):
        return Outcome(False, _target_none(ctx))
    if not kids and params.pool == "count":
        workers = {p.pid for p in _pool_workers(ctx)}
        done = [t for t in ctx.trace.tasks if t.worker_pid in workers]
        if done and not any(t.error for t in done):
            fn = done[0].func.rsplit(".", 1)[-1]
            return Outcome(True, f"Your Pool's worker processes ran `{fn}` for {count(len(done), 'task')}.")
    if not kids:
        return Outcome(False, no_child_reason(ctx))
    p = kids[0]
    why = exception_sentence(ctx) if p.exitcode not in (None, 0) else ""
    how = f": it {why}" if why else ""
    if not params.clean_exit and p.target and p.exitcode is not None and p.exitcode > 0 and _raised_in_target(ctx, p):
        return Outcome(True, f"The child {describe(p)} ran `{target_name(p)}`.",
                       note=f"The child {describe(p)} {exit_phrase(p.exitcode)}{how}: fix the error in "
                            f"`{target_name(p)}`.")
    return Outcome(False, f"The child {describe(p)} {exit_phrase(p.exitcode)}{how}; "
                          f"its target must run to the end without an error.")


@check("process.child_printed")
def child_printed(ctx: CheckContext, params: NoParams) -> Outcome:
    """A child process (not the parent) printed something to stdout."""
    helpers = confirmed(ctx.trace, "child", "pool_worker")
    for p in helpers:
        lines = stdout_of(ctx.trace, {p.pid})
        if lines:
            return Outcome(True, f"The child process (pid {p.pid}) printed {quote(lines[0])}.")
    if not helpers:
        return Outcome(False, no_child_reason(ctx))
    printed = stdout_of(ctx.trace, main_pids(ctx.trace))
    said = f"; only the main process printed ({quote(printed[0])})" if printed else ""
    return Outcome(False, (
        f"Your child process ran but printed nothing{said}: put the `print(...)` inside the "
        f"target function, which is the code the child runs."
    ))


def _numbers(ctx: CheckContext, procs: tuple[ProcessInfo, ...]) -> dict[int, list[str]]:
    """pid -> numbers it printed, for the processes that printed at least one."""
    found: dict[int, list[str]] = {}
    for p in procs:
        nums = [n for line in stdout_of(ctx.trace, {p.pid}) for n in numbers_in(line)]
        if nums:
            found[p.pid] = nums
    return found


def _distinct(numbers: dict[int, list[str]]) -> dict[int, str]:
    """Give each process a number of its own where possible (a bipartite matching).

    A child printing "worker 2 got 7" must not lose credit because another printed 2.
    """
    owner: dict[str, int] = {}

    def assign(pid: int, seen: set[str]) -> bool:
        for n in dict.fromkeys(numbers[pid]):
            if n in seen:
                continue
            seen.add(n)
            if n not in owner or assign(owner[n], seen):
                owner[n] = pid
                return True
        return False

    for pid in numbers:
        assign(pid, set())
    return {pid: n for n, pid in owner.items()}


_POOL_CAVEAT = (
    "a Pool hands tasks to whichever worker is free, so one worker may print several numbers "
    "and another none: it does not guarantee one number per process. Start {want} "
    "`multiprocessing.Process` objects, each with its own number in `args=(i,)`."
)


def _pool_numbers(ctx: CheckContext, want: int, distinct: bool) -> Outcome | None:
    """Half credit at most when the numbers came from Pool workers.

    Which worker runs which task changes from run to run; the grade must not, so it rests
    on what all the workers printed together (fixed by the task inputs), not per worker.
    """
    workers = _pool_workers(ctx)
    printed = [n for nums in _numbers(ctx, workers).values() for n in nums]
    if not printed:
        return None
    got = len(set(printed)) if distinct else len(printed)
    what = "different numbers" if distinct else "numbers"
    if got >= want:
        return Outcome(False, f"Your Pool workers printed {got} {what} ({short(printed)}), but "
                              + _POOL_CAVEAT.format(want=want), share=0.5)
    return Outcome(False, f"Your Pool workers printed only {got} {what} ({short(printed)}); "
                          + _POOL_CAVEAT.format(want=want))


def _child_evidence(ctx: CheckContext, numbers: dict[int, list[str]]) -> str:
    return short([f"pid {pid} printed {', '.join(nums[:3])}" for pid, nums in numbers.items()])


def _why_not_children(ctx: CheckContext, want: int) -> str:
    kids = _children(ctx)
    if not kids:
        return no_child_reason(ctx)
    silent = [p for p in kids if not _numbers(ctx, (p,))]
    printed_main = [n for ln in stdout_of(ctx.trace, main_pids(ctx.trace)) for n in numbers_in(ln)]
    if any(p.target is None for p in kids):
        return _target_none(ctx)
    if printed_main and len(silent) == len(kids):
        return (f"The numbers ({short(printed_main)}) were printed by the main process, not by the "
                f"children: print the number inside the target function.")
    text = [ln for p in silent for ln in stdout_of(ctx.trace, {p.pid})]
    if text:
        return (f"Some children printed text without a number ({quote(text[0])}): print a number in "
                f"each, e.g. `print(i)` with `args=(i,)`.")
    if len(kids) < want:
        return (f"only {count(len(kids), 'child process was', 'child processes were')} started; "
                f"start {want}, each printing its own number in its target function.")
    return f"{describe(silent[0])} printed nothing: print the number inside the target function."


@check("process.each_printed_number", params=MinParams)
def each_printed_number(ctx: CheckContext, params: MinParams) -> Outcome:
    """At least `min` child processes each printed a number."""
    want = params.min
    numbers = _numbers(ctx, _children(ctx))
    if len(numbers) >= want:
        return Outcome(True, f"{count(len(numbers), 'child process', 'child processes').capitalize()} "
                             f"each printed a number ({_child_evidence(ctx, numbers)}).")
    pooled = _pool_numbers(ctx, want, distinct=False) if not numbers else None
    if pooled is not None:
        return pooled
    if numbers:
        shortfall = (f"Only {count(len(numbers), 'child process', 'child processes')} printed a "
                     f"number ({_child_evidence(ctx, numbers)}) where {want} processes should each "
                     "print one")
        if len(_children(ctx)) < want:  # too few started: process.started says how to fix it
            return Outcome(False, f"{shortfall}.")
        return Outcome(False, f"{shortfall}: {_why_not_children(ctx, want)}")
    return Outcome(False, _why_not_children(ctx, want))


@check("process.distinct_numbers", params=MinParams)
def distinct_numbers(ctx: CheckContext, params: MinParams) -> Outcome:
    """At least `min` child processes printed numbers that are pairwise different."""
    want = params.min
    numbers = _numbers(ctx, _children(ctx))
    own = _distinct(numbers)
    if len(own) >= want:
        shown = short([f"pid {pid}: {n}" for pid, n in sorted(own.items())])
        return Outcome(True, f"{count(len(own), 'child process', 'child processes').capitalize()} "
                             f"printed {len(own)} different numbers ({shown}).")
    pooled = _pool_numbers(ctx, want, distinct=True) if not numbers else None
    if pooled is not None:
        return pooled
    if not numbers:
        return Outcome(False, _why_not_children(ctx, want))
    values = {n for nums in numbers.values() for n in nums}
    if len(numbers) >= want and len(values) == 1:
        return Outcome(False, (
            f"All {count(len(numbers), 'child process', 'child processes')} printed the same number "
            f"{values.pop()}: give each its own number, e.g. `args=(i,)` in a loop over `range({want})`."
        ))
    return Outcome(False, (
        f"Only {count(len(own), 'child process', 'child processes')} printed a number of its own "
        f"({_child_evidence(ctx, numbers)}) where {want} were asked for: "
        + (_why_not_children(ctx, want) if len(numbers) < want else
           "give each process its own number with `args=(i,)`.")
    ))
