"""Grade a whole class: ``grade_class(BatchOptions) -> BatchResult``.

The steps, each in its own module: find the submissions (``discover``), match them to
the roster (``roster``), skip what the output folder already holds (``store``), grade
the rest on local workers (``runner``) or a Dask cluster (``dask_runner``), then write
the gradebooks (``gradebook``) and the class summary (``summary``) from what is on
disk, which is also what happens after a Ctrl-C.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mpgrade.batch.discover import (
    DiscoveryError,
    Entry,
    Found,
    choose_newest,
    find_submissions,
    remove_scratch,
)
from mpgrade.batch.gradebook import write_canvas, write_grades, write_moodle
from mpgrade.batch.options import BatchError, BatchOptions, BatchResult
from mpgrade.batch.progress import Reporter, make_reporter
from mpgrade.batch.record import Record, Row, error_record
from mpgrade.batch.roster import RosterError, RosterIndex, Student, load_roster
from mpgrade.batch.runner import (
    LocalExecutor,
    default_workers,
    no_interrupts,
    sigterm_interrupts,
)
from mpgrade.batch.store import Store, cache_key, file_sha256, spec_hash, write_atomic
from mpgrade.batch.summary import build_summary, summary_json, summary_markdown
from mpgrade.batch.work import Outcome, Task, max_score
from mpgrade.model import Question
from mpgrade.report import render_summary_html

__all__ = ["BatchError", "BatchOptions", "BatchResult", "grade_class"]

REPORT_EXT = {"html": "html", "markdown": "md", "text": "txt"}


def grade_class(options: BatchOptions) -> BatchResult:
    """Grade every submission under ``options.inputs`` into ``options.outdir``."""
    started = time.monotonic()
    if options.report_format not in REPORT_EXT:
        raise BatchError(f"report format must be one of {', '.join(REPORT_EXT)}")
    roster = _roster(options.roster)
    store = Store(options.outdir, REPORT_EXT[options.report_format])
    scratch = store.state / f"scratch-{os.getpid()}"
    reporter = make_reporter(options.progress)
    result: BatchResult | None = None
    try:
        with store.lock():
            result = _grade(options, store, scratch, roster, reporter, started)
        return result
    finally:
        reporter.stop(result.summary_line if result else None)
        remove_scratch(scratch)


def _grade(
    options: BatchOptions,
    store: Store,
    scratch: Path,
    roster: RosterIndex | None,
    reporter: Reporter,
    started: float,
) -> BatchResult:
    try:
        found = find_submissions(options.inputs, scratch, exclude=(options.outdir,))
    except DiscoveryError as exc:
        raise BatchError(str(exc)) from None
    plan = _plan(choose_newest([_on_roster(f, roster) for f in found]), roster)
    spec = spec_hash(options.assignment, options.grade, options.report_format)
    tasks, skipped = _tasks(plan, store, spec, options)
    reporter.start(total=len(tasks), skipped=skipped)
    done: dict[str, str] = {}  # student -> row status, for this run's tasks

    def finished(outcome: Outcome) -> None:
        store.save(outcome)
        done[outcome.record.student] = outcome.record.status
        reporter.advance(outcome.record)

    interrupted = False
    try:
        with sigterm_interrupts():
            _execute(options, tasks, finished)
    except KeyboardInterrupt:
        interrupted = True
    with no_interrupts():
        return _finish(options, store, plan, roster, tasks, done, skipped, interrupted, started)


# --------------------------------------------------------------------------- planning


def _roster(path: Path | None) -> RosterIndex | None:
    if path is None:
        return None
    try:
        return RosterIndex(load_roster(path))
    except RosterError as exc:
        raise BatchError(str(exc)) from None


def _on_roster(found: Found, roster: RosterIndex | None) -> Found:
    """Re-key a file to its roster student, so every alias of one student groups together."""
    if roster is None:
        return found
    hit = roster.match(found.identity.student, found.identity.email)
    if hit is None or hit.id == found.identity.student:
        return found
    return replace(found, identity=replace(found.identity, student=hit.id))


@dataclass(frozen=True)
class _Plan:
    """One entry per student who handed something in, and the roster rows who did not."""

    entries: list[Entry]
    missing: list[Student]


def _plan(entries: list[Entry], roster: RosterIndex | None) -> _Plan:
    if roster is None:
        return _Plan(entries, [])
    present = {e.student for e in entries}
    return _Plan(entries, [s for s in roster.students if s.id not in present])


def _tasks(plan: _Plan, store: Store, spec: str, options: BatchOptions) -> tuple[list[Task], int]:
    """Tasks for what changed; discovery problems are written as error rows at once."""
    tasks: list[Task] = []
    skipped = 0
    max_score = _max_score(options)
    for entry in plan.entries:
        if entry.path is None:
            store.save(Outcome(error_record(entry.student, "", entry.source, entry.error, max_score)))
            continue
        try:
            key = cache_key(file_sha256(entry.path), spec)
        except OSError as exc:
            reason = f"cannot read the file: {exc.strerror or exc}"
            store.save(Outcome(error_record(entry.student, "", entry.source, reason, max_score)))
            continue
        if not options.force and store.is_current(entry.student, key):
            skipped += 1
            continue
        tasks.append(Task(entry.student, str(entry.path), entry.source, key))
    return tasks, skipped


def _questions(options: BatchOptions) -> list[Question]:
    wanted = options.grade.questions
    return [q for q in options.assignment.questions if not wanted or q.id in wanted]


def _max_score(options: BatchOptions) -> float:
    return max_score(options.assignment, options.grade)


# --------------------------------------------------------------------------- running


def _execute(options: BatchOptions, tasks: list[Task], finished: Callable[[Outcome], None]) -> None:
    if not tasks:
        return
    if options.dask:
        from mpgrade.batch.dask_runner import DaskUnavailable, run_dask

        try:
            run_dask(options.dask, tasks, options.assignment, options.grade, options.report_format, finished)
        except DaskUnavailable as exc:
            raise BatchError(str(exc)) from None
        return
    workers = options.workers or default_workers()
    log_dir = options.outdir / ".mpgrade" / "logs"
    with LocalExecutor(workers, options.assignment, options.grade, options.report_format, log_dir) as ex:
        ex.run(tasks, finished)


# --------------------------------------------------------------------------- writing


def _finish(
    options: BatchOptions,
    store: Store,
    plan: _Plan,
    roster: RosterIndex | None,
    tasks: list[Task],
    done: dict[str, str],
    skipped: int,
    interrupted: bool,
    started: float,
) -> BatchResult:
    """Gradebooks and summary from the records on disk: after a full run or a Ctrl-C alike."""
    keys = {t.student: t.key for t in tasks}
    rows: list[Row] = []
    for entry in plan.entries:
        record = store.load(entry.student)
        stale = entry.student in keys and entry.student not in done and record and record.key != keys[entry.student]
        if record is None or stale:
            continue  # not graded yet (interrupted), or its old result is of an older file
        rows.append(_row(entry.student, record, entry, roster))
    max_score = _max_score(options)
    for student in plan.missing:
        record = Record(student.id, "", "", "missing", 0.0, max_score)
        rows.append(_row(student.id, record, None, roster))
    rows.sort(key=lambda r: r.student.lower())
    questions = _questions(options)
    out = options.outdir
    written = [
        write_grades(out / "grades.csv", rows, questions),
        write_canvas(out / "canvas.csv", rows, _canvas_column(options), max_score),
        write_moodle(out / "moodle.csv", rows, max_score),
    ]
    pending = sum(1 for t in tasks if t.student not in done)
    result = BatchResult(
        students=len(rows),
        graded=sum(1 for status in done.values() if status != "error"),
        skipped=skipped,
        errors=sum(1 for r in rows if r.record.status == "error"),
        missing=len(plan.missing),
        pending=pending,
        interrupted=interrupted,
        duration_s=time.monotonic() - started,
        outdir=out,
    )
    summary = build_summary(options.assignment, questions, rows, store.report_href)
    for name, text in (
        ("summary.json", summary_json(summary, result, rows)),
        ("summary.md", summary_markdown(summary, result, rows)),
        ("summary.html", render_summary_html(summary)),
    ):
        write_atomic(out / name, text)
        written.append(out / name)
    return replace(result, written=tuple(written))


def _row(student: str, record: Record, entry: Entry | None, roster: RosterIndex | None) -> Row:
    hit = roster.match(student) if roster else None
    ident = entry.identity if entry else None
    notes = list(entry.notes) if entry else []
    if roster is not None and hit is None:
        notes.append("not on the roster")
    return Row(
        student=student,
        record=record,
        name=(hit.name if hit else "") or (ident.name if ident else ""),
        email=(hit.email if hit else "") or (ident.email if ident else ""),
        notes=tuple(notes),
        roster=hit,
        identity=ident,
    )


def _canvas_column(options: BatchOptions) -> str:
    a = options.assignment
    return f"{a.title} ({options.canvas_assignment_id or a.id})"
