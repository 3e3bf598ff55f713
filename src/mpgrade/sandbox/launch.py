"""The root of a run where util-linux is missing: the exec chain's steps in one small program.

Run as ``python -I -S launch.py SPEC ARGV...`` with SPEC a JSON object ``{"procs": [cgroup
procs files], "limits": [[which, soft, hard], ...], "uid": int or null}``. It joins the
cgroups, sets the rlimits, drops to the uid with ``no_new_privs`` and execs ARGV in its own
pid, so the student's first instruction runs with all of them in place. It is a fresh,
single-threaded interpreter: nothing here runs in a fork of the grader. Only the standard
library is used (``-S`` leaves site-packages out). A failed drop exits 126 before ARGV runs.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

PR_SET_NO_NEW_PRIVS = 38
FAILED = 126


def _join(procs: list[str]) -> None:
    """Write our pid to each cgroup's procs file; one that cannot be written is skipped."""
    pid = str(os.getpid()).encode()
    for path in procs:
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        except OSError:
            pass


def _limit(limits: list[list[int]]) -> None:
    for which, soft, hard in limits:
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass


def _drop(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # clears every capability set
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError("cannot set no_new_privs")


def main(args: list[str]) -> None:
    spec, argv = json.loads(args[0]), args[1:]
    _join(spec["procs"])
    _limit(spec["limits"])
    try:
        if spec["uid"] is not None:
            _drop(spec["uid"])
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f"mpgrade launch: {exc}\n".encode())
        os._exit(FAILED)


if __name__ == "__main__":
    main(sys.argv[1:])
