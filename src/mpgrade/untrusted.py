"""Total, bounded handling of text the student controls: parsing it, naming its calls, printing it.

Student code and files reach the grader as notebook JSON, Python source, trace events,
stack dumps and file names. Each of these can be shaped to crash a naive reader:
nesting that exhausts the recursion limit (``json.loads``, ``ast.parse``), a parser
stack bomb (``MemoryError``), a number too long for ``int()``, a lone surrogate that no
UTF-8 writer accepts. The functions here turn every such case into the ordinary failure
of the operation (a ``SyntaxError``, a ``ValueError``) or into printable text.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from mpgrade import regexes

# Honest answers are a few KB; past this a parse costs hundreds of MB and seconds.
MAX_SOURCE_CHARS = 256_000
MAX_JSON_CHARS = 64 * 1024 * 1024
# Nesting of a parsed tree past which recursive consumers (ast.unparse, NodeVisitor) would
# exhaust the recursion limit; honest code stays under 30.
MAX_AST_DEPTH = 100

_SURROGATE = regexes.compile("[\ud800-\udfff]")


def _replace_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    # U+DC80..U+DCFF stand for undecodable bytes (os.fsdecode of a file name): keep them
    # visible and distinct as \xNN; any other lone surrogate is just invalid.
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else "\ufffd"


def clean_text(text: str) -> str:
    """``text`` that encodes as UTF-8: lone surrogates replaced, everything else kept."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _SURROGATE.sub(_replace_surrogate, text)


def clean_strings(value: Any, depth: int = 0) -> Any:
    """``value`` (parsed JSON) with every string cleaned; nesting past 64 levels is cut."""
    if isinstance(value, str):
        return clean_text(value)
    if depth > 64:
        return None
    if isinstance(value, list):
        return [clean_strings(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {clean_text(k): clean_strings(v, depth + 1) for k, v in value.items()}
    return value


def loads_json(text: str) -> Any:
    """``json.loads`` that raises only ``ValueError``: also for nesting too deep to decode
    and for documents over ``MAX_JSON_CHARS``."""
    if len(text) > MAX_JSON_CHARS:
        raise ValueError(f"JSON document larger than {MAX_JSON_CHARS} characters")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except MemoryError:
        raise ValueError("JSON too large to decode") from None


def _too_complex(what: str) -> SyntaxError:
    return SyntaxError(f"{what}: too large or too deeply nested to parse")


def parse_python(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse`` that raises only ``SyntaxError`` (and ``ValueError`` for null bytes),
    for compile bombs too: a recursion or parser-stack overflow, or a source over
    ``MAX_SOURCE_CHARS``."""
    if len(source) > MAX_SOURCE_CHARS:
        raise _too_complex("the code")
    try:
        tree = ast.parse(source, filename)
    except (RecursionError, MemoryError):
        raise _too_complex("the code") from None
    if _depth(tree) > MAX_AST_DEPTH:
        raise _too_complex("the code")
    return tree


def _depth(tree: ast.AST) -> int:
    """The deepest nesting of ``tree``, level by level without recursion; stops counting
    past ``MAX_AST_DEPTH`` (every parse pays for this walk, so it touches fields directly)."""
    node_type, depth, level = ast.AST, 0, [tree]
    while level and depth <= MAX_AST_DEPTH:
        depth += 1
        below: list[ast.AST] = []
        for node in level:
            for name in node._fields:
                value = getattr(node, name, None)
                if isinstance(value, list):
                    below += [v for v in value if isinstance(v, node_type)]
                elif isinstance(value, node_type):
                    below.append(value)
        level = below
    return depth


def compile_python(source: str, filename: str = "<unknown>") -> None:
    """``compile(..., "exec")`` as a syntax check, with the errors and bounds of
    ``parse_python``: what passes here also parses there."""
    tree = parse_python(source, filename)
    try:
        compile(tree, filename, "exec", dont_inherit=True)
    except (RecursionError, MemoryError):
        raise _too_complex("the code") from None


def call_name(node: ast.AST) -> str:
    """The name a call or a callee in a parsed tree ends in, whatever the tree: both
    ``multiprocessing.Pool(4)`` and ``multiprocessing.Pool`` -> "Pool"; "" for anything
    else (``f()()``, ``items[0]()``)."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def line_number(digits: str, limit: int = 10_000_000) -> int | None:
    """A line number read from untrusted text, or None when it cannot be one."""
    if not (digits.isascii() and digits.isdigit()) or len(digits) > len(str(limit)):
        return None
    n = int(digits)
    return n if 0 < n <= limit else None
