"""Per-run cost of the sandbox: N runs of a small multiprocessing answer, plain python first.

Run: python benchmarks/bench_sandbox.py [N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from mpgrade.model import RunRequest
from mpgrade.sandbox import capabilities, run

ANSWER = """\
import multiprocessing

def square(n):
    return n * n

if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.map(square, range(8)))
"""


def _time(fn, n: int) -> float:
    fn()  # warm-up: probes and caches are not what we measure
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.mean(samples) * 1000


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    caps = capabilities()
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "answer.py")
        with open(script, "w") as f:
            f.write(ANSWER)
        floor = _time(lambda: subprocess.run([sys.executable, script], check=True,
                                             capture_output=True), n)
    print(f"{'python answer.py':<24} {floor:8.1f} ms   1.00x")
    backends = ["plain"] + (["bwrap"] if caps.usable("bwrap") else [])
    for backend in backends:
        req = RunRequest({"answer.py": ANSWER}, "answer.py", isolation=backend)
        ms = _time(lambda req=req: run(req), n)
        print(f"{'sandbox ' + backend:<24} {ms:8.1f} ms   {ms / floor:.2f}x")
    print(f"(n={n}, cgroup={caps.cgroup}, proc_connector={caps.proc_connector})")


if __name__ == "__main__":
    main()
