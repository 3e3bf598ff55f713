"""The bubblewrap backend: the plain command inside fresh namespaces.

What the student's tree sees: the interpreter and the system libraries read-only, its own
scratch dir at /sandbox/work (cwd and $HOME), the meta dir at /sandbox/meta, a private /tmp
and /dev/shm, its own /proc. No network (not even loopback), its own pid namespace (killing
bwrap ends every process in it), uid 65534 in a user namespace (no capabilities even when
the grader is root). Everything else of the host (home dirs, solutions, other students'
files) does not exist in there.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile

from mpgrade.cache import file_identity, once, read_small, remembered
from mpgrade.model import RunRequest
from mpgrade.sandbox import interpreter, plain
from mpgrade.sandbox.backends import DoctorRows, Launch, scrubbed_env

SANDBOX_WORK = "/sandbox/work"
SANDBOX_META = "/sandbox/meta"
# Wrapper generations above the student's root: outer bwrap (monitor), inner bwrap (pid 1).
WRAPPER_DEPTH = 2

_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
              "/etc/alternatives")


@functools.cache
def find() -> str | None:
    return shutil.which("bwrap") or next(
        (p for p in ("/usr/bin/bwrap", "/usr/local/bin/bwrap") if os.access(p, os.X_OK)), None
    )


@functools.cache
def version() -> str | None:
    exe = find()
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().rpartition(" ")[2] or None


def _python_dirs() -> list[str]:
    """The interpreter's installation: base prefix, and the binary's own prefix if apart."""
    dirs = {os.path.realpath(sys.base_prefix)}
    exe_prefix = os.path.dirname(os.path.dirname(interpreter.real_binary()))
    if not any(exe_prefix.startswith(d + os.sep) or exe_prefix == d for d in dirs):
        dirs.add(exe_prefix)
    return sorted(d for d in dirs if d != "/usr" and not d.startswith("/usr/"))


def command(
    inner: list[str], work: str, meta: str, env: dict[str, str], ro_dirs: tuple[str, ...] = (),
    as_pid_1: bool = False,
) -> list[str]:
    """bwrap argv that runs ``inner`` (paths inside the sandbox) with ``env`` only.

    ``as_pid_1`` runs ``inner`` as the namespace's init, without bwrap's own init process
    in between: only for one-shot commands that start no children.
    """
    exe = find()
    if exe is None:
        raise RuntimeError("bubblewrap is not installed")
    argv = [exe, "--as-pid-1"] if as_pid_1 else [exe]
    for d in _SYSTEM_DIRS:
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            argv += ["--ro-bind", d, d]
    for f in _ETC_FILES:
        argv += ["--ro-bind-try", f, f]
    # The private /tmp comes before the interpreter and probe binds: when those live under
    # the host's /tmp (a venv in a CI checkout), a later tmpfs would hide them.
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    venv = interpreter.environment()
    for d in (*_python_dirs(), *((venv,) if venv else ()), *ro_dirs):
        argv += ["--ro-bind", d, d]
    argv += [
        "--bind", work, SANDBOX_WORK, "--bind", meta, SANDBOX_META, "--chdir", SANDBOX_WORK,
        "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
        "--hostname", "sandbox", "--cap-drop", "ALL",
        "--die-with-parent", "--new-session", "--clearenv",
    ]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return argv + ["--", *inner]


def _probe_key() -> tuple[str, ...]:
    """What the probe's answer depends on: the binaries, the kernel and its namespace
    settings, who we are, and the exact command line (so a changed layout probes again)."""
    uname = os.uname()
    return (
        file_identity(interpreter.real_binary()),
        file_identity(find()),
        uname.release,
        uname.version,
        f"{os.geteuid()}:{os.getegid()}",
        read_small("/proc/sys/kernel/unprivileged_userns_clone"),
        read_small("/proc/sys/user/max_user_namespaces"),
        read_small("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
        " ".join(command(_probe_program(), "/w", "/m", {"PATH": "/usr/bin:/bin"})),
    )


def _probe_program() -> list[str]:
    return [interpreter.interpreter(), "-c", "import multiprocessing"]


@once
def probe() -> str | None:
    """None when the interpreter runs in the sandbox, else why it does not.

    A success is remembered on disk for the same binaries and kernel settings, so most
    invocations do not pay for a sandboxed start before grading; a failure is probed anew.
    """
    if not sys.platform.startswith("linux"):
        return "bubblewrap needs Linux"
    if find() is None:
        return "bubblewrap (bwrap) is not installed"
    problems: list[str] = []

    def attempt() -> str | None:
        problem = _probe_run()
        if problem is None:
            return "works"
        problems.append(problem)
        return None

    remembered("bwrap-probe", _probe_key(), attempt)
    return problems[0] if problems else None


def _probe_run() -> str | None:
    with tempfile.TemporaryDirectory(prefix="mpgrade-probe-") as tmp:
        work, meta = os.path.join(tmp, "work"), os.path.join(tmp, "meta")
        os.mkdir(work)
        os.mkdir(meta)
        # As pid 1: bwrap's outer process does not reap an inner init, which would be left
        # as a zombie of whoever adopts it.
        argv = command(_probe_program(), work, meta, {"PATH": "/usr/bin:/bin"}, as_pid_1=True)
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                                 stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as e:
            return f"bubblewrap could not start: {e}"
    if out.returncode != 0:
        return f"bubblewrap failed: {out.stderr.strip()[:300]}"
    return None


class BwrapBackend:
    """The plain command inside bubblewrap's namespaces (see the module docstring)."""

    name = "bwrap"
    wrapper_depth = WRAPPER_DEPTH
    pid_namespace = True

    def problem(self) -> str | None:
        return probe()

    def student_uid(self, python: str, pythonpath: tuple[str, ...]) -> int | None:
        return None  # the user namespace maps the tree to nobody already

    def launch(self, req: RunRequest, work: str, meta: str, python: str) -> Launch:
        env = scrubbed_env(req, SANDBOX_WORK, SANDBOX_META, "/tmp", interpreter.path_libraries())
        inner = plain.command(python, f"{SANDBOX_WORK}/{req.script}")
        ro_dirs = (*req.pythonpath, *interpreter.library_dirs())
        return Launch(tuple(command(inner, work, meta, env, ro_dirs)), {"PATH": env["PATH"]})

    def exit_code(self, status: int) -> int:
        return 128 - status if status > 128 else status  # bwrap reports death by signal N as 128+N

    def doctor(self) -> DoctorRows:
        problem = probe()
        status = "usable" if problem is None else problem
        if version():
            status = f"{status} ({version()})"
        row = ("bubblewrap", status,
               "read-only system, private /tmp, no network, own pid namespace, uid nobody")
        if not sys.platform.startswith("linux") or problem is None:
            return DoctorRows((row,))
        if find() is None:
            hint = ("Install bubblewrap (apt-get install bubblewrap / dnf install bubblewrap) "
                    "to hide the filesystem and network from student code.")
        else:
            hint = (f"bubblewrap is installed but does not work here ({problem}); enable "
                    "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 "
                    "or kernel.apparmor_restrict_unprivileged_userns=0) or run as root.")
        return DoctorRows((row,), (hint,))


BACKEND = BwrapBackend()
