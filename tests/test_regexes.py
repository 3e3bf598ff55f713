"""Regexes compiled from programs kept on disk: the same patterns as ``re``'s, read back
by a later process, and never trusted past what the engine accepts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mpgrade import regexes

PATTERN = r"(?P<word>\bpool\w*)\s+(of|for)\s+(?:\d+)"

# A fresh interpreter compiles PATTERN, saves at exit, and says whether it assembled it.
CHILD = """
import sys
from mpgrade import regexes
assembled = []
real = regexes._parser.parse
regexes._parser.parse = lambda *a: assembled.append(a[0]) or real(*a)
rx = regexes.compile(sys.argv[1], 2)
m = rx.search("A Pool of 4 workers")
print(bool(assembled), m.group("word"), m.groups())
"""


def _child(cache: Path) -> str:
    env = {"MPGRADE_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", CHILD, PATTERN], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_kept_program_matches_as_re_compile_does(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MPGRADE_CACHE_DIR", str(tmp_path))
    ours, theirs = regexes.compile(PATTERN, re.IGNORECASE), re.compile(PATTERN, re.IGNORECASE)
    assert (ours.pattern, ours.flags, ours.groups, ours.groupindex) == \
        (theirs.pattern, theirs.flags, theirs.groups, theirs.groupindex)
    for text in ("POOLS for 12", "a pool of  3", "spool of 3", "pool of x"):
        assert [m.span() for m in ours.finditer(text)] == [m.span() for m in theirs.finditer(text)]
    with pytest.raises(re.error):
        regexes.compile("(unclosed")


def test_a_later_process_reads_the_program_instead_of_assembling_it(tmp_path: Path) -> None:
    assert _child(tmp_path) == "True Pool ('Pool', 'of')"  # first: assembled, then saved at exit
    assert _child(tmp_path) == "False Pool ('Pool', 'of')"  # read back, the same matches


def _no_opcode(program: list) -> list:
    return [program[0], [999_999] * len(program[1]), *program[2:]]  # the engine's validator says no


@pytest.mark.parametrize("spoil", [_no_opcode, lambda program: {"flags": program[0]}, lambda _: "x"],
                         ids=["no-opcode", "not-a-list", "a-string"])
def test_a_program_the_engine_refuses_is_assembled_afresh(tmp_path: Path, spoil) -> None:
    _child(tmp_path)
    [entry] = tmp_path.glob("regex-programs-*.json")
    stored = json.loads(entry.read_text())
    stored["value"] = {slot: spoil(program) for slot, program in stored["value"].items()}
    entry.write_text(json.dumps(stored))
    assert _child(tmp_path) == "True Pool ('Pool', 'of')"
