"""Dask mode under failure: workers killed mid-run, tasks that raise on the cluster, and a
cluster with no workers at all. Every cluster here is bound to 127.0.0.1 with no dashboard;
the class is a handful of files of the tiny exercise, and every test is time-bounded."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from mpgrade.assignment import load_assignment
from mpgrade.batch import BatchOptions, dask_runner, grade_class
from mpgrade.batch.work import Outcome, Task, grade_task
from mpgrade.cli import main
from mpgrade.errors import ExitCode
from mpgrade.model import Assignment, GradeOptions

distributed = pytest.importorskip("distributed")

FIXTURES = Path(__file__).parent / "fixtures" / "batch"
SUBS = FIXTURES / "subs"
EXERCISE = FIXTURES / "tiny" / "exercise.toml"
CLASS = {"alice": "good.py", "bob": "partial.py", "carol": "deadlock.py", "dave": "good.py",
         "erin": "deadlock.py", "fay": "crash.py"}


@pytest.fixture(scope="module")
def tiny() -> Assignment:
    return load_assignment(str(EXERCISE))


def _tasks() -> list[Task]:
    return [Task(s, str(SUBS / f), f"{s}.py", f"k-{s}") for s, f in CLASS.items()]


def _cluster(workers: int, processes: bool) -> distributed.LocalCluster:
    return distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=processes, host="127.0.0.1",
        protocol="tcp://", dashboard_address=None, worker_dashboard_address=None,
        **({"worker_class": distributed.Nanny} if processes else {}),
    )


def _local(tiny: Assignment) -> dict[str, str]:
    return {t.student: grade_task(t, tiny, GradeOptions(), "text").record.status for t in _tasks()}


@pytest.mark.timeout(300)
def test_killing_every_worker_midway_still_grades_every_row(tiny: Assignment) -> None:
    tmp = tempfile.gettempdir()
    tasks_before = set(glob.glob(os.path.join(tmp, "mpgrade-task-*")))
    expected = _local(tiny)
    with _cluster(2, processes=True) as cluster, distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        outcomes: list[Outcome] = []

        def on_outcome(outcome: Outcome) -> None:
            outcomes.append(outcome)
            if len(outcomes) == 1:  # the others are in flight: kill every worker at once
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)

        lost = dask_runner.run_dask(cluster.scheduler_address, _tasks(), tiny, GradeOptions(),
                                    "text", on_outcome)
        restarted = list(client.run(os.getpid).values())
    assert lost == []
    assert {o.record.student: o.record.status for o in outcomes} == expected
    assert all(o.record.key for o in outcomes)  # real results, cacheable: no "task failed" rows
    assert not set(restarted) & set(pids)
    # The killed workers' scratch dirs were swept by their successors; no copies of files.
    for pid in pids:
        assert glob.glob(os.path.join(tmp, f"mpgrade-run-{pid}-*")) == []
    assert set(glob.glob(os.path.join(tmp, "mpgrade-task-*"))) <= tasks_before


_FAILED: dict[str, int] = {}


def _flaky(task: Task, *args: object) -> Outcome:
    """Fails like a lost worker on each task's first two tries, then grades for real."""
    _FAILED[task.student] = _FAILED.get(task.student, 0) + 1
    if _FAILED[task.student] <= 2:
        raise OSError("connection to the worker closed")
    return grade_task(task, *args)  # type: ignore[arg-type]


def _broken(task: Task, *args: object) -> Outcome:
    raise OSError("connection to the worker closed")


@pytest.mark.timeout(180)
def test_cluster_failures_are_retried_and_never_become_a_students_row(
    tiny: Assignment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dask_runner, "DASK_RETRIES", 0)  # our own resubmission is under test
    tasks = _tasks()[:2]
    with _cluster(1, processes=False) as cluster:
        monkeypatch.setattr(dask_runner, "grade_task", _flaky)
        got: list[Outcome] = []
        assert dask_runner.run_dask(cluster.scheduler_address, tasks, tiny, GradeOptions(),
                                    "text", got.append) == []
        assert sorted(o.record.status for o in got) == ["partial", "passed"]
        assert _FAILED == {"alice": 3, "bob": 3}
        # The profiler that can deadlock a grading worker (see dask_runner) is off.
        [worker] = cluster.workers.values()
        assert not worker.periodic_callbacks["profile"].is_running()

        monkeypatch.setattr(dask_runner, "grade_task", _broken)
        monkeypatch.setattr(dask_runner, "ATTEMPTS", 2)
        got.clear()
        lost = dask_runner.run_dask(cluster.scheduler_address, tasks, tiny, GradeOptions(),
                                    "text", got.append)
    assert got == []
    assert sorted(x.task.student for x in lost) == ["alice", "bob"]
    assert all("connection to the worker closed" in x.reason and x.task.content is None
               for x in lost)


@pytest.mark.timeout(180)
def test_a_cluster_without_workers_leaves_the_batch_incomplete(
    tmp_path: Path, tiny: Assignment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dask_runner, "NO_WORKERS_TIMEOUT_S", 1.0)
    monkeypatch.setattr(dask_runner, "POLL_S", 0.2)
    folder = tmp_path / "class"
    folder.mkdir()
    for student in ("alice", "bob"):
        shutil.copy(SUBS / CLASS[student], folder / f"{student}.py")
    with _cluster(0, processes=False) as cluster:
        result = grade_class(BatchOptions(inputs=(folder,), outdir=tmp_path / "out",
                                          assignment=tiny, dask=cluster.scheduler_address,
                                          progress=False))
        code = main(["grade", str(folder), "-o", str(tmp_path / "cli"), "-a", str(EXERCISE),
                     "--dask", cluster.scheduler_address])
    assert (result.pending, result.lost, result.complete) == (2, 2, False)
    assert "incomplete: 0 of 2 graded, 2 lost by the cluster (no Dask worker" in result.summary_line
    assert list((tmp_path / "out" / "results").iterdir()) == []  # nothing is the students' own
    assert list((tmp_path / "out" / ".mpgrade" / "records").iterdir()) == []
    assert sorted((s, st) for s, st, _ in result.problems) == [("alice", "pending"),
                                                                ("bob", "pending")]
    assert all("the cluster lost it" in why for _, _, why in result.problems)
    assert code == ExitCode.INCOMPLETE
