"""Statuses and limits, declared once with every way the outputs speak of them.

A question's status and the limit that stopped a run are shown as a word in the
terminal, a colour in the HTML report and the class charts, a clause in check messages
and a generic diagnosis when nothing more specific explains the stop. Declaring each
one here, with all of those, keeps a new status or limit to one edit.
"""

from __future__ import annotations

from dataclasses import replace

from mpgrade.model import value_class


@value_class
class StatusInfo:
    """One question status and how each output shows it."""

    key: str  # the value in ``QuestionResult.status`` and the JSON
    label: str  # terminal, always shown as a word: "NEEDS REVIEW"
    word: str  # prose and HTML: "Needs review"
    sentence: str  # what it means for the student, one sentence
    style: str  # rich style of the terminal label
    fill: str  # chart colour (distinguishable in greyscale print too)


@value_class
class LimitInfo:
    """One reason for which the supervisor stopped a run."""

    key: str  # ``RunResult.limit`` / the JSON ``reason``
    label: str  # "memory limit": a noun phrase for headlines and tables
    clause: str  # completes "your program ...": "used more memory than allowed and was killed"
    title: str  # generic diagnosis title
    explanation: str  # generic diagnosis, when nothing more specific is known
    fix: str


_STATUS_ROWS = (
    StatusInfo("passed", "PASSED", "Passed", "Every check passed.", "bold green", "#2f855a"),
    StatusInfo("partial", "PARTIAL", "Partly passed", "Some checks passed, some did not.",
               "bold yellow", "#d69e2e"),
    StatusInfo("failed", "FAILED", "Failed", "The code ran, but its checks failed.",
               "bold red", "#c53030"),
    StatusInfo("error", "ERROR", "Error", "The code raised an exception or exited with an error.",
               "bold red", "#822727"),
    StatusInfo("timeout", "TIMEOUT", "Timed out", "The grader stopped the run at a limit.",
               "bold red", "#6b46c1"),
    StatusInfo("missing", "MISSING", "Missing", "No answer was found for this question.",
               "bold magenta", "#a0aec0"),
    StatusInfo("needs_review", "NEEDS REVIEW", "Needs review",
               "The score is a proposal that a member of staff confirms.", "bold cyan", "#2b6cb0"),
)
STATUSES: dict[str, StatusInfo] = {s.key: s for s in _STATUS_ROWS}

_LIMIT_ROWS = (
    LimitInfo("time_limit", "time limit", "did not finish within the time limit and was stopped",
              "Time limit reached", "Your program did not finish within the time limit.",
              "Look for a loop that never ends or a process that waits for something that never comes."),
    LimitInfo("deadlock", "deadlock",
              "stopped making progress (every process was waiting for another: a deadlock) "
              "and was stopped",
              "Deadlock: every process was waiting", "Every process was waiting for another and "
              "none could go on.",
              "Make every recv()/get() match a send()/put() (or stop on a sentinel), close pipe ends "
              "you do not use, and join a process only after reading what it sends."),
    LimitInfo("memory", "memory limit", "used more memory than allowed and was killed",
              "Memory limit reached", "Your program used more memory than allowed and was killed.",
              "Work on smaller pieces of data and avoid building huge lists."),
    LimitInfo("process_limit", "process limit", "started more processes than allowed and was stopped",
              "Too many processes", "Your program started more processes than allowed.",
              "Start a fixed number of processes; never start processes inside a child's target."),
    LimitInfo("output_limit", "output limit", "printed more output than allowed and was stopped",
              "Too much output", "Your program printed more than allowed.",
              "Print only the results asked for, and check that no loop prints forever."),
    LimitInfo("cpu_limit", "CPU time limit", "used more CPU time than allowed and was stopped",
              "CPU limit reached", "Your program used more CPU time than allowed.",
              "Look for a busy loop; use join() or a blocking get() instead of polling."),
    LimitInfo("file_size", "file size limit", "wrote a file larger than allowed and was stopped",
              "File too large", "Your program wrote a file larger than allowed.",
              "Write less data to files."),
)
LIMITS: dict[str, LimitInfo] = {x.key: x for x in _LIMIT_ROWS}
# Any of these means the grader, not the program, ended the run: the question timed out.
KILLED = frozenset(LIMITS)

_UNKNOWN_LIMIT = LimitInfo("stopped", "limit", "was stopped", "Stopped", "Your program was stopped.", "")


def status(key: str) -> StatusInfo:
    """The declaration of ``key``; an unknown key still gets a readable label."""
    found = STATUSES.get(key)
    if found is not None:
        return found
    word = key.replace("_", " ")
    return StatusInfo(key, word.upper(), word.capitalize(), "", "bold", "#4a5568")


def limit(key: str | None) -> LimitInfo:
    """The declaration of limit ``key`` (a generic one, named by the key, for an unknown key)."""
    found = LIMITS.get(key or "")
    if found is not None:
        return found
    return replace(_UNKNOWN_LIMIT, key=key or "", label=(key or "").replace("_", " ") or "limit")
