"""How a batch tells the teacher where it is.

On a terminal: a live line with done/total, rate, ETA and the running counts. In a CI
log: nothing while it runs, one line at the end (a log full of redraws helps no one).
"""

from __future__ import annotations

import sys
from collections import Counter

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from mpgrade.batch.record import Record
from mpgrade.terminal import PipeConsole
from mpgrade.wording import plural


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f}/s" if speed else "–/s", style="progress.data.speed")


class Reporter:
    """Counts outcomes; shows them live when ``live`` is true, else prints a final line."""

    def __init__(self, live: bool, final_line: bool, console: Console | None = None) -> None:
        self.console = console or PipeConsole(stderr=True)
        self.counts: Counter[str] = Counter()
        self.final_line = final_line
        self._progress: Progress | None = None
        self._task_id = None
        if live:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]grading"),
                BarColumn(),
                MofNCompleteColumn(),
                _RateColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[counts]}"),
                console=self.console,
                transient=False,
            )

    def start(self, total: int, skipped: int) -> None:
        self.counts["unchanged"] = skipped
        if self._progress is not None:
            self._progress.start()
            self._task_id = self._progress.add_task("grading", total=total, counts=self._counts())

    def advance(self, record: Record) -> None:
        self.counts[record.status] += 1
        if self._progress is not None and self._task_id is not None:
            self._progress.update(self._task_id, advance=1, counts=self._counts())

    def stop(self, lines: list[str] | None) -> None:
        """Leave the terminal as it was; print ``lines`` (None after a failure) when asked to."""
        if self._progress is not None:
            self._progress.stop()
        if self.final_line and lines:
            for line in lines:
                self.console.print(Text(line), highlight=False, soft_wrap=True)

    def _counts(self) -> str:
        c = self.counts
        parts = [
            f"[green]{c['passed']} passed[/]",
            f"[yellow]{c['partial']} partial[/]",
            f"[red]{c['failed']} failed[/]",
            f"[magenta]{plural(c['error'], 'error')}[/]",
        ]
        if c["unchanged"]:
            parts.append(f"[dim]{c['unchanged']} unchanged[/]")
        return " · ".join(parts)


def make_reporter(progress: bool | None) -> Reporter:
    """None: live on a terminal, one final line otherwise; True: live; False: silent."""
    console = PipeConsole(stderr=True)
    if progress is None:
        live = console.is_terminal and sys.stderr.isatty()
        return Reporter(live=live, final_line=True, console=console)
    return Reporter(live=progress, final_line=progress, console=console)
