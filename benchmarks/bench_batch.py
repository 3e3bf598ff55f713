"""Throughput and memory of ``mpgrade grade`` against a loop of ``mpgrade check``.

Generates a class from the example notebook (examples/ass.ipynb) and variations of it —
mostly correct, some wrong, a few deadlocking like the example's Q6 Pipe, a few
crashing — then prints, from one run:

- submissions/second of ``mpgrade grade`` (local workers),
- the same for a loop of ``mpgrade check`` (sequential CLI calls),
- the floor: the same answers run as plain ``python`` scripts (no sandbox, no checks),
  with as many in parallel as the batch has workers and hung ones stopped when mpgrade
  gives its deadlock verdict (0.6 s after the start, as bench_deadlock measures),
- ratios, the time deadlocked submissions cost, and the peak RSS of the grader's
  process tree (batch process, workers and the students' processes it runs).

    python benchmarks/bench_batch.py                 # 200 submissions
    python benchmarks/bench_batch.py --sizes 200,1000 --check-limit 60
    python benchmarks/bench_batch.py --sizes 1000 --batch-only
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ass.ipynb"
ASSIGNMENT = "15feb-multiprocessing"

Q6_CORRECT = '''import multiprocessing

def {f}(n):
    print(n)

if __name__ == "__main__":
    procs = [multiprocessing.Process(target={f}, args=(i,)) for i in range({a}, {b})]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
'''
Q6_WRONG = '''import multiprocessing

def {f}(n):
    print("process number", "x" * n)

if __name__ == "__main__":
    for i in range({a}, {b}):
        p = multiprocessing.Process(target={f}, args=(i,))
        p.start()
        p.join()
'''
Q6_DEADLOCK = '''import multiprocessing

def sender(conn, msg):
    for i in msg:
        conn.send(i)
    conn.close()

def receive(conn):
    while True:
        try:
            msg = conn.recv()
        except Exception as e:
            print(e)
            break
        print(msg)

if __name__ == "__main__":
    msg = [{a}, 2, 3, 4, [5, 6, 7], 8, 9, {b}]
    parent_conn, child_conn = multiprocessing.Pipe()
    m1 = multiprocessing.Process(target=sender, args=(child_conn, msg))
    m2 = multiprocessing.Process(target=receive, args=(parent_conn,))
    m1.start()
    m2.start()
    m1.join()
    m2.join()
'''
Q5_LAMBDA = '''import multiprocessing

if __name__ == "__main__":
    with multiprocessing.Pool(processes={a}) as pool:
        print(pool.map(lambda n: n ** 3, [3, 4, 6, 8]))
'''
Q3_CRASH = '''import multiprocessing

def test():
    print("this is my multiprocessing prog"
if __name__ == "__main__":
    m = multiprocessing.Process(target=test)
'''

VERDICT_S = 0.6  # the deadlock verdict's time after a run's start
KINDS = (("correct", 0.70), ("wrong", 0.15), ("deadlock", 0.08), ("crash", 0.07))


def _code_cell_after(cells: list[dict], header: str) -> int:
    """Index of the first non-empty code cell after the markdown cell starting with ``header``."""
    start = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                 and "".join(c["source"]).startswith(header))
    return next(i for i in range(start + 1, len(cells))
                if cells[i]["cell_type"] == "code" and "".join(cells[i]["source"]).strip())


def generate(folder: Path, n: int, seed: int = 7) -> dict[str, str]:
    """Write ``n`` notebooks; return student -> kind."""
    rng = random.Random(seed)
    base = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    kinds: dict[str, str] = {}
    for i in range(n):
        nb = json.loads(json.dumps(base))
        cells = nb["cells"]
        kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
        a = rng.randint(0, 50)
        fmt = {"f": rng.choice(["show", "worker", "print_number", "task"]), "a": a, "b": a + 4}
        q6 = {"correct": Q6_CORRECT, "wrong": Q6_WRONG, "deadlock": Q6_DEADLOCK}.get(kind, Q6_CORRECT)
        cells[_code_cell_after(cells, "Q6.")]["source"] = q6.format(**fmt)
        if kind == "wrong" and rng.random() < 0.5:
            cells[_code_cell_after(cells, "Q5.")]["source"] = Q5_LAMBDA.format(a=rng.randint(2, 6))
        if kind == "crash":
            cells[_code_cell_after(cells, "Q3.")]["source"] = Q3_CRASH
            cells[_code_cell_after(cells, "Q5.")]["source"] = "raise SystemExit('unfinished')\n"
        student = f"student{i:04d}"
        kinds[student] = kind
        (folder / f"{student}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return kinds


class TreeSampler:
    """Peak summed RSS of a process and all its descendants, sampled every 0.5 s.

    Sampling a tree of dozens of processes costs CPU that the timed batch would pay and
    the check loop would not; twice a second keeps that cost out of the comparison."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_tree = 0
        self.peak_main = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                main = psutil.Process(self.pid)
                procs = [main, *main.children(recursive=True)]
            except psutil.Error:
                break
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                if p.pid == self.pid:
                    self.peak_main = max(self.peak_main, rss)
            self.peak_tree = max(self.peak_tree, total)
            self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_batch(folder: Path, out: Path, workers: int) -> tuple[float, TreeSampler]:
    cmd = [sys.executable, "-m", "mpgrade", "grade", str(folder), "-o", str(out),
           "--assignment", ASSIGNMENT]
    if workers:
        cmd += ["--workers", str(workers)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid)
    _, err = proc.communicate()
    elapsed = time.perf_counter() - started
    sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"mpgrade grade failed ({proc.returncode}): {err.strip()}")
    print(f"  {err.strip()}")
    return elapsed, sampler


def run_check_loop(files: list[Path]) -> float:
    started = time.perf_counter()
    for f in files:
        subprocess.run([sys.executable, "-m", "mpgrade", "check", str(f), "--assignment", ASSIGNMENT,
                        "--format", "json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _scripts(files: list[Path], into: Path) -> list[Path]:
    """Each submission's code answers as plain scripts, cut by mpgrade's own reader."""
    from mpgrade.assignment import load_assignment
    from mpgrade.segment import segment
    from mpgrade.submission import load

    questions = load_assignment(ASSIGNMENT).questions
    out = []
    for f in files:
        seg = segment(load(f), questions)
        for qid, answer in seg.answers.items():
            if answer.code.strip():
                path = into / f"{f.stem}_{qid}.py"
                path.write_text(answer.code, encoding="utf-8")
                out.append(path)
    return out


def _run_plain(script: Path) -> None:
    proc = subprocess.Popen([sys.executable, str(script)], cwd=script.parent, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=VERDICT_S)  # what deadlock detection costs a hung answer
    except subprocess.TimeoutExpired:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait()


def run_floor(files: list[Path], workers: int, scratch: Path) -> float:
    scripts = _scripts(files, scratch)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_run_plain, scripts))
    return time.perf_counter() - started


def deadlock_costs(out: Path, kinds: dict[str, str]) -> tuple[list[float], list[float]]:
    """Q6 run durations of deadlocking submissions, and submission durations by kind."""
    q6, totals = [], []
    for student, kind in kinds.items():
        data = json.loads((out / "results" / f"{student}.json").read_text())
        if kind == "deadlock":
            q = next(q for q in data["questions"] if q["id"] == "Q6")
            if q["run"]:
                q6.append(q["run"]["duration_s"])
            totals.append(data["duration_s"])
    return q6, totals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="200", help="class sizes for the batch and RSS, e.g. 200,1000")
    ap.add_argument("--workers", type=int, default=0, help="batch workers (0 = mpgrade's default)")
    ap.add_argument("--check-limit", type=int, default=0,
                    help="time `mpgrade check` on only this many files (0 = all of the first size)")
    ap.add_argument("--batch-only", action="store_true",
                    help="skip the check loop and the floor (e.g. for the 1,000-submission memory run)")
    ap.add_argument("--keep", action="store_true", help="keep the generated class and outputs")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    from mpgrade.batch.runner import default_workers

    workers = args.workers or default_workers()
    tmp = Path(tempfile.mkdtemp(prefix="mpgrade-bench-"))
    print(f"cores: {psutil.cpu_count()}, batch workers: {workers}, scratch: {tmp}")
    try:
        for index, n in enumerate(sizes):
            folder = tmp / f"class{n}"
            kinds = generate(folder, n)
            mix = {k: sum(1 for v in kinds.values() if v == k) for k, _ in KINDS}
            print(f"\n== {n} submissions {mix}")
            batch_s, sampler = run_batch(folder, tmp / f"out{n}", workers)
            rate = n / batch_s
            print(f"mpgrade grade : {batch_s:7.1f} s  {rate:6.2f} submissions/s")
            print(f"peak RSS      : tree {sampler.peak_tree / 2**20:7.1f} MiB, "
                  f"batch process {sampler.peak_main / 2**20:6.1f} MiB")
            q6, totals = deadlock_costs(tmp / f"out{n}", kinds)
            if q6:
                print(f"deadlocked Q6 : median {statistics.median(q6):.2f} s, max {max(q6):.2f} s "
                      f"(whole submission median {statistics.median(totals):.2f} s)")
            if index or args.batch_only:
                continue
            files = sorted(folder.glob("*.ipynb"))
            sample = files if not args.check_limit else files[: args.check_limit]
            loop_s = run_check_loop(sample)
            loop_rate = len(sample) / loop_s
            print(f"check loop    : {loop_s:7.1f} s  {loop_rate:6.2f} submissions/s "
                  f"({len(sample)} sequential `mpgrade check` calls)")
            scratch = tmp / f"plain{n}"
            scratch.mkdir()
            floor_s = run_floor(files, workers, scratch)
            floor_rate = n / floor_s
            print(f"plain python  : {floor_s:7.1f} s  {floor_rate:6.2f} submissions/s "
                  f"(floor: answers as scripts, {workers} at a time, hung ones stopped at "
                  f"{VERDICT_S:g} s)")
            print(f"ratios        : batch / check loop = {rate / loop_rate:.2f}x, "
                  f"batch / floor = {rate / floor_rate:.2f}, "
                  f"batch time / floor time = {batch_s / floor_s:.2f}x (target <= 1.1x)")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
