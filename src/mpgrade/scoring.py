"""One answer's verdict: its checks into a score and a status, the written part, the
paragraph of feedback and the summary of its run.

Pure functions of the pipeline's dataclasses (a ``CheckContext`` and what was already
decided); the grader decides what to score and in which order (``grader.PASSES``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace

from mpgrade import locations
from mpgrade.checks import ProseGrade, grade_prose, redistributed, run_check, scored, settle
from mpgrade.model import (
    Answer,
    CheckContext,
    CheckResult,
    Diagnosis,
    Question,
    QuestionResult,
    Rubric,
    RunResult,
    RunSummary,
)
from mpgrade.untrusted import parse_python
from mpgrade.verdicts import KILLED, limit

RUBRIC = "prose.rubric"  # the id of the written part's check


def checks_of(q: Question, ctx: CheckContext) -> tuple[CheckResult, ...]:
    """Every check of the question, gated by its ``requires``."""
    return settle(q.checks, tuple(run_check(spec, ctx) for spec in q.checks))


def score(
    q: Question,
    ctx: CheckContext,
    diagnoses: tuple[Diagnosis, ...],
    rubric_check: CheckResult | None,
    method: str | None,
) -> QuestionResult:
    """The question's result from its checks and the written part; ``feedback`` is left
    empty for :func:`feedback`, which sees what later passes add."""
    checks = checks_of(q, ctx)
    if rubric_check:
        checks += (rubric_check,)
    checks = redistributed(checks)
    points = scored(q.points, checks)
    run = decisive_run(ctx, checks)
    if run is not None and run.limit in KILLED:
        # A run the grader stopped keeps what its checks earned, never full marks.
        smallest = min((c.max_score for c in checks if c.max_score > 0), default=0.0)
        points = round(min(points, q.points - smallest), 4)
    verdict = status(points, q.points, run)
    undecided = rubric_check is not None or not all(c.evaluated for c in checks)
    if undecided and verdict in ("passed", "partial", "failed"):
        verdict = "needs_review"
    summary = run_summary(ctx, method) if ctx.run is not None and ctx.script is not None else None
    return QuestionResult(
        id=q.id,
        title=q.title,
        kind=q.kind,
        status=verdict,
        score=points,
        max_score=q.points,
        feedback="",
        checks=once(checks, diagnoses),
        diagnoses=diagnoses,
        run=summary,
    )


def decisive_run(ctx: CheckContext, checks: tuple[CheckResult, ...]) -> RunResult | None:
    """The run, unless every code check is only a note (optional example code): then the
    run decides nothing."""
    return ctx.run if any(c.applicable for c in checks if c.id != RUBRIC) else None


def status(points: float, max_points: float, run: RunResult | None) -> str:
    if run is not None and run.exit_code is None and run.limit in KILLED:
        return "timeout"
    if run is not None and run.exit_code not in (0, None):
        return "error" if points < max_points else "passed"
    if points >= max_points - 1e-9:
        return "passed"
    return "partial" if points > 0 else "failed"


def feedback(result: QuestionResult, ctx: CheckContext, rubric_text: str) -> str:
    """One paragraph, most important first: the named failure and its fix, then the first
    failed checks it does not already cover, the written part, notes, build notes. Each
    sentence appears once."""
    checks, diagnoses = result.checks, result.diagnoses
    parts: list[str] = []
    for d in [d for d in diagnoses if d.severity == "error"][:2]:
        where = f" ({d.location})" if d.location and d.location not in d.explanation else ""
        parts.append(f"{d.explanation}{where} Fix: {d.fix}")
    failed = [c for c in checks if c.outcome == "failed" and c.max_score > 0 and c.id != RUBRIC
              and not c.message.startswith(f"`{c.id}`")]
    for c in failed[: 1 if parts else 2]:
        parts.append(c.message)
    run = decisive_run(ctx, checks)
    if run is not None and run.limit in KILLED:
        parts.append(f"The grader stopped this run ({limit(run.limit).label}), "
                     f"so this question cannot get full marks.")
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
        return "Everything checked out: well done." if result.status == "passed" else "See the checks below."
    return " ".join(sentences)


def once(checks: tuple[CheckResult, ...], diagnoses: tuple[Diagnosis, ...] = ()) -> tuple[CheckResult, ...]:
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


def _sentences(text: str) -> list[str]:
    """A message cut into sentences, for saying each cause only once."""
    return [p.strip() for p in re.split(r"(?<=[.!?])\s+(?=[A-Z`(\"'])", text) if p.strip()]


def headline(text: str, width: int = 160) -> str:
    """The first clause of a message, for one cell of the portability matrix."""
    first = re.split(r"(?<=[a-z)]): |\. ", text, maxsplit=1)[0]
    return first if len(first) <= width else first[: width - 1] + "…"


def run_summary(ctx: CheckContext, method: str | None) -> RunSummary:
    """The run as reports show it, its locations resolved once into the student's lines."""
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


# --------------------------------------------------------------------------- written answers


def missing(q: Question, text: str) -> QuestionResult:
    return QuestionResult(q.id, q.title, q.kind, "missing", 0.0, q.points, text)


def prose_question(q: Question, answer: Answer, rubric: Rubric | None = None) -> QuestionResult:
    """A prose question, or a code question answered in words where its exercise allows it
    (``rubric`` is then the question's ``prose_answer``), scored by its rubric as a
    proposal for staff to confirm."""
    rubric = rubric or q.rubric
    assert rubric is not None
    text = answer.prose or answer.code  # prose answers sometimes sit in code cells
    if not text.strip():
        return missing(q, "The answer to this question is empty.")
    grade = grade_prose(text, rubric)
    words = ("No program was found, so your written answer is graded instead. "
             if rubric is not q.rubric else "")
    return QuestionResult(
        q.id, q.title, q.kind, "needs_review", grade.score, q.points,
        f"{words}{grade.feedback} {grade.proposal_note}", (rubric_check(grade),),
    )


def rubric_check(grade: ProseGrade) -> CheckResult:
    """The rubric as one check; its message summarises, the question feedback explains."""
    total = len(grade.found) + len(grade.missing)
    parts = [f"Named {len(grade.found)} of {total} key ideas"]
    if grade.missing:
        parts.append("missing: " + "; ".join(desc for _, desc in grade.missing))
    if grade.misconceptions:
        parts.append(f"{len(grade.misconceptions)} misconception(s) to correct")
    return CheckResult(
        id=RUBRIC,
        passed=grade.score >= grade.max_score - 1e-9,
        score=grade.score,
        max_score=grade.max_score,
        message=", ".join(parts) + ".",
    )


def rubric_part(q: Question, answer: Answer) -> tuple[CheckResult | None, str]:
    """The written part of a mixed question (Q4): its check and, when not full, its feedback."""
    if q.rubric is None:
        return None, ""
    text = answer.prose.strip() or _written_in_code(answer.code)
    if not text:
        message = "No written explanation was found; answer the 'what' and 'why' in words too."
        return CheckResult(RUBRIC, False, 0.0, q.rubric.points, message), message
    grade = grade_prose(text, q.rubric)
    check = rubric_check(grade)
    return check, "" if check.passed else grade.feedback


def _written_in_code(code: str) -> str:
    """The explanation a student wrote inside a code cell, as comments or bare strings."""
    words = [line.strip().lstrip("#").strip() for line in code.splitlines() if line.strip().startswith("#")]
    try:
        tree = parse_python(code)
    except (SyntaxError, ValueError):
        tree = None
    if tree is not None:
        words += [n.value.value for n in ast.walk(tree)
                  if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)]
    return "\n".join(w for w in words if w).strip()
