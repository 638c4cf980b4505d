"""The forked child process that runs student code, with limits.

Process tree (all started with os.fork(), no exec, so a start costs a few ms)::

    parent (this process; never runs student code)
      └─ warden   prctl(CHILD_SUBREAPER); PDEATHSIG=SIGTERM -> cleans up, exits
                  (forked by the zygote instead, if start_zygote() was called)
           └─ child   setsid, limits, uid 'nobody' (when root), runs the cells
                └─ anything the student starts (orphans are reparented to the warden)

The parent talks to the child over two pipes with length-prefixed frames that
carry wire-encoded dicts (never pickle).  The child's death status comes from the
warden over a third pipe.  To stop, the parent writes b"K" to (and closes) the
warden's control pipe; the warden SIGKILLs the child's process group and then
every process in its own subtree until none is left, reaps them and exits.  The
warden does the same when the parent dies (PDEATHSIG=SIGTERM, handled), so even
then nothing is left behind (unless the warden itself is SIGKILLed).

Files: ``mkdtemp(prefix="nn-intro-")`` (root-owned, 0711) holds ``output.txt``
(0600; the child writes it through an inherited fd and cannot read, replace or
symlink it) and ``work/`` (``Sandbox.workdir``: the child's cwd/HOME/TMPDIR,
owned by the child's uid) and ``ext/`` (see _FdFinder).

Security notes:
* root mode (euid 0): the child drops to 'nobody' with no supplementary groups and
  PR_SET_NO_NEW_PRIVS, so it can write only into its work dir (and world-writable
  places such as /tmp, within RLIMIT_FSIZE per file).  It can still READ
  world-readable files.  Python directories that 'nobody' cannot reach (e.g. a
  pyenv under /root, mode 700) are served through directory fds opened before the
  switch (_FdFinder).  All sandboxes share the uid 'nobody': RLIMIT_NPROC counts
  the processes of all concurrent sandboxes together, and one student's code could
  signal another concurrent sandbox's processes.
* non-root mode: no uid switch; the student can write wherever the grader's user
  can and could signal the grader itself.  RLIMIT_NPROC is set to the user's
  current thread count + `processes`.
* the child is a fork: everything the forking process holds in memory (and the
  Python stack of the caller: e.g. a Grader and its reference answers) is readable
  by student code.  start_zygote(), called early (after prewarm(), before loading
  references or any student's data), makes every later sandbox fork from a clean
  copy of that early state instead.  Also: files that 'nobody' can read (solution
  notebooks, reference files with mode 644) are readable by student code.
* environment variables are reduced to PATH/LANG/LANGUAGE/LC_*/TZ/TERM and NN_INTRO_*
  (test hooks) plus the ones set here.

Debugging: NN_SANDBOX_DEBUG=/some/file makes a child that fails outside student
code append its traceback there (only while it can still write that file).
"""
from __future__ import annotations

import builtins
import ctypes
import faulthandler
import fcntl
import gc
import importlib.machinery
import importlib.util
import io
import linecache
import os
import pwd
import re
import resource
import select
import shutil
import signal
import socket
import stat
import struct
import sys
import tempfile
import time
import traceback
import types
import warnings
from dataclasses import dataclass, field, fields

import numpy as np

from . import wire

__all__ = ["Limits", "CellOutcome", "CallOutcome", "Sandbox", "SandboxError", "prewarm",
           "start_zygote", "stop_zygote"]

FRAME_MAX = 64 * 1024 * 1024        # one protocol frame (a call's value + echoed args)
FSIZE_MAX = 8 * 1024 * 1024         # RLIMIT_FSIZE of the child
_LEN = struct.Struct("<Q")
_STATUS = struct.Struct("<i")
_MSG_MAX = 300

# prctl options (linux/prctl.h)
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                            ctypes.c_ulong, ctypes.c_ulong]
except (OSError, AttributeError):      # not glibc/Linux: prctl calls become no-ops
    _libc = None


def _prctl(option: int, arg: int) -> bool:
    return _libc is not None and _libc.prctl(option, arg, 0, 0, 0) == 0


# References captured when this (harness) module is imported, i.e. before any
# student code: a student who monkeypatches warnings/numpy cannot hide warnings.
_w_mod = warnings
_w_simplefilter = warnings.simplefilter
_w_resetwarnings = warnings.resetwarnings
_w_formatwarning = warnings.formatwarning
_np_seterr = np.seterr
_perf = time.perf_counter


PREWARM_MODULES = (
    "numpy.random", "numpy.linalg", "numpy.fft", "secrets", "math", "cmath", "random",
    "statistics", "json", "decimal", "fractions", "itertools", "functools", "collections",
    "copy", "time", "datetime", "typing", "dataclasses", "string", "textwrap", "re",
    "operator", "heapq", "bisect", "csv", "pprint",
)


def prewarm(modules=PREWARM_MODULES, matplotlib: bool = False) -> None:
    """Import, in the parent, modules that student code is likely to import: every
    child then has them for free (shared by fork) instead of importing them itself
    (numpy.random alone costs ~10-20 ms per child).  matplotlib=True also imports
    matplotlib.pyplot with the Agg backend (~0.3 s once; saves that, and a font-cache
    build, in every child that plots).  Call it early, before loading anything secret."""
    import importlib
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if matplotlib:
        os.environ.setdefault("MPLBACKEND", "Agg")
        try:
            import matplotlib as mpl
            mpl.use("Agg")
            import matplotlib.pyplot  # noqa: F401
        except ImportError:
            pass


class SandboxError(RuntimeError):
    """The sandbox itself could not be started (not a student error)."""


@dataclass(frozen=True)
class Limits:
    check_timeout: float = 10.0     # default wall-clock budget of one call
    cell_timeout: float = 20.0      # wall-clock seconds for one cell
    notebook_cpu: int = 120         # RLIMIT_CPU of the child (seconds)
    notebook_memory_mb: int = 1536  # RLIMIT_AS of the child
    output_bytes: int = 20000       # captured stdout+stderr kept
    processes: int = 64             # RLIMIT_NPROC (root mode: of uid nobody)

    @classmethod
    def from_mapping(cls, d) -> "Limits":
        """From course.yaml's `limits:` mapping; unknown keys are ignored."""
        kw = {}
        for f in fields(cls):
            if d and f.name in d and d[f.name] is not None:
                conv = float if f.type in (float, "float") else int
                kw[f.name] = conv(d[f.name])
        return cls(**kw)


@dataclass
class CellOutcome:
    """status: "ok" | "syntax_error" | "error" | "timeout" | "crashed".
    message: "SyntaxError: invalid syntax (line 3)" (+ the offending line),
    "ZeroDivisionError: division by zero" (+ the last frame in a cell),
    "timed out after 20 s", "killed by signal SIGKILL (memory or CPU limit?)"..."""
    cell_id: str
    status: str
    message: str = ""


@dataclass
class CallOutcome:
    """status:
    "ok"          value is plain data (wire.decode of what the function returned)
    "error"       the call raised (any BaseException, incl. SystemExit); message is
                  "Type: text" plus the last frame inside a cell:
                  '  File "<cell sigmoid_answer>", line 3, in sigmoid' and its source line
    "timeout"     message "timed out after 10 s"; the child was killed
    "crashed"     the child died: "the process exited with status 3",
                  "killed by signal SIGKILL (memory or CPU limit?)", "... SIGXCPU ..."
    "bad_output"  the call returned but its value is not plain data: value is still
                  set, with wire.Unsupported markers where it could not be encoded
                  (a lambda -> Unsupported("function")), or the value was too large
                  (> 64 MiB), or the child sent a malformed reply (then it was killed)
    warnings: "Category: message" of the warnings raised during the call, deduplicated,
    at most 10.  args_after: (args, kwargs) after the call when echo_args=True.
    seconds: time of the call inside the child (wall time for timeout/crashed)."""
    status: str
    value: object = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    args_after: object = None
    seconds: float = 0.0


# ----------------------------------------------------------------------------
# small helpers shared by parent, warden and child

def _nobody() -> tuple[int, int]:
    try:
        pw = pwd.getpwnam("nobody")
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return 65534, 65534


def _close_fds_except(keep: set[int]) -> None:
    try:
        fds = [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        fds = range(3, 4096)
    for fd in fds:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _poll(read=(), write=(), timeout: float | None = None) -> set[int]:
    """fds that are ready (poll(2): no FD_SETSIZE limit, unlike select)."""
    p = select.poll()
    for fd in read:
        p.register(fd, select.POLLIN)
    for fd in write:
        p.register(fd, select.POLLOUT)
    ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
    return {fd for fd, _ in p.poll(ms)}


def _write_all(fd: int, data) -> None:
    mv = memoryview(data)
    while mv:
        n = os.write(fd, mv)
        mv = mv[n:]


def _read_exact(fd: int, n: int) -> bytes | None:
    parts, got = [], 0
    while got < n:
        b = os.read(fd, min(n - got, 1 << 20))
        if not b:
            return None
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def _describe_status(status: int | None, limits: Limits) -> str:
    if status is None:
        return "the process died"
    if os.WIFEXITED(status):
        return f"the process exited with status {os.WEXITSTATUS(status)}"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGXCPU:
            return (f"killed by signal SIGXCPU: the CPU time limit "
                    f"({limits.notebook_cpu} s for the notebook) was exceeded")
        if sig == signal.SIGKILL:
            return "killed by signal SIGKILL (memory or CPU limit?)"
        if sig == signal.SIGXFSZ:
            return "killed by signal SIGXFSZ (file size limit)"
        return f"killed by signal {name}"
    return f"the process ended (status {status})"


def _tname(obj) -> str:
    try:
        return type.__dict__["__name__"].__get__(type(obj))
    except Exception:
        return "object"


def _short(text: str, n: int = _MSG_MAX) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


_openblas_setter = None     # ctypes function, looked up once in the parent


def _find_openblas_setter():
    global _openblas_setter
    if _openblas_setter is not None:
        return _openblas_setter
    _openblas_setter = False
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
        for lib in sorted(libs):
            handle = ctypes.CDLL(lib)
            for sym in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                        "scipy_openblas_set_num_threads", "openblas_set_num_threads"):
                fn = getattr(handle, sym, None)
                if fn is not None:
                    fn.argtypes = [ctypes.c_int]
                    fn.restype = None
                    _openblas_setter = fn
                    return fn
    except Exception:
        pass
    return False


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


# ----------------------------------------------------------------------------
# warden

_HAVE_CHILDREN_FILE = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _descendants(root: int) -> list[int]:
    """Every process below root: /proc/<pid>/task/<tid>/children, else a /proc scan."""
    out: list[int] = []
    if _HAVE_CHILDREN_FILE:
        stack = [root]
        while stack:
            p = stack.pop()
            try:
                tids = os.listdir(f"/proc/{p}/task")
            except OSError:
                continue
            for t in tids:
                try:
                    with open(f"/proc/{p}/task/{t}/children", "rb") as f:
                        kids = [int(k) for k in f.read().split()]
                except (OSError, ValueError):
                    continue
                out.extend(kids)
                stack.extend(kids)
        return out
    parent_of: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    parent_of[int(name)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    kids_of: dict[int, list[int]] = {}
    for pid, ppid in parent_of.items():
        kids_of.setdefault(ppid, []).append(pid)
    stack = [root]
    while stack:
        for k in kids_of.get(stack.pop(), ()):
            out.append(k)
            stack.append(k)
    return out


def _reap_all() -> list[tuple[int, int]]:
    done = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done.append((pid, status))


class _Finish(Exception):
    pass


def _on_sigterm(signum, frame):
    raise _Finish()


def _kill_tree(child: int) -> None:
    """SIGKILL the child's process group and every descendant, until none is left."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.killpg(child, signal.SIGKILL)
    except OSError:
        pass
    me = os.getpid()
    deadline = time.monotonic() + 10.0
    pause = 0.0002
    while True:
        pids = _descendants(me)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        _reap_all()
        if not pids:
            try:
                os.waitpid(-1, os.WNOHANG)      # any child not seen in /proc yet?
            except ChildProcessError:
                return
        if time.monotonic() > deadline:
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.0005)


def _warden_main(parent_pid: int, ctl_r: int, st_w: int, child_args: tuple) -> None:
    gc.disable()
    gc.freeze()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        return
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    try:
        os.setpgid(0, 0)        # own group: the terminal's Ctrl-C is for the parent only
    except OSError:
        pass
    me = os.getpid()
    child = -1
    told_to_stop = False
    debug = os.environ.get("NN_SANDBOX_DEBUG")
    try:
        child = os.fork()
        if child == 0:
            code = 70
            try:
                _child_main(me, *child_args)
                code = 0
            except BaseException:
                if debug:
                    try:
                        with open(debug, "a") as f:
                            traceback.print_exc(file=f)
                    except OSError:
                        pass
            finally:
                os._exit(code)
        _close_fds_except({ctl_r, st_w})
        try:
            pidfd = os.pidfd_open(child)
        except (OSError, AttributeError):
            pidfd = None
        reported = False
        while True:
            watch = [ctl_r] + ([pidfd] if pidfd is not None and not reported else [])
            ready = _poll(watch, timeout=0.2 if pidfd is None else 5.0)
            for pid, status in _reap_all():
                if pid == child and not reported:
                    reported = True
                    try:
                        _write_all(st_w, _STATUS.pack(status))
                    except OSError:
                        pass
            if ctl_r in ready:
                data = os.read(ctl_r, 64)
                if b"K" in data:
                    told_to_stop = True     # the parent closes the sandbox and removes its folder
                    return
                if not data:
                    return
    except _Finish:
        return
    finally:
        if child > 0:
            _kill_tree(child)
        if not told_to_stop:
            # The parent died (or was killed): nobody else will remove the sandbox's folder.
            _rmtree(os.path.dirname(os.path.abspath(child_args[3])))


# ----------------------------------------------------------------------------
# imports after the uid switch

class _FdSourceLoader(importlib.machinery.SourceFileLoader):
    """Reads a module (and its cached bytecode) through a directory fd opened as root."""

    def __init__(self, fullname, path, finder):
        super().__init__(fullname, path)
        self._finder = finder

    def get_data(self, path):
        loc = self._finder.locate(path)
        if loc is None:
            return super().get_data(path)
        fd = os.open(loc[1], os.O_RDONLY, dir_fd=loc[0])
        try:
            with io.FileIO(fd, "rb", closefd=False) as f:
                return f.read()
        finally:
            os.close(fd)

    def path_stats(self, path):
        loc = self._finder.locate(path)
        if loc is None:
            return super().path_stats(path)
        st = os.stat(loc[1], dir_fd=loc[0])
        return {"mtime": st.st_mtime, "size": st.st_size}

    def set_data(self, path, data, *, _mode=0o666):
        pass                            # never write bytecode caches


class _FdFinder:
    """Last entry of sys.meta_path in a child that switched uid: finds modules under
    sys.path directories the new uid cannot reach (e.g. a Python installed under
    /root, mode 700) through directory fds opened before the switch.  Extension
    modules are copied to a directory the child owns and loaded from there."""

    def __init__(self, roots: dict[str, int], ext_dir: str):
        self.roots = roots
        self.ext_dir = ext_dir

    def locate(self, path: str):
        for root, fd in self.roots.items():
            if path == root:
                return fd, "."
            if path.startswith(root + "/"):
                return fd, path[len(root) + 1:]
        return None

    @staticmethod
    def _is_file(rel: str, fd: int) -> bool:
        try:
            return stat.S_ISREG(os.stat(rel, dir_fd=fd).st_mode)
        except OSError:
            return False

    def find_spec(self, fullname, path=None, target=None):
        last = fullname.rpartition(".")[2]
        for d in (list(self.roots) if path is None else list(path)):
            loc = self.locate(d) if isinstance(d, str) else None
            if loc is None:
                continue
            fd, rel = loc
            base = last if rel == "." else f"{rel}/{last}"
            if self._is_file(f"{base}/__init__.py", fd):
                origin = f"{d}/{last}/__init__.py"
                return importlib.util.spec_from_file_location(
                    fullname, origin, loader=_FdSourceLoader(fullname, origin, self),
                    submodule_search_locations=[f"{d}/{last}"])
            if self._is_file(f"{base}.py", fd):
                origin = f"{d}/{last}.py"
                return importlib.util.spec_from_file_location(
                    fullname, origin, loader=_FdSourceLoader(fullname, origin, self))
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                if self._is_file(base + suffix, fd):
                    copy = os.path.join(self.ext_dir, fullname + suffix)
                    if not os.path.exists(copy):
                        src = os.open(base + suffix, os.O_RDONLY, dir_fd=fd)
                        try:
                            with io.FileIO(src, "rb", closefd=False) as f, open(copy, "wb") as g:
                                shutil.copyfileobj(f, g)
                        finally:
                            os.close(src)
                    return importlib.util.spec_from_file_location(
                        fullname, copy,
                        loader=importlib.machinery.ExtensionFileLoader(fullname, copy))
        return None


def _open_path_dirs() -> dict[str, int]:
    """Before the uid switch: a directory fd for every sys.path directory."""
    fds = {}
    for p in sys.path:
        if isinstance(p, str) and os.path.isabs(p):
            p = os.path.normpath(p)
            if p not in fds:
                try:
                    fds[p] = os.open(p, os.O_RDONLY | os.O_DIRECTORY)
                except OSError:
                    pass
    return fds


def _install_fd_finder(fds: dict[str, int], ext_dir: str) -> None:
    """After the uid switch: keep the fds of the directories we can no longer reach."""
    roots = {}
    for p, fd in fds.items():
        if os.access(p, os.R_OK | os.X_OK):
            os.close(fd)
        else:
            roots[p] = fd
    if roots:
        sys.meta_path.append(_FdFinder(roots, ext_dir))


# ----------------------------------------------------------------------------
# child (the harness around student code)

_MAGIC_LINE = re.compile(r"^([ \t]*)((?:%|!(?!=)).*)$", re.M)


def _strip_magics(src: str) -> str:
    return _MAGIC_LINE.sub(lambda m: f"{m.group(1)}# {m.group(2)}", src)


def _describe_exc(e: BaseException) -> str:
    name = _tname(e)
    try:
        text = str(e)
    except BaseException:
        text = "<exception message could not be shown>"
    msg = _short(f"{name}: {text}" if text else name)
    try:
        frames = [fr for fr in traceback.extract_tb(e.__traceback__, limit=200)
                  if str(fr.filename).startswith("<cell ")]
    except BaseException:
        frames = []
    if frames:
        fr = frames[-1]
        msg += f'\n  File "{fr.filename}", line {fr.lineno}, in {_short(str(fr.name), 80)}'
        if fr.line:
            msg += "\n    " + _short(fr.line.strip(), 200)
    return msg


def _describe_syntax(e: SyntaxError) -> str:
    msg = _short(f"{_tname(e)}: {e.msg} (line {e.lineno})")
    if e.text:
        msg += "\n    " + _short(e.text.strip(), 200)
    return msg


class _Harness:
    def __init__(self, req_fd: int, rep_fd: int, out_fd: int, devnull: int,
                 limits: Limits):
        self.req_fd, self.rep_fd, self.out_fd, self.devnull = req_fd, rep_fd, out_fd, devnull
        self.limits = limits
        self.pid = os.getpid()
        self.keep_alive: list = []
        self.streams: tuple = ()
        self.module = types.ModuleType("__main__")
        self.module.__dict__["__builtins__"] = builtins
        self.ns = self.module.__dict__
        self.recorded: list[str] | None = None
        self.orig_showwarnmsg = self._print_warning

    # ---- streams
    def new_streams(self) -> None:
        """Once, at set-up: our own streams on fds 0-2 (the parent's objects are kept
        alive, never flushed or finalised here)."""
        self.keep_alive = [sys.stdin, sys.stdout, sys.stderr,
                           sys.__stdin__, sys.__stdout__, sys.__stderr__]
        self.streams = (
            io.open(0, "r", closefd=False, encoding="utf-8"),
            io.open(1, "w", buffering=1, closefd=False, encoding="utf-8",
                    errors="backslashreplace"),
            io.open(2, "w", buffering=1, closefd=False, encoding="utf-8",
                    errors="backslashreplace"))
        self.use_streams()

    def use_streams(self) -> None:
        sys.stdin, sys.stdout, sys.stderr = self.streams
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = self.streams

    def flush(self) -> None:
        for s in (sys.stdout, sys.stderr, *self.streams[1:]):
            try:
                s.flush()
            except BaseException:
                pass

    def prepare(self) -> None:
        """Before each cell/call: our streams back on fds 1/2, output file trimmed to
        the kept size (so each operation has the whole RLIMIT_FSIZE for its output)."""
        self.flush()
        try:
            if os.fstat(self.out_fd).st_size > self.limits.output_bytes + 1:
                os.ftruncate(self.out_fd, self.limits.output_bytes + 1)
        except OSError:
            pass
        os.dup2(self.out_fd, 1)
        os.dup2(self.out_fd, 2)
        self.use_streams()
        sys.modules["__main__"] = self.module
        sys.modules["warnings"] = _w_mod

    # ---- warnings
    def _print_warning(self, msg) -> None:
        try:
            sys.stderr.write(_w_formatwarning(msg.message, msg.category, msg.filename,
                                              msg.lineno, msg.line))
        except BaseException:
            pass

    def _record_warning(self, msg) -> None:
        rec = self.recorded
        if rec is None:
            return
        try:
            cat = msg.category
            name = cat.__name__ if isinstance(cat, type) else _tname(msg.message)
            text = _short(f"{name}: {msg.message}")
        except BaseException:
            text = "Warning: <message could not be shown>"
        if text not in rec and len(rec) < 10:
            rec.append(text)

    # ---- operations
    def run_cell(self, cell_id: str, src: str, quiet: bool) -> dict:
        self.prepare()
        if quiet:
            os.dup2(self.devnull, 1)
            os.dup2(self.devnull, 2)
        filename = f"<cell {cell_id}>"
        try:
            try:
                code = compile(src, filename, "exec", dont_inherit=True)
            except SyntaxError:
                src = _strip_magics(src)
                code = compile(src, filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as e:      # ValueError: null bytes
            linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
            msg = _describe_syntax(e) if isinstance(e, SyntaxError) else _describe_exc(e)
            return {"status": "syntax_error", "message": msg}
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        status, message = "ok", ""
        try:
            exec(code, self.ns)
        except BaseException as e:
            if os.getpid() != self.pid:
                os._exit(0)
            status, message = "error", _describe_exc(e)
        if os.getpid() != self.pid:         # a fork() of student code came back here
            os._exit(0)
        self.flush()
        return {"status": status, "message": message}

    def call(self, fn: str, args, kwargs, echo: bool) -> dict:
        self.prepare()
        missing = object()
        f = self.ns.get(fn, missing) if type(fn) is str else missing
        if f is missing:
            return {"status": "error", "message": f"NameError: name {fn!r} is not defined"}
        self.recorded = rec = []
        status, value, message = "ok", None, ""
        t0 = _perf()
        try:
            _w_resetwarnings()
            _w_simplefilter("always")
            _w_mod._showwarnmsg = self._record_warning
            _np_seterr(all="warn", under="ignore")   # as kernel.py's in-process caller
            value = f(*args, **kwargs)
        except BaseException as e:
            if os.getpid() != self.pid:
                os._exit(0)
            status, message = "error", _describe_exc(e)
        seconds = _perf() - t0
        if os.getpid() != self.pid:
            os._exit(0)
        self.recorded = None
        _w_mod._showwarnmsg = self.orig_showwarnmsg
        self.flush()
        return {"status": status, "value": value, "message": message, "warnings": rec,
                "seconds": seconds, "args_after": (args, kwargs) if echo else None}

    def reply(self, rep: dict) -> None:
        try:
            data = wire.encode(rep, max_bytes=FRAME_MAX - _LEN.size)
        except wire.TooLarge:
            data = wire.encode({"status": "bad_output", "seconds": rep.get("seconds", 0.0),
                                "message": f"the returned value is too large "
                                           f"(more than {FRAME_MAX >> 20} MiB)",
                                "warnings": rep.get("warnings", [])})
        _write_all(self.rep_fd, _LEN.pack(len(data)) + data)

    def loop(self) -> None:
        while True:
            head = _read_exact(self.req_fd, _LEN.size)
            if head is None:
                return
            body = _read_exact(self.req_fd, _LEN.unpack(head)[0])
            if body is None:
                return
            req = wire.decode(body, max_bytes=FRAME_MAX)
            op = req["op"]
            if op == "cell":
                rep = self.run_cell(req["id"], req["src"], req["quiet"])
            elif op == "call":
                rep = self.call(req["fn"], req["args"], req["kwargs"], req["echo"])
            else:
                return
            self.reply(rep)


def _child_env() -> dict[str, str]:
    """In the parent: the variables a child keeps (plus HOME, TMPDIR... set there)."""
    return {k: v for k, v in os.environ.items()
            if k in ("PATH", "LANG", "LANGUAGE", "TZ", "TERM")
            or k.startswith(("LC_", "NN_INTRO_"))}


def _child_main(warden_pid: int, req_fd: int, rep_fd: int, out_fd: int, workdir: str,
                ext_dir: str, limits: Limits, ident: tuple[int, int] | None,
                nproc: int | None, env: dict[str, str]) -> None:
    gc.freeze()                         # the parent's objects: never collected/finalised here
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != warden_pid:
        return
    os.setsid()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                signal.SIGUSR2, signal.SIGALRM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    sys.settrace(None)
    sys.setprofile(None)
    if faulthandler.is_enabled():
        faulthandler.disable()

    # (a zygote closed its fds 0-2, so ours may have low numbers: move them up first)
    req_fd, rep_fd, out_fd = (fd if fd > 2 else fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
                              for fd in (req_fd, rep_fd, out_fd))
    fd = os.open("/dev/null", os.O_RDWR)
    os.dup2(fd, 0)
    os.close(fd)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    devnull = os.dup(0)
    _close_fds_except({0, 1, 2, req_fd, rep_fd, out_fd, devnull})
    harness = _Harness(req_fd, rep_fd, out_fd, devnull, limits)
    harness.new_streams()
    if "logging" in sys.modules:
        import logging
        for lg in [logging.root, *logging.Logger.manager.loggerDict.values()]:
            if isinstance(lg, logging.Logger):
                lg.handlers = []

    os.environ.clear()
    os.environ.update(env)
    os.environ.update(HOME=workdir, TMPDIR=workdir, MPLCONFIGDIR=workdir, MPLBACKEND="Agg",
                      OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                      PYTHONHASHSEED="0")
    tempfile.tempdir = workdir
    os.chdir(workdir)
    if sys.path and sys.path[0] != "":
        sys.path.insert(0, "")
    try:
        with open("/proc/self/oom_score_adj", "w") as f:     # the OOM killer takes us first
            f.write("1000")
    except OSError:
        pass
    _w_resetwarnings()
    _w_simplefilter("default")
    _w_mod._showwarnmsg = harness.orig_showwarnmsg

    error = ""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_MAX, FSIZE_MAX))
        cpu = max(1, int(limits.notebook_cpu))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        if nproc is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        if ident is not None:
            uid, gid = ident
            path_fds = _open_path_dirs()
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            if os.getuid() != uid or os.geteuid() != uid or os.getgid() != gid:
                raise OSError("uid switch did not take effect")
            # a credential change clears PDEATHSIG: set it again
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != warden_pid:
                return
            if not os.access(workdir, os.R_OK | os.W_OK | os.X_OK):
                raise OSError(f"uid {uid} cannot reach the work dir {workdir} (check TMPDIR)")
            _install_fd_finder(path_fds, ext_dir)
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        if _openblas_setter:           # after the uid switch: it may start a thread
            _openblas_setter(1)
        mem = int(limits.notebook_memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    except Exception as e:
        error = f"sandbox set-up failed: {type(e).__name__}: {e}"
    harness.reply({"op": "hello", "pid": os.getpid(), "uid": os.getuid(), "error": error})
    if error:
        return
    harness.loop()


# ----------------------------------------------------------------------------
# parent side

# ----------------------------------------------------------------------------
# zygote: a clean process to fork wardens from

class _Zygote:
    """Parent side of the zygote: a process forked early (before the grader loads
    reference answers or other students' data) that forks the wardens on request, so
    that a child's memory is a copy of that clean early state, not of the caller's.
    Requests are datagrams on a SOCK_SEQPACKET socket carrying the pipe fds
    (SCM_RIGHTS) and a wire-encoded config; each brings its own reply pipe, so
    processes forked from the creator (pool workers) can share the zygote."""

    def __init__(self):
        _find_openblas_setter()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        creator = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                _zygote_main(theirs.fileno(), creator)
            finally:
                os._exit(0)
        theirs.close()
        self.pid, self.sock, self.creator = pid, ours, creator
        self.pidfd = os.pidfd_open(pid)

    def alive(self) -> bool:
        return not _poll([self.pidfd], timeout=0)

    def spawn(self, fds: list[int], cfg: dict) -> int:
        r, w = os.pipe()
        try:
            try:
                socket.send_fds(self.sock, [wire.encode(cfg)], [*fds, w])
            except OSError as e:
                raise SandboxError(f"the sandbox zygote is gone ({e})") from None
            os.close(w)
            w = -1
            data = os.read(r, _STATUS.size) if _poll([r], timeout=30.0) else b""
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)
        pid = _STATUS.unpack(data)[0] if len(data) == _STATUS.size else -1
        if pid <= 0:
            raise SandboxError("the sandbox zygote could not fork a warden")
        return pid

    def close(self) -> None:
        self.sock.close()
        if os.getpid() == self.creator:      # its parent: reap it
            if not _poll([self.pidfd], timeout=5.0):
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        os.close(self.pidfd)


def _zygote_main(sock_fd: int, creator: int) -> None:
    gc.freeze()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)     # dies with its creator; then each
    if os.getppid() != creator:                   # warden cleans up (its PDEATHSIG)
        return
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    _close_fds_except({sock_fd})
    for target in (0, 1, 2):                      # keep 0-2 taken by /dev/null
        if target == sock_fd:
            continue
        fd = os.open("/dev/null", os.O_RDWR)
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)
    sock = socket.socket(fileno=sock_fd)
    me = os.getpid()
    wardens: dict[int, int] = {}                  # pidfd -> pid
    while True:
        ready = _poll([sock_fd, *wardens])
        for pfd in [p for p in wardens if p in ready]:
            try:
                os.waitpid(wardens.pop(pfd), 0)
            except ChildProcessError:
                pass
            os.close(pfd)
        if sock_fd not in ready:
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1 << 16, 8)
        except OSError:
            return
        if not msg and not fds:
            return                                # every holder closed the socket
        pid = -1
        try:
            cfg = wire.decode(msg)
            ctl_r, st_w, req_r, rep_w, out_fd, reply_w = fds
            lim = Limits(**cfg["limits"])
            ident = tuple(cfg["ident"]) if cfg["ident"] is not None else None
            child_args = (req_r, rep_w, out_fd, cfg["workdir"], cfg["ext_dir"], lim,
                          ident, cfg["nproc"], cfg["env"])
            pid = os.fork()
            if pid == 0:
                try:
                    _warden_main(me, ctl_r, st_w, child_args)
                finally:
                    os._exit(0)
            wardens[os.pidfd_open(pid)] = pid
        except Exception:
            pass
        finally:
            if os.getpid() == me:
                if len(fds) == 6:
                    try:
                        os.write(fds[5], _STATUS.pack(pid))
                    except OSError:
                        pass
                for fd in fds:
                    os.close(fd)


_zygote: _Zygote | None = None


def start_zygote() -> None:
    """Fork, now, the clean process that all later sandboxes (of this process and of
    processes forked from it) are forked from.  Call it early: after imports and
    prewarm(), BEFORE loading reference answers, solutions or any student's data,
    from the main thread.  Without it each sandbox is forked from its caller, whose
    whole memory (and Python stack) the student code can then read.  Idempotent;
    needs Linux >= 5.3 (pidfd)."""
    global _zygote
    if _zygote is not None and _zygote.alive():
        return
    if not hasattr(os, "pidfd_open"):
        raise SandboxError("start_zygote needs os.pidfd_open (Python >= 3.9, Linux >= 5.3)")
    _zygote = _Zygote()


def stop_zygote() -> None:
    """Close this process's link to the zygote (it exits once no process holds one).
    Running sandboxes are not affected."""
    global _zygote
    if _zygote is not None:
        z, _zygote = _zygote, None
        z.close()


class _Proc:
    """One warden + child pair as seen from the parent."""

    def __init__(self, warden: int, ctl_w: int, st_r: int, req_w: int, rep_r: int):
        self.warden, self.ctl_w, self.st_r, self.req_w, self.rep_r = warden, ctl_w, st_r, req_w, rep_r
        try:
            self.pidfd = os.pidfd_open(warden)
        except (OSError, AttributeError):
            self.pidfd = None
        self.child = -1
        self.buf = bytearray()
        self.status: int | None = None
        self.status_known = False

    def dead(self) -> bool:
        """Cheap check between operations: did the child or the warden die?"""
        watch = [self.st_r] + ([self.pidfd] if self.pidfd is not None else [])
        return bool(_poll(watch, timeout=0))

    def read_status(self, wait: float) -> None:
        if self.status_known:
            return
        if _poll([self.st_r], timeout=wait):
            data = os.read(self.st_r, _STATUS.size)
            if len(data) == _STATUS.size:
                self.status = _STATUS.unpack(data)[0]
        self.status_known = True

    def stop(self) -> None:
        try:
            os.write(self.ctl_w, b"K")
        except OSError:
            pass
        os.close(self.ctl_w)
        exited = False
        if self.pidfd is not None:
            exited = bool(_poll([self.pidfd], timeout=15.0))
        else:
            end = time.monotonic() + 15.0
            while time.monotonic() < end:
                if os.waitpid(self.warden, os.WNOHANG)[0]:
                    exited = True
                    break
                time.sleep(0.001)
        if not exited:                  # warden stuck: last resort, no subtree walk
            for kill in (lambda: os.kill(self.warden, signal.SIGKILL),
                         lambda: self.child > 0 and os.killpg(self.child, signal.SIGKILL)):
                try:
                    kill()
                except OSError:
                    pass
        try:
            os.waitpid(self.warden, 0)
        except ChildProcessError:
            pass
        for fd in (self.st_r, self.req_w, self.rep_r, self.pidfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


_Result = tuple  # ("reply", dict) | ("timeout", "") | ("crashed", msg) | ("bad_output", msg)


class Sandbox:
    """One student's notebook namespace in a forked, limited child process.

    The child starts in __init__ (a few ms).  run_cells() executes cells in order in
    one namespace (a fresh module '__main__'), compiled with filename "<cell ID>";
    a cell that does not compile is retried with IPython lines (% or ! after
    whitespace) commented out.  A timeout or crash costs only that cell/call: the
    next operation starts a new child and silently replays the cells that were ok
    (their output is not captured again); `restarts` counts those starts and
    `replay_failures` lists replayed cells that did not come out ok.
    `workdir` is the child's cwd; output() is its captured stdout+stderr.

    Not thread-safe: use one Sandbox from one thread at a time.  Create it in a
    thread that outlives it (the warden's PDEATHSIG fires when the creating THREAD
    exits; the next operation would then transparently restart the child).
    Arguments larger than 64 MiB raise wire.TooLarge.
    """

    def __init__(self, limits: Limits = Limits(), label: str = "sandbox"):
        self.limits = limits
        self.label = label
        self._owner = os.getpid()
        self._closed = False
        self._proc: _Proc | None = None
        self._starts = 0
        self._cells: list[list] = []          # [cell_id, source, ok]
        self.replay_failures: list[CellOutcome] = []
        self._final_output: tuple[str, bool] | None = None
        self._out_fd = -1
        self._root = tempfile.mkdtemp(prefix="nn-intro-")
        try:
            os.chmod(self._root, 0o711)
            self.workdir = os.path.join(self._root, "work")
            os.mkdir(self.workdir, 0o700)
            self._ext_dir = os.path.join(self._root, "ext")     # see _FdFinder
            os.mkdir(self._ext_dir, 0o700)
            if os.geteuid() == 0:
                self._ident: tuple[int, int] | None = _nobody()
                os.chown(self.workdir, *self._ident)
                os.chown(self._ext_dir, *self._ident)
                self._nproc: int | None = int(limits.processes)
            else:
                self._ident = None
                self._nproc = _user_threads(os.getuid()) + int(limits.processes)
            self._out_fd = os.open(os.path.join(self._root, "output.txt"),
                                   os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            _find_openblas_setter()
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
                    out = CellOutcome(cell_id, status, str(rep.get("message", "")))
            elif kind == "timeout":
                out = CellOutcome(cell_id, "timeout",
                                  f"timed out after {self.limits.cell_timeout:g} s")
            else:
                out = CellOutcome(cell_id, "crashed", rep)
            self._cells.append([cell_id, src, out.status == "ok"])
            outcomes.append(out)
        return outcomes

    def call(self, function: str, args: tuple = (), kwargs: dict | None = None, *,
             timeout: float | None = None, echo_args: bool = False) -> CallOutcome:
        self._check_open()
        timeout = self.limits.check_timeout if timeout is None else float(timeout)
        req = {"op": "call", "fn": str(function), "args": tuple(args),
               "kwargs": dict(kwargs or {}), "echo": bool(echo_args)}
        t0 = time.monotonic()
        kind, rep = self._op(req, timeout)
        elapsed = time.monotonic() - t0
        if kind == "timeout":
            return CallOutcome("timeout", message=f"timed out after {timeout:g} s", seconds=elapsed)
        if kind != "reply":
            return CallOutcome(kind, message=rep, seconds=elapsed)
        try:
            status = rep["status"]
            out = CallOutcome(status, rep.get("value"), str(rep.get("message", "")),
                              [str(w) for w in rep.get("warnings", [])][:10],
                              rep.get("args_after"), float(rep.get("seconds", elapsed)))
            if status not in ("ok", "error", "bad_output"):
                raise ValueError(status)
        except Exception:
            return CallOutcome("bad_output", message="the sandbox sent a malformed reply",
                               seconds=elapsed)
        if out.status == "ok":
            bad = _find_unsupported(out.value, 0)
            if bad is not None:
                out.status = "bad_output"
                out.message = (f"the function returned {bad.type_name}, which is not plain data"
                               if bad is out.value else
                               f"the returned value contains {bad.type_name}, "
                               f"which is not plain data")
        return out

    def output(self) -> tuple[str, bool]:
        if self._final_output is not None:
            return self._final_output
        if self._out_fd < 0:
            return "", False
        n = self.limits.output_bytes
        size = os.fstat(self._out_fd).st_size
        data = os.pread(self._out_fd, n, 0)
        return data.decode("utf-8", "replace"), size > n

    def close(self) -> None:
        if self._closed or os.getpid() != self._owner:
            return
        self._closed = True
        try:
            if self._proc is not None:
                proc, self._proc = self._proc, None
                proc.stop()
        finally:
            try:
                if self._out_fd >= 0:
                    self._final_output = self.output()
                    os.close(self._out_fd)
                    self._out_fd = -1
            finally:
                _rmtree(self._root)

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
        parent = os.getpid()
        env = _child_env()
        try:
            if _zygote is not None:
                if not _zygote.alive():
                    raise SandboxError("the sandbox zygote is gone")
                pid = _zygote.spawn(
                    [ctl_r, st_w, req_r, rep_w, self._out_fd],
                    {"workdir": self.workdir, "ext_dir": self._ext_dir, "ident": self._ident,
                     "nproc": self._nproc, "env": env,
                     "limits": {f.name: getattr(self.limits, f.name) for f in fields(Limits)}})
            else:
                pid = os.fork()
        except (OSError, SandboxError) as e:
            for fd in (ctl_r, ctl_w, st_r, st_w, req_r, req_w, rep_r, rep_w):
                os.close(fd)
            raise SandboxError(f"{self.label}: cannot start: {e}") from None
        if pid == 0:
            try:
                _warden_main(parent, ctl_r, st_w,
                             (req_r, rep_w, self._out_fd, self.workdir, self._ext_dir,
                              self.limits, self._ident, self._nproc, env))
            finally:
                os._exit(0)
        for fd in (ctl_r, st_w, req_r, rep_w):
            os.close(fd)
        proc = _Proc(pid, ctl_w, st_r, req_w, rep_r)
        os.set_blocking(req_w, False)
        self._proc = proc
        self._starts += 1
        kind, hello = self._receive(proc, time.monotonic() + 30.0)
        if kind != "reply" or not isinstance(hello, dict) or hello.get("error") \
                or hello.get("op") != "hello":
            self._kill()
            why = hello.get("error") if isinstance(hello, dict) else hello
            raise SandboxError(f"{self.label}: the sandbox did not start: {why or kind}")
        proc.child = int(hello["pid"])

    def _kill(self) -> None:
        if self._proc is not None:
            proc, self._proc = self._proc, None
            proc.stop()

    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.dead():
            self._kill()
        if self._proc is None:
            self.replay_failures = []
        while self._proc is None:
            self._spawn()
            for cell in self._cells:
                if not cell[2]:
                    continue
                kind, rep = self._exchange({"op": "cell", "id": cell[0], "src": cell[1],
                                            "quiet": True}, self.limits.cell_timeout)
                if kind == "reply":
                    if isinstance(rep, dict) and rep.get("status") != "ok":
                        self.replay_failures.append(
                            CellOutcome(cell[0], str(rep.get("status")), str(rep.get("message", ""))))
                    continue
                # the replay itself timed out or crashed: never replay that cell again
                cell[2] = False
                self.replay_failures.append(CellOutcome(
                    cell[0], "timeout" if kind == "timeout" else "crashed",
                    "on replay: " + (rep or "timed out")))
                self._kill()
                break

    def _op(self, req: dict, timeout: float) -> _Result:
        self._ensure_started()
        return self._exchange(req, timeout)

    def _exchange(self, req: dict, timeout: float) -> _Result:
        proc = self._proc
        data = wire.encode(req, max_bytes=FRAME_MAX - _LEN.size)
        deadline = time.monotonic() + timeout
        result = self._send(proc, _LEN.pack(len(data)) + data, deadline)
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
            w = _poll(write=[proc.req_w], timeout=remaining)
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
        while True:
            buf = proc.buf
            if len(buf) >= _LEN.size:
                n = _LEN.unpack_from(buf)[0]
                if n > FRAME_MAX:
                    return ("bad_output", f"the sandbox sent an oversized frame ({n} bytes)")
                if len(buf) >= _LEN.size + n:
                    body = bytes(buf[_LEN.size:_LEN.size + n])
                    del buf[:_LEN.size + n]
                    try:
                        return ("reply", wire.decode(body, max_bytes=FRAME_MAX))
                    except wire.WireError as e:
                        return ("bad_output", f"the sandbox sent malformed data ({e})")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return ("timeout", "")
            ready = _poll([proc.rep_r, proc.st_r], timeout=remaining)
            if proc.rep_r in ready:
                chunk = os.read(proc.rep_r, 1 << 20)
                if chunk:
                    buf += chunk
                    continue
                return self._died(proc)          # EOF
            if proc.st_r in ready:
                # the child died; a reply it wrote before dying is still in the pipe
                if _poll([proc.rep_r], timeout=0):
                    continue
                return self._died(proc)

    def _died(self, proc: _Proc) -> _Result:
        proc.read_status(1.0)
        return ("crashed", _describe_status(proc.status, self.limits))


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


def _rmtree(path: str) -> None:
    root = os.path.abspath(path)

    def onerror(func, p, exc):
        # Only ever touch what lies strictly inside the sandbox's own folder: chmod-ing the
        # parent of the root itself (the system temp folder) would be a disaster.
        if not os.path.abspath(p).startswith(root + os.sep):
            return
        try:                            # non-root: a student may have chmod'ed dirs to 000
            os.chmod(os.path.dirname(p), stat.S_IRWXU)
            os.chmod(p, stat.S_IRWXU)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        except OSError:
            pass
    try:
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=onerror)
        else:
            shutil.rmtree(path, onerror=onerror)
    except OSError:
        pass
