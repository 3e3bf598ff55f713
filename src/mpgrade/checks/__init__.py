"""Checks: pure functions from (answer, run, trace) to check results.

Importing this package imports every module in it, and each family's ``@check``
declarations register its checks (process, pool, pipe, output, ...): a new family is one
new module here. An exercise adds its own with ``register_module(path_of_its_checks_py)``.
"""

from __future__ import annotations

import importlib
import pkgutil

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

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
