"""The limits watcher: decides, every ~50 ms, whether and why a run must be stopped.

Deadlock detection rests on two facts read from /proc: in a deadlock the
tree's CPU time stops moving, and every thread of every process sits in a wait that has no
deadline (a read on a pipe or local socket, wait4, a futex or poll without timeout).
``time.sleep`` and waits with a timeout will end by themselves, and a busy loop burns CPU:
those are left to the time limit. A thread that is runnable (state R) is not waiting, even
while the syscall it is returning from still shows; and a pipe the supervisor itself
drains or feeds (the captured stdout and stderr, the fed stdin) always moves, so waiting
on it is never part of a deadlock.

Because every thread must be in such a wait *and* the tree's run time must not move at
all, half a second of it is already a safe verdict; a longer wait only delays the report.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable

from mpgrade.model import LimitReason, Limits, value_class
from mpgrade.sandbox import procfs
from mpgrade.wording import plural

# Syscall numbers of the waits that matter, per architecture.
_SYSCALLS = {
    "x86_64": {
        0: "read", 1: "write", 7: "poll", 19: "readv", 20: "writev", 23: "select",
        34: "pause", 35: "nanosleep", 43: "accept", 44: "sendto", 45: "recvfrom",
        46: "sendmsg", 47: "recvmsg", 61: "wait4", 65: "semop", 69: "msgsnd", 70: "msgrcv",
        73: "flock", 128: "rt_sigtimedwait", 130: "rt_sigsuspend", 202: "futex",
        220: "semtimedop", 230: "clock_nanosleep", 232: "epoll_wait", 247: "waitid",
        270: "pselect6", 271: "ppoll", 281: "epoll_pwait", 288: "accept4",
        441: "epoll_pwait2", 449: "futex_waitv",
    },
    "aarch64": {
        22: "epoll_pwait", 32: "flock", 63: "read", 64: "write", 65: "readv", 66: "writev",
        72: "pselect6", 73: "ppoll", 95: "waitid", 98: "futex", 101: "nanosleep",
        115: "clock_nanosleep", 133: "rt_sigsuspend", 137: "rt_sigtimedwait", 188: "msgrcv",
        189: "msgsnd", 192: "semtimedop", 193: "semop", 202: "accept", 206: "sendto",
        207: "recvfrom", 211: "sendmsg", 212: "recvmsg", 242: "accept4", 260: "wait4",
        441: "epoll_pwait2", 449: "futex_waitv",
    },
}
SYSCALLS = _SYSCALLS.get(platform.machine(), {})

# The unix sockets of a sandbox's network namespace fit in far less; past it, a socket
# counts as not local, and so never as part of a deadlock.
_NET_UNIX_BYTES = 4 << 20

# Waits that never time out by themselves.
_ENDLESS = {"pause", "rt_sigsuspend", "wait4", "waitid", "accept", "accept4", "flock",
            "msgrcv", "msgsnd", "semop"}
# Waits on a file descriptor (argument 0): endless only on a pipe or a local socket.
_FD_WAITS = {"read", "readv", "recvfrom", "recvmsg", "write", "writev", "sendto", "sendmsg"}
# Timeout given as a pointer: endless when NULL. Value: index of that argument.
_PTR_TIMEOUT = {"futex": 3, "ppoll": 2, "select": 4, "pselect6": 4, "epoll_pwait2": 3,
                "rt_sigtimedwait": 2, "semtimedop": 3, "futex_waitv": 3}
# Timeout given as an int in milliseconds: endless when negative.
_INT_TIMEOUT = {"poll": 2, "epoll_wait": 3, "epoll_pwait": 3}


def syscall_of(pid: int, tid: int | None = None) -> tuple[str, list[int]] | None:
    """(syscall name or "running" / "nr<N>", args) a thread is in; None when unreadable."""
    path = f"/proc/{pid}/task/{tid}/syscall" if tid else f"/proc/{pid}/syscall"
    try:
        fields = procfs.read(path, 4096).split()
    except OSError:
        return None
    if not fields:
        return None
    if fields[0] == b"running":
        return "running", []
    try:
        nr = int(fields[0])
        args = [int(a, 16) for a in fields[1:7]]
    except ValueError:
        return None
    if nr < 0:
        return "running", []  # blocked outside a syscall (page fault...): not a wait
    return SYSCALLS.get(nr, f"nr{nr}"), args


class _LocalSockets:
    """Inodes of Unix sockets, read from /proc/PID/net/unix only when a socket wait shows up."""

    def __init__(self) -> None:
        self._cache: dict[int, bool] = {}

    def is_local(self, pid: int, inode: int) -> bool:
        if inode not in self._cache:
            try:
                for line in procfs.read(f"/proc/{pid}/net/unix", _NET_UNIX_BYTES).splitlines():
                    parts = line.split()
                    if len(parts) >= 7 and parts[6].isdigit():
                        self._cache[int(parts[6])] = True
            except OSError:
                pass
            self._cache.setdefault(inode, False)
        return self._cache[inode]


def _endless_fd(pid: int, fd: int, sockets: _LocalSockets, moving: frozenset[int]) -> bool:
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return False
    if target.startswith("pipe:["):
        inode = target[6:-1]
        return not (inode.isdigit() and int(inode) in moving)
    if target.startswith("socket:["):
        return sockets.is_local(pid, int(target[8:-1]))
    return False  # a file or a device: it will answer


def is_endless_wait(
    pid: int, name: str, args: list[int], sockets: _LocalSockets,
    moving: frozenset[int] = frozenset(),
) -> bool:
    """True when the thread waits for something that has no deadline.

    ``moving``: inodes of pipes the supervisor reads or writes itself.
    """
    if name in _ENDLESS:
        return True
    if name in _FD_WAITS:
        return bool(args) and _endless_fd(pid, args[0], sockets, moving)
    if name in _PTR_TIMEOUT:
        return len(args) > _PTR_TIMEOUT[name] and args[_PTR_TIMEOUT[name]] == 0
    if name in _INT_TIMEOUT:
        i = _INT_TIMEOUT[name]
        return len(args) > i and (args[i] & 0xFFFFFFFF) >= 0x80000000
    return False


def _state(pid: int, tid: int | None = None) -> str:
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    try:
        data = procfs.read(path)
        return data[data.rfind(b")") + 2 :].split()[0].decode()
    except (OSError, IndexError):
        return "?"


def tree_waits_forever(
    pids: list[int], sockets: _LocalSockets, moving: frozenset[int] = frozenset()
) -> tuple[bool, int]:
    """(every live thread waits without deadline, summed run time in ns of those threads)."""
    runtime = 0
    live = 0
    for pid in pids:
        state = _state(pid)
        if state in ("Z", "X", "?"):
            continue
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        live += 1
        for tid in tids:
            try:
                runtime += int(procfs.read(f"/proc/{pid}/task/{tid}/schedstat", 256).split()[0])
            except (OSError, ValueError, IndexError):
                pass
            if state == "T":
                continue  # stopped: it will not move by itself either
            if _state(pid, tid) == "R":
                return False, runtime  # woken, or running: not waiting any more
            sc = syscall_of(pid, tid)
            if sc is None or not is_endless_wait(pid, sc[0], sc[1], sockets, moving):
                return False, runtime
    return live > 0, runtime


@value_class
class Verdict:
    reason: LimitReason
    detail: str


def _secs(x: float) -> str:
    return f"{x:.1f} s"


class Watcher:
    """Holds the state between checks (deadlock candidate since when) and returns verdicts."""

    def __init__(
        self,
        limits: Limits,
        started: float,
        deadlock_after_s: float = 0.5,
        moving_pipes: frozenset[int] = frozenset(),
    ) -> None:
        self.limits = limits
        self.moving_pipes = moving_pipes
        self.detect_deadlock = bool(SYSCALLS) and os.path.isdir("/proc/self")
        self.started = started
        self.deadlock_after_s = deadlock_after_s
        self._sockets = _LocalSockets()
        self._last: tuple[frozenset[int], int] | None = None
        self._quiet_since: float | None = None

    def check(
        self,
        now: float,
        pids: list[int],
        output_exceeded: bool,
        process_limit_hit: bool,
        cpu_s: Callable[[], float],
    ) -> Verdict | None:
        """One tick: the first limit that is crossed, or None to carry on."""
        lim = self.limits
        if output_exceeded:
            return Verdict(
                "output_limit",
                f"Your program printed more than {lim.output_bytes:,} bytes (the output limit); "
                "only the beginning is shown.",
            )
        if process_limit_hit:
            return Verdict(
                "process_limit",
                f"Your program tried to start more than {plural(lim.processes, 'process', 'processes')} "
                "(the process limit).",
            )
        elapsed = now - self.started
        if elapsed >= lim.wall_s:
            return Verdict(
                "time_limit",
                f"Stopped after {_secs(lim.wall_s)} (the time limit for this question).",
            )
        used = cpu_s()
        if used >= lim.cpu_s:
            return Verdict(
                "cpu_limit",
                f"Your processes used {_secs(used)} of CPU time together "
                f"(the limit is {_secs(lim.cpu_s)}).",
            )
        if self.detect_deadlock and self._deadlocked(now, pids):
            return Verdict(
                "deadlock",
                "Every process was waiting for another one and none used CPU for "
                f"{_secs(self.deadlock_after_s)}: a deadlock.",
            )
        return None

    def _deadlocked(self, now: float, pids: list[int]) -> bool:
        stuck, runtime = tree_waits_forever(pids, self._sockets, self.moving_pipes)
        state = (frozenset(pids), runtime)
        if not stuck or state != self._last:
            self._last = state
            self._quiet_since = now if stuck else None
            return False
        return self._quiet_since is not None and now - self._quiet_since >= self.deadlock_after_s
