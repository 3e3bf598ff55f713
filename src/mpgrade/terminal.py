"""The rich console that commands write to the terminal through."""

from __future__ import annotations

from rich.console import Console


class PipeConsole(Console):
    """A console whose closed reader (``mpgrade grade … | head -1``) ends the command as
    any other write to a closed pipe does: ``BrokenPipeError``, which the command line
    reports as interrupted with the finished work kept. rich's own handling exits with
    status 1 and points the process's stdout at /dev/null, whichever stream it wrote to."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError
