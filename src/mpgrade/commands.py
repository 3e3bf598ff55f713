"""One function per subcommand: turn parsed arguments into calls of the rooms.

Kept apart from ``cli`` so that argument parsing stays declarative and each command
reads as the short sequence of pipeline steps it is.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from mpgrade import __version__
from mpgrade.assignment import AssignmentError, choose_assignment, iter_assignments, load_assignment
from mpgrade.errors import ExitCode, UsageError
from mpgrade.model import Assignment, GradeOptions, Limits, Submission
from mpgrade.untrusted import clean_text
from mpgrade.wording import plural


def dispatch(args: argparse.Namespace) -> int:
    handler = {
        "check": cmd_check,
        "grade": cmd_grade,
        "list": cmd_list,
        "checks": cmd_checks,
        "doctor": cmd_doctor,
        "schema": cmd_schema,
        "template": cmd_template,
        "validate": cmd_validate,
        "gradescope-build": cmd_gradescope_build,
        "review": cmd_review,
        "override": cmd_override,
    }[args.command]
    return handler(args)


# --------------------------------------------------------------------------- shared pieces


def _limits(args: argparse.Namespace, base: Limits) -> Limits | None:
    """Command-line overrides of the assignment's limits; None when there are none."""
    overrides = {
        "memory_mb": args.memory_mb,
        "processes": args.max_processes,
        "cpu_s": args.cpu,
        "output_bytes": args.max_output,
        "file_size_mb": args.file_size_mb,
        "open_files": args.open_files,
    }
    given = {k: v for k, v in overrides.items() if v is not None}
    for key, value in given.items():
        if not Limits.valid(value):
            raise UsageError(f"limit {key} must be a positive, finite number, got {value}")
    return replace(base, **given) if given else None


def _options(args: argparse.Namespace, assignment: Assignment) -> GradeOptions:
    if args.isolation != "auto":  # asked for by name: unusable is the user's to fix, now
        from mpgrade.sandbox.backends import choose

        choose(args.isolation)
    return GradeOptions(
        timeout_s=args.timeout,
        start_method=args.start_method,
        isolation=args.isolation,
        questions=tuple(_norm_qid(q) for q in args.question),
        portability=getattr(args, "portability", False),
        limits=_limits(args, assignment.limits),
    ).checked(assignment)


def _norm_qid(value: str) -> str:
    v = value.strip().upper()
    return v if v.startswith("Q") else f"Q{v}"


def _write(text: str, output: str | None) -> None:
    """The report as valid UTF-8, whatever the student managed to put in it."""
    text = clean_text(text)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o {output}: cannot write ({exc.strerror or exc})") from None
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _writable(output: str, example: str) -> None:
    """Refuse an output path that cannot be written before any work is done: every command
    that writes a file checks it here, and none creates a missing folder (a typo in the
    path would hide the file where nobody looks). ``example`` is a file name to suggest."""
    target = Path(output)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"-o {output}: is a folder; give a file name such as {target / example}")
    if not folder.is_dir():
        raise UsageError(f"-o {output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"-o {output}: folder {folder} is not writable")


def _header_hits(sub: Submission, assignment: Assignment) -> int:
    """How many of ``assignment``'s questions the submission names by header or metadata."""
    from mpgrade.segment import segment

    return segment(sub, assignment.questions).named


def _warn_if_unmatched(sub: Submission, forced: Assignment) -> None:
    """A forced --assignment that the submission's headers (or its stamp) do not point to."""
    hits = _header_hits(sub, forced)
    try:
        guess = choose_assignment(None, sub).assignment
    except AssignmentError:
        guess = forced
    theirs = _header_hits(sub, guess) if guess.id != forced.id else hits
    stamped = sub.assignment_id == guess.id != forced.id
    better = stamped or theirs > hits
    if hits and not better:
        return
    name = Path(sub.path).name
    why = f"{name} names {hits} of its {plural(len(forced.questions), 'question')} by header"
    if stamped:
        why = f"{name} was made for {guess.id} (by `mpgrade template`)"
    elif better:
        why += f", and {theirs} of {guess.id}'s {len(guess.questions)}: is that the one?"
    print(f"mpgrade: warning: --assignment {forced.id}: {why}", file=sys.stderr)


# --------------------------------------------------------------------------- commands


# Formats read by programs: a file that cannot be graded is still reported there, on stdout.
MACHINE_FORMATS = ("json", "gradescope", "lti")


def cmd_check(args: argparse.Namespace) -> int:
    from mpgrade.grader import grade_submission
    from mpgrade.report import render
    from mpgrade.submission import SubmissionError, load

    if Path(args.file).is_dir():
        raise UsageError(f"{args.file}: is a folder; to grade every submission in it, run "
                         f"`mpgrade grade {args.file} -o OUT`")
    templates = Path(args.templates) if args.templates else None
    if templates is not None and not templates.is_dir():
        raise UsageError(f"--templates {args.templates}: not a folder")
    if args.output:
        _writable(args.output, "report.html")
    try:
        sub = load(args.file)
    except SubmissionError as exc:
        if args.format in MACHINE_FORMATS:
            _write_ungradable(args, exc.for_student())
        raise
    choice = choose_assignment(args.assignment, sub)
    if choice.warning:
        print(f"mpgrade: warning: {choice.warning}", file=sys.stderr)
    assignment = choice.assignment
    if args.assignment:
        _warn_if_unmatched(sub, assignment)
    report = grade_submission(sub, assignment, _options(args, assignment), choice.segmentation)
    color = False if (args.no_color or os.environ.get("NO_COLOR") or args.output) else None
    text = render(report, args.format, templates=templates, color=color, verbose=args.verbose)
    _write(text, args.output)
    return ExitCode.OK if report.score >= report.max_score - 1e-9 else ExitCode.POINTS_LOST


def _write_ungradable(args: argparse.Namespace, reason: str) -> None:
    """The error result of an unreadable file, against ``--assignment`` or else the set a
    batch without it grades against (an unreadable file names no assignment of its own):
    the maximum an LMS records is the set's, never 0."""
    from mpgrade.model import Ungradable
    from mpgrade.report import render_error

    try:
        assignment = choose_assignment(args.assignment, None).assignment
    except AssignmentError:
        if args.assignment:  # a wrong --assignment is the user's error to hear about
            raise
        assignment = None  # no usable exercise set at all
    u = Ungradable(
        assignment.id if assignment else "",
        assignment.title if assignment else "",
        round(sum(q.points for q in assignment.questions), 4) if assignment else 0.0,
        reason,
        submission_path=args.file,
        tool_version=__version__,
    )
    _write(render_error(u, args.format), args.output)


def cmd_grade(args: argparse.Namespace) -> int:
    from mpgrade.batch import BatchOptions, grade_class

    for p in args.paths:
        if not Path(p).exists():
            raise UsageError(f"{p}: no such file or folder")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1 (leave it out for one per core)")
    if args.canvas_assignment_id is not None and not args.canvas_assignment_id.isdigit():
        raise UsageError("--canvas-assignment-id must be Canvas' number of the assignment, e.g. 12345")
    assignment = choose_assignment(args.assignment, None).assignment
    result = grade_class(
        BatchOptions(
            inputs=tuple(Path(p) for p in args.paths),
            outdir=Path(args.output),
            assignment=assignment,
            grade=_options(args, assignment),
            workers=args.workers or 0,
            force=args.force,
            roster=Path(args.roster) if args.roster else None,
            dask=args.dask,
            report_format=args.report_format,
            canvas_assignment_id=args.canvas_assignment_id,
            csv_encoding=args.csv_encoding,
        )
    )
    if result.interrupted:
        return ExitCode.INTERRUPTED
    return ExitCode.OK if result.complete else ExitCode.INCOMPLETE


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from mpgrade.terminal import PipeConsole

    table = Table(title="Exercise sets")
    table.add_column("id", no_wrap=True)  # what users type: never cut
    table.add_column("title", overflow="fold")
    table.add_column("questions", justify="right")
    table.add_column("points", justify="right")
    table.add_column("path", overflow="fold")
    for aid, path in iter_assignments():
        try:
            a = load_assignment(path)
        except AssignmentError as exc:
            table.add_row(aid, f"[invalid] {exc}", "", "", str(path))
            continue
        total = sum(q.points for q in a.questions)
        table.add_row(a.id, a.title, str(len(a.questions)), f"{total:g}", str(path.parent))
    PipeConsole().print(table)
    return ExitCode.OK


def cmd_checks(args: argparse.Namespace) -> int:
    from mpgrade.checks.registry import listing

    print(listing(args.format), end="")
    return ExitCode.OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from mpgrade.doctor import render_doctor

    print(render_doctor())
    return ExitCode.OK


def cmd_schema(args: argparse.Namespace) -> int:
    from mpgrade.resources import schema_path

    print(json.dumps(json.loads(schema_path().read_text()), indent=2))
    return ExitCode.OK


def cmd_template(args: argparse.Namespace) -> int:
    from mpgrade.authoring import write_template

    assignment = load_assignment(args.assignment)
    fmt = args.format or ("py" if args.output and args.output.endswith(".py") else "ipynb")
    output = Path(args.output or f"{assignment.id}.{fmt}")
    if not args.output and output.exists():  # a student's filled-in copy may have that name
        raise UsageError(f"{output}: already exists; give --output to choose the file")
    _writable(str(output), f"{assignment.id}.{fmt}")
    write_template(assignment, output, fmt)
    print(f"wrote {output}", file=sys.stderr)
    return ExitCode.OK


def cmd_validate(args: argparse.Namespace) -> int:
    from mpgrade.authoring import render_validation, validate

    assignment = load_assignment(args.assignment)
    outcome = validate(assignment, isolation=args.isolation)
    print(render_validation(outcome))
    return ExitCode.OK if outcome.ok else ExitCode.POINTS_LOST


def cmd_gradescope_build(args: argparse.Namespace) -> int:
    from mpgrade.autograder import MIN_BUDGET_S, MIN_RUN_S
    from mpgrade.gsbuild import build_autograder
    from mpgrade.report.gradescope import GradescopeOptions

    if not Limits.valid(args.budget):
        raise UsageError(f"--budget must be a positive, finite number of seconds, got {args.budget:g}")
    if args.budget < MIN_BUDGET_S:
        raise UsageError(f"--budget {args.budget:g}: too small to grade a code question; give at "
                         f"least {MIN_BUDGET_S:g} s (none is started with less than {MIN_RUN_S:g} s left)")
    if args.source and not Path(args.source).exists():
        raise UsageError(f"--source {args.source}: no such file or folder")
    _writable(args.output, "autograder.zip")
    assignment = load_assignment(args.assignment)
    output = GradescopeOptions(args.visibility, args.stdout_visibility, args.prose)
    try:
        bundle = build_autograder(
            Path(args.output), assignment, Path(args.source) if args.source else None,
            args.budget, output, args.isolation,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {args.output}: {bundle.wheel}, exercise {assignment.id} "
          f"({', '.join(bundle.exercise_files)}), budget {args.budget:g} s")
    return ExitCode.OK


def cmd_override(args: argparse.Namespace) -> int:
    from mpgrade.review.session import ReviewSession

    if args.score.lower() == "accept":
        score = None
    else:
        try:
            score = float(args.score)
        except ValueError:
            raise UsageError(f"score must be a number or 'accept', got {args.score!r}") from None
    session = ReviewSession(Path(args.outdir))
    item, note = session.decide(args.student, _norm_qid(args.question), score, args.comment, args.by)
    assert item.review is not None
    line = (f"{item.question} of {item.student}: {item.score:g}/{item.max_score:g} "
            f"(automatic {item.auto_score:g}), reviewed by {item.review.by}")
    print(f"{line}; {note}" if note else f"{line}; outputs in {args.outdir} updated")
    return ExitCode.OK


def cmd_review(args: argparse.Namespace) -> int:
    from mpgrade.review.session import ReviewSession

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {args.port}")
    session = ReviewSession(Path(args.outdir))
    if args.question:
        session.question(_norm_qid(args.question))
    session.reviews.all()  # an unreadable reviews.sqlite stops here, not as an error on every page
    try:
        from mpgrade.review.app import serve
    except ImportError as exc:
        raise UsageError(f"the review page needs Flask ({exc.name} is missing): pip install flask") from None
    return serve(session, port=args.port, open_browser=not args.no_browser, by=args.by,
                 first=_norm_qid(args.question) if args.question else None)
