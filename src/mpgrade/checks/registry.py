"""The table of declared checks, and the one place that turns an outcome into points.

A check is declared once: its id, a frozen dataclass of typed parameters (names, types,
defaults, allowed values as ``Literal``), a one-line description (its docstring's first
line) and tags naming what it is about, which diagnoses select it by. An exercise file
names checks by id; the loader validates its ``params`` against the declaration, so a
typo fails at load time instead of silently grading with a default. An instructor's
``checks.py`` adds checks with the same decorator.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import inspect
import json
import sys
import textwrap
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from mpgrade.checks.facts import code_of
from mpgrade.model import CheckContext, CheckResult, CheckSpec, value_class


@value_class
class Outcome:
    """What a check found. ``share`` of the points when not all-or-nothing.

    ``applicable=False``: the check does not apply to this answer (no pipe used, no code
    given); it is neither passed nor scored, and its weight goes to the question's other
    checks. ``note``: a sentence the feedback shows even when the check passed.
    """

    passed: bool
    message: str
    share: float | None = None  # None: 1.0 when passed, 0.0 otherwise
    applicable: bool = True
    note: str = ""
    evaluated: bool = True  # False: the check could not decide; a person must


def not_applicable(message: str) -> Outcome:
    return Outcome(False, message, applicable=False)


@value_class
class Common:
    """Parameters of every check, acted on by the scorer rather than by the check.

    ``requires``: ids of checks of the same question that must pass before this one pays
    (a run that completed is worth nothing when no process started). ``optional_code =
    true``: an answer without code makes the check not applicable instead of failing it.
    ``on_fail = "note"``: a failure is shown as a note and costs nothing (optional example
    code).
    """

    requires: tuple[str, ...] = ()
    optional_code: bool = False
    on_fail: Literal["score", "note"] = "score"


@value_class
class NoParams:
    """A check without parameters of its own."""


CheckFn = Callable[[CheckContext, typing.Any], "Outcome | CheckResult"]


@value_class
class Declared:
    """One registered check."""

    id: str
    fn: CheckFn
    params: type
    description: str
    tags: tuple[str, ...]


class CheckError(Exception):
    """An unknown check id, or custom checks that cannot be registered."""


class ParamError(ValueError):
    """A ``params`` table that does not match a check's declaration; ``key`` names the entry."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


_REGISTRY: dict[str, Declared] = {}  # the built-in checks
# Custom checks, per resolved path of an exercise's checks.py: two copies of an exercise
# (an instructor adapting one) may use the same ids without stepping on each other.
_CUSTOM: dict[str, dict[str, Declared]] = {}
_collecting: dict[str, Declared] | None = None  # the table a loading checks.py fills


def check(
    check_id: str, *, params: type = NoParams, tags: tuple[str, ...] = ()
) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` under ``check_id`` with its parameter dataclass and tags.

    Tags default to the id's family (``"process"`` for ``process.started``)."""
    if not dataclasses.is_dataclass(params):
        raise CheckError(f"check '{check_id}': params must be a dataclass")

    def register(fn: CheckFn) -> CheckFn:
        if len(inspect.signature(fn).parameters) != 2:
            raise CheckError(f"check '{check_id}': {fn.__name__} must take exactly (ctx, params)")
        table = _REGISTRY if _collecting is None else _collecting
        known = _REGISTRY.get(check_id) or table.get(check_id)
        if known is not None and known.fn is not fn:
            raise CheckError(f"check id '{check_id}' is already registered ({known.fn.__module__})")
        description = (inspect.getdoc(fn) or "").split("\n", 1)[0]
        table[check_id] = Declared(check_id, fn, params, description, tags or (check_id.split(".", 1)[0],))
        return fn

    return register


def declared_checks(custom: str | Path | None = None) -> dict[str, Declared]:
    """id -> declaration, sorted by id: the built-ins, plus those of ``custom`` (a checks.py)."""
    table = dict(_REGISTRY)
    if custom is not None:
        register_module(custom)
        table.update(_CUSTOM[str(Path(custom).resolve())])
    return dict(sorted(table.items()))


def available_checks(custom: str | Path | None = None) -> dict[str, str]:
    """id -> one-line description, sorted by id."""
    return {cid: d.description for cid, d in declared_checks(custom).items()}


def tagged(tag: str, specs: tuple[CheckSpec, ...]) -> tuple[CheckSpec, ...]:
    """The specs whose check carries ``tag``: what a diagnosis about ``tag`` explains."""
    return tuple(s for s in specs if (d := _lookup(s)) is not None and tag in d.tags)


def listing(fmt: Literal["text", "markdown"] = "text") -> str:
    """What ``mpgrade checks`` prints, read from the declarations: each built-in check's id,
    description, tags and parameters (spelled as an exercise file writes them, explained by
    their dataclass's docstring), then the parameters every check takes. The Markdown is
    the table of docs/writing-exercises.md."""
    checks = tuple(declared_checks().values())
    return _markdown(checks) if fmt == "markdown" else _text(checks)


def _text(checks: tuple[Declared, ...]) -> str:
    def explained(params: type, indent: int) -> list[str]:
        return textwrap.wrap(_meaning(params), 100, initial_indent=" " * indent,
                             subsequent_indent=" " * indent)

    out = []
    for d in checks:
        out += [f"{d.id:32} {d.description}", f"{'':35}tags: {', '.join(d.tags)}"]
        out += [f"{'':35}{line}" for line in _param_lines(d.params)] + explained(d.params, 35)
    out += ["", "Every check also takes:", *(f"  {line}" for line in _param_lines(Common))]
    return "\n".join([*out, *explained(Common, 2), ""])


def _markdown(checks: tuple[Declared, ...]) -> str:
    out = ["| check | what it checks | tags | parameters |", "| --- | --- | --- | --- |"]
    for d in checks:
        params = [f"`{_cell(line)}`" for line in _param_lines(d.params)]
        if _meaning(d.params):
            params.append(_cell(_meaning(d.params)))
        out.append(f"| `{d.id}` | {_cell(d.description)} | {', '.join(d.tags)} | {'<br>'.join(params)} |")
    out += ["", "Every check also takes:", "", *(f"- `{line}`" for line in _param_lines(Common))]
    return "\n".join([*out, "", _meaning(Common), ""])


def _param_lines(params: type) -> list[str]:
    """"min: int = 1" per field, "name: str (required)" without a default."""
    hints = _hints(params)
    lines = []
    for f in dataclasses.fields(params):
        default = _default(f)
        value = "(required)" if default is _REQUIRED else f"= {_toml(default)}"
        lines.append(f"{f.name}: {_type_name(hints[f.name])} {value}")
    return lines


def _meaning(params: type) -> str:
    """The parameter dataclass's docstring on one line ("" for one without fields or a
    docstring of its own: a dataclass makes up its signature as one)."""
    doc = params.__doc__ or ""
    if not dataclasses.fields(params) or doc.startswith(f"{params.__name__}("):
        return ""
    return " ".join(doc.split()).replace("``", "`")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _toml(value: object) -> str:
    """A value as an exercise file spells it: ``false``, ``"count"``, ``[]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


_REQUIRED = object()


def _default(f: dataclasses.Field) -> object:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return _REQUIRED


def _type_name(kind: object) -> str:
    origin = typing.get_origin(kind)
    if origin is Literal:
        return " | ".join(_toml(a) for a in typing.get_args(kind))
    if origin in (tuple, list):
        return f"list of {_type_name(typing.get_args(kind)[0])}"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(kind))
    return getattr(kind, "__name__", str(kind))


def parse_params(spec: CheckSpec, decl: Declared) -> tuple[Common, object]:
    """(common parameters, the check's own) from ``spec.params``; ``ParamError`` on a mismatch."""
    raw = dict(spec.params)
    common = {f.name for f in dataclasses.fields(Common)}
    own = {f.name for f in dataclasses.fields(decl.params)}
    for key in raw:
        if key not in common | own:
            allowed = ", ".join(sorted(common | own))
            raise ParamError(key, f"unknown parameter '{key}' of check '{spec.id}' (allowed: {allowed})")
    return (_build(Common, {k: v for k, v in raw.items() if k in common}),
            _build(decl.params, {k: v for k, v in raw.items() if k in own}))


@functools.cache
def _hints(cls: type) -> dict[str, object]:
    """A parameter class's field types, resolved once (the classes are the declared ones)."""
    return typing.get_type_hints(cls)


def _build(cls: type, values: dict) -> object:
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, f in fields.items():
        if name not in values and _default(f) is _REQUIRED:
            raise ParamError(name, f"missing required parameter '{name}'")
    return cls(**{k: _coerce(k, v, hints[k]) for k, v in values.items()})


def _coerce(key: str, value: object, kind: object) -> object:
    """``value`` as ``kind``, or ParamError saying what was expected."""
    origin = typing.get_origin(kind)
    if origin is Literal:
        allowed = typing.get_args(kind)
        if value not in allowed:
            raise ParamError(key, f"'{key}' must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(kind):
            try:
                return _coerce(key, value, option)
            except ParamError:
                continue
        raise ParamError(key, f"'{key}' must be {_type_name(kind)}, got {type(value).__name__}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ParamError(key, f"'{key}' must be a list, got {type(value).__name__}")
        item = typing.get_args(kind)[0]
        return tuple(_coerce(key, v, item) for v in value)
    if kind is type(None):
        if value is not None:
            raise ParamError(key, f"'{key}' must be empty")
        return None
    if kind is typing.Any or kind is object:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(kind, type) or not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ParamError(key, f"'{key}' must be {_type_name(kind)}, got {type(value).__name__}")
    return value


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
    table: dict[str, Declared] = {}
    _collecting = table
    sys.modules[name] = module  # dataclasses (parameter declarations) look their module up
    try:
        spec.loader.exec_module(module)
        decorated = {d.fn for d in table.values()}
        for attr, fn in vars(module).items():
            if attr.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != name:
                continue
            if fn in decorated or len(inspect.signature(fn).parameters) != 2:
                continue
            check(attr)(fn)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        _collecting = None
    _CUSTOM[resolved] = table
    return tuple(table)


def declaration(spec: CheckSpec) -> Declared:
    decl = _lookup(spec)
    if decl is None:
        raise CheckError(f"unknown check '{spec.id}' (see `mpgrade checks`)")
    return decl


def run_check(spec: CheckSpec, ctx: CheckContext) -> CheckResult:
    """Run one check and scale it to ``spec.points`` (before gating and redistribution,
    which need the question's other results: see ``settle``).

    Code that is absent or optional is settled here, once, instead of in every check.
    A bug in a check (ours or an instructor's) must not stop a whole class's grading:
    it becomes a failed check asking for a person to look.
    """
    decl = declaration(spec)
    try:
        common, params = parse_params(spec, decl)
    except ParamError as exc:
        return _result(spec, Outcome(False, f"This check is misconfigured ({exc}); your instructor "
                                            "will review it by hand.", evaluated=False))
    found = _outcome(decl, common, params, ctx)
    if common.on_fail == "note" and found.applicable and not found.passed:
        found = Outcome(False, found.message, applicable=False, note=found.message)
    return _result(spec, found)


def _outcome(decl: Declared, common: Common, params: object, ctx: CheckContext) -> Outcome:
    if not code_of(ctx).strip():
        if common.optional_code or ctx.question.code_optional:
            return not_applicable("No code given; prose alone answers this question.")
        return Outcome(False, "No code was found in your answer: put your program in a code cell.")
    if ctx.script is not None and ctx.script.syntax_error:
        return Outcome(False, f"Your code could not run: {ctx.script.syntax_error}.")
    try:
        found = decl.fn(ctx, params)
    except Exception as exc:  # reported as a failed check, never raised into the grader
        return Outcome(
            False,
            f"This check could not be evaluated ({type(exc).__name__}: {exc}); "
            "your instructor will review it by hand.",
            evaluated=False,
        )
    if isinstance(found, CheckResult):  # a custom check that scored itself: keep its share
        share = found.score / found.max_score if found.max_score else float(found.passed)
        found = Outcome(found.passed, found.message, share, found.applicable, found.note)
    return found


def settle(specs: tuple[CheckSpec, ...], results: tuple[CheckResult, ...]) -> tuple[CheckResult, ...]:
    """Gating: a check whose ``requires`` did not all pass earns nothing, and says so in
    its own words instead of repeating the cause the required check already names."""
    by_id = {r.id: r for r in results}
    settled = []
    for spec, result in zip(specs, results, strict=True):
        try:
            common, _ = parse_params(spec, declaration(spec))
        except (ParamError, CheckError):
            settled.append(result)
            continue
        blocked = [req for req in common.requires if req in by_id and not by_id[req].passed]
        if blocked and result.applicable:
            result = dataclasses.replace(
                result, passed=False, score=0.0, note="",
                message=f"`{spec.id}` counts only once `{blocked[0]}` passes.",
            )
        settled.append(result)
    return tuple(settled)


def redistributed(results: tuple[CheckResult, ...]) -> tuple[CheckResult, ...]:
    """The weight of the checks that do not apply moved to the ones that do, in proportion
    to their points, so that every output shows points that add up to the question's."""
    weight = sum(r.max_score for r in results if r.applicable)
    total = sum(r.max_score for r in results)
    if weight <= 0 or abs(weight - total) < 1e-9:
        return results
    factor = total / weight
    last = max(i for i, r in enumerate(results) if r.applicable and r.max_score > 0)
    moved = []
    for i, r in enumerate(results):
        if not r.applicable:
            moved.append(dataclasses.replace(r, score=0.0, max_score=0.0))
            continue
        # The last one takes the rounding remainder, so that the points add up exactly.
        top = round(total - sum(m.max_score for m in moved), 4) if i == last else round(r.max_score * factor, 4)
        score = top if r.score >= r.max_score else min(top, round(r.score * factor, 4))
        moved.append(dataclasses.replace(r, score=score, max_score=top))
    return tuple(moved)


def scored(points: float, results: tuple[CheckResult, ...]) -> float:
    """The question's score from its (redistributed) checks."""
    return round(min(points, sum(r.score for r in redistributed(results))), 4)


def _lookup(spec: CheckSpec) -> Declared | None:
    """The exercise's own check when the spec comes from its checks.py, else the built-in.
    Loading is lazy so that a batch worker given an Assignment finds the custom checks too."""
    if spec.source:
        register_module(spec.source)
        return _CUSTOM[str(Path(spec.source).resolve())].get(spec.id)
    return _REGISTRY.get(spec.id)


def _result(spec: CheckSpec, outcome: Outcome) -> CheckResult:
    if not outcome.applicable:
        return CheckResult(spec.id, False, 0.0, spec.points, outcome.message, applicable=False,
                           note=outcome.note)
    share = outcome.share if outcome.share is not None else (1.0 if outcome.passed else 0.0)
    share = min(1.0, max(0.0, share))
    return CheckResult(spec.id, outcome.passed, round(spec.points * share, 4), spec.points,
                       outcome.message, note=outcome.note, evaluated=outcome.evaluated)
