"""Orchestration: which answers run, in what order and concurrency, and how they score.

The grader is the only room that knows the whole pipeline; every step it calls is a
function of the previous step's dataclass. Code questions run concurrently (each in
its own sandboxed tree: a hung answer costs a second of deadlock detection and no
CPU), prose is scored while they run.
"""

from __future__ import annotations

import multiprocessing
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from mpgrade import __version__, sandbox
from mpgrade.build import build_script
from mpgrade.checks import grade_prose, run_check
from mpgrade.diagnose import diagnose
from mpgrade.model import (
    Answer,
    Assignment,
    BuiltScript,
    Cell,
    CheckContext,
    CheckResult,
    Diagnosis,
    Environment,
    GradeOptions,
    Limits,
    Question,
    QuestionResult,
    Report,
    RunRequest,
    RunResult,
    RunSummary,
    Segmentation,
    Submission,
    Trace,
)
from mpgrade.probe.trace import parse_trace
from mpgrade.resources import probe_dir
from mpgrade.segment import segment
from mpgrade.submission import load

SCRIPT_NAME = "answer.py"
# Reasons for which the supervisor stopped the run: the question "timed out".
_KILLED = {"time_limit", "deadlock", "cpu_limit", "memory", "process_limit", "output_limit", "file_size"}


def default_start_method() -> str:
    """The running Python's default, without fixing the grader's own context."""
    return multiprocessing.get_all_start_methods()[0]


def available_start_methods() -> tuple[str, ...]:
    return tuple(multiprocessing.get_all_start_methods())


def grade_file(path: str | Path, assignment: Assignment, options: GradeOptions) -> Report:
    """Read and grade one file; raises ``SubmissionError`` when it cannot be read."""
    return grade_submission(load(path), assignment, options)


def grade_submission(sub: Submission, assignment: Assignment, options: GradeOptions) -> Report:
    started = time.monotonic()
    seg = segment(sub, assignment.questions)
    questions = [q for q in assignment.questions if not options.questions or q.id in options.questions]
    limits = options.limits or assignment.limits
    method = options.start_method or assignment.start_method or default_start_method()
    code = [q for q in questions if q.kind == "code" and q.id in seg.answers]
    jobs = options.jobs or max(1, min(4, len(code)))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            q.id: pool.submit(_grade_question, q, seg, assignment, options, limits, method)
            for q in questions
        }
        results = tuple(futures[q.id].result() for q in questions)
    runs = [r.run for r in results if r.run is not None]
    env = Environment(
        python=f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        platform=f"{platform.system()} {platform.machine()}",
        start_method=method,
        isolation=_joined({r.backend for r in runs}),
        observer=_joined({r.observer for r in runs}),
        limits=replace(limits, wall_s=options.timeout_s) if options.timeout_s else limits,
    )
    return Report(
        tool_version=__version__,
        assignment_id=assignment.id,
        assignment_title=assignment.title,
        submission_path=sub.path,
        submission_sha256=sub.sha256,
        submission_format=sub.format,
        score=round(sum(r.score for r in results), 4),
        max_score=round(sum(r.max_score for r in results), 4),
        duration_s=round(time.monotonic() - started, 3),
        questions=results,
        environment=env,
    )


# --------------------------------------------------------------------------- one question


def _grade_question(
    q: Question,
    seg: Segmentation,
    assignment: Assignment,
    options: GradeOptions,
    limits: Limits,
    method: str,
) -> QuestionResult:
    answer = seg.answers.get(q.id)
    if answer is None:
        return _missing(q, "No answer was found for this question. Start it with a header such as "
                           f"'{q.id}.' or use the notebook made by `mpgrade template`.")
    if q.kind == "prose":
        return _grade_prose_question(q, answer)
    return _grade_code_question(q, answer, seg, assignment, options, limits, method)


def _missing(q: Question, feedback: str) -> QuestionResult:
    return QuestionResult(q.id, q.title, q.kind, "missing", 0.0, q.points, feedback)


def _prose_text(answer: Answer) -> str:
    """Prose answers sometimes sit in code cells as comments or strings."""
    return answer.prose or answer.code


def _grade_prose_question(q: Question, answer: Answer) -> QuestionResult:
    assert q.rubric is not None
    text = _prose_text(answer)
    if not text.strip():
        return _missing(q, "The answer to this question is empty.")
    grade = grade_prose(text, q.rubric)
    check = CheckResult(
        id="prose.rubric",
        passed=grade.score >= grade.max_score,
        score=grade.score,
        max_score=grade.max_score,
        message=grade.feedback,
    )
    feedback = (
        f"{grade.feedback} (Automatic proposal: {grade.score:g}/{grade.max_score:g}; "
        "a member of staff confirms prose grades.)"
    )
    return QuestionResult(q.id, q.title, q.kind, "needs_review", grade.score, q.points, feedback, (check,))


def _context_cells(seg: Segmentation, answer: Answer) -> list[Cell]:
    """Code cells that come before this answer: what a top-to-bottom run would have defined."""
    cells = [c for c in seg.preamble if c.kind == "code"]
    for other in seg.answers.values():
        cells.extend(c for c in other.cells if c.kind == "code" and c.index < answer.first_line)
    return sorted(cells, key=lambda c: c.index)


def _limits_for(q: Question, limits: Limits, options: GradeOptions) -> Limits:
    wall = options.timeout_s or q.timeout_s or limits.wall_s
    return replace(limits, wall_s=wall)


def _run(script: BuiltScript, q: Question, limits: Limits, options: GradeOptions, method: str) -> RunResult:
    return sandbox.run(
        RunRequest(
            files={SCRIPT_NAME: script.source},
            script=SCRIPT_NAME,
            limits=limits,
            env={"MPGRADE_START_METHOD": method},
            pythonpath=(str(probe_dir()),),
            stdin=q.stdin,
            isolation=options.isolation,
        )
    )


def _grade_code_question(
    q: Question,
    answer: Answer,
    seg: Segmentation,
    assignment: Assignment,
    options: GradeOptions,
    limits: Limits,
    method: str,
) -> QuestionResult:
    method = options.start_method or q.start_method or method
    rubric_check, rubric_text = _rubric_part(q, answer)
    if not answer.code.strip():
        if q.code_optional:
            ctx = CheckContext(q, answer, None, None, Trace())
            return _score(q, ctx, (), rubric_check, rubric_text, None)
        return _missing(q, "This question asks for code, but only prose was found in the answer. "
                           "Put your program in a code cell.")
    script = build_script(answer, _context_cells(seg, answer), method)
    if script.syntax_error:
        checks = tuple(
            CheckResult(s.id, False, 0.0, s.points, script.syntax_error) for s in q.checks
        )
        return QuestionResult(
            q.id, q.title, q.kind, "error", rubric_check.score if rubric_check else 0.0, q.points,
            f"{script.syntax_error}. Fix the syntax so the cell runs, then check again.",
            checks + ((rubric_check,) if rubric_check else ()),
        )
    qlimits = _limits_for(q, limits, options)
    run = _run(script, q, qlimits, options, method)
    trace = parse_trace(run)
    ctx = CheckContext(q, answer, script, run, trace)
    result = _score(q, ctx, diagnose(ctx), rubric_check, rubric_text, method)
    if options.portability:
        result = _with_portability(result, q, answer, script, qlimits, options)
    return result


def _rubric_part(q: Question, answer: Answer) -> tuple[CheckResult | None, str]:
    if q.rubric is None:
        return None, ""
    text = answer.prose
    if not text.strip():
        return CheckResult("prose.rubric", False, 0.0, q.rubric.points,
                           "No written explanation was found; answer the 'what' and 'why' in words too."), ""
    grade = grade_prose(text, q.rubric)
    check = CheckResult("prose.rubric", grade.score >= grade.max_score, grade.score, grade.max_score,
                        grade.feedback)
    return check, grade.feedback


def _score(
    q: Question,
    ctx: CheckContext,
    diagnoses: tuple[Diagnosis, ...],
    rubric_check: CheckResult | None,
    rubric_text: str,
    method: str | None,
) -> QuestionResult:
    checks = tuple(run_check(spec, ctx) for spec in q.checks)
    if rubric_check:
        checks += (rubric_check,)
    score = round(sum(c.score for c in checks), 4)
    run = ctx.run
    status = _status(score, q.points, run)
    summary = _summary(ctx, method) if run is not None and ctx.script is not None else None
    return QuestionResult(
        id=q.id,
        title=q.title,
        kind=q.kind,
        status=status,
        score=score,
        max_score=q.points,
        feedback=_feedback(checks, diagnoses, ctx, status),
        checks=checks,
        diagnoses=diagnoses,
        run=summary,
    )


def _status(score: float, points: float, run: RunResult | None) -> str:
    if run is not None and run.exit_code is None and run.limit in _KILLED:
        return "timeout"
    if run is not None and run.exit_code not in (0, None):
        return "error" if score < points else "passed"
    if score >= points - 1e-9:
        return "passed"
    return "partial" if score > 0 else "failed"


def _feedback(
    checks: tuple[CheckResult, ...], diagnoses: tuple[Diagnosis, ...], ctx: CheckContext, status: str
) -> str:
    """One paragraph: the most important problem first, then what else to fix."""
    parts: list[str] = []
    errors = [d for d in diagnoses if d.severity == "error"]
    warnings = [d for d in diagnoses if d.severity == "warning"]
    for d in errors[:2]:
        where = f" ({d.location})" if d.location else ""
        parts.append(f"{d.explanation}{where} Fix: {d.fix}")
    failed = [c for c in checks if not c.passed and c.max_score > 0]
    for c in failed[: 3 if not errors else 2]:
        if c.message not in " ".join(parts):
            parts.append(c.message)
    for d in warnings[:2]:
        parts.append(f"Note: {d.explanation} {d.fix}")
    if ctx.script is not None:
        parts.extend(ctx.script.notes[:2])
    if not parts:
        return "Everything checked out: well done." if status == "passed" else "See the checks below."
    return " ".join(p.strip() for p in parts)


def _summary(ctx: CheckContext, method: str | None) -> RunSummary:
    run, script = ctx.run, ctx.script
    assert run is not None and script is not None
    return RunSummary(
        exit_code=run.exit_code,
        duration_s=round(run.duration_s, 3),
        start_method=ctx.trace.start_method or method or "",
        reason=run.limit,
        reason_detail=run.limit_detail,
        stdout=run.stdout,
        stderr=run.stderr,
        truncated=run.stdout_truncated or run.stderr_truncated,
        trace=ctx.trace,
        stacks=run.stacks,
        script=script.source,
        blocking_line=_blocking_line(run),
        backend=run.backend,
        observer=run.observer,
    )


def _blocking_line(run: RunResult) -> int | None:
    """The student's line where a hung child (or else the main process) was waiting."""
    best: int | None = None
    for stack in run.stacks:
        for frame in reversed(stack.frames):
            if Path(frame.file).name == SCRIPT_NAME:
                if best is None or stack.name != "main":
                    best = frame.line
                break
    return best


def _with_portability(
    result: QuestionResult,
    q: Question,
    answer: Answer,
    script: BuiltScript,
    limits: Limits,
    options: GradeOptions,
) -> QuestionResult:
    """Run the same answer under every start method this platform has."""
    matrix: dict[str, tuple[str, str]] = {}
    for method in available_start_methods():
        run = _run(script, q, limits, options, method)
        trace = parse_trace(run)
        ctx = CheckContext(q, answer, script, run, trace)
        checks = tuple(run_check(spec, ctx) for spec in q.checks)
        score = sum(c.score for c in checks)
        status = _status(score, sum(s.points for s in q.checks), run)
        reason = run.limit or (run.stderr.strip().splitlines() or [""])[-1][:160]
        matrix[method] = (status, reason if status != "passed" else "")
    return replace(result, portability=matrix)


def _joined(values: set[str]) -> str:
    """What the runs used; "none" when no code ran at all."""
    return ", ".join(sorted(v for v in values if v)) or "none (no code ran)"
