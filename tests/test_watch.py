"""The deadlock rule's parts on real processes: which waits count as endless."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from mpgrade.sandbox.watch import (
    SYSCALLS,
    _LocalSockets,
    is_endless_wait,
    syscall_of,
    tree_waits_forever,
)

pytestmark = pytest.mark.skipif(not SYSCALLS or not os.path.isdir("/proc/self"),
                                reason="needs /proc syscall numbers for this machine")


def _blocked_in(proc: subprocess.Popen, name: str) -> tuple[str, list[int]]:
    end = time.monotonic() + 10
    while time.monotonic() < end:
        sc = syscall_of(proc.pid)
        if sc and sc[0] == name:
            return sc
        time.sleep(0.02)
    raise AssertionError(f"child never blocked in {name}: {syscall_of(proc.pid)}")


def test_a_read_on_a_pipe_the_supervisor_feeds_is_not_endless() -> None:
    with subprocess.Popen([sys.executable, "-S", "-c", "import os; os.read(0, 1)"],
                          stdin=subprocess.PIPE) as proc:
        try:
            name, args = _blocked_in(proc, "read")
            inode = os.fstat(proc.stdin.fileno()).st_ino  # type: ignore[union-attr]
            assert is_endless_wait(proc.pid, name, args, _LocalSockets())
            assert not is_endless_wait(proc.pid, name, args, _LocalSockets(), frozenset({inode}))
            assert tree_waits_forever([proc.pid], _LocalSockets())[0]
            assert not tree_waits_forever([proc.pid], _LocalSockets(), frozenset({inode}))[0]
        finally:
            proc.kill()


def test_sleep_and_a_busy_loop_are_never_endless() -> None:
    code = "import time, sys\nif sys.argv[1] == 's': time.sleep(30)\nelse:\n    while True: pass\n"
    for mode in ("s", "b"):
        with subprocess.Popen([sys.executable, "-S", "-c", code, mode]) as proc:
            try:
                time.sleep(0.3)
                assert not tree_waits_forever([proc.pid], _LocalSockets())[0]
            finally:
                proc.kill()
