"""Starting the root of a run with its set-up done between fork and exec.

Three things must hold from the student's first instruction: the process is in the run's
cgroups (no fork can escape them), it has the run's rlimits, and under a root grader of
the plain backend it is an unprivileged uid with ``no_new_privs``. None of it runs in a
fork of the grader: a ``preexec_fn`` would make ``subprocess`` fork the whole grader
(copying the page tables of a large, multi-threaded process on every run) and run Python
in a child of a threaded process, which can crash or hang there. Instead the root starts
as a chain of small programs, each exec'ing the next in place, which ``subprocess`` starts
with vfork. Where ``/bin/sh`` and util-linux's ``prlimit`` and ``setpriv`` exist: ``sh``
writes its pid to the cgroups' ``procs`` files, ``prlimit`` sets the limits, ``setpriv``
drops the uid. Elsewhere ``launch.py``, run by a fresh ``python -I -S``, does the same
three steps. The pid is the same from the first program to the student's interpreter, so
the chain adds no process the watcher must skip. A failed drop ends the chain before the
student's code runs.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mpgrade.model import Limits

try:
    import resource
except ImportError:  # Windows: no rlimits; the sandbox is not supported there anyway
    resource = None  # type: ignore[assignment]

_RLIM_MAX = 2**63 - 1  # the largest finite rlimit (rlim_t is 64-bit; above is "unlimited")

# sh: join every cgroup named before "--" (a file that cannot be written is skipped, as
# launch.py skips it), then exec the rest.
_JOIN = ('while [ "$1" != -- ]; do { echo $$ > "$1"; } 2>/dev/null; shift; done; '
         'shift; exec "$@"')


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
    return [(which, _clamp(which, (_held(value[0]), _held(value[1])))) for which, value in out]


def _held(value: int) -> int:
    """``value``, or no limit when it is more than an rlimit holds (a limit of exabytes or
    of 1e300 CPU seconds asks for none; passed on, it would fail the run's start)."""
    return resource.RLIM_INFINITY if value > _RLIM_MAX else value


def _clamp(which: int, value: tuple[int, int]) -> tuple[int, int]:
    """Never ask for more than the current hard limit: a non-root uid cannot raise it."""
    hard = resource.getrlimit(which)[1]
    if hard == resource.RLIM_INFINITY:
        return value
    soft, most = (hard if v == resource.RLIM_INFINITY else min(v, hard) for v in value)
    return soft, most


def _rlimit_text(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)


@functools.cache
def chain_tools() -> tuple[str, str, str] | None:
    """(sh, prlimit, setpriv) when all three exist here (Linux with util-linux), else None."""
    if not sys.platform.startswith("linux") or resource is None:
        return None
    found = (shutil.which("sh", path="/bin:/usr/bin"), shutil.which("prlimit", path="/usr/bin:/bin"),
             shutil.which("setpriv", path="/usr/bin:/bin"))
    return found if all(found) else None  # type: ignore[return-value]


def _prlimit_options() -> dict[int, str]:
    return {resource.RLIMIT_CPU: "--cpu", resource.RLIMIT_FSIZE: "--fsize",
            resource.RLIMIT_NOFILE: "--nofile", resource.RLIMIT_CORE: "--core",
            getattr(resource, "RLIMIT_AS", -1): "--as", getattr(resource, "RLIMIT_NPROC", -2): "--nproc"}


def chain(
    tools: tuple[str, str, str], argv: Sequence[str], limits_list: list[tuple[int, tuple[int, int]]],
    cgroup_procs: Sequence[str], uid: int | None,
) -> list[str]:
    """The argv that joins the cgroups, sets the limits, drops to ``uid``, then execs ``argv``."""
    sh, prlimit, setpriv = tools
    options = _prlimit_options()
    out = [sh, "-c", _JOIN, "mpgrade-join", *cgroup_procs, "--", prlimit]
    out += [f"{options[which]}={_rlimit_text(soft)}:{_rlimit_text(hard)}" for which, (soft, hard) in limits_list]
    out.append("--")
    if uid is not None:
        out += [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                "--"]
    return out + list(argv)


def launcher(
    argv: Sequence[str], limits_list: list[tuple[int, tuple[int, int]]],
    cgroup_procs: Sequence[str], uid: int | None,
) -> list[str]:
    """The argv that has ``launch.py`` do the chain's steps, then exec ``argv``."""
    spec = {"procs": list(cgroup_procs), "uid": uid,
            "limits": [[which, soft, hard] for which, (soft, hard) in limits_list]}
    return [sys.executable, "-I", "-S", str(Path(__file__).with_name("launch.py")),
            json.dumps(spec), *argv]


def start(
    argv: Sequence[str], *, cwd: str, env: dict[str, str], stdin: int, limits: Limits,
    cgroup_procs: Sequence[str], extra_processes: int, uid: int | None,
) -> subprocess.Popen:
    """Start ``argv`` as the root of a run: its own session, stdout and stderr piped; by
    the util-linux chain where its tools exist, else by ``launch.py``."""
    limits_list = rlimits(limits, extra_processes, uid)
    tools = chain_tools()
    common = dict(cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  start_new_session=True, close_fds=True)
    if tools:
        return subprocess.Popen(chain(tools, argv, limits_list, cgroup_procs, uid), **common)
    return subprocess.Popen(launcher(argv, limits_list, cgroup_procs, uid), **common)
