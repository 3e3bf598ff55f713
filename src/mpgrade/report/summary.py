"""What the class summary page shows, as plain frozen data.

Batch grading builds a ``ClassSummary`` (``mpgrade.batch.summary``) and
``render_summary_html`` draws it; keeping the numbers here means the page, a CSV export
or a test can all read the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

from mpgrade import verdicts
from mpgrade.model import QuestionResult, value_class

STATUSES = tuple(verdicts.STATUSES)
# Said under the question table of both summaries whenever a score is still a proposal.
PASS_RATE_MEANS = ("Pass rate: the share of graded answers that passed. An automatic proposal still "
                   "waiting for staff review counts under needs review, not as passed, whatever its points.")


@value_class
class FailureReason:
    """One recurring reason for lost points, e.g. a diagnosis that many students hit."""

    key: str  # diagnosis code, "check:<check id>" or "status:<status>": stable, for counting
    label: str  # what a teacher reads: the diagnosis title, "check process.started failed", ...
    count: int  # students it happened to
    examples: tuple[str, ...] = ()  # a few of those students, to open their reports
    question: str = ""  # question id; "" when the reason is counted across questions


@value_class
class StudentRow:
    """One student's line in the class table."""

    student: str
    score: float | None  # None when the submission could not be graded at all
    max_score: float
    statuses: dict[str, str] = field(default_factory=dict, hash=False)  # question id -> status
    report_href: str | None = None  # relative link to the student's own HTML report
    error: str | None = None  # why it could not be graded (unreadable file, ...)


@value_class
class QuestionSummary:
    """How the class did on one question."""

    id: str
    title: str
    kind: str  # "code" | "prose"
    max_score: float
    graded: int  # students with a result for this question
    pass_rate: float  # status_counts["passed"] / graded: a full-points proposal is needs_review, not passed
    mean_score: float  # mean points among graded students
    status_counts: dict[str, int] = field(default_factory=dict, hash=False)  # status -> students
    top_failures: tuple[FailureReason, ...] = ()  # most frequent first


@value_class
class HistogramBin:
    """Students whose total is in [low, high) (the last bin includes ``high``)."""

    low: float
    high: float
    count: int


@value_class
class ClassSummary:
    """Everything the class summary page shows for one assignment."""

    assignment_id: str
    assignment_title: str
    max_score: float
    students: tuple[StudentRow, ...]
    questions: tuple[QuestionSummary, ...]
    histogram: tuple[HistogramBin, ...]
    top_failures: tuple[FailureReason, ...] = ()  # across questions, most frequent first
    mean_score: float = 0.0  # among graded students
    median_score: float = 0.0
    generated_at: str = ""  # ISO timestamp, shown in the page footer
    tool_version: str = ""
    incomplete: str = ""  # "incomplete: 5 of 14 graded" after an interrupted batch; "" when whole
    reviewed: int = 0  # answers whose score staff decided
    proposals: int = 0  # answers whose score is still an automatic proposal (needs_review)


@value_class
class AttentionRow:
    """A student the teacher should look at: not graded, or graded with a note."""

    label: str  # "alice (Alice Adams)"
    status: str  # the row status: passed, partial, failed, error, missing, pending
    notes: str  # why, one line


@value_class
class BatchFacts:
    """What the Markdown summary says about the batch run beside the class statistics."""

    students: int
    graded: int
    errors: int
    missing: int
    pending: int
    attention: tuple[AttentionRow, ...] = ()
    attention_more: int = 0  # rows not listed (see grades.csv)
    files: tuple[str, ...] = ()  # the files of the output folder, as the reader will look for them


def histogram(
    scores: Sequence[float], max_score: float, bins: int = 10
) -> tuple[HistogramBin, ...]:
    """Equal-width bins from 0 to ``max_score``; a full score falls in the last bin."""
    if max_score <= 0 or bins <= 0:
        return ()
    width = max_score / bins
    counts = [0] * bins
    for s in scores:
        counts[min(max(int(s / width), 0), bins - 1)] += 1
    return tuple(
        HistogramBin(round(i * width, 4), round((i + 1) * width, 4), c)
        for i, c in enumerate(counts)
    )


def failure_reasons(q: QuestionResult) -> list[tuple[str, str]]:
    """Why a question lost points, as (key, label) pairs: a limit first (it explains
    everything after it), then diagnoses, else failed checks, else the status. The class
    view counts them and the LMS feedback names the first, so both give the same cause."""
    out: list[tuple[str, str]] = []
    if q.run is not None and q.run.reason:
        # The detail names pids and timings; the class view needs the kind of stop only.
        out.append((f"limit:{q.run.reason}", f"stopped: {verdicts.limit(q.run.reason).label}"))
    if q.status == "passed":
        return out
    reasons = [(d.code, d.title) for d in q.diagnoses if d.severity == "error"]
    if not reasons:
        reasons = [(f"check:{c.id}", f"check {c.id} failed") for c in q.checks if c.outcome == "failed"]
    # Prose always awaits a person's confirmation: that alone is not a lost point.
    if not reasons and q.status not in ("partial", "needs_review"):
        reasons = [(f"status:{q.status}", f"answer {verdicts.status(q.status).word.lower()}")]
    return list(dict.fromkeys(out + reasons))
