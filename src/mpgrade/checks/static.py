"""What the student's code says, read from its syntax tree rather than from a run.

Some mistakes leave no trace a run can see the same way every time (a start/join loop
that happens to be fast, a lambda under fork) or must be named at the exact line
(``target=f(x)``). The tree is the script that ran, restricted to the answer's own
cells, so that an earlier answer's mistake is not blamed on this one.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator

from mpgrade.checks.facts import student_line
from mpgrade.model import CheckContext, value_class
from mpgrade.untrusted import call_name, parse_python

POOL_METHODS = frozenset(
    {"map", "map_async", "starmap", "starmap_async", "imap", "imap_unordered", "apply", "apply_async"}
)
_THREAD_CLASSES = frozenset({"Thread", "ThreadPool", "ThreadPoolExecutor"})


@value_class
class Code:
    """The parsed script and which of its lines are the answer's."""

    ctx: CheckContext
    tree: ast.Module
    source: str
    lines: frozenset[int] | None  # None: every line is the answer's, numbered as parsed

    def mine(self, node: ast.AST) -> bool:
        return _on(node, self.lines)

    def nodes(self) -> Iterator[ast.AST]:
        return iter(_answer_nodes(self.source, self.lines))

    def where(self, node: ast.AST) -> str:
        line = getattr(node, "lineno", 0)
        return student_line(self.ctx, line) if self.lines is not None else f"line {line}"

    def text(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ""


def _answer_code(ctx: CheckContext) -> str:
    return ctx.answer.code if ctx.answer is not None else ""


# Every static check of an answer parses the same source and walks the same tree: both
# are kept for the last few sources (each at most MAX_SOURCE_CHARS). The trees are shared,
# so nothing here may change them.
@functools.lru_cache(maxsize=16)
def _tree(source: str) -> ast.Module | None:
    try:
        return parse_python(source)
    except SyntaxError:
        return None


@functools.lru_cache(maxsize=16)
def _answer_nodes(source: str, lines: frozenset[int] | None) -> tuple[ast.AST, ...]:
    """The nodes of ``_tree(source)`` on the answer's ``lines`` (None: all), walked once."""
    tree = _tree(source)
    if tree is None:
        return ()
    return tuple(n for n in ast.walk(tree) if _on(n, lines))


def _on(node: ast.AST, lines: frozenset[int] | None) -> bool:
    """``node`` has a line, one of ``lines`` (None: any)."""
    line = getattr(node, "lineno", None)
    return line is not None and (lines is None or line in lines)


def parse(ctx: CheckContext) -> Code | None:
    """The script that ran (answer lines marked), else the answer alone; None if neither parses."""
    script = ctx.script
    if script is not None and script.source.strip():
        tree = _tree(script.source)
        if tree is not None:
            if not script.line_map:
                return Code(ctx, tree, script.source, None)
            cells = {c.index for c in ctx.answer.cells} if ctx.answer is not None else set()
            lines = frozenset(n for n, (cell, _) in script.line_map.items() if cell in cells)
            return Code(ctx, tree, script.source, lines)
    code = _answer_code(ctx)
    if not code.strip():
        return None
    tree = _tree(code)
    return Code(ctx, tree, code, None) if tree is not None else None


def receiver(call: ast.Call) -> str:
    """``p.start()`` -> "p"; "" when the method is not called on a plain name."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id
    return ""


def calls(code: Code, *names: str) -> list[ast.Call]:
    found = [n for n in code.nodes() if isinstance(n, ast.Call) and call_name(n) in names]
    return sorted(found, key=lambda n: (n.lineno, n.col_offset))


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def target_called(code: Code) -> ast.Call | None:
    """A ``Process(target=f(x))``: the call whose result became the target."""
    for call in calls(code, "Process"):
        target = keyword(call, "target")
        if isinstance(target, ast.Call):
            return call
    return None


def start_join_loop(code: Code) -> ast.AST | None:
    """A loop whose body both starts and joins the same process: the children run in turn."""
    for loop in code.nodes():
        if not isinstance(loop, (ast.For, ast.While)):
            continue
        body = [n for stmt in loop.body for n in ast.walk(stmt) if isinstance(n, ast.Call)]
        started = {receiver(c) for c in body if call_name(c) == "start"}
        joined = {receiver(c) for c in body if call_name(c) == "join"}
        if started & joined - {""}:
            return loop
    return None


def _is_main_guard(node: ast.AST) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    names = {p.id for p in parts if isinstance(p, ast.Name)}
    consts = {p.value for p in parts if isinstance(p, ast.Constant)}
    return "__name__" in names and "__main__" in consts


def has_main_guard(code: Code) -> bool:
    return any(_is_main_guard(n) for n in code.nodes())


def unguarded_start(code: Code) -> ast.Call | None:
    """A Process or Pool created at module level, outside any function and any main guard.

    Under spawn/forkserver every child re-imports the main module, so such a line runs
    again in every child.
    """
    todo: list[ast.AST] = list(code.tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if _is_main_guard(node):
            continue
        if isinstance(node, ast.Call) and call_name(node) in ("Process", "Pool") and code.mine(node):
            return node
        todo.extend(ast.iter_child_nodes(node))
    return None


def nested_functions(code: Code) -> set[str]:
    """Names of functions defined inside another function: children cannot import them."""
    names: set[str] = set()
    for fn in ast.walk(code.tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(fn):
                if inner is not fn and isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(inner.name)
    return names


def unpicklable_callable(code: Code) -> tuple[ast.AST, str] | None:
    """(node, "pool"|"process") where a lambda or nested function is handed to multiprocessing."""
    nested = nested_functions(code)

    def bad(node: ast.expr | None) -> bool:
        return isinstance(node, ast.Lambda) or (isinstance(node, ast.Name) and node.id in nested)

    for call in calls(code, *POOL_METHODS):
        func = call.args[0] if call.args else keyword(call, "func")
        if bad(func):
            return call, "pool"
    for call in calls(code, "Process"):
        if bad(keyword(call, "target")):
            return call, "process"
    return None


def thread_use(code: Code) -> ast.Call | None:
    found = calls(code, *_THREAD_CLASSES)
    return found[0] if found else None


def daemon_set(code: Code) -> ast.AST | None:
    """``Process(..., daemon=True)`` or ``p.daemon = True``."""
    for call in calls(code, "Process"):
        flag = keyword(call, "daemon")
        if isinstance(flag, ast.Constant) and flag.value is True:
            return call
    for node in code.nodes():
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is True:
            if any(isinstance(t, ast.Attribute) and t.attr == "daemon" for t in node.targets):
                return node
    return None


def pipe_ends(code: Code) -> list[tuple[str, str, ast.AST]]:
    """(first end, second end, node) for each ``a, b = Pipe()``."""
    found = []
    for node in code.nodes():
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and call_name(node.value) == "Pipe":
            target = node.targets[0]
            if isinstance(target, ast.Tuple) and len(target.elts) == 2:
                a, b = target.elts
                if isinstance(a, ast.Name) and isinstance(b, ast.Name):
                    found.append((a.id, b.id, node))
    return found


def closed_before_start(code: Code, end: str, holder_args: str) -> bool | None:
    """Whether the parent closed ``end`` before starting the process given ``holder_args``.

    ``holder_args`` is the other end, as passed to the receiver in ``args=``. None when the
    receiver's Process call or start() cannot be found.
    """
    proc_var = ""
    for node in code.nodes():
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and call_name(node.value) == "Process":
            args = keyword(node.value, "args")
            names = {n.id for n in ast.walk(args) if isinstance(n, ast.Name)} if args is not None else set()
            if holder_args in names and isinstance(node.targets[0], ast.Name):
                proc_var = node.targets[0].id
    if not proc_var:
        return None
    starts = [c.lineno for c in calls(code, "start") if receiver(c) == proc_var]
    closes = [c.lineno for c in calls(code, "close") if receiver(c) == end]
    if not starts:
        return None
    return any(line < starts[0] for line in closes)


def guard_globals_in_workers(code: Code) -> tuple[str, str] | None:
    """(name, function): a variable set inside the main guard and read by a child's function.

    Under fork the child inherits it; under spawn/forkserver the guard does not run in the
    child, so the name is undefined there.
    """
    guarded: set[str] = set()
    for node in code.tree.body:
        if _is_main_guard(node):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    guarded.add(sub.id)
    if not guarded:
        return None
    used_by_children: set[str] = set()
    for call in calls(code, "Process"):
        target = keyword(call, "target")
        if isinstance(target, ast.Name):
            used_by_children.add(target.id)
    for call in calls(code, *POOL_METHODS):
        if call.args and isinstance(call.args[0], ast.Name):
            used_by_children.add(call.args[0].id)
    for fn in code.tree.body:
        if not isinstance(fn, ast.FunctionDef) or fn.name not in used_by_children:
            continue
        local = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
        local |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        for n in ast.walk(fn):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in guarded - local:
                return n.id, fn.name
    return None
