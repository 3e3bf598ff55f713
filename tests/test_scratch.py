"""Scratch dirs: removal that never recurses or raises, a sweep that one bad leftover cannot
stop, and set-up that survives a dir swept from under it."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from mpgrade.model import Limits, RunRequest
from mpgrade.sandbox import capabilities, run, scratch

DEPTH = 3000  # deeper than Python's recursion limit and than PATH_MAX in characters
BACKENDS = ["plain"] + (["bwrap"] if capabilities().usable("bwrap") else [])

# Builds the chain with directory fds: its full path is longer than PATH_MAX.
CHAIN = f"""
import os
fd = os.open(".", os.O_RDONLY)
for _ in range({DEPTH}):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = nfd
open("leaf", "w", opener=lambda name, flags: os.open(name, flags, dir_fd=fd)).write("x")
print("deep")
"""


def _chain(top: Path, depth: int = DEPTH) -> None:
    top.mkdir()
    subprocess.run([sys.executable, "-c", CHAIN.replace(str(DEPTH), str(depth))], cwd=top,
                   check=True, capture_output=True, timeout=60)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_remove_tree_deep_chain_locked_dirs_and_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not yours")
    victim = tmp_path / "victim"
    _chain(victim)
    (victim / "link").symlink_to(outside)
    closed = victim / "closed"
    closed.mkdir()
    (closed / "inner").mkdir()
    (closed / "inner" / "f").write_text("x")
    closed.chmod(0)
    assert scratch.remove_tree(victim) is True
    assert not victim.exists()
    assert (outside / "keep.txt").read_text() == "not yours"
    assert scratch.remove_tree(victim) is True  # already gone: still fine
    assert scratch.remove_tree(outside / "keep.txt") is True


def test_sweep_removes_dead_leftovers_and_keeps_locked_ones(tmp_path: Path) -> None:
    dead = _dead_pid()
    poisoned = tmp_path / f"{scratch.RUN_DIR_PREFIX}{dead}-poison"
    _chain(poisoned)
    held = tmp_path / f"{scratch.RUN_DIR_PREFIX}{dead}-held"
    held.mkdir()
    mine = tmp_path / f"{scratch.RUN_DIR_PREFIX}{os.getpid()}-mine"
    mine.mkdir()
    # The lock is how a supervisor in another pid namespace (whose pid means nothing here)
    # says it is alive.
    fd = os.open(held, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert scratch.sweep_now(str(tmp_path)) == 0
    finally:
        os.close(fd)
    assert not poisoned.exists()
    assert held.exists() and mine.exists()
    assert scratch.sweep_now(str(tmp_path)) == 0
    assert not held.exists()


def test_set_up_survives_a_dir_swept_from_under_it(tmp_path: Path, monkeypatch) -> None:
    real_mkdtemp = scratch.tempfile.mkdtemp
    calls = []

    def flaky(**kw):
        path = real_mkdtemp(dir=str(tmp_path), **kw)
        calls.append(path)
        if len(calls) == 1:
            os.rmdir(path)  # another process removed it between creation and use
        return path

    monkeypatch.setattr(scratch.tempfile, "mkdtemp", flaky)
    monkeypatch.setattr(scratch, "sweep", lambda tmp=None: 0)
    with scratch.scratch_dir({"a/b.py": "print(1)\n"}) as d:
        assert (d.top / "work" / "a" / "b.py").read_text() == "print(1)\n"
        assert len(calls) == 2
    assert not any(Path(c).exists() for c in calls)


@pytest.mark.parametrize("backend", BACKENDS)
def test_student_deep_chain_is_cleaned_up(backend: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(scratch.tempfile, "tempdir", None)
    result = run(RunRequest({"answer.py": CHAIN}, "answer.py", limits=Limits(wall_s=30),
                            isolation=backend))
    assert result.stdout.strip() == "deep", result.stderr
    assert list(tmp_path.glob(f"{scratch.RUN_DIR_PREFIX}*")) == []


def test_check_passes_with_a_poisoned_leftover(tmp_path: Path, make_notebook) -> None:
    """A dead grader's undeletable-by-rmtree dir in $TMPDIR: the next check is unaffected."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    poisoned = tmp / f"{scratch.RUN_DIR_PREFIX}{_dead_pid()}-poison"
    _chain(poisoned)
    nb = make_notebook()
    proc = run_cli("check", str(nb), "-q", "Q3", env={"TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stderr
    assert not poisoned.exists()
    assert list(tmp.glob(f"{scratch.RUN_DIR_PREFIX}*")) == []  # the bare venv may stay
