"""Build a ready-to-upload Gradescope autograder zip for one assignment.

Gradescope runs ``setup.sh`` once, as root, when it builds the image, and
``run_autograder`` per submission, then reads ``/autograder/results/results.json``.

The zip carries everything the image needs from us, so nothing named ``mpgrade`` is
ever fetched from a package index (where it is not published, and where anyone could
publish something under that name): a wheel of mpgrade (by default the running one,
built here from its own files; or ``source``, a wheel or a checkout), the exercise
folder (``exercise.toml``, its ``checks.py``; not its reference solution, and the wheel
carries no ``solutions/``: a student's code can read whatever the image holds), and ``mpgrade-autograder.json`` with the instructor's choices.
``run_autograder`` execs into ``python -m mpgrade.autograder`` at once.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

from mpgrade import __version__
from mpgrade.autograder import CONFIG_NAME
from mpgrade.model import Assignment, value_class
from mpgrade.report.gradescope import GradescopeOptions

SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}
DATA_FOLDERS = ("exercises", "templates", "examples")  # bundled data, without "solutions"
EXERCISE_DIR = "exercise"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# mpgrade is installed from the wheel in this zip, never by name from a package index.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="${AUTOGRADER_ROOT:-/autograder}"

# bubblewrap gives each run its own namespaces; without it mpgrade uses plain isolation.
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    (apt-get update -qq && apt-get install -y -qq "${need[@]}") \\
        || echo "setup.sh: could not install ${need[*]}; grading will use plain isolation" >&2
fi

python3 -m venv "$ROOT/venv"
shopt -s nullglob
wheels=("$HERE"/dist/mpgrade-*.whl)
if [ ${#wheels[@]} -ne 1 ]; then
    echo "setup.sh: expected one mpgrade wheel in $HERE/dist, found ${#wheels[@]}" >&2
    exit 1
fi
"$ROOT/venv/bin/python" -m pip install --quiet --disable-pip-version-check "${wheels[0]}"
"$ROOT/venv/bin/python" -m mpgrade --version
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this once per submission; it hands over to Python at once.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
exec "$ROOT/venv/bin/python" -m mpgrade.autograder --root "$ROOT"
"""


@value_class
class Bundle:
    """What the zip holds besides the two scripts, for the caller to report."""

    wheel: str
    exercise_files: tuple[str, ...]


def build_autograder(
    out_zip: Path,
    assignment: Assignment,
    source: Path | None = None,
    budget_s: float = 540.0,
    output: GradescopeOptions | None = None,
    isolation: str = "auto",
) -> Bundle:
    """Write the autograder zip for ``assignment``.

    ``source`` is a wheel of mpgrade or a checkout with ``pyproject.toml``; without it the
    running mpgrade is packed. ``budget_s`` bounds one submission's grading (keep it under
    the timeout set in Gradescope's autograder settings).
    """
    output = output or GradescopeOptions()
    wheel_name, wheel = _wheel(source)
    exercise = list(_exercise_files(assignment))
    config = {
        "exercise": EXERCISE_DIR,
        "budget_s": budget_s,
        "visibility": output.visibility,
        "stdout_visibility": output.stdout_visibility,
        "prose": output.prose,
        "isolation": isolation,
        "built_by": f"mpgrade {__version__}",
    }
    with zipfile.ZipFile(out_zip, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        _add(zf, "setup.sh", SETUP_SH.encode(), executable=True)
        _add(zf, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
        _add(zf, CONFIG_NAME, (json.dumps(config, indent=2) + "\n").encode())
        _add(zf, f"dist/{wheel_name}", wheel)
        for rel, data in exercise:
            _add(zf, f"{EXERCISE_DIR}/{rel}", data)
    return Bundle(wheel_name, tuple(rel for rel, _ in exercise))


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
    mode = 0o755 if executable else 0o644  # Gradescope runs the scripts directly
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


# --------------------------------------------------------------------------- the exercise


def _exercise_files(assignment: Assignment) -> Iterator[tuple[str, bytes]]:
    """The exercise folder as the autograder loads it, less its reference solution (the
    wrong variants stay: ``exercise.toml`` names them, and they lose points by design)."""
    root = Path(assignment.root)
    if not (root / "exercise.toml").is_file():
        raise ValueError(f"{root}: no exercise.toml to pack")
    solution = Path(assignment.solution).resolve() if assignment.solution else None
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if (path.is_file() and not (SKIPPED_PARTS & set(rel.parts)) and path.suffix != ".pyc"
                and path.resolve() != solution):
            yield rel.as_posix(), path.read_bytes()


# --------------------------------------------------------------------------- the wheel


def _wheel(source: Path | None) -> tuple[str, bytes]:
    if source is None:
        return running_wheel()
    source = Path(source)
    if source.is_file() and source.suffix == ".whl":
        return _wheel_without_solutions(source)
    if source.is_dir() and (source / "pyproject.toml").is_file():
        return _checkout_wheel(source)
    raise ValueError(f"--source {source}: give a mpgrade wheel (.whl) or a checkout with pyproject.toml")


def running_wheel() -> tuple[str, bytes]:
    """A wheel of the mpgrade that is running, from its own files and metadata: works for
    an installed wheel, an editable install and a checkout alike, with no build tool."""
    from importlib import metadata

    from mpgrade.resources import data_dir

    package = Path(__file__).resolve().parent
    files = dict(_tree(package, "mpgrade"))
    if not (package / "data").is_dir():  # a checkout: the data folders sit beside src/
        for name in DATA_FOLDERS:
            files.update(_tree(data_dir(name), f"mpgrade/data/{name}"))
    try:
        dist = metadata.distribution("mpgrade")
        meta, entry_points = dist.read_text("METADATA"), dist.read_text("entry_points.txt")
    except metadata.PackageNotFoundError:
        meta = entry_points = None
    if not meta or not entry_points:
        raise ValueError("the running mpgrade has no installed metadata: give --source PATH")
    return _pack(files, meta, entry_points)


def _checkout_wheel(root: Path) -> tuple[str, bytes]:
    """A wheel from a source checkout, read from its pyproject.toml."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    if project.get("name") != "mpgrade":
        raise ValueError(f"--source {root}: pyproject.toml is not mpgrade's")
    files = dict(_tree(root / "src" / "mpgrade", "mpgrade"))
    for name in DATA_FOLDERS:
        files.update(_tree(root / name, f"mpgrade/data/{name}"))
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '>=3.10')}",
        *(f"Requires-Dist: {req}" for req in project.get("dependencies", [])),
    ]
    scripts = project.get("scripts", {})
    entry_points = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())
    return _pack(files, "\n".join(lines) + "\n", entry_points)


def _wheel_without_solutions(path: Path) -> tuple[str, bytes]:
    """A given wheel, less the reference solutions it may carry."""
    with zipfile.ZipFile(path) as zf:
        if not any(n.startswith("mpgrade/") for n in zf.namelist()):
            raise ValueError(f"--source {path}: not a mpgrade wheel")
        kept = {
            n: zf.read(n) for n in zf.namelist()
            if not n.startswith("mpgrade/data/solutions/") and not n.endswith("/RECORD") and not n.endswith("/")
        }
        dist_info = next(n.split("/")[0] for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
    return path.name, _zip_with_record(kept, f"{dist_info}/RECORD")


def _tree(folder: Path, prefix: str) -> Iterator[tuple[str, bytes]]:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not (SKIPPED_PARTS & set(rel.parts)) and path.suffix != ".pyc":
            if prefix == "mpgrade" and rel.parts[:2] == ("data", "solutions"):
                continue
            yield f"{prefix}/{rel.as_posix()}", path.read_bytes()


def _pack(files: dict[str, bytes], metadata_text: str, entry_points: str) -> tuple[str, bytes]:
    version = next(
        line.split(":", 1)[1].strip() for line in metadata_text.splitlines() if line.startswith("Version:")
    )
    info = f"mpgrade-{version}.dist-info"
    files = {
        **files,
        f"{info}/METADATA": metadata_text.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: mpgrade gradescope-build\n"
                         b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": entry_points.encode(),
    }
    return f"mpgrade-{version}-py3-none-any.whl", _zip_with_record(files, f"{info}/RECORD")


def _zip_with_record(files: dict[str, bytes], record_name: str) -> bytes:
    """A wheel archive of ``files`` with its RECORD of hashes (as the wheel format asks)."""
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([name, f"sha256={digest}", len(data)])
    writer.writerow([record_name, "", ""])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in {**files, record_name: record.getvalue().encode()}.items():
            _add(zf, name, data)
    return buffer.getvalue()
