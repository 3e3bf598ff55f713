"""Text from a submission made safe for every plain-text output.

What a student's code prints, the names it gives its processes and functions, and the
file names of a submission reach the terminal, Markdown, CSV and logs. Raw, an escape
sequence there can clear the screen, write to the reader's clipboard (OSC 52) or paint
a fake "10 / 10 PASSED"; a lone surrogate makes the output invalid UTF-8. Every
plain-text renderer passes such text through ``plain`` once, here, so the rule is the
same everywhere: control characters become visible symbols, never act, and lone
surrogates are replaced as ``untrusted.clean_text`` replaces them everywhere else.
"""

from __future__ import annotations

import re

from mpgrade import regexes
from mpgrade.untrusted import clean_text

# C0 controls but tab and newline, DEL, C1 controls, and bidirectional overrides and
# isolates (which reorder what the reader sees).
_UNSAFE = regexes.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␛ for ESC, ␍ for CR
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"


def plain(text: object) -> str:
    """``text`` with every control character replaced by a visible, inert symbol (and lone
    surrogates by ``clean_text``): safe to print anywhere."""
    text = str(text)
    if text.isprintable():  # no control character, format character or surrogate: as it is
        return text
    return _UNSAFE.sub(_visible, clean_text(text))
