"""Staff review of proposed scores: the store of decisions, how they merge into results,
and the local web page (``mpgrade review``) that records them.

The web stack (``app``) is imported only by ``mpgrade review``; everything else here is
small and dependency-free, because batch grading merges reviews on every run.
"""

from mpgrade.review.apply import apply_question, apply_report, digest, review_note, status_for
from mpgrade.review.store import Change, ReviewError, ReviewStore, reviewer

__all__ = [
    "Change",
    "ReviewError",
    "ReviewStore",
    "apply_question",
    "apply_report",
    "digest",
    "review_note",
    "reviewer",
    "status_for",
]
