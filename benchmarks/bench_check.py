"""How long `mpgrade check` takes against the floor, measured in the same run.

    python benchmarks/bench_check.py [--repeat N]

The floor is what the answers cost as plain `python answer.py` scripts (one per code
question, run one after the other, exactly the files mpgrade runs). The example's Q6
never ends under fork, so its floor entry is capped at the assignment's time limit: the
interesting number there is how much sooner mpgrade gives its verdict.
"""

from __future__ import annotations

import argparse
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


def floor_seconds(path: Path, cap: float) -> float:
    """Run each code answer as a plain script (no sandbox, no probe); hung ones are capped."""
    assignment = load_assignment("15feb-multiprocessing")
    seg = segment(load(path), assignment.questions)
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for q in assignment.questions:
            answer = seg.answers.get(q.id)
            if q.kind != "code" or answer is None or not answer.code.strip():
                continue
            script = Path(tmp) / f"{q.id}.py"
            script.write_text(build_script(answer, []).source)
            total += run_plain(script, cap)
    return total


def check_seconds(path: Path) -> float:
    started = time.monotonic()
    subprocess.run([MPGRADE, "check", str(path), "--format", "json"], capture_output=True,
                   stdin=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cap = load_assignment("15feb-multiprocessing").limits.wall_s
    with tempfile.TemporaryDirectory() as tmp:
        correct = notebook(Path(tmp) / "correct.ipynb")
        print(f"{'submission':<12} {'floor s':>8} {'check s':>8} {'ratio':>6}")
        for name, path in (("example", EXAMPLE), ("correct", correct)):
            floors = [floor_seconds(path, cap) for _ in range(args.repeat)]
            checks = [check_seconds(path) for _ in range(args.repeat)]
            f, c = statistics.median(floors), statistics.median(checks)
            print(f"{name:<12} {f:8.2f} {c:8.2f} {c / f:6.2f}x")
    print(f"(median of {args.repeat}; the example's floor includes Q6 hanging until the "
          f"{cap:g} s cap under fork)")


if __name__ == "__main__":
    main()
