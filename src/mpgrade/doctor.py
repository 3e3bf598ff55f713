"""`mpgrade doctor`: what this machine lets mpgrade do, and how to get the stronger sandbox."""

from __future__ import annotations

import io
import platform
import sys

from rich.console import Console
from rich.table import Table

from mpgrade import __version__
from mpgrade.sandbox import Capabilities, capabilities


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def render_doctor(caps: Capabilities | None = None) -> str:
    caps = caps or capabilities()
    table = Table("feature", "status", "what it gives", title=f"mpgrade {__version__} doctor")
    table.add_row("python", f"{platform.python_version()} ({sys.executable})", "runs every answer")
    table.add_row("platform", caps.platform, "")
    table.add_row("running as root", _yes(caps.root), "cgroups and the proc connector need it")
    for backend in caps.backends:
        for row in backend.doctor.rows:
            table.add_row(*row)
    controllers = ", ".join(caps.cgroup_controllers) or "-"
    table.add_row("cgroup", f"{caps.cgroup} ({controllers})",
                  "hard process cap, tree memory cap, kill that setsid() cannot escape")
    table.add_row("proc connector", _yes(caps.proc_connector),
                  "sees every process of the tree, even 1 ms ones (trace cross-check)")
    table.add_row("start methods", ", ".join(caps.start_methods), "--start-method / --portability")
    table.add_row("isolation 'auto' uses", caps.auto_backend, "")
    out = io.StringIO()
    console = Console(file=out, width=110, no_color=True, highlight=False)
    console.print(table)
    for hint in caps.hints:
        console.print(f"hint: {hint}")
    if not caps.hints:
        console.print("Everything mpgrade can use is available.")
    return out.getvalue()
