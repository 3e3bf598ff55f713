"""Which frame and which line are the student's, read once per run.

A run's evidence (tracebacks on stderr, stacks of a hung tree) speaks of the script
mpgrade built; the student knows their answer's lines, or an earlier cell's. This
module holds the one rule for which file is the student's, the one parser of Python
tracebacks, and the map from script lines to the student's lines. The grader resolves
them once per run into the ``RunSummary`` (stacks in the student's terms, the raising
and the blocking line); checks, diagnoses and renderers read that, never re-deciding.

Stderr is written by the student's code: the parser is line-based, bounded in what it
reads, and never raises.
"""

from __future__ import annotations

import sys
import sysconfig
from dataclasses import replace
from pathlib import PurePath

from mpgrade import regexes
from mpgrade.model import Answer, BuiltScript, ProcessStack, StackFrame, value_class

SCRIPT_NAME = "answer.py"  # the file the sandbox runs
ANSWER_FILE = "your answer"  # how a frame of the answer is labelled once resolved

_MAX_STDERR = 1_000_000  # characters of stderr read for tracebacks
_FRAME = regexes.compile(
    r'^\s+File "(?P<file>[^"]{1,4096})", line (?P<line>\d{1,9}), in (?P<func>[^\s]{1,200})'
)
_HEAD = "Traceback (most recent call last)"
_NO_STDIN = "EOFError: EOF when reading a line"


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots |= {sys.prefix, sys.base_prefix}
    return tuple(sorted(r for r in roots if r))


_LIBRARY_ROOTS = _library_roots()
_LIBRARY_MARKERS = ("site-packages", "/lib/python", "/multiprocessing/", "/mpgrade/",
                    "_mpgrade_probe", "sitecustomize")


def is_student_file(path: str) -> bool:
    """Not the standard library, an installed package, frozen code or the probe."""
    if path.startswith("<") or any(marker in path for marker in _LIBRARY_MARKERS):
        return False
    return not any(path.startswith(root + "/") for root in _LIBRARY_ROOTS)


def student_frame(stack: ProcessStack, line_map: dict[int, tuple[int, int]] | None = None
                  ) -> StackFrame | None:
    """The innermost frame of the student's code (innermost frame is last); with the
    script's ``line_map``, only lines the student wrote count (not lines the build added)."""
    for frame in reversed(stack.frames):
        if is_student_file(frame.file) and (not line_map or frame.line in line_map):
            return frame
    return None


# --------------------------------------------------------------------------- tracebacks


@value_class
class Traceback:
    """One traceback printed on stderr: its frames (outermost first) and its last line."""

    frames: tuple[tuple[str, int, str], ...]  # (file, line, function)
    text: str  # "ZeroDivisionError: division by zero"


@value_class
class Raised:
    """The last exception of a traceback in stderr: its one-line text and where it rose."""

    text: str
    line: int | None  # script line of the innermost student frame
    function: str = ""


def tracebacks(stderr: str) -> tuple[Traceback, ...]:
    """Every traceback in ``stderr``, in order (a chained or pool error prints its cause,
    the real origin, first). Several processes may interleave; what does not parse is skipped."""
    lines = stderr[:_MAX_STDERR].splitlines()
    found: list[Traceback] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith(_HEAD):
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
        found.append(Traceback(tuple(frames), _exception_text(lines, i)))
        i += 1
    return tuple(found)


def _exception_text(lines: list[str], i: int) -> str:
    """The exception line, with the first sentence of an indented multi-line message."""
    text = lines[i].strip()[:500]
    if text.endswith(":"):  # the bootstrapping RuntimeError and friends
        rest: list[str] = []
        for ln in lines[i + 1 : i + 20]:
            if not ln.startswith((" ", "\t")) or not ln.strip():
                break
            rest.append(ln.strip())
        first = " ".join(rest).split(". ", 1)[0].rstrip(".")[:300]
        text = f"{text} {first}." if first else text
    if text.startswith(_NO_STDIN):
        text += " (input() has nobody to answer it: stdin is closed during grading)"
    return text


def last_exception(stderr: str) -> Raised | None:
    """The final traceback in stderr (the one that ended the program or a child)."""
    found = tracebacks(stderr)
    if not found:
        return None
    mine = [f for f in found[-1].frames if is_student_file(f[0])]
    return Raised(found[-1].text, mine[-1][1] if mine else None, mine[-1][2] if mine else "")


# --------------------------------------------------------------------------- script -> student


def answer_line(answer: Answer | None, script: BuiltScript, script_line: int) -> int | None:
    """The line of ``Answer.code`` (what the student sees as their answer) behind a script
    line; None for lines of earlier cells or lines the build added."""
    where = script.line_map.get(script_line)
    if where is None or answer is None:
        return None
    cell, line = where
    offset = 0
    for c in answer.cells:
        if c.kind != "code" or not c.source.strip():
            continue
        if c.index == cell:
            return line if c.from_script else offset + line  # a .py: its own file lines
        offset += c.source.count("\n") + 2  # Answer.code joins cells with a blank line
    return None


def student_line(answer: Answer | None, script: BuiltScript | None, script_line: int) -> str:
    """Where a script line is, in the student's terms: "line N" of the answer, "line L of
    cell C" for an earlier cell the script included, "" for a line the build added."""
    if script is None or not script.line_map:
        return f"line {script_line}"
    where = script.line_map.get(script_line)
    if where is None:
        return ""
    line = answer_line(answer, script, script_line)
    return f"line {line}" if line is not None else f"line {where[1]} of cell {where[0] + 1}"


def listing(answer: Answer | None, script: BuiltScript) -> list[tuple[int, str]]:
    """The answer's lines as they ran, each with the number the student knows it by."""
    numbered = ((answer_line(answer, script, n), text)
                for n, text in enumerate(script.source.splitlines(), 1))
    return [(number, text) for number, text in numbered if number is not None]


def student_stack(stack: ProcessStack, answer: Answer | None, script: BuiltScript) -> ProcessStack:
    """A stack in the student's terms: lines of their answer (file ``ANSWER_FILE``) or of an
    earlier cell ("cell C", counted from 1 as Jupyter shows), not lines of the built script."""
    lines = script.source.splitlines()
    frames = []
    for f in stack.frames:
        if PurePath(f.file).name != SCRIPT_NAME:
            frames.append(f)
            continue
        code = lines[f.line - 1].strip() if 0 < f.line <= len(lines) else f.code
        mine = answer_line(answer, script, f.line)
        cell = script.line_map.get(f.line)
        if mine is not None:
            frames.append(replace(f, file=ANSWER_FILE, line=mine, code=code))
        elif cell is not None:
            frames.append(replace(f, file=f"cell {cell[0] + 1}", line=cell[1], code=code))
        else:
            frames.append(replace(f, code=code))
    return replace(stack, frames=tuple(frames))


def error_line(stderr: str, answer: Answer | None, script: BuiltScript) -> int | None:
    """The answer's line where an exception was raised: the innermost frame in the answer of
    the first traceback that has one, from any process of the tree."""
    for tb in tracebacks(stderr):
        mine = [n for file, line, _ in tb.frames
                if PurePath(file).name == SCRIPT_NAME
                and (n := answer_line(answer, script, line)) is not None]
        if mine:
            return mine[-1]
    return None


def blocking_line(stacks: tuple[ProcessStack, ...]) -> int | None:
    """The answer's line where a hung child (or else the main process) waited, from stacks
    already in the student's terms."""
    best: int | None = None
    for stack in stacks:
        for frame in reversed(stack.frames):
            if frame.file == ANSWER_FILE:
                if best is None or stack.name != "main":
                    best = frame.line
                break
    return best
