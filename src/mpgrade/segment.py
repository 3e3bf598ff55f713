"""Cut a submission into one answer per question.

Students mark questions in a dozen ways (``Q3.``, ``Q.3``, ``Question 3:``,
``Ans 3 :``, ``## 3.``, a ``# Q3`` comment, the question text pasted without a
number), number them wrongly, answer two questions in one cell, put code in
Markdown fences and prose in code cells. The rules below are deliberately
conservative: explicit metadata wins; a header needs a question label or a
number backed by the question's own text; anything unsure is written to
``Segmentation.notes`` so a person can see why a cell went where it did.
"""

from __future__ import annotations

import ast
import functools
import io
import re
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from typing import NamedTuple

from mpgrade.model import Answer, Cell, Question, Segmentation, Submission

__all__ = ["context_for", "segment"]

# Leading decoration of a header line: Markdown heading/quote/emphasis marks, HTML tags,
# comment marks, and cell markers of exported scripts.
_DECOR = re.compile(
    r"^(?:[\s#>*_|~`\"']+|<[^>]*>|%%|In\s*\[[\s\d]*\]\s*:?|[rRuUfF]?(?:\"\"\"|'''))+"
)
# "Q3.", "Q.3", "Q3)", "Q 3:", "Question 3:", "Ques 3", "Qno. 3", "Ans 3 :", "Ans3.", "Answer 3"
_LABEL = re.compile(
    r"(?:q(?:uestion|ues|n)?|ans(?:wer)?)\s*(?:no\.?|number|#)?\s*[.\-:]?\s*(\d{1,2})(?!\d)[\s.):\-*_]*",
    re.I,
)
# "3.", "3)", "## 3." -- a bare number, trusted only with more evidence (see _header).
_NUMBER = re.compile(r"(\d{1,2})\s*[.):](?![\d])[\s*_]*")
# "ANS -", "Answer:", "Solution" -- marks where an answer starts, never a new question.
_ANSWER_LABEL = re.compile(
    r"^\s*(?:ans(?:wer)?|sol(?:ution)?)\b\s*(?:\d{1,2})?\s*[-.:)=>]*\s*", re.I
)
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)[^\n]*$")

_TEXT_HEADER = 0.8  # similarity for a header that is only the question's text
_TEXT_SUPPORT = 0.6  # similarity that backs a bare number or a header line to drop


@dataclass
class _Piece:
    """A cell, or part of one, and what segmentation learned about it."""

    cell: Cell
    question: str | None = None  # the question it starts or belongs to (explicit or header)
    explicit: bool = False  # question came from metadata/tags
    header: bool = False  # the piece starts a question
    content: Cell | None = None  # what belongs to the answer (header lines removed)
    unknown_header: str = ""  # a header naming no question of the assignment
    way: str = ""  # how the header named its question (see _Found.way)


def segment(sub: Submission, questions: Sequence[Question]) -> Segmentation:
    """Attribute the cells of ``sub`` to ``questions``; see the module notes for the rules."""
    cells = sub.cells
    notes: list[str] = []
    numbers = _question_numbers(questions)
    pieces = [p for cell in cells for p in _pieces(cell, questions, numbers, notes)]
    if not any(p.question or p.unknown_header for p in pieces):
        return _by_order(pieces, questions, notes)
    _resolve_duplicates(pieces, questions, notes)

    parts: dict[str, list[Cell]] = {}
    via_metadata: set[str] = set()
    preamble: list[Cell] = []
    current: str | None = None
    started = False
    for p in pieces:
        if p.question or p.unknown_header:
            started = True
            current = p.question
            if p.explicit:
                via_metadata.add(p.question or "")
        if not started:
            if p.cell.source.strip():
                preamble.append(p.cell)
            continue
        content = p.content if (p.header or p.explicit) else p.cell
        if current and content is not None and _substantial(content):
            parts.setdefault(current, []).append(content)
    answers = {
        q.id: Answer(q.id, tuple(parts[q.id]), "metadata" if q.id in via_metadata else "header")
        for q in questions
        if parts.get(q.id)
    }
    return Segmentation(answers, tuple(preamble), tuple(notes))


def context_for(seg: Segmentation, question_id: str) -> tuple[Cell, ...]:
    """Code cells that come before the answer to ``question_id`` in the notebook (for build)."""
    answer = seg.answers.get(question_id)
    if answer is None or not answer.cells:
        return ()
    first = min((c.index, c.line_offset) for c in answer.cells)
    others = [c for qid, a in seg.answers.items() if qid != question_id for c in a.cells]
    earlier = [
        c for c in (*seg.preamble, *others) if c.kind == "code" and (c.index, c.line_offset) < first
    ]
    return tuple(sorted(earlier, key=lambda c: (c.index, c.line_offset)))


# --------------------------------------------------------------------------- questions


def _question_numbers(questions: Sequence[Question]) -> dict[int, str]:
    """Number -> question id: from the id ("Q3", "question_3"), else the position (1-based)."""
    numbers: dict[int, str] = {}
    for pos, q in enumerate(questions, 1):
        match = re.search(r"(\d+)\s*$", q.id)
        numbers.setdefault(int(match.group(1)) if match else pos, q.id)
    return numbers


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _similarity(text: str, question: Question) -> float:
    """How much the start of ``text`` reads like the question's own text (0..1)."""
    target = _norm(question.text)
    seen = _norm(text)[: len(target) + 8]
    if not target or not seen:
        return 0.0
    # Only scores of 0.5 and more decide anything: text sharing few of the question's
    # words is far below that, and skipping the character comparison keeps this fast.
    words = set(target.split())
    if len(words & set(seen.split())) < 0.3 * len(words):
        return 0.0
    return _ratio(seen, target)


@functools.lru_cache(maxsize=4096)
def _ratio(seen: str, target: str) -> float:
    """Character similarity; cached, since one piece of text is weighed against every
    question several times while a notebook is cut."""
    matcher = SequenceMatcher(None, seen, target, autojunk=False)
    # quick_ratio() bounds ratio() from above and costs a fraction of it.
    return matcher.ratio() if matcher.quick_ratio() >= 0.5 else 0.0


def _best_text_match(text: str, questions: Sequence[Question]) -> tuple[str | None, float]:
    scored = [(_similarity(text, q), q.id) for q in questions]
    score, qid = max(scored, default=(0.0, None))
    return qid, score


# --------------------------------------------------------------------------- headers


class _Found(NamedTuple):
    question: str | None  # None: a number the assignment does not have
    number: int | None  # the number written, if any
    way: str  # "label", "answer-label" ("Ans 3"), "text" (no number), "text-over-number"
    after: str  # the header line after its label


def _header(
    lines: list[str], n: int, questions: Sequence[Question], numbers: dict[int, str], *, prose: bool
) -> _Found | None:
    """Read ``lines[n]`` as a question header, or return None.

    A label ("Q3", "Question 3", "Ans 3") is enough; a bare number ("3.", "## 3.") needs
    a Markdown heading, nothing else on the line, or the question's text after it; a
    line without any number needs the question's text almost verbatim.
    """
    stripped = _DECOR.sub("", lines[n]).strip()
    following = " ".join(lines[n + 1 : n + 3])
    if _ANSWER_LABEL.match(stripped) and not _LABEL.match(stripped):
        return None
    for pattern in (_LABEL, _NUMBER):
        match = pattern.match(stripped)
        if not match:
            continue
        after = stripped[match.end() :].strip()
        qid = numbers.get(int(match.group(1)))
        if qid is None and pattern is _NUMBER:
            return None  # "## 10. Conclusion" is a heading, not a question the notebook lacks
        own = max(
            _similarity(after, _question(questions, qid)),
            _similarity(after + " " + following, _question(questions, qid)),
        )
        if pattern is _NUMBER and not (
            own >= _TEXT_SUPPORT or (prose and (not after or lines[n].lstrip().startswith("#")))
        ):
            return None
        by_text, score = _best_text_match(after, questions)
        if by_text and by_text != qid and score >= _TEXT_HEADER and own < 0.5:
            return _Found(by_text, int(match.group(1)), "text-over-number", after)
        way = "answer-label" if stripped[:3].lower() == "ans" else "label"
        return _Found(qid, int(match.group(1)), way, after)
    by_text, score = _best_text_match(stripped, questions)
    if by_text and score >= _TEXT_HEADER:
        return _Found(by_text, None, "text", stripped)
    return None


def _question(questions: Sequence[Question], qid: str | None) -> Question:
    for q in questions:
        if q.id == qid:
            return q
    return Question("", "", "", "prose", 0.0)


def _body_without_header(cell: Cell, first: int, after: str, question: Question) -> Cell | None:
    """The cell minus its header: the label, and the question text when it is repeated."""
    if cell.kind == "code":
        return cell  # a header comment is harmless code, and line numbers stay true
    lines = cell.source.split("\n")
    rest = [after, *lines[first + 1 :]]
    if answer := re.search(r"\b(?:ans(?:wer)?|sol(?:ution)?)\b\s*[-.:=>]+\s*", after, re.I):
        rest[0] = after[answer.end() :]
    elif not after or after.endswith("?") or _similarity(after, question) >= _TEXT_SUPPORT:
        asked = after
        rest[0] = ""
        # The question text often wraps onto a second line ("...in python?\nWhy is it useful?").
        for k in range(1, min(3, len(rest))):
            line = rest[k].strip()
            joined = f"{asked} {line}"
            score = _similarity(joined, question)
            if line and (
                line.endswith("?")
                or (score >= _TEXT_SUPPORT and score > _similarity(asked, question) + 0.1)
            ):
                asked, rest[k] = joined, ""
            else:
                break
    body = "\n".join(rest)
    if not body.strip():
        return None
    lead = len(body) - len(body.lstrip("\n"))
    return replace(cell, source=body.strip("\n"), line_offset=cell.line_offset + first + lead)


def _substantial(cell: Cell) -> bool:
    """False for empty cells and bare "ANS -" labels: nothing to grade in them."""
    text = _DECOR.sub("", cell.source.strip())
    return bool(text.strip()) and not _ANSWER_LABEL.fullmatch(text)


# --------------------------------------------------------------------------- cells to pieces


def _pieces(
    cell: Cell, questions: Sequence[Question], numbers: dict[int, str], notes: list[str]
) -> list[_Piece]:
    explicit = _explicit(cell, questions, numbers)
    if cell.question and not explicit:
        notes.append(f"cell {cell.index}: metadata names {cell.question!r}, not a question here")
    pieces: list[_Piece] = []
    for part in _expand(cell, notes):
        if explicit:  # metadata decides; what headers inside say is not worth a note
            pieces.append(_classify(part, questions, numbers, []))
        else:
            pieces += [
                _classify(sub, questions, numbers, notes)
                for sub in _split_at_headers(part, questions, numbers)
            ]
    if explicit:
        for p in pieces:
            p.question, p.explicit = explicit, True
            p.content = p.content if p.header else p.cell
    return pieces


def _explicit(cell: Cell, questions: Sequence[Question], numbers: dict[int, str]) -> str | None:
    """The question id metadata gives, matched to this assignment's ids ("Q3" or by number)."""
    if cell.question in {q.id for q in questions}:
        return cell.question
    match = re.fullmatch(r"Q(\d+)", cell.question or "")
    return numbers.get(int(match.group(1))) if match else None


def _classify(
    cell: Cell, questions: Sequence[Question], numbers: dict[int, str], notes: list[str]
) -> _Piece:
    lines = cell.source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or (cell.kind == "code" and not _is_comment_or_string(lines[first])):
        return _Piece(cell)
    found = _header(lines, first, questions, numbers, prose=cell.kind != "code")
    if found is None:
        return _Piece(cell)
    if found.question is None:
        notes.append(
            f"cell {cell.index}: header Q{found.number} names no question of this assignment; "
            "its cells were ignored"
        )
        return _Piece(cell, unknown_header=f"Q{found.number}")
    if found.way == "text-over-number":
        notes.append(
            f"cell {cell.index}: header says Q{found.number} but repeats the text of "
            f"{found.question}; taken as {found.question}"
        )
    elif found.way == "text":
        notes.append(f"cell {cell.index}: no number, but the text is {found.question}'s question")
    body = _body_without_header(cell, first, found.after, _question(questions, found.question))
    return _Piece(cell, found.question, header=True, content=body, way=found.way)


def _is_comment_or_string(line: str) -> bool:
    return bool(re.match(r"\s*(#|[rRuUfF]?[\"'])", line))


def _split_at_headers(
    cell: Cell, questions: Sequence[Question], numbers: dict[int, str]
) -> list[Cell]:
    """Cut a cell that answers several questions at each inner header naming a new one."""
    lines = cell.source.split("\n")
    cuts: list[int] = []
    current = None
    for n, line in enumerate(lines):
        if not line.strip() or not _may_start_question(cell, lines, n):
            continue
        found = _header(lines, n, questions, numbers, prose=cell.kind != "code")
        if found is None or found.question is None:
            continue
        if found.question != current and any(x.strip() for x in lines[:n]):
            cuts.append(n)
        current = found.question
    bounds = [0, *cuts, len(lines)]
    return [
        replace(cell, source="\n".join(lines[a:b]).rstrip("\n"), line_offset=cell.line_offset + a)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]


def _may_start_question(cell: Cell, lines: list[str], n: int) -> bool:
    """Where a cell may be cut: any prose line, or a top-level comment followed by top-level code."""
    if cell.kind != "code":
        return True
    if not lines[n].startswith("#"):
        return False
    following = next(
        (x for x in lines[n + 1 :] if x.strip() and not x.lstrip().startswith("#")), ""
    )
    return not following[:1].isspace()


# --------------------------------------------------------------------------- expansion


def _expand(cell: Cell, notes: list[str]) -> list[Cell]:
    """Normalise where code and prose sit: fences become code, prose-only code becomes prose."""
    if cell.kind == "code":
        prose = _prose_of_code(cell.source)
        return [replace(cell, kind="markdown", source=prose)] if prose is not None else [cell]
    if cell.kind == "raw" and _is_python(cell.source):
        notes.append(f"cell {cell.index}: raw cell holding Python code was treated as code")
        return [replace(cell, kind="code")]
    return _split_fences(cell)


def _split_fences(cell: Cell) -> list[Cell]:
    lines = cell.source.split("\n")
    out: list[Cell] = []
    text_start, n = 0, 0
    while n < len(lines):
        opening = _FENCE.match(lines[n])
        if not opening:
            n += 1
            continue
        close = next(
            (k for k in range(n + 1, len(lines)) if lines[k].strip().startswith(opening.group(2))),
            len(lines),
        )
        body = lines[n + 1 : close]
        lang = opening.group(3).lower()
        is_code = lang in ("python", "py", "python3", "ipython", "ipython3") or (
            not lang and _is_python("\n".join(body))
        )
        if is_code:
            indent = len(opening.group(1))
            code = "\n".join(x[indent:] if x[:indent].isspace() else x for x in body)
            out += _text_part(cell, lines, text_start, n)
            out.append(
                replace(cell, kind="code", source=code, line_offset=cell.line_offset + n + 1)
            )
            text_start = close + 1
        n = close + 1
    out += _text_part(cell, lines, text_start, len(lines))
    return out or [cell]


def _text_part(cell: Cell, lines: list[str], start: int, end: int) -> list[Cell]:
    while start < end and not lines[start].strip():
        start += 1
    if start == end:
        return []
    source = "\n".join(lines[start:end]).rstrip()
    return [replace(cell, source=source, line_offset=cell.line_offset + start)]


def _is_python(source: str) -> bool:
    """Does ``source`` parse as Python that does something (not just a literal, as outputs do)?"""
    if not source.strip():
        return False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    inert = (ast.Constant, ast.List, ast.Tuple, ast.Name, ast.Dict, ast.Set, ast.UnaryOp)
    return any(not (isinstance(s, ast.Expr) and isinstance(s.value, inert)) for s in tree.body)


def _prose_of_code(source: str) -> str | None:
    """The text of a code cell made only of comments and strings (prose typed into code)."""
    if not source.strip():
        return None
    try:
        tree = ast.parse(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, ValueError, tokenize.TokenError):
        return None
    if not all(
        isinstance(s, ast.Expr)
        and isinstance(s.value, ast.Constant)
        and isinstance(s.value.value, str)
        for s in tree.body
    ):
        return None
    texts = [
        (t.start[0], t.string.lstrip("#").strip()) for t in tokens if t.type == tokenize.COMMENT
    ]
    texts += [(s.lineno, str(s.value.value).strip()) for s in tree.body]  # type: ignore[attr-defined]
    return "\n".join(text for _, text in sorted(texts))


# --------------------------------------------------------------------------- numbering


def _resolve_duplicates(
    pieces: list[_Piece], questions: Sequence[Question], notes: list[str]
) -> None:
    """A question headed twice: take the second as the next unheaded question, else merge.

    "Q4 ..." followed by "Ans 4 ..." is one question, not a duplicate.
    """
    order = [q.id for q in questions]
    headed = {p.question for p in pieces if p.header and not p.explicit}
    seen: set[str] = set()
    previous: str | None = None
    for p in pieces:
        if not p.header or p.explicit or p.question is None:
            continue
        qid = p.question
        if qid in seen and not (qid == previous and p.way == "answer-label"):
            following = order[order.index(previous) + 1] if previous in order[:-1] else None
            if following and following not in headed:
                notes.append(
                    f"cell {p.cell.index}: a second header for {qid} follows {previous}; "
                    f"taken as {following}, which has no header"
                )
                p.question = qid = following
                headed.add(following)
            else:
                notes.append(
                    f"cell {p.cell.index}: a second header for {qid}; both parts were kept"
                )
        seen.add(qid)
        previous = qid


def _by_order(
    pieces: list[_Piece], questions: Sequence[Question], notes: list[str]
) -> Segmentation:
    """No headers at all: one block (prose then code) per question, if the counts agree."""
    blocks: list[list[Cell]] = []
    for p in pieces:
        if not _substantial(p.cell):
            continue
        if not blocks or (p.cell.kind != "code" and blocks[-1][-1].kind == "code"):
            blocks.append([])
        blocks[-1].append(p.cell)
    code_cells = [c for block in blocks for c in block if c.kind == "code"]
    code_questions = [q for q in questions if q.kind == "code"]
    if len(blocks) == len(questions):
        pairs = list(zip(questions, blocks, strict=True))
    elif (
        blocks
        and len(code_cells) == len(code_questions)
        and len(code_cells) == sum(map(len, blocks))
    ):
        pairs = [(q, [c]) for q, c in zip(code_questions, code_cells, strict=True)]
    else:
        notes.append("no question headers found; nothing could be attributed to a question")
        return Segmentation({}, tuple(c for b in blocks for c in b), tuple(notes))
    notes.append("no question headers found; answers were attributed by their order")
    return Segmentation({q.id: Answer(q.id, tuple(b), "order") for q, b in pairs}, (), tuple(notes))
