"""How long `mpgrade check` takes against the floor, measured in the same run.

    python benchmarks/bench_check.py [--repeat N]

The floor is what the answers cost as plain `python answer.py` scripts (one per code
question, run one after the other, exactly the files mpgrade runs). The example's Q6
never ends under fork, so its floor entry is capped at the assignment's time limit: the
interesting number there is how much sooner mpgrade gives its verdict. Floor and check
runs alternate, so a neighbour's load on a shared machine falls on both alike.

Targets: a correct notebook within 1.5x its floor, a single question (`-q`) within 2x.
mpgrade runs as pip installs it, with its byte-code cached: a PYTHONDONTWRITEBYTECODE
in the caller's environment (an editable checkout never compiled) is not passed on, and
one warm-up run writes the cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import EXAMPLE, notebook  # noqa: E402
from floor import run_plain  # noqa: E402

from mpgrade.assignment import load_assignment  # noqa: E402
from mpgrade.build import build_script  # noqa: E402
from mpgrade.segment import segment  # noqa: E402
from mpgrade.submission import load  # noqa: E402

MPGRADE = str(Path(sys.executable).with_name("mpgrade"))
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def floor_seconds(path: Path, cap: float, only: tuple[str, ...] = ()) -> float:
    """Run each code answer as a plain script (no sandbox, no probe); hung ones are capped."""
    assignment = load_assignment("15feb-multiprocessing")
    seg = segment(load(path), assignment.questions)
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for q in assignment.questions:
            answer = seg.answers.get(q.id)
            if only and q.id not in only:
                continue
            if q.kind != "code" or answer is None or not answer.code.strip():
                continue
            script = Path(tmp) / f"{q.id}.py"
            script.write_text(build_script(answer, []).source)
            total += run_plain(script, cap)
    return total


def check_seconds(path: Path, only: tuple[str, ...] = ()) -> float:
    started = time.monotonic()
    questions = [arg for q in only for arg in ("-q", q)]
    subprocess.run([MPGRADE, "check", str(path), "--format", "json", *questions],
                   capture_output=True, stdin=subprocess.DEVNULL, env=ENV)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cap = load_assignment("15feb-multiprocessing").limits.wall_s
    with tempfile.TemporaryDirectory() as tmp:
        correct = notebook(Path(tmp) / "correct.ipynb")
        check_seconds(correct)  # warm-up: byte-code and the sandbox probe's cache
        print(f"{'submission':<14} {'floor s':>8} {'check s':>8} {'ratio':>6}  target")
        rows = (("example", EXAMPLE, (), ""), ("correct", correct, (), "<= 1.5x"),
                ("correct -q Q6", correct, ("Q6",), "<= 2x"))
        for name, path, only, target in rows:
            floors, checks = [], []
            for _ in range(args.repeat):
                floors.append(floor_seconds(path, cap, only))
                checks.append(check_seconds(path, only))
            f, c = statistics.median(floors), statistics.median(checks)
            print(f"{name:<14} {f:8.2f} {c:8.2f} {c / f:6.2f}x  {target}")
    print(f"(median of {args.repeat} interleaved runs; the example's floor includes Q6 "
          f"hanging until the {cap:g} s cap under fork)")


if __name__ == "__main__":
    main()
