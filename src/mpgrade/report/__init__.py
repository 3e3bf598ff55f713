"""Renderers from a ``Report`` to what people and systems read.

``render(report, fmt)`` and ``render_error(ungradable, fmt)`` are the entry points the
CLI needs (the formats themselves are the table in ``mpgrade.formats``); the JSON contract
(``to_json``/``validate_json``), Gradescope's results.json (``render_gradescope``) and the
class overview (``ClassSummary``/``render_summary_html``) are public for
batch grading and LMS integrations. A renderer never runs code: it only reads the report.

Jinja is imported only when a templated page is written: the class summaries here are
loaded on first use, like the renderers of ``mpgrade.formats``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mpgrade.formats import NAMES, get
from mpgrade.model import Report, Ungradable
from mpgrade.report.gradescope import render_gradescope
from mpgrade.report.jsonout import SchemaError, error_json, load_schema, to_json, validate_json
from mpgrade.report.summary import (
    ClassSummary,
    FailureReason,
    HistogramBin,
    QuestionSummary,
    StudentRow,
)

FORMATS = NAMES

__all__ = [
    "FORMATS",
    "ClassSummary",
    "FailureReason",
    "HistogramBin",
    "QuestionSummary",
    "SchemaError",
    "StudentRow",
    "error_json",
    "load_schema",
    "render",
    "render_error",
    "render_gradescope",
    "render_summary_html",
    "render_summary_markdown",
    "to_json",
    "validate_json",
]


def render(
    report: Report,
    fmt: str,
    templates: Path | None = None,
    color: bool | None = None,
    verbose: bool = False,
) -> str:
    """``report`` as ``fmt`` (a name of ``mpgrade.formats``); ``templates`` overrides bundled
    templates; ``verbose`` is the text report's ``-v`` (every run in full)."""
    if verbose and fmt == "text":
        from mpgrade.report.text import render_text

        return render_text(report, color=color, verbose=True)
    return get(fmt).report(report, templates, color)


def render_error(ungradable: Ungradable, fmt: str) -> str:
    """What ``fmt`` says of a submission that could not be graded."""
    return get(fmt).error(ungradable)


def __getattr__(name: str) -> Any:
    """The class summary renderers, imported (with Jinja) when first asked for."""
    if name in ("render_summary_html", "render_summary_markdown"):
        from mpgrade.report import templated

        return getattr(templated, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
