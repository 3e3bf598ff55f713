"""Realistic CheckContexts for the pure-function tests of checks and diagnoses.

The answer is cell 7 of a notebook; the script that ran may start with
``script_offset`` lines of earlier cells, as the build step makes it.
"""

from __future__ import annotations

import textwrap

from mpgrade.model import (
    Answer,
    BuiltScript,
    Cell,
    CheckContext,
    CheckSpec,
    Message,
    OutputLine,
    PoolInfo,
    PoolTask,
    ProcessInfo,
    ProcessStack,
    Question,
    RunResult,
    Trace,
)

MAIN = ProcessInfo(100, 1, "MainProcess", None, role="main", exitcode=0, confirmed=True)


def child(pid: int, target: str | None, exitcode: int | None = 0, **kw) -> ProcessInfo:
    return ProcessInfo(pid, 100, f"Process-{pid - 100}", target, role="child", exitcode=exitcode,
                       confirmed=True, **kw)


def make_ctx(
    code: str,
    *,
    processes: tuple[ProcessInfo, ...] = (MAIN,),
    lines: tuple[OutputLine, ...] = (),
    pools: tuple[PoolInfo, ...] = (),
    tasks: tuple[PoolTask, ...] = (),
    messages: tuple[Message, ...] = (),
    threads: int = 0,
    stderr: str = "",
    exit_code: int | None = 0,
    limit: str | None = None,
    limit_detail: str = "",
    stacks: tuple[ProcessStack, ...] = (),
    method: str = "fork",
    checks: tuple[str, ...] = ("process.started",),
    code_optional: bool = False,
    qid: str = "Q",
    duration_s: float = 0.21,
    script_offset: int = 0,
) -> CheckContext:
    """No code: a prose-only answer, with no script and no run."""
    code = textwrap.dedent(code).strip("\n")
    n = code.count("\n") + 1
    cell = Cell(7, "code", code) if code else Cell(7, "markdown", "prose")
    script = BuiltScript("import os\n" * script_offset + code,
                         {script_offset + i: (7, i) for i in range(1, n + 1)}) if code else None
    stdout = "".join(ln.text + "\n" for ln in lines if ln.stream == "stdout")
    run = RunResult(exit_code, stdout, stderr, duration_s, limit=limit, limit_detail=limit_detail,
                    stacks=stacks) if code else None
    question = Question(qid, "t", "text", "code", 2.0, tuple(CheckSpec(c, 0.5) for c in checks),
                        code_optional=code_optional)
    trace = Trace(method, processes, lines, pools, tasks, messages, threads)
    return CheckContext(question, Answer(qid, (cell,)), script, run, trace)
