"""HTML and Markdown through Jinja templates that an instructor may override.

The Python side prepares plain view data (process trees, pool shares, code lines with
the blocking line marked, SVGs) so templates only lay things out; a template found in
the instructor's ``--templates`` folder wins over the bundled one of the same name, so
overriding one partial does not mean copying the whole page.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from mpgrade import verdicts
from mpgrade.model import CheckResult, Diagnosis, QuestionResult, Report, RunSummary, value_class
from mpgrade.report import charts, story, timeline
from mpgrade.report.summary import PASS_RATE_MEANS, STATUSES, BatchFacts, ClassSummary
from mpgrade.resources import data_dir
from mpgrade.safe_text import plain
from mpgrade.wording import noun, plural


@value_class
class CodeLine:
    number: int
    text: str
    blocking: bool
    failing: bool = False  # an exception was raised here


@value_class
class RunView:
    """One run, prepared for a template."""

    run: RunSummary
    headline: str
    forest: tuple[story.ProcessNode, ...]
    pools: tuple[story.PoolStory, ...]
    messages: tuple[str, ...]  # one sentence per send/recv, in time order
    stacks: tuple[str, ...]  # one sentence per stuck process
    code: tuple[CodeLine, ...]
    timeline: Markup  # inline SVG; empty for the Markdown page


@value_class
class QuestionView:
    q: QuestionResult
    anchor: str  # HTML id, safe in a URL fragment
    run: RunView | None
    # The question's diagnoses and checks with what the feedback already said taken out,
    # so that a sentence is read once on the page.
    diagnoses: tuple[Diagnosis, ...] = ()
    checks: tuple[CheckResult, ...] = ()


@functools.lru_cache(maxsize=8)
def environment(templates: Path | None = None) -> jinja2.Environment:
    """A Jinja environment reading ``templates`` first and the bundled templates second.

    Cached: the environment keeps its compiled templates, and compiling them again for
    every report was most of a batch worker's own CPU time."""
    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates)))
    loaders.append(jinja2.FileSystemLoader(str(data_dir("templates"))))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=lambda name: name is not None and ".html" in name,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_inert,
    )
    env.filters.update(
        points=story.points,
        seconds=story.seconds,
        short=story.short,
        status_word=lambda s: verdicts.status(s).word,
        md_cell=md_cell,
        md_code=md_code,
        fence=fence,
        numbered=numbered,
        task_label=story.task_label,
        plural=plural,
        noun=noun,
        md=inline_markdown,
        found_line=story.found_line,
        rejected_line=story.rejected_line,
    )
    env.globals["pass_rate_means"] = PASS_RATE_MEANS
    env.globals["colours"] = {"life": timeline.LIFE, "ink": timeline.INK, "task": timeline.TASK,
                              "arrow": timeline.ARROW, "blocked": timeline.BLOCKED}
    return env


def render_html(report: Report, templates: Path | None = None) -> str:
    return (
        environment(templates)
        .get_template("report.html.j2")
        .render(report=report, questions=question_views(report, svg=True))
    )


def render_fragment(report: Report, templates: Path | None = None, note: str = "") -> str:
    """The report's questions as an HTML fragment with a scoped stylesheet, for a page that
    is not ours (a Jupyter output); ``note`` is a line said above the questions."""
    return (
        environment(templates)
        .get_template("fragment.html.j2")
        .render(report=report, questions=question_views(report, svg=True), note=note)
    )


def render_markdown(report: Report, templates: Path | None = None) -> str:
    return (
        environment(templates)
        .get_template("report.md.j2")
        .render(report=report, questions=question_views(report, svg=False))
    )


def render_summary_html(summary: ClassSummary, templates: Path | None = None) -> str:
    """The class overview page: score histogram, per-question status, common failures, roster."""
    return (
        environment(templates)
        .get_template("summary.html.j2")
        .render(
            summary=summary,
            histogram=Markup(charts.histogram_svg(summary.histogram)),
            status_bars=Markup(charts.status_bars_svg(summary.questions)),
            reasons=Markup(charts.reasons_svg(summary.top_failures)),
            question_ids=[q.id for q in summary.questions],
        )
    )


def render_summary_markdown(
    summary: ClassSummary, batch: BatchFacts, templates: Path | None = None
) -> str:
    """The one-minute read: headline numbers, per-question table, top problems, who needs a look."""
    shown = [s for s in STATUSES if any(q.status_counts.get(s) for q in summary.questions)]
    top = max((b.count for b in summary.histogram), default=0)
    bars = [(b, "#" * (round(30 * b.count / top) if top else 0)) for b in summary.histogram]
    return (
        environment(templates)
        .get_template("summary.md.j2")
        .render(summary=summary, batch=batch, shown=shown, bars=bars)
    )


def question_views(report: Report, svg: bool) -> list[QuestionView]:
    views = []
    for q in report.questions:
        anchor = "q-" + re.sub(r"[^A-Za-z0-9_-]", "-", q.id)
        said = story.Said()
        said.fresh(q.feedback)
        diagnoses = tuple(replace(d, explanation=said.fresh(d.explanation), fix=said.fresh(d.fix))
                          for d in q.diagnoses)
        checks = tuple(replace(c, message=said.fresh(c.message)) for c in q.checks)
        run = run_view(q.run, anchor, svg) if q.run else None
        views.append(QuestionView(q, anchor, run, diagnoses, checks))
    return views


def run_view(run: RunSummary, anchor: str, svg: bool) -> RunView:
    forest = story.process_forest(run)
    names = {n.info.pid: n.info.name for n in story.flatten(forest)}
    return RunView(
        run=run,
        headline=story.run_headline(run),
        forest=forest,
        pools=story.pool_stories(run),
        messages=tuple(
            story.message_label(m, names) for m in sorted(run.trace.messages, key=lambda m: m.t)
        ),
        stacks=story.stack_lines(run),
        code=tuple(
            CodeLine(i, text, i == run.blocking_line, i == run.error_line)
            for i, text in run.numbered_lines()
        ),
        timeline=Markup(timeline.timeline_svg(run, anchor)) if svg else Markup(""),
    )


def _inert(value: object) -> object:
    """Every value a template prints, with control characters made visible (``safe_text``)."""
    if isinstance(value, Markup):
        return Markup(plain(value))
    return plain(value) if isinstance(value, str) else value


def inline_markdown(text: object) -> Markup:
    """Feedback as HTML: `code spans` become <code>, everything else stays escaped text.

    Feedback quotes the student's code and names (process names, printed values), so
    nothing but code spans is interpreted: no links, emphasis or raw HTML a student
    could smuggle in through a name."""
    flat = str(text)
    out: list[str] = []
    pos = 0
    for match in re.finditer(r"(`+)(.+?)\1(?!`)", flat, flags=re.S):
        out.append(str(escape(flat[pos : match.start()])))
        out.append(f"<code>{escape(match.group(2).strip())}</code>")
        pos = match.end()
    out.append(str(escape(flat[pos:])))
    return Markup("".join(out))


def md_cell(text: object) -> str:
    """Text safe inside one Markdown table cell or list item: no pipes, no raw HTML tags,
    no links or images (a forged process name must not become a link in an LMS)."""
    flat = " ".join(str(text).split()).replace("\\", "\\\\")
    return flat.replace("|", "\\|").replace("<", "&lt;").replace("[", "\\[").replace("]", "\\]")


def md_code(text: object) -> str:
    """Inline code that survives backticks in student output."""
    flat = " ".join(str(text).split())
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def numbered(lines: tuple[CodeLine, ...]) -> str:
    """Code with line numbers and visible markers on the blocking and failing lines, for
    plain-text media."""
    width = len(str(max((line.number for line in lines), default=1)))
    return "\n".join(f"{line.number:>{width}}  {line.text}{marker(line)}" for line in lines)


def marker(line: CodeLine) -> str:
    if line.blocking:
        return "   ◀ blocked here"
    return "   ◀ raised here" if line.failing else ""


def fence(text: str, lang: str = "") -> str:
    """A fenced block longer than any backtick run inside, so student text cannot close it."""
    ticks = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"
