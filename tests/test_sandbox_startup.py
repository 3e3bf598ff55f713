"""What the sandbox does once per machine or process: the capability probes, their caches,
and the student's interpreter without the installation's site-packages."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mpgrade.cache import once, recall, remembered, store
from mpgrade.model import Limits, RunRequest
from mpgrade.probe.trace import parse_trace
from mpgrade.resources import probe_dir
from mpgrade.sandbox import bwrap, capabilities, interpreter, run

BACKENDS = ["plain"] + (["bwrap"] if capabilities().usable("bwrap") else [])


def test_once_probes_a_single_time_under_concurrent_callers() -> None:
    calls = []

    @once
    def probe() -> int:
        calls.append(1)
        time.sleep(0.05)
        return 42

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(probe())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert results == [42] * 4 and calls == [1]


def test_remembered_keeps_answers_per_key_and_never_a_failure(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MPGRADE_CACHE_DIR", str(tmp_path))
    calls: list[str] = []

    def probe(answer: str | None):
        return lambda: calls.append(str(answer)) or answer

    assert remembered("p", ("a",), probe("yes")) == "yes"
    assert remembered("p", ("a",), probe("other")) == "yes"  # from disk
    assert remembered("p", ("b",), probe("no-b")) == "no-b"  # new key: probed again
    assert remembered("p", ("c",), probe(None)) is None
    assert remembered("p", ("c",), probe(None)) is None  # a failure is not stored
    assert calls == ["yes", "no-b", "None", "None"]
    assert remembered("p", ("a",), probe("other")) == "yes"  # "b" did not evict "a"
    for entry in tmp_path.glob("p-*.json"):
        entry.write_text("[" * 100_000)  # a damaged file is a miss, not an error
    assert remembered("p", ("b",), probe("again")) == "again"


def test_only_what_recall_can_read_back_is_stored(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MPGRADE_CACHE_DIR", str(tmp_path))
    store("big", ("k",), "x" * 70_000)  # over the size recall reads
    store("date", ("k",), {"when": datetime.date(1979, 5, 27)})  # not JSON
    store("fine", ("k",), {"n": [1, 2.5, "three"]})
    assert recall("big", ("k",)) is None and recall("date", ("k",)) is None
    assert recall("fine", ("k",)) == {"n": [1, 2.5, "three"]}
    assert [p.name.split("-")[0] for p in tmp_path.iterdir()] == ["fine"]


def test_bwrap_probe_key_follows_the_binaries_and_kernel(monkeypatch) -> None:
    key = bwrap._probe_key()
    assert key == bwrap._probe_key()
    monkeypatch.setattr(bwrap, "find", lambda: "/bin/sh")
    assert bwrap._probe_key() != key


def test_the_student_interpreter_is_a_checked_bare_environment() -> None:
    home = interpreter.environment()
    assert home is not None
    st = os.stat(home)
    assert st.st_uid == os.geteuid() and not st.st_mode & 0o022
    assert os.path.realpath(interpreter.interpreter()) == os.path.realpath(sys.executable)


def test_a_changed_environment_is_checked_again_and_replaced(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    interpreter._home.cache_clear()
    monkeypatch.setattr(interpreter, "_checked", {})
    try:
        home = interpreter.environment()
        full: list[tuple] = []
        valid = interpreter._valid
        monkeypatch.setattr(interpreter, "_valid", lambda *a: full.append(a) or valid(*a))
        assert interpreter.environment() == home and full == []  # unchanged: no full check
        assert home is not None
        pth = Path(interpreter._site_packages(home)) / interpreter.LIBRARIES_PTH
        pth.write_text("/somewhere/else\n")  # a changed file: checked in full, made again
        again = interpreter.environment()
        assert full and again is not None and valid(again, interpreter.real_binary(), interpreter.library_dirs())
    finally:
        interpreter._home.cache_clear()


def test_the_environment_lists_the_graders_libraries_after_the_standard_library(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    binary, libraries = interpreter.real_binary(), interpreter.library_dirs()
    home = interpreter._make(binary, libraries)
    assert home is not None
    python = os.path.join(home, "bin", "python")
    out = subprocess.run([python, "-c", "import json, os, sys; print(json.dumps(sys.path))"],
                         env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
    path = json.loads(out.stdout)
    stdlib = path.index(os.path.dirname(os.__file__))
    assert [path.index(d) > stdlib for d in libraries] == [True] * len(libraries)
    assert interpreter._make(binary, libraries[:1]) != home  # another grader's libraries: its own
    pth = Path(interpreter._site_packages(home)) / interpreter.LIBRARIES_PTH
    pth.write_text("/somewhere/else\n")
    assert not interpreter._valid(home, binary, libraries)


def test_a_strangers_environment_dir_is_not_used(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    binary, libraries = interpreter.real_binary(), interpreter.library_dirs()
    first = interpreter._make(binary, libraries)
    assert first is not None and interpreter._valid(first, binary, libraries)
    os.chmod(first, 0o777)  # now anyone could swap the link
    second = interpreter._make(binary, libraries)
    assert second is not None and second != first and interpreter._valid(second, binary, libraries)
    assert os.path.basename(second).startswith(f"mpgrade-run-{os.getpid()}-")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_probe_records_every_process_and_installed_packages_import_without_pth_files(backend: str, method: str) -> None:
    source = textwrap.dedent("""\
        import importlib.util, multiprocessing, sys

        def show(i):
            installed = importlib.util.find_spec("psutil") is not None  # a package beside the grader
            sys.stdout.write(f"{i} {installed} {'certifi' in sys.modules}\\n")  # one write: atomic

        if __name__ == "__main__":
            procs = [multiprocessing.Process(target=show, args=(i,)) for i in range(2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
        """)
    result = run(RunRequest(
        files={"answer.py": source}, script="answer.py", limits=Limits(wall_s=20),
        env={"MPGRADE_START_METHOD": method}, pythonpath=(str(probe_dir()),), isolation=backend,
    ))
    assert result.exit_code == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == ["0 True False", "1 True False"]
    trace = parse_trace(result)
    assert trace.start_method == method
    children = {p.pid for p in trace.children() if p.confirmed and p.target == "show"}
    assert len(children) == 2
    printed = sorted(line.text for line in trace.lines if line.pid in children)
    assert printed == ["0 True False", "1 True False"]
