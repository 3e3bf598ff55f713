"""The table of check ids, and the one place that turns an outcome into points.

Checks are pure functions ``fn(ctx, params) -> Outcome`` registered under an id, so
that an exercise file can name them and an instructor's ``checks.py`` can add more
with the same signature, without mpgrade knowing them in advance.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mpgrade.checks.facts import code_of
from mpgrade.model import CheckContext, CheckResult, CheckSpec


@dataclass(frozen=True)
class Outcome:
    """What a check found. ``share`` of the points when not all-or-nothing."""

    passed: bool
    message: str
    share: float | None = None  # None: 1.0 when passed, 0.0 otherwise


CheckFn = Callable[[CheckContext, dict], "Outcome | CheckResult"]


class CheckError(Exception):
    """An unknown check id, or custom checks that cannot be registered."""


_REGISTRY: dict[str, CheckFn] = {}  # the built-in checks
# Custom checks, per resolved path of an exercise's checks.py: two copies of an exercise
# (an instructor adapting one) may use the same ids without stepping on each other.
_CUSTOM: dict[str, dict[str, CheckFn]] = {}
_collecting: dict[str, CheckFn] | None = None  # the table a loading checks.py fills


def check(check_id: str) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` under ``check_id``; its docstring's first line documents it."""

    def register(fn: CheckFn) -> CheckFn:
        table = _REGISTRY if _collecting is None else _collecting
        known = _REGISTRY.get(check_id) or table.get(check_id)
        if known is not None and known is not fn:
            raise CheckError(f"check id '{check_id}' is already registered ({known.__module__})")
        table[check_id] = fn
        return fn

    return register


def available_checks(custom: str | Path | None = None) -> dict[str, str]:
    """id -> one-line description, sorted by id: the built-ins, plus the checks of the
    exercise ``checks.py`` given as ``custom``."""
    table = dict(_REGISTRY)
    if custom is not None:
        register_module(custom)
        table.update(_CUSTOM[str(Path(custom).resolve())])
    return {cid: (inspect.getdoc(fn) or "").split("\n", 1)[0] for cid, fn in sorted(table.items())}


def register_module(path: str | Path) -> tuple[str, ...]:
    """Load an exercise's ``checks.py`` and register its checks; returns their ids.

    Functions decorated with ``@check("id")`` keep their id; any other public function
    of the module taking exactly ``(ctx, params)`` is registered under its own name.
    Loading the same file again is a no-op (batch grading calls this per submission).
    """
    global _collecting
    resolved = str(Path(path).resolve())
    if resolved in _CUSTOM:
        return tuple(_CUSTOM[resolved])
    name = "mpgrade_custom_" + hashlib.sha1(resolved.encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise CheckError(f"{resolved}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    table: dict[str, CheckFn] = {}
    _collecting = table
    try:
        spec.loader.exec_module(module)
        decorated = set(table.values())
        for attr, fn in vars(module).items():
            if attr.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != name:
                continue
            if fn in decorated or len(inspect.signature(fn).parameters) != 2:
                continue
            check(attr)(fn)
    finally:
        _collecting = None
    _CUSTOM[resolved] = table
    return tuple(table)


def run_check(spec: CheckSpec, ctx: CheckContext) -> CheckResult:
    """Run one check and scale it to ``spec.points``.

    Code that is absent or optional is settled here, once, instead of in every check.
    A bug in a check (ours or an instructor's) must not stop a whole class's grading:
    it becomes a failed check asking for a person to look.
    """
    fn = _lookup(spec)
    if fn is None:
        raise CheckError(f"unknown check '{spec.id}' (see `mpgrade checks`)")
    params = dict(spec.params)
    if not code_of(ctx).strip():
        if params.get("optional_code") or ctx.question.code_optional:
            return _result(spec, Outcome(True, "No code given; prose alone answers this question."))
        return _result(spec, Outcome(False, "No code was found in your answer: put your program in a code cell."))
    if ctx.script is not None and ctx.script.syntax_error:
        return _result(spec, Outcome(False, f"Your code could not run: {ctx.script.syntax_error}."))
    try:
        found = fn(ctx, params)
    except Exception as exc:  # reported as a failed check, never raised into the grader
        found = Outcome(
            False,
            f"This check could not be evaluated ({type(exc).__name__}: {exc}); "
            "your instructor will review it by hand.",
        )
    if isinstance(found, CheckResult):  # a custom check that scored itself: keep its share
        share = found.score / found.max_score if found.max_score else float(found.passed)
        found = Outcome(found.passed, found.message, share)
    return _result(spec, found)


def _lookup(spec: CheckSpec) -> CheckFn | None:
    """The exercise's own check when the spec comes from its checks.py, else the built-in.
    Loading is lazy so that a batch worker given an Assignment finds the custom checks too."""
    if spec.source:
        register_module(spec.source)
        return _CUSTOM[str(Path(spec.source).resolve())].get(spec.id)
    return _REGISTRY.get(spec.id)


def _result(spec: CheckSpec, outcome: Outcome) -> CheckResult:
    share = outcome.share if outcome.share is not None else (1.0 if outcome.passed else 0.0)
    share = min(1.0, max(0.0, share))
    return CheckResult(spec.id, outcome.passed, round(spec.points * share, 4), spec.points, outcome.message)
