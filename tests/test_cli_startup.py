"""What one `mpgrade check` loads and redoes: only the modules its format needs, the probe
compiled only when its byte-code is stale, the exercise chosen without validating losers."""

from __future__ import annotations

import json
import marshal
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CODE

import mpgrade.probe
from mpgrade.probe import compile_probe

# Modules a JSON result of one code question does not need (each costs ms at every start).
NOT_FOR_JSON = ("rich", "jinja2", "nbformat", "jsonschema", "concurrent.futures", "compileall",
                "mpgrade.report.summary", "mpgrade.report.gradescope", "mpgrade.report.story")

_CHECK_AND_LIST = """\
import json, sys
import mpgrade.cli
code = mpgrade.cli.main(["check", sys.argv[1], "-f", sys.argv[2], "-q", "Q6"])
sys.stderr.write(json.dumps([code, sorted(m for m in sys.argv[3:] if m in sys.modules)]))
"""


def _loaded(path: Path, fmt: str) -> tuple[int, list[str], str]:
    """Exit code, which of NOT_FOR_JSON the check imported, and its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    proc = subprocess.run([sys.executable, "-c", _CHECK_AND_LIST, str(path), fmt, *NOT_FOR_JSON],
                          capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)
    code, loaded = json.loads(proc.stderr.strip().splitlines()[-1])
    return code, loaded, proc.stdout


@pytest.mark.parametrize("kind", ["script", "notebook"])
def test_a_json_check_imports_no_renderer_schema_or_notebook_library(kind: str, tmp_path: Path,
                                                                     make_notebook) -> None:
    if kind == "script":
        path = tmp_path / "answer.py"
        path.write_text("# Q6. four processes, four numbers\n" + CODE["Q6"])
    else:
        path = make_notebook()
    code, loaded, out = _loaded(path, "json")
    assert code == 0 and json.loads(out)["questions"][0]["status"] == "passed"
    assert loaded == []


def test_the_start_methods_are_asked_of_multiprocessing_once_per_interpreter(tmp_path: Path,
                                                                            monkeypatch) -> None:
    """Importing multiprocessing to learn the default start method costs every check
    milliseconds: a fresh cache asks it once, the next check reads the kept answer."""
    monkeypatch.setenv("MPGRADE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "answer.py"
    path.write_text("# Q6. four processes, four numbers\n" + CODE["Q6"])
    first = subprocess.run([sys.executable, "-c", _CHECK_AND_LIST, str(path), "json", "multiprocessing"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert json.loads(first.stderr.strip().splitlines()[-1]) == [0, ["multiprocessing"]]
    again = subprocess.run([sys.executable, "-c", _CHECK_AND_LIST, str(path), "json", "multiprocessing"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert json.loads(again.stderr.strip().splitlines()[-1]) == [0, []]
    assert json.loads(again.stdout)["environment"]["start_method"] == multiprocessing.get_all_start_methods()[0]


def test_the_text_report_does_load_rich(tmp_path: Path) -> None:
    path = tmp_path / "answer.py"
    path.write_text("# Q6. four processes, four numbers\n" + CODE["Q6"])
    code, loaded, out = _loaded(path, "text")
    assert code == 0 and "Q6" in out and "rich" in loaded and "jinja2" not in loaded


def test_probe_byte_code_is_written_only_when_stale(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mpgrade.probe, "probe_dir", lambda: tmp_path)
    source = tmp_path / "sitecustomize.py"
    source.write_text("VALUE = 1\n")
    assert compile_probe()
    pyc = next((tmp_path / "__pycache__").glob("sitecustomize.*.pyc"))
    written = pyc.stat().st_mtime_ns
    os.utime(pyc, ns=(written - 10**9, written - 10**9))  # so that a rewrite would show
    assert compile_probe() and pyc.stat().st_mtime_ns == written - 10**9
    source.write_text("VALUE = 22\n")
    changed = source.stat().st_mtime_ns + 2 * 10**9  # a new second: the .pyc is stale
    os.utime(source, ns=(changed, changed))
    assert compile_probe() and pyc.stat().st_mtime_ns != written - 10**9
    namespace: dict = {}
    exec(marshal.loads(pyc.read_bytes()[16:]), namespace)  # the new text's byte-code
    assert namespace["VALUE"] == 22


def test_model_values_behave_as_frozen_dataclasses_without_compiling_at_definition() -> None:
    import dataclasses

    from mpgrade.model import Cell, Limits, Trace, value_class

    @value_class
    class Point:
        x: int
        tags: list[str] = dataclasses.field(default_factory=list)
        label: str = "p"

    assert "__init__" in Point.__dict__ and Point.__init__.__qualname__.endswith("_lazy_init.<locals>.__init__")
    a, b = Point(1), Point(x=1, tags=[], label="p")
    assert Point.__init__.__qualname__ == f"{Point.__qualname__}.__init__"  # compiled on first use
    assert a == b and repr(a).endswith("<locals>.Point(x=1, tags=[], label='p')")
    assert a.tags is not b.tags  # a fresh default per instance
    assert dataclasses.replace(a, label="q").label == "q" and dataclasses.astuple(a) == (1, [], "p")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.x = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        del a.x
    with pytest.raises(TypeError):
        Point()
    with pytest.raises(TypeError):
        Point(1, [], "p", "extra")
    with pytest.raises(TypeError, match="follows default"):
        value_class(type("Bad", (), {"__annotations__": {"a": "int", "b": "int"}, "a": 0}))
    assert hash(Limits()) == hash(Limits()) and Limits() == Limits() and Trace() == Trace()
    assert Cell(0, "code", "x") != Cell(1, "code", "x")
