"""The machine-readable result (schema version 2) and its validation.

This is the contract LMS integrations and the batch gradebook read, so its shape is
fixed by ``schema/result.schema.json``; every list and stream that the student's code
controls is bounded, because a submission that prints a megabyte must not make a
megabyte of JSON per question.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from mpgrade import __version__
from mpgrade.model import (
    SCHEMA_VERSION,
    CheckResult,
    Diagnosis,
    PoolTask,
    ProcessStack,
    QuestionResult,
    Report,
    RunSummary,
    Ungradable,
)
from mpgrade.resources import schema_path
from mpgrade.wording import plural

STREAM_LIMIT = 20_000  # characters of stdout / stderr kept per question
LINES_PER_PROCESS = 200
MESSAGE_LIMIT = 500
TASKS_PER_POOL = 500
REJECTED_LIMIT = 25  # reasons for discarded trace events kept per run


class SchemaError(ValueError):
    """A JSON result that does not match the published schema."""


def to_json(report: Report) -> dict[str, Any]:
    """The report as a plain dict following the schema."""
    env = report.environment
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "status": "graded",
        "error": None,
        "tool": {"name": "mpgrade", "version": report.tool_version},
        "assignment": {"id": report.assignment_id, "title": report.assignment_title},
        "submission": {
            "path": report.submission_path,
            "sha256": report.submission_sha256,
            "format": report.submission_format,
        },
        "score": report.score,
        "max_score": report.max_score,
        "duration_s": round(report.duration_s, 3),
        "questions": [_question(q) for q in report.questions],
        "environment": {
            "python": env.python,
            "platform": env.platform,
            "start_method": env.start_method,
            "isolation": env.isolation,
            "observer": env.observer,
            "limits": {
                "wall_s": env.limits.wall_s,
                "cpu_s": env.limits.cpu_s,
                "memory_mb": env.limits.memory_mb,
                "processes": env.limits.processes,
                "output_bytes": env.limits.output_bytes,
                "file_size_mb": env.limits.file_size_mb,
                "open_files": env.limits.open_files,
            },
        },
    }
    if report.student is not None:
        out["student"] = report.student
    return out


def error_json(u: Ungradable) -> dict[str, Any]:
    """The result of a submission that could not be graded: same shape, no questions."""
    path = u.submission_path
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "status": "error",
        "error": u.reason,
        "tool": {"name": "mpgrade", "version": u.tool_version or __version__},
        "assignment": {"id": u.assignment_id, "title": u.assignment_title},
        "submission": {"path": path, "sha256": u.submission_sha256, "format": None},
        "score": None,
        "max_score": u.max_score,
        "duration_s": 0.0,
        "questions": [],
        "environment": None,
    }
    if u.student is not None:
        out["student"] = u.student
    return out


def validate_json(obj: dict[str, Any]) -> None:
    """Raise ``SchemaError`` naming the first offending field when ``obj`` breaks the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise SchemaError(
            f"result does not match schema v{SCHEMA_VERSION} at {where}: {error.message}"
        )


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def _question(q: QuestionResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": q.id,
        "title": q.title,
        "kind": q.kind,
        "status": q.status,
        "score": q.score,
        "max_score": q.max_score,
        "feedback": q.feedback,
        "checks": [_check(c) for c in q.checks],
        "reason": q.run.reason if q.run else None,
        "diagnoses": [_diagnosis(d) for d in q.diagnoses],
        "run": _run(q.run) if q.run else None,
        "attribution": _attribution(q),
        "review": None if q.review is None else {
            "score": q.review.score,
            "auto_score": q.review.auto_score,
            "by": q.review.by,
            "at": q.review.at,
            "comment": q.review.comment,
            "stale": q.review.stale,
        },
    }
    if q.portability:
        out["portability"] = {
            method: {"status": status, "reason": reason}
            for method, (status, reason) in q.portability.items()
        }
    return out


def _attribution(q: QuestionResult) -> dict[str, Any] | None:
    if q.attribution is None:
        return None
    return {
        "by": q.attribution.by,
        "evidence": q.attribution.evidence[:MESSAGE_LIMIT],
        "text": q.attribution.sentence()[:MESSAGE_LIMIT],
        "salvaged": [note[:MESSAGE_LIMIT] for note in q.salvaged[:20]],
    }


def _check(c: CheckResult) -> dict[str, Any]:
    return {
        "id": c.id,
        "outcome": c.outcome,
        "passed": c.passed,
        "score": c.score,
        "max_score": c.max_score,
        "message": c.message,
        "note": c.note,
    }


def _diagnosis(d: Diagnosis) -> dict[str, Any]:
    return {
        "code": d.code,
        "title": d.title,
        "explanation": d.explanation,
        "fix": d.fix,
        "severity": d.severity,
        "location": d.location,
    }


def _run(run: RunSummary) -> dict[str, Any]:
    trace = run.trace
    stdout, cut_out = _bounded(run.stdout)
    stderr, cut_err = _bounded(run.stderr)
    lines_by_pid: dict[int, list[str]] = {}
    for line in trace.lines:
        lines_by_pid.setdefault(line.pid, []).append(line.text)
    tasks_by_pool: dict[int | None, list[PoolTask]] = {}
    for task in trace.tasks:
        tasks_by_pool.setdefault(task.pool_id, []).append(task)
    out: dict[str, Any] = {
        "exit_code": run.exit_code,
        "duration_s": round(run.duration_s, 3),
        "start_method": run.start_method,
        "reason": run.reason,
        "reason_detail": run.reason_detail,
        "stdout": stdout,
        "stderr": stderr,
        "truncated": run.truncated or cut_out or cut_err,
        "processes": [
            {
                "pid": p.pid,
                "ppid": p.ppid,
                "name": p.name,
                "target": p.target,
                "role": p.role,
                "exitcode": p.exitcode,
                "daemon": p.daemon,
                "started_at": round(p.started_at, 4),
                "ended_at": None if p.ended_at is None else round(p.ended_at, 4),
                "confirmed": p.confirmed,
                "output": lines_by_pid.get(p.pid, [])[:LINES_PER_PROCESS],
            }
            for p in trace.processes
        ],
        "pools": [
            {
                "id": pool.id,
                "size": pool.size,
                "calls": list(pool.calls),
                "kind": pool.kind,
                "tasks": [_task(t) for t in tasks_by_pool.get(pool.id, [])[:TASKS_PER_POOL]],
            }
            for pool in trace.pools
        ],
        "messages": [
            {
                "channel": m.channel,
                "kind": m.kind,
                "op": m.op,
                "pid": m.pid,
                "value": m.value,
                "t": round(m.t, 4),
            }
            for m in trace.messages[:MESSAGE_LIMIT]
        ],
        "stacks": [_stack(s) for s in run.stacks],
        "blocking_line": run.blocking_line,
        "error_line": run.error_line,
    }
    if trace.rejected:
        out["rejected"] = [reason[:MESSAGE_LIMIT] for reason in trace.rejected[:REJECTED_LIMIT]]
    if trace.capped:
        out["capped"] = list(trace.capped)
    return out


def _task(t: PoolTask) -> dict[str, Any]:
    return {
        "worker_pid": t.worker_pid,
        "func": t.func,
        "input": t.input,
        "result": t.result,
        "error": t.error,
    }


def _stack(s: ProcessStack) -> dict[str, Any]:
    return {
        "pid": s.pid,
        "name": s.name,
        "wait": s.wait,
        "frames": [
            {"file": f.file, "line": f.line, "function": f.function, "code": f.code}
            for f in s.frames
        ],
    }


def _bounded(text: str) -> tuple[str, bool]:
    """Keep the head and the tail of a long stream: the start shows what ran, the end why it stopped."""
    if len(text) <= STREAM_LIMIT:
        return text, False
    half = STREAM_LIMIT // 2
    cut = len(text) - 2 * half
    return f"{text[:half]}\n… [{plural(cut, 'character')} cut] …\n{text[-half:]}", True
