"""The small frozen dataclasses that cross module borders.

Every arrow of the pipeline (load -> segment -> build -> sandbox -> probe trace
-> checks -> score -> report) hands one of these to the next step. Keeping them
here, and only here, is what lets each module stay ignorant of the others'
internals: a renderer sees a ``Report``, a check sees an ``Answer``, a
``RunResult`` and a ``Trace``, the sandbox sees a ``RunRequest``.
"""

from __future__ import annotations

import dataclasses
import operator
import reprlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        return lambda fn: fn

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def value_class(cls: type[T]) -> type[T]:
    """``@dataclass(frozen=True)``, with its methods written once here instead of compiled
    from source per class when the class is defined.

    ``dataclass`` compiles each generated method with ``exec``; a frozen class gets six, and
    every ``mpgrade`` start paid for them on all the classes below. Here ``__eq__``,
    ``__hash__``, ``__repr__`` and the frozen ``__setattr__``/``__delattr__`` are shared
    closures, and ``__init__`` (which must have the class's own signature) is compiled the
    first time the class is instantiated, so a class a run never builds costs nothing.
    """
    own = dict(cls.__dict__)
    cls = dataclass(eq=False, repr=False, init=False)(cls)
    fields = dataclasses.fields(cls)
    compared = _getter(tuple(f.name for f in fields if f.compare))
    hashed = _getter(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))
    shown = tuple(f.name for f in fields if f.repr)
    init = _lazy_init(cls, fields)  # checks the fields' order now, as dataclass would

    def __eq__(self: Any, other: object) -> Any:
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{self.__class__.__qualname__}({values})"

    explicit_hash = own.get("__hash__") is not None or ("__hash__" in own and "__eq__" not in own)
    cls.__init__ = init  # type: ignore[misc]
    for name, method in (("__eq__", __eq__), ("__hash__", __hash__), ("__repr__", __repr__)):
        if name not in own or (name == "__hash__" and not explicit_hash):
            setattr(cls, name, method)  # as dataclass does: a method the class writes itself stays
    cls.__setattr__ = _frozen_setattr  # type: ignore[method-assign]
    cls.__delattr__ = _frozen_delattr  # type: ignore[method-assign]
    return cls


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _lazy_init(cls: type, fields: tuple[dataclasses.Field, ...]) -> Callable[..., None]:
    """An ``__init__`` that compiles the real one on first use and puts it in its place."""
    params, body, names = ["self"], [], {"__set": object.__setattr__, "__missing": dataclasses.MISSING}
    seen_default = False
    for f in fields:
        if f.default is not dataclasses.MISSING:
            names[f"__d_{f.name}"] = f.default
            params.append(f"{f.name}=__d_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            names[f"__f_{f.name}"] = f.default_factory
            params.append(f"{f.name}=__missing")
            body.append(f" if {f.name} is __missing: {f.name} = __f_{f.name}()")
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        else:
            params.append(f.name)
            continue
        seen_default = True
    body += [f" __set(self, {f.name!r}, {f.name})" for f in fields]
    if hasattr(cls, "__post_init__"):
        body.append(" self.__post_init__()")
    body = body or [" pass"]
    source = f"def __init__({', '.join(params)}):\n" + "\n".join(body)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        namespace: dict[str, Any] = {}
        exec(source, dict(names), namespace)  # the class's own field names: no outside text
        real = namespace["__init__"]
        real.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = real  # type: ignore[misc]
        real(self, *args, **kwargs)

    return __init__


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple]:
    """The named attributes of an object as one tuple (``attrgetter`` of one name is not)."""
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        return lambda obj: (one(obj),)
    return operator.attrgetter(*names) if names else (lambda obj: ())

CellKind = Literal["code", "markdown", "raw"]
QuestionKind = Literal["code", "prose"]
# The start methods multiprocessing has on some platform: what an exercise, the command line or
# a kept answer may name.
START_METHODS = ("fork", "spawn", "forkserver")
Status = Literal["passed", "partial", "failed", "missing", "error", "timeout", "needs_review"]
# Why a run was stopped early; None when it ended by itself.
LimitReason = Literal[
    "time_limit", "deadlock", "memory", "process_limit", "output_limit", "cpu_limit", "file_size"
]

SCHEMA_VERSION = 2


# --------------------------------------------------------------------------- submission


@value_class
class Cell:
    """One cell of a notebook, or one chunk of a script between cell markers."""

    index: int
    kind: CellKind
    source: str
    # Question id given explicitly by metadata (ours: ``metadata.mpgrade.question``,
    # nbgrader: ``metadata.nbgrader.grade_id``) or a tag like ``Q3``; wins over headers.
    question: str | None = None
    tags: tuple[str, ...] = ()
    # Lines of the original unit before this cell's first line: the notebook cell it was cut
    # from (a fence, or the second question of a cell), or the whole file for scripts.
    line_offset: int = 0
    # True when the cell is a chunk of a .py/.txt/.md file: its lines are then file lines.
    from_script: bool = False


@value_class
class Submission:
    """A student's file, read but not yet interpreted."""

    path: str
    format: Literal["ipynb", "py"]
    sha256: str
    cells: tuple[Cell, ...]
    # Exercise id stamped into notebooks made by ``mpgrade template``.
    assignment_id: str | None = None


AttributedBy = Literal["metadata", "header", "content", "order"]


@value_class
class Attribution:
    """How an answer was found: by metadata, a header, what it is, or its place in the file."""

    by: AttributedBy
    # What decided, in the student's terms: "'Q3. Write a python...'", "a Pool with map".
    evidence: str = ""

    @property
    def named(self) -> bool:
        """The submission names the question itself (metadata or a header): not guessed."""
        return self.by in ("metadata", "header")

    def sentence(self) -> str:
        """One line for every report: "found by its header 'Q3.'"."""
        lead = {
            "metadata": "found by metadata",
            "header": "found by its header",
            "content": "attributed by content:",
            "order": "attributed by order:",
        }[self.by]
        return f"{lead} {self.evidence}".strip()


@value_class
class Answer:
    """The cells that answer one question, in notebook order."""

    question_id: str
    cells: tuple[Cell, ...]
    attribution: Attribution = Attribution("header")

    @property
    def code(self) -> str:
        return "\n\n".join(c.source for c in self.cells if c.kind == "code" and c.source.strip())

    @property
    def prose(self) -> str:
        return "\n\n".join(c.source for c in self.cells if c.kind != "code" and c.source.strip())


@value_class
class Segmentation:
    """A submission cut into answers; ``preamble`` holds cells before the first question."""

    answers: dict[str, Answer]
    preamble: tuple[Cell, ...] = ()
    notes: tuple[str, ...] = ()
    empty: tuple[str, ...] = ()  # questions whose header or tagged cell is there, with nothing under it

    @property
    def named(self) -> int:
        """How many answers the submission names itself (metadata or a header), not guessed;
        what decides which exercise set and which file of a submission fits best."""
        return sum(1 for a in self.answers.values() if a.attribution.named)


# --------------------------------------------------------------------------- assignment


@value_class
class CheckSpec:
    """One check of a question: a registered check id, its weight and parameters."""

    id: str
    points: float
    params: dict = field(default_factory=dict, hash=False, compare=False)
    source: str | None = None  # the exercise's checks.py defining ``id``; None = built in


@value_class
class Concept:
    """A rubric concept for prose: found when a synonym (regex) is asserted, not negated.

    A synonym may start with ``@subject `` (``@thread share[sd]? memory``): it then only
    counts when said of that subject (see ``Rubric.subjects``).
    """

    id: str
    description: str
    synonyms: tuple[str, ...]
    points: float = 1.0
    label: str = ""  # a short noun phrase for the feedback ("true parallelism"); "" = description
    # False for nouns whose truth lies in what is said of them ("not limited by the GIL"):
    # only an explicit contradiction ("the GIL is irrelevant") then cancels them.
    negatable: bool = True


@value_class
class Misconception:
    """A wrong claim: flagged when a pattern is asserted (a negated one is a correct claim)."""

    id: str
    patterns: tuple[str, ...]
    message: str
    penalty: float = 0.5


# What a prose answer can be about, for ``@subject`` synonyms, unless the rubric names its own.
DEFAULT_SUBJECTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("process", ("process", "processes", "multiprocessing", "subprocess", "subprocesses")),
    ("thread", ("thread", "threads", "multithreading", "threading")),
)


@value_class
class Rubric:
    """How a written answer is scored: the key ideas it must state, the mistakes that cost."""

    concepts: tuple[Concept, ...] = ()
    misconceptions: tuple[Misconception, ...] = ()
    points: float = 0.0
    min_words: int = 15
    # subject name -> words naming it ("thread": "thread", "multithreading"); () = defaults
    subjects: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Sentences about something else than the question (multiprocessor hardware): no credit.
    off_target: tuple[str, ...] = ()
    off_target_message: str = ""
    # Taken off for each key idea the answer states the opposite of ("never parallel").
    contradiction_penalty: float = 0.25
    # The subject the question contrasts with ("thread"): a negated plain synonym said of it
    # ("threads cannot use several cores") is the contrast, not a contradiction.
    contrast: str = ""


@value_class
class Question:
    """One question of an exercise set, as its exercise file declares it."""

    id: str
    title: str
    text: str
    kind: QuestionKind
    points: float
    checks: tuple[CheckSpec, ...] = ()
    rubric: Rubric | None = None
    # Per-question overrides of the assignment limits; None = inherit.
    timeout_s: float | None = None
    start_method: str | None = None
    stdin: str | None = None
    # Code is optional (Q4: prose alone is a valid answer).
    code_optional: bool = False
    # A code question that can also be answered in words ("how can we create a pool?"): when
    # the answer holds no code, this rubric proposes the whole score, for staff to confirm.
    prose_answer: Rubric | None = None


@value_class
class Limits:
    """Resource limits of one sandboxed run."""

    wall_s: float = 10.0
    cpu_s: float = 30.0
    memory_mb: int = 1024
    processes: int = 64
    output_bytes: int = 1_000_000
    file_size_mb: int = 16
    open_files: int = 256

    @staticmethod
    def valid(value: float) -> bool:
        """What every limit (and a timeout) must be: a number above 0 and below infinity.
        TOML and ``float()`` both read ``nan`` and ``inf``, which no comparison stops."""
        return 0 < value < float("inf")


@value_class
class Variant:
    """A known-wrong submission the exercise declares, for ``mpgrade validate``."""

    path: str
    loses: tuple[str, ...]  # question ids that must lose points


@value_class
class Assignment:
    """An exercise set as loaded from its ``exercise.toml``."""

    id: str
    title: str
    questions: tuple[Question, ...]
    limits: Limits = Limits()
    start_method: str | None = None  # pinned method; None = the running Python's default
    root: str = ""  # folder of the exercise file
    solution: str | None = None  # path of the reference solution
    variants: tuple[Variant, ...] = ()
    custom_checks: str | None = None  # path of a checks.py with extra check functions

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)


@value_class
class AssignmentChoice:
    """The exercise set a submission is graded against, and why the user should look."""

    assignment: Assignment
    warning: str | None = None  # the submission named another or an unknown exercise
    # The submission segmented against ``assignment`` when choosing it took that; grading
    # reuses it instead of segmenting again.
    segmentation: Segmentation | None = None


# --------------------------------------------------------------------------- sandbox


@value_class
class RunRequest:
    """What the sandbox needs: files to place in a scratch dir and a script to run."""

    files: dict[str, str]  # relative name -> text, written into the scratch working dir
    script: str  # which of ``files`` to run with sys.executable
    limits: Limits = Limits()
    env: dict[str, str] = field(default_factory=dict)  # added to the scrubbed environment
    pythonpath: tuple[str, ...] = ()  # read-only dirs put first on PYTHONPATH (the probe)
    stdin: str | None = None  # None = closed stdin
    isolation: str = "auto"  # "auto" or a name of sandbox/backends.py


@value_class
class StackFrame:
    """One frame of a stack taken from a hung process."""

    file: str
    line: int
    function: str
    code: str = ""  # the source line, when the grader can read it


@value_class
class ProcessStack:
    """Python stack of one process of a hung tree, innermost frame last."""

    pid: int
    name: str
    frames: tuple[StackFrame, ...]
    wait: str = ""  # what the kernel says it waits in: "read", "wait4", "futex", ...


@value_class
class ObservedProcess:
    """A process the supervisor saw in the tree itself (kernel events or /proc)."""

    pid: int  # pid as the supervisor sees it
    ppid: int
    ns_pid: int | None = None  # pid inside the sandbox's pid namespace, when known
    exit_code: int | None = None  # negative = killed by that signal
    cmdline: str = ""


@value_class
class RunResult:
    """What one sandboxed run produced, as the supervisor saw it."""

    exit_code: int | None  # None when killed by the supervisor
    stdout: str
    stderr: str
    duration_s: float
    cpu_s: float = 0.0
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    limit: LimitReason | None = None
    limit_detail: str = ""  # one sentence: which limit, its value, what was seen
    stacks: tuple[ProcessStack, ...] = ()
    observed: tuple[ObservedProcess, ...] = ()
    observer: str = "poll"  # "proc_connector" | "poll"
    trace_lines: tuple[str, ...] = ()  # raw JSON lines the probe wrote (untrusted)
    backend: str = "plain"  # name of the sandbox backend that ran it
    pid_namespace: bool = False  # the tree had its own pid numbering (backend's property)
    leftover_processes: int = 0  # processes of the run still alive after the kill (should be 0)
    student_uid: int | None = None  # the uid a root supervisor dropped the tree to (plain)


# --------------------------------------------------------------------------- probe trace


@value_class
class ProcessInfo:
    """A process the probe saw the answer start (confirmed by the supervisor's view)."""

    pid: int
    ppid: int
    name: str
    target: str | None  # qualified name of the target function, None when target=None
    args: str = ""  # repr of args, shortened
    role: Literal["main", "child", "pool_worker", "helper"] = "child"
    daemon: bool = False
    exitcode: int | None = None
    started_at: float = 0.0  # seconds since the run started
    ended_at: float | None = None
    confirmed: bool = False  # the supervisor saw a real process for it


@value_class
class OutputLine:
    """One line a process printed: who printed it, and when."""

    pid: int
    stream: Literal["stdout", "stderr"]
    text: str
    t: float = 0.0


@value_class
class PoolInfo:
    """A pool the answer made, and how it was given work."""

    id: int
    size: int
    calls: tuple[str, ...] = ()  # "map", "apply_async", "imap_unordered", ...
    kind: Literal["process", "thread"] = "process"


@value_class
class PoolTask:
    """One task a pool worker ran: its input and its result or error."""

    pool_id: int | None
    worker_pid: int
    func: str
    input: str  # repr
    result: str | None  # repr; None when it raised
    error: str | None = None
    t: float = 0.0


@value_class
class Message:
    """One value sent or received on a Pipe or a Queue."""

    channel: str  # "pipe-1", "queue-2"
    kind: Literal["pipe", "queue"]
    op: Literal["send", "recv"]
    pid: int
    value: str  # repr
    t: float = 0.0
    error: str | None = None  # exception name when the send/recv failed (EOFError, ...)


@value_class
class Trace:
    """What multiprocessing did, as recorded by the probe and cross-checked."""

    start_method: str = ""
    processes: tuple[ProcessInfo, ...] = ()
    lines: tuple[OutputLine, ...] = ()
    pools: tuple[PoolInfo, ...] = ()
    tasks: tuple[PoolTask, ...] = ()
    messages: tuple[Message, ...] = ()
    threads_started: int = 0
    rejected: tuple[str, ...] = ()  # why events were discarded (unconfirmed, malformed)
    # What the probe itself stopped recording at its per-process cap ("stdout", "task"): an
    # honest program that prints a lot reaches it, so it is no rejected claim.
    capped: tuple[str, ...] = ()
    # Sends/recvs that raised (EOFError at the end of a pipe, BrokenPipeError): kept out of
    # ``messages`` so that message order checks only see values that really travelled.
    channel_errors: tuple[Message, ...] = ()

    def children(self) -> tuple[ProcessInfo, ...]:
        return tuple(p for p in self.processes if p.role == "child")


# --------------------------------------------------------------------------- checks and results


@value_class
class Excerpt:
    """A few of the student's lines around the one that failed, numbered as they see them."""

    lines: tuple[tuple[int, str], ...]  # (number, text)
    line: int  # the failing line's number
    column: int | None = None  # 1-based column of a SyntaxError, for a caret
    where: str = ""  # "cell 15" in a notebook, "" when the numbers are the answer's or file's


@value_class
class CheckResult:
    """One check's verdict. ``applicable=False``: the check does not apply to this answer
    (neither passed nor scored; its weight went to the question's other checks).
    ``note``: a sentence for the feedback even when the check passed. ``evaluated=False``:
    the grader could not decide it (the check raised, or its parameters are wrong), so a
    person must: the question needs review."""

    id: str
    passed: bool
    score: float
    max_score: float
    message: str
    applicable: bool = True
    note: str = ""
    evaluated: bool = True

    @property
    def outcome(self) -> Literal["passed", "failed", "not_applicable"]:
        if not self.applicable:
            return "not_applicable"
        return "passed" if self.passed else "failed"


@value_class
class Diagnosis:
    """A named failure pattern, explained for a student."""

    code: str  # "pipe_inherited_write_end", "missing_main_guard", ...
    title: str
    explanation: str
    fix: str
    severity: Literal["error", "warning"] = "error"
    location: str = ""  # "answer.py:12" in the student's code


@value_class
class RunSummary:
    """The per-process story of one question's run, as the report shows it."""

    exit_code: int | None
    duration_s: float
    start_method: str
    reason: LimitReason | None
    reason_detail: str
    stdout: str
    stderr: str
    truncated: bool
    trace: Trace
    stacks: tuple[ProcessStack, ...] = ()
    script: str = ""  # the code that ran (student lines marked in the report)
    blocking_line: int | None = None  # line of ``script`` (the answer) where the run was stuck
    backend: str = ""  # name of the sandbox backend that ran it
    observer: str = ""  # how the supervisor saw the tree: "proc_connector" | "poll"
    error_line: int | None = None  # line of ``script`` where an exception was raised
    exception: str = ""  # the last exception's line ("ZeroDivisionError: ..."), "" when none
    # The student's number of each line of ``script`` (cell lines in a notebook, file lines
    # in a .py); empty means 1, 2, 3...
    line_numbers: tuple[int, ...] = ()

    def numbered_lines(self) -> list[tuple[int, str]]:
        """(number as the student sees it, text) for each line of ``script``."""
        lines = self.script.splitlines()
        numbers = self.line_numbers if len(self.line_numbers) == len(lines) else range(1, len(lines) + 1)
        return list(zip(numbers, lines, strict=True))


@value_class
class Review:
    """A person's decision on one question's score; the automatic score stays beside it."""

    score: float  # the final score
    auto_score: float  # the automatic score the reviewer saw
    by: str
    at: str  # ISO 8601, UTC
    comment: str = ""
    # The automatic score changed since (a regrade): the decision stands, but deserves a second look.
    stale: bool = False


@value_class
class QuestionResult:
    """One question graded: score, status, feedback and the evidence behind them."""

    id: str
    title: str
    kind: QuestionKind
    status: Status
    score: float
    max_score: float
    feedback: str
    checks: tuple[CheckResult, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    run: RunSummary | None = None
    # Only for portability runs: start method -> (status, reason)
    portability: dict[str, tuple[str, str]] = field(default_factory=dict, hash=False, compare=False)
    excerpt: Excerpt | None = None  # the student's code around a SyntaxError (no run)
    # How the answer was found (None: no answer) and what the build changed to run it.
    attribution: Attribution | None = None
    salvaged: tuple[str, ...] = ()
    review: Review | None = None  # set once staff confirmed or overrode the score

    @property
    def reviewed(self) -> bool:
        return self.review is not None


@value_class
class Environment:
    """Where and how the grading ran, so that a result can be reproduced."""

    python: str
    platform: str
    start_method: str
    isolation: str
    observer: str
    limits: Limits


@value_class
class Report:
    """A graded submission: what every output format renders."""

    tool_version: str
    assignment_id: str
    assignment_title: str
    submission_path: str
    submission_sha256: str
    submission_format: str
    score: float
    max_score: float
    duration_s: float
    questions: tuple[QuestionResult, ...]
    environment: Environment
    student: str | None = None  # set by batch grading


@value_class
class Ungradable:
    """A submission that could not be graded at all: every output format still reports it."""

    assignment_id: str
    assignment_title: str
    max_score: float
    reason: str  # one line for the student: what is wrong and what to do
    submission_path: str = ""  # "" when nothing was submitted
    submission_sha256: str | None = None
    student: str | None = None  # set by batch grading
    missing: bool = False  # no file at all (a roster student who handed nothing in)
    tool_version: str = ""


# --------------------------------------------------------------------------- build and grading


@value_class
class BuiltScript:
    """The file the sandbox runs for one question, and how to map its lines back."""

    source: str
    # script line (1-based) -> (cell index, line within that cell), for student lines only
    line_map: dict[int, tuple[int, int]] = field(default_factory=dict, hash=False, compare=False)
    notes: tuple[str, ...] = ()  # e.g. "line 1 looked like prose and was ignored"
    syntax_error: str | None = None  # set when the answer cannot be compiled at all
    excerpt: Excerpt | None = None  # with ``syntax_error``: the lines around it


@value_class
class CheckContext:
    """Everything a check may look at; checks are pure functions of this."""

    question: Question
    answer: Answer | None
    script: BuiltScript | None
    run: RunResult | None
    trace: Trace


@value_class
class GradeOptions:
    """What the caller changed for this grading (command line, API or batch)."""

    timeout_s: float | None = None  # overrides every question's wall limit
    start_method: str | None = None  # overrides the assignment's
    isolation: str = "auto"
    questions: tuple[str, ...] = ()  # grade only these ids; () = all
    portability: bool = False  # also run code questions under every start method
    limits: Limits | None = None  # overrides the assignment's limits

    def checked(self, assignment: Assignment) -> GradeOptions:
        """These options, when ``assignment`` can be graded with them; else a ``UsageError``
        (the same words for the command line, the Python API and the notebook magic)."""
        from mpgrade.errors import UsageError

        if self.timeout_s is not None and not Limits.valid(self.timeout_s):
            raise UsageError(f"timeout must be a positive, finite number of seconds, got {self.timeout_s:g}")
        known = [q.id for q in assignment.questions]
        for q in self.questions:
            if q not in known:
                raise UsageError(f"unknown question '{q}' (this assignment has {', '.join(known)})")
        return self
