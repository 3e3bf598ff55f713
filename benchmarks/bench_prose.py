"""How well the prose proposals agree with hand quality labels.

    python benchmarks/bench_prose.py CORPUS_DIR MANIFEST [--show Q1]

MANIFEST is a TSV with columns ``file`` (relative to CORPUS_DIR), ``q1_quality`` and
``q2_quality`` (good / partial / poor / missing). Each submission is graded exactly as
``mpgrade check`` would grade its prose questions (loading, segmentation, the exercise's
rubric); printed per question: the mean proposal, as a share of the points, per label, and
Spearman's rank correlation between proposal and label (ties share their mean rank).
Target: good >= 0.8, poor <= 0.4, good > partial > poor.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

from mpgrade.assignment import load_assignment
from mpgrade.grader import grade_file
from mpgrade.model import GradeOptions
from mpgrade.submission import SubmissionError

LABELS = ("good", "partial", "poor")
ORDER = {"poor": 0, "partial": 1, "good": 2}


def ranks(values: list[float]) -> list[float]:
    """1-based ranks; tied values get the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(xs: list[float], ys: list[float]) -> float:
    """Pearson's correlation of the ranks (correct with ties)."""
    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sx = sum((a - mx) ** 2 for a in rx) ** 0.5
    sy = sum((b - my) ** 2 for b in ry) ** 0.5
    return cov / (sx * sy) if sx and sy else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--assignment", default="15feb-multiprocessing")
    parser.add_argument("--show", metavar="QID", help="also list each file's proposal for QID")
    args = parser.parse_args()
    assignment = load_assignment(args.assignment)
    qids = [q.id for q in assignment.questions if q.id in ("Q1", "Q2")]
    options = GradeOptions(questions=tuple(qids))
    with open(args.manifest, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    scored: dict[str, list[tuple[str, float, str]]] = {q: [] for q in qids}
    unreadable = 0
    for row in rows:
        try:
            report = grade_file(args.corpus / row["file"], assignment, options)
        except (SubmissionError, OSError) as exc:
            unreadable += 1
            print(f"skipped {row['file']}: {exc}", file=sys.stderr)
            continue
        for q in report.questions:
            label = row.get(f"{q.id.lower()}_quality", "")
            if label in ORDER:
                scored[q.id].append((label, q.score / q.max_score, row["file"]))
    print(f"{len(rows) - unreadable} submissions graded, {unreadable} unreadable")
    for qid, items in scored.items():
        means = []
        for label in LABELS:
            shares = [s for lab, s, _ in items if lab == label]
            mean = statistics.fmean(shares) if shares else float("nan")
            means.append(f"{label} {mean:.2f} (n={len(shares)})")
        rho = spearman([s for _, s, _ in items], [float(ORDER[lab]) for lab, _, _ in items])
        print(f"{qid}: " + ", ".join(means) + f"; Spearman {rho:.2f}")
        if args.show == qid:
            for label, share, name in sorted(items, key=lambda t: (ORDER[t[0]], t[1])):
                print(f"  {label:8} {share:.2f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
