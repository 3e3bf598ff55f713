"""Find every student's submission in folders, files and zip archives.

Teachers hand us whatever their LMS exported: a Canvas zip of flat files, Moodle's
folder per student, a Gradescope export, or a folder of files named by student. This
module turns all of them into one ``Entry`` per student (the newest file when a
student submitted several), so the runner never needs to know where a file came from.
Zip archives are extracted defensively: they come from students.
"""

from __future__ import annotations

import os
import re
import stat
import time
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath

from mpgrade import regexes
from mpgrade.model import value_class
from mpgrade.sandbox.scratch import remove_tree
from mpgrade.untrusted import clean_text

GRADABLE = (".ipynb", ".py")
SKIP_DIRS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints", ".git", ".mpgrade"}
GRADESCOPE_META = "submission_metadata.yml"

# Zip safety caps: a student archive is tiny; anything near these is hostile or a mistake.
MAX_MEMBER_BYTES = 50 * 2**20
MAX_ARCHIVE_BYTES = 1024 * 2**20
MAX_MEMBERS = 20_000
MAX_ZIP_DEPTH = 2

_CANVAS = regexes.compile(r"^(?P<name>[^_\d][^\d]*?)_(?:(?P<late>LATE)_)?(?P<uid>\d+)_(?P<sub>\d+)_(?P<file>.+)$")
_MOODLE = regexes.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.*)$")
_GRADESCOPE_DIR = regexes.compile(r"^submission_(?P<id>\d+)$")


class DiscoveryError(Exception):
    """An input that cannot be used at all (missing path): a usage error, not an error row."""


@value_class
class Identity:
    """Who a file belongs to, as far as its name and layout tell."""

    student: str
    name: str = ""
    email: str = ""
    layout: str = "plain"  # "plain" | "canvas" | "moodle" | "gradescope"
    late: bool = False

    def __post_init__(self) -> None:
        # From file names: undecodable bytes must not reach a UTF-8 writer (grades.csv).
        for key in ("student", "name", "email"):
            object.__setattr__(self, key, clean_text(getattr(self, key)))


@value_class
class Found:
    """One file (or one unusable item) attributed to a student."""

    identity: Identity
    source: str  # how a person finds it: "class.zip/smith_john_12_34_hw.ipynb"
    path: Path | None = None  # on disk (maybe extracted); None for an unusable item
    mtime: float = 0.0
    problem: str = ""  # why it cannot be graded, when it cannot

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", clean_text(self.source))
        object.__setattr__(self, "problem", clean_text(self.problem))


@value_class
class Entry:
    """The one submission graded for a student, or the reason there is none."""

    identity: Identity
    source: str
    path: Path | None
    mtime: float
    notes: tuple[str, ...] = ()
    error: str = ""

    @property
    def student(self) -> str:
        return self.identity.student


@value_class
class _Context:
    """What an enclosing folder or archive already says about the files inside it."""

    source: str  # display prefix
    identity: Identity | None = None
    gradescope: dict[str, Identity] | None = None  # submission folder -> identity
    depth: int = 0


def find_submissions(inputs: tuple[Path, ...], scratch: Path, exclude: tuple[Path, ...] = ()) -> list[Found]:
    """Every gradable file under ``inputs``; zips are extracted below ``scratch``."""
    walker = _Walker(scratch, tuple(p.resolve() for p in exclude))
    found: list[Found] = []
    for item in inputs:
        if not item.exists():
            raise DiscoveryError(f"{item}: no such file or folder")
        found.extend(_folders_name_students(list(walker.walk_input(item))))
    return found


def _folders_name_students(found: list[Found]) -> list[Found]:
    """Plain file names repeated in different folders of one input (``alice/hw.ipynb``,
    ``bob/hw.ipynb``) name the assignment, not the student: there each file's folder names
    its student, so that no student hides behind another's newer file. The same name in two
    inputs (``class/bob.py``, ``late/bob.py``) stays one student: the newer file counts."""
    folders: dict[str, set[str]] = {}
    for f in found:
        if f.identity.layout == "plain":
            folders.setdefault(f.identity.student, set()).add(str(PurePosixPath(f.source).parent))
    shared = {stem for stem, where in folders.items() if len(where) > 1}
    return [
        replace(f, identity=replace(f.identity, student=PurePosixPath(f.source).parent.name))
        if f.identity.layout == "plain" and f.identity.student in shared
        and PurePosixPath(f.source).parent.name else f
        for f in found
    ]


def choose_newest(found: list[Found]) -> list[Entry]:
    """One entry per student: the newest gradable file, the others named in the notes."""
    by_student: dict[str, list[Found]] = {}
    for f in found:
        by_student.setdefault(f.identity.student, []).append(f)
    entries = []
    for student in sorted(by_student):
        items = by_student[student]
        usable = sorted((f for f in items if f.path is not None), key=lambda f: (f.mtime, f.source))
        problems = [f for f in items if f.path is None]
        if not usable:
            reason = "; ".join(sorted({f"{f.source}: {f.problem}" for f in problems}))
            first = problems[0]
            entries.append(Entry(first.identity, first.source, None, first.mtime, error=reason))
            continue
        newest = usable[-1]
        notes: list[str] = []
        if len(usable) > 1:
            older = ", ".join(f.source for f in reversed(usable[:-1]))
            notes.append(
                f"{len(usable)} files submitted: graded the newest, {newest.source} "
                f"({_when(newest.mtime)}); ignored {older}"
            )
        notes.extend(f"ignored {f.source}: {f.problem}" for f in problems)
        if any(f.identity.late for f in items):
            notes.append("marked late by the LMS")
        entries.append(Entry(newest.identity, newest.source, newest.path, newest.mtime, tuple(notes)))
    return entries


def _when(mtime: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime))


# --------------------------------------------------------------------------- identities


def identity_from_name(filename: str, inherited: Identity | None) -> Identity:
    """Student of a file from its own name: Canvas or Moodle naming, else the stem."""
    m = _CANVAS.match(filename)
    if m:
        return Identity(m["uid"], _display(m["name"]), layout="canvas", late=bool(m["late"]))
    m = _MOODLE.match(filename)
    if m:
        return Identity(m["id"], m["name"], layout="moodle")
    if inherited is not None:
        return inherited
    return Identity(PurePosixPath(filename).stem)


def identity_from_dir(dirname: str, ctx: _Context) -> Identity | None:
    """Moodle's ``Full Name_<id>_assignsubmission_file_`` and Gradescope's ``submission_<id>``."""
    m = _MOODLE.match(dirname + ("" if dirname.endswith("_") else "_"))
    if m and not m["file"]:
        return Identity(m["id"], m["name"], layout="moodle")
    m = _GRADESCOPE_DIR.match(dirname)
    if m:
        known = (ctx.gradescope or {}).get(dirname)
        return known or Identity(dirname, layout="gradescope")
    return None


def _display(canvas_name: str) -> str:
    """Canvas writes ``lastname_firstname`` (or ``lastnamefirstname``): keep it readable."""
    return canvas_name.replace("_", " ").strip()


def parse_gradescope_metadata(text: str) -> dict[str, Identity]:
    """Submitters per ``submission_<id>`` from Gradescope's ``submission_metadata.yml``.

    The file is a fixed, machine-written shape; reading the few keys we need line by line
    avoids a YAML dependency. The first submitter of a group is the student of record.
    """
    out: dict[str, Identity] = {}
    current: str | None = None
    fields: dict[str, str] = {}

    def flush() -> None:
        if current is not None:
            sid = fields.get("sid") or fields.get("email") or current
            out[current] = Identity(sid, fields.get("name", ""), fields.get("email", ""), "gradescope")

    for raw in text.splitlines():
        top = re.match(r"^(submission_\d+):\s*$", raw)
        if top:
            flush()
            current, fields = top[1], {}
            continue
        m = re.match(r"^\s*-?\s*:(name|sid|email):\s*(.*?)\s*$", raw)
        if m and current is not None and m[1] not in fields:
            value = m[2].strip("'\"")
            if value:
                fields[m[1]] = value
    flush()
    return out


# --------------------------------------------------------------------------- walking


class _Walker:
    """Walks folders and archives, extracting archives into numbered scratch folders."""

    def __init__(self, scratch: Path, exclude: tuple[Path, ...]) -> None:
        self.scratch = scratch
        self.exclude = exclude
        self.archives = 0

    def walk_input(self, item: Path) -> Iterator[Found]:
        if item.is_dir():
            yield from self._walk_dir(item, _Context(source=item.name))
        elif item.suffix.lower() == ".zip":
            # A zip named on the command line is a container (a class export), not one student's.
            yield from self._walk_zip(item, item.name, _Context(source=""), container=True)
        else:
            yield from self._file(item, item.name, _Context(source=""))

    def _walk_dir(self, folder: Path, ctx: _Context) -> Iterator[Found]:
        if folder.resolve() in self.exclude:
            return
        meta = folder / GRADESCOPE_META
        if meta.is_file():
            ctx = replace(ctx, gradescope=parse_gradescope_metadata(_read_text(meta)))
        try:
            children = sorted(folder.iterdir())
        except OSError as exc:
            if ctx.identity is None:
                raise DiscoveryError(f"{folder}: cannot read it ({exc.strerror})") from None
            yield Found(ctx.identity, ctx.source, problem=f"cannot read the folder ({exc.strerror})")
            return
        seen_gradable = False
        others: list[str] = []
        for child in children:
            if child.name.startswith(".") or child.name in SKIP_DIRS:
                continue
            source = f"{ctx.source}/{child.name}" if ctx.source else child.name
            if child.is_symlink():
                continue  # a link can point anywhere: students' exports never need one
            if child.is_dir():
                who = identity_from_dir(child.name, ctx)
                sub = replace(ctx, source=source, identity=who or ctx.identity)
                yield from self._walk_dir(child, sub)
            elif child.suffix.lower() in (*GRADABLE, ".zip"):
                seen_gradable = True
                yield from self._file(child, source, ctx)
            elif child.name != GRADESCOPE_META:
                others.append(child.name)
        if ctx.identity is not None and not seen_gradable and others:
            yield _nothing_gradable(ctx, others)

    def _file(self, path: Path, source: str, ctx: _Context) -> Iterator[Found]:
        who = identity_from_name(path.name, ctx.identity)
        if path.suffix.lower() == ".zip":
            yield from self._walk_zip(path, source, replace(ctx, identity=who), container=False)
            return
        try:
            mtime = path.stat().st_mtime
        except OSError as exc:
            yield Found(who, source, problem=f"cannot read: {exc.strerror}")
            return
        yield Found(who, source, path, mtime)

    def _walk_zip(self, path: Path, source: str, ctx: _Context, container: bool) -> Iterator[Found]:
        """Extract the parts of an archive we may grade, then walk them like a folder."""
        owner = ctx.identity or identity_from_name(path.name, None)
        if ctx.depth >= MAX_ZIP_DEPTH:
            yield Found(owner, source, problem="archive nested too deeply")
            return
        self.archives += 1
        target = self.scratch / f"zip{self.archives}"
        try:
            skipped, others = _extract(path, target)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, RuntimeError) as exc:
            yield Found(owner, source, problem=f"unreadable zip archive: {_one_line(exc)}")
            return
        for name, why in skipped:
            who = identity_from_name(PurePosixPath(name).name, ctx.identity)
            yield Found(who, f"{source}/{name}", problem=why)
        # A student's own archive belongs to them: its inner names do not name students.
        inner = _Context(source=source, identity=None if container else owner, depth=ctx.depth + 1)
        yielded = False
        for found in self._walk_dir(target, inner):
            yielded = True
            yield found
        if not container and not yielded and not skipped:
            yield _nothing_gradable(inner, others or ["nothing"])


def _nothing_gradable(ctx: _Context, others: list[str]) -> Found:
    names = ", ".join(others[:5]) + (" …" if len(others) > 5 else "")
    assert ctx.identity is not None
    return Found(ctx.identity, ctx.source, problem=f"no .ipynb or .py file (found {names})")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# --------------------------------------------------------------------------- safe extraction


def _wanted(name: str) -> bool:
    lower = name.lower()
    return lower.endswith((*GRADABLE, ".zip")) or PurePosixPath(lower).name == GRADESCOPE_META


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """Member path as plain relative parts; None for absolute, drive or ``..`` paths."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        return None
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if not parts or ".." in parts:
        return None
    if any(p in SKIP_DIRS or p.startswith(".") for p in parts):
        return ()
    return parts


def _extract(archive: Path, target: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Extract gradable members under ``target``.

    Returns (member, reason) for refused members and the names of the members left out
    because we do not grade them (shown when a student's archive holds nothing gradable).

    Sizes in the zip headers are the archive's claim, not a fact: every byte written is
    counted, so a zip bomb stops at the cap whatever it declares.
    """
    skipped: list[tuple[str, str]] = []
    others: list[str] = []
    written = 0
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > MAX_MEMBERS:
            raise ValueError(f"{len(members)} entries (at most {MAX_MEMBERS})")
        for info in members:
            if info.is_dir():
                continue
            name = _member_name(info)
            if not _wanted(name):
                others.append(PurePosixPath(name).name)
                continue
            parts = _safe_parts(name)
            if parts is None:
                skipped.append((name, "refused: path escapes the archive"))
                continue
            if not parts:
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                skipped.append((name, "refused: symbolic link"))
                continue
            if info.flag_bits & 0x1:
                skipped.append((name, "refused: encrypted"))
                continue
            dest = target.joinpath(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                written += _copy_capped(zf, info, dest, MAX_ARCHIVE_BYTES - written)
            except _TooBig as exc:
                dest.unlink(missing_ok=True)
                skipped.append((name, f"refused: {exc}"))
                continue
            stamp = time.mktime((*info.date_time, 0, 0, -1))
            os.utime(dest, (stamp, stamp))
    return skipped, others


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its archiver meant it. A name without the zip's UTF-8 flag is
    read as cp437, as the format says; but Info-ZIP, macOS and most LMS exports write UTF-8
    without setting the flag, so a name whose bytes are valid UTF-8 is read as UTF-8
    ("Ångström", not "├àngstr├╢m"). Real cp437 names are rarely valid UTF-8 beyond ASCII."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


class _TooBig(Exception):
    pass


def _copy_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, budget: int) -> int:
    cap = min(MAX_MEMBER_BYTES, budget)
    total = 0
    with zf.open(info) as src, open(dest, "wb") as out:
        while chunk := src.read(1 << 16):
            total += len(chunk)
            if total > cap:
                raise _TooBig(f"larger than {cap // 2**20} MiB once uncompressed")
            out.write(chunk)
    return total


def remove_scratch(scratch: Path) -> None:
    """Never raises, never recurses: an archive can nest folders thousands deep."""
    remove_tree(scratch)
