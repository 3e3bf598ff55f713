"""Reviews merged into results: the one place where a person's score replaces the proposal.

Everything downstream (JSON, reports, gradebooks, summary) reads the merged result and
only shows its ``review`` flag; nothing else knows that overrides exist.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from mpgrade.model import QuestionResult, Report, Review

# Statuses that say what happened to the run: a review changes the score, not the story.
_KEPT = ("error", "timeout")


def status_for(status: str, score: float, max_score: float) -> str:
    """A reviewed question's status follows its final score, except for a run's error or timeout."""
    if status in _KEPT:
        return status
    if score >= max_score - 1e-9:
        return "passed"
    return "partial" if score > 0 else "failed"


def settle(review: Review, auto_score: float) -> Review:
    """The review as it stands against today's automatic score: stale when that changed."""
    return replace(review, stale=abs(review.auto_score - auto_score) > 1e-9)


def review_note(review: Review, max_score: float) -> str:
    """What the student reads under the feedback once a person decided."""
    if abs(review.score - review.auto_score) <= 1e-9:
        text = f"Reviewed by staff: the score {review.score:g}/{max_score:g} is confirmed."
    else:
        text = (f"Reviewed by staff: {review.score:g}/{max_score:g} "
                f"(the automatic score was {review.auto_score:g}).")
    return f"{text} {review.comment}" if review.comment else text


def apply_question(q: QuestionResult, review: Review | None) -> QuestionResult:
    if review is None or q.review is not None:
        return q
    r = settle(review, q.score)
    return replace(
        q,
        score=r.score,
        status=status_for(q.status, r.score, q.max_score),
        feedback=f"{q.feedback} {review_note(r, q.max_score)}".strip(),
        review=r,
    )


def apply_report(report: Report, reviews: dict[str, Review]) -> Report:
    """``report`` (automatic scores) with each reviewed question's final score and flag."""
    if not reviews:
        return report
    questions = tuple(apply_question(q, reviews.get(q.id)) for q in report.questions)
    return replace(report, questions=questions, score=round(sum(q.score for q in questions), 4))


def digest(reviews: dict[str, Review]) -> str:
    """Changes whenever a decision does: tells which published files are out of date."""
    text = repr(sorted((qid, r.score, r.auto_score, r.comment, r.by, r.at) for qid, r in reviews.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
