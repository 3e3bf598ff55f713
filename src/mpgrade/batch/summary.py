"""Class statistics from the stored records: the report room's ``ClassSummary``, plus
``summary.json`` and a ``summary.md`` a teacher can read in a minute.

Built from the compact records, not from the full reports, so summarising a class of
a thousand costs what a thousand small dicts cost.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any

from mpgrade import __version__
from mpgrade.batch.gradebook import notes_of, num
from mpgrade.batch.options import BatchResult
from mpgrade.batch.record import Row
from mpgrade.model import Assignment, Question
from mpgrade.report import ClassSummary, FailureReason, QuestionSummary, StudentRow
from mpgrade.report.summary import STATUSES, histogram

TOP_PER_QUESTION, TOP_OVERALL, EXAMPLES = 5, 10, 3
ATTENTION_LIMIT = 40  # rows listed under "Needs a look"; the rest are in grades.csv


def build_summary(
    assignment: Assignment,
    questions: Sequence[Question],
    rows: Sequence[Row],
    href: Callable[[str], str],
) -> ClassSummary:
    graded = [r for r in rows if r.graded]
    max_score = round(sum(q.points for q in questions), 4)
    students = tuple(
        StudentRow(
            student=r.student,
            score=r.record.score if r.graded else None,
            max_score=max_score,
            statuses={q.id: q.status for q in r.record.questions},
            report_href=href(r.student) if r.graded else None,
            error=None if r.graded else (r.record.error or r.record.status),
        )
        for r in rows
    )
    per_question = tuple(_question(q, graded) for q in questions)
    every = [f for q in per_question for f in q.top_failures]
    scores = [r.record.score for r in graded]
    return ClassSummary(
        assignment_id=assignment.id,
        assignment_title=assignment.title,
        max_score=max_score,
        students=students,
        questions=per_question,
        histogram=histogram(scores, max_score, bins=10),
        top_failures=tuple(
            sorted(every, key=lambda f: (-f.count, _kind_rank(f.key), f.question, f.key))[:TOP_OVERALL]
        ),
        mean_score=round(statistics.fmean(scores), 4) if scores else 0.0,
        median_score=statistics.median(scores) if scores else 0.0,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        tool_version=__version__,
    )


def _kind_rank(key: str) -> int:
    """On equal counts the most telling reason first: a limit, a diagnosis, a check, a status."""
    prefix = key.split(":", 1)[0] if ":" in key else "diagnosis"
    return {"limit": 0, "diagnosis": 1, "check": 2}.get(prefix, 3)


def _question(question: Question, graded: Sequence[Row]) -> QuestionSummary:
    results = [(r.student, q) for r in graded for q in r.record.questions if q.id == question.id]
    statuses = Counter(q.status for _, q in results)
    labels: dict[str, str] = {}
    who: dict[str, list[str]] = {}
    for student, q in results:
        for reason in q.reasons:
            labels.setdefault(reason.key, reason.label)
            who.setdefault(reason.key, []).append(student)
    ranked = sorted(who.items(), key=lambda kv: (-len(kv[1]), _kind_rank(kv[0]), kv[0]))[:TOP_PER_QUESTION]
    n = len(results)
    return QuestionSummary(
        id=question.id,
        title=question.title,
        kind=question.kind,
        max_score=question.points,
        graded=n,
        # full marks, so that a prose answer whose proposal is full counts as passed
        pass_rate=round(sum(q.score >= q.max_score - 1e-9 for _, q in results) / n, 4) if n else 0.0,
        mean_score=round(statistics.fmean(q.score for _, q in results), 4) if n else 0.0,
        status_counts={s: statuses[s] for s in STATUSES if statuses[s]},
        top_failures=tuple(
            FailureReason(key, labels[key], len(names), tuple(sorted(names)[:EXAMPLES]), question.id)
            for key, names in ranked
        ),
    )


def summary_json(summary: ClassSummary, result: BatchResult, rows: Sequence[Row]) -> str:
    data: dict[str, Any] = asdict(summary)
    data["batch"] = {
        "students": result.students,
        "graded_this_run": result.graded,
        "unchanged": result.skipped,
        "errors": result.errors,
        "missing": result.missing,
        "pending": result.pending,
        "interrupted": result.interrupted,
        "duration_s": round(result.duration_s, 3),
        "row_status_counts": dict(Counter(r.record.status for r in rows)),
    }
    data["notes"] = {r.student: notes_of(r) for r in rows if notes_of(r)}
    return json.dumps(data, indent=1) + "\n"


def _report_suffix(summary: ClassSummary) -> str:
    """The per-student report extension actually written (html, md or txt)."""
    return next((PurePath(s.report_href).suffix for s in summary.students if s.report_href), ".html")


def summary_markdown(summary: ClassSummary, result: BatchResult, rows: Sequence[Row]) -> str:
    """The one-minute read: headline numbers, per-question table, top problems, who needs a look."""
    out = [f"# {summary.assignment_title}: class summary", ""]
    counts = Counter(r.record.status for r in rows)
    graded = sum(1 for r in rows if r.graded)
    out.append(
        f"**{_n(len(rows), 'student')}** · {graded} graded · {_n(counts['error'], 'error')} · "
        f"{counts['missing']} missing · mean **{num(summary.mean_score)}** / {num(summary.max_score)} · "
        f"median {num(summary.median_score)}"
    )
    out.append("")
    if result.interrupted:
        out += [
            f"> Interrupted: {result.pending} submissions are not graded yet. "
            "Run the same command again to grade only those.",
            "",
        ]
    out += ["## Questions", ""]
    shown = [s for s in STATUSES if any(q.status_counts.get(s) for q in summary.questions)]
    out.append("| question | pass rate | mean | " + " | ".join(s.replace("_", " ") for s in shown) + " |")
    out.append("|---|---:|---:|" + "---:|" * len(shown))
    for q in summary.questions:
        cells = " | ".join(str(q.status_counts.get(s, 0)) for s in shown)
        out.append(
            f"| {q.id} {q.title} | {q.pass_rate:.0%} | {num(q.mean_score)} / {num(q.max_score)} | {cells} |"
        )
    out.append("")
    if summary.top_failures:
        out += ["## Most common problems", ""]
        for i, f in enumerate(summary.top_failures, 1):
            more = " …" if f.count > len(f.examples) else ""
            out.append(
                f"{i}. **{f.question}: {f.label}** (`{f.key}`): {_n(f.count, 'student')}, "
                f"e.g. {', '.join(f.examples)}{more}"
            )
        out.append("")
    out += ["## Scores", "", "```"]
    top = max((b.count for b in summary.histogram), default=0)
    for b in summary.histogram:
        bar = "#" * (round(30 * b.count / top) if top else 0)
        out.append(f"{num(b.low):>6} - {num(b.high):<6} {bar} {b.count}")
    out += ["```", ""]
    attention = [r for r in rows if notes_of(r) or not r.graded]
    if attention:
        out += ["## Needs a look", ""]
        for r in attention[:ATTENTION_LIMIT]:
            label = f"{r.student} ({r.name})" if r.name and r.name != r.student else r.student
            out.append(f"- **{label}** [{r.record.status}]: {'; '.join(notes_of(r)) or 'no submission'}")
        if len(attention) > ATTENTION_LIMIT:
            out.append(f"- … and {len(attention) - ATTENTION_LIMIT} more: see the notes column of `grades.csv`")
        out.append("")
    out.append(
        "Files: `grades.csv`, `canvas.csv`, `moodle.csv`, `summary.html`, "
        f"`results/<student>.json`, `reports/<student>{_report_suffix(summary)}`."
    )
    return "\n".join(out) + "\n"


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
