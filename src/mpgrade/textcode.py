"""Tell English from Python, line by line, in text that mixes both.

Students type prose into code cells (``Ans3. import multiprocessing``, the question
pasted above the code, an output line pasted below it) and code into Markdown cells
without fences, raw cells and plain-text ``.py`` files. Segmentation needs to know
which lines are which to find answers; the build needs the same judgement to salvage
the code. Both ask here, so the two never disagree about a line.

Everything here is bounded: single lines are compiled, never whole files.
"""

from __future__ import annotations

import functools
import keyword
import re
import textwrap

from mpgrade import regexes
from mpgrade.untrusted import compile_python

__all__ = ["code_like", "code_regions", "is_prose", "looks_like_code", "starts_like_code"]

_MAX_LINE = 400  # longer lines are never compiled: they are prose or data, not a statement
# Statements that start code in text: what a pasted program's lines begin with.
_CODE_START = regexes.compile(
    r"^\s*(?:import\s+\w|from\s+[\w.]+\s+import\b|def\s+\w+\s*\(|class\s+\w+\s*[(:]|"
    r"if\s+__name__|if\s+.*:\s*$|elif\s+.*:\s*$|else\s*:|for\s+.+\s+in\s+.+:\s*(?:#.*)?$|"
    r"while\s+.+:\s*$|with\s+.+:\s*$|try\s*:|except\b.*:\s*$|finally\s*:|return\b|@\w|"
    r"print\s*\(|[\w.\[\]]+\s*(?:[-+*/]?=)\s*\S|[\w.]+\s*\(.*\)\s*;?\s*$|"
    r"(?:pass|break|continue)\s*$|\)+\s*$|\]+\s*$)"
)


@functools.lru_cache(maxsize=4096)
def code_like(text: str) -> bool:
    """Would the line compile on its own, possibly as the head of a block? Remembered:
    segmenting against each known exercise asks again about the same lines."""
    s = text.strip()
    if not s or len(s) > _MAX_LINE:
        return False
    wrappers = (s, f"{s}\n pass", f"if 1:\n pass\n{s}\n pass", f"try:\n pass\n{s}\n pass")
    for source in wrappers:
        try:
            compile_python(source, "<line>")
            return True
        except (SyntaxError, ValueError):
            continue
    return False


def is_prose(text: str) -> bool:
    """Clearly English, not Python: several words, few code characters, does not compile."""
    s = text.strip()
    words = re.findall(r"[A-Za-z][A-Za-z']*", s)
    if (
        not words
        or (len(words) < 2 and not s.endswith(":"))
        or words[0] == "print"
        or _code_start_of_a_block(s)
        or code_like(s)
        or re.search(r"[=\[\]{}]|__|\w\(", s)
    ):
        return False
    if words[0] in keyword.kwlist and len(words) < 4:
        return False
    wordy = sum(len(w) for w in words) + s.count(" ")
    return wordy >= 0.8 * len(s)


def _code_start_of_a_block(s: str) -> bool:
    return bool(re.match(r"(?:def|class|for|while|with|if|elif|try|except)\b.*:$", s)) and code_like(s)


def looks_like_code(text: str) -> bool:
    """A line that starts or continues a program: a statement, not a sentence."""
    s = text.rstrip()
    if not s.strip() or len(s) > _MAX_LINE:
        return False
    if s.lstrip().startswith("#"):
        return False
    if _CODE_START.match(s) and not _sentence(s):
        return code_like(s)
    return False


def starts_like_code(text: str) -> bool:
    """Begins like a statement ("def f(:", "for x in y"), whether or not it compiles."""
    return bool(_CODE_START.match(text) or _KEYWORD_START.match(text)) and not _sentence(text.rstrip())


_KEYWORD_START = regexes.compile(
    r"^\s*(?:def|class|for|while|if|elif|else|try|except|finally|with|return|import|from|"
    r"print|lambda|yield|raise|assert|del|global)\b(?!['’])"
)


def _sentence(s: str) -> bool:
    """Ends like a sentence and reads like one ("Use Pool(4).map to do it.")."""
    words = re.findall(r"[A-Za-z]+", s)
    return len(words) >= 6 and s.rstrip().endswith((".", "?", "!")) and not s.rstrip().endswith(")")


def code_regions(lines: list[str], *, statements: int = 2) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of ``lines`` that are a program pasted into text.

    A region starts at a line that looks like a statement and goes on over indented
    lines, blank lines, comments and further statements; it ends at a line of prose
    at the left margin. It is kept when it holds more than one statement or a
    definition, and when (dedented) it compiles, possibly after dropping a few
    trailing lines; a longer region that never compiles is kept too, for the build
    to salvage and report. Text meant as code (a code cell) asks for ``statements=1``.
    """
    regions: list[tuple[int, int]] = []
    n = 0
    while n < len(lines):
        if not looks_like_code(lines[n]):
            n += 1
            continue
        start, end, last = n, n + 1, n + 1
        base = len(lines[n]) - len(lines[n].lstrip())
        k = n + 1
        while k < len(lines):
            line = lines[k]
            indent = len(line) - len(line.lstrip())
            if not line.strip():
                k += 1
                continue
            if looks_like_code(line) or (indent > base and not is_prose(line)) or (
                line.lstrip().startswith("#") and _more_code_after(lines, k)
            ):
                k += 1
                last = k
                continue
            break
        end = last
        region = _compiling(lines, start, end, statements)
        if region is not None:
            regions.append(region)
        n = max(end, n + 1)
    return regions


def _more_code_after(lines: list[str], k: int) -> bool:
    following = next((x for x in lines[k + 1 : k + 6] if x.strip() and not x.lstrip().startswith("#")), "")
    return looks_like_code(following)


def _compiling(lines: list[str], start: int, end: int, least: int) -> tuple[int, int] | None:
    body = lines[start:end]
    statements = sum(1 for x in body if looks_like_code(x))
    definition = any(re.match(r"\s*(?:def|class|import|from)\s", x) for x in body)
    if statements < least and not definition:
        return None
    for drop in range(min(4, len(body))):
        text = textwrap.dedent("\n".join(body[: len(body) - drop]))
        try:
            compile_python(text, "<region>")
            return start, end - drop
        except (SyntaxError, ValueError):
            continue
    return (start, end) if statements >= 3 else None
