"""Named failure patterns of multiprocessing code, explained the way a good TA would.

A check says *that* something failed; a diagnosis says *why*, at the student's line,
with the fix. Each recogniser looks at one pattern's evidence (the hung processes'
stacks and kernel waits, the trace, stderr, the syntax tree, the start method) and
returns nothing unless that evidence is there. The generic limit explanations come
last and only when nothing more specific explained the failure.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

from mpgrade import verdicts
from mpgrade.checks import static, tagged
from mpgrade.checks.facts import (
    confirmed,
    describe,
    exit_phrase,
    frame_code,
    is_main_stack,
    last_exception,
    main_pids,
    stack_label,
    stdout_of,
    student_frame,
    student_line,
)
from mpgrade.model import (
    CheckContext,
    CheckResult,
    Diagnosis,
    ProcessStack,
    StackFrame,
    value_class,
)
from mpgrade.wording import plural

_FORK_ONLY_WHERE = "on Windows and macOS (spawn) and with Python 3.14's Linux default (forkserver)"
_LONG_LIVED_S = 0.05
_PICKLE_ERRORS = ("Can't pickle", "PicklingError", "Can't get local object", "Can't get attribute")


@value_class
class _Scene:
    """What the recognisers share, computed once."""

    ctx: CheckContext
    code: static.Code | None
    method: str
    stderr: str

    def blocked(self) -> list[tuple[ProcessStack, StackFrame]]:
        """(stack, innermost student frame) of every hung process that was in student code."""
        run = self.ctx.run
        found = []
        for stack in run.stacks if run is not None else ():
            frame = student_frame(self.ctx, stack)
            if frame is not None:
                found.append((stack, frame))
        return found

    def where(self, frame: StackFrame) -> str:
        return student_line(self.ctx, frame.line)

    def asks_for(self, tag: str) -> bool:
        """The question has a check declared with ``tag`` (what this diagnosis explains)."""
        return bool(tagged(tag, self.ctx.question.checks))

    def is_main(self, stack: ProcessStack) -> bool:
        return is_main_stack(self.ctx.trace, stack)

    def label(self, stack: ProcessStack) -> str:
        return stack_label(self.ctx.trace, stack)


Recogniser = Callable[[_Scene], "Diagnosis | None"]


def _pipe_inherited_write_end(s: _Scene) -> Diagnosis | None:
    """Under fork the receiver holds a copy of the write end, so recv() never sees EOF."""
    if s.method != "fork":
        return None
    for stack, frame in s.blocked():
        code = frame_code(s.ctx, frame)
        if s.is_main(stack) or ".recv(" not in code or stack.wait not in ("read", ""):
            continue
        conn = re.search(r"(\w+)\.recv\(", code)
        held, write_end = _pipe_names(s, frame.function)
        if s.code is not None and held and write_end:
            if static.closed_before_start(s.code, write_end, held):
                continue
        close = f"`{write_end}.close()`" if write_end else "`the_other_end.close()`"
        return Diagnosis(
            code="pipe_inherited_write_end",
            title="Pipe receiver waits forever: it holds the write end",
            explanation=(
                f"Your receiver is stuck in `{conn.group(0) if conn else 'conn.recv('})` on "
                f"{s.where(frame)} because it still holds the pipe's write end (a fork child "
                f"inherits every open connection); recv() only raises EOFError when EVERY copy "
                f"of the write end is closed."
            ),
            fix=(
                f"Close the unused end in the receiver ({close} at the start of `{frame.function}`), "
                f"or send a sentinel such as None and stop on it."
            ),
            location=s.where(frame),
        )
    return None


def _pipe_names(s: _Scene, function: str) -> tuple[str, str]:
    """(end passed to ``function``'s process, the other end of the same Pipe), if visible."""
    if s.code is None:
        return "", ""
    for a, b, _ in static.pipe_ends(s.code):
        for call in static.calls(s.code, "Process"):
            target = static.keyword(call, "target")
            args = static.keyword(call, "args")
            if not (isinstance(target, ast.Name) and target.id == function) or args is None:
                continue
            names = {n.id for n in ast.walk(args) if isinstance(n, ast.Name)}
            if a in names:
                return a, b
            if b in names:
                return b, a
    return "", ""


def _queue_join_before_drain(s: _Scene) -> Diagnosis | None:
    """The parent joins a child that cannot exit until its queued data is read."""
    run = s.ctx.run
    flushing = [
        st for st in (run.stacks if run is not None else ())
        if any(f.function in ("_finalize_join", "join_thread") or f.file.endswith("queues.py")
               for f in st.frames) and not s.is_main(st)
    ]
    if not flushing:
        return None
    for stack, frame in s.blocked():
        code = frame_code(s.ctx, frame)
        if s.is_main(stack) and ".join(" in code:
            queue = ""
            if s.code is not None:
                queue = next((static.receiver(c) for c in static.calls(s.code, "put") if static.receiver(c)), "")
            get = f"`{queue}.get()`" if queue else "`q.get()`"
            child_label = s.label(flushing[0])
            return Diagnosis(
                code="queue_join_before_drain",
                title="join() before reading the Queue",
                explanation=(
                    f"Your main process waits in `{code}` on {s.where(frame)}, but "
                    f"{child_label} cannot end: a process that put data on a Queue waits "
                    f"until that data has been read before it exits, and nobody reads it while "
                    f"the parent is joining."
                ),
                fix=f"Call {get} for every item the child puts, then `join()` it.",
                location=s.where(frame),
            )
    return None


def _pool_worker_killed(s: _Scene) -> Diagnosis | None:
    """A dead worker loses its task; map() waits for that result forever."""
    run = s.ctx.run
    if run is None or not s.ctx.trace.pools or run.limit not in ("time_limit", "deadlock", "memory", "cpu_limit"):
        return None
    if "bootstrapping phase" in s.stderr:  # workers died re-running unguarded code: the guard's story
        return None
    dead = [
        p for p in s.ctx.trace.processes
        if p.role == "pool_worker" and p.exitcode not in (None, 0, -15)  # -15: normal terminate()
    ]
    if not dead and run.limit != "memory":
        return None
    if dead:
        how = f"{describe(dead[0])} {exit_phrase(dead[0].exitcode)}"
        why = " (most likely for using too much memory)" if dead[0].exitcode == -9 else ""
    else:
        how, why = "A Pool worker was killed for using too much memory", ""
    waiting = next(((st, f) for st, f in s.blocked() if s.is_main(st)), None)
    at = f" `{frame_code(s.ctx, waiting[1])}` on {s.where(waiting[1])}" if waiting else " `pool.map`"
    return Diagnosis(
        code="pool_worker_killed",
        title="A Pool worker died, so the Pool waits forever",
        explanation=(
            f"{how}{why} while running a task. The Pool starts a replacement worker, but the "
            f"task it was running is lost, so{at} waits for its result forever."
        ),
        fix=(
            "Never end a worker with os._exit() or sys.exit() inside a task; keep each task's "
            "memory small (work on chunks, return small results)."
        ),
        location=s.where(waiting[1]) if waiting else "",
    )


def _missing_main_guard(s: _Scene) -> Diagnosis | None:
    """spawn/forkserver children re-import the main module and rerun its unguarded code."""
    if s.code is None or static.has_main_guard(s.code):
        return None
    line = static.unguarded_start(s.code)
    bootstrap = "bootstrapping phase" in s.stderr or "freeze_support" in s.stderr
    if line is None or not (bootstrap or s.method in ("spawn", "forkserver")):
        return None
    return Diagnosis(
        code="missing_main_guard",
        title='Missing `if __name__ == "__main__":` guard',
        explanation=(
            f"Under the {s.method or 'spawn'} start method every child starts by importing your "
            f"file again, so the `{static.call_name(line)}(...)` on {s.code.where(line)} runs again in "
            f"every child, which tries to start children of its own"
            + (" (the \"bootstrapping phase\" RuntimeError in the output)." if bootstrap else ".")
        ),
        fix=(
            'Put the code that creates and starts processes or Pools under '
            '`if __name__ == "__main__":` and keep only imports and function definitions at the top level.'
        ),
        location=s.code.where(line),
    )


def _unpicklable_callable(s: _Scene) -> Diagnosis | None:
    """Functions travel to children by name; lambdas and nested functions have none."""
    found = static.unpicklable_callable(s.code) if s.code is not None else None
    in_stderr = any(marker in s.stderr for marker in _PICKLE_ERRORS)
    if not in_stderr and (found is None or (found[1] == "process" and s.method == "fork")):
        return None
    exc = last_exception(s.stderr)
    seen = f" (`{exc.text}`)" if exc and in_stderr else ""
    where = s.code.where(found[0]) if found is not None and s.code is not None else ""
    return Diagnosis(
        code="unpicklable_callable",
        title="Function cannot be sent to another process",
        explanation=(
            f"The function you gave to multiprocessing{' on ' + where if where else ''} cannot be "
            f"sent to another process{seen}: it is pickled by its name, and a lambda, a function "
            f"defined inside another function, or one defined under the `if __name__` guard has "
            f"no name a child can import."
        ),
        fix="Define the function with `def` at the top level of your file and pass its name.",
        location=where,
    )


def _target_called_in_parent(s: _Scene) -> Diagnosis | None:
    call = static.target_called(s.code) if s.code is not None else None
    if call is None and not any(p.target is None for p in confirmed(s.ctx.trace, "child")):
        return None
    text = s.code.text(static.keyword(call, "target")) if call is not None and s.code else "f(x)"
    fn = text.split("(", 1)[0] or "f"
    return Diagnosis(
        code="target_called_in_parent",
        title="target=f(x) calls the function in the parent",
        explanation=(
            f"`target={text}` runs `{fn}` immediately in the main process and gives Process its "
            f"return value (None), so the child has nothing to run and the work happened in the parent."
        ),
        fix=f"Pass the function itself and its arguments separately: `target={fn}, args=(...,)`.",
        location=s.code.where(call) if call is not None and s.code else "",
    )


def _sequential_start_join(s: _Scene) -> Diagnosis | None:
    loop = static.start_join_loop(s.code) if s.code is not None else None
    # From the trace alone only children that lived a while count: a child that prints one
    # line may end before its sibling is even forked, with no join in between.
    kids = sorted(confirmed(s.ctx.trace, "child"), key=lambda p: p.started_at)
    in_turn = len(kids) > 1 and all(
        prev.ended_at is not None
        and prev.ended_at - prev.started_at >= _LONG_LIVED_S
        and nxt.started_at >= prev.ended_at
        for prev, nxt in zip(kids, kids[1:], strict=False)
    )
    if loop is None and not in_turn:
        return None
    return Diagnosis(
        code="sequential_start_join",
        title="Processes ran one after the other",
        explanation=(
            "Your processes ran one after the other, not in parallel: each `join()` waits for "
            "that process to finish before the loop starts the next one."
        ),
        fix="Start all processes in one loop, then join them all in a second loop.",
        severity="warning",
        location=s.code.where(loop) if loop is not None and s.code else "",
    )


def _daemon_killed(s: _Scene) -> Diagnosis | None:
    trace = s.ctx.trace
    silent = [
        p for p in confirmed(trace, "child")
        if p.daemon and p.exitcode != 0 and not stdout_of(trace, {p.pid})
    ]
    flag = static.daemon_set(s.code) if s.code is not None else None
    no_join = s.code is not None and not static.calls(s.code, "join")
    kids_silent = not stdout_of(trace, {p.pid for p in confirmed(trace, "child")})
    if not silent and not (flag is not None and no_join and kids_silent):
        return None
    return Diagnosis(
        code="daemon_killed",
        title="Daemon processes were killed before they printed",
        explanation=(
            "Your processes are daemons (daemon=True), and daemon processes are terminated as soon "
            "as the main process ends; the main process ended without join(), so they were killed "
            "before they could print."
        ),
        fix="Call join() on each process before the main program ends, or drop daemon=True.",
        location=s.code.where(flag) if flag is not None and s.code else "",
    )


def _ran_processes(s: _Scene) -> bool:
    return bool(confirmed(s.ctx.trace, "child", "pool_worker"))


def _threads_not_processes(s: _Scene) -> Diagnosis | None:
    if not (s.asks_for("process") or s.asks_for("pool")) or _ran_processes(s):
        return None
    trace = s.ctx.trace
    call = static.thread_use(s.code) if s.code is not None else None
    if not (trace.threads_started or any(p.kind == "thread" for p in trace.pools) or call is not None):
        return None
    return Diagnosis(
        code="threads_not_processes",
        title="Threads used where processes were asked for",
        explanation=(
            "You used threads (threading.Thread or a ThreadPool), which all run inside one Python "
            "process and take turns on the GIL; the question asks for separate processes."
        ),
        fix="Use multiprocessing.Process (or multiprocessing.Pool) with the same target and arguments.",
        location=s.code.where(call) if call is not None and s.code else "",
    )


def _printed_without_process(s: _Scene) -> Diagnosis | None:
    trace = s.ctx.trace
    if not s.asks_for("process") or _ran_processes(s) or trace.threads_started:
        return None
    printed = stdout_of(trace, main_pids(trace))
    if not printed or (s.code is not None and static.thread_use(s.code) is not None):
        return None
    return Diagnosis(
        code="printed_without_process",
        title="Printed without any child process",
        explanation=(
            f"The output ({plural(len(printed), 'line')}) was printed by "
            f"the main process; no child process ran."
        ),
        fix=(
            "Put the printing in a function and run it in a child: "
            "`p = multiprocessing.Process(target=f, args=(...)); p.start(); p.join()`."
        ),
    )


def _fork_only(s: _Scene) -> Diagnosis | None:
    """Code that works here only because fork copies the parent: a portability warning."""
    if s.method != "fork" or s.code is None:
        return None
    found = static.unguarded_start(s.code) if not static.has_main_guard(s.code) else None
    if found is not None:
        why = (f"the `{static.call_name(found)}(...)` on {s.code.where(found)} is not under "
               f'`if __name__ == "__main__":`, and there every child re-imports your file and runs it again')
        fix = 'Put the code that starts processes under `if __name__ == "__main__":`.'
        node = found
    elif (bad := static.unpicklable_callable(s.code)) is not None:
        node = bad[0]
        why = (f"the lambda or nested function on {s.code.where(node)} is copied by fork but must be "
               f"pickled by name there, which fails")
        fix = "Define the target with `def` at the top level of the file."
    elif (shared := static.guard_globals_in_workers(s.code)) is not None:
        name, fn = shared
        why = (f"`{fn}` reads `{name}`, which is set inside the `if __name__` block: fork copies it "
               f"into the child, but there the child re-imports your file without running that block")
        fix = f"Pass `{name}` to `{fn}` as an argument (`args=(...)`) instead of reading a global."
        node = None
    else:
        return None
    return Diagnosis(
        code="fork_only",
        title="Works only with the fork start method",
        explanation=f"This works here because processes start with fork, but it will fail {_FORK_ONLY_WHERE}: {why}.",
        fix=fix,
        severity="warning",
        location=s.code.where(node) if node is not None else "",
    )



def _generic_limit(s: _Scene) -> Diagnosis | None:
    run = s.ctx.run
    if run is None or run.limit is None:
        return None
    detail = run.limit_detail.strip()  # the sandbox's own sentence, with the numbers
    blocked = sorted(s.blocked(), key=lambda sf: s.is_main(sf[0]))  # a hung child is the story
    where = s.where(blocked[0][1]) if blocked else ""
    if run.limit == "deadlock":
        waits = "; ".join(
            f"{s.label(st)} waits in `{frame_code(s.ctx, f)}` "
            f"({s.where(f)})" for st, f in blocked
        )
        known = verdicts.limit("deadlock")
        return Diagnosis(
            code="deadlock",
            title=known.title,
            explanation=known.explanation.rstrip(".") + (f": {waits}." if waits else "."),
            fix=known.fix,
            location=where,
        )
    known = verdicts.limit(run.limit)
    return Diagnosis(code=run.limit, title=known.title, explanation=detail or known.explanation,
                     fix=known.fix, location=where)


_SPECIFIC: tuple[Recogniser, ...] = (
    _missing_main_guard,
    _pipe_inherited_write_end,
    _queue_join_before_drain,
    _pool_worker_killed,
    _unpicklable_callable,
    _target_called_in_parent,
    _daemon_killed,
    _threads_not_processes,
    _printed_without_process,
    _sequential_start_join,
    _fork_only,
)


def diagnose(ctx: CheckContext) -> tuple[Diagnosis, ...]:
    """Every pattern recognised in this run, errors first; generic limits only as a fallback."""
    if ctx.run is None:
        return ()
    scene = _Scene(ctx, static.parse(ctx), ctx.trace.start_method, ctx.run.stderr)
    found = [d for rec in _SPECIFIC if (d := rec(scene)) is not None]
    if not any(d.severity == "error" for d in found):
        generic = _generic_limit(scene)
        if generic is not None:
            found.append(generic)
    return tuple(sorted(found, key=lambda d: d.severity != "error"))


def race(first: tuple[CheckResult, ...], second: tuple[CheckResult, ...]) -> Diagnosis | None:
    """Two runs of the same code that disagree: the outcome depends on timing, not on the code
    alone. None when every check came out the same."""
    flipped = [a.id for a, b in zip(first, second, strict=False) if a.passed != b.passed]
    if not flipped:
        return None
    names = ", ".join(f"`{c}`" for c in flipped)
    return Diagnosis(
        code="race",
        title="Different results from run to run",
        explanation=(f"Your program was run twice and {names} passed in one run but not in the "
                     "other: what it prints depends on which process happens to run first, a "
                     "race. The lower of the two results counts."),
        fix=("Make the result independent of timing: give each process its own data through "
             "`args=`, protect shared state with a Lock, and collect results with join() or a "
             "Queue before printing them."),
        severity="warning",
    )
