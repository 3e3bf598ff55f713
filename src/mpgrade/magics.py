"""Turn IPython-only syntax into plain Python, line for line.

A notebook cell may hold ``%time``, ``%%timeit``, ``!pip install`` or ``files = !ls``;
run as a script these are SyntaxErrors, and a grade must never hang on a
``%pip install`` either. Every rewrite keeps the number of lines, so that the
line numbers of a traceback still point into the student's cell.
"""

from __future__ import annotations

import functools
import re

from mpgrade import regexes
from mpgrade.untrusted import MAX_SOURCE_CHARS, compile_python

__all__ = ["neutralise"]

# Cell magics whose body is Python that should simply run once.
_RUN_BODY = {"time", "timeit", "capture", "prun", "memit", "debug"}
# Line magics that wrap a statement: "%time f()" runs "f()".
_WRAPS = {"time", "timeit", "prun", "memit"}
_OPTION = regexes.compile(r"^(?:-[a-zA-Z](?:\s*\d+)?\s+)*")
_LINE_MAGIC = regexes.compile(r"^(\s*)%(\w+)\s*(.*)$")
_ASSIGNED = regexes.compile(r"^(\s*[\w.,\s]+?=\s*)([!%])(.*)$")
_SHELL = regexes.compile(r"^(\s*)!(?!=)")
_AUTOMAGIC = regexes.compile(r"^(\s*)(?:pip|conda|mamba)\s+install\b")
_HELP = regexes.compile(r"^(\s*)(?:\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")

Note = tuple[int, str]  # (1-based line in the cell, what was done)


def neutralise(source: str) -> tuple[str | None, list[Note]]:
    """Return ``source`` as plain Python with the same lines, or None when it is not Python.

    Valid Python is returned untouched: magics are only looked for in a cell that
    does not compile, so a string that happens to start with ``%`` is never rewritten.
    """
    if _compiles(source):
        return source, []
    lines = source.split("\n")
    notes: list[Note] = []
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        header = lines[first].strip()
        name = re.match(r"%%(\S*)", header).group(1)  # type: ignore[union-attr]
        if name not in _RUN_BODY:
            kind = "writes a file" if name in ("writefile", "file") else "is not Python"
            return None, [(first + 1, f"cell magic '{header}' {kind}; the cell was not run")]
        lines[first] = f"# {header}"
        notes.append((first + 1, f"cell magic '{header}' ignored; the cell's code ran once"))
    for n, line in enumerate(lines):
        new, note = _line(line)
        if note:
            lines[n] = new
            notes.append((n + 1, note))
    return "\n".join(lines), notes


def _line(line: str) -> tuple[str, str]:
    """One line rewritten, with a note saying how; ("", "") leaves it alone."""
    text = line.strip()
    if match := _ASSIGNED.match(line):
        value = "[]" if match.group(2) == "!" else "None"
        return f"{match.group(1)}{value}  # {match.group(2)}{match.group(3)}", (
            f"'{text}' is IPython syntax; the name was set to {value} instead"
        )
    if match := _LINE_MAGIC.match(line):
        indent, name, rest = match.groups()
        if name in _WRAPS and rest:
            statement = _OPTION.sub("", rest)
            return f"{indent}{statement}", f"magic '%{name}' ignored; ran '{statement}'"
        return f"{indent}pass  # {text}", f"IPython magic '{text}' was not run"
    if match := _SHELL.match(line) or _AUTOMAGIC.match(line):
        return f"{match.group(1)}pass  # {text}", f"shell command '{text}' was not run"
    if match := _HELP.match(line):
        return f"{match.group(1)}pass  # {text}", f"IPython help '{text}' was ignored"
    return line, ""


def _compiles(source: str) -> bool:
    """Remembered for sources ``compile_python`` accepts by size: segmenting against each
    known exercise, then building the script, asks again about the same cells, and a
    batch worker keeps at most a few MB of them."""
    return len(source) <= MAX_SOURCE_CHARS and _compiles_bounded(source)


@functools.lru_cache(maxsize=64)
def _compiles_bounded(source: str) -> bool:
    try:
        compile_python(source, "<cell>")
    except (SyntaxError, ValueError):
        return False
    return True
