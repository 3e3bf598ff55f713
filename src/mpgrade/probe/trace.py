"""Turn the probe's JSON lines into a ``Trace``, believing only what the supervisor confirms.

The trace file is written by code running next to the student's: anything in it may be
forged. So every line is validated field by field, every process the probe claims is
matched with a process the supervisor saw itself (``RunResult.observed``), and every
printed line must appear in the supervisor's own capture of stdout/stderr. What fails is
dropped and explained, briefly, in ``Trace.rejected``. What the probe stopped recording at
its own cap is no claim: it is said apart, in ``Trace.capped``.

Confirming a claimed process:
  * by pid: it matches an observed ``pid`` or ``ns_pid`` (pid inside bwrap's namespace);
  * by count, when pids cannot be matched at all (no claim matches any observed pid),
    or for the processes a "poll" observer may have missed: no more claims are believed
    than there are observed processes left unmatched, in start order;
  * the main process is the one the supervisor started itself, ``observed[0]``, known by
    its pid (under bwrap its namespace pid); the first pid to "boot" in the trace means
    nothing, and a trace with no event of that pid has no main process.
A process that cannot be confirmed stays in ``processes`` with ``confirmed=False`` and is
listed in ``rejected``; the lines, tasks, messages and threads it claims are dropped, and
so is everything an unconfirmed process says about others (a ``start`` naming a real
child): what is known of a confirmed process comes from confirmed events only.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass

from mpgrade.model import (
    Message,
    OutputLine,
    PoolInfo,
    PoolTask,
    ProcessInfo,
    RunResult,
    Trace,
)
from mpgrade.untrusted import clean_strings
from mpgrade.wording import plural

MAX_LINES = 200_000  # more than any honest run writes (the probe caps itself per process)
MAX_LINE_CHARS = 16_384  # the probe writes lines under 4 KB
_LISTED = 20  # individual reasons listed in ``rejected`` (and kinds in ``capped``)
_CAP_NAME = 40  # a capped kind is an event kind or a stream name
_MAX_PID = 2**31

_STREAMS = {"stdout", "stderr"}
_CHANNEL_KINDS = {"pipe", "queue"}
_OPS = {"send", "recv"}
_POOL_KINDS = {"process", "thread"}
_HELPER_KINDS = {"forkserver", "resource_tracker"}
_POOL_WORKER = "multiprocessing.pool.worker"

# event -> field -> (type, required). Types: int, num, str, bool, strs, or a set of values.
_Spec = dict[str, tuple[object, bool]]
_SCHEMA: dict[str, _Spec] = {
    "boot": {"ppid": ("int", True), "kind": ("str", True)},
    "start": {"child": ("pid", True), "name": ("str", True), "target": ("str?", True),
              "args": ("str", True), "daemon": ("bool", True), "method": ("str?", True),
              "pool": ("str?", False), "by": ("str", False)},
    "begin": {"ppid": ("int", True), "name": ("str", True), "target": ("str?", True)},
    "end": {"code": ("int?", True)},
    "exit": {"child": ("pid", True), "code": ("int?", True)},
    "out": {"s": (_STREAMS, True), "text": ("str", True), "trunc": ("bool", False)},
    "pool": {"pool": ("str", True), "size": ("int?", True), "kind": (_POOL_KINDS, True)},
    "pcall": {"pool": ("str?", True), "api": ("str", True), "func": ("str?", True),
              "n": ("int", False)},
    "task": {"pool": ("str?", True), "func": ("str?", True), "in": ("str", True),
             "out": ("str", False), "err": ("str", False), "t1": ("num", False)},
    "pipe": {"ch": ("str", True), "ends": ("strs", True)},
    "queue": {"ch": ("str", True), "ends": ("strs", True), "kind": ("str", False)},
    "msg": {"ch": ("str", True), "kind": (_CHANNEL_KINDS, True), "op": (_OPS, True),
            "value": ("str", True), "err": ("str", False)},
    "thread": {"name": ("str", True), "target": ("str?", False), "origin": ("str", False)},
    "cap": {"what": ("str", True)},
}


def _type_ok(value: object, kind: object) -> bool:
    if isinstance(kind, set):
        return value in kind
    if isinstance(kind, str) and kind.endswith("?"):
        return value is None or _type_ok(value, kind[:-1])
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63
    if kind == "pid":
        return isinstance(value, int) and not isinstance(value, bool) and 0 < value < _MAX_PID
    if kind == "num":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if kind == "strs":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return False


class _Rejects:
    """Reasons for discarding, counted by kind so a flood of garbage stays one line."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.listed: list[str] = []
        self.unlisted = 0

    def count(self, reason: str, n: int = 1) -> None:
        self.counts[reason] += n

    def item(self, reason: str) -> None:
        if len(self.listed) < _LISTED:
            self.listed.append(reason)
        else:
            self.unlisted += 1

    def result(self) -> tuple[str, ...]:
        out = [f"{reason} ({plural(n, 'line')})" for reason, n in self.counts.items()]
        out += self.listed
        if self.unlisted:
            out.append(f"... and {plural(self.unlisted, 'more rejected claim')}")
        return tuple(out)


def _parse(lines: tuple[str, ...], rejects: _Rejects) -> list[dict]:
    """Validated events in file order; each gets ``_n``, its line number."""
    events: list[dict] = []
    for n, raw in enumerate(lines):
        if n >= MAX_LINES:
            rejects.count(f"trace longer than {MAX_LINES} lines: rest ignored", len(lines) - n)
            break
        if not isinstance(raw, str):
            rejects.count("malformed: not text")
            continue
        if len(raw) > MAX_LINE_CHARS:
            rejects.count("malformed: oversized line")
            continue
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
        except (ValueError, RecursionError):
            rejects.count("malformed: not JSON")
            continue
        if not isinstance(event, dict):
            rejects.count("malformed: not a JSON object")
            continue
        event = clean_strings(event)  # lone surrogates: every output must stay valid UTF-8
        kind = event.get("e")
        spec = _SCHEMA.get(kind) if isinstance(kind, str) else None
        if spec is None:
            rejects.count("malformed: unknown event kind")
            continue
        if not _type_ok(event.get("pid"), "pid") or not _type_ok(event.get("t"), "num"):
            rejects.count(f"malformed: bad pid or time in '{kind}'")
            continue
        bad = next((f for f, (typ, required) in spec.items()
                    if (f in event or required) and not _type_ok(event.get(f), typ)), None)
        if bad is not None:
            rejects.count(f"malformed: bad field '{bad}' in '{kind}'")
            continue
        event["_n"] = n
        events.append(event)
    return events


@dataclass
class _Proc:
    """What the events say about one pid, before confirmation."""

    pid: int
    order: float  # when it first appeared: start, begin or boot time
    ppid: int = 0
    name: str = ""
    target: str | None = None
    args: str = ""
    daemon: bool = False
    boot_kind: str | None = None
    pool: str | None = None
    by: str = ""  # the multiprocessing module that started it, when not the student
    launched: bool = False  # a Process object: a start or begin event exists
    begun: float | None = None
    ended: float | None = None
    end_code: int | None = None
    parent_code: int | None = None

    def role(self, root: int | None) -> str:
        if self.pid == root:
            return "main"
        if (self.target == _POOL_WORKER or self.pool is not None
                or self.by.startswith("concurrent.futures")):
            return "pool_worker"
        if self.launched and not self.by:
            return "child"
        return "helper"  # forkserver, resource tracker, Manager server, a python run by hand


def _processes(events: list[dict]) -> dict[int, _Proc]:
    procs: dict[int, _Proc] = {}

    def get(pid: int, t: float) -> _Proc:
        proc = procs.get(pid)
        if proc is None:
            proc = procs[pid] = _Proc(pid, t)
        proc.order = min(proc.order, t)
        return proc

    for e in events:
        kind, t = e["e"], e["t"]
        me = get(e["pid"], t)
        if kind == "boot":
            me.ppid, me.boot_kind = e["ppid"], e["kind"]
        elif kind == "start":
            child = get(e["child"], t)
            child.launched = True
            child.ppid = child.ppid or e["pid"]
            child.name, child.target, child.args = e["name"], e["target"], e["args"]
            child.daemon = e["daemon"]
            child.pool = e.get("pool") or child.pool
            child.by = e.get("by", "")
            if child.target == _POOL_WORKER and child.pool is None:
                child.pool = ""  # a worker of a pool whose id the parent did not know
        elif kind == "begin":
            me.launched = True
            me.ppid = e["ppid"]
            me.name = me.name or e["name"]
            me.target = me.target if me.target is not None else e["target"]
            me.begun = t
        elif kind == "end":
            me.ended, me.end_code = t, e["code"]
        elif kind == "exit":
            get(e["child"], t).parent_code = e["code"]
    return procs


def _root(procs: dict[int, _Proc], run: RunResult) -> int | None:
    """The claimed pid of the process the supervisor started (``observed[0]``), if any."""
    if not run.observed:
        return None
    first = run.observed[0]
    return next((pid for pid in (first.ns_pid, first.pid) if pid is not None and pid in procs),
                None)


def _confirm(procs: dict[int, _Proc], root: int | None, run: RunResult,
             rejects: _Rejects) -> dict[int, int | None]:
    """pid -> index in run.observed (None: confirmed by count) for confirmed claims."""
    observed = run.observed
    ordered = sorted(procs.values(), key=lambda p: (p.pid != root, p.order))
    if not observed:
        if len(ordered) > 1:
            rejects.item(f"{len(ordered) - 1} claimed processes: the supervisor observed none")
        return {}
    by_ns = {o.ns_pid: i for i, o in enumerate(observed) if o.ns_pid is not None}
    by_pid = {o.pid: i for i, o in enumerate(observed)}
    matched: dict[int, int | None] = {}
    for p in ordered:
        index = by_ns.get(p.pid, by_pid.get(p.pid))
        if index is not None:
            matched[p.pid] = index
    used = set(matched.values())
    free = len(observed) - len(used)
    by_count = not matched or run.observer != "proc_connector"
    # Under a pid namespace the supervisor may see a 1 ms child but miss its namespace
    # pid: such a real, unnamed process can still stand for one claim.
    unnamed = sum(
        1 for i, o in enumerate(observed) if o.ns_pid is None and i not in used
    ) if run.pid_namespace else 0
    for p in ordered:
        if p.pid in matched:
            continue
        if (by_count and free > 0) or unnamed > 0:
            matched[p.pid] = None
            free -= 1
            unnamed -= 1
        else:
            what = f"{p.name} " if p.name else ""
            rejects.item(f"process {what}(pid {p.pid}) claimed by the trace was not seen by the "
                         f"supervisor")
    return matched


def _capture(text: str) -> Counter[str]:
    return Counter(line.rstrip("\r") for line in text.split("\n"))


def _lines(events: list[dict], run: RunResult, rejects: _Rejects, rel) -> tuple[OutputLine, ...]:
    """Printed lines that the supervisor's own capture contains, each used at most once.

    A line found whole in the capture uses it up. Processes writing at the same time can
    interleave inside a line ("childchild 1\n 0\n"), so a line not found whole is
    accepted when its characters are still left over in the capture lines nobody matched
    whole. A stream the supervisor truncated cannot refute anything.
    """
    streams = {"stdout": (run.stdout, run.stdout_truncated),
               "stderr": (run.stderr, run.stderr_truncated)}
    counts = {name: _capture(text) for name, (text, _) in streams.items()}
    kept, pending = [], []
    for e in events:
        if e["e"] != "out":
            continue
        stream, text = e["s"], e["text"].rstrip("\r")
        if streams[stream][1]:
            kept.append(e)
        elif counts[stream][text] > 0 and not e.get("trunc"):
            counts[stream][text] -= 1
            kept.append(e)
        else:
            pending.append(e)
    leftover = {name: Counter() for name in streams}
    for name, lines in counts.items():
        for line, n in lines.items():
            if n > 0:
                for char, k in Counter(line).items():
                    leftover[name][char] += k * n
    for e in pending:
        text = e["text"].rstrip("\r")
        need = Counter(text)
        pool = leftover[e["s"]]
        if all(pool[char] >= k for char, k in need.items()):
            pool.subtract(need)
            kept.append(e)
        else:
            rejects.item(f"line {_short(text)} attributed to pid {e['pid']} is not in the "
                         f"supervisor's {e['s']}")
    kept.sort(key=lambda e: (e["t"], e["_n"]))
    return tuple(OutputLine(pid=e["pid"], stream=e["s"], text=e["text"].rstrip("\r"),
                            t=rel(e["t"])) for e in kept)


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _pools(events: list[dict], procs: dict[int, _Proc], rel,
           rejects: _Rejects) -> tuple[tuple[PoolInfo, ...], tuple[PoolTask, ...]]:
    """Pools numbered in creation order; tasks attached by the pool id the worker knew, or
    else by the pool its worker process was started for."""
    ids: dict[str, int] = {}
    made: list[dict] = []
    calls: dict[str, list[str]] = {}
    for e in events:
        if e["e"] == "pool" and e["pool"] not in ids:
            ids[e["pool"]] = len(ids) + 1
            made.append(e)
        elif e["e"] == "pcall":
            calls.setdefault(e["pool"] or "", []).append(e["api"])
    pools = tuple(
        PoolInfo(id=ids[e["pool"]], size=e["size"] or 0,
                 calls=tuple(calls.get(e["pool"], ())), kind=e["kind"])
        for e in made
    )
    unknown = sum(len(v) for k, v in calls.items() if k not in ids)
    if unknown:
        rejects.count("pool calls on a pool never created", unknown)
    tasks = []
    for e in events:
        if e["e"] != "task":
            continue
        error = e.get("err")
        if (error is None) == ("out" not in e):
            rejects.count("malformed: a task needs a result or an error")
            continue
        worker = procs.get(e["pid"])
        key = e["pool"] or (worker.pool if worker is not None else None)
        tasks.append(PoolTask(
            pool_id=ids.get(key or ""), worker_pid=e["pid"], func=e["func"] or "?",
            input=e["in"], result=e.get("out"),
            error=error, t=rel(e["t"]),
        ))
    return pools, tuple(tasks)


def _messages(events: list[dict], rel,
              rejects: _Rejects) -> tuple[tuple[Message, ...], tuple[Message, ...]]:
    """Messages per channel, channels named "pipe-1", "queue-2" in creation order."""
    names: dict[str, tuple[str, str]] = {}
    for e in events:
        if e["e"] in _CHANNEL_KINDS and e["ch"] not in names:
            names[e["ch"]] = (f"{e['e']}-{len(names) + 1}", e["e"])
    good, failed = [], []
    for e in events:
        if e["e"] != "msg":
            continue
        if e["ch"] not in names:
            rejects.count("messages on a channel never created")
            continue
        name, kind = names[e["ch"]]
        msg = Message(channel=name, kind=kind, op=e["op"], pid=e["pid"], value=e["value"],
                      t=rel(e["t"]), error=e.get("err"))
        (failed if msg.error else good).append(msg)
    return tuple(good), tuple(failed)


def _start_method(events: list[dict], procs: dict[int, _Proc], root: int | None) -> str:
    """The method the student's own Processes were started with, else the pool's."""
    by_role: dict[str, Counter[str]] = {"child": Counter(), "pool_worker": Counter()}
    for e in events:
        if e["e"] == "start" and e["method"]:
            role = procs[e["child"]].role(root)
            if role in by_role:
                by_role[role][e["method"]] += 1
    for counter in by_role.values():
        if counter:
            return counter.most_common(1)[0][0]
    return ""


def parse_trace(run: RunResult) -> Trace:
    """The Trace of one run: what the probe recorded, as far as the supervisor confirms it."""
    rejects = _Rejects()
    events = _parse(tuple(run.trace_lines), rejects)
    if not events:
        return Trace(rejected=rejects.result())
    procs = _processes(events)
    root = _root(procs, run)
    confirmed = _confirm(procs, root, run, rejects)
    kept = set(confirmed)
    root_boot = next((e["t"] for e in events if e["e"] == "boot" and e["pid"] == root), None)
    t0 = root_boot if root_boot is not None else min(e["t"] for e in events)

    def rel(t: float | None) -> float | None:
        return None if t is None else round(t - t0, 6)

    dropped = [e for e in events if e["pid"] not in kept]
    if dropped:
        rejects.count("events of unconfirmed processes", len(dropped))
    events = sorted((e for e in events if e["pid"] in kept), key=lambda e: (e["t"], e["_n"]))
    procs = {**procs, **_processes(events)}  # confirmed ones only from confirmed events

    processes = []
    for p in sorted(procs.values(), key=lambda p: p.order):
        index = confirmed.get(p.pid)
        seen = run.observed[index] if index is not None else None
        exitcode = seen.exit_code if seen is not None and seen.exit_code is not None else None
        if exitcode is None:
            exitcode = run.exit_code if p.pid == root else (
                p.parent_code if p.parent_code is not None else p.end_code)
        processes.append(ProcessInfo(
            pid=p.pid, ppid=p.ppid,
            name=p.name or ("MainProcess" if p.pid == root else p.boot_kind or ""),
            target=p.target, args=p.args, role=p.role(root), daemon=p.daemon,
            exitcode=exitcode, started_at=rel(p.begun if p.begun is not None else p.order) or 0.0,
            ended_at=rel(p.ended), confirmed=p.pid in confirmed,
        ))

    lines = _lines(events, run, rejects, rel)
    pools, tasks = _pools(events, procs, rel, rejects)
    messages, errors = _messages(events, rel, rejects)
    capped = tuple(dict.fromkeys(e["what"][:_CAP_NAME] for e in events if e["e"] == "cap"))

    return Trace(
        start_method=_start_method(events, procs, root),
        processes=tuple(processes),
        lines=lines,
        pools=pools,
        tasks=tasks,
        messages=messages,
        threads_started=sum(1 for e in events if e["e"] == "thread"),
        rejected=rejects.result(),
        capped=capped[:_LISTED],
        channel_errors=errors,
    )
