"""Staff reviews merged into a class's outputs, before gradebooks and summary are written.

Workers always write automatic results; this pass, run at the end of every batch and after
every review, replaces reviewed scores in the rows and writes the reviewed students' JSON
result and report again from their saved full report. A regrade whose automatic score
differs from the one the reviewer saw keeps the decision and marks it stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace

from mpgrade.batch.record import QuestionRow, Record, Row, row_status
from mpgrade.batch.store import Store, write_atomic
from mpgrade.model import Review
from mpgrade.review.apply import apply_report, digest, settle, status_for
from mpgrade.review.codec import CodecError, load_report
from mpgrade.review.store import ReviewStore


def reviewed_record(record: Record, reviews: dict[str, Review]) -> Record:
    """``record`` with final scores: reviewed questions carry the person's score and flag."""
    if not reviews or record.status in ("error", "missing"):
        return record
    questions = tuple(_question(q, reviews.get(q.id)) for q in record.questions)
    score = round(sum(q.score for q in questions), 4)
    return replace(record, questions=questions, score=score, status=row_status(score, record.max_score))


def _question(q: QuestionRow, review: Review | None) -> QuestionRow:
    if review is None or q.reviewed:
        return q
    r = settle(review, q.score)
    return replace(q, score=r.score, status=status_for(q.status, r.score, q.max_score), reviewed=True,
                   auto_score=q.score, stale=r.stale, comment=r.comment)


def merge(rows: Sequence[Row], reviews: dict[str, dict[str, Review]]) -> list[Row]:
    return [replace(row, record=reviewed_record(row.record, reviews.get(row.student, {}))) for row in rows]


def merge_reviews(store: Store, rows: list[Row], regraded: set[str], fmt: str) -> list[Row]:
    """The batch's one review pass: final scores into the rows, and the reviewed students'
    result, report and LTI score written again where the worker's automatic ones (a regrade)
    or an earlier version of the reviews stand on disk."""
    review_store = ReviewStore(store.outdir)
    reviews = review_store.all()
    if not reviews:
        return rows
    rows = merge(rows, reviews)
    publish(store, fmt, rows, reviews, regraded, review_store)
    return rows


def publish(store: Store, fmt: str, rows: Iterable[Row], reviews: dict[str, dict[str, Review]],
            regraded: set[str], review_store: ReviewStore) -> None:
    from mpgrade.report import render, to_json

    published = review_store.published()
    done: dict[str, str] = {}
    for row in rows:
        mine = reviews.get(row.student)
        if not mine or not row.graded:
            continue
        mark = digest(mine)
        if published.get(row.student) == mark and row.student not in regraded:
            continue
        try:
            report = load_report(store.saved_path(row.student).read_bytes())
        except (OSError, CodecError):
            continue  # graded before reviews existed: the next regrade saves it
        final = apply_report(report, mine)
        write_atomic(store.result_path(row.student), json.dumps(to_json(final), indent=1) + "\n")
        write_atomic(store.report_path(row.student), render(final, fmt, color=False))
        write_atomic(store.lti_path(row.student), render(final, "lti"))
        done[row.student] = mark
    review_store.mark_published(done)


def review_counts(rows: Sequence[Row]) -> tuple[int, int]:
    """(reviewed answers, answers still waiting as proposals) over the class."""
    reviewed = sum(1 for r in rows for q in r.record.questions if q.reviewed)
    waiting = sum(1 for r in rows for q in r.record.questions if q.status == "needs_review")
    return reviewed, waiting
