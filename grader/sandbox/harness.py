"""The harness around student code, in the sandbox's child process: runs cells in one
namespace, calls functions, captures output and warnings, replies with plain data.
`run()` is the child's whole life once its warden has isolated it."""
from __future__ import annotations

import builtins
import faulthandler
import fcntl
import gc
import io
import linecache
import os
import re
import resource
import signal
import sys
import tempfile
import time
import traceback
import types
import warnings

import numpy as np

from .. import wire
from . import attempts, framing, landlock, seccomp
from .imports import install_fd_finder, open_path_dirs     # imported here, not per child
from .limits import REPLY_MAX, REQUEST_MAX, FSIZE_MAX, Limits
from .posix import PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, close_fds_except, drop_capabilities, \
    effective_capabilities, find_openblas_setter, prctl, write_all

_MSG_MAX = 300

# References captured when this (harness) module is imported, i.e. before any
# student code: a student who monkeypatches warnings/numpy cannot hide warnings.
_w_mod = warnings
_w_simplefilter = warnings.simplefilter
_w_resetwarnings = warnings.resetwarnings
_w_formatwarning = warnings.formatwarning
_np_seterr = np.seterr
_perf = time.perf_counter


def _tname(obj) -> str:
    try:
        return type.__dict__["__name__"].__get__(type(obj))
    except Exception:
        return "object"


def _short(text: str, n: int = _MSG_MAX) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


_MAGIC_LINE = re.compile(r"^([ \t]*)((?:%|!(?!=)).*)$", re.M)


def strip_magics(src: str) -> str:
    return _MAGIC_LINE.sub(lambda m: f"{m.group(1)}# {m.group(2)}", src)


def _in_cell(frame) -> bool:
    return str(frame.filename).startswith("<cell ")


def describe_exception(e: BaseException, student_frame=_in_cell) -> str:
    """"Type: text" plus the last frame of student code (`student_frame(frame)`) and its
    line: the words every runner uses for a student's exception (grader.runners)."""
    name = _tname(e)
    try:
        text = str(e)
    except BaseException:
        text = "<exception message could not be shown>"
    msg = _short(f"{name}: {text}" if text else name)
    try:
        frames = [fr for fr in traceback.extract_tb(e.__traceback__, limit=200) if student_frame(fr)]
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
        self.attempts: attempts.Recorder | None = None     # installed once set-up is done
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
                src = strip_magics(src)
                code = compile(src, filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as e:      # ValueError: null bytes
            linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
            msg = _describe_syntax(e) if isinstance(e, SyntaxError) else describe_exception(e)
            return {"status": "syntax_error", "message": msg}
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        status, message = "ok", ""
        try:
            exec(code, self.ns)
        except BaseException as e:
            if os.getpid() != self.pid:
                os._exit(0)
            status, message = "error", describe_exception(e)
        if os.getpid() != self.pid:         # a fork() of student code came back here
            os._exit(0)
        self.flush()
        return {"status": status, "message": message, "attempts": self.take_attempts()}

    def take_attempts(self) -> list[list]:
        return self.attempts.take() if self.attempts is not None else []

    def standins(self, spec) -> dict:
        """{name: function} from the grader's stand-in source, run in a namespace of its
        own (numpy and builtins only: nothing of the student's)."""
        src, names = spec["source"], spec["names"]
        if type(src) is not str or type(names) not in (list, tuple):
            raise TypeError("malformed stand-in request")
        private = {"__builtins__": builtins, "np": np, "__name__": "grader_standins"}
        exec(compile(src, "<grader stand-in>", "exec", dont_inherit=True), private)
        return {name: private[name] for name in names if type(name) is str and name in private}

    def call(self, fn: str, args, kwargs, echo: bool, standins=None) -> dict:
        self.prepare()
        missing = object()
        f = self.ns.get(fn, missing) if type(fn) is str else missing
        if f is missing:
            return {"status": "error", "message": f"NameError: name {fn!r} is not defined"}
        # Stand-ins replace the student's broken helpers in the namespace the function
        # reads its globals from, for this one call only; the student's own objects are
        # put back afterwards, whatever the call did to those names.
        swapped = {}
        if standins:
            try:
                for name, stand_in in self.standins(standins).items():
                    swapped[name] = self.ns.get(name, missing)
                    self.ns[name] = stand_in
            except Exception as e:
                for name, old in swapped.items():
                    self.ns[name] = old
                return {"status": "error", "message": f"grader stand-ins failed: {describe_exception(e)}"}
        self.recorded = rec = []
        status, value, message = "ok", None, ""
        t0 = _perf()
        try:
            _w_resetwarnings()
            _w_simplefilter("always")
            _w_mod._showwarnmsg = self._record_warning
            _np_seterr(all="warn", under="ignore")   # as kernel.py's in-process caller
            if self.attempts is not None:
                self.attempts.called = True      # for good: see attempts.Recorder
            value = f(*args, **kwargs)
        except BaseException as e:
            if os.getpid() != self.pid:
                os._exit(0)
            status, message = "error", describe_exception(e)
        seconds = _perf() - t0
        if os.getpid() != self.pid:
            os._exit(0)
        for name, old in swapped.items():
            if old is missing:
                self.ns.pop(name, None)
            else:
                self.ns[name] = old
        self.recorded = None
        _w_mod._showwarnmsg = self.orig_showwarnmsg
        self.flush()
        return {"status": status, "value": value, "message": message, "warnings": rec,
                "seconds": seconds, "args_after": (args, kwargs) if echo else None,
                "attempts": self.take_attempts()}

    def reply(self, rep: dict) -> None:
        try:
            data = framing.encode(rep, REPLY_MAX)
        except wire.TooLarge:
            data = framing.encode({"status": "bad_output", "seconds": rep.get("seconds", 0.0),
                                   "message": f"the returned value is too large "
                                              f"(more than {REPLY_MAX >> 20} MiB)",
                                   "warnings": rep.get("warnings", [])}, REPLY_MAX)
        write_all(self.rep_fd, data)

    def loop(self) -> None:
        while True:
            req = framing.receive_blocking(self.req_fd, REQUEST_MAX)
            if req is None:
                return
            op = req["op"]
            if op == "cell":
                rep = self.run_cell(req["id"], req["src"], req["quiet"])
            elif op == "call":
                rep = self.call(req["fn"], req["args"], req["kwargs"], req["echo"],
                                req.get("standins"))
            else:
                return
            self.reply(rep)


def run(cfg: dict, req_fd: int, rep_fd: int, out_fd: int, parent_pid: int) -> None:
    """The child: from a fork of its warden to the end of the notebook.  cfg is the
    ChildConfig dict (see client.child_config); by now the warden has put the process
    in its namespaces (namespaces mode) and chosen its uid (root modes)."""
    limits = Limits(**cfg["limits"])
    workdir = cfg["workdir"]
    gc.freeze()                         # the parent's objects: never collected/finalised here
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
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
    if fd != 0:
        os.dup2(fd, 0)
        os.close(fd)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    devnull = os.dup(0)
    close_fds_except({0, 1, 2, req_fd, rep_fd, out_fd, devnull})
    harness = _Harness(req_fd, rep_fd, out_fd, devnull, limits)
    harness.new_streams()
    if "logging" in sys.modules:
        import logging
        for lg in [logging.root, *logging.Logger.manager.loggerDict.values()]:
            if isinstance(lg, logging.Logger):
                lg.handlers = []

    os.environ.clear()
    os.environ.update(cfg["env"])
    os.environ.update(HOME=workdir, TMPDIR=workdir, MPLCONFIGDIR=workdir, MPLBACKEND="Agg",
                      OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                      PYTHONHASHSEED="0")
    tempfile.tempdir = workdir
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
        if cfg["nproc"] is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (cfg["nproc"], cfg["nproc"]))
        ruleset = -1
        if cfg["mode"] == "uid" and cfg.get("landlock"):
            ll = cfg["landlock"]
            ruleset = landlock.prepare(ll["read"], [workdir, cfg["ext_dir"]], ll["devices"])
        ident = cfg.get("ident")
        if ident is not None:
            uid, gid = ident
            path_fds = open_path_dirs() if cfg["mode"] == "uid" else {}
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            if os.getuid() != uid or os.geteuid() != uid or os.getgid() != gid:
                raise OSError("uid switch did not take effect")
            # a credential change clears PDEATHSIG: set it again
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent_pid:
                return
            if path_fds:
                install_fd_finder(path_fds, cfg["ext_dir"])
        os.chdir(workdir)
        if not os.access(workdir, os.R_OK | os.W_OK | os.X_OK):
            raise OSError(f"uid {os.getuid()} cannot reach the work dir {workdir} (check TMPDIR)")
        if cfg["mode"] != "none":
            drop_capabilities()
            if effective_capabilities() != 0:
                raise OSError("capabilities could not be dropped")
            prctl(PR_SET_NO_NEW_PRIVS, 1)
            if ruleset >= 0:
                landlock.enforce(ruleset)
            seccomp.install()
        else:
            prctl(PR_SET_NO_NEW_PRIVS, 1)
        setter = find_openblas_setter()
        if setter:                     # after the uid switch: it may start a thread
            setter(1)
        mem = int(limits.notebook_memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    except Exception as e:
        error = f"sandbox set-up failed: {type(e).__name__}: {e}"
    if not error:
        try:        # where a notebook may write: its work dir (TMPDIR), in namespaces its private tmpfs
            private = ["/tmp", "/var/tmp", "/dev/shm"] if cfg["mode"] == "namespaces" else []
            ext = [cfg["ext_dir"]] if cfg.get("ext_dir") else []    # imports._FdFinder copies into it
            harness.attempts = attempts.install([workdir, *ext, *private])
        except Exception as e:
            error = f"sandbox set-up failed: {type(e).__name__}: {e}"
    harness.reply({"op": "hello", "pid": os.getpid(), "uid": os.getuid(), "error": error})
    if error:
        return
    harness.loop()
