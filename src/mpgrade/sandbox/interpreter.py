"""The interpreter of the student's tree: the grader's own binary, without site-packages.

Started directly, the real binary behind ``sys.executable`` loads its installation's
``site-packages`` and runs every ``.pth`` file there (tens of ms per interpreter, in every
process of the tree). ``-S`` or ``-I`` would avoid that but also switch off
``sitecustomize``, which is how the probe enters each interpreter. A minimal virtual
environment does neither: a ``pyvenv.cfg`` with ``include-system-site-packages = false``
next to a link to the binary gives the standard library, ``PYTHONPATH`` (so the probe) and
nothing else, and spawn and forkserver children start through the same link.

The packages installed beside the grader (its venv's, and those of the installation under
it) stay importable: the environment's own ``site-packages`` holds one ``.pth`` file that
lists their directories, which ``site`` appends to ``sys.path`` after the standard library
without reading the ``.pth`` files inside them. So an answer importing numpy or requests
runs as on the student's machine, the standard library is found first (as without the
sandbox), and no interpreter start pays for searching those directories on every import.

The environment lives in the shared temp dir so that any uid can run it, named after the
interpreter it wraps and the directories it lists, and checked before use: owned by us,
writable by nobody else, with the expected contents. When a stranger's dir holds that
name, a private one is made.
"""

from __future__ import annotations

import os
import shutil
import site
import stat
import sys
import sysconfig
import tempfile

from mpgrade.cache import file_identity, fingerprint, once, remembered
from mpgrade.model import START_METHODS

PREFIX = "mpgrade-python-"
LIBRARIES_PTH = "mpgrade-libraries.pth"


@once
def real_binary() -> str:
    """The real binary behind sys.executable (a venv's python is a symlink to it)."""
    return os.path.realpath(sys.executable)


@once
def start_methods() -> tuple[str, ...]:
    """The tree's start methods, its default first: those of this binary, which runs it.

    Kept on disk per binary, since importing ``multiprocessing`` to ask costs a short check
    about a twentieth of its start-up."""

    def ask() -> list[str]:
        import multiprocessing

        return multiprocessing.get_all_start_methods()

    found = remembered("start-methods", (file_identity(real_binary()), sys.platform), ask)
    if isinstance(found, list) and found and set(found) <= set(START_METHODS):
        return tuple(found)
    return tuple(ask())  # a kept answer that names no start method is not believed


def _config(binary: str) -> str:
    return f"home = {os.path.dirname(binary)}\ninclude-system-site-packages = false\n"


def _ours(path: str, kind: int) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (stat.S_IFMT(st.st_mode) == kind and st.st_uid == os.geteuid()
            and (kind == stat.S_IFLNK or not st.st_mode & 0o022))


def _site_packages(home: str) -> str:
    """The environment's own site-packages, where ``site`` reads its ``.pth`` files."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return os.path.join(home, "lib", version, "site-packages")


def _pth_text(libraries: tuple[str, ...]) -> str:
    return "".join(f"{d}\n" for d in libraries)


def _valid(home: str, binary: str, libraries: tuple[str, ...]) -> bool:
    link, cfg = os.path.join(home, "bin", "python"), os.path.join(home, "pyvenv.cfg")
    site_dir = _site_packages(home)
    pth = os.path.join(site_dir, LIBRARIES_PTH)
    dirs = (home, os.path.join(home, "bin"), os.path.join(home, "lib"), os.path.dirname(site_dir),
            site_dir)
    if not (all(_ours(d, stat.S_IFDIR) for d in dirs) and _ours(link, stat.S_IFLNK)
            and _ours(cfg, stat.S_IFREG) and _ours(pth, stat.S_IFREG)):
        return False
    try:
        if os.listdir(site_dir) != [LIBRARIES_PTH]:
            return False
        with open(cfg, encoding="utf-8") as f:
            config = f.read(4096)
        with open(pth, encoding="utf-8") as f:
            listed = f.read(65536)
        return os.readlink(link) == binary and config == _config(binary) and listed == _pth_text(libraries)
    except OSError:
        return False


def _populate(home: str, binary: str, libraries: tuple[str, ...]) -> None:
    os.mkdir(os.path.join(home, "bin"), 0o755)
    os.symlink(binary, os.path.join(home, "bin", "python"))
    with open(os.path.join(home, "pyvenv.cfg"), "w", encoding="utf-8") as f:
        f.write(_config(binary))
    site_dir = _site_packages(home)
    os.makedirs(site_dir)
    pth = os.path.join(site_dir, LIBRARIES_PTH)
    with open(pth, "w", encoding="utf-8") as f:
        f.write(_pth_text(libraries))
    # Readable by any uid (a root grader's tree runs as nobody), whatever the umask.
    for path in (home, os.path.join(home, "lib"), os.path.dirname(site_dir), site_dir):
        os.chmod(path, 0o755)
    os.chmod(pth, 0o644)
    os.chmod(os.path.join(home, "pyvenv.cfg"), 0o644)


def _make(binary: str, libraries: tuple[str, ...]) -> str | None:
    """The checked environment for ``binary`` listing ``libraries``, made if absent; None
    when that fails."""
    tmp = tempfile.gettempdir()
    home = os.path.join(tmp, f"{PREFIX}{os.geteuid()}-{fingerprint((binary, *libraries))[:16]}")
    if _valid(home, binary, libraries):
        return home
    try:
        fresh = tempfile.mkdtemp(prefix=f"mpgrade-run-{os.getpid()}-python-", dir=tmp)
    except OSError:
        return None
    try:
        _populate(fresh, binary, libraries)
    except OSError:
        shutil.rmtree(fresh, ignore_errors=True)
        return None
    try:
        os.rename(fresh, home)  # atomic: a racing grader's copy is as good as ours
    except OSError:
        if not _valid(home, binary, libraries):
            return fresh  # a name we cannot trust: keep ours (swept once we are gone)
        shutil.rmtree(fresh, ignore_errors=True)
    return home if _valid(home, binary, libraries) else None


@once
def _home() -> str | None:
    if not sys.platform.startswith("linux") or sys.implementation.name != "cpython":
        return None
    return _make(real_binary(), library_dirs())


def _identity(home: str) -> tuple[int, ...] | None:
    """Who made ``home`` and its ``.pth``, and when: unchanged, nobody replaced them.

    Only its owner can change a dir nobody else may write to; a stranger's copy made after
    a temp cleaner removed ours has another owner (or, if ours again, another inode or
    time), so an unchanged identity stands for the full check it passed.
    """
    try:
        d = os.lstat(home)
        f = os.lstat(os.path.join(_site_packages(home), LIBRARIES_PTH))
    except OSError:
        return None
    return (d.st_dev, d.st_ino, d.st_uid, d.st_mode, d.st_mtime_ns, f.st_ino, f.st_uid, f.st_mode,
            f.st_mtime_ns, f.st_size)


_checked: dict[str, tuple[int, ...]] = {}  # home -> its identity when it last passed _valid


def environment() -> str | None:
    """The environment dir to bind into a sandbox (None: the real binary is used, and the
    library directories go on ``PYTHONPATH`` instead). Checked on every call, in full only
    when its identity changed: every run asks several times."""
    home = _home()
    if home is None:
        return None
    identity = _identity(home)
    if identity is not None and _checked.get(home) == identity:
        return home
    if not _valid(home, real_binary(), library_dirs()):  # removed by a temp cleaner
        _home.cache_clear()  # type: ignore[attr-defined]
        home = _home()
        if home is None:
            return None
    identity = _identity(home)
    if identity is not None:
        _checked[home] = identity
    return home


def path_libraries() -> tuple[str, ...]:
    """The library directories the tree must find on ``PYTHONPATH``: none when the
    environment's ``.pth`` lists them."""
    return () if environment() else library_dirs()


def interpreter() -> str:
    """The program the student's tree runs: the environment's python, else the real binary."""
    home = environment()
    return os.path.join(home, "bin", "python") if home else real_binary()


@once
def library_dirs() -> tuple[str, ...]:
    """Site-packages of the grader's Python and of the installation under it, existing ones
    only, in import order (a venv's own packages first)."""
    dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    base = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
    dirs += [base["purelib"], base["platlib"]]
    found: list[str] = []
    for d in dirs:
        real = os.path.realpath(d)
        if os.path.isdir(real) and real not in found:
            found.append(real)
    return tuple(found)
