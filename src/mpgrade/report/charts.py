"""Inline SVG charts for the class summary: no script, no CDN, printable, with text alternatives.

Each chart has a <title> and a <desc> that states its numbers, and every bar its own
<title>, so the figures reach readers who cannot see the colours.
"""

from __future__ import annotations

from html import escape

from mpgrade import verdicts
from mpgrade.report import story
from mpgrade.report.summary import STATUSES, FailureReason, HistogramBin, QuestionSummary
from mpgrade.wording import plural

INK = "#1a202c"
MUTED = "#4a5568"
BAR = "#2b6cb0"


def histogram_svg(bins: tuple[HistogramBin, ...], uid: str = "hist") -> str:
    """Score distribution: one column per bin, labelled with its range and count."""
    if not bins:
        return ""
    width, height, left, bottom, top = 640, 220, 36, 40, 16
    plot_h = height - bottom - top
    col_w = (width - left - 8) / len(bins)
    peak = max(b.count for b in bins) or 1
    parts = []
    for i, b in enumerate(bins):
        h = b.count / peak * plot_h
        x = left + i * col_w
        rng = f"{story.points(b.low)}–{story.points(b.high)}"
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{top + plot_h - h:.1f}" width="{col_w - 4:.1f}" '
            f'height="{h:.1f}" fill="{BAR}"><title>{plural(b.count, "student")} scored {rng}</title></rect>'
            + _text(x + col_w / 2, height - bottom + 14, rng, MUTED, 10, "middle")
            + _text(x + col_w / 2, top + plot_h - h - 3, str(b.count), INK, 11, "middle")
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" stroke="{MUTED}"/>'
        + _text(width / 2, height - 6, "total score", MUTED, 11, "middle")
    )
    desc = "; ".join(f"{story.points(b.low)} to {story.points(b.high)}: {b.count}" for b in bins)
    return _svg(
        uid,
        width,
        height,
        "Distribution of total scores",
        f"Students per score range: {desc}.",
        parts,
    )


def status_bars_svg(questions: tuple[QuestionSummary, ...], uid: str = "status") -> str:
    """One stacked bar per question: how many students passed, partly passed, failed, ..."""
    if not questions:
        return ""
    label_w, bar_w, row_h, top = 70, 520, 26, 8
    legend_y = top + len(questions) * row_h + 14
    height = legend_y + 16
    width = label_w + bar_w + 60
    parts = []
    lines = []
    for i, q in enumerate(questions):
        y = top + i * row_h
        total = sum(q.status_counts.values()) or 1
        x = float(label_w)
        parts.append(_text(6, y + 15, q.id, INK, 12))
        for status in STATUSES:
            n = q.status_counts.get(status, 0)
            if not n:
                continue
            w = n / total * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
                f'fill="{verdicts.status(status).fill}" stroke="#fff"><title>{escape(q.id)}: {n} '
                f"{verdicts.status(status).word.lower()}</title></rect>"
            )
            x += w
        parts.append(_text(label_w + bar_w + 6, y + 15, f"{q.pass_rate:.0%}", INK, 12))
        counts = ", ".join(f"{n} {verdicts.status(s).word.lower()}" for s, n in q.status_counts.items())
        lines.append(f"{q.id}: {counts}")
    x = float(label_w)
    for status in STATUSES:
        parts.append(
            f'<rect x="{x}" y="{legend_y - 9}" width="10" height="10" fill="{verdicts.status(status).fill}"/>'
            + _text(x + 14, legend_y, verdicts.status(status).word.lower(), MUTED, 11)
        )
        x += 14 + 8 * len(status) + 14
    return _svg(
        uid,
        width,
        height,
        "Status of each question across the class",
        "Students per status, and pass rate at the right. " + "; ".join(lines) + ".",
        parts,
    )


def reasons_svg(reasons: tuple[FailureReason, ...], uid: str = "reasons") -> str:
    """Horizontal bars: the most common reasons for lost points, what to re-teach first."""
    if not reasons:
        return ""
    label_w, bar_w, row_h = 330, 260, 24
    width, height = label_w + bar_w + 40, len(reasons) * row_h + 8
    peak = max(r.count for r in reasons) or 1
    parts = []
    for i, r in enumerate(reasons):
        y = 4 + i * row_h
        w = r.count / peak * bar_w
        label = story.short(f"{r.question}: {r.label}" if r.question else r.label, 48)
        parts.append(
            _text(label_w - 6, y + 15, label, INK, 12, "end")
            + f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{BAR}">'
            f"<title>{escape(label)}: {plural(r.count, 'student')}</title></rect>"
            + _text(label_w + w + 6, y + 15, str(r.count), INK, 12)
        )
    desc = "; ".join(f"{r.question} {r.label}: {r.count}" for r in reasons)
    return _svg(uid, width, height, "Most common reasons for lost points", desc + ".", parts)


def _svg(uid: str, width: float, height: float, title: str, desc: str, parts: list[str]) -> str:
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="{uid}-title {uid}-desc" '
        f'font-family="system-ui, sans-serif"><title id="{uid}-title">{escape(title)}</title>'
        f'<desc id="{uid}-desc">{escape(desc)}</desc>' + "".join(parts) + "</svg>"
    )


def _text(x: float, y: float, text: str, fill: str, size: int, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" fill="{fill}" font-size="{size}" '
        f'text-anchor="{anchor}">{escape(text)}</text>'
    )
