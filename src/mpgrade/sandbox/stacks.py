"""Python stacks of a hung tree, taken just before it is killed.

The probe inside every interpreter registers ``faulthandler`` on SIGUSR1 to write all
threads to ``$MPGRADE_META/stacks-<pid>.txt`` (pid as the sandbox sees it). We signal only
processes that catch SIGUSR1 (for any other the default action would kill it), wait until
the dumps stop growing, and parse them. The files are written by untrusted code: opened
without following symlinks, size-capped, parsed leniently.
"""

from __future__ import annotations

import os
import signal
import stat
import time

from mpgrade import regexes
from mpgrade.model import ProcessStack, StackFrame
from mpgrade.sandbox.observer import ProcInfo, read_cmdline
from mpgrade.sandbox.watch import syscall_of

_FRAME = regexes.compile(r'^\s+File "(.*)", line ([0-9]{1,9}) in (.*)$')  # 9 digits: int() stays cheap
_MAX_DUMP = 256 * 1024


def catches(pid: int, signo: int) -> bool:
    """Whether the process installed a handler for ``signo`` (SigCgt in /proc/PID/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signo - 1) & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def read_untrusted(path: str, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file the student could have replaced by a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        chunks, left = [], limit
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def parse_dump(text: str) -> tuple[StackFrame, ...]:
    """Frames of the main thread (the last block of a faulthandler dump), innermost last."""
    blocks: list[list[StackFrame]] = []
    for line in text.splitlines():
        if line.startswith(("Thread 0x", "Current thread 0x", "Stack (most recent")):
            blocks.append([])
            continue
        m = _FRAME.match(line)
        if m and blocks:
            blocks[-1].append(StackFrame(m.group(1), int(m.group(2)), m.group(3).strip()))
    return tuple(reversed(blocks[-1])) if blocks else ()


def _name(info: ProcInfo) -> str:
    cmd = read_cmdline(info.pid) or info.cmdline
    if cmd:
        return cmd[:200]
    try:
        with open(f"/proc/{info.pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def collect(procs: list[ProcInfo], meta_dir: str, wait_s: float = 0.15) -> tuple[ProcessStack, ...]:
    """Signal the live processes, wait for their dumps to settle, return one stack each."""
    # Kernel waits first: once signalled, a process is busy in its handler ("running").
    waits = {info.pid: (syscall_of(info.pid) or ("", []))[0] for info in procs}
    targets: dict[int, ProcInfo] = {}
    for info in procs:
        ns_pid = info.ns_pid or info.pid
        if catches(info.pid, signal.SIGUSR1):
            try:
                os.kill(info.pid, signal.SIGUSR1)
                targets[ns_pid] = info
            except OSError:
                pass
    names = {info.pid: _name(info) for info in procs}
    files = {ns: os.path.join(meta_dir, f"stacks-{ns}.txt") for ns in targets}
    sizes: dict[int, int] = {}
    end = time.monotonic() + wait_s
    while targets and time.monotonic() < end:
        time.sleep(0.01)
        now = {ns: _size(path) for ns, path in files.items()}
        if all(now.values()) and now == sizes:
            break
        sizes = now
    stacks = []
    for info in procs:
        ns_pid = info.ns_pid or info.pid
        frames: tuple[StackFrame, ...] = ()
        if ns_pid in files:
            raw = read_untrusted(files[ns_pid], _MAX_DUMP)
            frames = parse_dump(raw.decode("utf-8", "replace"))
        stacks.append(ProcessStack(ns_pid, names[info.pid], frames, waits[info.pid]))
    return tuple(stacks)


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0
