"""The interpreter of the student's tree: the grader's own binary, without site-packages.

Started directly, the real binary behind ``sys.executable`` loads its installation's
``site-packages`` and runs every ``.pth`` file there (tens of ms per interpreter, in every
process of the tree). ``-S`` or ``-I`` would avoid that but also switch off
``sitecustomize``, which is how the probe enters each interpreter. A minimal virtual
environment does neither: a ``pyvenv.cfg`` with ``include-system-site-packages = false``
next to a link to the binary gives the standard library, ``PYTHONPATH`` (so the probe) and
nothing else, and spawn and forkserver children start through the same link.

The packages installed beside the grader (its venv's, and those of the installation under
it) stay importable: their directories go on ``PYTHONPATH`` after the probe, where Python
reads no ``.pth`` files, so an answer importing numpy or requests runs as on the student's
machine without paying for every ``.pth`` at each interpreter start.

The environment lives in the shared temp dir so that any uid can run it, named after the
interpreter it wraps and checked before use: owned by us, writable by nobody else, with
the expected contents. When a stranger's dir holds that name, a private one is made.
"""

from __future__ import annotations

import os
import shutil
import site
import stat
import sys
import sysconfig
import tempfile

from mpgrade.cache import fingerprint, once

PREFIX = "mpgrade-python-"


def real_binary() -> str:
    """The real binary behind sys.executable (a venv's python is a symlink to it)."""
    return os.path.realpath(sys.executable)


def _config(binary: str) -> str:
    return f"home = {os.path.dirname(binary)}\ninclude-system-site-packages = false\n"


def _ours(path: str, kind: int) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (stat.S_IFMT(st.st_mode) == kind and st.st_uid == os.geteuid()
            and (kind == stat.S_IFLNK or not st.st_mode & 0o022))


def _valid(home: str, binary: str) -> bool:
    link, cfg = os.path.join(home, "bin", "python"), os.path.join(home, "pyvenv.cfg")
    if not (_ours(home, stat.S_IFDIR) and _ours(os.path.join(home, "bin"), stat.S_IFDIR)
            and _ours(link, stat.S_IFLNK) and _ours(cfg, stat.S_IFREG)):
        return False
    try:
        with open(cfg, encoding="utf-8") as f:
            text = f.read(4096)
        return os.readlink(link) == binary and text == _config(binary)
    except OSError:
        return False


def _populate(home: str, binary: str) -> None:
    os.mkdir(os.path.join(home, "bin"), 0o755)
    os.symlink(binary, os.path.join(home, "bin", "python"))
    with open(os.path.join(home, "pyvenv.cfg"), "w", encoding="utf-8") as f:
        f.write(_config(binary))
    os.chmod(home, 0o755)


def _make(binary: str) -> str | None:
    """The checked environment for ``binary``, made if absent; None when that fails."""
    tmp = tempfile.gettempdir()
    home = os.path.join(tmp, f"{PREFIX}{os.geteuid()}-{fingerprint((binary,))[:16]}")
    if _valid(home, binary):
        return home
    try:
        fresh = tempfile.mkdtemp(prefix=f"mpgrade-run-{os.getpid()}-python-", dir=tmp)
    except OSError:
        return None
    try:
        _populate(fresh, binary)
    except OSError:
        shutil.rmtree(fresh, ignore_errors=True)
        return None
    try:
        os.rename(fresh, home)  # atomic: a racing grader's copy is as good as ours
    except OSError:
        if not _valid(home, binary):
            return fresh  # a name we cannot trust: keep ours (swept once we are gone)
        shutil.rmtree(fresh, ignore_errors=True)
    return home if _valid(home, binary) else None


@once
def _home() -> str | None:
    if not sys.platform.startswith("linux") or sys.implementation.name != "cpython":
        return None
    return _make(real_binary())


def environment() -> str | None:
    """The environment dir to bind into a sandbox (None: the real binary is used)."""
    home = _home()
    if home is not None and not _valid(home, real_binary()):  # removed by a temp cleaner
        _home.cache_clear()  # type: ignore[attr-defined]
        home = _home()
    return home


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
