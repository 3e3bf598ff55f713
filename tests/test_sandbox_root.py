"""The plain backend under a root grader: the tree runs as an unprivileged uid with no
capabilities, so the grader's processes and files and the cgroups are out of its reach,
and processes the observer cannot see are still counted and killed.

The drop needs an interpreter that the unprivileged uid can read; the grader of these
tests may live under a private home, so a supervisor is started with the system's own
Python of the same version (same extension ABI for psutil) when there is one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, processes_with

from mpgrade import sandbox
from mpgrade.model import Limits, RunRequest
from mpgrade.sandbox import plain

FIXTURES = Path(__file__).parent / "fixtures" / "sandbox"
CAPS = sandbox.capabilities()
SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}")
SITE = next(p for p in sys.path if p.endswith("site-packages"))


def _reachable_supervisor() -> str | None:
    if os.geteuid() != 0 or not SYSTEM_PYTHON.exists():
        return None
    probe = [str(SYSTEM_PYTHON), str(ROOT / "src"), str(ROOT / "src" / "mpgrade" / "probe" / "inside")]
    return str(SYSTEM_PYTHON) if all(plain._others_may_use(p) for p in probe) else None


SUPERVISOR = _reachable_supervisor()
needs_drop = pytest.mark.skipif(SUPERVISOR is None, reason="needs root and a Python that "
                                "uid 65534 can read (/usr/bin/pythonX.Y of this version)")
needs_cgroup = pytest.mark.skipif(CAPS.cgroup == "none", reason="needs a writable cgroup")

RUN = textwrap.dedent("""
    import json, sys
    from mpgrade import sandbox
    from mpgrade.model import Limits, RunRequest
    name, source, processes = sys.argv[1], open(sys.argv[2]).read(), int(sys.argv[3])
    r = sandbox.run(RunRequest({name: source}, name, isolation="plain",
                               limits=Limits(wall_s=15, processes=processes),
                               env={"SECRET_FILE": sys.argv[4]}))
    print(json.dumps({"stdout": r.stdout, "stderr": r.stderr[-2000:], "limit": r.limit,
                      "leftover": r.leftover_processes, "uid": r.student_uid}))
""")


def _supervise(tmp_path: Path, fixture: str, processes: int = 16) -> tuple[dict, str]:
    """One run under a root supervisor on the system Python; the fixture gets a unique name."""
    name = f"t{uuid.uuid4().hex[:10]}_{fixture}"
    secret = tmp_path / "grader-only.txt"
    secret.write_text("the grader's own file")
    secret.chmod(0o600)
    tmp_path.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{SITE}"}
    done = subprocess.run([SUPERVISOR, "-c", RUN, name, str(FIXTURES / fixture), str(processes),
                           str(secret)], capture_output=True, text=True, timeout=90, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), name


@needs_drop
def test_root_grader_drops_the_tree_to_nobody(tmp_path: Path) -> None:
    result, _ = _supervise(tmp_path, "reach_out.py")
    assert result["uid"] == plain.UNPRIVILEGED_UID
    seen = json.loads(result["stdout"])
    assert seen["uid"] == seen["euid"] == plain.UNPRIVILEGED_UID
    assert int(seen["CapEff"], 16) == 0 and int(seen["CapPrm"], 16) == 0
    assert seen["NoNewPrivs"] == "1"
    assert seen["signal_grader"] == "PermissionError"
    assert seen["read_grader_file"] == "PermissionError"
    assert seen["join_root_cgroup"] in ("PermissionError", "FileNotFoundError")
    assert seen["write_work_dir"] == seen["write_trace"] == seen["write_tmp"] == "allowed"


@needs_drop
@needs_cgroup
def test_clone_parent_children_are_counted_and_killed(tmp_path: Path) -> None:
    """100 raw clone(CLONE_PARENT) children, unseen by the observer, against a limit of 8:
    as uid 65534 RLIMIT_NPROC holds and the cgroup counts them (either stops the bomb at
    the limit), none can leave the cgroup, and none survives the run."""
    result, name = _supervise(tmp_path, "clone_parent.py", processes=8)
    made = int(result["stdout"].split()[1]) if result["stdout"].startswith("made") else 0
    assert made < 8 or result["limit"] == "process_limit", result
    assert result["leftover"] == 0
    deadline = time.monotonic() + 5
    while processes_with(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(name) == []


@needs_cgroup
def test_processes_the_observer_misses_count_from_the_cgroup() -> None:
    """12 such children staying in the cgroup against a limit of 8, below pids.max (16) and
    with no RLIMIT_NPROC in the way (a root tree): only the cgroup's list counts them."""
    name = f"t{uuid.uuid4().hex[:10]}_clone_parent.py"
    source = (FIXTURES / "clone_parent.py").read_text()
    r = sandbox.run(RunRequest({name: source}, name, isolation="plain", env={"STAY": "1", "COUNT": "12"},
                               limits=Limits(wall_s=15, processes=8)))
    if r.student_uid is None:
        assert r.limit == "process_limit" and "answer passes" not in r.stdout
    assert r.leftover_processes == 0 and processes_with(name) == []


@pytest.mark.skipif(not CAPS.usable("bwrap"), reason="needs bubblewrap")
def test_clone_parent_children_under_bwrap(tmp_path: Path) -> None:
    name = f"t{uuid.uuid4().hex[:10]}_clone_parent.py"
    source = (FIXTURES / "clone_parent.py").read_text()
    r = sandbox.run(RunRequest({name: source}, name, isolation="bwrap",
                               limits=Limits(wall_s=15, processes=8)))
    assert r.limit == "process_limit" and "answer passes" not in r.stdout
    assert r.leftover_processes == 0 and processes_with(name) == []


def test_bwrap_leaves_no_zombies(tmp_path: Path) -> None:
    """Everything a check starts is reaped by the grader: a subreaper wrapper around it
    collects nothing (bwrap's inner init used to end as a zombie of pid 1)."""
    from conftest import MPGRADE, notebook

    wrapper = textwrap.dedent("""
        import ctypes, os, subprocess, sys, time
        assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0
        done = subprocess.run(sys.argv[1:], capture_output=True)
        time.sleep(0.3)
        orphans = 0
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            orphans += 1
        print(done.returncode, orphans)
    """)
    path = notebook(tmp_path / "sub.ipynb")
    for backend in ["plain"] + (["bwrap"] if CAPS.usable("bwrap") else []):
        out = subprocess.run([sys.executable, "-c", wrapper, MPGRADE, "check", str(path),
                              "--isolation", backend, "-q", "Q3", "-q", "Q5"],
                             capture_output=True, text=True, timeout=120)
        assert out.stdout.split() == ["0", "0"], (backend, out.stdout, out.stderr)
