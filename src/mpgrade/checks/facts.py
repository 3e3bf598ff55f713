"""Confirmed facts about one run, phrased once so that every check and diagnosis agrees.

Checks grade only what the supervisor confirmed (real processes) and what the probe
attributed to a pid; these helpers are the single place that applies that rule. They
are public so that an exercise's custom ``checks.py`` can use them too.
"""

from __future__ import annotations

import ast
import signal

from mpgrade import locations, regexes, verdicts, wording
from mpgrade.locations import last_exception
from mpgrade.model import CheckContext, ProcessInfo, ProcessStack, StackFrame, Trace

_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

# A number a student printed: not glued to a name ("Process-1", "x2") or a decimal point.
_NUMBER = regexes.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?(?!\w)(?!\.\d)")


def number_word(n: int) -> str:
    """Small counts as words: feedback reads as prose, not as a log."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(2, "process", "processes")`` -> "two processes"."""
    return f"{number_word(n)} {wording.noun(n, noun, plural)}"


def short(items: list[str], limit: int = 5) -> str:
    """Join evidence without flooding a one-sentence message."""
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def quote(text: str, limit: int = 60) -> str:
    text = text.strip()
    return '"' + (text if len(text) <= limit else text[: limit - 3] + "...") + '"'


# --------------------------------------------------------------------------- processes


def confirmed(trace: Trace, *roles: str) -> tuple[ProcessInfo, ...]:
    """Processes the supervisor really saw, optionally of the given roles."""
    return tuple(p for p in trace.processes if p.confirmed and (not roles or p.role in roles))


def main_pids(trace: Trace) -> set[int]:
    return {p.pid for p in trace.processes if p.role == "main"}


def is_main_stack(trace: Trace, stack: ProcessStack) -> bool:
    return stack.name == "main" or stack.pid in main_pids(trace)


def stack_label(trace: Trace, stack: ProcessStack) -> str:
    """"the main process" or "Process-2": a stack's name is only the command line."""
    if is_main_stack(trace, stack):
        return "the main process"
    known = next((p for p in trace.processes if p.pid == stack.pid), None)
    return known.name if known is not None else f"the process with pid {stack.pid}"


def stdout_of(trace: Trace, pids: set[int]) -> list[str]:
    return [ln.text for ln in trace.lines if ln.stream == "stdout" and ln.pid in pids]


def numbers_in(text: str) -> list[str]:
    """Numbers as printed (``"3"``, ``"-1.5"``); names like ``Process-1`` do not count."""
    return _NUMBER.findall(text)


def target_name(p: ProcessInfo) -> str:
    """The function a child ran, without the module prefix."""
    return (p.target or "").rsplit(".", 1)[-1]


def describe(p: ProcessInfo) -> str:
    """"Process-1 (pid 101, running `sender`)": how a student recognises a process."""
    what = f", running `{target_name(p)}`" if p.target and p.role == "child" else ""
    return f"{p.name} (pid {p.pid}{what})"


def exit_phrase(code: int | None) -> str:
    """Exit code in words: a negative code is the signal that killed the process."""
    if code is None:
        return "had not finished when the run was stopped"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def literal(text: str | None) -> object:
    """The value behind a repr recorded by the probe; ``None`` when it is not a literal."""
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- student code


def code_of(ctx: CheckContext) -> str:
    return ctx.answer.code if ctx.answer is not None else ""


def student_line(ctx: CheckContext, script_line: int) -> str:
    """Where a line of the run script is in the student's notebook, in their terms."""
    return locations.student_line(ctx.answer, ctx.script, script_line)


def source_line(ctx: CheckContext, script_line: int) -> str:
    if ctx.script is None:
        return ""
    lines = ctx.script.source.splitlines()
    return lines[script_line - 1].strip() if 0 < script_line <= len(lines) else ""


def student_frame(ctx: CheckContext, stack: ProcessStack) -> StackFrame | None:
    """Innermost frame of the student's own code in a stack (innermost frame is last)."""
    return locations.student_frame(stack, ctx.script.line_map if ctx.script is not None else None)


def frame_code(ctx: CheckContext, frame: StackFrame) -> str:
    return frame.code.strip() or source_line(ctx, frame.line)


# --------------------------------------------------------------------------- failures


def exception_sentence(ctx: CheckContext) -> str:
    """"raised `ValueError: boom` on line 4", or "" when stderr holds no traceback."""
    if ctx.run is None:
        return ""
    exc = last_exception(ctx.run.stderr)
    if exc is None:
        return ""
    where = student_line(ctx, exc.line) if exc.line else ""
    return f"raised `{exc.text}`" + (f" on {where}" if where else "")


def run_problem(ctx: CheckContext) -> str:
    """Why the run did not end cleanly, as a clause ("your code raised ..."); "" when it did."""
    run = ctx.run
    if run is None:
        return "your code did not run"
    if run.limit is not None:
        return f"your program {verdicts.limit(run.limit).clause}"
    if run.exit_code not in (0, None):
        raised = exception_sentence(ctx)
        if raised:
            return f"your code {raised}"
        return f"your program {exit_phrase(run.exit_code)}"
    return ""


def not_seen(ctx: CheckContext, subject: str, happened: str) -> str:
    """Why ``subject`` was missing when the run explains it, the exception it raised first:
    "No Pool did any work because your code raised ..." or "No Pool was seen: your program
    ..."; "" when the run ended cleanly."""
    raised = exception_sentence(ctx)
    if raised:
        return f"{subject} {happened} because your code {raised}."
    problem = run_problem(ctx)
    return f"{subject} was seen: {problem}." if problem else ""
