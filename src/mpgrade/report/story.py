"""The per-process story of one run, shaped once so that every renderer tells it the same way.

Text, Markdown, HTML and the SVG timeline all show the same facts (which processes ran,
what each printed, which pool worker ran which item, what travelled over pipes and
queues, where a hung tree was stuck); computing them here keeps the formats consistent
and the templates free of logic.
"""

from __future__ import annotations

import re
import signal
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from typing import TypeVar

from mpgrade import locations, verdicts
from mpgrade.model import (
    Message,
    OutputLine,
    PoolInfo,
    PoolTask,
    ProcessInfo,
    ProcessStack,
    QuestionResult,
    RunSummary,
    StackFrame,
    value_class,
)
from mpgrade.wording import plural

T = TypeVar("T")
K = TypeVar("K")



@value_class
class ProcessNode:
    """One process with everything the report says about it, and its children."""

    info: ProcessInfo
    lines: tuple[OutputLine, ...]
    tasks: tuple[PoolTask, ...]
    stack: ProcessStack | None
    children: tuple[ProcessNode, ...]
    end: str  # "exit 0", "killed by SIGKILL", "killed by the grader", ...
    blocked_at: str = ""  # where a hung process waited, "" when it was not stuck
    blocked_brief: str = ""  # the same without the kernel's wait channel (the terse terminal)

    @property
    def label(self) -> str:
        """``Process-1 (pid 101) · target worker(1)``: who this process is, in one line."""
        info = self.info
        parts = [f"{info.name} (pid {info.pid})"]
        if info.role == "pool_worker":
            parts.append("pool worker")  # its target is the pool's own loop: not worth showing
        elif info.target:
            parts.append(f"target {info.target}{_call_args(info.args)}")
        if info.daemon:
            parts.append("daemon")
        if not info.confirmed and info.role != "main":
            parts.append("unconfirmed")
        return " · ".join(parts)

    @property
    def failed(self) -> bool:
        """Hung, killed or exited non-zero: shown in red, and always said in words too."""
        return self.stack is not None or self.end not in (
            "exit 0",
            "stopped by its pool",
            "no exit seen",
        )


@value_class
class WorkerShare:
    """The items one pool worker computed."""

    worker_pid: int
    tasks: tuple[PoolTask, ...]


@value_class
class PoolStory:
    info: PoolInfo | None  # None for tasks whose pool the probe could not name
    workers: tuple[WorkerShare, ...]


@value_class
class Delivery:
    """A message as sent, paired with the receive that took it (FIFO per channel)."""

    send: Message
    recv: Message | None


def short(text: str, limit: int = 80) -> str:
    """One line, at most ``limit`` characters: student output can be anything."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def seconds(t: float | None) -> str:
    if t is None:
        return "?"
    return f"{t * 1000:.0f} ms" if t < 1 else f"{t:.2f} s"


def points(x: float) -> str:
    """Scores without float noise: 1.5, 2, 0.25."""
    return f"{round(x, 2):g}"


def reason_label(reason: str | None) -> str:
    return verdicts.limit(reason).label if reason else ""


def run_headline(run: RunSummary) -> str:
    """``exit 0 in 210 ms under fork`` or ``stopped: deadlock after 1.20 s under fork``."""
    method = f" under {run.start_method}" if run.start_method else ""
    if run.reason:
        return f"stopped: {reason_label(run.reason)} after {seconds(run.duration_s)}{method}"
    code = "no exit code" if run.exit_code is None else f"exit {run.exit_code}"
    return f"{code} in {seconds(run.duration_s)}{method}"


def task_label(task: PoolTask) -> str:
    outcome = f"error: {task.error}" if task.error else f"→ {task.result}"
    return short(f"{task.func}({task.input}) {outcome}", 60)


def shown_frame(stack: ProcessStack) -> StackFrame | None:
    """The student's frame of a stack, else its innermost one: where it was stuck."""
    found = locations.student_frame(stack)
    return found if found is not None else (stack.frames[-1] if stack.frames else None)


def frame_code(frame: StackFrame, run: RunSummary) -> str:
    """The source of a frame's line, read from the run's script when the stack lacks it."""
    if frame.code:
        return frame.code.strip()
    script_files = {s.frames[0].file for s in run.stacks if s.frames}
    if frame.file in script_files:
        return dict(run.numbered_lines()).get(frame.line, "").strip()
    return ""


def blocked_description(stack: ProcessStack, run: RunSummary, wait_channel: bool = True) -> str:
    frame = shown_frame(stack)
    where = f"line {frame.line} in {frame.function}" if frame else "an unknown place"
    code = frame_code(frame, run) if frame else ""
    wait = f" (waiting in {stack.wait})" if stack.wait and wait_channel else ""
    return f"blocked at {where}{': ' + short(code, 60) if code else ''}{wait}"


def frame_place(frame: StackFrame) -> str:
    """"line 11 of your answer" for the student's code (labels, not paths), else file:line."""
    if "/" in frame.file or "\\" in frame.file:
        return f"{frame.file}:{frame.line}"
    return f"line {frame.line} of {frame.file}"


def stack_lines(run: RunSummary) -> tuple[str, ...]:
    """One sentence per stuck process: its name, the file:line it waited on, the code there."""
    names = {p.pid: p.name for p in run.trace.processes}
    out = []
    for s in run.stacks:
        frame = shown_frame(s)
        where = f"{frame_place(frame)} in {frame.function}" if frame else "no Python frame"
        code = frame_code(frame, run) if frame else ""
        wait = f" (waiting in {s.wait})" if s.wait else ""
        out.append(
            f"{names.get(s.pid, s.name)} (pid {s.pid}) at {where}{': ' + code if code else ''}{wait}"
        )
    return tuple(out)


def end_label(info: ProcessInfo, run: RunSummary, stack: ProcessStack | None) -> str:
    """How a process ended, in words, so status never depends on colour."""
    code = info.exitcode
    stopped = stack is not None or run.reason is not None
    if code == -signal.SIGKILL and stopped:
        return "killed by the grader"
    if code is not None:
        if code >= 0:
            return f"exit {code}"
        if info.role == "pool_worker" and -code == signal.SIGTERM:
            return "stopped by its pool"  # Pool.terminate(), also run by ``with Pool()``
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return "killed by the grader" if stopped else "no exit seen"


def process_forest(run: RunSummary) -> tuple[ProcessNode, ...]:
    """The processes of a run as a tree by parent pid, main process first.

    Pids that printed, messaged or hung without a recorded start still get a node, so
    nothing the run did disappears from the story.
    """
    infos = {p.pid: p for p in run.trace.processes}
    seen_pids = [line.pid for line in run.trace.lines]
    seen_pids += [m.pid for m in run.trace.messages] + [s.pid for s in run.stacks]
    for pid in seen_pids:
        if pid not in infos:
            infos[pid] = ProcessInfo(pid=pid, ppid=0, name=f"pid {pid}", target=None, role="helper")
    lines = _group(run.trace.lines, lambda line: line.pid)
    tasks = _group(run.trace.tasks, lambda task: task.worker_pid)
    stacks = {s.pid: s for s in run.stacks}
    kids: dict[int, list[ProcessInfo]] = defaultdict(list)
    roots: list[ProcessInfo] = []
    for info in sorted(infos.values(), key=lambda p: (p.role != "main", p.started_at, p.pid)):
        (kids[info.ppid] if info.ppid in infos and info.ppid != info.pid else roots).append(info)

    def node(info: ProcessInfo) -> ProcessNode:
        stack = stacks.get(info.pid)
        return ProcessNode(
            info=info,
            lines=tuple(lines.get(info.pid, ())),
            tasks=tuple(tasks.get(info.pid, ())),
            stack=stack,
            children=tuple(node(child) for child in kids[info.pid]),
            end=end_label(info, run, stack),
            blocked_at=blocked_description(stack, run) if stack else "",
            blocked_brief=blocked_description(stack, run, wait_channel=False) if stack else "",
        )

    return tuple(node(root) for root in roots)


def flatten(forest: Iterable[ProcessNode]) -> list[ProcessNode]:
    """Depth-first order: parents above their children, the order of the timeline lanes."""
    out: list[ProcessNode] = []
    for n in forest:
        out.append(n)
        out.extend(flatten(n.children))
    return out


def pool_stories(run: RunSummary) -> tuple[PoolStory, ...]:
    """Which worker ran which items, per pool: the evidence that work was shared."""
    pools = {p.id: p for p in run.trace.pools}
    by_pool = _group(run.trace.tasks, lambda task: task.pool_id)
    ids = list(pools) + [pid for pid in by_pool if pid not in pools]
    stories = []
    for pool_id in ids:
        per_worker = _group(by_pool.get(pool_id, ()), lambda task: task.worker_pid)
        workers = tuple(WorkerShare(pid, tuple(ts)) for pid, ts in per_worker.items())
        stories.append(PoolStory(pools.get(pool_id) if pool_id is not None else None, workers))
    return tuple(stories)


def deliveries(messages: Iterable[Message]) -> tuple[Delivery, ...]:
    """Pair each send with the receive that consumed it (first in, first out per channel)."""
    ordered = sorted(messages, key=lambda m: m.t)
    pending: dict[str, deque[int]] = defaultdict(deque)
    pairs: list[list] = []
    for msg in ordered:
        if msg.op == "send":
            pending[msg.channel].append(len(pairs))
            pairs.append([msg, None])
        elif pending[msg.channel]:
            pairs[pending[msg.channel].popleft()][1] = msg
    return tuple(Delivery(send, recv) for send, recv in pairs)


def message_label(msg: Message, names: dict[int, str]) -> str:
    who = names.get(msg.pid, f"pid {msg.pid}")
    verb = "sent" if msg.op == "send" else "received"
    return short(f"{seconds(msg.t)} · {who} {verb} {msg.value} on {msg.channel}", 90)


def _call_args(args: str) -> str:
    if not args:
        return ""
    return short(args if args.startswith("(") else f"({args})", 26)


def _group(items: Iterable[T], key: Callable[[T], K]) -> dict[K, list[T]]:
    grouped: dict[K, list[T]] = defaultdict(list)
    for item in items:
        grouped[key(item)].append(item)
    return dict(grouped)


class Said:
    """The clauses already printed for one question, so that none is printed twice.

    Check messages and diagnoses often share a clause ("only two child processes were
    started"); the first place it appears keeps it."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def fresh(self, sentence: str) -> str:
        kept = []
        for clause in _clauses(" ".join(sentence.split())):
            key = _key(clause)
            if not key or key in self.seen or any(
                len(old.split()) >= 4 and old in key for old in self.seen
            ):
                continue
            self.seen.add(key)
            kept.append(clause)
        if not kept:
            return ""
        joined = " ".join(kept)
        return joined[:-1] + "." if joined.endswith((":", ";", ",")) else joined


_CLAUSE_END = re.compile(r"(?<=[.;:!?]) ")


def _clauses(sentence: str) -> list[str]:
    """Split after ``. ; : ! ?`` and a space, but not inside backticks or parentheses."""
    if "`" not in sentence and "(" not in sentence and ")" not in sentence:
        return [c for c in _CLAUSE_END.split(sentence) if c]  # nothing to skip over
    out, start, depth, code = [], 0, 0, False
    for i, ch in enumerate(sentence):
        if ch == "`":
            code = not code
        elif not code and ch == "(":
            depth += 1
        elif not code and ch == ")":
            depth = max(0, depth - 1)
        elif (not code and depth == 0 and ch in ".;:!?" and i + 1 < len(sentence)
              and sentence[i + 1] == " "):
            out.append(sentence[start: i + 1])
            start = i + 2
    out.append(sentence[start:])
    return [c for c in out if c]


def _key(clause: str) -> str:
    return re.sub(r"[\W_]+", " ", clause.lower()).strip()


def found_line(q: QuestionResult) -> str:
    """One line on how the answer was found and what was salvaged to run it; "" if none."""
    if q.attribution is None:
        return ""
    line = f"Answer {q.attribution.sentence()}."
    if q.salvaged:
        more = f" (and {len(q.salvaged) - 1} more)" if len(q.salvaged) > 1 else ""
        line += f" Salvaged to run: {q.salvaged[0]}{more}."
    return line


REJECTED_SHOWN = 3  # reasons a report's staff line names; the JSON result keeps more


def rejected_line(q: QuestionResult) -> str:
    """One line for staff when the trace parser discarded events of the run (claims no
    process the supervisor saw could confirm, or malformed lines: possibly forged); ""
    when it discarded none."""
    rejected = q.run.trace.rejected if q.run is not None else ()
    if not rejected:
        return ""
    named = "; ".join(short(reason, 100) for reason in rejected[:REJECTED_SHOWN])
    more = f"; and {len(rejected) - REJECTED_SHOWN} more" if len(rejected) > REJECTED_SHOWN else ""
    kinds = plural(len(rejected), "reason")
    return (f"For staff: the grader discarded trace events of this run as unconfirmed or "
            f"malformed (possible forgery), {kinds}: {named}{more}.")
