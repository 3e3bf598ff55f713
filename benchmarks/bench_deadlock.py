"""Deadlock detection: how soon a hung answer gets its verdict, and no false alarms.

    python benchmarks/bench_deadlock.py [--repeat N]

For each program, in the same run: the floor (plain `python script.py`, a hung one capped at
the time limit, which is what a grader without detection pays) and `sandbox.run` with the
probe, alternating so that a neighbour's load falls on both alike. Targets: the example's
Q6 is declared deadlocked within 0.8 s of the run's start instead of the 10 s limit; a
program that sleeps or computes for a while is never declared deadlocked.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from floor import run_plain

from mpgrade import sandbox
from mpgrade.assignment import load_assignment
from mpgrade.build import build_script
from mpgrade.model import Limits, RunRequest
from mpgrade.resources import data_dir, probe_dir
from mpgrade.segment import segment
from mpgrade.submission import load

LIMIT = 10.0

SLEEPER = """import multiprocessing, time

def nap():
    time.sleep(3)
    print("rested")

if __name__ == "__main__":
    p = multiprocessing.Process(target=nap)
    p.start()
    p.join()
"""

COMPUTER = """import multiprocessing

def work():
    print(sum(i * i for i in range(25_000_000)))

if __name__ == "__main__":
    p = multiprocessing.Process(target=work)
    p.start()
    p.join()
"""


def example_q6() -> str:
    assignment = load_assignment("15feb-multiprocessing")
    seg = segment(load(data_dir("examples") / "ass.ipynb"), assignment.questions)
    return build_script(seg.answers["Q6"], ()).source


def floor(source: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "answer.py"
        path.write_text(source)
        return run_plain(path, LIMIT)


def graded(source: str) -> tuple[float, float, str]:
    """Seconds of the whole ``sandbox.run`` (stacks, kill, clean-up included), seconds from
    the start to the verdict (the run's own duration), and the verdict."""
    started = time.monotonic()
    run = sandbox.run(RunRequest(
        files={"answer.py": source}, script="answer.py", limits=Limits(wall_s=LIMIT),
        env={"MPGRADE_START_METHOD": "fork"}, pythonpath=(str(probe_dir()),),
    ))
    return time.monotonic() - started, run.duration_s, run.limit or f"exit {run.exit_code}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'program':<22} {'floor s':>8} {'mpgrade s':>10} {'ratio':>6} {'ended s':>8}  verdict")
    for name, source in (("example Q6 (deadlock)", example_q6()), ("sleep 3 s", SLEEPER),
                         ("compute", COMPUTER)):
        floors, runs = [], []
        for _ in range(args.repeat):
            floors.append(floor(source))
            runs.append(graded(source))
        f = statistics.median(floors)
        g = statistics.median(t for t, _, _ in runs)
        ended = statistics.median(d for _, d, _ in runs)
        verdicts = sorted({v for _, _, v in runs})
        print(f"{name:<22} {f:8.2f} {g:10.2f} {g / f:6.2f}x {ended:8.2f}  {', '.join(verdicts)}")
    print("(ended: from the start to the root's end or the verdict; mpgrade s adds stacks, "
          "kill and clean-up)")
    print(f"(median of {args.repeat} interleaved runs; hung floors are capped at the {LIMIT:g} s limit; "
          "start method fork)")


if __name__ == "__main__":
    main()
