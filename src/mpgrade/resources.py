"""Where the bundled data lives: in the wheel, or in the source tree when run from a checkout.

The wheel maps the top-level ``exercises/``, ``solutions/``, ``templates/`` and
``examples/`` folders into ``mpgrade/data/``; an editable install or a test run from
the repository reads them in place.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the bundled folder ``name`` (exercises, solutions, templates, examples)."""
    installed = _PACKAGE / "data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent.parent / name


def schema_path() -> Path:
    return _PACKAGE / "report" / "schema" / "result.schema.json"


def probe_dir() -> Path:
    """The folder put on the student's PYTHONPATH so that its sitecustomize loads."""
    return _PACKAGE / "probe" / "inside"
