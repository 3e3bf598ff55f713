"""Checks of the locks-queues exercise that the built-in ones do not cover.

Each is a plain function ``(ctx, params) -> Outcome`` registered with ``@check``, like the
built-ins. A race shows up in some runs and not others, so the lock is checked in the
source (every write to ``.value`` inside a worker function must hold a lock), never by
hoping that an unprotected counter comes out wrong.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from mpgrade.checks import Outcome, check, static
from mpgrade.checks.facts import confirmed, literal, main_pids, numbers_in, quote, short, stdout_of
from mpgrade.model import CheckContext

_LOCKISH = re.compile(r"lock|mutex|sem", re.I)


@dataclass(frozen=True)
class TotalParams:
    expect: int = 0


@dataclass(frozen=True)
class ItemsParams:
    items: tuple[int, ...] = ()


@dataclass(frozen=True)
class DictParams:
    keys: tuple[int, ...] = ()
    power: int = 1


def _main_stdout(ctx: CheckContext) -> list[str]:
    """Lines the main process printed; the whole stdout when the probe attributed none."""
    if ctx.trace.lines:
        return stdout_of(ctx.trace, main_pids(ctx.trace))
    return ctx.run.stdout.splitlines() if ctx.run is not None else []


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _holds_lock(code: static.Code, node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside ``with <lock>:``, or after an ``.acquire()`` earlier in the same function."""
    cur = node
    while cur in parents:
        cur = parents[cur]
        if isinstance(cur, (ast.With, ast.AsyncWith)):
            for item in cur.items:
                if static.call_name(item.context_expr) == "get_lock" or _LOCKISH.search(
                    code.text(item.context_expr)
                ):
                    return True
        if isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return any(
                static.call_name(c) == "acquire" and c.lineno < node.lineno
                for c in ast.walk(cur)
                if isinstance(c, ast.Call)
            )
    return False


def _value_writes(code: static.Code, parents: dict[ast.AST, ast.AST]) -> list[ast.stmt]:
    """``x.value += 1`` / ``x.value = ...`` inside a function: what the worker processes run."""
    found = []
    for node in code.nodes():
        targets = [node.target] if isinstance(node, ast.AugAssign) else (
            node.targets if isinstance(node, ast.Assign) else [])
        if not any(isinstance(t, ast.Attribute) and t.attr == "value" for t in targets):
            continue
        cur = node
        while cur in parents and not isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef)):
            cur = parents[cur]
        if isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(node)
    return found


@check("lq.lock_held")
def lock_held(ctx: CheckContext, params: object) -> Outcome:
    """Every update of a shared Value in a worker function holds a lock."""
    code = static.parse(ctx)
    if code is None:
        return Outcome(False, "Your code could not be read, so the lock could not be checked.")
    parents = _parents(code.tree)
    writes = _value_writes(code, parents)
    if not writes:
        return Outcome(False, (
            "No update of a shared Value was found in a worker function: the function each "
            "process runs should do `counter.value += 1` on a `multiprocessing.Value`."
        ))
    bare = [w for w in writes if not _holds_lock(code, w, parents)]
    if bare:
        w = bare[0]
        return Outcome(False, (
            f"`{code.text(w)}` ({code.where(w)}) runs without holding a lock. It reads the value, "
            "adds one and writes it back, so two processes can read the same old value and one "
            "increment is lost (the total comes out below 4000 on some runs). Wrap it in "
            "`with lock:` (a `multiprocessing.Lock` passed to each process) or "
            "`with counter.get_lock():`."
        ))
    return Outcome(True, f"Every update of the shared value holds a lock ({code.where(writes[0])}).")


@check("lq.final_total", params=TotalParams, tags=("lq", "output"))
def final_total(ctx: CheckContext, params: TotalParams) -> Outcome:
    """The last number the main process printed is the expected total (`expect`)."""
    expect = params.expect
    numbers = [n for line in _main_stdout(ctx) for n in numbers_in(line)]
    if not numbers:
        return Outcome(False, "The main process printed no total: after joining the processes, "
                              "`print(counter.value)`.")
    last = literal(numbers[-1])
    if last == expect:
        return Outcome(True, f"The main process printed the total {expect}.")
    return Outcome(False, (
        f"The main process printed {numbers[-1]}, not {expect}: some increments were lost or "
        "not every process ran to the end. Hold the lock around each increment and join every "
        "process before printing."
    ))


@check("lq.consumer_printed", params=ItemsParams, tags=("lq", "process"))
def consumer_printed(ctx: CheckContext, params: ItemsParams) -> Outcome:
    """A child process printed every item of `items`, in order."""
    items = [str(i) for i in params.items]
    best: tuple[int, list[str]] = (-1, [])
    for p in confirmed(ctx.trace, "child"):
        printed = [n for line in stdout_of(ctx.trace, {p.pid}) for n in numbers_in(line)]
        it = iter(printed)
        matched = sum(1 for item in items if item in it)  # ordered subsequence
        if matched == len(items):
            return Outcome(True, f"The consumer (pid {p.pid}) printed all {len(items)} items in order.")
        if matched > best[0]:
            best = (matched, printed)
    in_main = [n for line in stdout_of(ctx.trace, main_pids(ctx.trace)) for n in numbers_in(line)]
    if best[0] <= 0 and set(items) <= set(in_main):
        return Outcome(False, "The items were printed by the main process: the consumer must be a "
                              "child process that takes them off the Queue and prints them.")
    if best[0] < 0:
        return Outcome(False, "No child process printed anything: start a consumer "
                              "`multiprocessing.Process` that prints each item it gets.")
    missing = [i for i in items if i not in best[1]]
    what = f"missing {short(missing)}" if missing else "out of order"
    return Outcome(False, (
        f"The consumer printed {short(best[1]) or 'no numbers'} ({what}); it should print "
        f"{short(items)} in the order the producer put them."
    ), share=max(best[0], 0) / len(items) if items else 0.0)


@check("lq.sentinel")
def sentinel(ctx: CheckContext, params: object) -> Outcome:
    """The producer puts a sentinel after the items and the consumer stops on it."""
    code = static.parse(ctx)
    if code is None:
        return Outcome(False, "Your code could not be read, so the sentinel could not be checked.")
    parents = _parents(code.tree)
    puts = static.calls(code, "put", "put_nowait")
    if not puts:
        return Outcome(False, "No `queue.put(...)` was found: the producer must put the items on "
                              "a `multiprocessing.Queue`.")

    def in_loop(node: ast.AST) -> bool:
        while node in parents:
            node = parents[node]
            if isinstance(node, (ast.For, ast.While)):
                return True
        return False

    candidates = {
        ast.unparse(c.args[0])
        for c in puts
        if c.args and (isinstance(c.args[0], ast.Constant) or
                       isinstance(c.args[0], ast.Name) and not in_loop(c))
    }
    for node in code.nodes():
        if isinstance(node, ast.Compare):
            operands = {ast.unparse(o) for o in (node.left, *node.comparators)}
        elif isinstance(node, ast.Call) and static.call_name(node) == "iter" and len(node.args) == 2:
            operands = {ast.unparse(node.args[1])}
        else:
            continue
        hit = operands & candidates
        if hit:
            return Outcome(True, f"The producer ends with the sentinel `{sorted(hit)[0]}` and the "
                                 f"consumer stops when it sees it ({code.where(node)}).")
    return Outcome(False, (
        "The consumer never looks for a sentinel, so after the last item it waits on an empty "
        "queue forever: make the producer `put(None)` after the items and the consumer stop with "
        "`if item is None: break`."
    ))


@check("lq.manager_dict")
def manager_dict(ctx: CheckContext, params: object) -> Outcome:
    """The results go into a dict made by a multiprocessing Manager."""
    code = static.parse(ctx)
    if code is None:
        return Outcome(False, "Your code could not be read, so the Manager could not be checked.")
    managers = static.calls(code, "Manager")
    dicts = static.calls(code, "dict")
    made = [c for c in dicts if isinstance(c.func, ast.Attribute)]
    if managers and made:
        return Outcome(True, f"The results go into a Manager dict ({code.where(made[0])}).")
    return Outcome(False, (
        "No `Manager().dict()` was found. A plain dict is copied into each child process, so "
        "what the children store never reaches the parent: create `manager = "
        "multiprocessing.Manager()` and `results = manager.dict()`, and pass `results` to each "
        "process."
    ))


def _printed_dicts(lines: list[str]) -> list[dict]:
    found = []
    for line in lines:
        for text in (line.strip(), *re.findall(r"\{[^{}]*\}", line)):
            value = literal(text)
            if isinstance(value, dict):
                found.append(value)
    return found


@check("lq.dict_printed", params=DictParams)
def dict_printed(ctx: CheckContext, params: DictParams) -> Outcome:
    """The main process printed the dict {k: k ** power for k in keys}."""
    power = params.power
    expect = {k: k ** power for k in params.keys}
    lines = _main_stdout(ctx)
    printed = _printed_dicts(lines)
    if expect in printed:
        return Outcome(True, f"The main process printed {expect}.")
    if printed:
        got = printed[-1]
        if not got:
            return Outcome(False, (
                "The main process printed an empty dict: what the children stored never reached "
                "it. Use a Manager dict (`manager.dict()`) and pass it to each process."
            ))
        return Outcome(False, f"The main process printed {got}; expected {expect}.",
                       share=sum(got.get(k) == v for k, v in expect.items()) / max(len(expect), 1))
    said = f" (it printed {quote(lines[-1])})" if lines else ""
    return Outcome(False, (
        f"The main process did not print the results as a dict{said}: a Manager dict prints as "
        "a proxy, so print `dict(results)` after joining the processes."
    ))
