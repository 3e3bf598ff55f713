"""Who is in the student's process tree, as the supervisor sees it (never as the student says).

Two ways, best first:

* the netlink proc connector (Linux, CAP_NET_ADMIN): the kernel reports every fork and exit,
  so a child that lives 1 ms is still counted and its exit status is known;
* polling /proc every ~10 ms (the run's cgroup.procs when there is one, else every process's
  parent and session): misses very short-lived children, never needs privileges.

Both keep the set of live members, the first-seen record of each process (parent, pid inside
the sandbox's pid namespace, command line) and the exits they learnt of.
"""

from __future__ import annotations

import array
import errno
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from mpgrade.cache import once
from mpgrade.model import ObservedProcess
from mpgrade.sandbox import procfs

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_EVENT_FORK = 0x1
PROC_EVENT_EXEC = 0x2
PROC_EVENT_EXIT = 0x80000000
NLMSG_DONE = 3
SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>; not exported by the socket module

_NLMSG = struct.Struct("=IHHII")
_CNMSG = struct.Struct("=IIIIHH")
_EVENT = struct.Struct("=IIQ")
_PAIR4 = struct.Struct("=iiii")
_WHAT = _NLMSG.size + _CNMSG.size  # offset of the event's type in a message of one event
_DATA = _WHAT + _EVENT.size  # offset of its pids


@dataclass
class ProcInfo:
    """What is known of one process; mutable while the run goes on."""

    pid: int
    ppid: int
    start: int = 0  # start time in clock ticks since boot: guards against pid reuse
    ns_pid: int | None = None
    cmdline: str = ""
    exit_code: int | None = None
    alive: bool = True
    exited_at: float | None = None


HAS_PROC = os.path.isdir("/proc/self")


def all_pids() -> list[int]:
    if HAS_PROC:
        return [int(n) for n in os.listdir("/proc") if n.isdigit()]
    import psutil  # only where /proc is missing

    return psutil.pids()


def read_stat(pid: int) -> tuple[int, str, int, int] | None:
    """(ppid, state, session, start time) of a process, None when it is gone."""
    if not HAS_PROC:  # macOS and friends: psutil, slower but portable
        import psutil

        try:
            p = psutil.Process(pid)
            state = "Z" if p.status() == psutil.STATUS_ZOMBIE else "S"
            return p.ppid(), state, os.getsid(pid), int(p.create_time() * 100)
        except (psutil.Error, OSError):
            return None
    try:
        data = procfs.read(f"/proc/{pid}/stat")
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2 :].split()
    try:
        return int(rest[1]), rest[0].decode(), int(rest[3]), int(rest[19])
    except (IndexError, ValueError):
        return None


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def read_cpu_s(pid: int) -> float:
    """CPU seconds of a process plus the children it has reaped (utime+stime+cutime+cstime)."""
    try:
        data = procfs.read(f"/proc/{pid}/stat")
        rest = data[data.rfind(b")") + 2 :].split()
        return sum(int(x) for x in rest[11:15]) / _TICK
    except (OSError, ValueError, IndexError):
        return 0.0


def read_ns_pid(pid: int) -> int | None:
    """The pid the process has in its innermost pid namespace (what the student sees)."""
    try:
        for line in procfs.read(f"/proc/{pid}/status").splitlines():
            if line.startswith(b"NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def read_cmdline(pid: int) -> str:
    try:
        raw = procfs.read(f"/proc/{pid}/cmdline", 4096)
    except OSError:
        return ""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")


def _status_from_wait(raw: int) -> int:
    """Kernel exit status (as wait() returns it) -> Popen convention (negative = signal)."""
    return -(raw & 0x7F) if raw & 0x7F else (raw >> 8) & 0xFF


class Observer:
    """Tracks the tree rooted at one pid; a background thread keeps it current."""

    kind = "poll"

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._procs: dict[int, ProcInfo] = {}
        self._order: list[int] = []
        self._root = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_change = on_change

    def start(self, root: int) -> None:
        """Begin tracking ``root`` (already running) and everything it starts."""
        self._root = root
        self._add(root, os.getpid())
        self._thread = threading.Thread(target=self._loop, name="mpgrade-observer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)

    def _loop(self) -> None:
        raise NotImplementedError

    # -- bookkeeping shared by both observers

    def _add(self, pid: int, ppid: int) -> ProcInfo | None:
        with self._lock:
            if pid in self._procs and self._procs[pid].alive:
                return None
            info = ProcInfo(pid, ppid)
            self._procs[pid] = info
            self._order.append(pid)
        stat = read_stat(pid)
        if stat:
            info.start = stat[3]
        info.ns_pid = read_ns_pid(pid)
        info.cmdline = read_cmdline(pid)
        if self._on_change:
            self._on_change()
        return info

    def _exited(self, pid: int, code: int | None) -> None:
        with self._lock:
            info = self._procs.get(pid)
            if info is None or not info.alive:
                return
            info.alive = False
            info.exited_at = time.monotonic()
            if code is not None:
                info.exit_code = code
        if self._on_change:
            self._on_change()

    def _refresh(self, pid: int) -> None:
        info = self._procs.get(pid)
        if info:
            info.cmdline = read_cmdline(pid) or info.cmdline
            info.ns_pid = read_ns_pid(pid) or info.ns_pid

    # -- queries

    def members(self) -> list[ProcInfo]:
        """Every process ever seen in the tree, in the order first seen."""
        with self._lock:
            return [self._procs[p] for p in self._order]

    def alive(self) -> list[ProcInfo]:
        return [p for p in self.members() if p.alive]

    def depth(self, info: ProcInfo) -> int:
        """Generations below the root (the root is 0)."""
        d, pid, seen = 0, info.pid, set()
        while pid != self._root and pid not in seen:
            seen.add(pid)
            parent = self._procs.get(pid)
            if parent is None:
                break
            pid = parent.ppid
            d += 1
        return d

    def snapshot(self, min_depth: int = 0) -> tuple[ObservedProcess, ...]:
        """The tree as ObservedProcess records, skipping ``min_depth`` wrapper generations."""
        return tuple(
            ObservedProcess(p.pid, p.ppid, p.ns_pid, p.exit_code, p.cmdline)
            for p in self.members()
            if self.depth(p) >= min_depth
        )


class ProcConnectorObserver(Observer):
    """Kernel fork/exec/exit events, from the process's one connector hub.

    The hub listens before the root starts and keeps the latest events, so forks the root
    makes before its pid is known to us are replayed when ``start`` subscribes.
    """

    kind = "proc_connector"

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        super().__init__(on_change)
        self._hub = _ConnectorHub.get()
        self._since = self._hub.seq  # events after this one may concern our tree

    def start(self, root: int) -> None:
        self._root = root
        self._add(root, os.getpid())
        self._hub.subscribe(self, root, self._since)

    def stop(self) -> None:
        self._stop.set()
        self._hub.unsubscribe(self)

    def _rescan(self) -> None:
        """After lost events: adopt live children of known members, mark vanished ones."""
        known = {p.pid for p in self.alive()}
        for pid in all_pids():
            stat = read_stat(pid)
            if stat and stat[0] in known:
                self._add(pid, stat[0])
        for pid in known:
            if read_stat(pid) is None:
                self._exited(pid, None)


_Event = tuple[int, int, int, int]  # (sequence number, what, pid, parent pid or exit status)


class _ConnectorHub:
    """One netlink socket and one thread for every run of this process.

    The kernel sends each listening socket every process event of the machine, so a
    socket per run would parse every event once per concurrent run (and wake a thread for
    it). The hub parses each once and hands it to the run whose tree it concerns; the
    last ``KEEP`` fork and exit events are kept so that a run subscribing after its root
    started misses none, and when more than that went by, the run catches up from /proc.
    """

    KEEP = 8192  # fork and exit events; a few hundred go by while a busy run starts
    _instance: _ConnectorHub | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.sock = open_connector()
        self.seq = 0
        self._lock = threading.Lock()
        self._owner: dict[int, ProcConnectorObserver] = {}  # live member pid -> its run
        self._recent: deque[_Event] = deque(maxlen=self.KEEP)
        threading.Thread(target=self._loop, name="mpgrade-proc-connector", daemon=True).start()

    @classmethod
    def get(cls) -> _ConnectorHub:
        with cls._guard:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @classmethod
    def forget(cls) -> None:
        """In a fork child: the hub's thread did not come along, so the next run makes its own."""
        cls._instance = None
        cls._guard = threading.Lock()

    def subscribe(self, observer: ProcConnectorObserver, root: int, since: int) -> None:
        """Route ``root``'s tree to ``observer``, replaying what arrived after ``since``."""
        with self._lock:
            self._owner[root] = observer
            first_kept = self._recent[0][0] if self._recent else self.seq + 1
            missed = first_kept > since + 1  # evicted, or dropped by the kernel
            # Events are kept in sequence order: the ones after ``since`` are the newest.
            newer = min(len(self._recent), max(0, self.seq - since))
            for event in [self._recent[-k] for k in range(newer, 0, -1)]:
                self._apply(event)
        if missed:
            observer._rescan()
            self._adopt(observer)

    def unsubscribe(self, observer: ProcConnectorObserver) -> None:
        with self._lock:
            for pid in [pid for pid, o in self._owner.items() if o is observer]:
                del self._owner[pid]

    def _adopt(self, observer: ProcConnectorObserver) -> None:
        with self._lock:
            if not observer._stop.is_set():
                for info in observer.alive():
                    self._owner.setdefault(info.pid, observer)

    def _loop(self) -> None:
        """One blocking ``recv`` per event into one buffer: the thread holds the GIL only to
        parse (every event of the machine arrives here, most of them not ours)."""
        buffer = bytearray(65536)
        view = memoryview(buffer)
        while True:
            try:
                size = self.sock.recv_into(buffer)
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    return  # the socket is gone: runs see their roots end by reaping
                self._lost()  # the kernel dropped events: every run catches up from /proc
                continue
            self._parse(view[:size])

    def _lost(self) -> None:
        with self._lock:
            self._recent.clear()
            observers = set(self._owner.values())
        for observer in observers:
            observer._rescan()
            self._adopt(observer)

    def _parse(self, data: bytes | memoryview) -> None:
        offset = 0
        while offset + _NLMSG.size <= len(data):
            length = _NLMSG.unpack_from(data, offset)[0]
            if length < _NLMSG.size:
                return
            base = offset + _NLMSG.size + _CNMSG.size
            if base + _EVENT.size <= len(data):
                what = _EVENT.unpack_from(data, base)[0]
                body = base + _EVENT.size
                event = None
                if what == PROC_EVENT_FORK:
                    _ppid, ptgid, cpid, ctgid = _PAIR4.unpack_from(data, body)
                    if cpid == ctgid:
                        event = (what, cpid, ptgid)
                elif what in (PROC_EVENT_EXEC, PROC_EVENT_EXIT):
                    pid, tgid, code, _sig = struct.unpack_from("=iiII", data, body)
                    if pid == tgid:
                        event = (what, pid, code)
                if event is not None:
                    with self._lock:
                        if what == PROC_EVENT_EXEC:  # only refreshes a command line: not kept
                            self._apply((self.seq, *event))
                        else:
                            self.seq += 1
                            self._recent.append((self.seq, *event))
                            self._apply(self._recent[-1])
            offset += (length + 3) & ~3

    def _apply(self, event: _Event) -> None:
        """Hand one event to the run it concerns (called with the lock held)."""
        _seq, what, pid, other = event
        if what == PROC_EVENT_FORK:
            observer = self._owner.get(other)
            if observer is not None and pid not in observer._procs:
                self._owner[pid] = observer
                observer._add(pid, other)
            return
        observer = self._owner.get(pid)
        if observer is None:
            return
        if what == PROC_EVENT_EXEC:
            observer._refresh(pid)
        else:
            del self._owner[pid]
            observer._exited(pid, _status_from_wait(other))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ConnectorHub.forget)


class PollObserver(Observer):
    """/proc polling: the cgroup's list when available, else parent/session links."""

    def __init__(
        self,
        cgroup_procs: Callable[[], set[int]] | None = None,
        on_change: Callable[[], None] | None = None,
        interval_s: float = 0.01,
    ) -> None:
        super().__init__(on_change)
        self._cgroup_procs = cgroup_procs
        self._interval = interval_s

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self._interval)

    def poll_once(self) -> None:
        known = {p.pid: p for p in self.alive()}
        if self._cgroup_procs is not None:
            current = self._cgroup_procs()
            links = {pid: read_stat(pid) for pid in current}
        else:
            links = {pid: read_stat(pid) for pid in all_pids()}
        # Members: known ones, children of members, and anything in the root's session
        # (an orphan reparented to the subreaper keeps its session).
        changed = True
        while changed:
            changed = False
            for pid, stat in links.items():
                if stat is None or pid in known or stat[1] == "X":
                    continue
                mine = self._cgroup_procs is not None or stat[0] in known
                mine = mine or stat[2] == self._root
                if mine:
                    info = self._add(pid, stat[0])
                    if info:
                        known[pid] = info
                        changed = True
        for pid, info in known.items():
            stat = links.get(pid) or read_stat(pid)
            if stat is None or stat[3] != info.start:
                self._exited(pid, None)


def _seen_as_bpf(value: int) -> int:
    """``value`` as a classic BPF word load reads it from a host-order field (big-endian)."""
    return int.from_bytes(struct.pack("=I", value), "big")


def _keep_process_events(sock: socket.socket) -> None:
    """Have the kernel drop every event but a process's fork, exec and exit.

    Threads starting and ending (here and in every student's tree), session and id changes
    make a third of the machine's events; each would wake the hub's thread to be parsed
    and dropped. A classic socket filter drops them before they are queued: a fork is kept
    when the child is a process (pid == tgid), an exec or exit when it is a process's.
    Without the filter (a kernel that refuses it) the hub's own checks do the same.
    """
    ld, tax, ja, jeq_k, jeq_x, ret = 0x20, 0x07, 0x05, 0x15, 0x1D, 0x06
    program = [
        (ld, 0, 0, _WHAT),
        (jeq_k, 3, 0, _seen_as_bpf(PROC_EVENT_FORK)),  # -> 5
        (jeq_k, 6, 0, _seen_as_bpf(PROC_EVENT_EXEC)),  # -> 9
        (jeq_k, 5, 0, _seen_as_bpf(PROC_EVENT_EXIT)),  # -> 9
        (ret, 0, 0, 0),
        (ld, 0, 0, _DATA + 12),  # fork: the child's tgid
        (tax, 0, 0, 0),
        (ld, 0, 0, _DATA + 8),  # and its pid
        (ja, 0, 0, 3),  # -> 12
        (ld, 0, 0, _DATA + 4),  # exec, exit: the tgid
        (tax, 0, 0, 0),
        (ld, 0, 0, _DATA),  # and the pid
        (jeq_x, 0, 1, 0),
        (ret, 0, 0, 0xFFFFFFFF),
        (ret, 0, 0, 0),
    ]
    code = array.array("B", b"".join(struct.pack("=HBBI", *op) for op in program))
    address, _ = code.buffer_info()  # struct sock_fprog points at the instructions
    fprog = struct.pack("=HxxxxxxQ" if struct.calcsize("P") == 8 else "=HxxI", len(program), address)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)  # the kernel copies the program
    except OSError:
        pass


def open_connector() -> socket.socket:
    """A netlink socket subscribed to process events; raises OSError when not permitted."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE, root only
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        _keep_process_events(sock)
        sock.bind((0, CN_IDX_PROC))
        payload = struct.pack("=I", PROC_CN_MCAST_LISTEN)
        cn = _CNMSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0)
        msg = cn + payload
        sock.send(_NLMSG.pack(_NLMSG.size + len(msg), NLMSG_DONE, 0, 0, os.getpid()) + msg)
    except OSError:
        sock.close()
        raise
    return sock


@once
def connector_usable() -> bool:
    """Probe once: subscribe, start a short child, and check its fork event arrives.

    The child is ``true`` where it exists: any fork makes the event, and an interpreter
    would cost tens of ms more.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        sock = open_connector()
    except OSError:
        return False
    try:
        child = subprocess.Popen([shutil.which("true") or sys.executable, "-c", ""],
                                 stdin=subprocess.DEVNULL)
        child.wait()
        sock.settimeout(0.5)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            data = sock.recv(65536)
            if len(data) >= _DATA + _PAIR4.size:
                what = _EVENT.unpack_from(data, _WHAT)[0]
                if what == PROC_EVENT_FORK:
                    if _PAIR4.unpack_from(data, _DATA)[2] == child.pid:
                        return True
    except OSError:
        return False
    finally:
        sock.close()
    return False
