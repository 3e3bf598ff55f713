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
    Outcome,
    available_checks,
    check,
    register_module,
    run_check,
)

__all__ = [
    "CheckError",
    "CheckFn",
    "Outcome",
    "ProseGrade",
    "available_checks",
    "check",
    "grade_prose",
    "register_module",
    "run_check",
]
