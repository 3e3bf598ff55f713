"""Orchestration: which answers run, in what order and concurrency, and how they score.

The grader is the only room that knows the whole pipeline; every step it calls is a
function of the previous step's dataclass. Code questions run concurrently (each in
its own sandboxed tree: a hung answer costs a second of deadlock detection and no
CPU); everything that parses or scores stays on the calling thread.
"""

from __future__ import annotations

import ast
import multiprocessing
import platform
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from mpgrade import __version__, locations, sandbox
from mpgrade.build import build_script
from mpgrade.checks import ProseGrade, grade_prose, redistributed, run_check, scored, settle
from mpgrade.diagnose import diagnose, race
from mpgrade.model import (
    Answer,
    Assignment,
    BuiltScript,
    CheckContext,
    CheckResult,
    Diagnosis,
    Environment,
    GradeOptions,
    Limits,
    Question,
    QuestionResult,
    Report,
    Rubric,
    RunRequest,
    RunResult,
    RunSummary,
    Segmentation,
    Submission,
    Trace,
)
from mpgrade.probe.trace import parse_trace
from mpgrade.resources import probe_dir
from mpgrade.segment import context_for, segment
from mpgrade.submission import load
from mpgrade.verdicts import KILLED, limit


def default_start_method() -> str:
    """The running Python's default, without fixing the grader's own context."""
    return multiprocessing.get_all_start_methods()[0]


def available_start_methods() -> tuple[str, ...]:
    return tuple(multiprocessing.get_all_start_methods())


def grade_file(path: str | Path, assignment: Assignment, options: GradeOptions) -> Report:
    """Read and grade one file; raises ``SubmissionError`` when it cannot be read."""
    return grade_submission(load(path), assignment, options)


def grade_submission(sub: Submission, assignment: Assignment, options: GradeOptions) -> Report:
    """Three phases: prepare every question (parsing, prose), run the code answers
    concurrently (threads only wait on sandboxed subprocesses), then score; an answer
    that lost points runs a second time so that a race is named, not graded by chance.

    Parsing stays on the calling thread: CPython 3.11's ``ast.parse`` is not safe to
    call from several threads at once (gh-106905).
    """
    started = time.monotonic()
    seg = segment(sub, assignment.questions)
    questions = [q for q in assignment.questions if not options.questions or q.id in options.questions]
    limits = options.limits or assignment.limits
    method = options.start_method or assignment.start_method or default_start_method()
    prepared = {q.id: _prepare(q, seg, options, limits, method) for q in questions}
    plans = [p for p in prepared.values() if isinstance(p, _Plan)]
    jobs = [(plan, m) for plan in plans for m in plan.methods(options.portability)]
    with ThreadPoolExecutor(max_workers=options.jobs or max(1, min(4, len(jobs)))) as pool:
        runs = list(pool.map(lambda job: _run(job[0], job[1], options), jobs))
        by_plan: dict[str, dict[str, RunResult]] = {}
        for (plan, m), run in zip(jobs, runs, strict=True):
            by_plan.setdefault(plan.question.id, {})[m] = run
        done = {
            q.id: _finish(p, by_plan[q.id]) if isinstance(p, _Plan) else p
            for q, p in ((q, prepared[q.id]) for q in questions)
        }
        # A failing answer runs once more: if the checks disagree, it is a race, not bad luck.
        again = [p for p in plans if _could_be_a_race(done[p.question.id])]
        for plan, run in zip(again, pool.map(lambda p: _run(p, p.method, options), again), strict=True):
            done[plan.question.id] = _settle(done[plan.question.id], _finish(plan, {plan.method: run}))
    results = tuple(_found(done[q.id], seg.answers.get(q.id), prepared[q.id]) for q in questions)
    summaries = [r.run for r in results if r.run is not None]
    env = Environment(
        python=f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        platform=f"{platform.system()} {platform.machine()}",
        start_method=method,
        isolation=_joined({r.backend for r in summaries}),
        observer=_joined({r.observer for r in summaries}),
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


def _found(result: QuestionResult, answer: Answer | None, prepared: QuestionResult | _Plan) -> QuestionResult:
    """The result with how its answer was found and what the build salvaged to run it."""
    salvaged = prepared.script.notes if isinstance(prepared, _Plan) else ()
    return replace(result, attribution=answer.attribution if answer else None, salvaged=salvaged)


# --------------------------------------------------------------------------- one question


@dataclass(frozen=True)
class _Plan:
    """A code answer ready to run: what the second phase needs and the third scores."""

    question: Question
    answer: Answer
    script: BuiltScript
    limits: Limits
    method: str
    rubric_check: CheckResult | None
    rubric_text: str

    def methods(self, portability: bool) -> list[str]:
        others = [m for m in available_start_methods() if m != self.method] if portability else []
        return [self.method, *others]


def _prepare(
    q: Question, seg: Segmentation, options: GradeOptions, limits: Limits, method: str
) -> QuestionResult | _Plan:
    """Everything that needs no run: missing answers, prose, syntax errors; else a plan."""
    answer = seg.answers.get(q.id)
    if answer is None:
        return _missing(q, "No answer was found for this question. Start it with a header such as "
                           f"'{q.id}.' or use the notebook made by `mpgrade template`.")
    if q.kind == "prose":
        return _grade_prose_question(q, answer)
    method = options.start_method or q.start_method or method
    rubric_check, rubric_text = _rubric_part(q, answer)
    if not answer.code.strip():
        if q.code_optional:
            ctx = CheckContext(q, answer, None, None, Trace())
            return _score(q, ctx, (), rubric_check, rubric_text, None)
        if q.prose_answer is not None:
            return _grade_prose_question(q, answer, q.prose_answer)
        # An answer is there, but nothing in it can run: an error, not a missing answer.
        return QuestionResult(
            q.id, q.title, q.kind, "error", 0.0, q.points,
            "This question asks for a program, but the answer found holds only prose. "
            "Put your program in a code cell.",
        )
    script = build_script(answer, context_for(seg, q.id), method)
    if script.syntax_error:
        ctx = CheckContext(q, answer, script, None, Trace())
        checks = _run_checks(q, ctx) + ((rubric_check,) if rubric_check else ())
        if rubric_check is not None and not any(c.outcome == "failed" for c in checks[:-1]):
            return _score(q, ctx, (), rubric_check, rubric_text, None)  # optional code: a note
        checks = redistributed(checks)
        return QuestionResult(
            q.id, q.title, q.kind, "error", scored(q.points, checks) if rubric_check else 0.0, q.points,
            f"{script.syntax_error}. Fix the syntax so the cell runs, then check again.",
            _once(checks),
            excerpt=script.excerpt,
        )
    wall = options.timeout_s or q.timeout_s or limits.wall_s
    return _Plan(q, answer, script, replace(limits, wall_s=wall), method, rubric_check, rubric_text)


def _finish(plan: _Plan, runs: dict[str, RunResult]) -> QuestionResult:
    """Score the run under the grading method; other methods only fill the portability matrix."""
    q = plan.question
    run = runs[plan.method]
    ctx = CheckContext(q, plan.answer, plan.script, run, parse_trace(run))
    result = _score(q, ctx, diagnose(ctx), plan.rubric_check, plan.rubric_text, plan.method)
    if len(runs) == 1:
        return result
    matrix: dict[str, tuple[str, str]] = {}
    warnings: list[Diagnosis] = []
    for method, other in runs.items():
        octx = ctx if other is run else CheckContext(q, plan.answer, plan.script, other, parse_trace(other))
        checks = _run_checks(q, octx)
        code_points = sum(s.points for s in q.checks)  # the written part does not depend on the method
        status = _status(scored(code_points, checks), code_points, other)
        if status == "passed":
            matrix[method] = (status, "")
            continue
        errors = [d for d in diagnose(octx) if d.severity == "error"]
        failed = [c.message for c in checks if c.outcome == "failed" and c.max_score > 0]
        stderr_tail = (other.stderr.strip().splitlines() or [""])[-1]
        reason = errors[0].title if errors else _headline(other.limit or (failed or [stderr_tail])[0])
        matrix[method] = (status, reason)
        if method != plan.method and result.status == "passed" and errors:
            d = errors[0]
            warnings.append(replace(d, title=f"Fails under {method}: {d.title}", severity="warning"))
    return replace(result, portability=matrix, diagnoses=result.diagnoses + tuple(warnings[:1]))


def _headline(text: str, width: int = 160) -> str:
    """The first clause of a message, for one cell of the portability matrix."""
    first = re.split(r"(?<=[a-z)]): |\. ", text, maxsplit=1)[0]
    return first if len(first) <= width else first[: width - 1] + "…"


def _could_be_a_race(result: QuestionResult) -> bool:
    """Lost points in a run that ended by itself: timing may have decided them."""
    return result.status in ("partial", "failed") and result.run is not None and result.run.reason is None


def _settle(first: QuestionResult, second: QuestionResult) -> QuestionResult:
    """Same checks, same verdict: keep the first. Otherwise the lower result, with the race named."""
    found = race(first.checks, second.checks)
    if found is None:
        return first
    worse = min((first, second), key=lambda r: r.score)
    return replace(worse, diagnoses=worse.diagnoses + (found,),
                   feedback=f"{worse.feedback} Note: {found.explanation} {found.fix}")


def _missing(q: Question, feedback: str) -> QuestionResult:
    return QuestionResult(q.id, q.title, q.kind, "missing", 0.0, q.points, feedback)


def _prose_text(answer: Answer) -> str:
    """Prose answers sometimes sit in code cells as comments or strings."""
    return answer.prose or answer.code


def _grade_prose_question(q: Question, answer: Answer, rubric: Rubric | None = None) -> QuestionResult:
    """A prose question, or a code question answered in words where its exercise allows it
    (``rubric`` is then the question's ``prose_answer``)."""
    rubric = rubric or q.rubric
    assert rubric is not None
    text = _prose_text(answer)
    if not text.strip():
        return _missing(q, "The answer to this question is empty.")
    grade = grade_prose(text, rubric)
    words = ("No program was found, so your written answer is graded instead. "
             if rubric is not q.rubric else "")
    feedback = f"{words}{grade.feedback} {grade.proposal_note}"
    return QuestionResult(
        q.id, q.title, q.kind, "needs_review", grade.score, q.points, feedback, (_rubric_check(grade),)
    )


def _rubric_check(grade: ProseGrade) -> CheckResult:
    """The rubric as one check; its message summarises, the question feedback explains."""
    total = len(grade.found) + len(grade.missing)
    parts = [f"Named {len(grade.found)} of {total} key ideas"]
    if grade.missing:
        parts.append("missing: " + "; ".join(desc for _, desc in grade.missing))
    if grade.misconceptions:
        parts.append(f"{len(grade.misconceptions)} misconception(s) to correct")
    return CheckResult(
        id="prose.rubric",
        passed=grade.score >= grade.max_score - 1e-9,
        score=grade.score,
        max_score=grade.max_score,
        message=", ".join(parts) + ".",
    )


def _run(plan: _Plan, method: str, options: GradeOptions) -> RunResult:
    return sandbox.run(
        RunRequest(
            files={locations.SCRIPT_NAME: plan.script.source},
            script=locations.SCRIPT_NAME,
            limits=plan.limits,
            env={"MPGRADE_START_METHOD": method},
            pythonpath=(str(probe_dir()),),
            stdin=plan.question.stdin,
            isolation=options.isolation,
        )
    )


def _rubric_part(q: Question, answer: Answer) -> tuple[CheckResult | None, str]:
    """The written part of a mixed question (Q4): its check and, when not full, its feedback."""
    if q.rubric is None:
        return None, ""
    text = answer.prose.strip() or _written_in_code(answer.code)
    if not text:
        message = "No written explanation was found; answer the 'what' and 'why' in words too."
        return CheckResult("prose.rubric", False, 0.0, q.rubric.points, message), message
    grade = grade_prose(text, q.rubric)
    check = _rubric_check(grade)
    return check, "" if check.passed else grade.feedback


def _written_in_code(code: str) -> str:
    """The explanation a student wrote inside a code cell, as comments or bare strings."""
    words = [line.strip().lstrip("#").strip() for line in code.splitlines() if line.strip().startswith("#")]
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        tree = None
    if tree is not None:
        words += [n.value.value for n in ast.walk(tree)
                  if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)]
    return "\n".join(w for w in words if w).strip()


def _run_checks(q: Question, ctx: CheckContext) -> tuple[CheckResult, ...]:
    """Every check of the question, gated by its ``requires``."""
    return settle(q.checks, tuple(run_check(spec, ctx) for spec in q.checks))


def _score(
    q: Question,
    ctx: CheckContext,
    diagnoses: tuple[Diagnosis, ...],
    rubric_check: CheckResult | None,
    rubric_text: str,
    method: str | None,
) -> QuestionResult:
    checks = _run_checks(q, ctx)
    if rubric_check:
        checks += (rubric_check,)
    checks = redistributed(checks)
    score = scored(q.points, checks)
    # When every code check is only a note (optional example code), the run decides nothing.
    run = ctx.run if any(c.applicable for c in checks if c.id != "prose.rubric") else None
    stopped = ""
    if run is not None and run.limit in KILLED:
        # A run the grader stopped keeps what its checks earned, never full marks.
        smallest = min((c.max_score for c in checks if c.max_score > 0), default=0.0)
        score = round(min(score, q.points - smallest), 4)
        stopped = (f"The grader stopped this run ({limit(run.limit).label}), "
                   f"so this question cannot get full marks.")
    status = _status(score, q.points, run)
    if rubric_check is not None and status in ("passed", "partial", "failed"):
        status = "needs_review"
    summary = _summary(ctx, method) if ctx.run is not None and ctx.script is not None else None
    checks = _once(checks, diagnoses)
    return QuestionResult(
        id=q.id,
        title=q.title,
        kind=q.kind,
        status=status,
        score=score,
        max_score=q.points,
        feedback=_feedback(checks, diagnoses, ctx, status, rubric_text, stopped),
        checks=checks,
        diagnoses=diagnoses,
        run=summary,
    )


def _status(score: float, points: float, run: RunResult | None) -> str:
    if run is not None and run.exit_code is None and run.limit in KILLED:
        return "timeout"
    if run is not None and run.exit_code not in (0, None):
        return "error" if score < points else "passed"
    if score >= points - 1e-9:
        return "passed"
    return "partial" if score > 0 else "failed"


def _sentences(text: str) -> list[str]:
    """A message cut into sentences, for saying each cause only once."""
    return [p.strip() for p in re.split(r"(?<=[.!?])\s+(?=[A-Z`(\"'])", text) if p.strip()]


def _once(checks: tuple[CheckResult, ...], diagnoses: tuple[Diagnosis, ...] = ()) -> tuple[CheckResult, ...]:
    """Each cause stated once: a check whose sentences a diagnosis or an earlier check already
    said points there instead of repeating them."""
    said: dict[str, str] = {}
    for d in diagnoses:
        for sentence in _sentences(f"{d.explanation} {d.fix}"):
            said.setdefault(sentence, f"the diagnosis '{d.title}'")
    kept = []
    for c in checks:
        parts = _sentences(c.message)
        repeated = [p for p in parts if p in said]
        if repeated:
            fresh = [p for p in parts if p not in said]
            pointer = f"`{c.id}`: see {said[repeated[0]]}."
            c = replace(c, message=" ".join([*fresh, pointer]) if fresh else pointer)
        for p in parts:
            said.setdefault(p, f"`{c.id}`")
        kept.append(c)
    return tuple(kept)


def _feedback(
    checks: tuple[CheckResult, ...],
    diagnoses: tuple[Diagnosis, ...],
    ctx: CheckContext,
    status: str,
    rubric_text: str,
    stopped: str = "",
) -> str:
    """One paragraph, most important first: the named failure and its fix, then the first
    failed checks it does not already cover, the written part, notes, build notes. Each
    sentence appears once."""
    parts: list[str] = []
    for d in [d for d in diagnoses if d.severity == "error"][:2]:
        where = f" ({d.location})" if d.location and d.location not in d.explanation else ""
        parts.append(f"{d.explanation}{where} Fix: {d.fix}")
    failed = [c for c in checks if c.outcome == "failed" and c.max_score > 0 and c.id != "prose.rubric"
              and not c.message.startswith(f"`{c.id}`")]
    for c in failed[: 1 if parts else 2]:
        parts.append(c.message)
    if stopped:
        parts.append(stopped)
    if rubric_text:
        parts.append(rubric_text)
    for c in checks:
        if c.note:
            parts.append(f"Note: {c.note}")
    for d in [d for d in diagnoses if d.severity == "warning"][:2]:
        parts.append(f"Note: {d.explanation} {d.fix}")
    if ctx.script is not None:
        parts.extend(ctx.script.notes[:2])
    seen: set[str] = set()
    sentences = []
    for part in parts:
        for sentence in _sentences(part.strip()):
            if sentence not in seen:
                seen.add(sentence)
                sentences.append(sentence)
    if not sentences:
        return "Everything checked out: well done." if status == "passed" else "See the checks below."
    return " ".join(sentences)


def _summary(ctx: CheckContext, method: str | None) -> RunSummary:
    run, script = ctx.run, ctx.script
    assert run is not None and script is not None
    stacks = tuple(locations.student_stack(s, ctx.answer, script) for s in run.stacks)
    listing = locations.listing(ctx.answer, script)
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
        stacks=stacks,
        script="\n".join(text for _, text in listing),
        line_numbers=tuple(number for number, _ in listing),
        blocking_line=locations.blocking_line(stacks),
        backend=run.backend,
        observer=run.observer,
        error_line=locations.error_line(run.stderr, ctx.answer, script),
        exception=raised.text if (raised := locations.last_exception(run.stderr)) else "",
    )


def _joined(values: set[str]) -> str:
    """What the runs used; "none" when no code ran at all."""
    return ", ".join(sorted(v for v in values if v)) or "none (no code ran)"
