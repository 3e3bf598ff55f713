"""The plain backend: a new session, rlimits and (when possible) a cgroup, no namespaces.

It works everywhere (non-root, macOS) but hides nothing of the filesystem: see SECURITY.md.
The same child set-up (``preexec``, ``command``) runs under bubblewrap, which wraps the
plain command.

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
from collections.abc import Callable, Iterable

from mpgrade.model import Limits, RunRequest
from mpgrade.sandbox import interpreter
from mpgrade.sandbox.backends import DoctorRows, Launch, scrubbed_env
from mpgrade.sandbox.cache import once

try:
    import resource
except ImportError:  # Windows: no rlimits; the sandbox is not supported there anyway
    resource = None  # type: ignore[assignment]

PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
UNPRIVILEGED_UID = 65534  # nobody


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """libc from the process's own namespace (``CDLL(None)``): ``find_library`` would start
    ``ldconfig`` and a compiler just to name it."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


@once
def make_subreaper() -> bool:
    """Adopt orphans of our trees (Linux): a setsid() grandchild stays findable and reapable."""
    libc = _libc() if sys.platform.startswith("linux") else None
    return libc is not None and libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


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
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or resource is None:
        return None
    return UNPRIVILEGED_UID if all(_others_may_use(p) for p in paths) else None


def run_uid(python: str, pythonpath: Iterable[str]) -> int | None:
    """``student_uid`` for a run of ``python`` (this interpreter, maybe a venv's link to it:
    its folder too) with ``pythonpath``."""
    return student_uid([python, os.path.dirname(python), os.path.dirname(os.__file__),
                        *pythonpath])


def _uid_process_count(uid: int) -> int:
    """Processes ``uid`` owns: RLIMIT_NPROC counts them all, not just our tree."""
    try:
        names = [n for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return 0
    count = 0
    for n in names:
        try:
            if os.stat(f"/proc/{n}").st_uid == uid:
                count += 1
        except OSError:
            pass
    return count


def rlimits(
    limits: Limits, extra_processes: int, uid: int | None = None
) -> list[tuple[int, tuple[int, int]]]:
    """The rlimits every process of the run inherits.

    RLIMIT_NPROC is set only for a non-root uid (``uid``, else ours): root ignores it
    and it counts every process of the uid, so the allowance is what the uid
    already runs plus the limit.
    """
    if resource is None:
        return []
    mb = 1024 * 1024
    cpu = max(1, int(limits.cpu_s + 0.999))
    out = [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_FSIZE, (limits.file_size_mb * mb, limits.file_size_mb * mb)),
        (resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]
    if hasattr(resource, "RLIMIT_AS") and sys.platform.startswith("linux"):
        out.append((resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb)))
    runs_as = os.getuid() if uid is None else uid
    if runs_as != 0 and hasattr(resource, "RLIMIT_NPROC"):
        n = _uid_process_count(runs_as) + limits.processes + extra_processes
        out.append((resource.RLIMIT_NPROC, (n, n)))
    return [(which, _clamp(which, value)) for which, value in out]


def _clamp(which: int, value: tuple[int, int]) -> tuple[int, int]:
    """Never ask for more than the current hard limit: a non-root uid cannot raise it."""
    hard = resource.getrlimit(which)[1]
    if hard == resource.RLIM_INFINITY:
        return value
    return min(value[0], hard), min(value[1], hard)


def preexec(
    limits: Limits, cgroup_procs: list[str], extra_processes: int = 0, uid: int | None = None
) -> Callable[[], None]:
    """The function the child runs between fork and exec: join the cgroup, apply rlimits,
    then (``uid``) become that uid with no capabilities and no way back (``no_new_privs``:
    a setuid binary cannot return to root).

    Joining before exec means the cgroup holds the tree from its first instruction: there is
    no window in which a fork escapes it. Only os-level calls run in the forked child. A
    failed drop raises, so the run fails instead of running as root.
    """
    limits_list = rlimits(limits, extra_processes, uid)
    libc = _libc() if uid is not None else None

    def child() -> None:
        pid = str(os.getpid()).encode()
        for path in cgroup_procs:
            try:
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)
            except OSError:
                pass
        for which, value in limits_list:
            try:
                resource.setrlimit(which, value)
            except (ValueError, OSError):
                pass
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)  # clears every capability set
            if libc is None or libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                raise OSError("cannot set no_new_privs")

    return child


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
        env = scrubbed_env(req, work, meta, tmp, interpreter.library_dirs())
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
            f"cannot read {python} (a private home?). Grade with a Python installed where every "
            "user can read it (/usr/bin/python3, /opt) to drop student code to that uid.",))


BACKEND = PlainBackend()
