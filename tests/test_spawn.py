"""The root's set-up between fork and exec, by the util-linux chain and by launch.py alike."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from mpgrade.model import Limits
from mpgrade.sandbox import spawn
from mpgrade.sandbox.cgroup import RunCgroup, detect

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux")

PATHS = ["chain", "launcher"]
REPORT = ("import os, resource\n"
          "print(os.getpid(), os.getsid(0))\n"
          "print(*[resource.getrlimit(getattr(resource, n)) for n in "
          "('RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE', 'RLIMIT_CORE', 'RLIMIT_AS')], sep='|')\n")


@pytest.fixture(params=PATHS)
def path(request, monkeypatch) -> str:
    if request.param == "chain":
        if spawn.chain_tools() is None:
            pytest.skip("needs sh, prlimit and setpriv (util-linux)")
    else:
        monkeypatch.setattr(spawn, "chain_tools", lambda: None)
    return request.param


def _start(limits: Limits, cgroup_procs=(), uid=None) -> tuple[subprocess.Popen, list[str]]:
    proc = spawn.start([sys.executable, "-c", REPORT], cwd="/", env={"PATH": "/usr/bin:/bin"},
                       stdin=subprocess.DEVNULL, limits=limits, cgroup_procs=list(cgroup_procs),
                       extra_processes=0, uid=uid)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return proc, out.decode().splitlines()


def test_the_root_has_the_limits_and_its_own_session_from_the_start(path: str) -> None:
    limits = Limits(cpu_s=3.2, file_size_mb=2, open_files=77, memory_mb=900)
    proc, (ids, rlimits) = _start(limits)
    pid, sid = map(int, ids.split())
    assert pid == proc.pid and sid == proc.pid  # one process from sh to python, a session leader
    mb = 1024 * 1024
    assert rlimits.split("|") == [str(v) for v in [(4, 5), (2 * mb, 2 * mb), (77, 77), (0, 0),
                                                    (900 * mb, 900 * mb)]]


def test_a_limit_beyond_what_an_rlimit_holds_means_none_and_the_run_starts(path: str) -> None:
    """Exabytes of memory or 1e300 CPU seconds ask for no limit; passed on as numbers they
    failed the start, and the student's answer was reported as an error."""
    limits = Limits(cpu_s=1e300, file_size_mb=99_999_999_999_999, memory_mb=99_999_999_999_999)
    _, (_, rlimits) = _start(limits)
    cpu, fsize, _, _, memory = rlimits.split("|")
    ours = [resource.getrlimit(r)[1] for r in (resource.RLIMIT_CPU, resource.RLIMIT_FSIZE, resource.RLIMIT_AS)]
    assert [cpu, fsize, memory] == [str((hard, hard)) for hard in ours]  # no lower than ours: none


@pytest.mark.cgroup
def test_the_root_is_in_the_runs_cgroups_before_it_runs(path: str) -> None:
    cgroup = RunCgroup.create(detect(), max_tasks=8, memory_bytes=512 * 1024 * 1024)
    assert cgroup is not None
    try:
        _start(Limits(), cgroup.procs_files())
        assert cgroup.cpu_s() > 0  # the interpreter's start-up was charged to the run's cgroup
    finally:
        cgroup.kill()
        cgroup.remove()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_a_root_grader_drops_the_root_to_the_uid_with_no_new_privs(path: str) -> None:
    proc = spawn.start(["/bin/sh", "-c", "id -u; id -G; grep NoNewPrivs /proc/self/status"],
                       cwd="/", env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL,
                       limits=Limits(), cgroup_procs=[], extra_processes=0, uid=65534)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    uid, groups, nnp = out.decode().splitlines()
    assert (uid, groups, nnp.split()[-1]) == ("65534", "65534", "1")


def test_a_root_grader_leaves_nproc_alone_and_a_user_gets_it() -> None:
    limits = spawn.rlimits(Limits(processes=5), extra_processes=2)
    has_nproc = any(which == resource.RLIMIT_NPROC for which, _ in limits)
    assert has_nproc == (os.getuid() != 0)
    assert any(which == resource.RLIMIT_NPROC for which, _ in
               spawn.rlimits(Limits(processes=5), extra_processes=2, uid=65534))
