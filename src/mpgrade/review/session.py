"""Reviewing a graded class folder: every student's answer to a question, with the
automatic score and its reasons, and the decisions staff take on them.

Both ``mpgrade override`` and the web page go through ``ReviewSession.decide``, which
stores the decision and rewrites the class's outputs at once.
"""

from __future__ import annotations

from pathlib import Path

from mpgrade.model import Question, QuestionResult, Review, value_class
from mpgrade.review.apply import apply_question
from mpgrade.review.codec import CodecError, load_graded
from mpgrade.review.store import ReviewError, ReviewStore


@value_class
class Item:
    """One student's answer to one question, as the reviewer sees it."""

    student: str
    question: str
    status: str  # final status (a reviewed prose answer is no longer needs_review)
    score: float  # final score
    auto_score: float
    max_score: float
    answer: str  # what the student wrote, every cell in order
    feedback: str  # the automatic feedback: the rubric's reasons, quotes included
    checks: tuple[tuple[str, bool, float, float, str], ...]  # (id, passed, score, max, message)
    review: Review | None

    @property
    def reviewed(self) -> bool:
        return self.review is not None


class ReviewSession:
    """A graded class folder opened for review."""

    def __init__(self, outdir: Path) -> None:
        from mpgrade.batch.context import load_options
        from mpgrade.batch.store import Store
        from mpgrade.formats import get as get_format

        self.outdir = Path(outdir)
        options = load_options(self.outdir)
        wanted = options.grade.questions
        self._questions = [q for q in options.assignment.questions if not wanted or q.id in wanted]
        store = Store(self.outdir, get_format(options.report_format).extension)
        self.reviews = ReviewStore(self.outdir)
        self._graded: dict[str, tuple[dict[str, QuestionResult], dict[str, str]]] = {}
        for path in sorted((store.state / "graded").glob("*.json.gz")):
            try:
                report, answers = load_graded(path.read_bytes())
            except (OSError, CodecError):
                continue  # unreadable: the next regrade writes it again
            if report.student is not None and store.saved_path(report.student) == path:
                self._graded[report.student] = ({q.id: q for q in report.questions}, answers)

    @property
    def questions(self) -> list[Question]:
        return self._questions

    @property
    def students(self) -> list[str]:
        return sorted(self._graded, key=str.lower)

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id.lower() == qid.lower():
                return q
        raise ReviewError(f"unknown question {qid!r} (known: {', '.join(q.id for q in self.questions)})")

    def items(self, qid: str) -> list[Item]:
        q = self.question(qid)
        decided = self.reviews.all()
        return [item for s in self.students if (item := self._item(s, q.id, decided.get(s, {}))) is not None]

    def item(self, student: str, qid: str) -> Item:
        q = self.question(qid)
        if student not in self._graded:
            raise ReviewError(f"no graded submission of {student!r} in {self.outdir}")
        item = self._item(student, q.id, self.reviews.all().get(student, {}))
        if item is None:
            raise ReviewError(f"{student!r} has no result for {q.id}")
        return item

    def _item(self, student: str, qid: str, reviews: dict[str, Review]) -> Item | None:
        results, answers = self._graded[student]
        auto = results.get(qid)
        if auto is None:
            return None
        final = apply_question(auto, reviews.get(qid))
        return Item(
            student=student,
            question=qid,
            status=final.status,
            score=final.score,
            auto_score=auto.score,
            max_score=auto.max_score,
            answer=answers.get(qid, ""),
            feedback=auto.feedback,
            checks=tuple((c.id, c.passed, c.score, c.max_score, c.message) for c in auto.checks),
            review=final.review,
        )

    def progress(self, qid: str) -> tuple[int, int]:
        items = self.items(qid)
        return sum(1 for i in items if i.reviewed), len(items)

    def decide(self, student: str, qid: str, score: float | None, comment: str = "",
               by: str | None = None) -> tuple[Item, str]:
        """Store a decision (``score`` None accepts the automatic score) and rewrite the
        outputs; returns the item and a note when the outputs could not be rewritten yet."""
        from mpgrade.batch import BatchError, refresh_class

        current = self.item(student, qid)
        chosen = current.auto_score if score is None else score
        self.reviews.set(student, current.question, chosen, current.auto_score, current.max_score,
                         comment, by)
        note = ""
        try:
            refresh_class(self.outdir)
        except BatchError as exc:
            note = f"saved, but the outputs are not rewritten yet ({exc}): the next `mpgrade grade` into this folder does it"
        return self.item(student, qid), note
