"""Renderers from a ``Report`` to what people and systems read.

``render(report, fmt)`` and ``render_error(ungradable, fmt)`` are the entry points the
CLI needs (the formats themselves are the table in ``mpgrade.formats``); the JSON contract
(``to_json``/``validate_json``), Gradescope's results.json (``render_gradescope``) and the
class overview (``ClassSummary``/``render_summary_html``) are public for
batch grading and LMS integrations. A renderer never runs code: it only reads the report.

Everything but ``render`` and ``render_error`` is imported on first use, like the
renderers of ``mpgrade.formats``: a JSON result loads neither Jinja nor the class
summaries, the Gradescope nor the schema code it does not write.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpgrade.formats import NAMES, get

if TYPE_CHECKING:
    from mpgrade.model import Report, Ungradable

FORMATS = NAMES

# Public name -> the module that defines it, imported when the name is first asked for.
_LAZY = {
    "render_gradescope": "gradescope",
    **dict.fromkeys(("SchemaError", "error_json", "load_schema", "to_json", "validate_json"),
                    "jsonout"),
    **dict.fromkeys(("ClassSummary", "FailureReason", "HistogramBin", "QuestionSummary",
                     "StudentRow"), "summary"),
    **dict.fromkeys(("render_summary_html", "render_summary_markdown"), "templated"),
}

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
    """A name of ``_LAZY``, from its module (imported, with Jinja for the templated ones,
    when first asked for)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
