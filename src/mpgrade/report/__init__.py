"""Renderers from a ``Report`` to what people and systems read.

``render(report, fmt)`` is the one entry point the CLI needs; the JSON contract
(``to_json``/``validate_json``), Gradescope's results.json (``render_gradescope``) and the
class overview (``ClassSummary``/``render_summary_html``) are public for
batch grading and LMS integrations. A renderer never runs code: it only reads the report.
"""

from __future__ import annotations

import json
from pathlib import Path

from mpgrade.model import Report
from mpgrade.report.gradescope import render_gradescope
from mpgrade.report.jsonout import SchemaError, load_schema, to_json, validate_json
from mpgrade.report.summary import (
    ClassSummary,
    FailureReason,
    HistogramBin,
    QuestionSummary,
    StudentRow,
)
from mpgrade.report.templated import render_html, render_markdown, render_summary_html
from mpgrade.report.text import render_text

FORMATS = ("text", "json", "html", "markdown", "gradescope")

__all__ = [
    "FORMATS",
    "ClassSummary",
    "FailureReason",
    "HistogramBin",
    "QuestionSummary",
    "SchemaError",
    "StudentRow",
    "load_schema",
    "render",
    "render_gradescope",
    "render_summary_html",
    "to_json",
    "validate_json",
]


def render(
    report: Report, fmt: str, templates: Path | None = None, color: bool | None = None
) -> str:
    """``report`` as ``fmt`` (one of ``FORMATS``); ``templates`` overrides bundled templates."""
    if fmt == "text":
        return render_text(report, color=color)
    if fmt == "json":
        return json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        return render_html(report, templates)
    if fmt == "markdown":
        return render_markdown(report, templates)
    if fmt == "gradescope":
        return json.dumps(render_gradescope(report), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
