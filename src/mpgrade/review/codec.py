"""A ``Report`` to bytes and back, losslessly, so that a reviewed score can be rendered
again later without regrading (the schema v1 JSON is bounded, hence lossy).

JSON driven by the dataclasses' own type hints, gzip-compressed; never pickle, because
the output folder may be shared and must not be able to run code in the grader.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import types
import typing
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from mpgrade import model
from mpgrade.model import Report

_MAX_BYTES = 64 << 20  # a decompressed report larger than this is not ours


class CodecError(ValueError):
    """Bytes that are not an encoded report."""


ANSWER_LIMIT = 20_000  # characters of each answer kept for the reviewer


def dump_report(report: Report, answers: dict[str, str] | None = None) -> bytes:
    """``report`` and the student's answer to each question (what a reviewer reads)."""
    kept = {qid: text[:ANSWER_LIMIT] for qid, text in (answers or {}).items()}
    data = {"report": _plain(report), "answers": kept}
    return gzip.compress(json.dumps(data, ensure_ascii=False).encode(), 6)


def _plain(value: Any) -> Any:
    """``dataclasses.asdict`` without its deep copy of every leaf (the report is frozen and
    only read here): dataclasses become dicts, tuples lists, for ``json.dumps``."""
    names = _field_names(type(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


def load_graded(data: bytes) -> tuple[Report, dict[str, str]]:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            raw = f.read(_MAX_BYTES + 1)
        if len(raw) > _MAX_BYTES:
            raise CodecError("encoded report too large")
        doc = json.loads(raw)
        answers = {str(k): str(v) for k, v in doc.get("answers", {}).items()}
        return _decode(Report, doc["report"]), answers
    except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise CodecError(f"not an encoded report: {exc}") from None


def load_report(data: bytes) -> Report:
    return load_graded(data)[0]


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(model))


def decode(tp: Any, value: Any) -> Any:
    """``value`` (plain JSON) as an instance of ``tp``, a dataclass of ``mpgrade.model``."""
    return _decode(tp, value)


def _decode(tp: Any, value: Any) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {tp.__name__}")
        hints = _hints(tp)
        fields = {f.name for f in dataclasses.fields(tp) if f.init}
        return tp(**{k: _decode(hints[k], v) for k, v in value.items() if k in fields})
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                return _decode(arg, value)
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list):
            raise TypeError("expected a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value, strict=True))
    if origin is dict:
        key_t, val_t = get_args(tp)
        return {_decode(key_t, k): _decode(val_t, v) for k, v in value.items()}
    if origin is Literal:
        return value
    if tp is float:
        return float(value)
    if tp is int and isinstance(value, str):
        return int(value)
    return value
