"""Build a ready-to-upload Gradescope autograder zip for one assignment.

Gradescope runs ``setup.sh`` once when it builds the image and ``run_autograder`` per
submission, then reads ``/autograder/results/results.json``. A run that leaves no
results file, or is killed by Gradescope's global timeout, shows the student a bare
zero; so ``run_autograder`` bounds the grader with its own timeout and writes a valid
results.json explaining the failure whatever happens.
"""

from __future__ import annotations

import io
import shlex
import tarfile
import zipfile
from pathlib import Path

# What a source checkout needs for ``pip install`` (pyproject's force-include folders too).
SOURCE_PARTS = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "src",
    "exercises",
    "solutions",
    "templates",
    "examples",
)
SKIPPED = {"__pycache__", ".pytest_cache", ".ruff_cache"}

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="${AUTOGRADER_ROOT:-/autograder}"

# bubblewrap gives each run its own pid namespace; without it mpgrade falls back to plain isolation.
if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq bubblewrap python3-venv python3-pip \\
        || echo "setup.sh: could not install bubblewrap; grading will use plain isolation" >&2
fi

python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
shopt -s nullglob
bundled=("$HERE"/dist/*)
if [ ${#bundled[@]} -gt 0 ]; then
    "$ROOT/venv/bin/python" -m pip install --quiet "${bundled[0]}"
else
    "$ROOT/venv/bin/python" -m pip install --quiet mpgrade
fi
"$ROOT/venv/bin/mpgrade" --help >/dev/null
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this once per submission. It must always leave a valid results.json.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
ASSIGNMENT=__ASSIGNMENT__
BUDGET="${MPGRADE_BUDGET_S:-__BUDGET__}"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"

if [ -x "$ROOT/venv/bin/mpgrade" ]; then
    MPGRADE=("$ROOT/venv/bin/mpgrade"); PY="$ROOT/venv/bin/python"
elif command -v mpgrade >/dev/null 2>&1; then
    MPGRADE=(mpgrade); PY="$(command -v python3)"
else
    MPGRADE=(python3 -m mpgrade); PY="$(command -v python3)"
fi

# Write a results.json with score 0 and the reason, so the student sees why.
fail() {
    "$PY" - "$RESULTS" "$1" <<'PYEOF'
import json, sys
path, message = sys.argv[1], sys.argv[2]
result = {"score": 0, "output": message, "output_format": "simple_format",
          "visibility": "visible", "stdout_visibility": "hidden", "tests": []}
with open(path, "w", encoding="utf-8") as out:
    json.dump(result, out, indent=2)
PYEOF
}

first() {
    find "$ROOT/submission" -type f -name "$1" ! -path '*/.ipynb_checkpoints/*' 2>/dev/null \\
        | LC_ALL=C sort | head -n 1
}
SUBMISSION="$(first '*.ipynb')"
[ -n "$SUBMISSION" ] || SUBMISSION="$(first '*.py')"
if [ -z "$SUBMISSION" ]; then
    fail "No .ipynb or .py file was found in your submission. Upload your notebook and resubmit."
    exit 0
fi

TMP="$RESULTS.partial"
timeout -k 5 "$BUDGET" "${MPGRADE[@]}" check "$SUBMISSION" --assignment "$ASSIGNMENT" \\
    --format gradescope >"$TMP" 2>"$ROOT/results/grader-stderr.txt"
status=$?
if [ "$status" -le 1 ] && "$PY" -c 'import json, sys; json.load(open(sys.argv[1]))["tests"]' "$TMP" 2>/dev/null; then
    mv "$TMP" "$RESULTS"
else
    if [ "$status" -eq 124 ]; then
        why="the grader ran out of its ${BUDGET} s budget"
    else
        why="$(tail -n 5 "$ROOT/results/grader-stderr.txt")"
    fi
    fail "The autograder could not grade $(basename "$SUBMISSION") (exit $status): ${why:-no message}. Contact your instructor; this is not your score."
    rm -f "$TMP"
fi
exit 0
"""


def build_autograder(
    out_zip: Path,
    assignment_id: str,
    mpgrade_source: Path | None = None,
    budget_s: int = 540,
) -> Path:
    """Write the autograder zip and return its path.

    ``mpgrade_source`` is a built wheel/sdist, or a source checkout that is packed as an
    sdist-style tarball; without it ``setup.sh`` installs ``mpgrade`` from PyPI.
    ``budget_s`` bounds one grading, to stay under Gradescope's own timeout.
    """
    out_zip = Path(out_zip)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    run = RUN_AUTOGRADER.replace("__ASSIGNMENT__", shlex.quote(assignment_id))
    run = run.replace("__BUDGET__", str(int(budget_s)))
    with zipfile.ZipFile(out_zip, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        _add_executable(zf, "setup.sh", SETUP_SH)
        _add_executable(zf, "run_autograder", run)
        if mpgrade_source is not None:
            name, data = _package(Path(mpgrade_source))
            zf.writestr(f"dist/{name}", data)
    return out_zip


def _add_executable(zf: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o100755 << 16  # regular file, rwxr-xr-x: Gradescope runs it directly
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, text)


def _package(source: Path) -> tuple[str, bytes]:
    """The installable form of ``source``: the file itself, or a checkout packed for pip."""
    if source.is_file():
        return source.name, source.read_bytes()
    if not (source / "pyproject.toml").is_file():
        raise FileNotFoundError(
            f"{source} is neither a wheel/sdist nor a folder with pyproject.toml"
        )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for part in SOURCE_PARTS:
            path = source / part
            if path.exists():
                tar.add(path, arcname=f"mpgrade-src/{part}", filter=_skip_caches)
    return "mpgrade-src.tar.gz", buffer.getvalue()


def _skip_caches(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if SKIPPED & set(Path(info.name).parts) or info.name.endswith(".pyc") else info
