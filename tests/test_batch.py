"""Batch grading end to end: real grader, real sandboxed subprocesses, real worker processes.

The class is tiny (a two-question exercise with short limits, five .py files) so the
whole module runs in well under two minutes on two cores.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import psutil
import pytest
from rich.console import Console

from mpgrade.assignment import load_assignment
from mpgrade.batch import BatchError, BatchOptions, BatchResult, grade_class
from mpgrade.batch.progress import Reporter
from mpgrade.batch.record import Record
from mpgrade.model import Assignment
from mpgrade.report import validate_json

FIXTURES = Path(__file__).parent / "fixtures" / "batch"
SUBS = FIXTURES / "subs"
EXERCISE = FIXTURES / "tiny" / "exercise.toml"


@pytest.fixture(scope="module")
def tiny() -> Assignment:
    return load_assignment(str(EXERCISE))


def _class_folder(root: Path, names: dict[str, str]) -> Path:
    """``names`` maps a student file name to the fixture it copies."""
    root.mkdir(parents=True, exist_ok=True)
    for name, fixture in names.items():
        shutil.copy(SUBS / fixture, root / name)
    return root


def _read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), f"{path.name}: no UTF-8 byte-order mark for spreadsheets"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def _run(inputs: tuple[Path, ...], out: Path, assignment: Assignment, **kw: object) -> BatchResult:
    opts = BatchOptions(inputs=inputs, outdir=out, assignment=assignment, workers=2, progress=False)
    return grade_class(BatchOptions(**{**opts.__dict__, **kw}))


MIXED = {
    "alice.py": "good.py",
    "bob.py": "partial.py",
    "carol.py": "deadlock.py",
    "dave.py": "crash.py",
    "erin.ipynb": "broken.ipynb",
}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, tiny: Assignment) -> tuple[Path, Path, BatchResult]:
    base = tmp_path_factory.mktemp("mixed")
    folder = _class_folder(base / "class", MIXED)
    roster = base / "roster.csv"
    roster.write_text(
        "id,name,email\n"
        "alice,Alice Adams,alice@uni.edu\n"
        "bob,Bob Brown,bob@uni.edu\n"
        "carol,Carol Clark,carol@uni.edu\n"
        "dave,Dave Dale,dave@uni.edu\n"
        "erin,Erin Eve,erin@uni.edu\n"
        "frank,Frank Fry,frank@uni.edu\n"
    )
    out = base / "out"
    result = _run((folder,), out, tiny, roster=roster)
    return folder, out, result


def test_mixed_class_counts(mixed: tuple[Path, Path, BatchResult]) -> None:
    _, out, result = mixed
    assert (result.students, result.graded, result.graded_now, result.skipped) == (6, 4, 4, 0)
    assert (result.errors, result.missing, result.pending, result.interrupted) == (1, 1, 0, False)
    assert result.students == result.graded + result.errors + result.missing + result.pending
    assert {p.name for p in result.written} == {
        "grades.csv", "canvas.csv", "moodle-worksheet.csv", "moodle-gradebook.csv",
        "summary.json", "summary.md", "summary.html",
    }
    lines = result.closing_lines()
    assert lines[0].startswith("mpgrade grade: done: 6 students: 4 graded, 1 error, 1 missing, 0 pending")
    assert lines[1] == "not graded:"
    assert lines[2].startswith("  erin [error]: erin.ipynb") and lines[3] == "  frank [missing]: no submission"


def test_grades_csv_cell_by_cell(mixed: tuple[Path, Path, BatchResult]) -> None:
    _, out, _ = mixed
    rows = _read_csv(out / "grades.csv")
    assert rows[0] == ["student", "name", "Q1", "Q2", "total", "max", "status", "notes", "proposals", "reviewed"]
    body = {r[0]: r for r in rows[1:]}
    assert list(body) == ["alice", "bob", "carol", "dave", "erin", "frank"]
    assert body["alice"] == ["alice", "Alice Adams", "1", "2", "3", "3", "passed", "", "", ""]
    assert body["bob"][:4] == ["bob", "Bob Brown", "1", "0.5"]
    assert body["bob"][4:7] == ["1.5", "3", "partial"]
    assert body["carol"][:3] == ["carol", "Carol Clark", "1"]
    assert float(body["carol"][3]) < 2 and body["carol"][6] == "partial"
    assert body["dave"] == ["dave", "Dave Dale", "0", "0", "0", "3", "failed", "", "", ""]
    erin = body["erin"]
    assert erin[:7] == ["erin", "Erin Eve", "", "", "", "3", "error"]
    assert "erin.ipynb" in erin[7] and "\n" not in erin[7]
    assert body["frank"] == ["frank", "Frank Fry", "", "", "", "3", "missing", "", "", ""]


def test_per_student_json_and_reports(mixed: tuple[Path, Path, BatchResult]) -> None:
    _, out, _ = mixed
    everyone = ["alice", "bob", "carol", "dave", "erin", "frank"]
    for folder, ext in (("results", "json"), ("reports", "html"), ("lti", "json")):
        assert sorted(p.name for p in (out / folder).iterdir()) == [f"{n}.{ext}" for n in everyone]
    for name in ("alice", "bob", "carol", "dave"):
        data = json.loads((out / "results" / f"{name}.json").read_text())
        validate_json(data)
        assert data["student"] == name
        assert data["submission"]["path"] == f"class/{name}.py"
        html = (out / "reports" / f"{name}.html").read_text()
        assert html.lstrip().lower().startswith("<!doctype html")
    carol = json.loads((out / "results" / "carol.json").read_text())
    q2 = next(q for q in carol["questions"] if q["id"] == "Q2")
    assert q2["status"] == "timeout" and q2["reason"] == "deadlock"
    # the class's one hang was stopped as a deadlock: no answer waited for the time limit
    stopped = {(p.stem, q["id"]): q["reason"] for p in (out / "results").glob("*.json")
               for q in json.loads(p.read_text()).get("questions", []) if q["reason"]}
    assert stopped == {("carol", "Q2"): "deadlock"}
    erin = json.loads((out / "results" / "erin.json").read_text())
    validate_json(erin)
    assert (erin["status"], erin["score"], erin["student"]) == ("error", None, "erin")
    assert "Re-save it" in erin["error"] and "erin.ipynb" in erin["error"]
    frank = json.loads((out / "results" / "frank.json").read_text())
    validate_json(frank)
    assert frank["status"] == "error" and frank["error"] == "No submission was found."
    assert "Re-save it" in (out / "reports" / "erin.html").read_text()
    lti = {n: json.loads((out / "lti" / f"{n}.json").read_text()) for n in ("alice", "erin", "frank")}
    assert (lti["alice"]["scoreGiven"], lti["alice"]["gradingProgress"]) == (3, "FullyGraded")
    assert lti["erin"]["gradingProgress"] == "Failed" and "scoreGiven" not in lti["erin"]
    assert lti["frank"]["activityProgress"] == "Initialized"


def test_lms_gradebooks(mixed: tuple[Path, Path, BatchResult]) -> None:
    _, out, result = mixed
    canvas = _read_csv(out / "canvas.csv")
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Tiny batch exercise"]
    assert any(w.startswith("canvas.csv: no Canvas assignment id") for w in result.warnings)
    assert canvas[1] == ["Points Possible", "", "", "", "", "3"]
    assert canvas[2] == ["Alice Adams", "", "", "alice", "", "3"]
    assert canvas[3] == ["Bob Brown", "", "", "bob", "", "1.5"]
    assert canvas[6] == ["Erin Eve", "", "", "erin", "", ""]  # error: blank, never a zero
    assert canvas[7] == ["Frank Fry", "", "", "frank", "", ""]
    assert len(canvas) == 8
    # A plain roster has no Moodle participant numbers: the worksheet has its header only.
    assert _read_csv(out / "moodle-worksheet.csv")[0][0] == "Identifier"
    assert len(_read_csv(out / "moodle-worksheet.csv")) == 1
    moodle = _read_csv(out / "moodle-gradebook.csv")
    assert moodle[0] == ["Email address", "Username", "Full name", "Tiny batch exercise", "Feedback"]
    assert moodle[1] == ["alice@uni.edu", "", "Alice Adams", "3", "Score 3/3."]
    assert moodle[2][:4] == ["bob@uni.edu", "", "Bob Brown", "1.5"]
    assert moodle[2][4].startswith("Score 1.5/3. Q2: 0.5/2 partial")
    assert moodle[5][3] == "" and moodle[5][4].startswith("Your submission could not be graded:")
    assert moodle[6] == ["frank@uni.edu", "", "Frank Fry", "", "No submission was found."]


def test_class_summary_files(mixed: tuple[Path, Path, BatchResult]) -> None:
    _, out, _ = mixed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["assignment_id"] == "tiny-batch" and summary["max_score"] == 3
    assert summary["batch"]["row_status_counts"] == {
        "passed": 1, "partial": 2, "failed": 1, "error": 1, "missing": 1
    }
    q1, q2 = summary["questions"]
    assert (q1["id"], q1["graded"], q1["pass_rate"]) == ("Q1", 4, 0.75)
    assert q2["status_counts"]["timeout"] == 1 and q2["status_counts"]["passed"] == 1
    assert sum(b["count"] for b in summary["histogram"]) == 4
    keys = {f["key"]: f for f in summary["top_failures"]}
    assert keys["limit:deadlock"]["examples"] == ["carol"] and keys["limit:deadlock"]["question"] == "Q2"
    students = {s["student"]: s for s in summary["students"]}
    assert students["alice"]["report_href"] == "reports/alice.html"
    assert students["frank"]["score"] is None and students["frank"]["error"] == "missing"
    md = (out / "summary.md").read_text()
    assert md.startswith("# Tiny batch exercise: class summary")
    assert "**6 students** · 4 graded · 1 error · 1 missing" in md
    assert "| Q2 Four processes, four numbers |" in md
    assert "stopped: deadlock" in md and "**frank (Frank Fry)** [missing]" in md
    html = (out / "summary.html").read_text()
    assert 'href="reports/alice.html"' in html and "Tiny batch exercise" in html


def test_rerun_grades_nothing_and_regrades_a_changed_file(
    mixed: tuple[Path, Path, BatchResult], tiny: Assignment, tmp_path: Path
) -> None:
    folder, out, _ = mixed
    before = (out / "grades.csv").read_text()
    again = _run((folder,), out, tiny, roster=out.parent / "roster.csv")
    assert (again.graded_now, again.skipped, again.graded, again.students) == (0, 5, 4, 6)
    assert (out / "grades.csv").read_text() == before
    late = _class_folder(tmp_path / "late", {"bob.py": "good.py"})
    os.utime(late / "bob.py", (time.time() + 60, time.time() + 60))
    third = _run((folder, late), out, tiny, roster=out.parent / "roster.csv")
    assert (third.graded_now, third.skipped) == (1, 4)
    bob = {r[0]: r for r in _read_csv(out / "grades.csv")}["bob"]
    assert bob[4:7] == ["3", "3", "passed"]
    assert bob[7].startswith("2 files submitted: graded the newest, late/bob.py")
    forced = _run((late / "bob.py",), out, tiny, force=True)
    assert (forced.graded_now, forced.skipped) == (1, 0)


def test_canvas_zip_with_newest_of_several(tmp_path: Path, tiny: Assignment) -> None:
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, fixture, when in (
            ("adams_alice_1001_9001_ass.py", "partial.py", (2024, 3, 7, 9, 0, 0)),
            ("adams_alice_LATE_1001_9050_ass-1.py", "good.py", (2024, 3, 8, 9, 0, 0)),
            ("brown_bob_1002_9002_answers.py", "crash.py", (2024, 3, 7, 10, 0, 0)),
            ("../escape_1003_9003_x.py", "good.py", (2024, 3, 7, 10, 0, 0)),
        ):
            zf.writestr(zipfile.ZipInfo(name, date_time=when), (SUBS / fixture).read_text())
    out = tmp_path / "out"
    result = _run((archive,), out, tiny)
    assert (result.students, result.graded, result.errors) == (3, 2, 1)
    rows = {r[0]: r for r in _read_csv(out / "grades.csv")[1:]}
    assert rows["1001"][:7] == ["1001", "adams alice", "1", "2", "3", "3", "passed"]
    assert rows["1001"][7] == (
        "2 files submitted: graded the newest, submissions.zip/adams_alice_LATE_1001_9050_ass-1.py "
        "(2024-03-08 09:00); ignored submissions.zip/adams_alice_1001_9001_ass.py; marked late by the LMS"
    )
    assert rows["1002"][6] == "failed"
    assert rows["1003"][6] == "error" and "path escapes the archive" in rows["1003"][7]
    canvas = _read_csv(out / "canvas.csv")
    assert canvas[2] == ["adams alice", "1001", "", "", "", "3"]
    assert canvas[3] == ["brown bob", "1002", "", "", "", "0"]
    data = json.loads((out / "results" / "1001.json").read_text())
    assert data["submission"]["path"] == "submissions.zip/adams_alice_LATE_1001_9050_ass-1.py"
    assert not any((out / ".mpgrade").glob("scratch-*")), "extracted files are cleaned up"
    assert not (tmp_path / "escape_1003_9003_x.py").exists()


def test_bad_arguments_raise_batch_error(tmp_path: Path, tiny: Assignment) -> None:
    with pytest.raises(BatchError, match="no such file"):
        _run((tmp_path / "missing",), tmp_path / "out", tiny)
    roster = tmp_path / "r.csv"
    roster.write_text("colour\nred\n")
    with pytest.raises(BatchError, match="r.csv: is a file; give a folder"):
        _run((SUBS / "good.py",), roster, tiny)
    with pytest.raises(BatchError, match="no id column"):
        _run((SUBS / "good.py",), tmp_path / "out", tiny, roster=roster)


def test_one_batch_per_output_folder(tmp_path: Path, tiny: Assignment) -> None:
    from mpgrade.batch.store import Store

    store = Store(tmp_path / "out")
    with store.lock(), pytest.raises(BatchError, match="another `mpgrade grade` is writing there"):
        _run((SUBS / "good.py",), tmp_path / "out", tiny)


def test_progress_display_and_quiet_mode(capsys: pytest.CaptureFixture[str]) -> None:
    buf = io.StringIO()
    live = Reporter(live=True, final_line=True, console=Console(file=buf, force_terminal=True, width=160))
    live.start(total=2, skipped=1)
    live.advance(Record("a", "k", "a.py", "passed", 3, 3))
    live.advance(Record("b", "k", "b.py", "error", 0, 3, error="boom"))
    live.stop(["mpgrade grade: done"])
    screen = buf.getvalue()
    assert "2/2" in screen and "1 passed" in screen and "1 error" in screen and "1 errors" not in screen and "1 unchanged" in screen
    quiet = Reporter(live=False, final_line=True, console=Console(file=io.StringIO()))
    quiet.start(total=1, skipped=0)
    quiet.advance(Record("a", "k", "a.py", "passed", 3, 3))
    assert quiet.console.file.getvalue() == ""  # type: ignore[attr-defined]
    quiet.stop(["the only line", "not graded: [b]x[/b]"])
    assert quiet.console.file.getvalue() == "the only line\nnot graded: [b]x[/b]\n"  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- interruption


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def test_ctrl_c_keeps_finished_results_and_rerun_completes(tmp_path: Path) -> None:
    folder = _class_folder(
        tmp_path / "class",
        {f"s{i}.py": ("deadlock.py" if i % 2 else "good.py") for i in range(8)},
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mpgrade", "grade", str(folder), "-o", str(out),
           "--assignment", str(EXERCISE), "--workers", "2"]
    # A shell's background job starts with SIGINT ignored, and Python keeps it so: the
    # batch gets the default disposition, as it has when run from a terminal.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    records = out / ".mpgrade" / "records"
    while not (records.is_dir() and any(records.glob("*.json"))):  # a hang: pytest's timeout
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    tree = _descendants(proc.pid)
    assert tree, "workers should be running"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    gone, alive = psutil.wait_procs(tree, timeout=5)
    assert not alive, f"stray processes: {[p.pid for p in alive]}"
    kept = sorted(p.stem for p in records.glob("*.json"))
    assert 1 <= len(kept) < 8
    rows = _read_csv(out / "grades.csv")[1:]
    assert len(rows) == 8  # every student; those not graded yet say so
    assert sorted(r[0] for r in rows if r[6] != "pending") == kept
    incomplete = f"incomplete: {len(kept)} of 8 graded"
    assert all(incomplete in r[7] for r in rows)
    assert all(r[7].startswith("not graded yet: the run was interrupted") for r in rows if r[6] == "pending")
    for name in ("summary.md", "summary.html", "summary.json"):
        assert incomplete in (out / name).read_text(), name
    assert f"interrupted, {incomplete}" in err
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"this run graded {8 - len(kept)} and reused {len(kept)}" in again.stderr
    rows = _read_csv(out / "grades.csv")[1:]
    assert len(rows) == 8 and "pending" not in {r[6] for r in rows}
    assert "incomplete" not in (out / "summary.md").read_text()


# --------------------------------------------------------------------------- dask


def test_dask_cluster_gives_the_same_files_as_local(tmp_path: Path, tiny: Assignment) -> None:
    distributed = pytest.importorskip("distributed")
    folder = _class_folder(tmp_path / "class", {"alice.py": "good.py", "bob.py": "partial.py",
                                                "erin.ipynb": "broken.ipynb"})
    local = _run((folder,), tmp_path / "local", tiny)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, worker_class=distributed.Nanny,
    ) as cluster:
        remote = _run((folder,), tmp_path / "dask", tiny, dask=cluster.scheduler_address)
    assert (remote.graded, remote.errors) == (local.graded, local.errors) == (2, 1)
    for name in ("grades.csv", "canvas.csv", "moodle-gradebook.csv"):
        assert (tmp_path / "dask" / name).read_text() == (tmp_path / "local" / name).read_text()
    for student in ("alice", "bob"):
        a = json.loads((tmp_path / "local" / "results" / f"{student}.json").read_text())
        b = json.loads((tmp_path / "dask" / "results" / f"{student}.json").read_text())
        validate_json(b)
        assert (a["score"], a["submission"], a["student"]) == (b["score"], b["submission"], b["student"])


def test_dask_unreachable_scheduler_is_one_line_error(tmp_path: Path, tiny: Assignment,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    from mpgrade.batch import dask_runner

    monkeypatch.setattr(dask_runner, "CONNECT_TIMEOUT_S", 1)
    folder = _class_folder(tmp_path / "class", {"alice.py": "good.py"})
    with pytest.raises(BatchError, match="cannot reach the Dask scheduler"):
        _run((folder,), tmp_path / "out", tiny, dask="tcp://127.0.0.1:9")


# --------------------------------------------------------------------------- worker failures


def test_overdue_and_dead_workers_cost_one_uncached_row(tmp_path: Path, tiny: Assignment) -> None:
    from mpgrade.batch.runner import LocalExecutor
    from mpgrade.batch.work import Outcome, Task
    from mpgrade.model import GradeOptions

    slow = Task("carol", str(SUBS / "deadlock.py"), "carol.py", "k1")
    fine = Task("alice", str(SUBS / "good.py"), "alice.py", "k2")
    outcomes: list[Outcome] = []
    with LocalExecutor(1, tiny, GradeOptions(), "html", tmp_path) as ex:
        # The deadlocked answer needs more than half a second before its verdict (the tree
        # must stand still that long): past a 0.2 s deadline it is "stuck".
        ex.deadline_s = 0.2
        ex.run([slow], outcomes.append)
        assert ex.worker_pids() == []  # the stuck worker was killed; a new one starts on demand
        ex.deadline_s = 60
        ex.run([fine], outcomes.append)
        [victim] = ex.worker_pids()
        os.kill(victim, signal.SIGKILL)
        ex.run([fine, fine], outcomes.append)
    overdue, ok, died, retried = (o.record for o in outcomes)
    assert overdue.status == "error" and overdue.key == ""
    assert overdue.error == "grading took longer than 0.2 s; its worker was stopped"
    assert ok.status == "passed" and ok.key == "k2"
    assert died.status == "error" and died.key == ""
    assert died.error.startswith("the grading worker died (exit code -9)")
    assert retried.status == "passed"


def test_dask_without_distributed_installed(tmp_path: Path, tiny: Assignment,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail
    folder = _class_folder(tmp_path / "class", {"alice.py": "good.py"})
    with pytest.raises(BatchError, match=r"pip install 'mpgrade\[dask\]'"):
        _run((folder,), tmp_path / "out", tiny, dask="tcp://127.0.0.1:8786")


def test_canvas_column_takes_the_id_of_a_canvas_export(tmp_path: Path, tiny: Assignment) -> None:
    folder = _class_folder(tmp_path / "class", {"adams_alice_1001_9001_ass.py": "good.py"})
    export = tmp_path / "canvas-export.csv"
    export.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Tiny batch exercise (4242),Other (17)\n"
        "    Points Possible,,,,,3,5\n"
        "\"Adams, Alice\",1001,s1001,alice,A,,\n",
        encoding="utf-8-sig",
    )
    result = _run((folder,), tmp_path / "out", tiny, roster=export)
    canvas = _read_csv(tmp_path / "out" / "canvas.csv")
    assert canvas[0][-1] == "Tiny batch exercise (4242)"
    assert not [w for w in result.warnings if w.startswith("canvas.csv")]
    assert canvas[2] == ["Adams, Alice", "1001", "s1001", "alice", "A", "3"]
    given = _run((folder,), tmp_path / "out2", tiny, canvas_assignment_id="999")
    assert _read_csv(tmp_path / "out2" / "canvas.csv")[0][-1] == "Tiny batch exercise (999)"
    assert not [w for w in given.warnings if w.startswith("canvas.csv")]


def test_a_folder_without_submissions_and_a_zero_worker_count_are_one_line_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    said = []
    for extra in ((), ("--workers", "0")):
        r = subprocess.run([sys.executable, "-m", "mpgrade", "grade", str(empty), "-o", str(tmp_path / "out"),
                            "--assignment", str(EXERCISE), *extra], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
        said.append(r.stderr)
    assert "no submissions found" in said[0] and "--workers must be at least 1" in said[1]
    assert not (tmp_path / "out").exists()  # no empty results/, reports/, lti/ left behind


def test_a_class_of_one_is_one_student(tmp_path: Path, tiny: Assignment) -> None:
    folder = _class_folder(tmp_path / "class", {"alice.py": "good.py"})
    result = _run((folder,), tmp_path / "out", tiny)
    assert result.summary_line.startswith("mpgrade grade: done: 1 student: 1 graded, 0 errors")
    # No roster: the one student has neither a Moodle number nor an email, and every count says so in the singular.
    assert "moodle-gradebook.csv: 1 student without an email address or username left out" in result.warnings
    assert any(w.startswith("moodle-worksheet.csv: 1 of 1 student has no Moodle participant number")
               for w in result.warnings)
    page = (tmp_path / "out" / "summary.html").read_text()
    assert "1 of 1 submission graded" in page and "<title>1 student scored" in page


def test_a_closed_reader_of_the_closing_lines_is_a_broken_pipe_not_exit_1() -> None:
    """``grade … | head -1``: rich would exit 1 and swap stdout for /dev/null; our console
    raises BrokenPipeError, which the command line reports as interrupted (130)."""
    from mpgrade.terminal import PipeConsole

    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    console = PipeConsole(file=Gone())
    with pytest.raises(BrokenPipeError):
        console.print("warning: canvas.csv: no Canvas assignment id")
    assert console.quiet  # nothing more is attempted
