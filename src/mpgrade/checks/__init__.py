"""Checks: pure functions from (answer, run, trace) to check results.

Importing this package registers the built-in families (process, pool, pipe, output);
an exercise adds its own with ``register_module(path_of_its_checks_py)``.
"""

from __future__ import annotations

from mpgrade.checks import output, pipe, pool, process  # noqa: F401  (register the built-ins)
from mpgrade.checks.prose import ProseGrade, grade_prose
from mpgrade.checks.registry import (
    CheckError,
    CheckFn,
    Common,
    Declared,
    NoParams,
    Outcome,
    ParamError,
    available_checks,
    check,
    declaration,
    declared_checks,
    not_applicable,
    parse_params,
    redistributed,
    register_module,
    run_check,
    scored,
    settle,
    tagged,
)

__all__ = [
    "CheckError",
    "CheckFn",
    "Common",
    "Declared",
    "NoParams",
    "Outcome",
    "ParamError",
    "declaration",
    "declared_checks",
    "not_applicable",
    "parse_params",
    "redistributed",
    "scored",
    "settle",
    "tagged",
    "ProseGrade",
    "available_checks",
    "check",
    "grade_prose",
    "register_module",
    "run_check",
]
