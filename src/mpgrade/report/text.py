"""The terminal report: terse and right-first, as pytest users expect.

The first line names the file and the assignment. A passing question is one line. A
question that lost points shows its causes in the order the student should fix them
(what the question asks, then what went wrong in the run), each said once with its fix,
the student's lines around the blocked or raising line (a caret under a SyntaxError),
and only the part of the process story that explains it; ``verbose`` shows everything
for every question. The summary table and the total come last. The width follows the
console (``COLUMNS``, the terminal); wrapped lines hang under their first word.

Status is always a word as well as a colour. Every string from the submission goes
through ``safe_text.plain`` into a rich ``Text`` (never markup): printed escape
sequences stay inert and ``[/bold]`` is just text.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from io import StringIO

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.rule import Rule
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from mpgrade import verdicts
from mpgrade.model import CheckResult, Excerpt, QuestionResult, Report, RunSummary, value_class
from mpgrade.report import story
from mpgrade.safe_text import plain
from mpgrade.wording import noun, plural

LINES_SHOWN = 3  # printed lines per process, by default
NODES_SHOWN = 8  # processes in a tree, by default
MESSAGES_SHOWN = 24  # with verbose


def render_text(
    report: Report, color: bool | None = None, verbose: bool = False, width: int | None = None
) -> str:
    """The whole report as a string. ``color=None``: colour only on a terminal without
    NO_COLOR; ``width=None``: the console's width (``COLUMNS``, else the terminal, else 80)."""
    if color is None:
        color = sys.stdout.isatty()
    if "NO_COLOR" in os.environ:
        color = False
    console = Console(
        file=StringIO(),
        width=width or max(40, Console().width),
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        markup=False,
        highlight=False,
        emoji=False,
        force_jupyter=False,  # in a kernel, rich would display the report instead of returning it
    )
    console.print(report_renderable(report, verbose))
    # Grids pad their cells to the width: trailing blanks only cost a copy-paste.
    return "\n".join(line.rstrip(" ") for line in console.file.getvalue().split("\n"))


def text(value: object, style: str = "") -> Text:
    """Student-controlled text as an inert rich ``Text``."""
    return Text(plain(value), style=style)


def report_renderable(report: Report, verbose: bool = False) -> RenderableType:
    parts: list[RenderableType] = [header(report, verbose)]
    for q in report.questions:
        parts.append(question_section(q, verbose))
    matrix = portability_table(report)
    if matrix is not None:
        parts.append(matrix)
    # When every question took one line, those lines are the table already.
    if verbose or any(_lost_points(q) for q in report.questions):
        parts.append(score_table(report))
    parts.append(closing_line(report))
    return Group(*parts)


def status_text(status: str) -> Text:
    info = verdicts.status(status)
    return Text(info.label, style=info.style)


def header(report: Report, verbose: bool = False) -> RenderableType:
    """``mpgrade 0.1.0 · examples/ass.ipynb · 15feb-multiprocessing`` and the setting; the
    assignment's title too with ``verbose``."""
    env = report.environment
    who = f" · {report.student}" if report.student else ""
    first = Text.assemble(
        (f"mpgrade {report.tool_version} · ", "bold"),
        text(report.submission_path, "bold"),
        text(who),
        " · ",
        text(report.assignment_id, "bold"),
    )
    setting = (f"{env.python} · start method {env.start_method} · sandbox {env.isolation} · "
               f"{env.limits.wall_s:g} s per question")
    title = [text(report.assignment_title, "dim")] if verbose else []
    return Group(first, *title, Text(setting, style="dim"), Text())


def _row(q: QuestionResult) -> Table:
    """A question in one line: mark, id, title (cut to fit), status, score."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=1, no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(no_wrap=True, justify="right")
    ok = q.status == "passed" or (q.status == "needs_review" and q.score >= q.max_score - 1e-9)
    grid.add_row(
        Text("✓", style="green") if ok else Text("✗", style="red"),
        text(q.id, "bold"),
        text(q.title),
        Text.assemble(status_text(q.status), " reviewed" if q.reviewed else "",
                      f"  {story.points(q.score)} / {story.points(q.max_score)}"),
    )
    return grid


def _lost_points(q: QuestionResult) -> bool:
    return q.score < q.max_score - 1e-9 or q.status not in ("passed", "needs_review")


def question_section(q: QuestionResult, verbose: bool = False) -> RenderableType:
    staff = story.rejected_line(q)
    if not _lost_points(q) and not verbose:
        # A forged trace would aim at a pass: its line shows under a passing row too.
        return Group(_row(q), Padding(text(staff, "dim"), (0, 0, 0, 2))) if staff else _row(q)
    said = story.Said()
    body: list[RenderableType] = []
    # Each cause keeps only what was not said before it; one with nothing new goes.
    listed = causes(q)
    for c in listed:
        said.fresh(c.title)
    found = [(c, said.fresh(c.explanation), said.fresh(c.fix)) for c in listed]
    found = [(c, e, f) for c, e, f in found if e or f or c.shows_code]
    excerpt = code_excerpt(q)
    for i, (cause, explanation, fix) in enumerate(found, 1):
        body.extend(_cause(cause, explanation, fix, i if len(found) > 1 else 0))
        if cause.shows_code and excerpt is not None:
            body.append(excerpt)
            excerpt = None
    if excerpt is not None:
        body.append(excerpt)
    for note in (d for d in q.diagnoses if d.severity == "warning"):
        sentence = said.fresh(f"{note.explanation} {note.fix}")
        if sentence:
            body.append(_hanging("Note:", text(sentence), "yellow"))
    # Found by its header or metadata, unchanged: nothing a student needs to read here.
    if q.salvaged or (q.attribution is not None and q.attribution.by in ("content", "order")):
        body.append(text(story.found_line(q), "dim"))
    if staff:
        body.append(text(staff, "dim"))
    if q.run is not None and (verbose or _lost_points(q)):
        body.append(run_tree(q.run, verbose))
    if q.checks and q.kind != "prose" and (verbose or _lost_points(q)):
        body.append(_checks_line(q.checks, verbose))
    return Group(_row(q), Padding(Group(*body), (0, 0, 1, 2)))


@value_class
class Cause:
    """One thing to fix, as the student reads it."""

    title: str
    explanation: str
    fix: str = ""
    shows_code: bool = False  # the student's lines around the failing line follow it


def causes(q: QuestionResult) -> list[Cause]:
    """What to fix, first things first: code that does not run at all, then what the
    question asks, then what went wrong in the run, then the written part."""
    if q.excerpt is not None or q.status == "missing" or q.kind == "prose" or not q.checks:
        return [Cause("", q.feedback, shows_code=q.excerpt is not None)] if q.feedback else []
    errors = [d for d in q.diagnoses if d.severity == "error"]
    failed = [c for c in q.checks if not c.passed and c.max_score > 0]
    asked = [c for c in failed if not c.id.startswith(("run.", "prose."))]
    ran = [c for c in failed if c.id.startswith("run.")]
    written = [c for c in failed if c.id.startswith("prose.")]
    found: list[Cause] = []
    # The first two failed requirements say it; the checks line names the rest.
    requirement = ([Cause("Not yet what the question asks", " ".join(c.message for c in asked[:2]))]
                   if asked else [])
    raised = q.run.exception if q.run is not None else ""
    first = q.status == "error"  # the code did not run through: that comes first
    diagnosed = [Cause(d.title, d.explanation, d.fix, shows_code=True) for d in errors]
    if raised and not errors:
        diagnosed = [Cause(f"Your code raised {raised}", " ".join(c.message for c in ran),
                           shows_code=True)]
        ran = []
    found += (diagnosed + requirement) if first else (requirement + diagnosed)
    if ran and not errors:
        found.append(Cause("The run did not end well", " ".join(c.message for c in ran), shows_code=True))
    if written:
        found.append(Cause("The written part", " ".join(c.message for c in written)))
    if not found and q.feedback:
        found.append(Cause("", q.feedback))
    return found


def _cause(cause: Cause, explanation: str, fix: str, number: int) -> list[RenderableType]:
    """A cause: its title after its number, then what is new in its explanation and fix,
    all hanging under the title."""
    body: list[RenderableType] = []
    if explanation:
        body.append(text(explanation))
    if fix:
        body.append(Text.assemble(("Fix: ", "bold"), text(fix)))
    if cause.title:
        body.insert(0, text(cause.title, "bold"))
    if not number:
        return body
    head, *rest = body or [Text()]
    return [_hanging(f"{number}.", head), *(Padding(r, (0, 0, 0, 3)) for r in rest)]


def _hanging(label: str, body: RenderableType, style: str = "bold") -> Table:
    """``label`` then ``body``, wrapped lines aligned under the body's first word."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, width=max(2, len(label)))
    grid.add_column(ratio=1)
    grid.add_row(Text(label, style=style), body)
    return grid


# --------------------------------------------------------------------------- the student's code


def code_excerpt(q: QuestionResult) -> RenderableType | None:
    """The student's lines around the line that raised, blocked or does not compile."""
    if q.excerpt is not None:
        return _excerpt_lines(q.excerpt, "does not compile")
    run = q.run
    if run is None:
        return None
    line = run.blocking_line or run.error_line
    if not line:
        return None
    numbered = run.numbered_lines()
    at = next((i for i, (n, _) in enumerate(numbered) if n == line), None)
    if at is None:
        return None
    shown = tuple(numbered[max(0, at - 2): at + 2])
    return _excerpt_lines(Excerpt(shown, line), "blocked here" if run.blocking_line else "raised here")


def _excerpt_lines(ex: Excerpt, mark: str) -> RenderableType:
    digits = len(str(max((n for n, _ in ex.lines), default=1)))
    out: list[RenderableType] = []
    if ex.where:
        out.append(text(ex.where, "dim"))
    for number, line in ex.lines:
        here = number == ex.line
        gutter = Text(f"{'→' if here else ' '} {number:>{digits}} │ ", style="bold red" if here else "dim")
        row = Text.assemble(gutter, text(line.rstrip(), "bold" if here else ""))
        if here and ex.column is None:
            row.append(f"  ◀ {mark}", style="red")
        row.no_wrap = True
        row.overflow = "ellipsis"
        out.append(row)
        if here and ex.column is not None:
            caret = " " * (digits + 5 + max(0, ex.column - 1))
            out.append(Text(f"{caret}^ {mark}", style="bold red"))
    return Padding(Group(*out), (0, 0, 0, 1))


# --------------------------------------------------------------------------- the run


def run_tree(run: RunSummary, verbose: bool = False) -> RenderableType:
    """Who ran, what each printed, pools and messages: all with ``verbose``, else the
    processes (a few printed lines each) and one line per pool and channel."""
    tree = Tree(Text.assemble(("Run: ", "bold"), text(story.run_headline(run))), guide_style="dim")
    if verbose and run.reason_detail:
        tree.add(text(run.reason_detail, "red"))
    forest = story.process_forest(run)
    everyone = len(story.flatten(forest))
    budget = [everyone if verbose else NODES_SHOWN]
    for node in forest:
        _add_process(tree, node, verbose, budget)
    hidden = everyone - (everyone if verbose else NODES_SHOWN)
    if hidden > 0:
        tree.add(Text(f"… {plural(hidden, 'more process', 'more processes')} (-v shows all)", style="dim"))
    for pool in story.pool_stories(run):
        tree.add(_pool_line(pool, verbose))
    names = {n.info.pid: n.info.name for n in story.flatten(forest)}
    if run.trace.messages:
        if verbose:
            msgs = tree.add(Text("Messages (in order)", style="bold"))
            ordered = sorted(run.trace.messages, key=lambda m: m.t)
            for msg in ordered[:MESSAGES_SHOWN]:
                msgs.add(text(story.message_label(msg, names)))
            if len(ordered) > MESSAGES_SHOWN:
                msgs.add(Text(f"… {plural(len(ordered) - MESSAGES_SHOWN, 'more message')}", style="dim"))
        else:
            for line in _channel_lines(run, names):
                tree.add(text(line))
    return tree


def _add_process(parent: Tree, node: story.ProcessNode, verbose: bool, budget: list[int]) -> None:
    if budget[0] <= 0:
        return
    budget[0] -= 1
    label = Text.assemble(text(node.label), " → ", text(node.end, "bold red" if node.failed else ""))
    if node.blocked_at:
        label.append_text(text(f"; {node.blocked_at if verbose else node.blocked_brief}", "red"))
    branch = parent.add(label)
    # By default what it printed; its stderr (a traceback) is the cause's to tell.
    lines = node.lines if verbose else tuple(ln for ln in node.lines if ln.stream == "stdout")
    shown = lines if verbose else lines[:LINES_SHOWN]
    if shown:
        said = " · ".join(story.short(line.text, 100 if verbose else 40) for line in shown)
        more = f" … ({len(lines)} lines)" if len(lines) > len(shown) else ""
        branch.add(text(f"printed: {said}{more}", "dim"))
    for child in node.children:
        _add_process(branch, child, verbose, budget)


def _pool_line(pool: story.PoolStory, verbose: bool) -> Text:
    if pool.info:
        calls = ", ".join(pool.info.calls) or "never used"
        head = f"Pool {pool.info.id}: {pool.info.size} {pool.info.kind} {noun(pool.info.size, 'worker')}, {calls}"
    else:
        head = "Pool tasks"
    if not pool.workers:
        return text(f"{head}; no task ran")
    if verbose:
        shares = "; ".join(
            f"worker pid {s.worker_pid} ran {', '.join(story.task_label(t) for t in s.tasks[:8])}"
            for s in pool.workers
        )
    else:
        shares = ", ".join(f"pid {s.worker_pid} ran {len(s.tasks)}" for s in pool.workers)
    return text(f"{head}; {shares}")


def _channel_lines(run: RunSummary, names: dict[int, str]) -> list[str]:
    """One line per channel: who sent and received how many, and what never arrived."""
    out = []
    channels = dict.fromkeys(m.channel for m in sorted(run.trace.messages, key=lambda m: m.t))
    for channel in channels:
        msgs = [m for m in run.trace.messages if m.channel == channel]
        sent = Counter(names.get(m.pid, f"pid {m.pid}") for m in msgs if m.op == "send")
        got = Counter(names.get(m.pid, f"pid {m.pid}") for m in msgs if m.op == "recv")
        who = "; ".join(
            [f"{n} sent by {p}" for p, n in sent.items()] + [f"{n} received by {p}" for p, n in got.items()]
        )
        lost = sum(sent.values()) - sum(got.values())
        out.append(f"{channel}: {who}" + (f"; {lost} never received" if lost > 0 else ""))
    return out


def _checks_line(checks: tuple[CheckResult, ...], verbose: bool = False) -> RenderableType:
    """Every check with its mark and points; a passed or failed one worth nothing is left out
    unless ``verbose`` (n/a stays: it says where the points went)."""
    items = []
    for c in checks:
        if not verbose and c.max_score == 0 and c.outcome != "not_applicable":
            continue
        mark = ("– n/a ", "dim") if c.outcome == "not_applicable" else ("✓ ", "green") if c.passed else ("✗ ", "red")
        items.append(Text.assemble(mark, text(c.id), f" {story.points(c.score)}/{story.points(c.max_score)}"))
    return Flow(Text("Checks: ", style="bold"), items)


class Flow:
    """Items laid out like words (never split inside one), wrapped lines under the first."""

    def __init__(self, head: Text, items: list[Text]) -> None:
        self.head, self.items = head, items

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        indent = Text(" " * self.head.cell_len)
        line = self.head.copy()
        fresh = True
        for item in self.items:
            if not fresh and line.cell_len + 2 + item.cell_len > options.max_width:
                yield line
                line, fresh = indent.copy(), True
            if not fresh:
                line.append("  ")
            line.append_text(item)
            fresh = False
        yield line


# --------------------------------------------------------------------------- the summary


def portability_table(report: Report) -> RenderableType | None:
    """Question x start method -> status, with the reason under each status that failed."""
    rows = [q for q in report.questions if q.portability]
    if not rows:
        return None
    methods = list(dict.fromkeys(m for q in rows for m in q.portability))
    table = Table(title="Start-method portability", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("Question")
    for method in methods:
        table.add_column(method, overflow="fold")
    for q in rows:
        cells: list[RenderableType] = []
        for method in methods:
            status, why = q.portability.get(method, ("", ""))
            cell = status_text(status) if status else Text("-")
            cells.append(Text.assemble(cell, "\n", text(why, "dim")) if why else cell)
        table.add_row(text(q.id), *cells)
    return table


def score_table(report: Report) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("Question", no_wrap=True)
    table.add_column("Title", ratio=1, no_wrap=True, overflow="ellipsis")
    table.add_column("Status", no_wrap=True)
    table.add_column("Score", justify="right", no_wrap=True)
    for q in report.questions:
        table.add_row(
            text(q.id),
            text(q.title),
            Text.assemble(status_text(q.status), " reviewed" if q.reviewed else ""),
            Text(f"{story.points(q.score)} / {story.points(q.max_score)}"),
        )
    total = f"{story.points(report.score)} / {story.points(report.max_score)}"
    table.add_row(Text("Total", style="bold"), Text(), Text(), Text(total, style="bold"))
    return table


def closing_line(report: Report) -> RenderableType:
    """pytest's last line: the total and how many questions ended how."""
    counts = Counter(q.status for q in report.questions)
    said = ", ".join(f"{counts[s]} {info.label.lower()}" for s, info in verdicts.STATUSES.items()
                     if counts[s])
    full = report.score >= report.max_score - 1e-9
    title = Text(
        f"{story.points(report.score)} / {story.points(report.max_score)} points · {said} · "
        f"{story.seconds(report.duration_s)}",
        style="bold green" if full else "bold red",
    )
    return _Closing(title, "green" if full else "red")


class _Closing:
    """The closing line inside a rule when it fits, else on its own (never cut)."""

    def __init__(self, title: Text, style: str) -> None:
        self.title, self.style = title, style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.title.cell_len + 6 <= options.max_width:
            yield Rule(self.title, style=self.style)
        else:
            yield self.title

