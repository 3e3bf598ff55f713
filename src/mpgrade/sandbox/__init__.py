"""The sandbox: run one untrusted script as a process tree under limits, kill all of it.

``run(RunRequest) -> RunResult`` is the whole interface for the grader;
``capabilities()`` tells ``mpgrade doctor`` what this machine offers and how to get more.
The backends (how the student's root is started) are the table in backends.py; "auto"
picks the strongest whose self-test passes. See SECURITY.md for what each protects.

``run`` and the runner's machinery (and ``start_methods``, the tree's start methods with
its default first) load on first use, so that a module needing only the
backend table (the CLI's ``--isolation`` choices) does not pay for them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from mpgrade.model import value_class
from mpgrade.sandbox.backends import DoctorRows, SandboxUnavailable, all_backends, choose

__all__ = ["BackendStatus", "Capabilities", "SandboxUnavailable", "capabilities", "choose", "run",
           "start_methods"]


@value_class
class BackendStatus:
    """One backend's self-test on this machine, and what doctor says of it."""

    name: str
    problem: str | None  # None: usable
    doctor: DoctorRows


@value_class
class Capabilities:
    """What this machine lets the sandbox do, and what is missing."""

    platform: str
    root: bool
    backends: tuple[BackendStatus, ...]  # strongest first
    cgroup: str  # "v1" | "v2" | "none"
    cgroup_controllers: tuple[str, ...]
    proc_connector: bool
    start_methods: tuple[str, ...]
    auto_backend: str
    hints: tuple[str, ...]  # the backends' hints, then the machine's

    def usable(self, backend: str) -> bool:
        return any(b.name == backend and b.problem is None for b in self.backends)


def __getattr__(name: str) -> Any:
    if name == "run":
        from mpgrade.sandbox.runner import run

        return run
    if name == "start_methods":
        from mpgrade.sandbox.interpreter import start_methods

        return start_methods
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def capabilities() -> Capabilities:
    """Probe once (results are cached) and explain how to get the stronger backend."""
    from mpgrade.sandbox import interpreter
    from mpgrade.sandbox.cgroup import detect
    from mpgrade.sandbox.observer import connector_usable

    linux = sys.platform.startswith("linux")
    statuses = tuple(BackendStatus(b.name, b.problem(), b.doctor()) for b in all_backends())
    layout = detect()
    connector = connector_usable()
    hints = [hint for b in statuses for hint in b.doctor.hints]
    if linux and layout.version == "none":
        hints.append("No writable cgroup: run as root or in a delegated cgroup (systemd-run "
                     "--user --scope -p Delegate=yes) for a hard process cap and a tree kill "
                     "that setsid() cannot escape.")
    if linux and not connector:
        hints.append("The proc connector needs CAP_NET_ADMIN in the initial namespaces; "
                     "without it very short-lived children may be missed (polling /proc).")
    if not linux:
        hints.append("On this platform only the plain backend exists: no namespaces, "
                     "no cgroups, no deadlock detection. Grade on Linux for full results.")
    return Capabilities(
        platform=sys.platform,
        root=hasattr(os, "geteuid") and os.geteuid() == 0,
        backends=statuses,
        cgroup=layout.version,
        cgroup_controllers=layout.controllers,
        proc_connector=connector,
        start_methods=interpreter.start_methods(),
        auto_backend=choose("auto").name,
        hints=tuple(hints),
    )
