"""The zygote: a clean, pre-warmed process that forks one warden per notebook.

namespaces mode: the zygote is a new Python process started inside bubblewrap
(isolation.bwrap_command): it sees only the Python runtime, read-only, and has no
network; it never held a reference value, a solution or another student's data,
because it was never a fork of the grader.  uid and none modes: it is a fork of the
caller made early (before references are loaded), as it was before namespaces.

Requests are datagrams on a SOCK_SEQPACKET socket carrying the pipe fds (SCM_RIGHTS)
and a wire-encoded ChildConfig; each brings its own reply pipe, so processes forked
from the creator (pool workers) can share the zygote."""
from __future__ import annotations

import atexit
import gc
import os
import signal
import socket
import struct
import subprocess
import sys

from .. import wire
from . import isolation, warden
from .limits import Limits
from .outcomes import SandboxError
from .posix import PR_SET_DUMPABLE, PR_SET_PDEATHSIG, close_fds_except, find_openblas_setter, \
    poll, prctl

_PID = struct.Struct("<i")
FD_NAMES = ("ctl_r", "st_w", "req_r", "rep_w", "out", "reply_w", "lock")

PREWARM_MODULES = (
    "numpy.random", "numpy.linalg", "numpy.fft", "secrets", "math", "cmath", "random",
    "statistics", "json", "decimal", "fractions", "itertools", "functools", "collections",
    "copy", "time", "datetime", "typing", "dataclasses", "string", "textwrap", "re",
    "operator", "heapq", "bisect", "csv", "pprint",
)


def prewarm(modules=PREWARM_MODULES) -> None:
    """Import modules that student code is likely to import: every child then has them
    for free (shared by fork) instead of importing them itself (numpy.random alone
    costs ~10-20 ms per child)."""
    import importlib
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


class Zygote:
    """The parent's handle on a zygote."""

    def __init__(self, mode: str):
        self.mode = mode
        find_openblas_setter()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.creator = os.getpid()
        self.proc = None
        if mode == "namespaces":
            cmd = isolation.bwrap_command(
                ["-I", "-B", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                       "from grader.sandbox.zygote import serve; serve(int(sys.argv[2]))",
                 isolation.HARNESS, str(theirs.fileno())])
            try:
                self.proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], env=isolation.zygote_env(),
                                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.PIPE, start_new_session=True)
            except OSError as e:
                ours.close()
                theirs.close()
                raise SandboxError(f"cannot start bubblewrap: {e}") from None
            self.pid = self.proc.pid
        else:
            pid = os.fork()
            if pid == 0:
                try:
                    ours.close()
                    _serve_forked(theirs.fileno(), self.creator)
                finally:
                    os._exit(0)
            self.pid = pid
        theirs.close()
        self.sock = ours
        self.pidfd = os.pidfd_open(self.pid)
        if mode == "namespaces":
            self._await_ready()

    def _await_ready(self) -> None:
        """The exec'd zygote says b"R" once it has imported what it needs."""
        ready = poll([self.sock.fileno(), self.pidfd], timeout=60.0)
        msg = b""
        if self.sock.fileno() in ready:
            try:
                msg = self.sock.recv(16)
            except OSError:
                msg = b""
        if msg != b"R":
            err = b""
            try:
                self.proc.kill()
                _, err = self.proc.communicate(timeout=5)
            except Exception:
                pass
            line = (err or b"").decode("utf-8", "replace").strip().splitlines()
            self.close()
            raise SandboxError("the sandbox did not start" + (f": {line[-1]}" if line else ""))
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def alive(self) -> bool:
        return not poll([self.pidfd], timeout=0)

    def spawn(self, fds: list[int], cfg: dict) -> int:
        r, w = os.pipe()
        try:
            try:
                socket.send_fds(self.sock, [wire.encode(cfg)], [*fds[:5], w, *fds[5:]])
            except OSError as e:
                raise SandboxError(f"the sandbox zygote is gone ({e})") from None
            os.close(w)
            w = -1
            data = os.read(r, _PID.size) if poll([r], timeout=30.0) else b""
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)
        pid = _PID.unpack(data)[0] if len(data) == _PID.size else -1
        if pid <= 0:
            raise SandboxError("the sandbox zygote could not fork a warden")
        return pid

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        if os.getpid() == self.creator:      # its parent: reap it
            if not poll([self.pidfd], timeout=5.0):
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            if self.proc is not None:
                self.proc.returncode = 0
        os.close(self.pidfd)


def _zygote_setup(sock_fd: int) -> None:
    gc.freeze()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    prctl(PR_SET_DUMPABLE, 0)
    close_fds_except({sock_fd})
    for target in (0, 1, 2):                      # keep 0-2 taken by /dev/null
        if target == sock_fd:
            continue
        fd = os.open("/dev/null", os.O_RDWR)
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)


def _serve_forked(sock_fd: int, creator: int) -> None:
    gc.freeze()
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)      # dies with its creator; then each
    if os.getppid() != creator:                  # warden cleans up (its PDEATHSIG)
        return
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    _zygote_setup(sock_fd)
    _loop(sock_fd)


def serve(sock_fd: int) -> None:
    """Entry point of the exec'd zygote, inside bubblewrap (which kills us with the grader)."""
    prewarm()
    find_openblas_setter()
    sock = socket.socket(fileno=sock_fd)
    sock.send(b"R")
    sock.detach()
    _zygote_setup(sock_fd)
    _loop(sock_fd, standby=True)


def _loop(sock_fd: int, standby: bool = False) -> None:
    """Serve requests until every holder of the socket is gone.  standby (namespaces
    mode): one warden is always forked ahead, its namespaces ready; a request goes to it
    and the next one is forked while the notebook runs."""
    sock = socket.socket(fileno=sock_fd)
    me = os.getpid()
    wardens: dict[int, int] = {}                  # pidfd -> pid
    ready: tuple[int, socket.socket] | None = None
    disk = [Limits().disk_mb]

    def fork_standby() -> tuple[int, socket.socket]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                close_fds_except({0, 1, 2, theirs.fileno()})
                warden.standby(me, theirs.fileno(), disk[0])
            finally:
                os._exit(0)
        theirs.close()
        wardens[os.pidfd_open(pid)] = pid
        return pid, ours

    if standby:
        ready = fork_standby()
    while True:
        events = poll([sock_fd, *wardens])
        for pfd in [p for p in wardens if p in events]:
            try:
                os.waitpid(wardens.pop(pfd), 0)
            except ChildProcessError:
                pass
            os.close(pfd)
        if sock_fd not in events:
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1 << 16, len(FD_NAMES))
        except OSError:
            return
        if not msg and not fds:
            return                                # every holder closed the socket
        pid = -1
        try:
            cfg = wire.decode(msg)
            named = dict(zip(FD_NAMES, fds))
            if standby:
                if ready is None or ready[0] not in wardens.values():
                    ready = fork_standby()        # the one made ahead died: make another
                pid, chan = ready
                ready = None
                socket.send_fds(chan, [msg], [fd for name, fd in named.items() if name != "reply_w"])
                chan.close()
                disk[0] = int(cfg["limits"]["disk_mb"])
            else:
                pid = os.fork()
                if pid == 0:
                    try:
                        os.close(named.pop("reply_w"))
                        for p in wardens:
                            os.close(p)
                        warden.main(me, named, cfg)
                    finally:
                        os._exit(0)
                wardens[os.pidfd_open(pid)] = pid
        except Exception:
            warden.debug()
        finally:
            if os.getpid() == me:
                if len(fds) >= 6:
                    try:
                        os.write(fds[5], _PID.pack(pid))
                    except OSError:
                        pass
                for fd in fds:
                    os.close(fd)
        if standby and ready is None:
            ready = fork_standby()                # while the notebook runs


_zygote: Zygote | None = None


def start_zygote(allow_unsafe: bool | None = None) -> None:
    """Start, now, the clean process that all later sandboxes (of this process and of
    processes forked from it) are forked from.  In uid and none modes it is a fork of
    the caller: call it early, after imports, BEFORE loading reference answers,
    solutions or any student's data, from the main thread.  Idempotent.
    Raises IsolationUnavailable when this machine cannot isolate student code."""
    global _zygote
    if _zygote is not None and _zygote.alive():
        return
    if not hasattr(os, "pidfd_open"):
        raise SandboxError("the sandbox needs os.pidfd_open (Python >= 3.9, Linux >= 5.3)")
    mode = isolation.detect(allow_unsafe).mode
    if mode != "namespaces":
        prewarm()
    _zygote = Zygote(mode)
    if not _atexit_registered:
        atexit.register(_stop_at_exit)
        _atexit_registered.append(True)


_atexit_registered: list = []


def _stop_at_exit() -> None:
    z = _zygote
    if z is not None and os.getpid() == z.creator:
        stop_zygote()


def stop_zygote() -> None:
    """Close this process's link to the zygote (it exits once no process holds one).
    Running sandboxes are not affected."""
    global _zygote
    from .client import settle
    settle()
    if _zygote is not None:
        z, _zygote = _zygote, None
        z.close()


def current() -> Zygote | None:
    return _zygote
