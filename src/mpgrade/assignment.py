"""Exercise sets as data: load and validate ``exercises/<id>/exercise.toml``.

An instructor adapts an assignment by editing a TOML file, never mpgrade's code, so
every mistake in that file must come back as one precise message with the file and
the line, not as a KeyError deep inside the grader.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from mpgrade import regexes
from mpgrade.cache import recall, store
from mpgrade.errors import MpgradeError
from mpgrade.model import (
    DEFAULT_SUBJECTS,
    START_METHODS,
    Assignment,
    AssignmentChoice,
    CheckSpec,
    Concept,
    Limits,
    Misconception,
    Question,
    Rubric,
    Segmentation,
    Submission,
    Variant,
)
from mpgrade.patterns import compiled as compile_pattern
from mpgrade.patterns import split as split_pattern
from mpgrade.resources import data_dir

EXERCISE_FILE = "exercise.toml"
_LIMIT_FIELDS = {f: type(getattr(Limits(), f)) for f in Limits.__dataclass_fields__}


class AssignmentError(MpgradeError):
    """An exercise that cannot be used; the message names the file and, when known, the line."""


def search_path() -> list[Path]:
    """Folders holding exercise sets: ``$MPGRADE_EXERCISES`` (os.pathsep-separated),
    ``./exercises`` of the current directory, then the bundled ones."""
    extra = [Path(p) for p in os.environ.get("MPGRADE_EXERCISES", "").split(os.pathsep) if p]
    return [*extra, Path.cwd() / "exercises", data_dir("exercises")]


def discover() -> dict[str, Path]:
    """Exercise id -> exercise file, first match on the search path wins."""
    found: dict[str, Path] = {}
    for folder in search_path():
        if not folder.is_dir():
            continue
        for spec in sorted(folder.glob(f"*/{EXERCISE_FILE}")):
            found.setdefault(spec.parent.name, spec.resolve())
    return found


def load_assignment(id_or_path: str | Path) -> Assignment:
    """Load an exercise set by id (see ``discover``) or by path to its folder or TOML file."""
    path = Path(id_or_path)
    if path.is_dir():
        path = path / EXERCISE_FILE
    if not path.is_file():
        known = discover()
        if str(id_or_path) not in known:
            names = ", ".join(sorted(known)) or "none"
            raise AssignmentError(f"unknown assignment '{id_or_path}' (known: {names})")
        path = known[str(id_or_path)]
    return _Loader(path).load()


def load_by_id(aid: str) -> Assignment:
    """An installed or explicitly given exercise set (see ``discover``), by id only: never a
    path, so a name taken from a submission cannot point the grader at a folder."""
    known = discover()
    if aid not in known:
        names = ", ".join(sorted(known)) or "none"
        raise AssignmentError(f"unknown assignment {_quoted(aid)} (known: {names})")
    return _Loader(known[aid]).load()


def _quoted(text: str, limit: int = 60) -> str:
    """A name from a submission, short and printable, for one-line messages."""
    shown = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return f"'{shown}{'...' if len(text) > limit else ''}'"


def choose_assignment(requested: str | None, sub: Submission | None) -> AssignmentChoice:
    """Only the caller chooses how a submission is graded.

    ``requested`` (command line, batch options, the autograder) is an id or a path and
    always wins (``check`` warns when the submission points elsewhere). Without it, the id
    a notebook carries (written by ``mpgrade template``) is used when it names a known
    exercise set; anything else it names, a path above all, is ignored with a warning,
    and the best match by question headers is taken.
    """
    named = sub.assignment_id if sub is not None else None
    if requested:
        return AssignmentChoice(load_assignment(requested))
    warning = None
    if named:
        if named in discover():
            return AssignmentChoice(load_by_id(named))
        warning = (f"the submission names {_quoted(named)}, which is not a known exercise id "
                   "(ignored; see `mpgrade list`)")
    if sub is None:
        return AssignmentChoice(_first_usable(), warning)
    assignment, seg = _best_match(sub)
    return AssignmentChoice(assignment, warning, seg)


def _first_usable() -> Assignment:
    for _, path in iter_assignments():
        try:
            return _Loader(path).load()
        except AssignmentError:
            continue
    raise AssignmentError("no exercise sets found (see `mpgrade list`)")


def _best_match(sub: Submission) -> tuple[Assignment, Segmentation]:
    """The usable exercise set whose questions the submission's headers name most often
    (the first by id among equals), with the submission segmented against it.

    Headers are matched against every set's questions, but only the winner's checks are
    validated (and its ``checks.py`` imported): a set whose checks are wrong loses to the
    next best, as if it had never been found. A set with no more questions than the best
    count so far cannot overtake it, so it is not segmented unless the sets above fail.
    """
    from mpgrade.segment import segment

    candidates: list[tuple[_Loader, Assignment]] = []
    for _, path in iter_assignments():
        try:
            loader = _Loader(path)
            candidates.append((loader, loader.read()))
        except AssignmentError:
            continue
    segs: dict[int, Segmentation] = {}
    untried = list(range(len(candidates)))
    while untried:
        best, most = untried[0], -1
        for i in untried:
            if most >= len(candidates[i][1].questions):
                continue
            if i not in segs:
                segs[i] = segment(sub, candidates[i][1].questions)
            if segs[i].named > most:
                best, most = i, segs[i].named
        loader, candidate = candidates[best]
        try:
            return loader.check_ids(candidate), segs[best]
        except AssignmentError:
            untried.remove(best)
    raise AssignmentError("no exercise sets found (see `mpgrade list`)")


_KNOWN_TEXTS = 32  # exercise texts whose regexes are remembered as compiled, per Python


class _Loader:
    """Turns one TOML file into an Assignment, remembering where each table starts."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.regexes_known = False
        try:
            self.text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AssignmentError(f"{path}: cannot read ({exc})") from None
        self.digest = hashlib.sha256(self.text.encode()).hexdigest()

    # -- errors with positions

    def fail(self, where: str, message: str) -> AssignmentError:
        line = self._locate(where)
        at = f":{line}" if line else ""
        return AssignmentError(f"{self.path}{at}: {where}: {message}")

    def _locate(self, where: str) -> int | None:
        """Best line for a dotted location like ``questions[2].checks[1].params``."""
        pos, line = 0, None
        for part in where.split("."):
            if part == "top level":
                continue
            m = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", part)
            if not m:
                break
            name, index = m.group(1), m.group(2)
            if index is not None:
                headers = self._array_headers(name, pos)
                i = int(index)
                if i >= len(headers):
                    break
                pos = headers[i]
            else:
                hit = regexes.compile(rf"^[ \t]*(\[+[\w.]*\b{name}\]+|{name}\s*=)", re.M).search(
                    self.text, pos
                )
                if not hit:
                    break
                pos = hit.start()
            line = self.text.count("\n", 0, pos) + 1
        return line

    def _array_headers(self, name: str, start: int) -> list[int]:
        pattern = regexes.compile(rf"^[ \t]*\[\[([\w.]*\.)?{name}\]\]", re.M)
        depth = None
        hits = []
        for m in pattern.finditer(self.text, start):
            d = m.group(0).count(".")
            depth = d if depth is None else depth
            if d == depth:
                hits.append(m.start())
        return hits

    # -- typed field access

    def field(self, table: dict, key: str, kind: type | tuple, where: str, default: Any = ...) -> Any:
        if key not in table:
            if default is ...:
                raise self.fail(where, f"missing required key '{key}'")
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(f"{where}.{key}", f"expected {name}, got {type(value).__name__}")
        return value

    def known_keys(self, table: dict, allowed: set[str], where: str) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(where, f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")

    # -- the document

    def load(self) -> Assignment:
        return self.check_ids(self.read())

    def read(self) -> Assignment:
        """The file's assignment with every check id still unchecked (see ``check_ids``).

        Its regexes are compiled only the first time this exact text is read by this
        Python: a file that passed is remembered (``cache.store``), and the rubric and the
        segmentation compile what they use when they use it.
        """
        digest = self.digest
        known = recall("regexes-compiled", (sys.version,))
        known = [d for d in known if isinstance(d, str)] if isinstance(known, list) else []
        self.regexes_known = digest in known
        assignment = self._read()
        if not self.regexes_known:  # the newest texts, a bounded list: edits never pile up
            store("regexes-compiled", (sys.version,), [*known, digest][-_KNOWN_TEXTS:])
        return assignment

    def _document(self) -> dict[str, Any]:
        """The parsed TOML. Parsing is most of a load, so the cache keeps, per exercise
        file, the JSON of its last parse with the digest of the text parsed (an edit
        replaces it); a document JSON cannot hold (a TOML date) is parsed every time."""
        cached = recall("exercise-document", (str(self.path),))
        if isinstance(cached, dict) and cached.get("digest") == self.digest:
            doc = cached.get("document")
            if isinstance(doc, dict):
                return doc
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - exercised on 3.10 only
            import tomli as tomllib
        try:
            doc = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            line = re.search(r"line (\d+)", str(exc))
            at = f":{line.group(1)}" if line else ""
            raise AssignmentError(f"{self.path}{at}: invalid TOML: {exc}") from None
        store("exercise-document", (str(self.path),), {"digest": self.digest, "document": doc})
        return doc

    def _read(self) -> Assignment:
        doc = self._document()
        self.known_keys(
            doc,
            {"id", "title", "solution", "start_method", "limits", "questions", "variants"},
            "top level",
        )
        aid = self.field(doc, "id", str, "top level")
        title = self.field(doc, "title", str, "top level")
        start = self.start_method(doc, "top level")
        limits = self.limits(self.field(doc, "limits", dict, "limits", {}))
        raw_questions = self.field(doc, "questions", list, "top level")
        if not raw_questions:
            raise self.fail("questions", "an assignment needs at least one question")
        questions = tuple(self.question(q, f"questions[{i}]") for i, q in enumerate(raw_questions))
        ids = [q.id for q in questions]
        for i, qid in enumerate(ids):
            if qid in ids[:i]:
                raise self.fail(f"questions[{i}].id", f"duplicate question id '{qid}'")
        root = self.path.parent
        solution = self.field(doc, "solution", str, "top level", None)
        if solution is not None:
            solution = str((root / solution).resolve())
        variants = tuple(
            self.variant(v, f"variants[{i}]", root, ids)
            for i, v in enumerate(self.field(doc, "variants", list, "top level", []))
        )
        custom = root / "checks.py"
        return Assignment(
            id=aid,
            title=title,
            questions=questions,
            limits=limits,
            start_method=start,
            root=str(root),
            solution=solution,
            variants=variants,
            custom_checks=str(custom) if custom.is_file() else None,
        )

    def start_method(self, table: dict, where: str) -> str | None:
        method = self.field(table, "start_method", str, where, None)
        if method is not None and method not in START_METHODS:
            raise self.fail(f"{where}.start_method", f"must be one of {', '.join(START_METHODS)}")
        return method

    def limits(self, table: dict) -> Limits:
        self.known_keys(table, set(_LIMIT_FIELDS), "limits")
        values = {}
        for key, kind in _LIMIT_FIELDS.items():
            if key in table:
                value = self.field(table, key, (int, float) if kind is float else int, "limits")
                if not Limits.valid(value):
                    raise self.fail(f"limits.{key}", "must be a positive, finite number")
                values[key] = kind(value)
        return Limits(**values)

    def question(self, table: Any, where: str) -> Question:
        if not isinstance(table, dict):
            raise self.fail(where, "each question must be a table ([[questions]])")
        self.known_keys(
            table,
            {"id", "title", "text", "kind", "points", "checks", "rubric", "timeout_s",
             "start_method", "stdin", "code_optional", "prose_answer"},
            where,
        )
        qid = self.field(table, "id", str, where)
        kind = self.field(table, "kind", str, where)
        if kind not in ("code", "prose"):
            raise self.fail(f"{where}.kind", "must be 'code' or 'prose'")
        points = self.field(table, "points", float, where)
        checks = tuple(
            self.check(c, f"{where}.checks[{i}]")
            for i, c in enumerate(self.field(table, "checks", list, where, []))
        )
        rubric_table = self.field(table, "rubric", dict, where, None)
        rubric = self.rubric(rubric_table, f"{where}.rubric") if rubric_table is not None else None
        if kind == "prose" and rubric is None:
            raise self.fail(where, "a prose question needs a [questions.rubric]")
        if kind == "code" and not checks:
            raise self.fail(where, "a code question needs at least one [[questions.checks]]")
        words_table = self.field(table, "prose_answer", dict, where, None)
        prose_answer = (self.rubric(words_table, f"{where}.prose_answer")
                        if words_table is not None else None)
        if prose_answer is not None and (kind != "code" or abs(prose_answer.points - points) > 1e-6):
            raise self.fail(f"{where}.prose_answer",
                            "belongs to a code question and must be worth the question's points")
        total = sum(c.points for c in checks) + (rubric.points if rubric else 0.0)
        if abs(total - points) > 1e-6:
            raise self.fail(
                f"{where}.points",
                f"question {qid} is worth {points:g} but its checks and rubric add up to {total:g}",
            )
        timeout = self.field(table, "timeout_s", float, where, None)
        if timeout is not None and not Limits.valid(timeout):
            raise self.fail(f"{where}.timeout_s", "must be a positive, finite number")
        return Question(
            id=qid,
            title=self.field(table, "title", str, where, qid),
            text=self.field(table, "text", str, where, ""),
            kind=kind,
            points=points,
            checks=checks,
            rubric=rubric,
            timeout_s=timeout,
            start_method=self.start_method(table, where),
            stdin=self.field(table, "stdin", str, where, None),
            code_optional=self.field(table, "code_optional", bool, where, False),
            prose_answer=prose_answer,
        )

    def check(self, table: Any, where: str) -> CheckSpec:
        if not isinstance(table, dict):
            raise self.fail(where, "each check must be a table ([[questions.checks]])")
        self.known_keys(table, {"id", "points", "params"}, where)
        points = self.field(table, "points", float, where)
        if points < 0:
            raise self.fail(f"{where}.points", "must not be negative")
        return CheckSpec(
            id=self.field(table, "id", str, where),
            points=points,
            params=self.field(table, "params", dict, where, {}),
        )

    def rubric(self, table: dict, where: str) -> Rubric:
        self.known_keys(table, {"points", "min_words", "concepts", "misconceptions", "subjects",
                                "off_target", "off_target_message", "contradiction_penalty", "contrast"}, where)
        subjects = self.subjects(self.field(table, "subjects", dict, where, {}), f"{where}.subjects")
        names = {name for name, _ in subjects or DEFAULT_SUBJECTS}
        concepts = []
        for i, c in enumerate(self.field(table, "concepts", list, where, [])):
            w = f"{where}.concepts[{i}]"
            self.known_keys(c, {"id", "description", "label", "synonyms", "points", "negatable"}, w)
            concepts.append(
                Concept(
                    id=self.field(c, "id", str, w),
                    description=self.field(c, "description", str, w),
                    synonyms=self.patterns(c, "synonyms", w, names),
                    points=self.field(c, "points", float, w, 1.0),
                    negatable=self.field(c, "negatable", bool, w, True),
                    label=self.field(c, "label", str, w, ""),
                )
            )
        misconceptions = []
        for i, m in enumerate(self.field(table, "misconceptions", list, where, [])):
            w = f"{where}.misconceptions[{i}]"
            self.known_keys(m, {"id", "patterns", "message", "penalty"}, w)
            misconceptions.append(
                Misconception(
                    id=self.field(m, "id", str, w),
                    patterns=self.patterns(m, "patterns", w, names),
                    message=self.field(m, "message", str, w),
                    penalty=self.field(m, "penalty", float, w, 0.5),
                )
            )
        if not concepts:
            raise self.fail(where, "a rubric needs at least one [[...concepts]]")
        return Rubric(
            concepts=tuple(concepts),
            misconceptions=tuple(misconceptions),
            points=self.field(table, "points", float, where),
            min_words=self.field(table, "min_words", int, where, 15),
            subjects=subjects,
            off_target=self.patterns(table, "off_target", where, names) if "off_target" in table else (),
            off_target_message=self.field(table, "off_target_message", str, where, ""),
            contradiction_penalty=self.field(table, "contradiction_penalty", float, where, 0.25),
            contrast=self.contrast(table, where, names),
        )

    def contrast(self, table: dict, where: str, names: set[str]) -> str:
        value = self.field(table, "contrast", str, where, "")
        if value and value not in names:
            raise self.fail(f"{where}.contrast", f"unknown subject {value!r}; known: {', '.join(sorted(names))}")
        return value

    def subjects(self, table: dict, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """``{ thread = ["thread", "multithreading"] }``: the words that name each subject."""
        out = []
        for name, words in table.items():
            if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
                raise self.fail(f"{where}.{name}", "must be a non-empty list of words")
            out.append((name, tuple(words)))
        return tuple(out)

    def patterns(self, table: dict, key: str, where: str, subjects: set[str] | None = None) -> tuple[str, ...]:
        """Regexes, each optionally prefixed ``@subject `` (a name from the rubric's subjects)."""
        values = self.field(table, key, list, where)
        for i, p in enumerate(values):
            if not isinstance(p, str):
                raise self.fail(f"{where}.{key}", f"item {i + 1} is not a string")
            subject, regex = split_pattern(p)
            if subject and subjects is not None and subject not in subjects:
                raise self.fail(f"{where}.{key}", f"unknown subject @{subject} in {p!r}; "
                                                  f"known: {', '.join(sorted(subjects))}")
            if self.regexes_known:
                continue
            try:  # as the rubric and segmentation match them, so they reuse this compile
                compile_pattern(regex)
            except re.error as exc:
                raise self.fail(f"{where}.{key}", f"invalid regular expression {p!r}: {exc}") from None
        return tuple(values)

    def variant(self, table: Any, where: str, root: Path, ids: list[str]) -> Variant:
        if not isinstance(table, dict):
            raise self.fail(where, "each variant must be a table ([[variants]])")
        self.known_keys(table, {"path", "loses"}, where)
        path = root / self.field(table, "path", str, where)
        if not path.is_file():
            raise self.fail(f"{where}.path", f"no such file: {path}")
        loses = tuple(self.field(table, "loses", list, where))
        for qid in loses:
            if qid not in ids:
                raise self.fail(f"{where}.loses", f"unknown question id '{qid}'")
        return Variant(path=str(path), loses=loses)

    def check_ids(self, assignment: Assignment) -> Assignment:
        """Every check named in the file must exist, built in or in the folder's checks.py;
        checks of the latter are tied to that file, so copies of an exercise never clash."""
        from mpgrade import checks

        custom: tuple[str, ...] = ()
        if assignment.custom_checks:
            try:
                custom = checks.register_module(assignment.custom_checks)
            except Exception as exc:  # the instructor's code: report, don't crash
                raise AssignmentError(f"{assignment.custom_checks}: cannot load custom checks: {exc}") from None
        known = checks.available_checks()
        questions = []
        for qi, q in enumerate(assignment.questions):
            specs = []
            for ci, spec in enumerate(q.checks):
                where = f"questions[{qi}].checks[{ci}]"
                if spec.id not in known and spec.id not in custom:
                    raise self.fail(f"{where}.id", f"unknown check '{spec.id}' (see `mpgrade checks`)")
                spec = replace(spec, source=assignment.custom_checks) if spec.id in custom else spec
                try:
                    common, _ = checks.parse_params(spec, checks.declaration(spec))
                except checks.ParamError as exc:
                    raise self.fail(f"{where}.params", str(exc)) from None
                ids = [s.id for s in q.checks]
                for req in common.requires:
                    if req not in ids or req == spec.id:
                        raise self.fail(f"{where}.params",
                                        f"requires '{req}', which is not another check of {q.id}")
                specs.append(spec)
            questions.append(replace(q, checks=tuple(specs)))
        return replace(assignment, questions=tuple(questions))


def iter_assignments() -> Iterator[tuple[str, Path]]:
    """(id, exercise file) of every discoverable exercise set, sorted by id."""
    yield from sorted(discover().items())
