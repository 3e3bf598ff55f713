"""A cgroup per run: the kernel's own list of the run's processes and a kill nothing escapes.

A process that calls ``setsid()`` or is orphaned leaves its session and its parent, but
never its cgroup. The cgroup also gives a hard process cap (pids), a memory backstop for
the whole tree, exact CPU accounting, and an OOM-kill counter that tells "memory" apart
from "timeout". Everything here degrades to ``None``/no-op when cgroups are missing or
not writable (non-root, macOS, containers without delegation).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

from mpgrade.model import value_class
from mpgrade.sandbox import procfs

V1_CONTROLLERS = ("pids", "memory", "freezer", "cpuacct")
V2_CONTROLLERS = ("pids", "memory", "cpu")


@value_class
class Layout:
    """Where new cgroups can be made: version and parent dir per controller."""

    version: str  # "v1" | "v2" | "none"
    parents: dict[str, str]  # controller ("v2" for the unified tree) -> parent directory

    @property
    def controllers(self) -> tuple[str, ...]:
        if self.version == "v2":
            ctl = Path(self.parents["v2"], "cgroup.controllers")
            try:
                return tuple(c for c in ctl.read_text().split() if c in V2_CONTROLLERS)
            except OSError:
                return ()
        return tuple(sorted(self.parents))


def _own_paths() -> dict[str, str]:
    """Controller (or "" for cgroup2) -> this process's cgroup path, from /proc/self/cgroup."""
    out: dict[str, str] = {}
    try:
        text = Path("/proc/self/cgroup").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for ctl in parts[1].split(","):
                out[ctl] = parts[2]
    return out


def detect() -> Layout:
    """Find writable cgroup hierarchies; the run's cgroups nest under our own (delegation)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return Layout("none", {})
    own = _own_paths()
    v1: dict[str, str] = {}
    v2_mount = None
    for line in mounts:
        fields = line.split()
        if len(fields) < 4:
            continue
        mnt, fstype, opts = fields[1], fields[2], fields[3].split(",")
        if fstype == "cgroup":
            for ctl in V1_CONTROLLERS:
                if ctl in opts:
                    parent = os.path.join(mnt, own.get(ctl, "/").lstrip("/"))
                    if not os.path.isdir(parent):
                        parent = mnt
                    if os.access(parent, os.W_OK):
                        v1[ctl] = parent
        elif fstype == "cgroup2":
            v2_mount = mnt
    if "freezer" in v1 or "pids" in v1:
        return Layout("v1", v1)
    if v2_mount and os.path.exists(os.path.join(v2_mount, "cgroup.controllers")):
        parent = os.path.join(v2_mount, own.get("", "/").lstrip("/"))
        if os.path.isdir(parent) and os.access(parent, os.W_OK):
            return Layout("v2", {"v2": parent})
    return Layout("none", {})


def _write(path: str, value: str) -> bool:
    try:
        with open(path, "w") as f:
            f.write(value)
        return True
    except OSError:
        return False


def _read(path: str) -> str:
    try:
        return procfs.text(path)
    except OSError:
        return ""


def _keyed(path: str, key: str) -> int:
    """The value of ``key`` in a flat-keyed file such as pids.events or memory.events."""
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
            return int(parts[1])
    return 0


STALE_AFTER_S = 60.0


def _owner_alive(name: str) -> bool:
    """Run cgroups are named ``mpgrade-<supervisor pid>-<random>``; is that supervisor alive?"""
    parts = name.split("-")
    if len(parts) != 3 or not parts[1].isdigit():
        return True  # not ours to judge
    import psutil  # only when there is a leftover to judge

    return psutil.pid_exists(int(parts[1]))


def _sweep(parent: str) -> None:
    """Clean up after supervisors that were killed before their own clean-up.

    A cgroup whose supervisor is dead is orphaned: thaw it (a supervisor killed while the
    tree was frozen leaves it frozen forever), kill what is left in it, remove it. A cgroup
    left empty is removed once it is old; rmdir refuses one that still holds processes.
    """
    try:
        names = [n for n in os.listdir(parent) if n.startswith("mpgrade-")]
    except OSError:
        return
    now = time.time()
    for n in names:
        path = os.path.join(parent, n)
        orphaned = not _owner_alive(n)
        if orphaned:
            _write(os.path.join(path, "freezer.state"), "THAWED")
            _write(os.path.join(path, "cgroup.kill"), "1")
            for pid in _read(os.path.join(path, "cgroup.procs")).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        try:
            if orphaned or now - os.stat(path).st_mtime > STALE_AFTER_S:
                os.rmdir(path)
        except OSError:
            pass


class RunCgroup:
    """The cgroup(s) of one run; processes join it in the child before exec."""

    def __init__(self, version: str, dirs: dict[str, str]) -> None:
        self.version = version
        self.dirs = dirs  # controller (or "v2") -> directory of this run

    @classmethod
    def create(cls, layout: Layout, max_tasks: int, memory_bytes: int) -> RunCgroup | None:
        """Make this run's cgroup with its limits; None when nothing usable could be made."""
        name = f"mpgrade-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        dirs: dict[str, str] = {}
        for ctl, parent in layout.parents.items():
            _sweep(parent)
            path = os.path.join(parent, name)
            try:
                os.mkdir(path)
            except OSError:
                continue
            dirs[ctl] = path
        if not dirs:
            return None
        cg = cls(layout.version, dirs)
        if layout.version == "v2":
            _write(os.path.join(dirs["v2"], "pids.max"), str(max_tasks))
            _write(os.path.join(dirs["v2"], "memory.max"), str(memory_bytes))
            _write(os.path.join(dirs["v2"], "memory.swap.max"), "0")
        else:
            if "pids" in dirs:
                _write(os.path.join(dirs["pids"], "pids.max"), str(max_tasks))
            if "memory" in dirs:
                _write(os.path.join(dirs["memory"], "memory.limit_in_bytes"), str(memory_bytes))
        return cg

    def procs_files(self) -> list[str]:
        """The cgroup.procs files the child writes its pid into before exec."""
        return [os.path.join(d, "cgroup.procs") for d in self.dirs.values()]

    def _main_dir(self) -> str:
        for ctl in ("v2", "freezer", "pids", "cpuacct", "memory"):
            if ctl in self.dirs:
                return self.dirs[ctl]
        raise AssertionError("cgroup without directories")

    def procs(self) -> set[int]:
        """Every process of the run, as the kernel counts them."""
        text = _read(os.path.join(self._main_dir(), "cgroup.procs"))
        return {int(p) for p in text.split() if p.isdigit()}

    def process_limit_hit(self) -> bool:
        """True once a fork or thread creation was refused by pids.max."""
        d = self.dirs.get("v2") or self.dirs.get("pids")
        return bool(d) and _keyed(os.path.join(d, "pids.events"), "max") > 0

    def oom_kills(self) -> int:
        if "v2" in self.dirs:
            return _keyed(os.path.join(self.dirs["v2"], "memory.events"), "oom_kill")
        if "memory" in self.dirs:
            return _keyed(os.path.join(self.dirs["memory"], "memory.oom_control"), "oom_kill")
        return 0

    def cpu_s(self) -> float | None:
        """CPU time of the whole tree, dead processes included."""
        if "v2" in self.dirs:
            usec = _keyed(os.path.join(self.dirs["v2"], "cpu.stat"), "usage_usec")
            return usec / 1e6
        if "cpuacct" in self.dirs:
            text = _read(os.path.join(self.dirs["cpuacct"], "cpuacct.usage")).strip()
            return int(text) / 1e9 if text.isdigit() else None
        return None

    def kill(self, deadline_s: float = 2.0) -> None:
        """SIGKILL everything in the cgroup, freezing first so a fork bomb cannot outrun us."""
        if "v2" in self.dirs and _write(os.path.join(self.dirs["v2"], "cgroup.kill"), "1"):
            self._wait_empty(deadline_s)
            return
        freezer = self.dirs.get("freezer")
        if freezer:
            state = os.path.join(freezer, "freezer.state")
            _write(state, "FROZEN")
            end = time.monotonic() + 0.2
            while _read(state).strip() != "FROZEN" and time.monotonic() < end:
                time.sleep(0.002)
        end = time.monotonic() + deadline_s
        while True:
            pids = self.procs()
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            if freezer:
                _write(os.path.join(freezer, "freezer.state"), "THAWED")
            if not pids or time.monotonic() > end:
                break
            time.sleep(0.005)
        self._wait_empty(max(0.0, end - time.monotonic()))

    def _wait_empty(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while self.procs() and time.monotonic() < end:
            time.sleep(0.005)

    def remove(self) -> None:
        """rmdir each directory; retried briefly because exiting tasks linger a moment."""
        for path in self.dirs.values():
            end = time.monotonic() + 1.0
            while True:
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > end:
                        break
                    time.sleep(0.01)
