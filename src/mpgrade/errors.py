"""Exit codes and the errors that carry them: a leaf module every layer may import.

An error raised anywhere in mpgrade knows the exit code the command line ends with, so
the CLI needs no list of exception types and nothing imports the CLI back.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes of every command (documented in the README)."""

    OK = 0  # full marks (check), batch completed (grade), command succeeded
    POINTS_LOST = 1  # graded, points lost (check); validation failed (validate)
    UNUSABLE = 2  # could not grade: unreadable file, unknown assignment, bad arguments
    INTERNAL = 3  # internal error of mpgrade
    INCOMPLETE = 4  # grade: submissions left ungraded because the cluster lost them
    INTERRUPTED = 130  # Ctrl-C; finished work is kept


class MpgradeError(Exception):
    """An error the user can act on: printed as one line, ending the command with ``exit_code``."""

    exit_code: ExitCode = ExitCode.UNUSABLE


class UsageError(MpgradeError):
    """Bad arguments or options."""
