"""The format table and what derives from it; LTI scores; error results in every format."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from test_report import sample_report

from mpgrade import formats
from mpgrade.cli import build_parser
from mpgrade.model import Ungradable
from mpgrade.report import SchemaError, error_json, render, render_error, validate_json
from mpgrade.report.gradescope import GradescopeOptions, render_gradescope
from mpgrade.report.lti import lti_error, lti_score

BROKEN = Ungradable(
    "15feb-multiprocessing", "15 Feb <assignment>", 10.0,
    "Your file could not be read: ass.ipynb: not valid JSON <script>. Re-save it and resubmit.",
    "ass.ipynb", None, "ada", False, "0.1.0",
)


def _choices(command: str, option: str) -> tuple[str, ...]:
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return tuple(next(a for a in sub._actions if option in a.option_strings).choices)


def test_cli_choices_derive_from_the_table() -> None:
    assert _choices("check", "--format") == formats.NAMES
    assert _choices("grade", "--report-format") == formats.REPORT_NAMES
    assert "lti" in formats.NAMES and "json" not in formats.REPORT_NAMES
    assert formats.get("markdown").extension == "md"
    with pytest.raises(ValueError, match="choose one of text, json"):
        formats.get("pdf")


@pytest.mark.parametrize("fmt", formats.NAMES)
def test_every_format_renders_a_report_and_an_ungradable(fmt: str) -> None:
    graded, broken = render(sample_report(), fmt, color=False), render_error(BROKEN, fmt)
    assert graded.strip() and broken.strip()
    if formats.get(fmt).extension == "json":
        json.loads(graded), json.loads(broken)
    assert "<script>" not in broken or fmt in ("json", "gradescope", "lti", "text")


def test_error_result_validates_and_is_strict() -> None:
    obj = error_json(BROKEN)
    validate_json(obj)
    assert (obj["status"], obj["score"], obj["questions"], obj["environment"]) == ("error", None, [], None)
    assert obj["error"].startswith("Your file could not be read") and obj["student"] == "ada"
    for breakage in ({"score": 0}, {"error": None}, {"questions": [{}]}):
        with pytest.raises(SchemaError):
            validate_json({**obj, **breakage})
    graded = json.loads(render(sample_report(), "json"))
    with pytest.raises(SchemaError):
        validate_json({**graded, "error": "not graded"})


def test_lti_score_fields() -> None:
    now = datetime(2026, 12, 2, 5, 30, 1, 250000, tzinfo=timezone.utc)
    report = sample_report(student="ada")
    score = lti_score(report, now)
    assert set(score) == {"userId", "scoreGiven", "scoreMaximum", "comment", "timestamp",
                          "activityProgress", "gradingProgress"}
    assert (score["scoreGiven"], score["scoreMaximum"]) == (report.score, report.max_score)
    assert score["timestamp"] == "2026-12-02T05:30:01.250+00:00"
    assert score["activityProgress"] == "Completed"
    assert score["gradingProgress"] == "PendingManual"  # Q2's prose is an unreviewed proposal
    assert "Q6: 0.5/2 timeout (stopped: deadlock)." in score["comment"] and "\n" not in score["comment"]
    reviewed = replace(report, questions=tuple(
        replace(q, status="partial") if q.status == "needs_review" else q for q in report.questions
    ))
    assert lti_score(reviewed, now)["gradingProgress"] == "FullyGraded"
    assert "userId" not in lti_score(replace(report, student=None), now)
    failed = lti_error(BROKEN, now)
    assert "scoreGiven" not in failed and failed["gradingProgress"] == "Failed"
    assert failed["activityProgress"] == "Submitted"
    nothing = lti_error(replace(BROKEN, missing=True, reason="No submission was found."), now)
    assert (nothing["activityProgress"], nothing["gradingProgress"]) == ("Initialized", "NotReady")


def test_gradescope_visibility_and_held_proposals() -> None:
    report = sample_report()
    counted = render_gradescope(report)
    proposal = [t for t in counted["tests"] if t["tags"][0] == "Q2"]
    assert any("proposal, to be reviewed" in t["name"] for t in proposal)
    assert counted["score"] == pytest.approx(report.score)
    options = GradescopeOptions(visibility="after_published", stdout_visibility="visible", prose="hold")
    held = render_gradescope(report, options)
    assert held["visibility"] == "after_published" and held["stdout_visibility"] == "visible"
    assert {t["visibility"] for t in held["tests"]} == {"after_published"}
    assert sum(t["score"] for t in held["tests"] if t["tags"][0] == "Q2") == 0
    assert held["score"] == pytest.approx(report.score - 1.0)
    assert "counts once your instructor has reviewed" in json.dumps(held)


def test_docs_name_every_format() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    schema_doc = (root / "docs" / "schema.md").read_text()
    for fmt in formats.FORMATS:
        assert f"`{fmt.name}`" in schema_doc, fmt.name
    assert "application/vnd.ims.lis.v1.score+json" in schema_doc
