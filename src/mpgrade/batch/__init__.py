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
from dataclasses import replace
from pathlib import Path

from mpgrade.batch.context import load_options, save_options
from mpgrade.batch.dask_runner import Lost
from mpgrade.batch.discover import (
    GRADABLE,
    DiscoveryError,
    Entry,
    Found,
    choose_newest,
    find_submissions,
    remove_scratch,
)
from mpgrade.batch.gradebook import (
    CsvStyle,
    write_canvas,
    write_grades,
    write_moodle_gradebook,
    write_moodle_worksheet,
)
from mpgrade.batch.options import BatchError, BatchOptions, BatchResult
from mpgrade.batch.progress import Reporter, make_reporter
from mpgrade.batch.record import Record, Row
from mpgrade.batch.reviews import merge_reviews
from mpgrade.batch.roster import (
    RosterError,
    RosterIndex,
    Student,
    canvas_assignment_columns,
    load_roster,
)
from mpgrade.batch.runner import (
    LocalExecutor,
    default_workers,
    no_interrupts,
    sigterm_interrupts,
)
from mpgrade.batch.store import Store, cache_key, file_sha256, spec_hash, write_atomic
from mpgrade.batch.summary import build_summary, summary_json, summary_markdown
from mpgrade.batch.work import Outcome, Task, max_score, ungradable_outcome
from mpgrade.formats import REPORT_NAMES
from mpgrade.formats import get as get_format
from mpgrade.model import Question, value_class
from mpgrade.report import render_summary_html
from mpgrade.wording import noun, plural

__all__ = ["BatchError", "BatchOptions", "BatchResult", "grade_class", "refresh_class"]


def grade_class(options: BatchOptions) -> BatchResult:
    """Grade every submission under ``options.inputs`` into ``options.outdir``."""
    started = time.monotonic()
    if options.report_format not in REPORT_NAMES:
        raise BatchError(f"report format must be one of {', '.join(REPORT_NAMES)}")
    if options.outdir.exists() and not options.outdir.is_dir():
        raise BatchError(f"{options.outdir}: is a file; give a folder for the results")
    style = _csv_style(options.csv_encoding)
    roster = _roster(options.roster)
    new_outdir = not options.outdir.exists()
    store = Store(options.outdir, get_format(options.report_format).extension)
    scratch = store.state / f"scratch-{os.getpid()}"
    reporter = make_reporter(options.progress)
    result: BatchResult | None = None
    try:
        with store.lock():
            result = _grade(options, store, scratch, roster, style, reporter, started)
        return result
    except BatchError:
        if new_outdir:  # nothing to grade: no empty output folders left behind either
            remove_scratch(scratch)
            store.remove_if_empty()
        raise
    finally:
        reporter.stop(result.closing_lines() if result else None)
        remove_scratch(scratch)


def refresh_class(outdir: Path) -> BatchResult:
    """The last batch into ``outdir`` once more, after a review: nothing unchanged is regraded,
    and every output is written again with the reviews as they are now."""
    return grade_class(load_options(outdir))


def _grade(
    options: BatchOptions,
    store: Store,
    scratch: Path,
    roster: RosterIndex | None,
    style: CsvStyle,
    reporter: Reporter,
    started: float,
) -> BatchResult:
    try:
        found = find_submissions(options.inputs, scratch, exclude=(options.outdir,))
    except DiscoveryError as exc:
        raise BatchError(str(exc)) from None
    if not found and roster is None:  # a wrong folder, not a class in which nobody submitted
        where = ", ".join(str(p) for p in options.inputs)
        raise BatchError(f"{where}: no submissions found (no {' or '.join(GRADABLE)} file, no .zip "
                         "export); give the folder that holds them")
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
    lost: list[Lost] = []
    try:
        with sigterm_interrupts():
            lost = _execute(options, tasks, finished)
    except KeyboardInterrupt:
        interrupted = True
    with no_interrupts():
        return _finish(options, store, plan, roster, style, tasks, done, skipped, interrupted,
                       started, lost)


# --------------------------------------------------------------------------- planning


def _csv_style(encoding: str) -> CsvStyle:
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise BatchError(f"--csv-encoding {encoding}: unknown encoding") from None
    return CsvStyle(encoding)


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


@value_class
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
    for entry in plan.entries:
        if entry.path is None:
            store.save(_ungradable(options, entry.student, entry.source, entry.error))
            continue
        try:
            key = cache_key(file_sha256(entry.path), spec)
        except OSError as exc:
            reason = f"{entry.source}: cannot be read ({exc.strerror or exc})"
            store.save(_ungradable(options, entry.student, entry.source, reason))
            continue
        if not options.force and store.is_current(entry.student, key):
            skipped += 1
            continue
        tasks.append(Task(entry.student, str(entry.path), entry.source, key))
    return tasks, skipped


def _ungradable(options: BatchOptions, student: str, source: str, problem: str, fault: str = "file") -> Outcome:
    return ungradable_outcome(
        student, "", source, problem, options.assignment, options.grade, options.report_format, fault
    )


def _questions(options: BatchOptions) -> list[Question]:
    wanted = options.grade.questions
    return [q for q in options.assignment.questions if not wanted or q.id in wanted]


def _max_score(options: BatchOptions) -> float:
    return max_score(options.assignment, options.grade)


# --------------------------------------------------------------------------- running


def _execute(
    options: BatchOptions, tasks: list[Task], finished: Callable[[Outcome], None]
) -> list[Lost]:
    """Grade ``tasks``; those the cluster lost come back: no result is written for them."""
    if not tasks:
        return []
    if options.dask:
        from mpgrade.batch.dask_runner import DaskUnavailable, run_dask

        try:
            return run_dask(options.dask, tasks, options.assignment, options.grade,
                            options.report_format, finished)
        except DaskUnavailable as exc:
            raise BatchError(str(exc)) from None
    workers = options.workers or default_workers()
    log_dir = options.outdir / ".mpgrade" / "logs"
    with LocalExecutor(workers, options.assignment, options.grade, options.report_format, log_dir) as ex:
        ex.run(tasks, finished)
    return []


# --------------------------------------------------------------------------- writing


def _finish(
    options: BatchOptions,
    store: Store,
    plan: _Plan,
    roster: RosterIndex | None,
    style: CsvStyle,
    tasks: list[Task],
    done: dict[str, str],
    skipped: int,
    interrupted: bool,
    started: float,
    lost: list[Lost],
) -> BatchResult:
    """Gradebooks and summary from the records on disk: after a full run or a Ctrl-C alike.

    Every student of the plan has a row: graded, error, missing, or pending (not graded
    yet because the run was interrupted), so the counts always add up to the class.
    """
    keys = {t.student: t.key for t in tasks}
    lost_by = {x.task.student: x.reason for x in lost}
    max_score = _max_score(options)
    rows: list[Row] = []
    for entry in plan.entries:
        record = store.load(entry.student)
        stale = entry.student in keys and entry.student not in done and record and record.key != keys[entry.student]
        if record is None or stale:  # not graded yet (interrupted), or its record is of an older file
            note = ("not graded yet: the run was interrupted" if interrupted
                    else f"not graded: the cluster lost it ({lost_by[entry.student]})"
                    if entry.student in lost_by else "not graded")
            record = Record(entry.student, "", entry.source, "pending", 0.0, max_score, error=note)
        rows.append(_row(entry.student, record, entry, roster))
    for student in plan.missing:
        outcome = _ungradable(options, student.id, "", "no submission", "missing")
        store.save(outcome)
        rows.append(_row(student.id, outcome.record, None, roster))
    rows.sort(key=lambda r: r.student.lower())
    rows = merge_reviews(store, rows, set(done), options.report_format)
    save_options(options)
    counts = {status: sum(1 for r in rows if r.record.status == status) for status in ("error", "missing", "pending")}
    graded = len(rows) - sum(counts.values())
    incomplete = f"incomplete: {graded} of {len(rows)} graded" if counts["pending"] else ""
    questions = _questions(options)
    out = options.outdir
    canvas_column, warnings = _canvas_column(options)
    written = [
        write_grades(out / "grades.csv", rows, questions, style, incomplete),
        write_canvas(out / "canvas.csv", rows, canvas_column, max_score, style),
    ]
    path, left_out = write_moodle_worksheet(out / "moodle-worksheet.csv", rows, max_score, style)
    written.append(path)
    if left_out:
        warnings.append(
            f"moodle-worksheet.csv: {left_out} of {plural(len(rows), 'student')} "
            f"{noun(left_out, 'has', 'have')} no Moodle participant "
            "number (give a Moodle grading worksheet as --roster); use moodle-gradebook.csv for them"
        )
    path, left_out = write_moodle_gradebook(out / "moodle-gradebook.csv", rows, options.assignment.title, style)
    written.append(path)
    if left_out:
        warnings.append(f"moodle-gradebook.csv: {plural(left_out, 'student')} without an email address or username left out")
    result = BatchResult(
        students=len(rows),
        graded=graded,
        graded_now=sum(1 for status in done.values() if status not in ("error", "missing")),
        skipped=skipped,
        errors=counts["error"],
        missing=counts["missing"],
        pending=counts["pending"],
        interrupted=interrupted,
        duration_s=time.monotonic() - started,
        outdir=out,
        problems=tuple((r.student, r.record.status, r.record.error) for r in rows if not r.graded),
        warnings=tuple(warnings),
        lost=len(lost),
        lost_reason=lost[-1].reason if lost else "",
    )
    summary = replace(build_summary(options.assignment, questions, rows, store.report_href), incomplete=incomplete)
    for name, text in (
        ("summary.json", summary_json(summary, result, rows)),
        ("summary.md", summary_markdown(summary, result, rows, f"reports/<student>.{store.report_ext}")),
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


def _canvas_column(options: BatchOptions) -> tuple[str, list[str]]:
    """The Canvas gradebook header: ``Title (id)`` matches an existing assignment by its id.

    The id is ``--canvas-assignment-id``, else the column of a Canvas gradebook export given
    as the roster (the one titled like the assignment, or its only assignment column).
    """
    a = options.assignment
    if options.canvas_assignment_id:
        return f"{a.title} ({options.canvas_assignment_id})", []
    columns = canvas_assignment_columns(options.roster) if options.roster else ()
    same = [c for c, title in columns if title.strip().lower() == a.title.strip().lower()]
    if len(same) == 1 or len(columns) == 1:
        return (same or [columns[0][0]])[0], []
    hint = f" (the roster has {len(columns)} assignment columns: give one's id)" if columns else ""
    return a.title, [
        "canvas.csv: no Canvas assignment id, so importing it creates a new assignment; "
        f"give --canvas-assignment-id or a Canvas gradebook export as --roster{hint}"
    ]
