"""The options of the last ``mpgrade grade`` into a folder, kept in ``OUT/.mpgrade/run.json``,
so that a review rewrites the class's outputs by running the very same batch again: every
unchanged submission is reused, and gradebooks, summary and reviewed results are written by
the one code path that writes them after grading.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from mpgrade.batch.options import BatchError, BatchOptions
from mpgrade.batch.store import STATE, write_atomic
from mpgrade.model import GradeOptions

FILE = "run.json"
_NOT_KEPT = {"force", "progress"}  # how the run went, not what it was


def save_options(options: BatchOptions) -> None:
    data: dict[str, Any] = {}
    for f in dataclasses.fields(BatchOptions):
        if f.name in _NOT_KEPT:
            continue
        value = getattr(options, f.name)
        if f.name == "assignment":
            value = value.root or value.id
        elif f.name == "grade":
            value = dataclasses.asdict(value)
        elif isinstance(value, Path):
            value = str(value.resolve())
        elif isinstance(value, tuple):
            value = [str(Path(v).resolve()) for v in value]
        data[f.name] = value
    write_atomic(options.outdir / STATE / FILE, json.dumps(data, ensure_ascii=False, indent=1) + "\n")


def load_options(outdir: Path) -> BatchOptions:
    """The last run's options, writing into ``outdir`` again, quietly, without ``--force``."""
    from mpgrade.assignment import AssignmentError, load_assignment
    from mpgrade.review.codec import decode

    path = outdir / STATE / FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in dataclasses.fields(BatchOptions)}
        values = {k: v for k, v in data.items() if k in known}
        values["inputs"] = tuple(Path(p) for p in values["inputs"])
        values["assignment"] = load_assignment(values["assignment"])
        values["grade"] = decode(GradeOptions, values.get("grade", {}))
        values["roster"] = Path(values["roster"]) if values.get("roster") else None
        values["outdir"] = outdir
        return BatchOptions(**values, force=False, progress=False)
    except OSError:
        raise BatchError(f"{outdir}: not a graded class folder (run `mpgrade grade ... -o {outdir}` first)") from None
    except AssignmentError as exc:
        raise BatchError(f"{outdir}: the exercise of the last run cannot be loaded: {exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise BatchError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
