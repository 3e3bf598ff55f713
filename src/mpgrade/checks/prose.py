"""Rubric grading of written answers: claims found, negations and misconceptions weighed.

An answer is read as sentences and clauses, not as a bag of words: a rubric synonym
counts only when the clause asserts it ("processes run in parallel"), not when it is
negated ("never parallel", "do not share") or contradicted ("the GIL is irrelevant"),
and only when said of the subject the rubric names (``@thread share memory``).
Misconceptions are claims too: "multiprocessing does not split a program into threads"
is not flagged. Sentences that match the rubric's off-target patterns (an operating-
systems text about multiprocessor hardware, for a question about Python's module) earn
nothing. The rubric's regexes and subjects are data in the exercise file; English itself
(negation cues, clause breaks) lives here. The score is a proposal a person confirms,
and the feedback quotes the student's own sentences so that the reviewer sees why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import field
from functools import lru_cache

from mpgrade import patterns, regexes
from mpgrade.model import DEFAULT_SUBJECTS, Concept, Misconception, Rubric, value_class
from mpgrade.wording import plural

_SHORT_SHARE = 0.25  # at most this share of the points for an answer under min_words
_OFF_TARGET_SHARE = 0.5  # at most this share of the points when ...
_OFF_TARGET_PART = 0.25  # ... at least this part of the answer's sentences is off target
_QUOTE = 60  # characters of a quote: the matching words and a little context
_MAX_TEXT = 40_000  # characters of an answer read (an answer is a few paragraphs)
_NEGATION_WINDOW = 4  # tokens between a negation cue and what it negates

_NEGATIONS = {"not", "no", "never", "cannot", "without", "neither", "nor", "none", "nothing", "nobody"}
_NOT_NEGATING_NEXT = {"only", "just", "merely", "simply", "necessarily", "least"}
_CONTRADICTED = regexes.compile(
    r"^[^.;:]{0,25}?\b(?:is|are|was|were|'s)\s+(?:completely\s+|totally\s+|entirely\s+)?"
    r"(?:irrelevant|unimportant|a myth|false|untrue|not true|wrong|meaningless|pointless)\b"
    r"|^[^.;:]{0,25}?\b(?:does|do)(?:n't| not)\s+matter\b"
    r"|^[^.;:]{0,25}?\b(?:has|have)\s+nothing to do\b"
    r"|^[^.;:]{0,25}?\b(?:makes?|plays?)\s+no\s+(?:difference|role)\b",
    re.IGNORECASE,
)
# Where one clause ends and a contrasted one starts: "processes X, while threads Y".
_CLAUSE_BREAK = regexes.compile(
    r"[;:|]|\b(?:while|whereas|but|however|unlike|in contrast|on the other hand|compared to|"
    r"as opposed to|instead)\b",
    re.IGNORECASE,
)
_STATES_NEGATION = regexes.compile(r"\b(?:not|never|no|cannot|without)\b|n't", re.IGNORECASE)
_TOKEN = regexes.compile(r"[A-Za-z][A-Za-z']*|\d+")
_MARKUP = regexes.compile(r"^\s*(?:#+|>|[-*+•·]|\d+\s*[.)\]:-]|[a-z][.)]|\(\w\))\s*|\*\*|__|`|\"\"\"|'''")
_SENTENCE_END = regexes.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Za-z0-9])")


@value_class
class ProseGrade:
    score: float
    max_score: float
    found: tuple[str, ...]  # concept ids
    missing: tuple[tuple[str, str], ...]  # (concept id, description)
    misconceptions: tuple[tuple[str, str], ...]  # (misconception id, message)
    words: int
    feedback: str
    # The student's sentences behind the score: (concept or misconception id, quote).
    evidence: tuple[tuple[str, str], ...] = ()
    contradictions: tuple[tuple[str, str], ...] = ()  # (concept id, quote)
    off_target: tuple[str, ...] = ()  # quotes of sentences that earned nothing

    @property
    def proposal_note(self) -> str:
        """Said with every prose score: a program read the answer, a person decides."""
        return f"Proposal: {self.score:g}/{self.max_score:g}, until staff review it."


# --------------------------------------------------------------------------- reading


@value_class
class _Clause:
    text: str
    sentence: int  # index into the answer's sentences
    subject: str  # last subject named before this clause in its sentence, else the heading's
    tokens: tuple[tuple[int, int, str], ...] = field(default=())  # (start, end, lower word)


@value_class
class _Reading:
    sentences: tuple[str, ...]
    clauses: tuple[_Clause, ...]
    words: int
    subjects: dict[str, str] = field(default_factory=dict, hash=False, compare=False)  # stem -> name


@lru_cache(maxsize=1)
def _stem() -> Callable[[str], str]:
    """Snowball's English stemmer, loaded on first use (``mpgrade check`` of code stays fast).

    Memoised: a reading stems the same few hundred words again for every match it
    places, and the stemmer is pure Python.
    """
    from snowballstemmer.english_stemmer import EnglishStemmer

    return lru_cache(maxsize=8192)(EnglishStemmer().stemWord)


def _subject_table(rubric: Rubric) -> dict[str, str]:
    """stem -> subject name."""
    stem = _stem()
    return {stem(w.lower()): name for name, words in (rubric.subjects or DEFAULT_SUBJECTS) for w in words}


def _tokens(text: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text))


def _subject_of(tokens: tuple[tuple[int, int, str], ...], subjects: dict[str, str], stem: Callable[[str], str],
                before: int | None = None) -> str:
    """The subject a stretch of text is about: the last subject word before ``before``, or
    (without ``before``) the first one named; "" when none is."""
    named = [(s, subjects[stem(w)]) for s, _, w in tokens if stem(w) in subjects]
    if before is not None:
        earlier = [name for s, name in named if s < before]
        return earlier[-1] if earlier else ""
    return named[0][1] if named else ""


def _blocks(text: str) -> Iterator[tuple[str, str]]:
    """(block text, heading subject hint) from markdown, comments, tables and wrapped lines."""
    current: list[str] = []
    for raw in text.replace("\r", "").split("\n"):
        line = raw.strip()
        if line.startswith("|") or line.count("|") >= 2:
            if current:
                yield " ".join(current), ""
                current = []
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(re.fullmatch(r":?-{2,}:?|", c) for c in cells):
                yield "\x00table", "|".join(cells)
            continue
        starts_item = bool(_MARKUP.match(line)) or not line
        while _MARKUP.match(line) and _MARKUP.match(line).end() > 0:  # type: ignore[union-attr]
            line = line[_MARKUP.match(line).end():]  # type: ignore[union-attr]
        line = line.replace("**", "").replace("__", "").replace("`", "").strip(" \"'")
        if starts_item or (current and re.search(r"[.:!?]$", current[-1])):
            if current:
                yield " ".join(current), ""
            current = []
        if line:
            current.append(line)
    if current:
        yield " ".join(current), ""


def _read(text: str, rubric: Rubric) -> _Reading:
    stem = _stem()
    subjects = _subject_table(rubric)
    sentences: list[str] = []
    clauses: list[_Clause] = []
    heading = ""
    columns: list[str] = []

    def add(sentence: str, hint: str) -> None:
        sentence = sentence.strip()
        if not _TOKEN.search(sentence):
            return
        index = len(sentences)
        sentences.append(sentence)
        toks = _tokens(sentence)
        start = 0
        for m in [*_CLAUSE_BREAK.finditer(sentence), None]:
            end = m.start() if m else len(sentence)
            part = sentence[start:end]
            if _TOKEN.search(part):
                earlier = _subject_of(toks, subjects, stem, start) if start else ""
                clauses.append(_Clause(part, index, earlier or hint, _tokens(part)))
            start = m.end() if m else end

    for block, table in _blocks(text[:_MAX_TEXT]):
        if block == "\x00table":
            cells = table.split("|")
            named = [_subject_of(_tokens(c), subjects, stem) for c in cells]
            if not columns and sum(1 for n in named if n) >= 2 and all(len(_tokens(c)) <= 3 for c in cells):
                columns = named  # a header row: "Feature | Multiprocessing | Multithreading"
                continue
            for i, cell in enumerate(cells):
                add(cell, columns[i] if i < len(columns) else "")
            continue
        columns = []
        btoks = _tokens(block)
        if len(btoks) <= 3 and not block.rstrip().endswith((".", "!", "?")) and _subject_of(btoks, subjects, stem):
            heading = _subject_of(btoks, subjects, stem)  # "Multithreading:" over a list
            continue
        if len(btoks) <= 4 and block.rstrip().endswith(":"):
            heading = ""  # "2. Memory usage:" starts a new section
        for sentence in _SENTENCE_END.split(block):
            add(sentence, heading)
    words = sum(len(_tokens(s)) for s in sentences)
    return _Reading(tuple(sentences), tuple(clauses), words, subjects)


# --------------------------------------------------------------------------- claims


@value_class
class _Hit:
    sentence: int
    asserted: bool  # False: negated or contradicted
    clause: str = ""  # the clause that matched, quoted when the sentence is long
    subject: str = ""  # what the clause is about at the match, "" when unknown
    explicit: bool = False  # the pattern named its subject (``@thread ...``)
    span: tuple[int, int] = (0, 0)  # of the match in ``clause``


def _negated(clause: _Clause, start: int, end: int, states_negation: bool) -> bool:
    """A negation cue shortly before the match or inside it; a cue inside the match is part
    of the claim when the pattern itself states a negation ("(do not|don't) share")."""
    def cue(i: int) -> bool:
        word = clause.tokens[i][2]
        following = clause.tokens[i + 1][2] if i + 1 < len(clause.tokens) else ""
        if following in _NOT_NEGATING_NEXT:
            return False
        return word in _NEGATIONS or word.endswith("n't")

    inside = [i for i, (s, e, _) in enumerate(clause.tokens) if s >= start and e <= end]
    if any(cue(i) for i in inside):
        return not states_negation
    before = [i for i, (s, _, _) in enumerate(clause.tokens) if s < start]
    return any(cue(i) for i in before[-_NEGATION_WINDOW:])


def _hits(wanted: tuple[str, ...], reading: _Reading, negatable: bool, skip: set[int]) -> list[_Hit]:
    """Every clause where a pattern matches, said of its subject, with its polarity."""
    out: list[_Hit] = []
    stem = _stem()
    for pattern in wanted:
        subject, regex = patterns.split(pattern)
        for clause in reading.clauses:
            if clause.sentence in skip:
                continue
            m = patterns.compiled(regex).search(clause.text)
            if m is None:
                continue
            said_of = _subject_of(clause.tokens, reading.subjects, stem, m.start()) or clause.subject
            if subject and said_of not in (subject, ""):
                continue
            contradicted = bool(_CONTRADICTED.search(clause.text[m.end():]))
            negated = negatable and _negated(clause, m.start(), m.end(), bool(_STATES_NEGATION.search(regex)))
            out.append(_Hit(clause.sentence, not (contradicted or negated), clause.text, said_of, bool(subject),
                            m.span()))
    return out


def _quote(reading: _Reading, hits: list[_Hit]) -> str:
    """The student's words behind a hit: the match with a little context, from the first
    sentence that says something (five words or more) rather than a heading."""
    said = [h for h in hits if len(_tokens(reading.sentences[h.sentence])) >= 5] or hits
    hit = said[0]
    text, (start, end) = (hit.clause, hit.span) if hit.clause else (reading.sentences[hit.sentence], (0, 0))
    flat = " ".join(text.split())
    if len(flat) <= _QUOTE:
        return flat.strip(" ,;:").rstrip(".")
    room = max(0, _QUOTE - (end - start)) // 2
    lo, hi = max(0, start - room), min(len(text), end + room)
    while lo > 0 and text[lo - 1].isalnum():  # whole words only
        lo += 1
    while hi < len(text) and text[hi].isalnum():
        hi -= 1
    if hi <= lo:
        lo, hi = max(0, start - room), min(len(text), end + room)
    piece = " ".join(text[lo:hi].split()).strip(" ,;:")
    return ("…" if lo > 0 else "") + piece + ("…" if hi < len(text) else "")


# --------------------------------------------------------------------------- feedback


def _name(c: Concept) -> str:
    return (c.label or c.description).rstrip(".")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _feedback(
    found: list[tuple[Concept, str]],
    missing: list[Concept],
    contradicted: list[tuple[Concept, str]],
    wrong: list[tuple[Misconception, str]],
    off: list[str],
    off_message: str,
    full: bool,
    short_by: int,
) -> str:
    """What earned points (in the student's words), what to add, what to correct: short,
    because it is read next to every other question's."""
    parts: list[str] = []
    if found:
        parts.append(f"Good: {_join([_name(c) for c, _ in found])} (“{found[0][1]}”).")
    else:
        parts.append("None of the key ideas of the question yet.")
    wrong_way = {c.id for c, _ in contradicted}  # corrected below, in the student's words
    to_add = [c for c in missing if c.id not in wrong_way]
    if to_add and not full:
        parts.append("Also explain: " + "; ".join(_name(c) for c in to_add) + ".")
    said: dict[str, list[str]] = {}
    for c, q in contradicted:
        said.setdefault(q, []).append(_name(c))
    for q, names in said.items():
        parts.append(f"To correct: “{q}” contradicts {_join(names)}.")
    for m, q in wrong:
        parts.append(f"To correct: “{q}”: {m.message}")
    if off:
        parts.append(f"“{off[0]}”: {off_message or 'about something else than the question, no points.'}")
    if short_by:
        parts.append(f"Too short for full marks: write about {plural(short_by, 'more word')}.")
    if full and not (wrong or contradicted or off or short_by):
        parts.append("Complete answer: well done.")
    return " ".join(parts)


def grade_prose(text: str, rubric: Rubric) -> ProseGrade:
    """Score ``text`` against ``rubric``: asserted concepts up to the rubric's points, minus
    misconceptions and contradicted key ideas; off-target and short answers are capped."""
    reading = _read(text, rubric)
    off_sentences = {
        i for i, s in enumerate(reading.sentences)
        if any(patterns.compiled(p).search(s) for p in rubric.off_target)
    }
    wrong: list[tuple[Misconception, str]] = []
    wrong_sentences: set[int] = set()
    for m in rubric.misconceptions:
        yes = [h for h in _hits(m.patterns, reading, True, set()) if h.asserted]
        if yes:
            wrong.append((m, _quote(reading, yes)))
            wrong_sentences.update(h.sentence for h in yes)
    found: list[tuple[Concept, str]] = []
    contradicted: list[tuple[Concept, str]] = []
    missing: list[Concept] = []
    for c in rubric.concepts:  # a sentence that states a misconception earns nothing either
        hits = _hits(c.synonyms, reading, c.negatable, off_sentences | wrong_sentences)
        yes = [h for h in hits if h.asserted]
        if yes:
            found.append((c, _quote(reading, yes)))
            continue
        missing.append(c)
        against = [h for h in hits if h.explicit or not rubric.contrast or h.subject != rubric.contrast]
        if against:
            contradicted.append((c, _quote(reading, against)))
    earned = min(rubric.points, sum(c.points for c, _ in found))
    penalty = sum(m.penalty for m, _ in wrong) + rubric.contradiction_penalty * len(contradicted)
    score = max(0.0, earned - penalty)
    content = len(reading.sentences)
    if content and len(off_sentences) >= _OFF_TARGET_PART * content:
        score = min(score, rubric.points * _OFF_TARGET_SHARE)
    short_by = max(0, rubric.min_words - reading.words)
    if short_by:
        score = min(score, rubric.points * _SHORT_SHARE)
    score = round(score, 4)
    off_quotes = [_quote(reading, [_Hit(i, True)]) for i in sorted(off_sentences)]
    if not reading.sentences:
        feedback = "No written answer was found."
    else:
        feedback = _feedback(found, missing, contradicted, wrong, off_quotes, rubric.off_target_message,
                             earned >= rubric.points, short_by)
    return ProseGrade(
        score=score,
        max_score=rubric.points,
        found=tuple(c.id for c, _ in found),
        missing=tuple((c.id, c.description) for c in missing),
        misconceptions=tuple((m.id, m.message) for m, _ in wrong),
        words=reading.words,
        feedback=feedback,
        evidence=tuple((c.id, q) for c, q in found) + tuple((m.id, q) for m, q in wrong),
        contradictions=tuple((c.id, q) for c, q in contradicted),
        off_target=tuple(off_quotes),
    )
