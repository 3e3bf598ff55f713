"""Read a student's file into cells: notebooks of any nbformat version, and scripts.

Everything here is about *reading*, not interpreting: which cell answers which
question is ``segment``'s job. The only interpretation done here is what the file
states explicitly (cell metadata and tags naming a question), because only the
reader still sees that metadata.

Real submissions arrive as Jupyter notebooks (v3 and v4, Colab ones too), as
scripts exported by nbconvert (``# In[ ]:`` markers), as jupytext/VS Code
percent scripts (``# %%``), as plain scripts with comment headers, and now and
then as Markdown. They come with CRLF, BOMs, Windows code pages and UTF-16, so
decoding is lenient and never the reason a submission goes ungraded. What is not
Python is refused with one line: a notebook whose kernel is R or Julia, and any file
other than a notebook, ``.py`` or ``.md`` that holds no Python code (notes, a report).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from mpgrade import regexes
from mpgrade.errors import MpgradeError
from mpgrade.model import Cell, CellKind, Submission
from mpgrade.textcode import code_regions
from mpgrade.untrusted import clean_strings, clean_text, loads_json

__all__ = ["SUFFIXES", "NoSuchFile", "NotASubmission", "SubmissionError", "load", "question_id_from_label",
           "unreadable"]


class SubmissionError(MpgradeError):
    """The file cannot be read as a submission; the message is one line naming the file."""

    def for_student(self) -> str:
        """The reason an error result gives the student: what to do depends on what is wrong."""
        return unreadable(str(self))


class NoSuchFile(SubmissionError):
    """The path names no file: there is nothing to re-save, only a name or folder to check."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name}: no such file")
        self.name = name

    def for_student(self) -> str:
        return f"{self.name} was not found, so nothing was graded. Check the file's name and folder."


class NotASubmission(SubmissionError):
    """A file of another kind (notes, a report): re-saving it would not help, the notebook
    or script is what to hand in."""

    def for_student(self) -> str:
        return f"Your file could not be graded: {self}. Upload your notebook (.ipynb) or script (.py) and resubmit."


def unreadable(problem: str) -> str:
    """What a student reads when their file cannot be graded: theirs to fix, and how."""
    flat = " ".join(problem.split()).rstrip(".")
    return f"Your file could not be read: {flat}. Re-save it (or export it again) and resubmit."


# File signatures, so that a PDF or a Word file handed in by mistake gets a useful message.
_SIGNATURES = {
    b"%PDF": "a PDF",
    b"PK\x03\x04": "a zip archive (or a .docx)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\xd0\xcf\x11\xe0": "an old Office document",
    b"GIF8": "a GIF image",
    b"RIFF": "a RIFF file (WebP image or audio)",
    b"\x1f\x8b": "a gzip archive",
}

# "q3", "Q3", "question_3", "cell-q3-answer", "ques 3", "ans3": a question number by name.
_LABEL_ID = regexes.compile(
    r"(?:^|[^a-z0-9])(?:q|ques|question|ans|answer)[\s_.\-]*(\d{1,3})(?!\d)", re.I
)


def question_id_from_label(label: str) -> str | None:
    """Map an explicit label (metadata value, tag) to ``Q<n>`` when it clearly names a number."""
    label = label.strip()
    if re.fullmatch(r"Q\d{1,4}", label):
        return label
    match = _LABEL_ID.search(label)
    return f"Q{int(match.group(1))}" if match else None


def load(path: str | Path) -> Submission:
    """Read ``path`` into a :class:`Submission`; raise :class:`SubmissionError` when unreadable."""
    p = Path(path)
    name = p.name or str(path)
    if not p.exists():
        raise NoSuchFile(name)
    if p.is_dir():
        raise SubmissionError(f"{name}: is a directory, not a notebook or script")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SubmissionError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    return loads(raw, str(path))


def loads(raw: bytes, path: str) -> Submission:
    """A submission from its bytes, as ``load`` would read it from ``path`` (whose name and
    suffix still decide the format): a remote worker needs no copy on disk."""
    p = Path(path)
    name = p.name or path
    sha = hashlib.sha256(raw).hexdigest()
    text = clean_text(_decode(raw, name))
    if not text.strip():
        raise SubmissionError(f"{name}: empty file")

    suffix = p.suffix.lower()
    if suffix == ".ipynb" or (text.lstrip().startswith("{") and _looks_like_notebook(text)):
        cells, assignment = _read_notebook(text, name)
        return Submission(path, "ipynb", sha, cells, assignment)
    if suffix in _MARKDOWN_SUFFIXES:
        return Submission(path, "py", sha, _read_markdown(text))
    if suffix not in _SCRIPT_SUFFIXES and not _holds_python(text):
        what = f"a {suffix} file" if suffix else "a file"
        raise NotASubmission(f"{name}: {what} with no Python code, not a notebook or script")
    return Submission(path, "py", sha, _read_script(text), _script_assignment(text))


# Scripts by name; any other file (answers.txt, no suffix) is read as one only when it
# holds Python code, so that notes or a report handed in by mistake are refused.
_SCRIPT_SUFFIXES = (".py", ".pyw", ".ipy")
_MARKDOWN_SUFFIXES = (".md", ".markdown")
# The names a submission is looked for by where one upload holds other files too (the
# Gradescope autograder): those ``load`` reads by name, and text files, which it reads as
# a script when they hold Python. Any other name is read that way only when given by
# name (``check answers``): among an upload's PDFs, images and data it is not looked for.
SUFFIXES = (".ipynb", *_SCRIPT_SUFFIXES, *_MARKDOWN_SUFFIXES, ".txt")


def _holds_python(text: str) -> bool:
    """Does the text hold a program: a region of code with a definition or two statements?"""
    return bool(code_regions(text.split("\n")[:20_000]))


# --------------------------------------------------------------------------- decoding


def _decode(raw: bytes, name: str) -> str:
    """Bytes to text with ``\\n`` newlines: UTF-8 (BOM or not), UTF-16 with a BOM, else cp1252."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16", errors="replace")
    else:
        for magic, what in _SIGNATURES.items():
            if raw.startswith(magic):
                raise SubmissionError(f"{name}: binary file ({what}), not a notebook or script")
        if b"\x00" in raw:
            raise SubmissionError(f"{name}: binary file, not a notebook or script")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            # Windows editors save Latin-1/cp1252; a wrong guess only garbles prose characters.
            text = raw.decode("cp1252", errors="replace")
    return _newlines(text.lstrip("\ufeff"))


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --------------------------------------------------------------------------- notebooks


def _looks_like_notebook(text: str) -> bool:
    try:
        data = loads_json(text)
    except ValueError:
        return False
    return isinstance(data, dict) and ("cells" in data or "worksheets" in data)


def _read_notebook(text: str, name: str) -> tuple[tuple[Cell, ...], str | None]:
    try:
        data = loads_json(text)
    except json.JSONDecodeError as exc:
        # json's message reads on into the position ("Unterminated string starting at").
        where = f"line {exc.lineno}, column {exc.colno}"
        said = f"{exc.msg} {where}" if exc.msg.endswith(" at") else f"{exc.msg} at {where}"
        raise SubmissionError(
            f"{name}: not valid JSON: {said} (the file is cut off or was edited by hand; "
            "open and save it in Jupyter, or download it again)"
        ) from None
    except ValueError as exc:
        raise SubmissionError(f"{name}: not a readable notebook ({exc})") from None
    data = clean_strings(data)
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        raise SubmissionError(f"{name}: valid JSON but not a Jupyter notebook (it has no cells)")
    if "nbformat" not in data:
        # Hand-made or stripped notebooks omit the version; their shape says which one.
        data["nbformat"], data["nbformat_minor"] = (3, 0) if "worksheets" in data else (4, 0)
    data.setdefault("metadata", {})
    nb = data if _plain_v4(data) else _converted(data, name)

    language = _language(nb.get("metadata") or {})
    if language and not language.startswith(("python", "ipython", "pyspark")):
        raise SubmissionError(
            f"{name}: {_pretty(language)} notebook, not Python; only Python notebooks are graded"
        )
    cells = tuple(_notebook_cell(i, c) for i, c in enumerate(nb.get("cells") or []))
    ours = nb.get("metadata", {}).get("mpgrade") or {}
    assignment = ours.get("assignment") if isinstance(ours, dict) else None
    return cells, str(assignment) if assignment else None


def _language(meta: Any) -> str:
    """The notebook's language as its metadata states it ("python", "r", "julia"); "" if unstated."""
    for key, field in (("language_info", "name"), ("kernelspec", "language")):
        block = meta.get(key) if isinstance(meta, dict) else None
        value = block.get(field) if isinstance(block, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    return ""


def _pretty(language: str, width: int = 30) -> str:
    """"an R", "a Julia": a metadata value fit for a one-line message, printable and short."""
    text = "".join(ch if ch.isprintable() else "?" for ch in language)[:width]
    text = text.upper() if len(text) <= 2 else text.capitalize()
    return f"{'an' if text[:1] in 'AEIOU' or text in ('R', 'F') else 'a'} {text}"


def _plain_v4(data: dict) -> bool:
    """A version 4 notebook whose shape grading relies on: read as it is, without nbformat
    (its import, conversion and schema validation cost more than the rest of reading)."""
    cells = data.get("cells")
    if data.get("nbformat") != 4 or not isinstance(cells, list):
        return False
    if not isinstance(data.get("metadata"), dict):
        return False
    for cell in cells:
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata", {}), dict):
            return False
        source = cell.get("source", "")
        if not (isinstance(source, str)
                or isinstance(source, list) and all(isinstance(s, str) for s in source)):
            return False
    return True


def _shape_problem(data: dict) -> str | None:
    """What is wrong with the notebook's shape, said plainly, when it is plain: nbformat's
    own message for these names its internals ("'str' object has no attribute 'get'",
    "pop expected at most 1 argument")."""
    meta = data.get("metadata")
    if not isinstance(meta, dict):
        return f'its "metadata" is {_a_json_type(meta)}, not an object'
    if "cells" not in data:
        return None  # version 3 keeps its cells in worksheets: nbformat converts them
    cells = data["cells"]
    if not isinstance(cells, list):
        return f'its "cells" is {_a_json_type(cells)}, not a list of cells'
    for n, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            return f"cell {n} is {_a_json_type(cell)}, not a cell"
        if not isinstance(cell.get("metadata", {}), dict):
            return f'the "metadata" of cell {n} is {_a_json_type(cell["metadata"])}, not an object'
        source = cell.get("source", "")
        if not (isinstance(source, str)
                or isinstance(source, list) and all(isinstance(line, str) for line in source)):
            return f'the "source" of cell {n} is {_a_json_type(source)}, not text'
    return None


def _a_json_type(value: object) -> str:
    names = {str: "a string", bool: "true or false", int: "a number", float: "a number",
             list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), "a value")


def _converted(data: dict, name: str) -> Any:
    """Older or irregular notebooks: nbformat converts them to version 4."""
    problem = _shape_problem(data)
    if problem:
        raise SubmissionError(f"{name}: not a readable Jupyter notebook: {problem} (the file was "
                              "edited by hand or by a tool; open and save it in Jupyter, or download it again)")
    import nbformat

    try:
        return nbformat.reads(json.dumps(data), as_version=4, capture_validation_error={})
    except Exception as exc:  # nbformat raises many types for malformed notebooks
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SubmissionError(f"{name}: not a readable Jupyter notebook ({detail})") from None


def _notebook_cell(index: int, cell: Any) -> Cell:
    kind: CellKind = (
        cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown") else "raw"
    )
    source = cell.get("source") or ""
    if isinstance(source, list):
        source = "".join(source)
    meta = cell.get("metadata") or {}
    tags = tuple(str(t) for t in (meta.get("tags") or ()) if isinstance(t, (str, int)))
    return Cell(index, kind, _newlines(str(source)), _explicit_question(meta, tags), tags)


def _explicit_question(meta: dict, tags: tuple[str, ...]) -> str | None:
    """The question a cell's metadata names: ours, then nbgrader's grade_id, then a tag."""
    ours = meta.get("mpgrade")
    if isinstance(ours, dict) and ours.get("question"):
        label = str(ours["question"])
        return question_id_from_label(label) or label
    nbgrader = meta.get("nbgrader")
    if isinstance(nbgrader, dict) and nbgrader.get("grade_id"):
        qid = question_id_from_label(str(nbgrader["grade_id"]))
        if qid:
            return qid
    for tag in tags:
        if re.fullmatch(r"(?:q|ques|question)[\s_.\-]*\d{1,3}", tag.strip(), re.I):
            return question_id_from_label(tag)
    return None


# --------------------------------------------------------------------------- scripts

_PERCENT = regexes.compile(r"^#\s?%%(?!%)(.*)$")
_IN_MARKER = regexes.compile(r"^#\s*In\s*\[[\s\d]*\]\s*:?\s*$")
_PREAMBLE_LINE = regexes.compile(r"^#!|^#.*coding[:=]")


def _read_script(text: str) -> tuple[Cell, ...]:
    lines = _blank_file_header(text.split("\n"))
    if any(_PERCENT.match(line) for line in lines):
        chunks = _percent_chunks(lines)
    else:
        chunks = _marker_chunks(lines)
    return tuple(
        Cell(i, kind, source, question, tags, line_offset=offset, from_script=True)
        for i, (kind, source, offset, question, tags) in enumerate(chunks)
    )


_HEADER_ASSIGNMENT = regexes.compile(r"^#\s*mpgrade:\s*\n#\s+assignment:\s*([\w.-]+)", re.M)


def _script_assignment(text: str) -> str | None:
    """The exercise id that ``mpgrade template --format py`` writes in the jupytext header."""
    head = re.match(r"(?:[^\n]*\n){0,3}?# ---\n(.*?)\n# ---", text, re.S)
    found = _HEADER_ASSIGNMENT.search(head.group(1)) if head else None
    return found.group(1) if found else None


def _blank_file_header(lines: list[str]) -> list[str]:
    """Blank the shebang, coding line and jupytext YAML header: tool output, not student text.

    Blanking rather than dropping keeps every later line at its line number.
    """
    out = list(lines)
    n = 0
    while n < len(out) and (_PREAMBLE_LINE.match(out[n]) or not out[n].strip()):
        out[n] = ""
        n += 1
    if n < len(out) and out[n].rstrip() == "# ---":
        end = next((i for i in range(n + 1, len(out)) if out[i].rstrip() == "# ---"), None)
        if end is not None:
            out[n : end + 1] = [""] * (end + 1 - n)
    return out


_Chunk = tuple[CellKind, str, int, "str | None", tuple[str, ...]]


def _trimmed(
    kind: CellKind, lines: list[str], start: int, tags: tuple[str, ...] = ()
) -> list[_Chunk]:
    """One chunk from ``lines`` (file offset ``start``) without its blank edge lines."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return []
    last = max(i for i, line in enumerate(lines) if line.strip())
    question = next((question_id_from_label(t) for t in tags if question_id_from_label(t)), None)
    return [(kind, "\n".join(lines[first : last + 1]), start + first, question, tags)]


def _uncomment(lines: list[str]) -> list[str]:
    return [
        line[2:] if line.startswith("# ") else line[1:] if line.startswith("#") else line
        for line in lines
    ]


def _percent_chunks(lines: list[str]) -> list[_Chunk]:
    """jupytext/VS Code/Spyder cells: ``# %%`` starts code, ``# %% [markdown]`` commented prose."""
    chunks: list[_Chunk] = []
    kind: CellKind = "code"
    tags: tuple[str, ...] = ()
    start, body = 0, []
    for n, line in enumerate([*lines, "# %%"]):
        match = _PERCENT.match(line)
        if not match:
            body.append(line)
            continue
        if kind == "markdown":
            body = _uncomment(body)
        chunks += _trimmed(kind, body, start, tags)
        rest = match.group(1)
        kind = (
            "markdown"
            if re.search(r"\[(markdown|md)\]", rest)
            else "raw"
            if "[raw]" in rest
            else "code"
        )
        tags = (
            tuple(re.findall(r'"([^"]+)"', m.group(1)))
            if (m := re.search(r"tags=\[([^\]]*)\]", rest))
            else ()
        )
        title = re.sub(r"\[\w+\]|\w+=(\[[^\]]*\]|\S+)", "", rest).strip()
        start, body = n + 1, []
        if title:
            # A titled cell ("# %% Q3 create a process") names its content like a header cell.
            chunks.append(("markdown", title, n, None, ()))
    return chunks


def _marker_chunks(lines: list[str]) -> list[_Chunk]:
    """nbconvert exports and plain scripts: comments opening a paragraph are prose, the rest code.

    ``# In[ ]:`` markers (nbconvert) force a cell boundary; otherwise consecutive code
    paragraphs stay one cell so that a function with blank lines is not cut up.
    """
    chunks: list[_Chunk] = []
    code: list[str] = []
    code_start = 0

    def flush_code() -> None:
        chunks.extend(_trimmed("code", code, code_start))
        code.clear()

    n = 0
    while n < len(lines):
        if _IN_MARKER.match(lines[n]):
            flush_code()
            n += 1
            code_start = n
            continue
        if not lines[n].strip():
            code.append(lines[n])
            n += 1
            continue
        end = n
        while end < len(lines) and lines[end].strip() and not _IN_MARKER.match(lines[end]):
            end += 1
        paragraph = lines[n:end]
        # Comment lines opening a paragraph are prose, and a header there starts a new chunk.
        lead = next(
            (i for i, line in enumerate(paragraph) if not line.startswith("#")), len(paragraph)
        )
        if lead:
            flush_code()
            chunks.extend(_trimmed("markdown", _uncomment(paragraph[:lead]), n))
            code_start = n + lead
        if lead < len(paragraph):
            if not any(line.strip() for line in code):
                code.clear()
                code_start = n + lead
            code.extend(paragraph[lead:])
        n = end
    flush_code()
    return chunks


def _read_markdown(text: str) -> tuple[Cell, ...]:
    """A Markdown export is one prose cell; ``segment`` cuts it at headers and code fences."""
    return (
        Cell(
            0,
            "markdown",
            text.strip("\n"),
            line_offset=len(text) - len(text.lstrip("\n")),
            from_script=True,
        ),
    )
