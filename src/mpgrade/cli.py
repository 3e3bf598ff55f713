"""Command line: arguments in, exit code out; no grading logic of its own.

Exit codes are `mpgrade.errors.ExitCode`; an error the user can act on carries its own.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from mpgrade import __version__
from mpgrade.errors import ExitCode, MpgradeError, UsageError
from mpgrade.formats import NAMES, REPORT_NAMES
from mpgrade.model import START_METHODS
from mpgrade.sandbox.backends import CHOICES as ISOLATIONS

# Gradescope's visibility values (kept here so that `--help` imports nothing else).
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
PROSE_MODES = ("count", "hold")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage problem in one line instead of a usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _limits_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--assignment", "-a", help="exercise id or path (default: from the notebook, "
                                              "else the best match among known exercises)")
    p.add_argument("--timeout", type=float, help="wall-clock limit per question, seconds")
    p.add_argument("--start-method", choices=START_METHODS,
                   help="multiprocessing start method for the answers")
    p.add_argument("--isolation", choices=ISOLATIONS, default="auto",
                   help="sandbox backend (default: the strongest available)")
    p.add_argument("--memory-mb", type=int, help="memory limit per process")
    p.add_argument("--max-processes", type=int, help="process-count limit per question")
    p.add_argument("--cpu", type=float, help="CPU-time limit per question, seconds")
    p.add_argument("--max-output", type=int, help="output limit per question, bytes")
    p.add_argument("--file-size-mb", type=int, help="largest file an answer may write")
    p.add_argument("--open-files", type=int, help="open-file limit per process")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mpgrade", description="Grade Python multiprocessing exercises.")
    parser.add_argument("--version", action="version", version=f"mpgrade {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = sub.add_parser("check", help="grade one submission (a notebook, or a Python script or text file)")
    check.add_argument("file")
    _limits_args(check)
    check.add_argument("--question", "-q", action="append", default=[],
                       help="grade only this question (repeatable)")
    check.add_argument("--format", "-f", choices=NAMES, default="text",
                       help="report format; json, gradescope and lti also report a file that "
                            "cannot be graded, on stdout")
    check.add_argument("--output", "-o", help="write the report to this file")
    check.add_argument("--templates", help="folder of templates overriding the bundled ones")
    check.add_argument("--portability", action="store_true",
                       help="also run each code question under every start method")
    check.add_argument("--no-color", action="store_true", help="plain text output")
    check.add_argument("--verbose", "-v", action="store_true",
                       help="text report: every question's run in full, passing ones too")

    grade = sub.add_parser("grade", help="grade a whole class (folders, files, LMS zips)")
    grade.add_argument("paths", nargs="+")
    grade.add_argument("--output", "-o", required=True, help="output folder")
    _limits_args(grade)
    grade.add_argument("--workers", "-j", type=int, default=None,
                       help="parallel submissions (default: one per core)")
    grade.add_argument("--force", action="store_true", help="regrade unchanged submissions")
    grade.add_argument("--roster", help="CSV of students (id, name, email)")
    grade.add_argument("--dask", metavar="ADDRESS", help="Dask scheduler to distribute the work")
    grade.add_argument("--question", "-q", action="append", default=[])
    grade.add_argument("--report-format", choices=REPORT_NAMES,
                       default="html", help="format of each student's report")
    grade.add_argument("--canvas-assignment-id", metavar="ID",
                       help="Canvas' number of the assignment, so canvas.csv updates it")
    grade.add_argument("--csv-encoding", default="utf-8-sig",
                       help="encoding of the gradebook CSVs (default utf-8-sig: UTF-8 with a BOM)")

    sub.add_parser("list", help="list the exercise sets mpgrade knows")
    checks = sub.add_parser("checks", help="list the built-in checks and their parameters")
    checks.add_argument("--format", choices=("text", "markdown"), default="text",
                        help="markdown: the table of docs/writing-exercises.md")
    sub.add_parser("doctor", help="what this machine supports (isolation, limits)")
    sub.add_parser("schema", help="print the JSON Schema of the result")

    tmpl = sub.add_parser("template", help="write the blank student notebook of an exercise")
    tmpl.add_argument("assignment")
    tmpl.add_argument("--output", "-o", help="where to write it (default: ID.ipynb here, never over a file)")
    tmpl.add_argument("--format", choices=("ipynb", "py"), default=None)

    val = sub.add_parser("validate", help="grade an exercise's reference solution and wrong variants")
    val.add_argument("assignment")
    val.add_argument("--isolation", choices=ISOLATIONS, default="auto")

    review = sub.add_parser("review", help="review and override scores of a graded class in the browser")
    review.add_argument("outdir", help="output folder of `mpgrade grade`")
    review.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    review.add_argument("--no-browser", action="store_true", help="only print the address")
    review.add_argument("--question", "-q", help="question to open first (default: the first prose one)")
    review.add_argument("--by", help="reviewer name recorded with each decision "
                                     "(default: $MPGRADE_REVIEWER, else the login name)")

    over = sub.add_parser("override", help="set one student's score for one question (a review, for scripts)")
    over.add_argument("outdir", help="output folder of `mpgrade grade`")
    over.add_argument("student")
    over.add_argument("question")
    over.add_argument("score", help="points, or 'accept' to confirm the automatic score")
    over.add_argument("--comment", default="", help="said to the student under the feedback")
    over.add_argument("--by", help="reviewer name (default: $MPGRADE_REVIEWER, else the login name)")

    gs = sub.add_parser("gradescope-build", help="write a Gradescope autograder zip")
    gs.add_argument("--assignment", "-a", required=True, help="exercise id or path")
    gs.add_argument("--output", "-o", default="autograder.zip")
    gs.add_argument("--source", metavar="PATH",
                    help="mpgrade wheel or checkout to bundle (default: the running mpgrade)")
    gs.add_argument("--budget", type=float, default=540.0, metavar="S",
                    help="seconds one submission may take (keep under Gradescope's timeout)")
    gs.add_argument("--visibility", choices=VISIBILITIES, default="visible",
                    help="who sees the tests and the score")
    gs.add_argument("--stdout-visibility", choices=VISIBILITIES, default="hidden",
                    help="who sees the autograder's log (staff always do)")
    gs.add_argument("--prose", choices=PROSE_MODES, default="count",
                    help="unreviewed prose proposals count (default, marked as proposals) "
                         "or score 0 until reviewed")
    gs.add_argument("--isolation", choices=ISOLATIONS, default="auto")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        from mpgrade import commands  # deferred: `--help` stays fast

        return commands.dispatch(args)
    except MpgradeError as exc:
        _say(f"mpgrade: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("mpgrade: interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # the reader is gone (`| head`): stopped early, nothing to say
        return ExitCode.INTERRUPTED
    except Exception as exc:
        if os.environ.get("MPGRADE_DEBUG"):
            raise
        _say(f"mpgrade: internal error: {type(exc).__name__}: {exc} (MPGRADE_DEBUG=1 shows details)")
        return ExitCode.INTERNAL


def run() -> NoReturn:
    """The console entry: ``main``, then exit without tearing the interpreter down.

    Once the output is flushed nothing is left to do, and freeing every module and object
    of the grader costs more than some questions take to run. Only here, never in
    ``main``, which tests and embedding callers use in-process.
    """
    code = main()
    from mpgrade import regexes  # already imported by any command that matched text

    regexes.save()  # os._exit runs no exit handlers
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the reader is gone, nothing to say
            pass
    os._exit(int(code))


def _say(line: str) -> None:
    """One line on stderr; a file name from a submission cannot act on the terminal."""
    from mpgrade.safe_text import plain

    print(plain(line.replace("\n", " ")), file=sys.stderr)
