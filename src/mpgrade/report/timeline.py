"""An inline SVG timeline of one run: one lane per process, so a deadlock is visible at a glance.

Each lane runs from the process's start to its exit; printed lines are ticks, pool items
are squares, Pipe/Queue messages are arrows from the sender's lane to the receiver's, and
a process the grader found stuck ends in a red "blocked" segment naming the line it
waited on. Everything carries a <title> tooltip and the whole drawing a <desc>, so the
picture is never the only way to read the story. Colours are presentation attributes,
not page CSS, so the SVG stays correct when copied out of the report.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape

from mpgrade.model import RunSummary
from mpgrade.report import story
from mpgrade.wording import plural

LABEL_W = 200
PLOT_W = 520
END_W = 170
LANE_H = 34
TOP = 26
BOTTOM = 30
MAX_LANES = 40
MAX_MARKS = 200  # ticks, squares or arrows drawn per kind: the <desc> still counts them all

INK = "#1a202c"
MUTED = "#4a5568"
LIFE = "#2b6cb0"
BLOCKED = "#c53030"
ARROW = "#6b46c1"
TASK = "#2f855a"

XScale = Callable[[float | None], float]  # run time (None = the end) to an x coordinate


def timeline_svg(run: RunSummary, uid: str) -> str:
    """The SVG for ``run``; ``uid`` keeps element ids unique when a page holds several."""
    uid = re.sub(r"[^A-Za-z0-9_-]", "-", uid)
    nodes = story.flatten(story.process_forest(run))
    hidden = max(0, len(nodes) - MAX_LANES)
    nodes = nodes[:MAX_LANES]
    lane = {n.info.pid: i for i, n in enumerate(nodes)}
    scale = _Scale(run)
    x = scale.x

    def y(pid: int) -> float:
        return TOP + lane[pid] * LANE_H + LANE_H / 2

    height = TOP + len(nodes) * LANE_H + BOTTOM
    width = LABEL_W + PLOT_W + END_W
    body: list[str] = [_axis(scale, height)]
    for node in nodes:
        body.append(_lane(node, run, x, y(node.info.pid)))
    body.append(_arrows(run, lane, x, y, uid))
    if hidden:
        body.append(_text(8, height - 6, f"… {plural(hidden, 'more process', 'more processes')} not drawn", MUTED, 11))
    title = f"Timeline of the run: {plural(len(nodes) + hidden, 'process', 'processes')}, {story.run_headline(run)}"
    return (
        f'<svg class="timeline" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="{uid}-title {uid}-desc" '
        f'font-family="system-ui, sans-serif">'
        f'<title id="{uid}-title">{escape(title)}</title>'
        f'<desc id="{uid}-desc">{escape(describe(run))}</desc>'
        f'<defs><marker id="{uid}-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{ARROW}"/></marker></defs>' + "".join(body) + "</svg>"
    )


def describe(run: RunSummary) -> str:
    """The timeline in sentences: the text alternative for screen readers and print."""
    nodes = story.flatten(story.process_forest(run))
    names = {n.info.pid: n.info.name for n in nodes}
    sentences = [f"{story.run_headline(run)}."]
    for n in nodes:
        said = f"{n.info.name} (pid {n.info.pid}) started at {story.seconds(n.info.started_at)}"
        said += f", printed {plural(len(n.lines), 'line')}"
        if n.tasks:
            said += f", ran {plural(len(n.tasks), 'pool item')}"
        said += f", {n.blocked_at or n.end}."
        sentences.append(said)
    for d in story.deliveries(run.trace.messages):
        sender = names.get(d.send.pid, f"pid {d.send.pid}")
        if d.recv:
            receiver = names.get(d.recv.pid, f"pid {d.recv.pid}")
            sentences.append(f"{sender} sent {d.send.value} on {d.send.channel} to {receiver}.")
        else:
            sentences.append(f"{sender} sent {d.send.value} on {d.send.channel}; never received.")
    return " ".join(story.short(s, 200) for s in sentences)


class _Scale:
    """Time to x, with the idle tail of a hung run squeezed.

    A deadlocked tree does everything in its first tens of milliseconds and then waits
    for the whole time limit; a linear axis would crush the interesting part into a
    corner. When the last event comes before half the run, the events get 80% of the
    width and the wait the remaining 20%, behind a visible axis break.
    """

    def __init__(self, run: RunSummary) -> None:
        trace = run.trace
        events = [p.started_at for p in trace.processes] + [
            p.ended_at or 0 for p in trace.processes
        ]
        events += [line.t for line in trace.lines] + [m.t for m in trace.messages]
        events += [t.t for t in trace.tasks]
        last = max(events, default=0.0)
        self.end = max(run.duration_s, last, 0.001)
        knee = max(last * 1.15, 0.001)
        self.knee = knee if knee < self.end / 2 else None

    def x(self, t: float | None) -> float:
        t = self.end if t is None else min(max(t, 0.0), self.end)
        if self.knee is None:
            share = t / self.end
        elif t <= self.knee:
            share = 0.8 * t / self.knee
        else:
            share = 0.8 + 0.2 * (t - self.knee) / (self.end - self.knee)
        return round(LABEL_W + share * PLOT_W, 1)

    def ticks(self) -> list[float]:
        if self.knee is None:
            return [self.end * i / 4 for i in range(5)]
        return [self.knee * i / 3 for i in range(4)] + [self.end]

    def break_x(self) -> float:
        """Middle of the squeezed wait, where the axis break is drawn."""
        return round(LABEL_W + 0.9 * PLOT_W, 1)


def _axis(scale: _Scale, height: int) -> str:
    parts = []
    for t in scale.ticks():
        xi = scale.x(t)
        parts.append(
            f'<line x1="{xi}" y1="{TOP - 6}" x2="{xi}" y2="{height - BOTTOM}" '
            f'stroke="#e2e8f0" stroke-width="1"/>'
        )
        parts.append(_text(xi, height - BOTTOM + 16, story.seconds(t), MUTED, 11, anchor="middle"))
    if scale.knee is not None:
        parts.append(
            f'<g class="axis-break"><title>Time axis squeezed: nothing happened after '
            f"{story.seconds(scale.knee)}</title>"
            + _text(scale.break_x(), height - BOTTOM + 16, "≈", MUTED, 14, anchor="middle")
            + "</g>"
        )
    parts.append(_text(LABEL_W + PLOT_W + 8, TOP - 10, "how it ended", MUTED, 11))
    parts.append(_text(8, TOP - 10, "process", MUTED, 11))
    return "".join(parts)


def _lane(node: story.ProcessNode, run: RunSummary, x: XScale, y: float) -> str:
    info = node.info
    hung = node.stack is not None or (
        info.ended_at is None and info.exitcode is None and run.reason is not None
    )
    last_seen = max(
        [info.started_at]
        + [child.info.started_at for child in node.children]
        + [line.t for line in node.lines]
        + [t.t for t in node.tasks]
        + [m.t for m in run.trace.messages if m.pid == info.pid]
    )
    alive_until = last_seen if hung else info.ended_at
    label = story.short(f"{info.name} · {info.pid}", 28)
    parts = [
        f'<g class="lane"><title>{escape(node.label)}</title>',
        _text(8, y + 4, label, INK, 12),
        f'<line x1="{x(info.started_at)}" y1="{y}" x2="{x(alive_until)}" y2="{y}" '
        f'stroke="{LIFE}" stroke-width="6" stroke-linecap="round"/>',
        f'<circle cx="{x(info.started_at)}" cy="{y}" r="5" fill="#fff" stroke="{LIFE}" '
        f'stroke-width="2"><title>{escape(info.name)} started at '
        f"{story.seconds(info.started_at)}</title></circle>",
    ]
    if hung:
        blocked = node.blocked_at or "still running when the grader stopped the run"
        parts.append(
            f'<line class="blocked" x1="{x(last_seen)}" y1="{y}" x2="{x(None)}" y2="{y}" '
            f'stroke="{BLOCKED}" stroke-width="6" stroke-dasharray="6 3">'
            f"<title>{escape(info.name)}: {escape(blocked)}</title></line>"
        )
        end_text, end_colour = story.short(_blocked_short(node), 26), BLOCKED
    else:
        end_x = x(info.ended_at)
        end_colour = BLOCKED if node.failed else INK
        parts.append(
            f'<rect x="{end_x - 2}" y="{y - 9}" width="4" height="18" fill="{end_colour}">'
            f"<title>{escape(info.name)}: {escape(node.end)} at {story.seconds(info.ended_at)}"
            f"</title></rect>"
        )
        end_text = node.end
    parts.append(_text(LABEL_W + PLOT_W + 8, y + 4, end_text, end_colour, 12))
    for line in node.lines[:MAX_MARKS]:
        colour = BLOCKED if line.stream == "stderr" else INK
        parts.append(
            f'<line class="tick" x1="{x(line.t)}" y1="{y - 12}" x2="{x(line.t)}" y2="{y - 4}" '
            f'stroke="{colour}" stroke-width="2"><title>{escape(info.name)} printed at '
            f"{story.seconds(line.t)}: {escape(story.short(line.text, 120))}</title></line>"
        )
    for task in node.tasks[:MAX_MARKS]:
        parts.append(
            f'<rect class="task" x="{x(task.t) - 3}" y="{y + 5}" width="6" height="6" fill="{TASK}">'
            f"<title>{escape(info.name)} computed {escape(story.task_label(task))}</title></rect>"
        )
    parts.append("</g>")
    return "".join(parts)


def _blocked_short(node: story.ProcessNode) -> str:
    frame = story.shown_frame(node.stack) if node.stack else None
    return f"blocked at line {frame.line}" if frame else "blocked, killed"


def _arrows(
    run: RunSummary, lane: dict[int, int], x: XScale, y: Callable[[int], float], uid: str
) -> str:
    parts = ['<g class="messages">']
    for d in story.deliveries(run.trace.messages)[:MAX_MARKS]:
        if d.send.pid not in lane:
            continue
        x1, y1 = x(d.send.t), y(d.send.pid)
        what = f"{d.send.value} on {d.send.channel}"
        if d.recv is not None and d.recv.pid in lane and d.recv.pid != d.send.pid:
            x2, y2 = max(x(d.recv.t), x1 + 4), y(d.recv.pid)
            y2 += -7 if y2 > y1 else 7
            tip = (
                f"{what}: sent at {story.seconds(d.send.t)}, received at {story.seconds(d.recv.t)}"
            )
            dash = ""
        else:
            x2, y2 = x1 + 24, y1 - 14
            tip = f"{what}: sent at {story.seconds(d.send.t)}, never received"
            dash = ' stroke-dasharray="3 2"'
        parts.append(
            f'<line class="message" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{ARROW}" '
            f'stroke-width="1.8"{dash} marker-end="url(#{uid}-arrow)"><title>{escape(tip)}</title></line>'
        )
    parts.append("</g>")
    return "".join(parts)


def _text(x: float, y: float, text: str, fill: str, size: int, anchor: str = "start") -> str:
    return (
        f'<text x="{x}" y="{y}" fill="{fill}" font-size="{size}" text-anchor="{anchor}">'
        f"{escape(text)}</text>"
    )
