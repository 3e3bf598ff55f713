"""The render functions the format table (``mpgrade.formats``) names, two per format.

Each takes a graded ``Report`` (with the template folder and the colour choice, which
only some formats use) or an ``Ungradable``, and returns the text to print or store.
Each function imports the module of its own format, so one result loads only what it
writes with: a JSON result neither rich (text) nor Jinja (html, markdown) nor the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mpgrade.model import Report, Ungradable


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def text(report: Report, templates: Path | None, color: bool | None) -> str:
    from mpgrade.report.text import render_text

    return render_text(report, color=color)


def json_result(report: Report, templates: Path | None, color: bool | None) -> str:
    from mpgrade.report.jsonout import to_json

    return _dump(to_json(report))


def html(report: Report, templates: Path | None, color: bool | None) -> str:
    from mpgrade.report.templated import render_html

    return render_html(report, templates)


def markdown(report: Report, templates: Path | None, color: bool | None) -> str:
    from mpgrade.report.templated import render_markdown

    return render_markdown(report, templates)


def gradescope(report: Report, templates: Path | None, color: bool | None) -> str:
    from mpgrade.report.gradescope import render_gradescope

    return _dump(render_gradescope(report))


def lti(report: Report, templates: Path | None, color: bool | None) -> str:
    from mpgrade.report.lti import lti_score

    return _dump(lti_score(report))


def text_error(u: Ungradable) -> str:
    from mpgrade.report import story

    who = f" ({u.student})" if u.student else ""
    flat = " ".join(u.reason.split())
    return (
        f"{u.assignment_title}{who}: not graded, 0 / {story.points(u.max_score)}\n"
        f"{flat}\n"
    )


def json_error(u: Ungradable) -> str:
    from mpgrade.report.jsonout import error_json

    return _dump(error_json(u))


def html_error(u: Ungradable) -> str:
    from mpgrade.report.templated import environment

    return environment(None).get_template("error.html.j2").render(u=u)


def markdown_error(u: Ungradable) -> str:
    from mpgrade.report.templated import environment

    return environment(None).get_template("error.md.j2").render(u=u)


def gradescope_error(u: Ungradable) -> str:
    from mpgrade.report.gradescope import render_gradescope_error

    return _dump(render_gradescope_error(u))


def lti_error_text(u: Ungradable) -> str:
    from mpgrade.report.lti import lti_error

    return _dump(lti_error(u))
