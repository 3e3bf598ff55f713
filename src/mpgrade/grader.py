"""Grading one submission, as its steps:

1. prepare: every question on the calling thread. Missing answers, prose, code that
   cannot run are decided here; a code answer is built into its script.
2. plan: the sandboxed runs, each a ``PlannedRun`` (question, start method, purpose):
   the grading run, and with ``--portability`` one under every other start method.
3. run: one runner makes the planned runs concurrently (each in its own sandboxed tree:
   a hung answer costs a second of deadlock detection and no CPU).
4. passes (``PASSES``): score the grading run; settle races (an answer that lost points
   runs once more, planned as a race run); the portability matrix; the feedback; how
   each answer was found.

Parsing (``ast``, the trace) stays on the calling thread: CPython 3.11's ``ast.parse``
is not safe to call from several threads at once (gh-106905); threads only wait on
sandboxed subprocesses.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from mpgrade import __version__, locations, sandbox, scoring
from mpgrade.build import build_script
from mpgrade.checks import redistributed, scored
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
    RunRequest,
    RunResult,
    Segmentation,
    Submission,
    Trace,
    value_class,
)
from mpgrade.probe.trace import parse_trace
from mpgrade.resources import probe_dir
from mpgrade.segment import context_for, segment
from mpgrade.submission import load

Purpose = Literal["grade", "portability", "race"]


def default_start_method() -> str:
    """The running Python's default, without fixing the grader's own context."""
    return sandbox.start_methods()[0]


def available_start_methods() -> tuple[str, ...]:
    return sandbox.start_methods()


def grade_file(path: str | Path, assignment: Assignment, options: GradeOptions) -> Report:
    """Read and grade one file; raises ``SubmissionError`` when it cannot be read."""
    return grade_submission(load(path), assignment, options)


def grade_submission(sub: Submission, assignment: Assignment, options: GradeOptions,
                     segmentation: Segmentation | None = None) -> Report:
    """Prepare, plan, run, then the passes (see the module notes). ``segmentation``: ``sub``
    already segmented against ``assignment`` (by choosing it), else segmented here."""
    started = time.monotonic()
    seg = segmentation or segment(sub, assignment.questions)
    questions = [q for q in assignment.questions if not options.questions or q.id in options.questions]
    limits = options.limits or assignment.limits
    method = options.start_method or assignment.start_method or default_start_method()
    graded = tuple(_prepare(q, seg, options, limits, method) for q in questions)
    runner = _Runner({g.question.id: g.prepared for g in graded if g.prepared and g.prepared.runs},
                     options.isolation)
    ran = runner.run(_plan(graded, options.portability))
    graded = tuple(replace(g, ran=tuple(r for r in ran if r.plan.question == g.question.id)) for g in graded)
    for step in PASSES:
        graded = step(graded, runner)
    return _report(sub, assignment, options, tuple(g.final for g in graded), method, limits, started)


# --------------------------------------------------------------------------- what flows


@value_class
class Prepared:
    """A code answer with everything that needs no run: its script, limits, start method
    and written part. ``script`` is None, or has a syntax error, when it cannot run."""

    question: Question
    answer: Answer
    script: BuiltScript | None
    limits: Limits
    method: str
    rubric_check: CheckResult | None
    rubric_text: str

    @property
    def runs(self) -> bool:
        return self.script is not None and not self.script.syntax_error


@value_class
class PlannedRun:
    """One sandboxed run to make: which question's script, under which start method, why."""

    question: str
    method: str
    purpose: Purpose


@value_class
class Ran:
    """A planned run made: what the checks see of it."""

    plan: PlannedRun
    ctx: CheckContext


@value_class
class Graded:
    """One question on its way through the passes."""

    question: Question
    answer: Answer | None
    prepared: Prepared | None = None  # None: decided without the passes
    ran: tuple[Ran, ...] = ()
    result: QuestionResult | None = None  # set by prepare, or by the score pass
    ctx: CheckContext | None = None  # what ``result`` was scored from
    race: Diagnosis | None = None  # two runs disagreed
    warnings: tuple[Diagnosis, ...] = ()  # from other start methods

    @property
    def final(self) -> QuestionResult:
        assert self.result is not None
        return self.result

    def ran_for(self, purpose: Purpose) -> tuple[Ran, ...]:
        return tuple(r for r in self.ran if r.plan.purpose == purpose)


# --------------------------------------------------------------------------- prepare, plan, run


def _prepare(q: Question, seg: Segmentation, options: GradeOptions, limits: Limits, method: str) -> Graded:
    """Everything that needs no run: missing answers, prose, syntax errors; else a prepared
    script. Parses (``build_script``, the written part), so it runs on the calling thread."""
    answer = seg.answers.get(q.id)
    if answer is None:
        why = ("The answer to this question is still empty: write it in the cell under the "
               "question, save, and check again." if q.id in seg.empty else
               "No answer was found for this question. Start it with a header such as "
               f"'{q.id}.' or use the notebook made by `mpgrade template`.")
        return Graded(q, None, result=scoring.missing(q, why))
    if q.kind == "prose":
        return Graded(q, answer, result=scoring.prose_question(q, answer))
    method = options.start_method or q.start_method or method
    rubric_check, rubric_text = scoring.rubric_part(q, answer)
    wall = options.timeout_s or q.timeout_s or limits.wall_s
    prepared = Prepared(q, answer, None, replace(limits, wall_s=wall), method, rubric_check, rubric_text)
    if not answer.code.strip():
        if q.code_optional:
            return Graded(q, answer, prepared)  # scored from the written part alone
        if q.prose_answer is not None:
            return Graded(q, answer, result=scoring.prose_question(q, answer, q.prose_answer))
        # An answer is there, but nothing in it can run: an error, not a missing answer.
        return Graded(q, answer, result=QuestionResult(
            q.id, q.title, q.kind, "error", 0.0, q.points,
            "This question asks for a program, but the answer found holds only prose. "
            "Put your program in a code cell.",
        ))
    script = build_script(answer, context_for(seg, q.id))
    prepared = replace(prepared, script=script)
    if script.syntax_error:
        ctx = CheckContext(q, answer, script, None, Trace())
        checks = scoring.checks_of(q, ctx) + ((rubric_check,) if rubric_check else ())
        if rubric_check is not None and not any(c.outcome == "failed" for c in checks[:-1]):
            return Graded(q, answer, prepared)  # optional code: the syntax error is a note
        checks = redistributed(checks)
        return Graded(q, answer, result=QuestionResult(
            q.id, q.title, q.kind, "error", scored(q.points, checks) if rubric_check else 0.0, q.points,
            f"{script.syntax_error}. Fix the syntax so the cell runs, then check again.",
            scoring.once(checks),
            excerpt=script.excerpt,
        ))
    return Graded(q, answer, prepared)


def _plan(graded: tuple[Graded, ...], portability: bool) -> list[PlannedRun]:
    """Each runnable answer under its start method; with ``portability``, under the others too."""
    plans = []
    for g in graded:
        if g.prepared is None or not g.prepared.runs:
            continue
        plans.append(PlannedRun(g.question.id, g.prepared.method, "grade"))
        if portability:
            plans += [PlannedRun(g.question.id, m, "portability")
                      for m in available_start_methods() if m != g.prepared.method]
    return plans


@value_class
class _Runner:
    """The one place the grader runs code: planned runs in, what the checks see out."""

    prepared: dict[str, Prepared]
    isolation: str

    def run(self, plans: Sequence[PlannedRun]) -> tuple[Ran, ...]:
        if not plans:
            return ()
        if len(plans) == 1:  # nothing to overlap with: no thread, no pool to import
            results = [self._sandboxed(plans[0])]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(4, len(plans))) as pool:
                results = list(pool.map(self._sandboxed, plans))
        ran = []
        for plan, result in zip(plans, results, strict=True):
            p = self.prepared[plan.question]
            # The trace is untrusted input: parsed here, on the calling thread.
            ran.append(Ran(plan, CheckContext(p.question, p.answer, p.script, result, parse_trace(result))))
        return tuple(ran)

    def _sandboxed(self, plan: PlannedRun) -> RunResult:
        """In a worker thread (or the calling one, for a single run): it only waits on
        the sandbox."""
        p = self.prepared[plan.question]
        assert p.script is not None
        return sandbox.run(
            RunRequest(
                files={locations.SCRIPT_NAME: p.script.source},
                script=locations.SCRIPT_NAME,
                limits=p.limits,
                env={"MPGRADE_START_METHOD": plan.method},
                pythonpath=(str(probe_dir()),),
                stdin=p.question.stdin,
                isolation=self.isolation,
            )
        )


# --------------------------------------------------------------------------- passes


def _score(graded: tuple[Graded, ...], runner: _Runner) -> tuple[Graded, ...]:
    """Each prepared answer scored from its grading run (or from no run, when it has none)."""
    return tuple(_scored(g) if g.result is None else g for g in graded)


def _scored(g: Graded, ran: Ran | None = None) -> Graded:
    p = g.prepared
    assert p is not None
    ran = ran or next(iter(g.ran_for("grade")), None)
    if ran is None:
        ctx = CheckContext(g.question, p.answer, p.script, None, Trace())
        return replace(g, ctx=ctx, result=scoring.score(g.question, ctx, (), p.rubric_check, None))
    result = scoring.score(g.question, ran.ctx, diagnose(ran.ctx), p.rubric_check, p.method)
    return replace(g, ctx=ran.ctx, result=result)


def _settle_races(graded: tuple[Graded, ...], runner: _Runner) -> tuple[Graded, ...]:
    """A failing answer runs once more: if the checks disagree, it is a race, not bad luck,
    and the lower result counts (so a second run never raises a score: it only names the
    race). An answer that ran alone, as one process with no threads, has nothing to race."""
    suspects = [g for g in graded if g.ran_for("grade") and _could_be_a_race(g.final)
                and _concurrent(g.ran_for("grade")[0].ctx)]
    again = {r.plan.question: r for r in runner.run(
        [PlannedRun(g.question.id, g.ran_for("grade")[0].plan.method, "race") for g in suspects])}
    return tuple(_settled(g, again[g.question.id]) if g.question.id in again else g for g in graded)


def _could_be_a_race(result: QuestionResult) -> bool:
    """Lost points in a run that ended by itself: timing may have decided them."""
    return result.status in ("partial", "failed") and result.run is not None and result.run.reason is None


def _concurrent(ctx: CheckContext) -> bool:
    """Whether more than one thing ran at once. Only the kernel's process events see every
    process, even a 1 ms one; under /proc polling a second process may have gone unseen,
    so every run counts as concurrent there. The probe's threads and pools are its own
    claims: leaving them out only spares a run that could not have raised the score."""
    run = ctx.run
    if run is None or run.observer != "proc_connector" or len(run.observed) > 1:
        return True
    return bool(ctx.trace.children() or ctx.trace.pools or ctx.trace.threads_started)


def _settled(first: Graded, ran: Ran) -> Graded:
    """Same checks, same verdict: keep the first. Otherwise the lower result, with the race named."""
    second = _scored(first, ran)
    found = race(first.final.checks, second.final.checks)
    if found is None:
        return replace(first, ran=first.ran + (ran,))
    worse = min((first, second), key=lambda g: g.final.score)
    return replace(worse, ran=first.ran + (ran,), race=found)


def _portability(graded: tuple[Graded, ...], runner: _Runner) -> tuple[Graded, ...]:
    """The outcome under every start method; other methods only fill the matrix, and a
    failure under one of them is a warning on a passing answer."""
    return tuple(_with_matrix(g) if g.ran_for("portability") else g for g in graded)


def _with_matrix(g: Graded) -> Graded:
    q, result = g.question, g.final
    grading = g.ran_for("grade")[0]
    matrix: dict[str, tuple[str, str]] = {}
    warnings: list[Diagnosis] = []
    for ran in (grading, *g.ran_for("portability")):
        method, ctx, other = ran.plan.method, ran.ctx, ran.ctx.run
        assert other is not None
        checks = scoring.checks_of(q, ctx)
        code_points = sum(s.points for s in q.checks)  # the written part does not depend on the method
        status = scoring.status(scored(code_points, checks), code_points, other)
        if status == "passed":
            matrix[method] = (status, "")
            continue
        errors = [d for d in diagnose(ctx) if d.severity == "error"]
        failed = [c.message for c in checks if c.outcome == "failed" and c.max_score > 0]
        stderr_tail = (other.stderr.strip().splitlines() or [""])[-1]
        reason = errors[0].title if errors else scoring.headline(other.limit or (failed or [stderr_tail])[0])
        matrix[method] = (status, reason)
        if ran is not grading and result.status == "passed" and errors:
            d = errors[0]
            warnings.append(replace(d, title=f"Fails under {method}: {d.title}", severity="warning"))
    return replace(g, result=replace(result, portability=matrix), warnings=tuple(warnings[:1]))


def _feedback(graded: tuple[Graded, ...], runner: _Runner) -> tuple[Graded, ...]:
    """The paragraph for the student from what scoring found; a race and other start
    methods' warnings then join the diagnoses, the race also as a closing note."""
    return tuple(_with_feedback(g) if g.ctx is not None else g for g in graded)


def _with_feedback(g: Graded) -> Graded:
    assert g.prepared is not None and g.ctx is not None
    result = g.final
    text = scoring.feedback(result, g.ctx, g.prepared.rubric_text)
    extra = g.warnings
    if g.race is not None:
        text = f"{text} Note: {g.race.explanation} {g.race.fix}"
        extra += (g.race,)
    return replace(g, result=replace(result, feedback=text, diagnoses=result.diagnoses + extra))


def _found(graded: tuple[Graded, ...], runner: _Runner) -> tuple[Graded, ...]:
    """Each result with how its answer was found and what the build salvaged to run it."""
    return tuple(
        replace(g, result=replace(
            g.final,
            attribution=g.answer.attribution if g.answer else None,
            salvaged=g.prepared.script.notes if g.prepared and g.prepared.runs and g.prepared.script else (),
        ))
        for g in graded
    )


Pass = Callable[[tuple[Graded, ...], _Runner], tuple[Graded, ...]]
PASSES: tuple[Pass, ...] = (_score, _settle_races, _portability, _feedback, _found)


# --------------------------------------------------------------------------- the report


def _report(
    sub: Submission,
    assignment: Assignment,
    options: GradeOptions,
    results: tuple[QuestionResult, ...],
    method: str,
    limits: Limits,
    started: float,
) -> Report:
    summaries = [r.run for r in results if r.run is not None]
    env = Environment(
        # What the student may see: implementation and version, never the grader's own paths.
        python=f"{platform.python_implementation()} {platform.python_version()}",
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


def _joined(values: set[str]) -> str:
    """What the runs used; "none" when no code ran at all."""
    return ", ".join(sorted(v for v in values if v)) or "none (no code ran)"
