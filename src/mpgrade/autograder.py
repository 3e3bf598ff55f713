"""What runs inside Gradescope's container for each submission: ``python -m mpgrade.autograder``.

``run_autograder`` (written by ``gsbuild``) execs straight into this module, so no shell
script is left running that a student's code could rewrite. It picks the submitted file
that matches the assignment, grades it one question at a time within the time budget,
and rewrites ``results/results.json`` after every question: a results file on disk is
valid at every moment, questions not reached yet say "not graded", and a budget or a
kill from outside never turns finished questions into a zero. Its stdout is the
instructor log (Gradescope shows it to staff only, unless told otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mpgrade import __version__
from mpgrade.model import Assignment, GradeOptions, Question, Submission, Ungradable, value_class
from mpgrade.report.gradescope import (
    GradescopeOptions,
    not_graded_tests,
    question_tests,
    render_gradescope_error,
    results,
    summary_table,
)
from mpgrade.submission import SUFFIXES, SubmissionError
from mpgrade.wording import plural

CONFIG_NAME = "mpgrade-autograder.json"
MIN_RUN_S = 3.0  # a code question is not started with less budget left than this
# The least budget gradescope-build accepts: MIN_RUN_S left for a code question after what
# comes before it (the config, choosing the file, prose questions: ~0.3 s measured).
MIN_BUDGET_S = MIN_RUN_S + 1.0
HARD_STOP_GRACE_S = 30.0  # past the budget, the process leaves whatever it is doing
MAX_CANDIDATES = 20  # files looked at; a submission of thousands of files costs no more

NOT_GRADED = ("Not graded: the autograder's time budget ran out before this question was "
              "graded. This is not your score: resubmit, or ask your instructor.")


@value_class
class Config:
    """What ``gradescope-build`` fixed for this assignment (``mpgrade-autograder.json``)."""

    exercise: Path
    budget_s: float
    output: GradescopeOptions
    isolation: str = "auto"

    @classmethod
    def read(cls, path: Path) -> Config:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            exercise=(path.parent / data["exercise"]).resolve(),
            budget_s=float(data["budget_s"]),
            output=GradescopeOptions(
                visibility=data.get("visibility", "visible"),
                stdout_visibility=data.get("stdout_visibility", "hidden"),
                prose=data.get("prose", "count"),
            ),
            isolation=data.get("isolation", "auto"),
        )


class Log:
    """The instructor log: one line per fact, timed from the start, flushed at once."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, line: str) -> None:
        print(f"[{time.monotonic() - self.started:6.2f}s] {line}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mpgrade.autograder")
    parser.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    parser.add_argument("--config", help=f"default: ROOT/source/{CONFIG_NAME}")
    args = parser.parse_args(argv)
    root = Path(args.root)
    config_path = Path(args.config) if args.config else root / "source" / CONFIG_NAME
    out = root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    log = Log()
    log(f"mpgrade {__version__}, Python {platform.python_version()} ({sys.executable}), "
        f"{platform.system()} {platform.machine()}, uid {os.getuid()}")
    try:
        config = Config.read(config_path)
    except (OSError, ValueError, KeyError) as exc:
        log(f"cannot read {config_path}: {exc}")
        _write(out, _failure(GradescopeOptions(), f"The autograder is misconfigured ({exc}). "
                             "This is not your score: tell your instructor."))
        return 0
    _hard_stop_after(config.budget_s + HARD_STOP_GRACE_S, log)
    try:
        grade(root, config, out, log)
    except Exception as exc:  # whatever fails, the student gets a results file that says so
        log(f"internal error: {type(exc).__name__}: {exc}")
        if not out.is_file():
            _write(out, _failure(config.output, f"The autograder failed ({type(exc).__name__}). "
                                 "This is not your score: tell your instructor."))
    log(f"done in {time.monotonic() - log.started:.2f} s")
    return 0


def grade(root: Path, config: Config, out: Path, log: Log) -> None:
    from mpgrade.assignment import load_assignment
    from mpgrade.grader import grade_submission
    from mpgrade.submission import load

    deadline = log.started + config.budget_s
    assignment = load_assignment(config.exercise)
    log(f"assignment {assignment.id} ({plural(len(assignment.questions), 'question')}), "
        f"budget {config.budget_s:g} s, visibility {config.output.visibility}, "
        f"prose proposals {config.output.prose}")
    candidates = find_candidates(root / "submission")
    if not candidates:
        looked_for = ", ".join(SUFFIXES[:-1]) + f" or {SUFFIXES[-1]}"
        log(f"no {looked_for} file in the submission")
        _write(out, _failure(config.output, f"No notebook or script ({looked_for} file) was found in "
                             "your submission. Upload your notebook (.ipynb) or script (.py) and resubmit."))
        return
    loaded: list[tuple[Path, Submission | SubmissionError]] = []
    for path in candidates:
        try:
            loaded.append((path, load(path)))
        except SubmissionError as exc:
            loaded.append((path, exc))
    path, sub = pick(loaded, assignment)
    shown = path.relative_to(root / "submission")
    for other, what in loaded:
        verdict = "graded" if other == path else (str(what) if isinstance(what, SubmissionError) else "not chosen")
        log(f"candidate {other.relative_to(root / 'submission')}: {verdict}")
    if isinstance(sub, SubmissionError):
        log(f"unreadable: {sub}")
        u = Ungradable(assignment.id, assignment.title, _points(assignment.questions), sub.for_student(),
                       str(shown))
        _write(out, render_gradescope_error(u, config.output))
        return

    from mpgrade.report.templated import md_code

    header = (f"Graded file: {md_code(shown.as_posix())}, by mpgrade {__version__} "  # the name is the student's text
              f"(Python {platform.python_version()})")
    done: list[dict[str, Any]] = []
    rows: list[tuple[str, str, str, float, float]] = []
    _write(out, _partial(done, assignment.questions, header, rows, config, log))
    for index, question in enumerate(assignment.questions, start=1):
        remaining = deadline - time.monotonic()
        if question.kind == "code" and remaining < MIN_RUN_S:
            log(f"{question.id}: not started, {remaining:.1f} s of budget left")
            break
        wall = question.timeout_s or assignment.limits.wall_s
        capped = question.kind == "code" and remaining - 1.0 < wall
        options = GradeOptions(
            questions=(question.id,),
            isolation=config.isolation,
            timeout_s=max(1.0, remaining - 1.0) if capped else None,
        )
        began = time.monotonic()
        report = grade_submission(sub, assignment, options)
        [result] = report.questions
        took = time.monotonic() - began
        if capped and result.run is not None and result.run.reason == "time_limit":
            log(f"{question.id}: cut by the budget after {took:.2f} s")
            break
        log(f"{question.id}: {result.status} {result.score:g}/{result.max_score:g} in {took:.2f} s "
            f"(isolation {report.environment.isolation}, start method {report.environment.start_method})")
        done.extend(question_tests(result, index, config.output))
        rows.append((result.id, result.title, result.status, result.score, result.max_score))
        _write(out, _partial(done, assignment.questions[index:], header, rows, config, log))
    else:
        return
    graded = {r[0] for r in rows}
    rest = [q for q in assignment.questions if q.id not in graded]
    _write(out, _partial(done, rest, header, rows, config, log, final=True))


def find_candidates(folder: Path) -> list[Path]:
    """The files of the upload named like a submission (``SUFFIXES``, the names ``check``
    reads), without checkpoints or hidden files."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
        for name in sorted(filenames):
            if name.lower().endswith(SUFFIXES) and not name.startswith("."):
                found.append(Path(dirpath) / name)
        if len(found) >= MAX_CANDIDATES:
            break
    return found[:MAX_CANDIDATES]


def pick(
    loaded: list[tuple[Path, Submission | SubmissionError]], assignment: Assignment
) -> tuple[Path, Submission | SubmissionError]:
    """The file that answers the assignment best: one with any answer, then its own stamp,
    then the answers found by metadata or header, then the amount of answer text; a
    notebook over a script on ties. What a file says of itself (the stamp of the blank
    ``mpgrade template`` notebook) never lifts a file with no answer over one with answers.
    An unreadable file is chosen only when no file is readable."""
    from mpgrade.segment import segment

    def rank(item: tuple[Path, Submission | SubmissionError]) -> tuple[int, int, int, int, int, int]:
        path, sub = item
        if isinstance(sub, SubmissionError):
            return (0, 0, 0, 0, 0, 0)
        seg = segment(sub, assignment.questions)
        text = sum(len(a.code) + len(a.prose) for a in seg.answers.values())
        return (1, int(bool(seg.answers)), int(sub.assignment_id == assignment.id), seg.named,
                min(text, 10**6), int(sub.format == "ipynb"))

    return max(loaded, key=rank)


def _partial(
    done: list[dict[str, Any]],
    rest: Sequence[Question],
    header: str,
    rows: list[tuple[str, str, str, float, float]],
    config: Config,
    log: Log,
    final: bool = False,
) -> dict[str, Any]:
    """results.json with the questions graded so far and the ``rest`` as not graded."""
    tests = done + not_graded_tests(rest, NOT_GRADED, config.output)
    note = "" if final or not rest else "*Grading in progress: questions not reached yet say so.*"
    table = summary_table(rows, [(q.id, q.title, q.points) for q in rest])
    output = "\n\n".join(p for p in (header, table, note) if p)
    return results(tests, time.monotonic() - log.started, output, config.output)


def _failure(options: GradescopeOptions, message: str) -> dict[str, Any]:
    return {**results([], 0.0, message, options), "output_format": "text"}


def _points(questions: Sequence[Question]) -> float:
    return round(sum(q.points for q in questions), 4)


def _write(path: Path, data: dict[str, Any]) -> None:
    """Atomically: Gradescope (or a kill) may read the file at any moment."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _hard_stop_after(seconds: float, log: Log) -> None:
    """A last resort past the budget: the results on disk already say what was graded."""

    def stop() -> None:
        log(f"hard stop after {seconds:g} s")
        os._exit(0)

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()


if __name__ == "__main__":
    sys.exit(main())
