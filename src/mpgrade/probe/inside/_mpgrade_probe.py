"""The probe: records what multiprocessing really did, from inside the student's tree.

Every process appends JSON lines to ``$MPGRADE_TRACE`` (one ``os.write`` per line on an
``O_APPEND`` descriptor, so lines of concurrent processes never interleave). Patches are
applied lazily, when the student's code imports the module concerned, so a program that
never imports multiprocessing pays only for the stream wrappers. Every patch records
around the original call and swallows its own failures: the student's program must
behave exactly as it would without the probe.

Event format (one object per line, ``e`` = kind, ``pid``, ``t`` = time.monotonic()):
  boot   ppid kind py v            an interpreter started (main, spawn, forkserver, ...)
  start  child name target args daemon method [pool] [by]   parent side of Process.start
                                   (by: the multiprocessing module that started it)
  begin  ppid name target          a Process began running in the child
  end    code                      ... and ended (exit code as the child returns it)
  exit   child code                the parent saw a child's exit code (join, is_alive)
  out    s text [trunc]            one complete line printed (s = stdout | stderr)
  pool   pool size kind            a Pool or ThreadPool was created
  pcall  pool api func [n]         a Pool method was called by the student
  task   [pool] func in out|err t1 one task run by a pool worker
  pipe   ch ends duplex            a Pipe() made by the student (ends = fd inode keys)
  queue  ch ends kind              a Queue/JoinableQueue/SimpleQueue made by the student
  msg    ch kind op value [err]    send/recv on a pipe, put/get on a queue
  thread name target origin        a threading.Thread started by the student
  cap    what                      a per-process cap was reached (event kind or stream)
"""

import _signal
import faulthandler
import itertools
import os
import sys
import time

# Every interpreter of the tree imports this module before the student's first line, so it
# imports only modules that are built in or already loaded: no ``from __future__``, no
# ``math``, and ``_json`` (an extension module to load) only for a string that needs escaping.
_now = time.monotonic
_MAX_LINE = 4000  # bytes; keeps every event a single short append
_MAX_TEXT = 1000  # chars of a printed line
_MAX_REPR = 300  # chars of a value repr
_CAP = 5000  # events per kind per process: enough to grade, bounded if a loop spins
_OWN = __name__
_INTERNAL = ("multiprocessing.", "concurrent.futures.process")


class _State:
    """Per-process state; pid and counts are refreshed in a fork child."""

    def __init__(self) -> None:
        self.fd = -1
        self.trace_path = ""
        self.pid = 0
        self.stack_fd = -1
        self.meta = ""
        self.counts: dict[str, int] = {}
        self.ids = itertools.count(1)
        self.channels: dict[str, str] = {}  # fd inode key -> id of a student pipe/queue
        self.scan_offset = 0
        self.pool_of_queue: dict[int, str | None] = {}  # id(pool inqueue) -> pool id
        self.local = None  # threading.local for reentrancy guards, once threading loads


S = _State()


# --------------------------------------------------------------------------- writing


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _repr(value: object, limit: int = _MAX_REPR) -> str:
    """repr() that cannot fail and stays short; a student's __repr__ may raise."""
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<unreprable {type(value).__name__}: {type(exc).__name__}>"
    return _short(text, limit)


def _args_repr(args: object) -> str:
    """A Process's args; multiprocessing objects by type alone ("<Connection>"), not address."""
    if not isinstance(args, tuple):
        return _repr(args, 200)
    parts = [f"<{type(a).__name__}>" if type(a).__module__.startswith("multiprocessing.")
             else _repr(a, 200) for a in args]
    return _short("(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")", 200)


def _name_of(func: object) -> str | None:
    """Qualified name of a callable; module prefix only when it is not the student's."""
    if func is None:
        return None
    try:
        partial = sys.modules.get("functools")  # loaded by anything that makes a partial
        if partial is not None and isinstance(func, partial.partial):
            return f"partial({_name_of(func.func)})"
        qual = getattr(func, "__qualname__", None) or type(func).__qualname__
        module = getattr(func, "__module__", None)
        if module in (None, "builtins", "__main__", "__mp_main__"):
            return str(qual)
        return f"{module}.{qual}"
    except Exception:
        return "?"


_escape = None  # _json.encode_basestring, once a string needs it


def _quote(text: str) -> str:
    """``text`` as a JSON string; a plain one as it is, the rest escaped by ``_json``."""
    global _escape
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    if _escape is None:
        try:
            from _json import encode_basestring as _escape
        except ImportError:  # pragma: no cover - every CPython has _json
            import json

            return json.dumps(text, ensure_ascii=False)
    return _escape(text)


def _json_value(value: object) -> str:
    if isinstance(value, str):
        return _quote(value)
    if value is None or value is True or value is False:
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, float):
        return float.__repr__(value) if value - value == 0.0 else "null"  # not inf or nan
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([_quote(str(v)) for v in value]) + "]"
    return _quote(str(value))


def _encode(event: dict) -> bytes:
    """One JSON line; hand-rolled because importing json costs more than a run's events."""
    body = ",".join([f'"{key}":{_json_value(value)}' for key, value in event.items()])
    return ("{" + body + "}\n").encode("utf-8", "backslashreplace")


def _emit(kind: str, /, cap: str = "", **fields: object) -> None:
    """Append one event; never raises. ``cap`` names the counter capping it (default: kind)."""
    if S.fd < 0:
        return
    try:
        cap = cap or kind
        n = S.counts.get(cap, 0) + 1
        S.counts[cap] = n
        if n > _CAP:
            if n == _CAP + 1:
                _write({"e": "cap", "pid": S.pid, "t": _now(), "what": cap})
            return
        event = {"e": kind, "pid": S.pid, "t": _now()}
        event.update(fields)
        _write(event)
    except Exception:
        pass


def _write(event: dict) -> None:
    data = _encode(event)
    while len(data) > _MAX_LINE:  # shrink the longest text field until the line fits
        key = max((k for k, v in event.items() if isinstance(v, str)),
                  key=lambda k: len(event[k]), default=None)
        if key is None or len(event[key]) < 8:
            return
        event[key] = event[key][: len(event[key]) // 2] + "..."
        event["trunc"] = True
        data = _encode(event)
    os.write(S.fd, data)


def _guarded(name: str) -> bool:
    """True when this thread is already inside a recording wrapper of this name."""
    local = S.local
    if local is None:
        return False
    return bool(getattr(local, name, False))


def _set_guard(name: str, on: bool) -> None:
    if S.local is not None:
        setattr(S.local, name, on)


def _caller_module(skip: tuple[str, ...]) -> str:
    """Module of the first frame outside the probe and ``skip``: who really called."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name != _OWN and name not in skip:
            return name
        frame = frame.f_back
    return ""


def _is_internal(module: str) -> bool:
    """Code of multiprocessing itself (Pool's queues, feeder threads), not the student's."""
    return module == "multiprocessing" or module.startswith(_INTERNAL)


# --------------------------------------------------------------------------- printed lines


class _LineTee:
    """Stands in for sys.stdout/sys.stderr: writes through unchanged, records whole lines."""

    def __init__(self, stream, name: str) -> None:
        self._mpg_stream = stream
        self._mpg_name = name
        self._mpg_buf = ""

    def write(self, text):
        n = self._mpg_stream.write(text)
        try:
            self._mpg_take(text)
        except Exception:
            pass
        return n

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def _mpg_take(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            return
        if "\n" not in text:  # a partial line: keep enough of it to know it is long
            self._mpg_buf = (self._mpg_buf + text)[: _MAX_TEXT + 1]
            return
        pieces = (self._mpg_buf + text).split("\n")
        self._mpg_buf = pieces.pop()[: _MAX_TEXT + 1]
        for line in pieces:
            self._mpg_emit(line)

    def _mpg_emit(self, line: str) -> None:
        fields: dict[str, object] = {"s": self._mpg_name, "text": line[:_MAX_TEXT]}
        if len(line) > _MAX_TEXT:
            fields["trunc"] = True
        _emit("out", cap=self._mpg_name, **fields)  # a flood on stderr keeps stdout

    def _mpg_flush_partial(self) -> None:
        if self._mpg_buf:
            line, self._mpg_buf = self._mpg_buf, ""
            self._mpg_emit(line)

    def __getattr__(self, name):
        return getattr(self._mpg_stream, name)

    def __iter__(self):
        return iter(self._mpg_stream)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._mpg_stream.__exit__(*exc)


def _tees() -> list[_LineTee]:
    return [s for s in (sys.stdout, sys.stderr) if isinstance(s, _LineTee)]


def _flush_partial_lines() -> None:
    for tee in _tees():
        try:
            tee._mpg_flush_partial()
        except Exception:
            pass


def _wrap_streams() -> None:
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name, None)
        if stream is not None and not isinstance(stream, _LineTee):
            setattr(sys, name, _LineTee(stream, name))


# --------------------------------------------------------------------------- channels


def _key(conn) -> str:
    """Identity of a pipe/socket end that survives fork and spawn's fd passing.

    '' when the system gives no inode: the channel is then known only where its objects
    carry the cached id (the creator and fork children).
    """
    st = os.fstat(conn.fileno())
    return f"{st.st_dev}:{st.st_ino}" if st.st_ino else ""


def _lookup(key: str) -> str:
    """Channel id of a student pipe/queue end, '' when it is multiprocessing's own.

    Fork children inherit the table; spawn and forkserver children learn it from the
    creation events already in the trace file (written before any child could exist).
    """
    found = S.channels.get(key)
    if found is not None or not key:
        return found or ""
    try:
        with open(S.trace_path, "rb") as f:
            f.seek(S.scan_offset)
            data = f.read(8 << 20)
        end = data.rfind(b"\n") + 1
        S.scan_offset += end
        for raw in data[:end].splitlines():
            if raw.startswith((b'{"e":"pipe"', b'{"e":"queue"')):
                _learn(raw)
    except Exception:
        pass
    return S.channels.get(key, "")


def _learn(raw: bytes) -> None:
    import json  # only in a child that uses a pipe or queue it did not create

    try:
        event = json.loads(raw)
    except ValueError:
        return
    ch, ends = event.get("ch"), event.get("ends")
    if isinstance(ch, str) and isinstance(ends, list):
        for end in ends:
            if isinstance(end, str):
                S.channels.setdefault(end, ch)


def _channel_of(obj, attr: str, conn_attr: str | None) -> str:
    """Cached channel id of a Connection (conn_attr None) or a queue (its reader end)."""
    cached = obj.__dict__.get(attr)
    if cached is None:
        try:
            conn = obj if conn_attr is None else getattr(obj, conn_attr)
            cached = _lookup(_key(conn))
        except Exception:
            cached = ""
        try:
            obj.__dict__[attr] = cached
        except Exception:
            pass
    return cached


def _register_channel(event: str, ends: list, /, **extra: object) -> str:
    """Announce a student's pipe/queue with the inode keys of its ends; returns its id."""
    keys = []
    for end in ends:
        try:
            key = _key(end)
        except Exception:
            continue
        if key:
            keys.append(key)
    ch = f"{event[0]}{S.pid}-{next(S.ids)}"
    for key in keys:
        S.channels[key] = ch
    _emit(event, ch=ch, ends=keys, **extra)
    return ch


# --------------------------------------------------------------------------- patches


def _patch(owner, name: str, make) -> None:
    """Replace owner.name by make(original), keeping the original's name for pickling."""
    import functools  # threading and multiprocessing, the modules patched, import it anyway

    original = owner.__dict__.get(name)
    if original is None or getattr(original, "_mpg_original", None) is not None:
        return
    wrapper = make(original)
    if callable(original):
        functools.update_wrapper(wrapper, original)
    wrapper._mpg_original = original
    setattr(owner, name, wrapper)


def _patch_process(mod) -> None:
    base = mod.BaseProcess

    def target_of(proc) -> str | None:
        """The function the child runs: target, or the run() a Process subclass overrides."""
        target = getattr(proc, "_target", None)
        if target is None and type(proc).run is not base.run:
            return _name_of(type(proc).run)
        return _name_of(target)

    def make_start(orig):
        def start(self):
            # start() deletes _target and _args once the child exists: read them first
            target, args = target_of(self), getattr(self, "_args", ())
            orig(self)
            try:
                popen = self._popen
                fields: dict[str, object] = {
                    "child": popen.pid,
                    "name": self.name,
                    "target": target,
                    "args": _args_repr(args),
                    "daemon": bool(self.daemon),
                    "method": getattr(type(popen), "method", None),
                }
                by = _caller_module(("multiprocessing.process", "multiprocessing.context"))
                if _is_internal(by) or by.startswith("concurrent.futures"):
                    fields["by"] = by  # a Pool's worker, a Manager's server, ...
                if args and target == "multiprocessing.pool.worker":
                    fields["pool"] = S.pool_of_queue.get(id(args[0]))
                    fields["args"] = ""  # the pool's own queues: nothing of the student's
                _emit("start", **fields)
            except Exception:
                pass

        return start

    def make_bootstrap(orig):
        def _bootstrap(self, *args, **kwargs):
            try:
                _emit("begin", ppid=os.getppid(), name=self.name, target=target_of(self))
            except Exception:
                pass
            code = orig(self, *args, **kwargs)
            try:
                _flush_partial_lines()
                _emit("end", code=code if isinstance(code, int) else None)
            except Exception:
                pass
            return code

        return _bootstrap

    def note_exit(self) -> None:
        try:
            popen = self._popen
            if popen is None or popen.returncode is None or self.__dict__.get("_mpg_exit"):
                return
            self.__dict__["_mpg_exit"] = True
            _emit("exit", child=popen.pid, code=popen.returncode)
        except Exception:
            pass

    def make_after(orig):
        def call(self, *args, **kwargs):
            result = orig(self, *args, **kwargs)
            note_exit(self)
            return result

        return call

    _patch(base, "start", make_start)
    _patch(base, "_bootstrap", make_bootstrap)
    _patch(base, "join", make_after)
    _patch(base, "is_alive", make_after)
    import functools

    prop = base.__dict__.get("exitcode")
    if isinstance(prop, property) and prop.fget is not None and not hasattr(prop.fget, "_mpg_original"):
        fget = prop.fget

        def exitcode(self):
            code = fget(self)
            if code is not None:
                note_exit(self)
            return code

        functools.update_wrapper(exitcode, fget)
        exitcode._mpg_original = fget
        base.exitcode = property(exitcode, doc=prop.__doc__)


def _patch_context(mod) -> None:
    """Make $MPGRADE_START_METHOD the default without locking it (set_start_method works)."""
    method = os.environ.get("MPGRADE_START_METHOD", "")
    contexts = getattr(mod, "_concrete_contexts", {})
    if method in contexts:
        mod._default_context._default_context = contexts[method]


def _sender(orig, kind: str, attr: str, reader: str | None):
    """Pipe.send and Queue.put alike: call through, then record what was sent (or that
    sending failed), stamped with the time the call began."""

    def send(self, obj, *args, **kwargs):
        t = _now()
        ch = _channel_of(self, attr, reader)
        try:
            result = orig(self, obj, *args, **kwargs)
        except Exception as exc:
            if ch:
                _emit("msg", ch=ch, kind=kind, op="send", value=_repr(obj),
                      err=type(exc).__name__, t=t)
            raise
        if ch:
            _emit("msg", ch=ch, kind=kind, op="send", value=_repr(obj), t=t)
        return result

    return send


def _patch_connection(mod) -> None:
    def make_pipe(orig):
        def Pipe(duplex=True):
            a, b = orig(duplex)
            try:
                internal = _is_internal(
                    _caller_module(("multiprocessing.context", "multiprocessing.connection"))
                )
                if internal:
                    a.__dict__["_mpg_ch"] = b.__dict__["_mpg_ch"] = ""
                else:
                    ch = _register_channel("pipe", [a, b], duplex=bool(duplex))
                    a.__dict__["_mpg_ch"] = b.__dict__["_mpg_ch"] = ch
            except Exception:
                pass
            return a, b

        return Pipe

    def make_recv(orig):
        def recv(self):
            ch = _channel_of(self, "_mpg_ch", None)
            try:
                obj = orig(self)
            except Exception as exc:
                if ch:
                    _emit("msg", ch=ch, kind="pipe", op="recv", value="", err=type(exc).__name__)
                raise
            if ch:
                _emit("msg", ch=ch, kind="pipe", op="recv", value=_repr(obj))
            return obj

        return recv

    _patch(mod, "Pipe", make_pipe)
    base = getattr(mod, "_ConnectionBase", None)
    if base is not None:
        _patch(base, "send", lambda orig: _sender(orig, "pipe", "_mpg_ch", None))
        _patch(base, "recv", make_recv)


def _patch_queues(mod) -> None:
    def make_init(orig):
        def __init__(self, *args, **kwargs):
            orig(self, *args, **kwargs)
            try:
                internal = _is_internal(
                    _caller_module(("multiprocessing.context", "multiprocessing.queues"))
                )
                self.__dict__["_mpg_q"] = "" if internal else _register_channel(
                    "queue", [self._reader], kind=type(self).__name__
                )
            except Exception:
                pass

        return __init__

    def make_get(orig):
        def get(self, *args, **kwargs):
            ch = _channel_of(self, "_mpg_q", "_reader")
            obj = orig(self, *args, **kwargs)  # Empty/EOFError: nothing was received
            if ch:
                _emit("msg", ch=ch, kind="queue", op="recv", value=_repr(obj))
            return obj

        return get

    def make_put(orig):
        return _sender(orig, "queue", "_mpg_q", "_reader")

    for cls_name in ("Queue", "SimpleQueue"):
        cls = getattr(mod, cls_name, None)
        if cls is not None:
            _patch(cls, "__init__", make_init)
            _patch(cls, "get", make_get)
            _patch(cls, "put", make_put)
    joinable = getattr(mod, "JoinableQueue", None)
    if joinable is not None:
        _patch(joinable, "put", make_put)  # its own put; get is Queue's


_POOL_APIS = ("map", "map_async", "starmap", "starmap_async", "imap", "imap_unordered",
              "apply", "apply_async")


def _patch_pool(mod) -> None:
    plain_star = (mod.mapstar, mod.starmapstar)
    passthrough = getattr(mod, "_helper_reraises_exception", None)

    def recorder(func, pool: str | None):
        """The user function, recording each call: input, result or error, worker pid."""

        def call(*args, **kwargs):
            t = _now()
            shown: object = args
            if kwargs:
                shown = (args, kwargs)
            elif len(args) == 1:
                shown = args[0]  # map, imap, apply_async(f, (x,)): the item itself
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                error = _repr(exc, _MAX_REPR)
                _emit("task", pool=pool, func=_name_of(func), t=t, t1=_now(),
                      **{"in": _repr(shown), "err": error})
                raise
            _emit("task", pool=pool, func=_name_of(func), t=t, t1=_now(),
                  **{"in": _repr(shown), "out": _repr(result)})
            return result

        return call

    class _Tasks:
        """The worker's task queue, handing out tasks whose user function records."""

        def __init__(self, queue, pool: str | None) -> None:
            self._mpg_queue = queue
            self._mpg_pool = pool

        def get(self):
            task = self._mpg_queue.get()
            try:
                job, i, func, args, kwds = task
                if func in plain_star:
                    (user, chunk), = args
                    args = ((recorder(user, self._mpg_pool), chunk),)
                elif func is not passthrough:
                    func = recorder(func, self._mpg_pool)
                return job, i, func, args, kwds
            except Exception:
                return task

        def __getattr__(self, name):
            return getattr(self._mpg_queue, name)

    def make_worker(orig):
        def worker(inqueue, *args, **kwargs):
            try:
                tasks = _Tasks(inqueue, S.pool_of_queue.get(id(inqueue)))
            except Exception:
                tasks = inqueue
            return orig(tasks, *args, **kwargs)

        return worker

    def make_init(orig):
        def __init__(self, *args, **kwargs):
            key = f"{S.pid}-{next(S.ids)}"
            try:
                self.__dict__["_mpg_pool"] = key
            except Exception:
                pass
            orig(self, *args, **kwargs)
            try:
                kind = "thread" if isinstance(self, mod.ThreadPool) else "process"
                _emit("pool", pool=key, size=getattr(self, "_processes", None), kind=kind)
            except Exception:
                pass

        return __init__

    def make_setup(orig):
        def _setup_queues(self, *args, **kwargs):
            orig(self, *args, **kwargs)
            try:
                S.pool_of_queue[id(self._inqueue)] = self.__dict__.get("_mpg_pool")
            except Exception:
                pass

        return _setup_queues

    def make_api(orig, api: str):
        def call(self, func, *args, **kwargs):
            if _guarded("pcall"):
                return orig(self, func, *args, **kwargs)
            try:
                fields: dict[str, object] = {"pool": self.__dict__.get("_mpg_pool"),
                                             "api": api, "func": _name_of(func)}
                if args and hasattr(args[0], "__len__") and api not in ("apply", "apply_async"):
                    fields["n"] = len(args[0])
                _emit("pcall", **fields)
            except Exception:
                pass
            _set_guard("pcall", True)
            try:
                return orig(self, func, *args, **kwargs)
            finally:
                _set_guard("pcall", False)

        return call

    _patch(mod, "worker", make_worker)  # found by name when Pool starts its workers
    _patch(mod.Pool, "__init__", make_init)
    _patch(mod.Pool, "_setup_queues", make_setup)
    thread_pool = getattr(mod, "ThreadPool", None)
    if thread_pool is not None:
        _patch(thread_pool, "_setup_queues", make_setup)
    for api in _POOL_APIS:
        _patch(mod.Pool, api, lambda orig, api=api: make_api(orig, api))


def _patch_threading(mod) -> None:
    if S.local is None:
        S.local = mod.local()

    def make_start(orig):
        def start(self):
            orig(self)
            try:
                origin = _caller_module(("threading", "multiprocessing.dummy"))
                if not _is_internal(origin):
                    _emit("thread", name=self.name, origin=origin,
                          target=_name_of(getattr(self, "_target", None)))
            except Exception:
                pass

        return start

    _patch(mod.Thread, "start", make_start)


_HOOKS = {
    "threading": _patch_threading,
    "multiprocessing.process": _patch_process,
    "multiprocessing.context": _patch_context,
    "multiprocessing.connection": _patch_connection,
    "multiprocessing.queues": _patch_queues,
    "multiprocessing.pool": _patch_pool,
}


def _run_hook(name: str, module) -> None:
    try:
        _HOOKS[name](module)
    except Exception:
        pass


class _PatchingLoader:
    """Delegates to the real loader, then patches the module it has just executed."""

    def __init__(self, loader, name: str) -> None:
        self._mpg_loader = loader
        self._mpg_name = name

    def create_module(self, spec):
        return self._mpg_loader.create_module(spec)

    def exec_module(self, module) -> None:
        loader = self._mpg_loader
        try:  # leave no trace of the probe on the module
            module.__spec__.loader = loader
            module.__loader__ = loader
        except Exception:
            pass
        loader.exec_module(module)
        _run_hook(self._mpg_name, module)

    def __getattr__(self, name):
        return getattr(self._mpg_loader, name)


class _Finder:
    """A meta path finder that only wraps the loader of the few modules the probe patches."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name not in _HOOKS:
            return None
        for finder in sys.meta_path:
            if finder is cls or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, name)
                return spec
        return None


# --------------------------------------------------------------------------- process setup


def _register_stacks() -> None:
    """SIGUSR1 dumps all threads' stacks to this pid's own file, for hang diagnosis."""
    if not S.meta:
        return
    old = S.stack_fd
    path = os.path.join(S.meta, f"stacks-{S.pid}.txt")
    S.stack_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    faulthandler.register(_signal.SIGUSR1, file=S.stack_fd, all_threads=True, chain=False)
    if old >= 0:
        os.close(old)


def _after_fork_child() -> None:
    S.pid = os.getpid()
    S.counts = {}
    for tee in _tees():
        tee._mpg_buf = ""
    try:
        _register_stacks()
    except Exception:
        pass


def _boot_kind() -> str:
    argv = " ".join(getattr(sys, "orig_argv", None) or sys.argv or [])
    for marker, kind in (("--multiprocessing-fork", "spawn"),
                         ("multiprocessing.forkserver", "forkserver"),
                         ("resource_tracker", "resource_tracker")):
        if marker in argv:
            return kind
    return "python"


def install() -> None:
    """Set up this interpreter; called once by sitecustomize."""
    S.pid = os.getpid()
    S.meta = os.environ.get("MPGRADE_META", "")
    try:
        _register_stacks()
    except Exception:
        pass
    S.trace_path = os.environ.get("MPGRADE_TRACE", "")
    if S.trace_path:
        try:
            S.fd = os.open(S.trace_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o644)
        except OSError:
            S.fd = -1
    os.register_at_fork(after_in_child=_after_fork_child)
    if S.fd < 0:
        return
    _emit("boot", ppid=os.getppid(), kind=_boot_kind(), v=1,
          py=".".join(map(str, sys.version_info[:3])))
    _wrap_streams()
    import atexit

    atexit.register(_flush_partial_lines)
    sys.meta_path.insert(0, _Finder)
    for name, module in list(sys.modules.items()):
        if name in _HOOKS and module is not None:
            _run_hook(name, module)
