"""Make the file that runs one answer as a script.

The file is a real module run with ``python answer.py`` because under spawn and
forkserver the children re-import ``__main__``; code fed through ``-c`` or
``exec`` cannot be re-imported.

One notebook in four only works top to bottom (Q5 calls a function Q4 defined),
so the script starts with the *definitions* its answer needs from earlier cells:
imports, functions, classes and literal constants, found with ``ast`` and taken
only when the answer (or a definition it takes) uses the name. Nothing that runs
work is copied, so a hang or a crash in an earlier question cannot change this
question's grade.

The start method is not applied here: the sandbox sets it for the whole process
tree through ``MPGRADE_START_METHOD``, so the same script serves every method.
"""

from __future__ import annotations

import ast
import builtins
import functools
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mpgrade import regexes
from mpgrade.magics import neutralise
from mpgrade.model import Answer, BuiltScript, Cell, Excerpt
from mpgrade.textcode import code_like, code_regions, is_prose, starts_like_code
from mpgrade.untrusted import compile_python, parse_python

__all__ = ["build_script", "where"]

_KNOWN = set(dir(builtins)) | {"__name__", "__file__", "__doc__", "__spec__", "__builtins__"}
# A label typed before the code: "Ans3.", "Ans 3 :", "Q3)", "ANS -", "Answer:", "Solution:".
_LABEL = regexes.compile(
    r"^(\s*)(?:ans(?:wer)?|q(?:uestion|ues)?|sol(?:ution)?)\s*\.?\s*(?:\d{1,2}\s*[-.:)]*|[-.:)]+)\s*",
    re.I,
)
_MAX_FIXES = 300  # edits tried on one answer before it is reported as it is
_MAX_SALVAGE_LINES = 5000  # longer answers are not cut out of their text


@dataclass
class _Line:
    text: str
    cell: Cell
    line: int  # line in the student's cell (or file, for scripts)


def build_script(answer: Answer, context: Sequence[Cell]) -> BuiltScript:
    """Build the script for ``answer``; ``context`` are the code cells before it."""
    notes: list[str] = []
    lines = _answer_lines(answer, notes)
    salvaged = [replace(line) for line in lines]
    salvage_notes: list[str] = []
    error = next((e for unit in _units(salvaged) if (e := _salvage(unit, salvage_notes))), None)
    if error is None:
        lines = salvaged
        notes += salvage_notes

    student = "\n".join(line.text for line in lines)
    definitions: list[str] = []
    used: list[int] = []
    if error is None:
        if re.search(r"^\s*from\s+__future__\s+import", student, re.M):
            notes.append("the answer has a __future__ import; no earlier definitions were added")
        else:
            definitions, used = _definitions(context, parse_python(student))

    head = [f"# Script built by mpgrade for {answer.question_id}."]
    if definitions:
        cells = ", ".join(str(i + 1) for i in sorted(set(used)))
        head += [f"# Definitions it uses from earlier cells ({cells}):", *definitions, ""]
    head.append("# The student's answer:")
    source_lines = list(head)
    line_map: dict[int, tuple[int, int]] = {}
    previous: Cell | None = None
    for line in lines:
        if previous is not None and line.cell is not previous:
            source_lines.append("")
        source_lines.append(line.text)
        line_map[len(source_lines)] = (line.cell.index, line.line)
        previous = line.cell
    message, excerpt = error if error is not None else (None, None)
    return BuiltScript("\n".join(source_lines) + "\n", line_map, tuple(notes), message, excerpt)


def where(cell: Cell, line: int) -> str:
    """How a student finds a line: "cell 14, line 3" in a notebook (cells counted from 1, as
    Jupyter shows them), "line 42" in a script."""
    return f"line {line}" if cell.from_script else f"cell {cell.index + 1}, line {line}"


# --------------------------------------------------------------------------- the answer


def _answer_lines(answer: Answer, notes: list[str]) -> list[_Line]:
    """The answer's code cells in order, IPython syntax neutralised line for line."""
    lines: list[_Line] = []
    for cell in answer.cells:
        if cell.kind != "code" or not cell.source.strip():
            continue
        source, magic_notes = neutralise(cell.source)
        notes += [f"{where(cell, cell.line_offset + n)}: {text}" for n, text in magic_notes]
        if source is None:
            continue
        lines += [
            _Line(text, cell, cell.line_offset + n) for n, text in enumerate(source.split("\n"), 1)
        ]
    return lines


def _units(lines: list[_Line]) -> list[list[_Line]]:
    """What must compile on its own: each notebook cell, or a script's chunks all together.

    Notebook cells are separate units in Jupyter too (an indented cell must not silently
    join the block of the cell before); chunks of a .py file were one file.
    """
    units: list[list[_Line]] = []
    for line in lines:
        if units and (
            units[-1][-1].cell is line.cell
            or (line.cell.from_script and units[-1][-1].cell.from_script)
        ):
            units[-1].append(line)
        else:
            units.append([line])
    return units


def _salvage(lines: list[_Line], notes: list[str]) -> tuple[str, Excerpt | None] | None:
    """Edit ``lines`` in place until they compile; return a student-facing error (and the
    lines around it) if they never do.

    First only conservative edits, one at a time where the compiler stops, each noted:
    tabs mixed with spaces, a cell or its first line indented as a whole, an answer label
    before the code, lines of English or pasted output typed into code. When those do not
    suffice, the program is cut out of the text: only the lines that form code (see
    ``textcode.code_regions``) are kept, the rest become comments.
    """
    original = [line.text for line in lines]
    attempt: list[str] = []
    large = len(lines) > _MAX_SALVAGE_LINES  # no student answer is this long: no edits
    error = _compile_fixing(lines, attempt, 0 if large else min(len(lines), _MAX_FIXES) + 3)
    if error is None:
        notes += attempt
        return None
    if large:
        return error
    texts = [_unlabelled(t) for t in original]
    regions = code_regions(texts, statements=1)
    kept = {k for start, end in regions for k in range(start, end)}
    if any(starts_like_code(text) for k, text in enumerate(texts) if k not in kept):
        return error  # a statement would be dropped (a broken one, an empty block): report it
    for start, end in regions:
        block = textwrap.dedent("\n".join(texts[start:end])).split("\n")
        for k, text in zip(range(start, end), block, strict=True):
            lines[k].text = text
    for k, line in enumerate(lines):
        if k not in kept:
            line.text = f"# {original[k].strip()}" if original[k].strip() else ""
    cut: list[str] = []
    if not regions or _compile_fixing(lines, cut, min(len(lines), _MAX_FIXES) + 3) is not None:
        for line, text in zip(lines, original, strict=True):
            line.text = text
        return error
    spans = ", ".join(
        f"{lines[a].line}-{lines[b - 1].line}" if b - a > 1 else f"{lines[a].line}"
        for a, b in regions
    )
    first = lines[0]
    notes.append(
        f"{where(first.cell, first.line)}: code was mixed with text; only lines {spans} "
        "ran as code, the rest was made comments"
    )
    notes += cut
    return None


def _unlabelled(text: str) -> str:
    """A line without the answer label typed before its code ("Ans3. import x")."""
    label = _LABEL.match(text)
    if label and label.end() > len(label.group(1)) and not code_like(text):
        return label.group(1) + text[label.end() :]
    return text


def _compile_fixing(
    lines: list[_Line], notes: list[str], tries: int
) -> tuple[str, Excerpt | None] | None:
    """Apply `_fix` where the compiler stops until the lines compile (at most ``tries``
    edits); the error if they never do."""
    for attempt in range(tries + 1):
        try:
            compile_python("\n".join(line.text for line in lines), "<answer>")
            return None
        except SyntaxError as exc:
            failure = exc
        except ValueError:  # null bytes
            return "SyntaxError: the code contains null characters", None
        k = min(max((failure.lineno or 1) - 1, 0), len(lines) - 1) if lines else 0
        if attempt == tries or not lines or not _fix(lines, k, failure, notes):
            break
    bad = lines[k] if lines else None
    place = f" in {where(bad.cell, bad.line)}" if bad else ""
    message = f"{type(failure).__name__}{place}: {failure.msg}"
    return message, (_excerpt(bad, failure.offset) if bad else None)


def _excerpt(bad: _Line, offset: int | None, around: int = 2) -> Excerpt:
    """The student's own lines around a line that does not compile, as they typed them."""
    cell = bad.cell
    first = cell.line_offset + 1
    numbered = list(enumerate(cell.source.split("\n"), first))
    i = bad.line - first
    shown = tuple((n, text) for n, text in numbered[max(0, i - around): i + around + 1])
    return Excerpt(shown, bad.line, offset if offset and offset > 0 else None,
                   "" if cell.from_script else f"cell {cell.index + 1}")


def _fix(lines: list[_Line], k: int, exc: SyntaxError, notes: list[str]) -> bool:
    line = lines[k]
    cell_lines = [x for x in lines if x.cell is line.cell]
    if isinstance(exc, TabError) or "tabs" in exc.msg:
        for x in cell_lines:
            indent = len(x.text) - len(x.text.lstrip())
            x.text = x.text[:indent].expandtabs(4) + x.text[indent:]
        notes.append(
            f"{where(line.cell, line.line)}: tabs and spaces were mixed; tabs were read as 4 spaces"
        )
        return True
    first = next(x for x in cell_lines if x.text.strip())
    if "unexpected indent" in exc.msg and line is first:
        dedented = textwrap.dedent("\n".join(x.text for x in cell_lines)).split("\n")
        if dedented[cell_lines.index(line)] != line.text:
            for x, text in zip(cell_lines, dedented, strict=True):
                x.text = text
            notes.append(
                f"{where(line.cell, line.line)}: the whole cell was indented; indentation was removed"
            )
        else:
            line.text = line.text.lstrip()
            notes.append(
                f"{where(line.cell, line.line)}: the first line was indented; indentation was removed"
            )
        return True
    text = line.text
    label = _LABEL.match(text)
    if label and label.end() > len(label.group(1)) and not code_like(text):
        rest = text[label.end() :]
        line.text = label.group(1) + rest if rest.strip() else ""
        shown = text[len(label.group(1)) : label.end()].strip()
        notes.append(
            f"{where(line.cell, line.line)}: '{shown}' looked like a label and was ignored"
        )
        return True
    prose = is_prose(text)
    if prose or _outside_the_code(cell_lines, cell_lines.index(line)):
        indent = text[: len(text) - len(text.lstrip())]
        line.text = f"{indent}# {text.strip()}"
        what = "prose" if prose else "text, not code,"
        notes.append(
            f"{where(line.cell, line.line)}: '{_short(text)}' looked like {what} and was made a comment"
        )
        return True
    return False


def _outside_the_code(lines: list[_Line], k: int) -> bool:
    """A line that cannot be code, above or below all of the code: the question pasted
    above the program, an output line pasted below it."""
    text = lines[k].text
    if not text.strip() or code_like(text) or starts_like_code(text) or text[:1].isspace():
        return False  # a broken statement is reported, never hidden
    others = [(n, x.text) for n, x in enumerate(lines) if n != k and x.text.strip()]
    code = [n for n, x in others if not x.lstrip().startswith("#") and code_like(x)]
    return bool(code) and (k > max(code) or k < min(code))


def _short(text: str, width: int = 40) -> str:
    s = text.strip()
    return s if len(s) <= width else s[: width - 3] + "..."


# --------------------------------------------------------------------------- earlier definitions


@dataclass
class _Definition:
    node: ast.stmt
    cell: int
    binds: set[str]
    uses: set[str]


def _definitions(context: Sequence[Cell], answer: ast.Module) -> tuple[list[str], list[int]]:
    """Source of the earlier definitions ``answer`` needs, in notebook order, and their cells."""
    found: list[_Definition] = []
    for cell in context:
        tree = _parse_quietly(cell)
        if tree is None:
            continue
        for node in tree.body:
            if _is_definition(node):
                binds, uses = _names(node)
                found.append(_Definition(node, cell.index, binds, uses - binds))

    needed = _free_names(answer)
    chosen: set[int] = set()
    while needed:
        name = needed.pop()
        provider = next((i for i in range(len(found) - 1, -1, -1) if name in found[i].binds), None)
        if provider is None:
            if name not in _KNOWN:
                chosen |= {i for i, d in enumerate(found) if _star(d.node)}
            continue
        if provider not in chosen:
            chosen.add(provider)
            needed |= found[provider].uses
    picked = [found[i] for i in sorted(chosen)]
    return [ast.unparse(d.node) for d in picked], [d.cell for d in picked]


def _parse_quietly(cell: Cell) -> ast.Module | None:
    """An earlier cell as an AST, after the same neutralising and salvage; None if hopeless.

    Read only by the caller. Cached by source for cells up to ``_CACHED_CELL`` characters:
    every later question of a notebook takes the same earlier cells as its context."""
    if cell.kind != "code":
        return None
    if len(cell.source) <= _CACHED_CELL:
        return _parsed(cell.source)
    return _parse_source(cell.source, cell)


_CACHED_CELL = 16_000  # with 64 kept, at most a few MB of syntax trees


@functools.lru_cache(maxsize=64)
def _parsed(source: str) -> ast.Module | None:
    return _parse_source(source, Cell(0, "code", source))


def _parse_source(text: str, cell: Cell) -> ast.Module | None:
    source, _ = neutralise(text)
    if source is None:
        return None
    lines = [_Line(line, cell, n) for n, line in enumerate(source.split("\n"), 1)]
    if _salvage(lines, []) is not None:
        return None
    return parse_python("\n".join(line.text for line in lines))


def _is_definition(node: ast.stmt) -> bool:
    """Imports, functions, classes and constants: statements that define without running work."""
    if isinstance(node, ast.ImportFrom):
        return node.module != "__future__"
    if isinstance(node, (ast.Import, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names_only = all(
            isinstance(n, (ast.Name, ast.Tuple, ast.List, ast.Store))
            for t in targets
            for n in ast.walk(t)
        )
        return names_only and _literal(node.value)
    return False


_SAFE_OPS = (
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.USub,
    ast.UAdd,
    ast.Not,
)
_SAFE_NODES = (
    *_SAFE_OPS,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Dict,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.UnaryOp,
    ast.BinOp,
)


def _literal(node: ast.expr) -> bool:
    """Constants, containers of them, names of other constants, plain arithmetic.

    No calls and no ``**``, and only small repeat counts (``[0] * 10**10`` is out):
    evaluating the value can neither run work nor eat the memory limit.
    """
    nodes = list(ast.walk(node))
    return all(isinstance(n, _SAFE_NODES) for n in nodes) and all(
        not isinstance(c, ast.Constant) or not isinstance(c.value, int) or abs(c.value) <= 10**6
        for n in nodes
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mult)
        for c in ast.walk(n)
    )


def _star(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)


def _names(node: ast.AST) -> tuple[set[str], set[str]]:
    """Names a statement binds at module level, and every name it reads anywhere."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        binds = {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        binds = {node.name}
    else:
        binds = {
            n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }
    uses = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return binds, uses


def _free_names(tree: ast.Module) -> set[str]:
    """Names the answer reads but never binds anywhere: what earlier cells must provide."""
    loaded: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    # Builtins stay: an earlier cell may have redefined one; unprovided ones are skipped.
    return loaded - bound
