"""The plain backend: a new session, rlimits and (when possible) a cgroup, no namespaces.

It works everywhere (non-root, macOS) but hides nothing of the filesystem: see SECURITY.md.
The same child set-up runs under bubblewrap, which wraps the plain command.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable

from mpgrade.model import Limits
from mpgrade.sandbox.cache import once

try:
    import resource
except ImportError:  # Windows: no rlimits; the sandbox is not supported there anyway
    resource = None  # type: ignore[assignment]

PR_SET_CHILD_SUBREAPER = 36


@once
def make_subreaper() -> bool:
    """Adopt orphans of our trees (Linux): a setsid() grandchild stays findable and reapable.

    libc is the process's own namespace (``CDLL(None)``): ``find_library`` would start
    ``ldconfig`` and a compiler just to name it.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        return False


def _user_process_count() -> int:
    """Processes the current uid owns: RLIMIT_NPROC counts them all, not just our tree."""
    uid = os.getuid()
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


def rlimits(limits: Limits, extra_processes: int) -> list[tuple[int, tuple[int, int]]]:
    """The rlimits every process of the run inherits.

    RLIMIT_NPROC is set only for a non-root uid: root ignores it (FIELD-NOTES) and it counts
    every process of the uid, so the allowance is what the uid already runs plus the limit.
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
    if os.getuid() != 0 and hasattr(resource, "RLIMIT_NPROC"):
        n = _user_process_count() + limits.processes + extra_processes
        out.append((resource.RLIMIT_NPROC, (n, n)))
    return [(which, _clamp(which, value)) for which, value in out]


def _clamp(which: int, value: tuple[int, int]) -> tuple[int, int]:
    """Never ask for more than the current hard limit: a non-root uid cannot raise it."""
    hard = resource.getrlimit(which)[1]
    if hard == resource.RLIM_INFINITY:
        return value
    return min(value[0], hard), min(value[1], hard)


def preexec(
    limits: Limits, cgroup_procs: list[str], extra_processes: int = 0
) -> Callable[[], None]:
    """The function the child runs between fork and exec: join the cgroup, apply rlimits.

    Joining before exec means the cgroup holds the tree from its first instruction: there is
    no window in which a fork escapes it. Only os-level calls run in the forked child.
    """
    limits_list = rlimits(limits, extra_processes)

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

    return child


def command(python: str, script: str) -> list[str]:
    return [python, "-u", script]
