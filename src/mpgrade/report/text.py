"""The terminal report: small rich renderables composed into one printout.

Each function returns a renderable for one part (header, score table, one question,
one run's process tree), so the parts can be tested and rearranged on their own.
Status is always a word as well as a colour: the report must read the same in a
plain log file, with NO_COLOR, or for a colour-blind reader.
"""

from __future__ import annotations

import os
import sys
from io import StringIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from mpgrade import verdicts
from mpgrade.model import Diagnosis, QuestionResult, Report, RunSummary
from mpgrade.report import story

WIDTH = 100
LINES_SHOWN = 6  # printed lines shown per process before "… N more"
MESSAGES_SHOWN = 24



def render_text(report: Report, color: bool | None = None) -> str:
    """The whole report as a string; ``color=None`` means colour only on a terminal without NO_COLOR."""
    if color is None:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    if "NO_COLOR" in os.environ:
        color = False
    console = Console(
        file=StringIO(),
        width=WIDTH,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        emoji=False,
    )
    console.print(report_renderable(report))
    return console.file.getvalue()


def report_renderable(report: Report) -> RenderableType:
    parts: list[RenderableType] = [header(report), score_table(report)]
    matrix = portability_table(report)
    if matrix is not None:
        parts.append(matrix)
    for q in report.questions:
        parts.append(Text())
        parts.append(question_section(q))
    return Group(*parts)


def status_text(status: str) -> Text:
    info = verdicts.status(status)
    return Text(info.label, style=info.style)


def header(report: Report) -> RenderableType:
    env = report.environment
    lim = env.limits
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Assignment", f"{report.assignment_title} ({report.assignment_id})")
    if report.student:
        grid.add_row("Student", report.student)
    grid.add_row("File", f"{report.submission_path} ({report.submission_format})")
    grid.add_row("Python", f"{env.python} on {env.platform}")
    grid.add_row("Start method", env.start_method)
    grid.add_row("Isolation", f"{env.isolation} (observer: {env.observer})")
    grid.add_row(
        "Limits",
        f"{lim.wall_s:g} s wall, {lim.cpu_s:g} s CPU, {lim.memory_mb} MiB, "
        f"{lim.processes} processes, {lim.output_bytes} output bytes",
    )
    return Group(Text(f"mpgrade {report.tool_version}", style="bold"), grid, Text())


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
            cells.append(Text.assemble(cell, "\n", (why, "dim")) if why else cell)
        table.add_row(q.id, *cells)
    return table


def score_table(report: Report) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, show_footer=True, pad_edge=False)
    table.add_column("Question", footer="Total")
    table.add_column("Title")
    table.add_column("Status")
    table.add_column(
        "Score",
        justify="right",
        footer=f"{story.points(report.score)} / {story.points(report.max_score)}",
    )
    for q in report.questions:
        table.add_row(
            q.id,
            q.title,
            status_text(q.status),
            f"{story.points(q.score)} / {story.points(q.max_score)}",
        )
    return table


def question_section(q: QuestionResult) -> RenderableType:
    title = Text.assemble(
        (f"{q.id} · {q.title} — ", "bold"),
        status_text(q.status),
        f" {story.points(q.score)} / {story.points(q.max_score)}",
    )
    parts: list[RenderableType] = [title]
    if q.feedback:
        parts.append(Text(q.feedback))
    failed = [c for c in q.checks if not c.passed]
    for check in failed:
        parts.append(
            Text.assemble(
                ("  ✗ ", "red"),
                (check.id, "bold"),
                f" ({story.points(check.score)}/{story.points(check.max_score)}): {check.message}",
            )
        )
    passed = [c.id for c in q.checks if c.passed]
    if passed:
        parts.append(Text.assemble(("  ✓ ", "green"), f"passed: {', '.join(passed)}"))
    for d in q.diagnoses:
        parts.append(diagnosis(d))
    if q.run is not None:
        parts.append(run_tree(q.run))
    return Group(*parts)


def diagnosis(d: Diagnosis) -> RenderableType:
    where = f" at {d.location}" if d.location else ""
    return Group(
        Text.assemble(("  ! ", "yellow"), (f"{d.severity.upper()}: {d.title}", "bold"), where),
        Text(f"    {d.explanation}"),
        Text.assemble(("    Fix: ", "bold"), d.fix),
    )


def run_tree(run: RunSummary) -> RenderableType:
    """The per-process story: who ran, what each printed, pools, messages, where it hung."""
    tree = Tree(Text.assemble(("Run: ", "bold"), story.run_headline(run)), guide_style="dim")
    if run.reason_detail:
        tree.add(Text(run.reason_detail, style="red"))
    forest = story.process_forest(run)
    if forest:
        procs = tree.add(Text("Processes", style="bold"))
        for node in forest:
            _add_process(procs, node)
    for pool in story.pool_stories(run):
        tree.add(_pool_branch(pool))
    names = {n.info.pid: n.info.name for n in story.flatten(forest)}
    if run.trace.messages:
        msgs = tree.add(Text("Messages (in order)", style="bold"))
        ordered = sorted(run.trace.messages, key=lambda m: m.t)
        for msg in ordered[:MESSAGES_SHOWN]:
            msgs.add(story.message_label(msg, names))
        if len(ordered) > MESSAGES_SHOWN:
            msgs.add(Text(f"… {len(ordered) - MESSAGES_SHOWN} more messages", style="dim"))
    if run.stacks:
        stacks = tree.add(Text("Where the processes were stuck", style="bold red"))
        for sentence in story.stack_lines(run):
            stacks.add(sentence)
    label, line = (("Blocking line of your code", run.blocking_line) if run.blocking_line
                   else ("Line of your code that raised", run.error_line))
    if line:
        code = dict(run.numbered_lines()).get(line, "").strip()
        tree.add(Text(f"{label}: {line}  {code}", style="bold red"))
    return tree


def _add_process(parent: Tree, node: story.ProcessNode) -> None:
    branch = parent.add(
        Text.assemble(node.label, " → ", (node.end, "bold red" if node.failed else "bold"))
    )
    if node.blocked_at:
        branch.add(Text(node.blocked_at, style="red"))
    for line in node.lines[:LINES_SHOWN]:
        prefix = "stderr: " if line.stream == "stderr" else "printed: "
        branch.add(Text(prefix + story.short(line.text, 80)))
    hidden = len(node.lines) - LINES_SHOWN
    if hidden > 0:
        branch.add(Text(f"… {hidden} more lines", style="dim"))
    for child in node.children:
        _add_process(branch, child)


def _pool_branch(pool: story.PoolStory) -> Tree:
    if pool.info:
        calls = ", ".join(pool.info.calls) or "never used"
        head = f"Pool {pool.info.id}: {pool.info.size} {pool.info.kind} workers, {calls}"
    else:
        head = "Pool tasks"
    branch = Tree(Text(head, style="bold"))
    if not pool.workers:
        branch.add("no task ran in this pool")
    for share in pool.workers:
        items = ", ".join(story.task_label(t) for t in share.tasks[:8])
        more = f", … {len(share.tasks) - 8} more" if len(share.tasks) > 8 else ""
        branch.add(f"worker pid {share.worker_pid} ran {len(share.tasks)}: {items}{more}")
    return branch
