"""The plain backend: a new session, rlimits and (when possible) a cgroup, no namespaces.

It works everywhere (non-root, macOS) but hides nothing of the filesystem: see SECURITY.md.
Bubblewrap wraps the plain ``command``; the set-up between fork and exec (cgroups,
rlimits, the uid drop) is spawn.py's, the same for every backend.

As root (Gradescope's containers, where bubblewrap rarely works) the tree is dropped to an
unprivileged uid before exec, with no capabilities and ``no_new_privs``: the cgroup files,
the grader's processes (signals, ptrace) and the grader's own files are then out of reach.
"""

from __future__ import annotations

import ctypes
import functools
import os
import stat
import sys
from collections.abc import Iterable

from mpgrade.cache import once
from mpgrade.model import RunRequest
from mpgrade.sandbox import interpreter
from mpgrade.sandbox.backends import DoctorRows, Launch, scrubbed_env

PR_SET_CHILD_SUBREAPER = 36
UNPRIVILEGED_UID = 65534  # nobody


@functools.cache
def libc() -> ctypes.CDLL | None:
    """libc from the process's own namespace (``CDLL(None)``): ``find_library`` would start
    ``ldconfig`` and a compiler just to name it."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


@once
def make_subreaper() -> bool:
    """Adopt orphans of our trees (Linux): a setsid() grandchild stays findable and reapable."""
    found = libc() if sys.platform.startswith("linux") else None
    return found is not None and found.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _others_may_use(path: str) -> bool:
    """Can a uid that is neither owner nor group of anything read ``path`` (and run it)?"""
    real = os.path.realpath(path)
    parts = real.split(os.sep)
    try:
        for i in range(2, len(parts)):
            if not os.stat(os.sep.join(parts[:i])).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(real).st_mode
    except OSError:
        return False
    need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) or mode & stat.S_IXUSR else 0)
    return mode & need == need


def student_uid(paths: Iterable[str]) -> int | None:
    """The uid the plain backend runs a root grader's tree as: ``UNPRIVILEGED_UID`` when that
    uid can reach every path the run needs (interpreter, standard library, probe); None
    keeps the grader's uid (not root, or an interpreter under a private home)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    return UNPRIVILEGED_UID if all(_others_may_use(p) for p in paths) else None


def run_uid(python: str, pythonpath: Iterable[str]) -> int | None:
    """``student_uid`` for a run of ``python`` (this interpreter, maybe a venv's link to it:
    its folder too) with ``pythonpath``."""
    return student_uid([python, os.path.dirname(python), os.path.dirname(os.__file__),
                        *pythonpath])


def command(python: str, script: str) -> list[str]:
    return [python, "-u", script]


class PlainBackend:
    """The student's interpreter started directly, in the grader's view of the system."""

    name = "plain"
    wrapper_depth = 0
    pid_namespace = False

    def problem(self) -> str | None:
        return None  # a subprocess with rlimits works wherever Python does

    def student_uid(self, python: str, pythonpath: tuple[str, ...]) -> int | None:
        return run_uid(python, pythonpath)

    def launch(self, req: RunRequest, work: str, meta: str, python: str) -> Launch:
        tmp = os.path.join(os.path.dirname(work), "tmp")
        env = scrubbed_env(req, work, meta, tmp, interpreter.path_libraries())
        return Launch(tuple(command(python, os.path.join(work, req.script))), env)

    def exit_code(self, status: int) -> int:
        return status

    def doctor(self) -> DoctorRows:
        if not (hasattr(os, "geteuid") and os.geteuid() == 0 and sys.platform.startswith("linux")):
            return DoctorRows()
        from mpgrade.resources import probe_dir

        python = interpreter.interpreter()
        uid = run_uid(python, (str(probe_dir()),))
        row = ("plain backend runs code as", f"uid {uid}" if uid is not None else "root (see the hint)",
               "no capabilities: the grader's processes, files and cgroups out of reach")
        if uid is not None:
            return DoctorRows((row,))
        return DoctorRows((row,), (
            f"As root, the plain backend runs student code as root here: uid {UNPRIVILEGED_UID} "
            f"cannot run {interpreter.real_binary()} or read its standard library (in a private "
            "home?). Grade with a Python installed where every "
            "user can read it (/usr/bin/python3, /opt) to drop student code to that uid.",))


BACKEND = PlainBackend()
