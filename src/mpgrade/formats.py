"""The one table of output formats: name, file extension, media type and renderers.

The CLI's ``--format`` and ``--report-format`` choices and the batch report file names
derive from ``FORMATS`` (and tests/test_formats.py checks that docs/schema.md names each
one); adding a format is one row here plus its renderer module. Renderers are named as ``module:function`` and imported
on first use, so that ``mpgrade --help`` does not load Jinja or rich.

Every format renders two things: a graded ``Report``, and an ``Ungradable`` (a file that
could not be read, or a student with no submission), so that every student gets a
result in every format.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpgrade.model import value_class

if TYPE_CHECKING:
    from mpgrade.model import Report, Ungradable


@value_class
class Format:
    """One output format: its names, and the renderers of a result and of an ungradable file."""

    name: str  # what ``--format`` takes
    extension: str  # of the file a batch writes in this format, without the dot
    media_type: str  # for web integrations and the docs
    render: str  # "module:function" taking (Report, templates, color) -> str
    render_error: str  # "module:function" taking (Ungradable) -> str
    description: str  # one line, for the docs and ``--help``
    student_report: bool = True  # offered as a batch's per-student report

    def report(self, report: Report, templates: Path | None = None, color: bool | None = None) -> str:
        return _resolve(self.render)(report, templates, color)

    def error(self, ungradable: Ungradable) -> str:
        return _resolve(self.render_error)(ungradable)


_R = "mpgrade.report.renderers"

FORMATS: tuple[Format, ...] = (
    Format("text", "txt", "text/plain", f"{_R}:text", f"{_R}:text_error",
           "the terminal report (colour on a terminal)"),
    Format("json", "json", "application/json", f"{_R}:json_result", f"{_R}:json_error",
           "the JSON result of docs/schema.md", student_report=False),
    Format("html", "html", "text/html", f"{_R}:html", f"{_R}:html_error",
           "a self-contained page with timelines"),
    Format("markdown", "md", "text/markdown", f"{_R}:markdown", f"{_R}:markdown_error",
           "for LMS comment boxes"),
    Format("gradescope", "json", "application/json", f"{_R}:gradescope", f"{_R}:gradescope_error",
           "Gradescope's results.json", student_report=False),
    Format("lti", "json", "application/vnd.ims.lis.v1.score+json", f"{_R}:lti", f"{_R}:lti_error_text",
           "an LTI 1.3 Assignment and Grade Services score"),
)

NAMES: tuple[str, ...] = tuple(f.name for f in FORMATS)
REPORT_NAMES: tuple[str, ...] = tuple(f.name for f in FORMATS if f.student_report)


def get(name: str) -> Format:
    """The format called ``name``; ``ValueError`` naming the choices otherwise."""
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise ValueError(f"unknown format {name!r}; choose one of {', '.join(NAMES)}")


def _resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
