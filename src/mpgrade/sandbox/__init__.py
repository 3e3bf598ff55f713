"""The sandbox: run one untrusted script as a process tree under limits, kill all of it.

``run(RunRequest) -> RunResult`` is the whole interface for the grader;
``capabilities()`` tells ``mpgrade doctor`` what this machine offers and how to get more.
Backends: ``bwrap`` (namespaces, see bwrap.py) and ``plain`` (rlimits and a cgroup only);
"auto" picks bwrap when a probe run works. See SECURITY.md for what each protects.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from dataclasses import dataclass

from mpgrade.resources import probe_dir
from mpgrade.sandbox import bwrap, interpreter, plain
from mpgrade.sandbox.cgroup import detect
from mpgrade.sandbox.observer import connector_usable
from mpgrade.sandbox.runner import SandboxUnavailable, choose_backend, run

__all__ = ["Capabilities", "SandboxUnavailable", "capabilities", "choose_backend", "run"]


@dataclass(frozen=True)
class Capabilities:
    """What this machine lets the sandbox do, and what is missing."""

    platform: str
    root: bool
    bwrap_version: str | None
    bwrap_usable: bool
    bwrap_problem: str | None
    cgroup: str  # "v1" | "v2" | "none"
    cgroup_controllers: tuple[str, ...]
    proc_connector: bool
    start_methods: tuple[str, ...]
    auto_backend: str
    hints: tuple[str, ...]
    plain_uid: int | None = None  # uid the plain backend drops a root grader's tree to


def capabilities() -> Capabilities:
    """Probe once (results are cached) and explain how to get the stronger backend."""
    linux = sys.platform.startswith("linux")
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    problem = bwrap.probe() if linux else "bubblewrap needs Linux"
    layout = detect()
    connector = connector_usable()
    hints = []
    if linux and bwrap.find() is None:
        hints.append("Install bubblewrap (apt-get install bubblewrap / dnf install bubblewrap) "
                     "to hide the filesystem and network from student code.")
    elif problem:
        hints.append(f"bubblewrap is installed but does not work here ({problem}); enable "
                     "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 "
                     "or kernel.apparmor_restrict_unprivileged_userns=0) or run as root.")
    if linux and layout.version == "none":
        hints.append("No writable cgroup: run as root or in a delegated cgroup (systemd-run "
                     "--user --scope -p Delegate=yes) for a hard process cap and a tree kill "
                     "that setsid() cannot escape.")
    if linux and not connector:
        hints.append("The proc connector needs CAP_NET_ADMIN in the initial namespaces; "
                     "without it very short-lived children may be missed (polling /proc).")
    plain_uid = plain.run_uid(interpreter.interpreter(), (str(probe_dir()),)) if linux else None
    if root and linux and plain_uid is None:
        hints.append(f"As root, the plain backend runs student code as root here: uid "
                     f"{plain.UNPRIVILEGED_UID} cannot read {interpreter.interpreter()} (a private "
                     "home?). Grade with a Python installed where every user can read it "
                     "(/usr/bin/python3, /opt) to drop student code to that uid.")
    if not linux:
        hints.append("On this platform only the plain backend exists: no namespaces, "
                     "no cgroups, no deadlock detection. Grade on Linux for full results.")
    return Capabilities(
        platform=sys.platform,
        root=root,
        bwrap_version=bwrap.version() if linux else None,
        bwrap_usable=problem is None,
        bwrap_problem=problem,
        cgroup=layout.version,
        cgroup_controllers=layout.controllers,
        proc_connector=connector,
        start_methods=tuple(multiprocessing.get_all_start_methods()),
        auto_backend=choose_backend("auto"),
        hints=tuple(hints),
        plain_uid=plain_uid,
    )
