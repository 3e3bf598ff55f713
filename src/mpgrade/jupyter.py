"""Checking from inside Jupyter: ``%load_ext mpgrade``, then ``%%mpgrade Q6`` on an answer cell.

The cell magic grades the cell as ``mpgrade check`` grades an answer: as a real script in
the sandbox, with the definitions of the cells run before it, and shows the verdict
inline (the HTML report fragment, timeline included, with the terminal report as the
plain-text fallback). The kernel itself does not run the cell unless ``--also-run`` is
given: a deadlocking answer must cost a second of the grader's time, not the student's
kernel. ``%mpgrade`` (line magic) grades the saved notebook.

Running the cell as a file is also what makes it work at all where the kernel cannot:
under spawn and forkserver (macOS, Windows, Linux from Python 3.14) child processes
import the functions they run by name from ``__main__``, and a notebook's ``__main__``
is no file they can import. The magic says so when that is the kernel's situation.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shlex
from pathlib import Path

from mpgrade import api, regexes
from mpgrade.errors import MpgradeError

_USES_CHILDREN = regexes.compile(r"\b(?:Process|Pool|ProcessPoolExecutor)\s*\(")
_DEFINES = regexes.compile(r"^(?:def|class)\s+\w+", re.M)


class _Args(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise MpgradeError(message)


def _cell_parser() -> argparse.ArgumentParser:
    p = _Args(prog="%%mpgrade", add_help=False)
    p.add_argument("question")
    p.add_argument("-a", "--assignment")
    p.add_argument("--also-run", action="store_true", help="then run the cell in this kernel too")
    p.add_argument("--timeout", type=float)
    return p


def _line_parser() -> argparse.ArgumentParser:
    p = _Args(prog="%mpgrade", add_help=False)
    p.add_argument("path", nargs="?")
    p.add_argument("-q", "--question", action="append", default=[])
    p.add_argument("-a", "--assignment")
    p.add_argument("--timeout", type=float)
    return p


def notebook_path(user_ns: dict) -> Path | None:
    """The running notebook's file, when the front end tells the kernel (VS Code, Jupyter)."""
    for found in (user_ns.get("__vsc_ipynb_file__"), os.environ.get("JPY_SESSION_NAME")):
        if found and str(found).endswith(".ipynb") and Path(found).is_file():
            return Path(found)
    return None


def stamped_assignment(user_ns: dict) -> str | None:
    """The exercise id ``mpgrade template`` stamped in the running notebook, if it can be read."""
    path = notebook_path(user_ns)
    if path is None:
        return None
    try:
        from mpgrade.submission import load

        return load(path).assignment_id
    except MpgradeError:
        return None


def kernel_would_fail(source: str) -> str:
    """Why this cell would fail if the kernel ran it itself, or "" when it would not."""
    method = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]
    if method == "fork" or not (_USES_CHILDREN.search(source) and _DEFINES.search(source)):
        return ""
    return (
        f"Run in this kernel, this cell would fail: its start method is {method}, so child "
        "processes import the functions they run by name from `__main__`, and a notebook's "
        "`__main__` is not a file they can import. mpgrade ran it as a real file, where it "
        "works; that is also how it is graded."
    )


def _earlier_cells(shell) -> list[str]:
    """What the kernel ran before this cell, as typed (our own magic lines removed)."""
    raw = list(shell.history_manager.input_hist_raw)[1:-1]  # [0] is empty, [-1] is this cell
    cells = []
    for source in raw:
        lines = source.splitlines()
        if lines and lines[0].lstrip().startswith("%%mpgrade"):
            lines = lines[1:]
        cells.append("\n".join(lines))
    return [c for c in cells if c.strip()]


def _show(result: object) -> None:
    from IPython.display import display

    display(result)


def _fail(exc: MpgradeError) -> None:
    print(f"mpgrade: error: {exc}")


def load_ipython_extension(shell) -> None:
    """``%load_ext mpgrade``: register ``%%mpgrade`` and ``%mpgrade``."""

    def cell_magic(line: str, cell: str) -> None:
        try:
            args = _cell_parser().parse_args(shlex.split(line))
            assignment = args.assignment or stamped_assignment(shell.user_ns)
            name = str(notebook_path(shell.user_ns) or "notebook cell")
            result = api.check_cells([*_earlier_cells(shell), cell], args.question, assignment,
                                     name=name, note=kernel_would_fail(cell), timeout=args.timeout)
        except MpgradeError as exc:
            _fail(exc)
            return
        _show(result)
        if args.also_run:
            shell.run_cell(cell, store_history=False)

    def line_magic(line: str) -> None:
        try:
            args = _line_parser().parse_args(shlex.split(line))
            path = args.path or notebook_path(shell.user_ns)
            if path is None:
                raise MpgradeError("this kernel cannot tell which notebook it runs; save it and "
                                   "give its file: %mpgrade ass.ipynb")
            result = api.check(path, args.question or None, args.assignment, timeout=args.timeout)
        except MpgradeError as exc:
            _fail(exc)
            return
        _show(result)

    shell.register_magic_function(cell_magic, "cell", "mpgrade")
    shell.register_magic_function(line_magic, "line", "mpgrade")
