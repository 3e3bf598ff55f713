"""Find the answer to every question of a submission, as one decision.

Students mark questions in a dozen ways (``Q3.``, ``Q.3``, ``Question 3:``,
``Ans 3 :``, ``## 3.``, a ``# Q3`` comment, the question text pasted without a
number), number them wrongly or not at all, answer two questions in one cell,
put code in Markdown (fenced, unfenced, inside triple quotes) and prose in code
cells. So answers are not found by rules applied cell by cell but in two steps:

1. The cells are cut into *units*, each prose or code: fenced and unfenced code
   in Markdown becomes code, a code cell made of comments becomes prose, a code
   cell that mixes English and Python yields its prose and keeps its code, a
   cell holding several headers is cut at each. A unit may carry a question
   explicitly (metadata, tags) or by a header.
2. One global assignment labels every unit with a question (or the preamble),
   by dynamic programming over the units in order. Metadata and headers fix a
   unit's label; the other units continue the question before them or start
   a question that has no header, when what they are (prose or code; a single
   Process, a Pool given work, four processes, a Pipe...) and their words fit
   that question clearly better. Answers come in question order, each question
   wants the kind of unit it asks for (code, or prose), and in a notebook
   without any header whose blocks match the questions one to one, order
   decides what content cannot.

Every answer records how it was attributed (metadata / header / content / order)
and why, and anything unsure is written to ``Segmentation.notes``.
"""

from __future__ import annotations

import ast
import functools
import io
import math
import re
import textwrap
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from typing import NamedTuple

from mpgrade import patterns, regexes
from mpgrade.magics import neutralise
from mpgrade.model import Answer, Attribution, Cell, Question, Segmentation, Submission, value_class
from mpgrade.textcode import code_regions, is_prose, looks_like_code
from mpgrade.untrusted import call_name

__all__ = ["context_for", "segment"]

# Leading decoration of a header line: Markdown heading/quote/emphasis marks, HTML tags,
# comment marks, and cell markers of exported scripts.
_DECOR = regexes.compile(
    r"^(?:[\s#>*_|~`\"']+|<[^>]*>|%%|In\s*\[[\s\d]*\]\s*:?|[rRuUfF]?(?:\"\"\"|'''))+"
)
# "Q3.", "Q.3", "Q3)", "Q 3:", "Question 3:", "Ques 3", "Que.3", "Qno. 3", "Ans 3 :", "Ans3.",
# "Answer 3", "Answer = 3"
_LABEL = regexes.compile(
    r"(?:q(?:uestion|ues|ue|n)?|ans(?:wer)?)\s*(?:no\.?|number|#)?\s*[.\-:=]?\s*(\d{1,2})(?![\d\]])"
    r"[\s.):\-*_=]*",
    re.I,
)
# "3.", "3)", "## 3.", "5.)" -- a bare number, trusted only with more evidence (see _header).
_NUMBER = regexes.compile(r"(\d{1,2})\s*[.):](?![\d])[\s.)*_]*")
# "ANS -", "Answer:", "Solution" -- marks where an answer starts, never a new question.
_ANSWER_LABEL = regexes.compile(
    r"^\s*(?:ans(?:wer)?|sol(?:ution)?)\b\s*(?:\d{1,2})?\s*[-.:)=>]*\s*", re.I
)
# "... and 5", "& Q5", "/5": a header answering two questions at once ("Question 4 and 5").
_AND_NUMBER = regexes.compile(r"(?:and|&|/|,)\s*(?:q(?:uestion|ues)?\s*\.?\s*)?(\d{1,2})(?!\d)", re.I)
_FENCE = regexes.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)[^\n]*$")
_TRIPLE = regexes.compile(r"^\s*[rRuUfF]?(?:\"\"\"|''')|(?:\"\"\"|''')\s*$")

_TEXT_HEADER = 0.8  # similarity for a header that is only the question's text
_TEXT_SUPPORT = 0.6  # similarity that backs a bare number or a header line to drop
_MAX_UNITS = 3000  # units beyond this continue the last question (bounds the assignment)
_MAX_PARSE = 100_000  # characters of one unit handed to ``ast``
_MAX_LINES = 5000  # lines of one cell looked at line by line (headers, prose, pasted code)
_MAX_WORDS = 4000  # characters of one unit whose words are compared with the questions

# Weights of the assignment (see _assign). A unit starts a question without a header only
# when it fits that question by more than _START over the question it would continue.
_START = 0.3
_MIN_START = 0.2  # and only when it fits that question at least this well
_FIT = 0.5  # a question's first unit of the kind it asks for (code, or prose)
_WORDS_FLOOR = 3.0  # a question of few distinctive words is not matched by common ones
_ORDER = 0.6  # the n-th block of a header-less notebook whose blocks match the questions


@dataclass
class _Unit:
    """A cell, or part of one, and what segmentation learned about it."""

    cell: Cell
    origin: int = 0  # the cell it was cut from: units of one cell stay together unless headed
    question: str | None = None  # the question it starts or belongs to (explicit or header)
    explicit: bool = False  # question came from metadata/tags
    header: bool = False  # the unit starts a question
    content: Cell | None = None  # what belongs to the answer (header lines removed)
    unknown_header: str = ""  # a header naming no question of the assignment
    way: str = ""  # how the header named its question (see _Found.way)
    shown: str = ""  # the header as written, for the attribution
    also: str | None = None  # a second question the header names: it shares the answer


@dataclass
class _Ctx:
    questions: Sequence[Question]
    numbers: dict[int, str]
    notes: list[str] = field(default_factory=list)
    bare_numbers: bool = False  # cells opening with "1." .. "6." are headers in this file


def segment(sub: Submission, questions: Sequence[Question]) -> Segmentation:
    """Attribute the cells of ``sub`` to ``questions``; see the module notes for the rules."""
    ctx = _Ctx(questions, _question_numbers(questions))
    ctx.bare_numbers = _numbered_cells(sub.cells, ctx)
    units = [u for cell in sub.cells for u in _pieces(cell, ctx)]
    _resolve_duplicates(units, questions, ctx.notes)
    labels, starts = _assign(units, ctx)

    parts: dict[str, list[Cell]] = {}
    how: dict[str, Attribution] = {}
    preamble: list[Cell] = []
    shared: dict[str, list[Cell]] = {}  # answers a header gives to a second question
    sharing: list[Cell] | None = None
    for unit, label, start in zip(units, labels, starts, strict=True):
        content = unit.content if (unit.header or unit.explicit) else unit.cell
        if label is None:
            if unit.cell.source.strip() and not unit.unknown_header:
                preamble.append(unit.cell)
            continue
        if label == "":
            continue  # under a header that names no question of this assignment
        if start is not None:
            how.setdefault(label, start)
            sharing = shared.setdefault(unit.also, []) if unit.header and unit.also else None
            if sharing is not None and unit.also:
                how.setdefault(unit.also, start)
        if content is not None and _substantial(content):
            parts.setdefault(label, []).append(content)
            if sharing is not None:
                sharing.append(content)
    for qid, cells in shared.items():
        if cells and not parts.get(qid):
            parts[qid] = cells
            ctx.notes.append(f"a header names {qid} with another question; they share one answer")
    answers = {
        q.id: Answer(q.id, tuple(parts[q.id]), how.get(q.id, Attribution("order")))
        for q in questions
        if parts.get(q.id)
    }
    empty = tuple(q.id for q in questions if q.id not in answers and q.id in how and how[q.id].named)
    return Segmentation(answers, tuple(preamble), tuple(ctx.notes), empty)


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


_WORD = regexes.compile(r"[a-z0-9]+")


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


@functools.lru_cache(maxsize=256)
def _target(question_text: str) -> tuple[str, frozenset[str]]:
    """A question's text as ``_similarity`` compares it, and its content words: the same
    few questions are weighed against every piece of every notebook."""
    target = _norm(question_text)
    return target, frozenset(target.split()) - _GLUE


def _similarity(text: str, question: Question) -> float:
    """How much the start of ``text`` reads like the question's own text (0..1)."""
    target, words = _target(question.text)
    seen = _norm(text[: 4 * len(question.text) + 64])[: len(target) + 8]
    if not target or not seen:
        return 0.0
    # Only scores of 0.5 and more decide anything: text sharing few of the question's
    # content words is far below that, and skipping the character comparison keeps this fast.
    if len(words & set(seen.split())) < 0.5 * len(words):
        return 0.0
    return _ratio(seen, target)


_GLUE = set("a an the is are in of to and or it its what why how can we do does python".split())


@functools.lru_cache(maxsize=4096)
def _ratio(seen: str, target: str) -> float:
    """Character similarity; cached, since one piece of text is weighed against every
    question several times while a notebook is cut."""
    matcher = SequenceMatcher(None, seen, target, autojunk=False)
    # quick_ratio() bounds ratio() from above and costs a fraction of it.
    return matcher.ratio() if matcher.quick_ratio() >= 0.5 else 0.0


@functools.lru_cache(maxsize=2048)  # texts are cut at _MAX_WORDS chars: at most ~8 MB
def _mentions(text: str, synonyms: tuple[str, ...]) -> bool:
    """``patterns.mentions``, cached: the cells a class got with the assignment (its
    questions, its instructions) are the same text in every notebook of a batch, and
    every one is weighed against each concept of each question."""
    return patterns.mentions(text, synonyms)


def _best_text_match(text: str, questions: Sequence[Question]) -> tuple[str | None, float]:
    scored = [(_similarity(text, q), q.id) for q in questions]
    score, qid = max(scored, default=(0.0, None))
    return qid, score


def _question(questions: Sequence[Question], qid: str | None) -> Question:
    for q in questions:
        if q.id == qid:
            return q
    return Question("", "", "", "prose", 0.0)


# --------------------------------------------------------------------------- headers


class _Found(NamedTuple):
    question: str | None  # None: a number the assignment does not have
    number: int | None  # the number written, if any
    way: str  # "label", "answer-label" ("Ans 3"), "text" (no number), "text-over-number"
    after: str  # the header line after its label
    shown: str = ""  # the header as written
    also: str | None = None  # a second question the header names ("Question 4 and 5")


def _header(lines: list[str], n: int, ctx: _Ctx, *, prose: bool, start: bool = False) -> _Found | None:
    """Read ``lines[n]`` as a question header, or return None.

    A label ("Q3", "Question 3", "Ans 3") is enough; a bare number ("3.", "## 3.") needs
    a Markdown heading, nothing else on the line, the question's text after it, or a
    file whose cells open with increasing numbers (``start``: the line opens its cell);
    a line without any number needs the question's text almost verbatim.
    """
    questions = ctx.questions
    stripped = _DECOR.sub("", lines[n][:1000]).strip()
    shown = _shown(stripped)
    following = " ".join(lines[n + 1 : n + 3])
    if _ANSWER_LABEL.match(stripped) and not _LABEL.match(stripped):
        return None
    for pattern in (_LABEL, _NUMBER):
        match = pattern.match(stripped)
        if not match:
            continue
        after = stripped[match.end() :].strip()
        qid = ctx.numbers.get(int(match.group(1)))
        if qid is None and pattern is _NUMBER:
            return None  # "## 10. Conclusion" is a heading, not a question the notebook lacks
        own = max(
            _similarity(after, _question(questions, qid)),
            _similarity(after + " " + following, _question(questions, qid)),
        )
        if pattern is _NUMBER and not (
            own >= _TEXT_SUPPORT
            or (prose and (not after or lines[n].lstrip().startswith("#")))
            or (start and ctx.bare_numbers)
        ):
            return None
        by_text, score = _best_text_match(after, questions)
        if by_text and by_text != qid and score >= _TEXT_HEADER and own < 0.5:
            return _Found(by_text, int(match.group(1)), "text-over-number", after, shown)
        way = "answer-label" if stripped[:3].lower() == "ans" else "label"
        second = _AND_NUMBER.match(after)
        also = ctx.numbers.get(int(second.group(1))) if second else None
        if second and also:
            after = after[second.end() :].strip(" .):-")
        return _Found(qid, int(match.group(1)), way, after, shown, also if also != qid else None)
    by_text, score = _best_text_match(stripped, questions)
    if by_text and score >= _TEXT_HEADER:
        return _Found(by_text, None, "text", stripped, shown)
    return None


def _shown(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _numbered_cells(cells: Sequence[Cell], ctx: _Ctx) -> bool:
    """Do the cells open with "1.", "2.", "3." ... (and no "Q3"-style label anywhere)?

    Then those bare numbers are the questions' headers, in code cells too, where
    "3." alone is a float literal.
    """
    seen: list[int] = []
    for cell in cells:
        lines = cell.source.split("\n")[:400]
        if any(_LABEL.match(_DECOR.sub("", line).strip()) for line in lines):
            return False
        first = next((line for line in lines if line.strip()), "")
        match = _NUMBER.match(_DECOR.sub("", first).strip())
        if match and int(match.group(1)) in ctx.numbers:
            seen.append(int(match.group(1)))
    increasing = all(a <= b for a, b in zip(seen, seen[1:], strict=False))
    return increasing and len(set(seen)) >= 3


def _body_without_header(cell: Cell, first: int, after: str, question: Question) -> Cell | None:
    """The cell minus its header: the label, and the question text when it is repeated."""
    if cell.kind == "code":
        return cell  # a header comment is harmless code, and line numbers stay true
    lines = cell.source.split("\n")
    rest = [after, *lines[first + 1 :]]
    if answer := re.search(r"\b(?:ans(?:wer)?|sol(?:ution)?)\b\s*[-.:=>]+\s*", after, re.I):
        rest[0] = after[answer.end() :]
    elif (
        not after
        or after.endswith("?")
        # the question repeated, not an answer that starts by restating it
        or (_similarity(after, question) >= _TEXT_SUPPORT and len(after) <= 1.5 * len(question.text))
    ):
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


# --------------------------------------------------------------------------- cells to units


def _pieces(cell: Cell, ctx: _Ctx) -> list[_Unit]:
    explicit = _explicit(cell, ctx)
    if cell.question and not explicit:
        ctx.notes.append(
            f"cell {cell.index + 1}: metadata names {cell.question!r}, not a question here"
        )
    units: list[_Unit] = []
    # Text is cut at its fences before its headers (a "# Q5" comment in fenced code is no
    # header); a code cell at its headers before its prose is told from its code.
    parts = [cell] if cell.kind == "code" else _expand(cell, ctx.notes)
    for part in parts:
        subs, listed = ([part], False) if explicit else _split_at_headers(part, ctx)
        for sub in subs:
            pieces = _expand(sub, ctx.notes) if sub.kind == "code" else [sub]
            for n, piece in enumerate(pieces):
                # metadata decides; what headers inside say is not worth a note
                first = n == 0 and not listed
                unit = _classify(piece, ctx, quiet=bool(explicit)) if first else _Unit(piece)
                units += _pasted_code(unit, ctx.notes)
    for u in units:
        u.origin = cell.index
        if explicit:
            u.question, u.explicit = explicit, True
            u.content = u.content if u.header else u.cell
    return units


def _explicit(cell: Cell, ctx: _Ctx) -> str | None:
    """The question id metadata gives, matched to this assignment's ids ("Q3" or by number)."""
    if cell.question in {q.id for q in ctx.questions}:
        return cell.question
    match = re.fullmatch(r"Q(\d+)", cell.question or "")
    return ctx.numbers.get(int(match.group(1))) if match else None


def _classify(cell: Cell, ctx: _Ctx, *, quiet: bool = False) -> _Unit:
    notes: list[str] = [] if quiet else ctx.notes
    lines = cell.source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return _Unit(cell)
    opens = cell.line_offset == 0 or cell.from_script
    code = cell.kind == "code"
    prose_line = code and _is_label_or_prose(lines[first])
    if code and not (_is_comment_or_string(lines[first]) or prose_line or _bare_number(lines[first])):
        return _Unit(cell)
    found = _header(lines, first, ctx, prose=not code or prose_line, start=opens and first == 0)
    if found is None:
        return _Unit(cell)
    if found.question is None:
        notes.append(
            f"cell {cell.index + 1}: header Q{found.number} names no question of this assignment; "
            "its cells were ignored"
        )
        return _Unit(cell, unknown_header=f"Q{found.number}")
    if found.way == "text-over-number":
        notes.append(
            f"cell {cell.index + 1}: header says Q{found.number} but repeats the text of "
            f"{found.question}; taken as {found.question}"
        )
    elif found.way == "text":
        notes.append(f"cell {cell.index + 1}: no number, but the text is {found.question}'s question")
    body = _body_without_header(cell, first, found.after, _question(ctx.questions, found.question))
    return _Unit(
        cell,
        question=found.question,
        header=True,
        content=body,
        way=found.way,
        shown=found.shown,
        also=found.also,
    )


def _is_comment_or_string(line: str) -> bool:
    return bool(re.match(r"\s*(#|[rRuUfF]?[\"'])", line))


def _bare_number(line: str) -> bool:
    return bool(re.fullmatch(r"\s*\d{1,2}\s*[.):]+\s*", line))


def _is_label_or_prose(line: str) -> bool:
    """A code cell's line that is a question label or English ("Q5. To create a pool ...")."""
    stripped = line.strip()
    if _is_comment_or_string(stripped) or looks_like_code(stripped):
        return False
    return bool(_LABEL.match(stripped)) or _bare_number(stripped) or is_prose(stripped)


def _split_at_headers(cell: Cell, ctx: _Ctx) -> tuple[list[Cell], bool]:
    """Cut a cell that answers several questions at each inner header naming a new one.

    A cell that is only a list of the questions (every piece a bare header) is not cut
    and says so (True): it is the assignment's text, not the start of its answers.
    """
    lines = cell.source.split("\n")
    cuts: list[int] = []
    current = None
    prose = cell.kind != "code"
    for n, line in enumerate(lines[:_MAX_LINES]):
        if not line.strip() or not _may_start_question(cell, lines, n):
            continue
        found = _header(lines, n, ctx, prose=prose or _is_label_or_prose(line))
        if found is None or found.question is None:
            continue
        if found.question != current and any(x.strip() for x in lines[:n]):
            cuts.append(n)
        current = found.question
    bounds = [0, *cuts, len(lines)]
    pieces = [
        replace(cell, source="\n".join(lines[a:b]).rstrip("\n"), line_offset=cell.line_offset + a)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    if len(pieces) >= 3 and all(
        sum(1 for x in p.source.split("\n") if x.strip()) <= 2 for p in pieces
    ):
        return [replace(cell, kind="markdown")], True
    return pieces, False


def _may_start_question(cell: Cell, lines: list[str], n: int) -> bool:
    """Where a cell may be cut: any prose line, or a top-level comment followed by top-level code."""
    if cell.kind != "code":
        return True
    if not lines[n].startswith("#") and not (n == 0 or _is_label_or_prose(lines[n])):
        return False
    following = next(
        (x for x in lines[n + 1 :] if x.strip() and not x.lstrip().startswith("#")), ""
    )
    return not following[:1].isspace()


# --------------------------------------------------------------------------- expansion


def _expand(cell: Cell, notes: list[str]) -> list[Cell]:
    """Normalise where code and prose sit: fences become code, prose-only code becomes prose,
    a code cell mixing English and Python yields its English as prose and keeps its code."""
    if cell.kind == "code":
        return _code_cell(cell)
    if cell.kind == "raw" and _is_python(cell.source):
        notes.append(f"cell {cell.index + 1}: raw cell holding Python code was treated as code")
        return [replace(cell, kind="code")]
    return _split_fences(cell)


def _code_cell(cell: Cell) -> list[Cell]:
    source, _ = neutralise(cell.source)
    if source is None or len(source) > _MAX_PARSE:
        return [cell]
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _mixed_code_cell(cell)
    prose = _prose_of_code(cell.source)
    return [replace(cell, kind="markdown", source=prose)] if prose is not None else [cell]


def _mixed_code_cell(cell: Cell) -> list[Cell]:
    """A code cell that does not compile: English typed into it, or no code at all.

    With no line of code it is prose. Otherwise its English lines (the question pasted
    above the code, an answer label, explanations) form a prose part, and the whole cell
    stays code: the build salvages it and says what it changed.
    """
    lines = cell.source.split("\n")
    code = [n for n, line in enumerate(lines[:_MAX_LINES]) if looks_like_code(line)]
    prose = [
        n for n, line in enumerate(lines[:_MAX_LINES]) if line.strip() and _is_label_or_prose(line)
    ]
    if not code:
        return [replace(cell, kind="markdown")]
    if not prose or sum(len(lines[n].split()) for n in prose) < 4:
        return [cell]
    text = replace(
        cell,
        kind="markdown",
        source="\n".join(lines[n] for n in prose),
        line_offset=cell.line_offset + prose[0],
    )
    return [text, cell] if prose[0] <= code[0] else [cell, text]


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


def _pasted_code(unit: _Unit, notes: list[str]) -> list[_Unit]:
    """Prose holding a program without fences (or inside triple quotes): cut out the code."""
    content = unit.content if unit.header else unit.cell
    if content is None or content.kind == "code" or not _substantial(content):
        return [unit]
    lines = [_TRIPLE.sub("", line) if _TRIPLE.search(line) else line for line in content.source.split("\n")]
    regions = code_regions(lines[:_MAX_LINES])
    if not regions:
        return [unit]
    notes.append(f"cell {content.index + 1}: code written in a text cell was taken as code")
    cells: list[Cell] = []
    at = 0
    for start, end in regions:
        cells += _text_part(content, lines, at, start)
        code = textwrap.dedent("\n".join(lines[start:end])).strip("\n")
        cells.append(replace(content, kind="code", source=code, line_offset=content.line_offset + start))
        at = end
    cells += _text_part(content, lines, at, len(lines))
    if unit.header or unit.explicit:
        units = [replace(unit, content=cells[0])]
    else:
        units = [replace(unit, cell=cells[0])]
    return units + [_Unit(c, content=c) for c in cells[1:]]


def _is_python(source: str) -> bool:
    """Does ``source`` parse as Python that does something (not just a literal, as outputs do)?"""
    if not source.strip() or len(source) > _MAX_PARSE:
        return False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    inert = (ast.Constant, ast.List, ast.Tuple, ast.Name, ast.Dict, ast.Set, ast.UnaryOp)
    return any(not (isinstance(s, ast.Expr) and isinstance(s.value, inert)) for s in tree.body)


def _prose_of_code(source: str) -> str | None:
    """The text of a code cell made only of comments and strings (prose typed into code)."""
    if not source.strip() or len(source) > _MAX_PARSE:
        return None
    try:
        tree = ast.parse(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, ValueError, tokenize.TokenError, RecursionError, MemoryError):
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


def _resolve_duplicates(units: list[_Unit], questions: Sequence[Question], notes: list[str]) -> None:
    """A question headed twice: take the second as the next unheaded question, else merge.

    "Q4 ..." followed by "Ans 4 ..." is one question, not a duplicate, and so is a header
    repeated before any answer (a Markdown "Q3." and a "# Q3" comment atop the code).
    """
    order = [q.id for q in questions]
    headed = {u.question for u in units if u.header and not u.explicit}
    seen: set[str] = set()
    previous: str | None = None
    answered = False  # the previous header has content after it
    for u in units:
        if not u.header or u.explicit or u.question is None:
            answered = answered or (u.cell is not None and _substantial(u.cell))
            continue
        qid = u.question
        repeated = qid == previous and (u.way == "answer-label" or not answered)
        answered = u.content is not None and _substantial(u.content)
        if qid in seen and not repeated:
            following = order[order.index(previous) + 1] if previous in order[:-1] else None
            if following and following not in headed:
                notes.append(
                    f"cell {u.cell.index + 1}: a second header for {qid} follows {previous}; "
                    f"taken as {following}, which has no header"
                )
                u.question = qid = following
                headed.add(following)
            elif qid != previous:
                notes.append(
                    f"cell {u.cell.index + 1}: a second header for {qid}; both parts were kept"
                )
        seen.add(qid)
        previous = qid


# --------------------------------------------------------------------------- what a unit is


_POOL_WORK = {
    "map", "map_async", "starmap", "starmap_async", "imap", "imap_unordered", "apply",
    "apply_async", "submit",
}  # fmt: skip
_API = {"Pipe": "pipe", "Queue": "queue", "JoinableQueue": "queue", "SimpleQueue": "queue",
        "Lock": "lock", "RLock": "lock", "Value": "value", "Array": "value",
        "Manager": "manager"}  # fmt: skip
_STOP = set(
    "the and for with that this what why how are can using use does from into its their there "
    "each should which when where python module program code write create".split()
)


@value_class
class _Features:
    """What a unit is: the multiprocessing it does (code) and the words it uses."""

    code: bool
    processes: int = 0  # Process objects created; one in a loop counts the loop's length
    threads: bool = False
    pool: str = ""  # "", "process", "thread"
    pool_work: str = ""  # the first method that gave the pool work ("map", ...)
    apis: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
    counts: dict[str, int] = field(default_factory=dict, hash=False, compare=False)

    def describe(self) -> str:
        """Half a sentence: "a Pool with map", "4 Processes", "prose"."""
        parts = []
        if self.pool:
            kind = "a Pool" if self.pool == "process" else "a thread pool"
            parts.append(f"{kind} with {self.pool_work}" if self.pool_work else kind)
        if self.processes:
            parts.append("a single Process" if self.processes == 1 else f"{self.processes} Processes")
        if self.threads and not self.processes:
            parts.append("threads")
        parts += [f"a {api.capitalize()}" for api in sorted(self.apis)]
        if parts:
            return ", ".join(parts)
        return "code" if self.code else "text"


@value_class
class _Profile:
    """What a question asks for, read from its text, kind and rubric."""

    need: str  # "code" or "prose": the kind of unit an answer cannot do without
    prose_ok: bool  # prose answers it (prose questions, optional code, a written part)
    pool: bool
    processes: int  # 0 not asked, 1 "a process", N "N processes"
    apis: frozenset[str]
    words: frozenset[str]
    concepts: tuple[tuple[str, ...], ...]  # rubric synonyms, one tuple per concept


_COUNT = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "eight": 8, "ten": 10}


def _profile(q: Question) -> _Profile:
    text = q.text.lower()
    pool = bool(re.search(r"\bpool", text))
    count = re.search(r"\b(\d+|two|three|four|five|six|eight|ten)\s+(?:\w+\s+)?process", text)
    if count:
        processes = int(_COUNT.get(count.group(1), count.group(1) if count.group(1).isdigit() else 1))
    else:
        processes = 1 if re.search(r"\bprocess(?:es)?\b", text) and not pool else 0
    apis = frozenset(api for name, api in _API.items() if re.search(rf"\b{name.lower()}\b", text))
    concepts = tuple(c.synonyms for c in q.rubric.concepts) if q.rubric else ()
    return _Profile(
        need="code" if q.kind == "code" and not q.code_optional else "prose",
        prose_ok=q.kind == "prose" or q.code_optional or q.rubric is not None,
        pool=pool,
        processes=processes,
        apis=apis,
        words=_stems(q.text),
        concepts=concepts,
    )


def _stems(text: str) -> frozenset[str]:
    return frozenset(_word_counts(text))


def _word_counts(text: str) -> dict[str, int]:
    """Content words, crudely stemmed ("processes" -> "process", "multithreading" ->
    "multithread" and "thread"), so that an answer's words meet the question's."""
    out: dict[str, int] = {}
    for word in re.findall(r"[a-z]{3,}", text[:_MAX_WORDS].lower()):
        if word in _STOP:
            continue
        stem = _stem(word)
        out[stem] = out.get(stem, 0) + 1
        if stem.startswith("multi") and len(stem) > 8:
            out[stem[5:]] = out.get(stem[5:], 0) + 1
    return out


@functools.lru_cache(maxsize=8192)
def _stem(word: str) -> str:
    if word.endswith(("sses", "xes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    if word.endswith("ing") and len(word) > 6:
        word = word[:-3]
    return word


def _features(cell: Cell) -> _Features:
    text = cell.source
    if cell.kind != "code":
        counts = _word_counts(text)
        return _Features(False, words=frozenset(counts), counts=counts)
    comments = " ".join(re.findall(r"#([^\n]*)", text[:_MAX_WORDS]))
    strings = " ".join(re.findall(r"(?:\"\"\"|''')(.*?)(?:\"\"\"|''')", text[:_MAX_WORDS], re.S))
    counts = _word_counts(comments + " " + strings)
    words = frozenset(counts)
    source, _ = neutralise(text)
    tree = None
    if source is not None and len(source) <= _MAX_PARSE:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None
    if tree is None:
        return _text_features(text, counts)
    walker = _Walker()
    try:
        walker.visit(tree)
    except RecursionError:
        return _text_features(text, counts)
    return _Features(
        True,
        processes=walker.processes,
        threads=walker.threads,
        pool=walker.pool,
        pool_work=walker.pool_work if walker.pool else "",
        apis=frozenset(walker.apis),
        words=words,
        counts=counts,
    )


def _text_features(text: str, counts: dict[str, int]) -> _Features:
    """Features of code that does not parse, from its text alone."""
    head = text[:_MAX_PARSE]
    calls = re.findall(r"\b(\w+)\s*\(", head)
    processes = calls.count("Process")
    if processes and re.search(r"for\s+\w+\s+in\s+.*:\s*\n(?:.*\n){0,4}?.*\bProcess\s*\(", head):
        processes = max(processes, 4)
    pool = "thread" if "ThreadPool" in calls or "ThreadPoolExecutor" in calls else ""
    pool = pool or ("process" if "Pool" in calls or "ProcessPoolExecutor" in calls else "")
    work = next((m for m in re.findall(r"\.(\w+)\s*\(", head) if m in _POOL_WORK), "")
    return _Features(
        True,
        processes=processes,
        threads="Thread" in calls,
        pool=pool,
        pool_work=work if pool else "",
        apis=frozenset(api for name, api in _API.items() if name in calls),
        words=frozenset(counts),
        counts=counts,
    )


class _Walker(ast.NodeVisitor):
    """Counts what a program's calls create; a call inside a loop counts the loop's length."""

    def __init__(self) -> None:
        self.processes = 0
        self.threads = False
        self.pool = ""
        self.pool_work = ""
        self.apis: set[str] = set()
        self.subclasses = {"Process"}
        self.times = 1
        self.nodes = 0

    def generic_visit(self, node: ast.AST) -> None:
        self.nodes += 1
        if self.nodes < 20_000:
            super().generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if any(call_name(b) in self.subclasses for b in node.bases):
            self.subclasses.add(node.name)
        self.generic_visit(node)

    def _loop(self, node: ast.AST, count: int) -> None:
        before, self.times = self.times, min(self.times * count, 1000)
        self.generic_visit(node)
        self.times = before

    def visit_For(self, node: ast.For) -> None:
        self._loop(node, _length(node.iter))

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._loop(node, _length(node.generators[0].iter))

    visit_GeneratorExp = visit_ListComp  # noqa: N815 - the ast visitor's naming

    def visit_While(self, node: ast.While) -> None:
        self._loop(node, 4)

    def visit_Call(self, node: ast.Call) -> None:
        name = call_name(node)
        if name in self.subclasses:
            self.processes += self.times
        elif name == "Thread":
            self.threads = True
        elif name in ("Pool", "ProcessPoolExecutor") and not self.pool:
            self.pool = "process"
        elif name in ("ThreadPool", "ThreadPoolExecutor") and not self.pool:
            self.pool = "thread"
        elif name in _API:
            self.apis.add(_API[name])
        elif isinstance(node.func, ast.Attribute) and name in _POOL_WORK and not self.pool_work:
            self.pool_work = name
        self.generic_visit(node)


def _length(node: ast.AST) -> int:
    """How many times a loop over ``node`` runs, when it is plain; else 4 ("several")."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return max(1, len(node.elts))
    if isinstance(node, ast.Call) and call_name(node) == "range":
        values = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, int)]
        if len(values) == len(node.args) == 1:
            return max(1, min(values[0], 1000))
        if len(values) == len(node.args) >= 2:
            return max(1, min(len(range(*values[:3])), 1000)) if values[-1] != 0 else 1
    return 4


def _affinity(f: _Features, p: _Profile, idf: dict[str, float], weight: float, text: str) -> float:
    """How well a unit fits a question, 0..1: its multiprocessing, then its words."""
    found = sum(idf.get(w, 0.0) * min(1.0, f.counts.get(w, 1) / 2) for w in f.words & p.words)
    words = found / max(weight, _WORDS_FLOOR)
    if p.concepts:
        hits = sum(1 for synonyms in p.concepts if _mentions(text, synonyms))
        words = 0.6 * words + 0.4 * hits / len(p.concepts)
    if not f.code:
        return words if p.prose_ok else 0.7 * words
    if p.need == "prose" and not (p.pool or p.processes or p.apis):
        return 0.2 * words
    score = 0.0
    if p.pool:
        if f.pool:
            score += 0.5 + (0.3 if f.pool_work else 0.0)
        elif f.processes:
            score += 0.1
    if p.processes:
        if f.processes:
            score += 0.5
            if p.processes > 1:
                score += 0.3 if f.processes >= p.processes else 0.0
            else:
                score += 0.3 if f.processes == 1 else 0.15
        elif f.pool or f.threads:
            score += 0.15
    score += 0.2 * len(f.apis & p.apis)
    return min(1.0, max(score, 0.5 * words))


# --------------------------------------------------------------------------- the assignment


def _assign(units: list[_Unit], ctx: _Ctx) -> tuple[list[str | None], list[Attribution | None]]:
    """Label every unit: a question id, None (preamble) or "" (under an unknown header).

    Dynamic programming over the units in order; the state is the current question and
    whether its answer already holds a unit of the kind it asks for. A unit with metadata
    or a header takes its question (forward or back). Any other unit continues the current
    question, or starts a later question that has no header anywhere (before the next
    headed one), paying ``_START``; a question's first unit of the kind it needs earns
    ``_FIT``; each unit adds its affinity to its question. Returns the labels, and for the
    unit that starts each answer, how it was attributed.
    """
    qs = list(ctx.questions)
    n = len(qs)
    void = n + 1
    index = {q.id: k for k, q in enumerate(qs, 1)}
    profiles = [_profile(q) for q in qs]
    idf = _idf(profiles)
    fixed: list[int | None] = []
    for u in units:
        if u.question in index:
            fixed.append(index[u.question])  # type: ignore[index]
        elif u.unknown_header:
            fixed.append(void)
        else:
            fixed.append(None)
    headed = {k for k in fixed if k is not None and k != void}
    contents = [u.content if (u.header or u.explicit) else u.cell for u in units]
    kinds = [
        ("code" if c.kind == "code" else "prose") if c is not None and _substantial(c) else ""
        for c in contents
    ]
    features = [_features(c) if k else None for c, k in zip(contents, kinds, strict=True)]
    aff = [[0.0] * (n + 2) for _ in units]
    for i, (f, c) in enumerate(zip(features, contents, strict=True)):
        if f is None or c is None or i >= _MAX_UNITS:
            continue
        text = c.source[:_MAX_WORDS]
        for k, p in enumerate(profiles, 1):
            weight = sum(idf.get(w, 0.0) for w in p.words)
            aff[i][k] = _affinity(f, p, idf, weight, text)
    content_aff = [row[:] for row in aff]
    if not headed and void not in fixed:
        _order_prior(units, kinds, aff, profiles, ctx.notes)
    next_fixed = [n + 1] * len(units)
    upcoming = n + 1
    for i in range(len(units) - 1, -1, -1):
        next_fixed[i] = upcoming
        if fixed[i] is not None and fixed[i] != void:
            upcoming = fixed[i]  # type: ignore[assignment]

    neg = -math.inf
    size = (n + 2) * 2
    best = [neg] * size
    best[0] = 0.0  # preamble, nothing fitted yet
    back: list[list[int]] = []
    for i, u in enumerate(units):
        new = [neg] * size
        link = [-1] * size
        kind = kinds[i]
        bound = i < _MAX_UNITS
        stay = (
            i > 0 and u.origin == units[i - 1].origin and not u.cell.from_script
        ) or not bound

        for prev in range(size):
            s = best[prev]
            if s == neg:
                continue
            a, has = divmod(prev, 2)
            choices: list[tuple[int, float]] = []
            if fixed[i] is not None:
                choices.append((fixed[i], 0.0))  # type: ignore[arg-type]
            else:
                choices.append((a, 0.0))
                if not stay and a != void:
                    choices += [
                        (b, -_START)
                        for b in range(a + 1, next_fixed[i])
                        if b not in headed and aff[i][b] >= _MIN_START
                    ]
            for b, cost in choices:
                fit = 0 < b <= n and kind == profiles[b - 1].need
                keep = has if b == a else 0
                bonus = _FIT if fit and not keep else 0.0
                emission = aff[i][b] if 0 < b <= n else 0.0
                state, score = b * 2 + (1 if (keep or fit) else 0), s + cost + bonus + emission
                if score > new[state]:
                    new[state], link[state] = score, prev
        best = new
        back.append(link)
    state = max(range(size), key=lambda k: best[k])
    path: list[int] = []
    for i in range(len(units) - 1, -1, -1):
        path.append(state // 2)
        state = back[i][state]
    path.reverse()

    labels: list[str | None] = []
    starts: list[Attribution | None] = []
    previous = 0
    for i, (u, b) in enumerate(zip(units, path, strict=True)):
        labels.append(None if b == 0 else "" if b == void else qs[b - 1].id)
        start: Attribution | None = None
        if 0 < b <= n and (b != previous or u.explicit or u.header):
            if u.explicit:
                start = Attribution("metadata", f"the cell's metadata names {qs[b - 1].id}")
            elif u.header:
                start = Attribution("header", f"'{u.shown}'")
            elif b != previous:
                f = features[i]
                what = _evidence(f, profiles[b - 1], idf) if f else "text"
                if content_aff[i][b] < aff[i][b] and content_aff[i][b] < 0.3:
                    start = Attribution("order", f"{what}, in the place of {qs[b - 1].id}")
                else:
                    start = Attribution("content", what)
        starts.append(start)
        previous = b
    return labels, starts


def _evidence(f: _Features, p: _Profile, idf: dict[str, float]) -> str:
    """What a unit is, for its attribution: "a Pool with map", "prose on pool, reused"."""
    if f.code and f.describe() != "code":
        return f.describe()
    shared = sorted(f.words & p.words, key=lambda w: (-idf.get(w, 0.0), w))
    shared = [w for w in shared if idf.get(w, 0.0) > 0.5][:3]
    kind = "code" if f.code else "prose"
    return f"{kind} on {', '.join(shared)}" if shared else kind


def _idf(profiles: list[_Profile]) -> dict[str, float]:
    """Words that only one question uses tell most about which question a text answers."""
    counts: dict[str, int] = {}
    for p in profiles:
        for w in p.words:
            counts[w] = counts.get(w, 0) + 1
    n = len(profiles)
    return {w: math.log((n + 1) / c) for w, c in counts.items()}


def _order_prior(
    units: list[_Unit], kinds: list[str], aff: list[list[float]], profiles: list[_Profile], notes: list[str]
) -> None:
    """No header at all: when the blocks (prose then code) or the code units match the
    questions one to one, the n-th of them leans to the n-th question."""
    blocks: list[list[int]] = []
    for i, kind in enumerate(kinds):
        if not kind:
            continue
        if not blocks or (kind == "prose" and kinds[blocks[-1][-1]] == "code"):
            blocks.append([])
        blocks[-1].append(i)
    code_units = [i for i, k in enumerate(kinds) if k == "code"]
    code_questions = [k for k, p in enumerate(profiles, 1) if p.need == "code"]
    if len(blocks) == len(profiles):
        for k, block in enumerate(blocks, 1):
            for i in block:
                aff[i][k] += _ORDER
    elif code_units and len(code_units) == len(code_questions) == sum(map(len, blocks)):
        for i, k in zip(code_units, code_questions, strict=True):
            aff[i][k] += _ORDER
    else:
        return
    notes.append("no question headers found; the order of the answers helped attribute them")
