"""How often mpgrade agrees with hand verdicts on real submissions, per code question.

    python benchmarks/bench_accuracy.py CORPUS_DIR MANIFEST [--workers N] [--assignment ID]

MANIFEST is a tab-separated file with a ``file`` column (relative to CORPUS_DIR) and, per
code question, a verdict column (``q3``: pass / fail / missing) and its ``q3_reason``.
mpgrade's side: pass = full marks, missing = status ``missing``, fail = anything else.
Each submission is graded by its own ``mpgrade check --format json`` (a crash costs one
row, never the run), N of them at a time. Prints the agreement per question, every
disagreement with the hand reason and mpgrade's feedback, and the false passes (mpgrade
full marks where the hand verdict is fail), which must be none.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MPGRADE = str(Path(sys.executable).with_name("mpgrade"))
QUESTIONS = ("Q3", "Q4", "Q5", "Q6")
VERDICTS = ("pass", "fail", "missing")


def grade(path: Path, assignment: str) -> dict[str, tuple[str, str]]:
    """question -> (mpgrade verdict, feedback); {} with an "error" entry when check failed."""
    proc = subprocess.run(
        [MPGRADE, "check", str(path), "--format", "json", "--assignment", assignment],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, errors="replace",
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        line = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return {q: ("crash", line) for q in QUESTIONS}
    found: dict[str, tuple[str, str]] = {}
    for q in report.get("questions", []):
        if q["status"] == "missing":
            verdict = "missing"
        elif q["score"] >= q["max_score"] - 1e-9:
            verdict = "pass"
        else:
            verdict = "fail"
        found[q["id"]] = (verdict, f"{q['status']} {q['score']:g}/{q['max_score']:g}: {q['feedback']}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    parser.add_argument("--assignment", default="15feb-multiprocessing")
    args = parser.parse_args()
    with args.manifest.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r.get("file")]
    paths = [args.corpus / r["file"] for r in rows]
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        print(f"bench_accuracy: {len(absent)} files missing, e.g. {absent[0]}", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        graded = list(pool.map(lambda p: grade(p, args.assignment), paths))

    agree = {q: 0 for q in QUESTIONS}
    disagreements: list[str] = []
    false_passes: list[str] = []
    for row, got in zip(rows, graded, strict=True):
        for q in QUESTIONS:
            hand = row[q.lower()].strip()
            mine, feedback = got.get(q, ("missing", "(not in the report)"))
            if hand not in VERDICTS:
                continue
            if mine == hand:
                agree[q] += 1
                continue
            entry = (f"{row['NNN']} {q} hand={hand} mpgrade={mine}\n    hand: {row[q.lower() + '_reason']}"
                     f"\n    mpgrade: {feedback[:400]}")
            disagreements.append(entry)
            if mine == "pass" and hand == "fail":
                false_passes.append(entry)

    counted = {q: sum(1 for r in rows if r[q.lower()].strip() in VERDICTS) for q in QUESTIONS}
    print("Disagreements:")
    for entry in disagreements:
        print("  " + entry)
    print(f"\nFalse passes (mpgrade full marks, hand verdict fail): {len(false_passes)}")
    for entry in false_passes:
        print("  " + entry)
    print(f"\nAgreement with the hand verdicts ({len(rows)} submissions):")
    for q in QUESTIONS:
        n = counted[q]
        print(f"  {q}: {agree[q]}/{n} = {100 * agree[q] / n:.1f}%" if n else f"  {q}: no verdicts")
    total, n = sum(agree.values()), sum(counted.values())
    print(f"  Q3-Q6: {total}/{n} = {100 * total / n:.1f}%" if n else "  Q3-Q6: no verdicts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
