"""The table of sandbox backends: the runner, doctor and the CLI take everything from it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mpgrade.cli import build_parser
from mpgrade.doctor import render_doctor
from mpgrade.model import Limits, RunRequest
from mpgrade.sandbox import backends, bwrap, capabilities, run

FIXTURES = Path(__file__).parent / "fixtures" / "backends"


def _isolation_choices(parser, command: str) -> tuple[str, ...]:
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return tuple(next(a for a in sub._actions if a.dest == "isolation").choices)


def test_every_row_names_its_backend_and_the_cli_offers_them_all() -> None:
    assert [b.name for b in backends.all_backends()] == list(backends.NAMES)
    parser = build_parser()
    for command in ("check", "grade", "validate", "gradescope-build"):
        assert _isolation_choices(parser, command) == backends.CHOICES


def test_auto_takes_the_strongest_that_passes_its_self_test(monkeypatch) -> None:
    monkeypatch.setattr(bwrap, "probe", lambda: "user namespaces are disabled")
    assert backends.choose("auto").name == "plain"
    with pytest.raises(backends.SandboxUnavailable, match="--isolation bwrap cannot run here"):
        backends.choose("bwrap")
    with pytest.raises(ValueError, match="use auto, bwrap, plain"):
        backends.choose("docker")


def test_bwrap_maps_a_death_by_signal_back_to_the_signal() -> None:
    assert bwrap.BACKEND.exit_code(128 + 9) == -9
    assert bwrap.BACKEND.exit_code(3) == 3
    assert backends.get("plain").exit_code(-9) == -9


@pytest.mark.bwrap
def test_a_run_says_whether_its_pids_were_its_own() -> None:
    source = "import os\nprint(os.getpid())\n"
    under_bwrap = run(RunRequest({"a.py": source}, "a.py", isolation="bwrap"))
    plain = run(RunRequest({"a.py": source}, "a.py", isolation="plain"))
    assert (under_bwrap.backend, under_bwrap.pid_namespace) == ("bwrap", True)
    assert (plain.backend, plain.pid_namespace) == ("plain", False)
    assert under_bwrap.stdout.strip() != plain.stdout.strip()


@pytest.fixture
def nice_registered(monkeypatch):
    """The worked example of docs/ARCHITECTURE.md: one module and its row in the table."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setattr(backends, "_ROWS", (*backends._ROWS, ("nice", "nice_backend:BACKEND")))
    yield
    sys.modules.pop("nice_backend", None)


def test_a_new_backend_is_one_module_and_one_row(nice_registered) -> None:
    source = "import os\nprint(os.nice(0))\n"
    result = run(RunRequest({"a.py": source}, "a.py", isolation="nice", limits=Limits(wall_s=10)))
    assert (result.exit_code, result.stdout.strip(), result.backend) == (0, "19", "nice")
    caps = capabilities()
    assert caps.usable("nice")
    cells = [[c.strip() for c in line.split("│")[1:3]]
             for line in render_doctor(caps).splitlines() if "│" in line]
    assert ["nice", "usable"] in cells


def test_the_plain_backends_root_hint_names_the_python_nobody_can_run(monkeypatch) -> None:
    """The hint points at the real interpreter (what to reinstall), not the bare environment
    mpgrade makes in the temp dir."""
    import os

    from mpgrade.sandbox import interpreter, plain

    if not (sys.platform.startswith("linux") and os.geteuid() == 0):
        pytest.skip("the hint concerns a root grader")
    monkeypatch.setattr(plain, "run_uid", lambda *_: None)  # as when uid nobody cannot run it
    rows = plain.BACKEND.doctor()
    assert rows.hints and interpreter.real_binary() in rows.hints[0]
    assert "mpgrade-python-" not in rows.hints[0]
