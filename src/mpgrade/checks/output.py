"""Checks on how the program ended and what it showed on the real stdout."""

from __future__ import annotations

import ast
import re

from mpgrade.checks import static
from mpgrade.checks.facts import (
    exit_phrase,
    frame_code,
    is_main_stack,
    literal,
    run_problem,
    short,
    stack_label,
    student_frame,
    student_line,
)
from mpgrade.checks.pool import without_tasks
from mpgrade.checks.registry import NoParams, Outcome, check
from mpgrade.model import CheckContext, value_class
from mpgrade.wording import noun, plural


@value_class
class PrintedParams:
    """``by_workers``: results printed by the pool's workers themselves count too.
    ``shown_value``: results that are the value of the answer's last expression count (a
    notebook displays it under the cell)."""

    by_workers: bool = False
    shown_value: bool = False


def _shown_last(ctx: CheckContext) -> str:
    """The answer's last statement when it is a bare expression other than a call to print."""
    code = static.parse(ctx)
    if code is None:
        return ""
    mine = [node for node in code.tree.body if code.mine(node)]
    last = mine[-1] if mine else None
    if not isinstance(last, ast.Expr):
        return ""
    value = last.value
    if isinstance(value, (ast.Name, ast.Attribute, ast.Subscript, ast.List, ast.Tuple)):
        return code.text(last)
    if isinstance(value, ast.Call) and static.call_name(value) in static.POOL_METHODS | {"list"}:
        return code.text(last)  # a call whose value is the results, unlike main() or print()
    return ""


def _stuck_at(ctx: CheckContext) -> str:
    """"; Process-2 was waiting in `msg = conn.recv()` on line 11": where a hung child stood."""
    if ctx.run is None:
        return ""
    for stack in sorted(ctx.run.stacks, key=lambda s: is_main_stack(ctx.trace, s)):
        frame = student_frame(ctx, stack)
        if frame is not None:
            code = frame_code(ctx, frame) or f"{frame.function}()"
            where = student_line(ctx, frame.line)
            return f"; {stack_label(ctx.trace, stack)} was waiting in `{code}`" + (f" on {where}" if where else "")
    return ""


@check("run.completed")
def completed(ctx: CheckContext, params: NoParams) -> Outcome:
    """The program ended by itself, within the limits, with exit code 0."""
    run = ctx.run
    if run is None:
        return Outcome(False, "Your code did not run.")
    problem = run_problem(ctx)
    if problem:
        # The sandbox's detail is a sentence with the numbers (limit, seconds); prefer it.
        said = run.limit_detail.strip().rstrip(".") if run.limit is not None and run.limit_detail else problem
        stuck = _stuck_at(ctx) if run.limit in ("deadlock", "time_limit") else ""
        return Outcome(False, f"{said[0].upper()}{said[1:]}{stuck}.")
    if run.exit_code is None:
        return Outcome(False, f"Your program {exit_phrase(None)}.")
    return Outcome(True, f"The program ended by itself in {run.duration_s:.2f} s with exit code 0.")


def _shown(value: str, stdout: str) -> bool:
    """The repr appears in stdout as a whole token (45 is not found inside 2025)."""
    return re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", stdout) is not None


@check("output.results_printed", params=PrintedParams, tags=("output", "pool"))
def results_printed(ctx: CheckContext, params: PrintedParams) -> Outcome:
    """The values the pool computed appear in the program's real stdout."""
    missing = without_tasks(ctx, "their printing was not checked")
    if missing is not None:
        return missing
    workers = {t.worker_pid for t in ctx.trace.tasks}
    said = [ln.text for ln in ctx.trace.lines if ln.stream == "stdout" and ln.pid in workers]
    if params.by_workers and said:
        return Outcome(True, f"The pool's workers printed their results (e.g. {said[0].strip()[:60]}).")
    tasks = [t for t in ctx.trace.tasks if t.result is not None and literal(t.result) is not None]
    if not tasks:
        return Outcome(False, "No pool task returned a value that could be printed: "
                              "the function should `return` its result.")
    stdout = ctx.run.stdout if ctx.run is not None else ""
    values = list(dict.fromkeys(t.result for t in tasks if t.result is not None))
    missing = [v for v in values if not _shown(v, stdout)]
    if not missing:
        line = next((ln for ln in stdout.splitlines() if _shown(values[0], ln)), "")
        return Outcome(True, f"All {len(tasks)} of the pool's results were printed (e.g. {line.strip()[:60]}).")
    shown = _shown_last(ctx) if params.shown_value else ""
    if shown:
        return Outcome(True, f"Your answer ends with `{shown[:60]}`, which a notebook displays below the cell.",
                       note="Outside a notebook that value is not shown: `print(...)` it.")
    if len(missing) == len(values):
        return Outcome(False, (
            f"The pool computed {plural(len(values), 'result')} ({short(values)}) but "
            f"{noun(len(values), 'it was', 'they were')} not printed: "
            f"print the list that map returns, e.g. `print(pool.map(f, items))`."
        ))
    return Outcome(False, (
        f"{len(missing)} of the pool's {len(values)} results {noun(len(missing), 'was', 'were')} not printed "
        f"({short(missing)}): "
        f"print the whole list that map returns."
    ))
