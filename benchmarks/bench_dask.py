"""The distributed mode against the local one, and a run that loses every worker midway.

    python benchmarks/bench_dask.py [--size N]

Starts a Dask scheduler and one `dask worker` with two single-threaded worker processes
(nannies), all as separate processes bound to 127.0.0.1 with their dashboards on
127.0.0.1 too, then grades the same generated class (bench_batch's mix) three times:

- locally: `mpgrade grade --workers 2` (the baseline),
- on the cluster: `mpgrade grade --dask ADDRESS` (throughput ratio against local),
- on the cluster again, killing every worker process at once when a third of the rows
  are written (the nannies restart them): the run must end with every row graded, the
  same grades.csv as the local run, exit code 0, and no scratch dirs of the killed
  workers left in the temp dir.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_batch import ASSIGNMENT, generate

BIN = Path(sys.executable).parent


def _dask(*args: str, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([str(BIN / "dask"), *args], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def start_cluster(tmp: Path) -> tuple[str, list[subprocess.Popen]]:
    sched_file = tmp / "scheduler.json"
    scheduler = _dask("scheduler", "--host", "127.0.0.1", "--port", "0",
                      "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(sched_file),
                      log=tmp / "scheduler.log")
    end = time.monotonic() + 60
    while not sched_file.exists() and time.monotonic() < end:
        time.sleep(0.2)
    address = json.loads(sched_file.read_text())["address"]
    workers = _dask("worker", address, "--host", "127.0.0.1", "--nworkers", "2",
                    "--nthreads", "1", "--dashboard-address", "127.0.0.1:0",
                    "--local-directory", str(tmp / "dask-workers"), log=tmp / "workers.log")
    return address, [workers, scheduler]


def worker_pids(address: str, expect: int = 2) -> list[int]:
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(expect, timeout=60)
        return sorted(client.run(os.getpid).values())


def grade(folder: Path, out: Path, extra: list[str]) -> tuple[float, int, str]:
    cmd = [str(BIN / "mpgrade"), "grade", str(folder), "-o", str(out), "--assignment", ASSIGNMENT,
           *extra]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    lines = proc.stderr.strip().splitlines()
    return time.perf_counter() - started, proc.returncode, lines[0] if lines else ""


def kill_when(out: Path, rows: int, pids: list[int], killed: threading.Event) -> None:
    """Kill every worker process at once as soon as ``rows`` results are on disk."""
    end = time.monotonic() + 600
    while time.monotonic() < end:
        written = len(glob.glob(str(out / "results" / "*.json")))
        if written >= rows:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            killed.set()
            return
        time.sleep(0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=40)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mpgrade-bench-dask-"))
    procs: list[subprocess.Popen] = []
    try:
        folder = tmp / "class"
        generate(folder, args.size)
        address, procs = start_cluster(tmp)
        worker_pids(address)
        local_s, code, line = grade(folder, tmp / "local", ["--workers", "2"])
        print(f"local, 2 workers : {local_s:6.1f} s  {args.size / local_s:5.2f} submissions/s  "
              f"exit {code}\n  {line}")
        dask_s, code, line = grade(folder, tmp / "dask", ["--dask", address])
        print(f"dask, 2 workers  : {dask_s:6.1f} s  {args.size / dask_s:5.2f} submissions/s  "
              f"exit {code}\n  {line}")
        print(f"throughput dask / local = {local_s / dask_s:.2f}")

        victims = worker_pids(address)
        killed = threading.Event()
        out = tmp / "fault"
        watcher = threading.Thread(target=kill_when, args=(out, args.size // 3, victims, killed))
        watcher.start()
        fault_s, code, line = grade(folder, out, ["--dask", address])
        watcher.join()
        same = (out / "grades.csv").read_text() == (tmp / "local" / "grades.csv").read_text()
        records = [json.loads(p.read_text()) for p in (out / ".mpgrade" / "records").glob("*.json")]
        infra = [r for r in records if "Dask" in (r.get("error") or "")]
        left = [d for pid in victims for d in glob.glob(f"{tempfile.gettempdir()}/mpgrade-run-{pid}-*")]
        print(f"fault run        : {fault_s:6.1f} s  exit {code}  workers killed: {killed.is_set()} "
              f"({len(victims)} at {args.size // 3} rows)\n  {line}")
        print(f"  rows {len(records)}/{args.size}, rows failed by the cluster {len(infra)}, "
              f"grades.csv same as local: {same}, killed workers' scratch dirs left: {len(left)}")
        ok = killed.is_set() and code == 0 and len(records) == args.size and not infra and same
        print("fault run: every row graded" if ok else "fault run: FAILED")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
