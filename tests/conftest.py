"""Shared helpers for the end-to-end tests: build submissions, run the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ass.ipynb"
MPGRADE = str(Path(sys.executable).with_name("mpgrade"))
# The example's Q6, verbatim from the notebook: sender/receiver over a Pipe (hangs under fork).
EXAMPLE_Q6 = [c.source for c in nbformat.read(str(EXAMPLE), as_version=4).cells
              if "Pipe()" in c.source][0] + "\n"

PROSE = {
    "Q1": "Multiprocessing runs work in separate processes, each with its own Python interpreter "
    "and memory, so CPU-bound code runs in parallel on several cores and is not held back by "
    "the GIL. It makes heavy computations faster.",
    "Q2": "Threads share the memory of one process and, because of the GIL, only one runs Python "
    "code at a time: good for I/O-bound work. Processes have separate memory, run in parallel on "
    "multiple cores (CPU-bound work) but cost more to create and need IPC such as pickling.",
    "Q4": "A pool is a fixed group of worker processes; it runs a function over many inputs in "
    "parallel and reuses the workers, which avoids the cost of starting a process per task.",
}

CODE = {
    "Q3": """import multiprocessing

def greet():
    print("hello from the child process")

if __name__ == "__main__":
    p = multiprocessing.Process(target=greet)
    p.start()
    p.join()
""",
    "Q4": """import multiprocessing

def square(n):
    return n * n

if __name__ == "__main__":
    with multiprocessing.Pool(3) as pool:
        print(pool.map(square, [1, 2, 3, 4]))
""",
    "Q5": """import multiprocessing

def cube(n):
    return n ** 3

if __name__ == "__main__":
    with multiprocessing.Pool(processes=4) as pool:
        print(pool.map(cube, [1, 2, 3, 4, 5]))
""",
    "Q6": """import multiprocessing

def show(n):
    print(n)

if __name__ == "__main__":
    procs = [multiprocessing.Process(target=show, args=(i,)) for i in range(1, 5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
""",
}

TEXT = {
    "Q1": "What is multiprocessing in python? Why is it useful?",
    "Q2": "What are the differences between multiprocessing and multithreading?",
    "Q3": "Write a python code to create a process using the multiprocessing module.",
    "Q4": "What is a multiprocessing pool in python? Why is it used?",
    "Q5": "How can we create a pool of worker processes in python using the multiprocessing module?",
    "Q6": "Write a python program to create 4 processes, each process should print a different "
    "number using the multiprocessing module in python.",
}


def notebook(path: Path, code: dict[str, str] | None = None, prose: dict[str, str] | None = None) -> Path:
    """A v4 notebook answering every question: defaults are correct answers, overrides win."""
    code = {**CODE, **(code or {})}
    prose = {**PROSE, **(prose or {})}
    nb = nbformat.v4.new_notebook()
    for qid in ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6"):
        nb.cells.append(nbformat.v4.new_markdown_cell(f"{qid}. {TEXT[qid]}"))
        if prose.get(qid):
            nb.cells.append(nbformat.v4.new_markdown_cell(prose[qid]))
        if code.get(qid):
            nb.cells.append(nbformat.v4.new_code_cell(code[qid]))
    nbformat.write(nb, str(path))
    return path


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The installed ``mpgrade`` command, as a user runs it."""
    return subprocess.run(
        [MPGRADE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class CliRun:
    """What one in-process ``mpgrade`` call returned and printed."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliRun]:
    """``mpgrade`` called in this process: the fast path for argument and input errors
    (no interpreter start-up per call); end-to-end tests keep ``run_cli``."""
    from mpgrade.cli import main

    monkeypatch.setenv("NO_COLOR", "1")

    def call(*args: str) -> CliRun:
        capsys.readouterr()
        code = main(list(args))
        out = capsys.readouterr()
        return CliRun(int(code), out.out, out.err)

    return call


def check_json(path: Path, *extra: str, timeout: float = 120) -> tuple[int, dict]:
    proc = run_cli("check", str(path), "--format", "json", *extra, timeout=timeout)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def by_id(result: dict) -> dict[str, dict]:
    return {q["id"]: q for q in result["questions"]}


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose command line or environment carries ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            data = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in data:
            found.append(int(entry.name))
    return found


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _missing_capabilities() -> dict[str, str]:
    """Marker -> why its tests cannot run on this machine (absent when they can)."""
    from mpgrade import sandbox

    caps = sandbox.capabilities()
    missing = {}
    if not caps.usable("bwrap"):
        missing["bwrap"] = "bubblewrap is not usable here (apt-get install bubblewrap; CI installs it)"
    if caps.cgroup != "v1":
        missing["cgroup"] = "needs a writable cgroup v1 hierarchy"
    if "memory" not in caps.cgroup_controllers:
        missing["memory_cgroup"] = "needs a memory cgroup"
    if not Path(CHROMIUM).exists():
        missing["browser"] = "chromium not installed (apt-get install chromium); CI installs it"
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked with a capability this machine lacks, saying which."""
    marked = [item for item in items if any(item.get_closest_marker(m) for m in
                                            ("bwrap", "cgroup", "memory_cgroup", "browser"))]
    if not marked:
        return
    missing = _missing_capabilities()
    for item in marked:
        for name, reason in missing.items():
            if item.get_closest_marker(name):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def make_notebook(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "sub.ipynb", **kwargs: dict[str, str]) -> Path:
        return notebook(tmp_path / name, **kwargs)

    return make
