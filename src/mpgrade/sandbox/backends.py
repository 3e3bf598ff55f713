"""The table of sandbox backends, strongest first, and the protocol each one implements.

A backend decides how the student's root process is started: which command wraps the
interpreter, what environment it sees, which uid it runs as, and what that means for the
supervisor (processes of its own above the student's root, a pid namespace, how the
wrapper reports a death by signal). Everything else of a run (limits, observer, watcher,
kill, clean-up) is the runner's and the same for every backend.

``--isolation auto`` takes the first backend of the table whose self-test passes; a
backend named explicitly that fails its self-test is ``SandboxUnavailable`` (exit 2).
Rows name their module as ``module:attribute`` and are imported on first use, like the
output formats, so that the CLI's choices cost nothing at start-up. Adding a backend is
one module defining an object that satisfies ``Backend`` plus its row here.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Protocol

from mpgrade.errors import MpgradeError
from mpgrade.model import value_class

if TYPE_CHECKING:
    from mpgrade.model import RunRequest


class SandboxUnavailable(MpgradeError):
    """An isolation was asked for explicitly and this machine cannot provide it (exit 2)."""


@value_class
class Launch:
    """How to start the student's root: the argv, and the environment of the exec."""

    argv: tuple[str, ...]
    env: dict[str, str]


@value_class
class DoctorRows:
    """What ``mpgrade doctor`` says of a backend: table rows (feature, status, what it
    gives) and hints on how to make it work or work better."""

    rows: tuple[tuple[str, str, str], ...] = ()
    hints: tuple[str, ...] = ()


class Backend(Protocol):
    """One way of starting the student's tree."""

    name: str  # what ``--isolation`` takes and the reports show
    wrapper_depth: int  # generations of the backend's own processes above the student's root
    pid_namespace: bool  # the tree has its own pid numbering (the probe's pids are not ours)

    def problem(self) -> str | None:
        """The self-test: None when this backend runs an interpreter here, else why not."""

    def student_uid(self, python: str, pythonpath: tuple[str, ...]) -> int | None:
        """The uid to drop the tree to before exec, None to keep the supervisor's."""

    def launch(self, req: RunRequest, work: str, meta: str, python: str) -> Launch:
        """The command that runs ``req.script`` of the scratch dir ``work`` with ``python``."""

    def exit_code(self, status: int) -> int:
        """The student's exit code from the root process's status (a wrapper may encode it)."""

    def doctor(self) -> DoctorRows:
        """Rows and hints for ``mpgrade doctor``."""


_ROWS: tuple[tuple[str, str], ...] = (
    ("bwrap", "mpgrade.sandbox.bwrap:BACKEND"),
    ("plain", "mpgrade.sandbox.plain:BACKEND"),
)

NAMES: tuple[str, ...] = tuple(name for name, _ in _ROWS)
CHOICES: tuple[str, ...] = ("auto", *NAMES)  # what ``--isolation`` accepts


def get(name: str) -> Backend:
    """The backend called ``name``; ``ValueError`` naming the choices otherwise."""
    for row_name, ref in _ROWS:
        if row_name == name:
            module, _, attr = ref.partition(":")
            backend: Backend = getattr(importlib.import_module(module), attr)
            return backend
    raise ValueError(f"unknown isolation {name!r}: use {', '.join(CHOICES)}")


def all_backends() -> tuple[Backend, ...]:
    """Every backend of the table, strongest first."""
    return tuple(get(name) for name, _ in _ROWS)


def choose(isolation: str) -> Backend:
    """The backend ``isolation`` names, or for "auto" the strongest whose self-test passes."""
    if isolation != "auto":
        backend = get(isolation)
        problem = backend.problem()
        if problem is not None:
            raise SandboxUnavailable(
                f"--isolation {isolation} cannot run here: {problem} (mpgrade doctor says why; "
                "--isolation auto falls back to a weaker backend)")
        return backend
    for backend in all_backends():
        if backend.problem() is None:
            return backend
    raise SandboxUnavailable("no sandbox backend can run here (mpgrade doctor says why)")


def scrubbed_env(req: RunRequest, home: str, meta: str, tmp: str,
                 library_dirs: tuple[str, ...]) -> dict[str, str]:
    """The student's whole environment, with paths as the tree sees them: nothing of the
    grader's but a minimal PATH (no secrets, no PYTHONHOME)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "MPGRADE_TRACE": f"{meta}/trace.jsonl",
        "MPGRADE_META": meta,
    }
    env["PYTHONPATH"] = os.pathsep.join((*req.pythonpath, *library_dirs))
    env.update(req.env)
    return env
