"""The parent's side: a Sandbox is one student's notebook namespace in an isolated,
limited child process; the parent talks to it over pipes and trusts nothing it says."""
from __future__ import annotations

import os
import signal
import tempfile
import time
import warnings

from .. import wire
from . import attempts, framing, isolation, slots, zygote
from .limits import ATTEMPTS_MAX, ATTEMPTS_PER_REPLY, MESSAGE_MAX, REPLY_MAX, REQUEST_MAX, WARNINGS_MAX, Limits
from .outcomes import ENDED_NORMALLY, CallOutcome, CellOutcome, SandboxError, describe_status
from . import posix, warden
from .posix import find_openblas_setter, poll
from .warden import STATUS, WORKDIR


def child_config(mode: str, limits: Limits, workdir: str, ext_dir: str,
                 ident: tuple[int, int] | None, nproc: int | None) -> dict:
    """The one description of a child, sent to the zygote (or used by a direct fork)."""
    return {"mode": mode, "limits": limits.to_dict(), "workdir": workdir, "ext_dir": ext_dir,
            "ident": ident, "nproc": nproc, "env": _child_env(),
            "landlock": isolation.landlock_paths() if mode == "uid" else None}


def _child_env() -> dict[str, str]:
    """The variables a child keeps (plus HOME, TMPDIR... set there)."""
    return {k: v for k, v in os.environ.items()
            if k in ("PATH", "LANG", "LANGUAGE", "TZ", "TERM")
            or k.startswith(("LC_", "NN_INTRO_")) and k != isolation.UNSAFE_ENV}


_nproc_cache: tuple[float, int] | None = None


def _user_threads(uid: int) -> int:
    """Threads owned by uid (RLIMIT_NPROC counts threads); cached 30 s."""
    global _nproc_cache
    now = time.monotonic()
    if _nproc_cache and now - _nproc_cache[0] < 30:
        return _nproc_cache[1]
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid != uid:
                    continue
                with open(f"/proc/{name}/stat", "rb") as f:
                    n += int(f.read().rsplit(b")", 1)[1].split()[17])
            except (OSError, ValueError, IndexError):
                pass
    _nproc_cache = (now, n)
    return n


def _unnamed_file() -> int:
    folder = tempfile.gettempdir()
    try:
        return os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_APPEND | os.O_CLOEXEC, 0o600)
    except (OSError, AttributeError):        # a file system without O_TMPFILE
        fd, path = tempfile.mkstemp(prefix="nn-intro-output-")
        os.unlink(path)
        return fd


class _Proc:
    """One warden + child pair as seen from the parent.  The warden's end is seen as the
    end of the status pipe (it is the only writer), in every mode."""

    def __init__(self, warden: int, forked: bool, ctl_w: int, st_r: int, req_w: int, rep_r: int):
        self.warden, self.forked = warden, forked
        self.ctl_w, self.st_r, self.req_w, self.rep_r = ctl_w, st_r, req_w, rep_r
        self.child = -1
        self.owner = os.getpid()
        self.reader = framing.Reader(REPLY_MAX)
        self.status: int | None = None
        self.reason = ENDED_NORMALLY
        self.status_known = False

    def dead(self) -> bool:
        """Cheap check between operations: did the child or the warden die?"""
        return bool(poll([self.st_r], timeout=0))

    def read_status(self, wait: float) -> None:
        if self.status_known:
            return
        if poll([self.st_r], timeout=wait):
            data = os.read(self.st_r, STATUS.size)
            if len(data) == STATUS.size:
                self.status, self.reason = STATUS.unpack(data)
        self.status_known = True

    def stop(self) -> None:
        self.ask_to_stop()
        self.finish(15.0)

    def ask_to_stop(self) -> None:
        """Tell the warden to end the notebook (in namespaces mode its PID 1 exits and the
        kernel kills the rest: from here on nothing of it can run for long)."""
        try:
            os.write(self.ctl_w, b"K")
        except OSError:
            pass
        os.close(self.ctl_w)

    def finish(self, timeout: float) -> bool:
        """Wait up to timeout for the warden to be gone (the status pipe ends with it), then
        release everything; False if it is still running (only with timeout 0)."""
        end = time.monotonic() + timeout
        gone = False
        while not gone:
            remaining = max(0.0, end - time.monotonic())
            if not poll([self.st_r], timeout=remaining):
                if timeout == 0:
                    return False
                break
            try:
                gone = os.read(self.st_r, 4096) == b""
            except OSError:
                gone = True
        if not gone and self.forked:                 # warden stuck: last resort
            for kill in (lambda: os.kill(self.warden, signal.SIGKILL),
                         lambda: self.child > 0 and os.killpg(self.child, signal.SIGKILL)):
                try:
                    kill()
                except OSError:
                    pass
        if self.forked:
            try:
                os.waitpid(self.warden, 0)
            except ChildProcessError:
                pass
        for fd in (self.st_r, self.req_w, self.rep_r):
            try:
                os.close(fd)
            except OSError:
                pass
        return True


_ending: list[_Proc] = []      # notebooks told to stop whose wardens may not be gone yet
_ENDING_MAX = 8


def settle(wait: bool = True) -> None:
    """Wait until every notebook closed with close(wait=False) is gone (or, with
    wait=False, release the ones that already are)."""
    owner = os.getpid()
    for proc in list(_ending):
        if proc.owner != owner:
            _ending.remove(proc)                 # a fork's copy: not ours to wait for
        elif proc.finish(15.0 if wait else 0):
            _ending.remove(proc)


_Result = tuple  # ("reply", dict) | ("timeout", "") | ("crashed", msg) | ("bad_output", msg)


def _text(v, n: int = MESSAGE_MAX) -> str:
    s = v if type(v) is str else str(v) if type(v) in (int, float) else ""
    return s if len(s) <= n else s[: n - 3] + "..."


class Sandbox:
    """One student's notebook namespace in a forked, limited child process.

    The child starts in __init__ (a few ms).  run_cells() executes cells in order in
    one namespace (a fresh module '__main__'), compiled with filename "<cell ID>";
    a cell that does not compile is retried with IPython lines (% or ! after
    whitespace) commented out.  A timeout or crash costs only that cell/call: the
    next operation starts a new child and silently replays the cells that were ok
    (their output is not captured again); `restarts` counts those starts. A replayed
    cell that times out or crashes is never replayed again.
    `workdir` is the child's cwd (in namespaces mode a path inside the sandbox, not on
    this machine); output() is its captured stdout+stderr.  `isolation` is the mode.

    Not thread-safe: use one Sandbox from one thread at a time.  Create it in a
    thread that outlives it (the warden's PDEATHSIG fires when the creating THREAD
    exits; the next operation would then transparently restart the child).
    Arguments larger than 64 MiB raise wire.TooLarge; a reply larger than 4 MiB is a
    bad_output verdict.
    """

    def __init__(self, limits: Limits = Limits(), label: str = "sandbox"):
        self.limits = limits
        self.label = label
        self._owner = os.getpid()
        self._closed = False
        self._proc: _Proc | None = None
        self._starts = 0
        self._cells: list[list] = []          # [cell_id, source, ok]
        self.attempts: list[tuple[str, str]] = []   # (cell id or function, what): see sandbox.attempts
        self._called = False
        self._final_output: tuple[str, bool] | None = None
        self._out_fd = -1
        self.isolation = isolation.detect().mode
        self._root = ""
        try:
            self._ext_dir = ""
            self._root_user = os.geteuid() == 0
            if self.isolation == "namespaces":
                # Nothing on this machine's disk: the work dir is the notebook's own tmpfs
                # and the output an unnamed file that goes with its last fd.
                self.workdir = WORKDIR
                self._out_fd = _unnamed_file()
            else:
                self._root = tempfile.mkdtemp(prefix="nn-intro-")
                os.chmod(self._root, 0o711)
                self.workdir = os.path.join(self._root, "work")
                os.mkdir(self.workdir, 0o700)
                self._ext_dir = os.path.join(self._root, "ext")     # see imports._FdFinder
                os.mkdir(self._ext_dir, 0o700)
                self._out_fd = os.open(os.path.join(self._root, "output.txt"),
                                       os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            if self.isolation == "none":
                self._nproc: int | None = _user_threads(os.getuid()) + int(limits.processes)
            else:
                self._nproc = int(limits.processes)
            find_openblas_setter()
            if self.isolation == "namespaces" and zygote.current() is None:
                zygote.start_zygote()       # exec'd: clean whenever it is started
            if self.isolation != "namespaces":    # there the zygote is a fresh exec
                _check_address_space(limits)
            self._spawn()
        except BaseException:
            self.close()
            raise

    # ---- public API
    @property
    def restarts(self) -> int:
        return max(0, self._starts - 1)

    def run_cells(self, cells: list[tuple[str, str]]) -> list[CellOutcome]:
        self._check_open()
        outcomes = []
        for cell_id, src in cells:
            cell_id, src = str(cell_id), str(src)
            kind, rep = self._op({"op": "cell", "id": cell_id, "src": src, "quiet": False},
                                 self.limits.cell_timeout)
            if kind == "reply":
                status = rep.get("status") if isinstance(rep, dict) else None
                if status not in ("ok", "syntax_error", "error"):
                    out = CellOutcome(cell_id, "crashed", "the sandbox sent a malformed reply")
                else:
                    out = CellOutcome(cell_id, status, _text(rep.get("message", "")))
                    self._note_attempts(cell_id, rep.get("attempts"), {cell_id: src})
            elif kind == "timeout":
                out = CellOutcome(cell_id, "timeout",
                                  f"timed out after {self.limits.cell_timeout:g} s")
            else:
                out = CellOutcome(cell_id, "crashed", rep)
            self._cells.append([cell_id, src, out.status == "ok"])
            outcomes.append(out)
        return outcomes

    def call(self, function: str, args: tuple = (), kwargs: dict | None = None, *,
             timeout: float | None = None, echo_args: bool = False,
             standins: dict | None = None) -> CallOutcome:
        """standins: {"source": code, "names": [...]}: the grader's versions of those
        functions in place of the student's for this call only (see harness.call)."""
        self._check_open()
        timeout = self.limits.check_timeout if timeout is None else float(timeout)
        req = {"op": "call", "fn": str(function), "args": tuple(args),
               "kwargs": dict(kwargs or {}), "echo": bool(echo_args)}
        if standins:
            req["standins"] = {"source": str(standins["source"]), "names": [str(n) for n in standins["names"]]}
        t0 = time.monotonic()
        kind, rep = self._op(req, timeout)
        elapsed = time.monotonic() - t0
        if kind == "timeout":
            return CallOutcome("timeout", message=f"timed out after {timeout:g} s", seconds=elapsed)
        if kind != "reply":
            return CallOutcome(kind, message=rep, seconds=elapsed)
        try:
            status = rep["status"]
            warns = rep.get("warnings", [])
            out = CallOutcome(status, rep.get("value"), _text(rep.get("message", "")),
                              [_text(w, 300) for w in (warns if type(warns) is list else [])][:WARNINGS_MAX],
                              rep.get("args_after"), float(rep.get("seconds", elapsed)))
            if status not in ("ok", "error", "bad_output"):
                raise ValueError(status)
        except Exception:
            return CallOutcome("bad_output", message="the sandbox sent a malformed reply",
                               seconds=elapsed)
        self._called = True
        self._note_attempts(str(function), rep.get("attempts"))
        if out.status == "ok":
            why = unsupported_message(out.value)
            if why is not None:
                out.status, out.message = "bad_output", why
        return out

    def _note_attempts(self, where: str, found, current: dict | None = None) -> None:
        """What the child's audit hook saw (sandbox.attempts): kept only as data this side can
        check (a cell it ran, a line number, a known category), in words written here with
        the line from our own copy of the cell; what an operation was given only before the
        first call. Kept once, at most ATTEMPTS_MAX."""
        if type(found) is not list:
            return
        sources = {c[0]: c[1] for c in self._cells}
        sources.update(current or {})
        for item in found[:ATTEMPTS_PER_REPLY]:
            if type(item) is not list or len(item) != 4:
                continue
            cell, line, kind, given = item
            if type(cell) is not str or cell not in sources or type(line) is not int \
                    or type(kind) is not str or kind not in attempts.CATEGORIES or type(given) is not str:
                continue
            lines = sources[cell].splitlines()
            text = lines[line - 1].strip()[:200] if 1 <= line <= len(lines) else ""
            record = (where, attempts.describe(kind, text, "" if self._called else given[:attempts.GIVEN_MAX]))
            if len(self.attempts) < ATTEMPTS_MAX and record not in self.attempts:
                self.attempts.append(record)

    def output(self) -> tuple[str, bool]:
        if self._final_output is not None:
            return self._final_output
        if self._out_fd < 0:
            return "", False
        n = self.limits.output_bytes
        size = os.fstat(self._out_fd).st_size
        data = os.pread(self._out_fd, n, 0)
        return data.decode("utf-8", "replace"), size > n

    def close(self, wait: bool = True) -> None:
        """End the notebook.  wait=False returns once the warden was told (the grader's
        path: the teardown overlaps the next notebook); settle() then waits for it."""
        if self._closed or os.getpid() != self._owner:
            return
        self._closed = True
        try:
            if self._proc is not None:
                proc, self._proc = self._proc, None
                if wait or self.isolation != "namespaces":
                    proc.stop()
                else:
                    proc.ask_to_stop()
                    _ending.append(proc)
                    settle(wait=False)
                    while len(_ending) > _ENDING_MAX:
                        _ending.pop(0).finish(15.0)
        finally:
            try:
                if self._out_fd >= 0:
                    self._final_output = self.output()
                    os.close(self._out_fd)
                    self._out_fd = -1
            finally:
                if self._root:
                    posix.rmtree(self._root)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---- internals
    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError(f"{self.label}: the sandbox is closed")

    def _spawn(self) -> None:
        ctl_r, ctl_w = os.pipe()
        st_r, st_w = os.pipe()
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        mine = [ctl_r, st_w, req_r, rep_w]
        theirs = [ctl_w, st_r, req_w, rep_r]
        ident, lock = None, -1
        parent = os.getpid()
        z = zygote.current()
        try:
            if self._root_user and self.isolation != "none":
                uid, gid, lock = slots.acquire()
                ident = (uid, gid)
            cfg = child_config(self.isolation, self.limits, self.workdir, self._ext_dir, ident,
                               self._nproc)
            if z is not None:
                if not z.alive():
                    raise SandboxError("the sandbox zygote is gone")
                pid = z.spawn([*mine, self._out_fd] + ([lock] if lock >= 0 else []), cfg)
            elif self.isolation == "namespaces":
                raise SandboxError("no sandbox zygote")
            else:
                pid = os.fork()
        except (OSError, SandboxError) as e:
            for fd in mine + theirs + ([lock] if lock >= 0 else []):
                os.close(fd)
            raise SandboxError(f"{self.label}: cannot start: {e}") from None
        if pid == 0:
            try:
                warden.main(parent, {"ctl_r": ctl_r, "st_w": st_w, "req_r": req_r, "rep_w": rep_w,
                                     "out": self._out_fd, "lock": lock if lock >= 0 else None}, cfg)
            finally:
                os._exit(0)
        for fd in mine + ([lock] if lock >= 0 else []):
            os.close(fd)
        proc = _Proc(pid, z is None, ctl_w, st_r, req_w, rep_r)
        os.set_blocking(req_w, False)
        self._proc = proc
        self._starts += 1
        kind, hello = self._receive(proc, time.monotonic() + 30.0)
        if kind != "reply" or not isinstance(hello, dict) or hello.get("error") \
                or hello.get("op") != "hello":
            self._kill()
            why = hello.get("error") if isinstance(hello, dict) else hello
            raise SandboxError(f"{self.label}: the sandbox did not start: {_text(why) or kind}")
        proc.child = int(hello["pid"])

    def _kill(self) -> None:
        if self._proc is not None:
            proc, self._proc = self._proc, None
            proc.stop()

    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.dead():
            self._kill()
        while self._proc is None:
            self._spawn()
            for cell in self._cells:
                if not cell[2]:
                    continue
                kind, rep = self._exchange({"op": "cell", "id": cell[0], "src": cell[1],
                                            "quiet": True}, self.limits.cell_timeout)
                if kind == "reply":
                    continue
                # the replay itself timed out or crashed: never replay that cell again
                cell[2] = False
                self._kill()
                break

    def _op(self, req: dict, timeout: float) -> _Result:
        self._ensure_started()
        return self._exchange(req, timeout)

    def _exchange(self, req: dict, timeout: float) -> _Result:
        proc = self._proc
        frame = framing.encode(req, REQUEST_MAX)
        deadline = time.monotonic() + timeout
        result = self._send(proc, frame, deadline)
        if result is None:
            result = self._receive(proc, deadline)
        if result[0] != "reply":
            self._kill()
        return result

    def _send(self, proc: _Proc, frame: bytes, deadline: float) -> _Result | None:
        mv = memoryview(frame)
        while mv:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return ("timeout", "")
            w = poll(write=[proc.req_w], timeout=remaining)
            if proc.dead() and not w:
                return self._died(proc)
            if w:
                try:
                    mv = mv[os.write(proc.req_w, mv):]
                except BlockingIOError:
                    pass
                except OSError:          # EPIPE: the child is gone
                    return self._died(proc)
        return None

    def _receive(self, proc: _Proc, deadline: float) -> _Result:
        reader = proc.reader
        while True:
            got = reader.next()
            if got is not None:
                return got
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return ("timeout", "")
            ready = poll([proc.rep_r, proc.st_r], timeout=remaining)
            if proc.rep_r in ready:
                chunk = os.read(proc.rep_r, min(1 << 20, reader.want()))
                if chunk:
                    reader.feed(chunk)
                    continue
                return self._died(proc)          # EOF
            if proc.st_r in ready:
                # the child died; a reply it wrote before dying is still in the pipe
                if poll([proc.rep_r], timeout=0):
                    continue
                return self._died(proc)

    def _died(self, proc: _Proc) -> _Result:
        proc.read_status(1.0)
        return ("crashed", describe_status(proc.status, self.limits, proc.reason))


_warned_vmsize = False


def _check_address_space(limits: Limits) -> None:
    """RLIMIT_AS counts the address space the child inherits from this process:
    warn once if that alone takes more than half of the limit."""
    global _warned_vmsize
    if _warned_vmsize:
        return
    try:
        with open("/proc/self/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return
    if kb * 1024 > limits.notebook_memory_mb * 1024 * 1024 // 2:
        _warned_vmsize = True
        warnings.warn(f"this process already uses {kb >> 10} MiB of address space, which its "
                      f"sandboxes inherit under their {limits.notebook_memory_mb} MiB RLIMIT_AS "
                      f"(threads? set OPENBLAS_NUM_THREADS=1 / MALLOC_ARENA_MAX=2)",
                      RuntimeWarning, stacklevel=3)


def unsupported_message(value) -> str | None:
    """Why a decoded value is not plain data (it holds wire.Unsupported markers), or None.
    The same words whichever runner called the function (grader.runners)."""
    bad = _find_unsupported(value, 0)
    if bad is None:
        return None
    if bad is value:
        return f"the function returned {bad.type_name}, which is not plain data"
    return f"the returned value contains {bad.type_name}, which is not plain data"


def _find_unsupported(v, depth: int):
    if type(v) is wire.Unsupported:
        return v
    if depth > wire.MAX_DEPTH + 1:
        return None
    if type(v) in (list, tuple):
        items = v
    elif type(v) is dict:
        items = v.values()
    else:
        return None
    for x in items:
        found = _find_unsupported(x, depth + 1)
        if found is not None:
            return found
    return None


