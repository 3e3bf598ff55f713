"""A supervisor killed mid-run must not leave its students' processes behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from conftest import processes_with

from mpgrade import sandbox
from mpgrade.model import Limits, RunRequest

MARKER = "47.3141"

SUPERVISOR = textwrap.dedent(f"""
    from mpgrade import sandbox
    from mpgrade.model import Limits, RunRequest
    answer = (
        "import subprocess, time\\n"
        "subprocess.Popen(['sleep', '{MARKER}'])\\n"
        "time.sleep(40)\\n"
    )
    sandbox.run(RunRequest(files={{"answer.py": answer}}, script="answer.py",
                           limits=Limits(wall_s=40), isolation="plain"))
""")

# A fresh supervisor process: the sweep of dead supervisors' dirs runs once per process.
NEXT_RUN = textwrap.dedent("""
    from mpgrade import sandbox
    from mpgrade.model import Limits, RunRequest
    run = sandbox.run(RunRequest(files={"answer.py": "print('next')"}, script="answer.py",
                                 limits=Limits(wall_s=10), isolation="plain"))
    assert run.stdout.strip() == "next", run
""")



def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _next_run() -> None:
    run = sandbox.run(RunRequest(files={"answer.py": "print('next')\n"}, script="answer.py",
                                 limits=Limits(wall_s=10), isolation="plain"))
    assert run.stdout.strip() == "next"


@pytest.mark.cgroup
def test_killed_supervisor_leaves_nothing_running(tmp_path: Path) -> None:
    """Its tree outlives it (plain backend), until the next supervisor's sweep ends it."""
    script = tmp_path / "supervisor.py"  # a file: the marker must not be in its command line
    script.write_text(SUPERVISOR)
    sup = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
    try:
        assert _wait_for(lambda: processes_with(MARKER), 20), "the answer never started"
        os.kill(sup.pid, signal.SIGKILL)
        sup.wait(5)
        time.sleep(0.3)
        assert processes_with(MARKER), "expected the orphaned tree to be alive before the sweep"
        left = list(Path(tempfile.gettempdir()).glob(f"mpgrade-run-{sup.pid}-*"))
        assert left, "the killed supervisor's scratch dir is there before the sweep"
        subprocess.run([sys.executable, "-c", NEXT_RUN], check=True, timeout=60)
        assert _wait_for(lambda: not processes_with(MARKER), 5), "the tree survived"
        assert not any(p.exists() for p in left), "its scratch dir outlived it"
    finally:
        for pid in processes_with(MARKER):
            os.kill(pid, signal.SIGKILL)
        if sup.poll() is None:
            sup.kill()


@pytest.mark.cgroup
def test_frozen_tree_of_a_dead_supervisor_is_thawed_and_killed() -> None:
    """A supervisor killed between freezing its tree and killing it leaves a frozen tree
    that no signal reaches; the next run's sweep thaws and kills it."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"mpgrade-{dead.pid}-0rphan0test0"
    freezer = Path("/sys/fs/cgroup/freezer") / name
    freezer.mkdir()
    victim = subprocess.Popen(["sleep", MARKER])
    try:
        (freezer / "cgroup.procs").write_text(str(victim.pid))
        (freezer / "freezer.state").write_text("FROZEN")
        os.kill(victim.pid, signal.SIGKILL)  # held back while frozen
        time.sleep(0.2)
        assert victim.poll() is None
        _next_run()
        assert victim.wait(5) == -signal.SIGKILL
        _next_run()  # the first sweep may find the cgroup not yet empty; the next removes it
        assert not freezer.exists()
    finally:
        if freezer.exists():
            (freezer / "freezer.state").write_text("THAWED")
        victim.kill()
        victim.wait(5)
        if freezer.exists():
            freezer.rmdir()
