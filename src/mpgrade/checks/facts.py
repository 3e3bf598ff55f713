"""Confirmed facts about one run, phrased once so that every check and diagnosis agrees.

Checks grade only what the supervisor confirmed (real processes) and what the probe
attributed to a pid; these helpers are the single place that applies that rule. They
are public so that an exercise's custom ``checks.py`` can use them too.
"""

from __future__ import annotations

import ast
import re
import signal
import sys
import sysconfig
from dataclasses import dataclass

from mpgrade import verdicts
from mpgrade.build import answer_line
from mpgrade.model import CheckContext, ProcessInfo, ProcessStack, StackFrame, Trace

_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

# A number a student printed: not glued to a name ("Process-1", "x2") or a decimal point.
_NUMBER = re.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?(?!\w)(?!\.\d)")


def number_word(n: int) -> str:
    """Small counts as words: feedback reads as prose, not as a log."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(2, "process", "processes")`` -> "two processes"."""
    return f"{number_word(n)} {noun if n == 1 else (plural or noun + 's')}"


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
    """Where a line of the run script is in the student's notebook, in their terms.

    Lines of the answer itself become "line N" (N counted in the answer's code, which
    is what the student sees); lines of an earlier cell that the script included become
    "line L of cell C"; lines the build step added itself return "".
    """
    script = ctx.script
    if script is None or not script.line_map:
        return f"line {script_line}"
    where = script.line_map.get(script_line)
    if where is None:
        return ""
    line = answer_line(ctx.answer, script, script_line)
    return f"line {line}" if line is not None else f"line {where[1]} of cell {where[0]}"


def source_line(ctx: CheckContext, script_line: int) -> str:
    if ctx.script is None:
        return ""
    lines = ctx.script.source.splitlines()
    return lines[script_line - 1].strip() if 0 < script_line <= len(lines) else ""


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots |= {sys.prefix, sys.base_prefix}
    return tuple(sorted(r for r in roots if r))


_LIBRARY_ROOTS = _library_roots()


def is_student_file(path: str) -> bool:
    """Not the standard library, an installed package, frozen code or the probe."""
    if path.startswith("<") or "site-packages" in path or "/lib/python" in path:
        return False
    if "/multiprocessing/" in path or "/mpgrade/" in path:
        return False
    return not any(path.startswith(root + "/") for root in _LIBRARY_ROOTS)


def student_frame(ctx: CheckContext, stack: ProcessStack) -> StackFrame | None:
    """Innermost frame of the student's own code in a stack (innermost frame is last)."""
    line_map = ctx.script.line_map if ctx.script is not None else {}
    for frame in reversed(stack.frames):
        if is_student_file(frame.file) and (not line_map or frame.line in line_map):
            return frame
    return None


def frame_code(ctx: CheckContext, frame: StackFrame) -> str:
    return frame.code.strip() or source_line(ctx, frame.line)


# --------------------------------------------------------------------------- failures


@dataclass(frozen=True)
class Raised:
    """The last exception of a traceback in stderr: its one-line text and where it rose."""

    text: str  # "ZeroDivisionError: division by zero"
    line: int | None  # script line of the innermost student frame
    function: str = ""


_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')


def last_exception(stderr: str) -> Raised | None:
    """The final traceback in stderr (the one that ended the program or a child)."""
    lines = stderr.splitlines()
    found: Raised | None = None
    i = 0
    while i < len(lines):
        if not lines[i].startswith("Traceback (most recent call last)"):
            i += 1
            continue
        frames: list[tuple[str, int, str]] = []
        i += 1
        while i < len(lines) and (lines[i].startswith(" ") or not lines[i].strip()):
            m = _FRAME.match(lines[i])
            if m:
                frames.append((m["file"], int(m["line"]), m["func"]))
            i += 1
        if i >= len(lines):
            break
        text = lines[i].strip()
        if text.endswith(":"):  # multi-line messages such as the bootstrapping RuntimeError
            rest: list[str] = []
            for ln in lines[i + 1 :]:
                if not ln.startswith((" ", "\t")) or not ln.strip():
                    break
                rest.append(ln.strip())
            first = " ".join(rest).split(". ", 1)[0].rstrip(".")
            text = f"{text} {first}." if first else text
        mine = [f for f in frames if is_student_file(f[0])]
        found = Raised(text, mine[-1][1] if mine else None, mine[-1][2] if mine else "")
        i += 1
    return found


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
