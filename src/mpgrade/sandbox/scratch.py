"""Scratch dirs of runs: made, held, removed and swept without ever raising.

A run's scratch dir is written by the student's tree, so its shape is hostile: thousands
of nested levels (``shutil.rmtree`` recurses per level and raises ``RecursionError``;
the path outgrows ``PATH_MAX``), directories without permissions, symlinks. Removal here
walks with directory fds and an explicit stack (no recursion, no long paths, one fd open
per level), never follows a link, and returns whether everything went instead of raising:
one bad leftover never stops a run.

Liveness of a dir's supervisor is an ``flock`` held on the dir for the whole run, not only
the pid in its name: a pid says nothing across pid namespaces sharing one ``/tmp``, and
the kernel drops the lock the moment the holder dies. A dir is swept only when its named
supervisor is gone *and* nobody holds its lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

RUN_DIR_PREFIX = "mpgrade-run-"
SUBDIRS = ("work", "meta", "tmp")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_MAX_ENTRIES = 5_000_000  # a bound on the walk even if the tree keeps changing under it


def _open_dir(name: str, dir_fd: int | None) -> int | None:
    """An fd of the directory ``name`` (never through a link); a 000 dir is made readable."""
    for _attempt in range(2):
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except PermissionError:
            try:
                os.chmod(name, 0o700, dir_fd=dir_fd, follow_symlinks=dir_fd is None)
            except (OSError, NotImplementedError):
                return None
        except OSError:
            return None
    return None


def _children(fd: int) -> list[str] | None:
    """Unlink the non-directories in ``fd``; the names of its subdirectories."""
    try:
        entries = list(os.scandir(fd))
    except OSError:
        return None
    subdirs = []
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            subdirs.append(entry.name)
            continue
        try:
            os.unlink(entry.name, dir_fd=fd)
        except OSError:
            pass
    return subdirs


def remove_tree(path: str | os.PathLike[str]) -> bool:
    """Delete ``path`` and everything under it; True when it is gone. Never raises.

    Depth-first with an explicit stack of (fd, name in the parent, pending subdirectory
    names): each directory is listed once, its files unlinked, its subdirectories entered
    by name relative to the parent's fd, and removed from the parent once emptied.
    """
    try:
        path = os.fspath(path)
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return True
    except FileNotFoundError:
        return True
    except (OSError, TypeError, ValueError):
        return False
    top = _open_dir(path, None)
    if top is None:
        return False
    stack: list[tuple[int, str, list[str]]] = [(top, "", _children(top) or [])]
    budget = _MAX_ENTRIES
    try:
        while stack and budget > 0:
            fd, _, pending = stack[-1]
            if not pending:
                _, name, _ = stack.pop()
                os.close(fd)
                if stack:
                    with contextlib.suppress(OSError):
                        os.rmdir(name, dir_fd=stack[-1][0])
                continue
            name = pending.pop()
            budget -= 1
            child = _open_dir(name, fd)
            if child is None:
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=fd)
                continue
            stack.append((child, name, _children(child) or []))
    except OSError:
        pass
    finally:
        for fd, _, _ in stack:
            with contextlib.suppress(OSError):
                os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(path)
    return not os.path.lexists(path)


class ScratchError(OSError):
    """A run's scratch dir could not be made or filled (a full disk, a hostile /tmp)."""


class ScratchDir:
    """``<tmp>/mpgrade-run-<pid>-<random>/{work,meta,tmp}``, locked while the run lives."""

    def __init__(self, top: Path, lock_fd: int) -> None:
        self.top = top
        self._lock_fd = lock_fd

    @classmethod
    def make(cls, files: dict[str, str], attempts: int = 3) -> ScratchDir:
        """A fresh dir holding ``files`` under work/; retried in a new dir when anything in
        the set-up fails, so a transient error (or a dir swept from under us) costs nothing."""
        for name in files:
            _relative(name)
        last: OSError | None = None
        for _attempt in range(attempts):
            try:
                top = Path(tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{os.getpid()}-"))
            except OSError as exc:
                last = exc
                continue
            lock = _lock(str(top))
            try:
                if lock is None:
                    raise OSError(f"cannot lock {top}")
                for sub in SUBDIRS:
                    (top / sub).mkdir()
                write_files(top / "work", files)
                (top / "meta" / "trace.jsonl").touch()
                return cls(top, lock)
            except OSError as exc:
                last = exc
                if lock is not None:
                    os.close(lock)
                remove_tree(top)
        raise ScratchError(f"cannot set up a scratch dir for the run: {last}")

    def give_to(self, uid: int) -> None:
        """Make work/, meta/, tmp/ and what is in them ``uid``'s, the top dir traversable
        only: a tree dropped to ``uid`` writes there and nowhere else of ours."""
        os.chmod(self.top, 0o711)
        for sub in SUBDIRS:
            for root, dirs, files in os.walk(self.top / sub):
                for name in (root, *(os.path.join(root, n) for n in (*dirs, *files))):
                    os.chown(name, uid, uid, follow_symlinks=False)

    def remove(self) -> bool:
        """Delete the dir (the lock goes last, so no sweeper races us). Never raises."""
        gone = remove_tree(self.top)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)
        return gone


def write_files(work: Path, files: dict[str, str]) -> None:
    """The run's files, each at a relative path that stays in ``work`` (ValueError if not)."""
    for name, text in files.items():
        path = work.joinpath(*_relative(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", errors="surrogatepass")


def _relative(name: str) -> tuple[str, ...]:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"file name must be relative and stay in the work dir: {name!r}")
    return rel.parts


def _lock(path: str) -> int | None:
    """An fd holding an exclusive flock on the directory ``path``, or None."""
    fd = _open_dir(path, None)
    if fd is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _owner_gone(name: str) -> bool:
    import psutil  # only when there is a leftover to judge

    owner = name[len(RUN_DIR_PREFIX):].split("-", 1)[0]
    return owner.isdigit() and len(owner) < 10 and not psutil.pid_exists(int(owner))


_swept = threading.Event()
_sweeping = threading.Lock()


def sweep(tmp: str | None = None) -> int:
    """Once per supervisor process: remove dirs of supervisors that died before their
    clean-up. Returns how many could not be removed; never raises."""
    if _swept.is_set():
        return 0
    with _sweeping:
        if _swept.is_set():
            return 0
        failed = sweep_now(tmp or tempfile.gettempdir())
        _swept.set()
    return failed


def sweep_now(tmp: str) -> int:
    """One pass over ``tmp``: dead owner and no lock holder means the dir is garbage."""
    try:
        names = [n for n in os.listdir(tmp) if n.startswith(RUN_DIR_PREFIX)]
    except OSError:
        return 0
    failed = 0
    for name in names:
        path = os.path.join(tmp, name)
        try:
            if not _owner_gone(name):
                continue
        except Exception:  # psutil on an odd platform: judge nothing rather than stop
            continue
        lock = _lock(path)
        if lock is None:
            continue  # held: a live supervisor (in another pid namespace) still uses it
        try:
            if not remove_tree(path):
                failed += 1
        finally:
            os.close(lock)
    return failed


@contextlib.contextmanager
def scratch_dir(files: dict[str, str]) -> Iterator[ScratchDir]:
    """The run's scratch dir for the duration of a ``with`` block, removed after it."""
    sweep()
    d = ScratchDir.make(files)
    try:
        yield d
    finally:
        d.remove()
