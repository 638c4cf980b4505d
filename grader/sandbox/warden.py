"""The warden: the process between the zygote and the student's child, one per notebook.
It isolates the notebook, starts the child, reports how it ended, enforces the limits
that bound the notebook's processes together, and makes sure nothing outlives it.

namespaces mode (inside the zygote's bubblewrap)::

    warden   unshare: a new user (unless root), mount, pid, net, ipc, uts namespace
      └─ init  PID 1 of the new pid namespace; private tmpfs on /sandbox (the work
               dir and /tmp, /var/tmp, /dev/shm: one size for all), a fresh /proc
           └─ child  (harness.run) uid of the slot when root, no capabilities, seccomp

    When init exits the kernel kills every process of its pid namespace, however it
    was started (double fork, setsid, a stopped warden): nothing outlives the notebook,
    and the tmpfs goes with the last process in its mount namespace.

uid and none modes (no namespaces)::

    warden   PR_SET_CHILD_SUBREAPER; SIGKILLs the child's group and every descendant;
             in uid mode then kills every process of the slot's uid and removes the
             files and SysV IPC objects it owns in /tmp, /var/tmp and /dev/shm.
      └─ child

Both: the parent writes b"K" to (or closes) the control pipe to end the notebook;
the status pipe carries the child's wait status and why the warden ended it."""
from __future__ import annotations

import gc
import os
import signal
import socket
import struct
import time
import traceback

from .. import wire
from . import framing, harness
from .limits import REPLY_MAX, Limits
from .outcomes import ENDED_MEMORY, ENDED_NORMALLY
from .posix import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, \
    CLONE_NEWUTS, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, \
    PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, PR_SET_PDEATHSIG, close_fds_except, \
    map_own_ids, mount, poll, prctl, rmtree, unshare, write_all

REQUEST_FDS = ("ctl_r", "st_w", "req_r", "rep_w", "out", "lock")   # as a standby receives them
STATUS = struct.Struct("<ii")           # wait status of the child, why it ended (outcomes.ENDED_*)
SANDBOX_ROOT = "/sandbox"               # namespaces mode: the notebook's private tmpfs
WORKDIR = SANDBOX_ROOT + "/work"
_SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")
_WATCH_EVERY = 0.05                     # seconds between two looks at the memory total


class _Finish(Exception):
    pass


def _on_sigterm(signum, frame):
    raise _Finish()


def _quiet_signals() -> None:
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def main(parent_pid: int, fds: dict, cfg: dict) -> None:
    """uid and none modes, in a fresh fork of the zygote (or of the caller when there is
    none); namespaces mode starts with standby() instead."""
    gc.disable()
    gc.freeze()
    _quiet_signals()
    _classic(parent_pid, fds, cfg)


# ----------------------------------------------------------------------------
# namespaces mode

def standby(parent_pid: int, chan_fd: int, disk_mb: int) -> None:
    """namespaces mode, in a fork of the zygote made ahead of time: the notebook's
    namespaces, tmpfs and /proc are ready before it is asked for, so a notebook starts
    with one fork (the child's).  The request (config and pipe fds) arrives on chan_fd."""
    gc.disable()
    gc.freeze()
    _quiet_signals()
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        return
    problem = ""
    try:
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
        if os.geteuid() != 0:
            uid, gid = os.getuid(), os.getgid()
            prctl(PR_SET_DUMPABLE, 1)   # the zygote is not: /proc/self would be root's
            unshare(flags | CLONE_NEWUSER)
            map_own_ids(uid, gid)
        else:
            unshare(flags)
    except OSError as e:
        problem = f"sandbox set-up failed: cannot create namespaces ({e})"
    # init hands us the status pipe: we hold it until init is reaped, so the parent's end
    # of it closes only once every process of the namespace is dead
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    init = os.fork()
    if init == 0:
        code = 0
        try:
            ours.close()
            _init(chan_fd, theirs, disk_mb, problem)
        except BaseException:
            code = 70
            debug()
        finally:
            os._exit(code)
    theirs.close()
    os.close(chan_fd)
    try:
        _, held, _, _ = socket.recv_fds(ours, 16, 1)
    except OSError:
        held = []
    close_fds_except(set(held))
    while True:
        try:
            os.waitpid(init, 0)
            return
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def _init(chan_fd: int, warden_sock, disk_mb: int, problem: str) -> None:
    # PID 1 of a new pid namespace sees its parent as pid 0, so a dead warden cannot be
    # told from getppid(); it needs no telling: the warden only dies with the zygote,
    # whose bubblewrap then kills every process it contains.
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    prctl(PR_SET_DUMPABLE, 0)           # the child (same uid) may not ptrace or read us
    if not problem:
        try:
            mount("none", "/", None, MS_REC | MS_PRIVATE)
            mount("tmpfs", SANDBOX_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, _tmpfs_options(disk_mb))
            os.mkdir(WORKDIR, 0o700)
            tmp = SANDBOX_ROOT + "/tmp"
            os.mkdir(tmp)
            os.chmod(tmp, 0o1777)
            kept = _runtime_under_tmp()         # before the private tmp covers them
            for target in _SHARED_TMP:
                if os.path.isdir(target):
                    mount(tmp, target, None, MS_BIND)
            _show_again(kept)
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except OSError as e:
            problem = f"sandbox set-up failed: {e}"
    # wait for the notebook
    chan = socket.socket(fileno=chan_fd)
    try:
        msg, got, _, _ = socket.recv_fds(chan, 1 << 16, len(REQUEST_FDS))
    except OSError:
        return
    chan.close()
    if not msg:
        return                                  # the zygote is gone
    fds = dict(zip(REQUEST_FDS, got))
    try:
        socket.send_fds(warden_sock, [b"s"], [fds["st_w"]])
    except OSError:
        return
    warden_sock.close()
    cfg = wire.decode(msg)
    limits = Limits(**cfg["limits"])
    if not problem:
        try:
            if int(limits.disk_mb) != disk_mb:
                mount("tmpfs", SANDBOX_ROOT, None, MS_REMOUNT | MS_NOSUID | MS_NODEV,
                      _tmpfs_options(int(limits.disk_mb)))
            if cfg.get("ident") is not None:
                os.chown(WORKDIR, *cfg["ident"])
        except OSError as e:
            problem = f"sandbox set-up failed: {e}"
    if problem:
        _fail(fds, problem)
        return
    me = os.getpid()
    child = os.fork()
    if child == 0:
        _run_child(fds, cfg, me)
    for name in ("req_r", "rep_w", "out"):
        os.close(fds[name])
    _watch(child, fds, limits, descendants=_all_processes, stop_children=lambda: None)
    # returning ends PID 1: the kernel kills the rest of the namespace


def _covered_roots() -> list[str]:
    """The Python runtime's folders that lie in a shared temp folder (a venv made under
    `mktemp -d`): the notebook's private /tmp would hide them, and with them every module
    not imported yet (matplotlib). Computed once, in the zygote."""
    from .isolation import runtime_roots
    return [r for r in runtime_roots() if any(r.startswith(t + "/") for t in _SHARED_TMP)]


_COVERED = _covered_roots()


def _runtime_under_tmp() -> list[tuple[str, object]]:
    """(folder, an O_PATH fd on it, or the text of its symlink) for each covered root."""
    kept = []
    for r in _COVERED:
        if os.path.islink(r):
            kept.append((r, os.readlink(r)))
        elif os.path.isdir(r):
            kept.append((r, os.open(r, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)))
    return kept


def _show_again(kept: list[tuple[str, object]]) -> None:
    """Bind the covered runtime folders back at their paths inside the private /tmp,
    read-only (the tmpfs holds only the empty folders leading to them)."""
    for path, what in kept:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        if isinstance(what, str):
            os.symlink(what, path)
            continue
        os.mkdir(path, 0o755)
        mount(f"/proc/self/fd/{what}", path, None, MS_BIND | MS_REC)
        mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(what)


def _tmpfs_options(disk_mb: int) -> str:
    return f"size={int(disk_mb)}m,nr_inodes=65536,mode=0755"


def _all_processes() -> list[int]:
    """Every process of this pid namespace but us (we are PID 1)."""
    return [int(n) for n in os.listdir("/proc") if n.isdigit() and n != "1"]


# ----------------------------------------------------------------------------
# uid and none modes

def _classic(parent_pid: int, fds: dict, cfg: dict) -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        return
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    try:
        os.setpgid(0, 0)        # own group: the terminal's Ctrl-C is for the parent only
    except OSError:
        pass
    me = os.getpid()
    child = -1
    told_to_stop = False
    limits = Limits(**cfg["limits"])
    try:
        if cfg.get("ident") is not None:
            os.chown(cfg["workdir"], *cfg["ident"])
            os.chown(cfg["ext_dir"], *cfg["ident"])
        child = os.fork()
        if child == 0:
            _run_child(fds, cfg, me)
        for name in ("req_r", "rep_w", "out"):
            os.close(fds[name])
        told_to_stop = _watch(child, fds, limits, descendants=lambda: _descendants(me),
                              stop_children=lambda: _kill_tree(child))
    except _Finish:
        pass
    finally:
        if child > 0:
            _kill_tree(child)
            if cfg.get("ident") is not None:
                _end_uid(cfg["ident"])
        if not told_to_stop:
            # The parent died (or was killed): nobody else will remove the sandbox's folder.
            rmtree(os.path.dirname(os.path.abspath(cfg["workdir"])))


# ----------------------------------------------------------------------------
# shared

def _run_child(fds: dict, cfg: dict, parent: int) -> None:
    code = 70
    try:
        for name in ("ctl_r", "st_w", "lock"):
            if fds.get(name) is not None:
                os.close(fds[name])
        harness.run(cfg, fds["req_r"], fds["rep_w"], fds["out"], parent)
        code = 0
    except BaseException:
        debug()
    finally:
        os._exit(code)


def _fail(fds: dict, message: str) -> None:
    """Set-up failed before the child could say hello: say it in its place."""
    try:
        framing.send(fds["rep_w"], {"op": "hello", "pid": 0, "uid": -1, "error": message},
                     REPLY_MAX)
    except OSError:
        pass


_DEBUG = os.environ.get("NN_SANDBOX_DEBUG")     # read now: the child's environment is reset


def debug() -> None:
    """NN_SANDBOX_DEBUG=/some/file: a traceback of a failure outside student code goes there."""
    debug = _DEBUG
    if debug:
        try:
            with open(debug, "a") as f:
                traceback.print_exc(file=f)
        except OSError:
            pass


def _watch(child: int, fds: dict, limits: Limits, descendants, stop_children) -> bool:
    """Until the parent says stop (True) or goes away (False): report the child's end,
    reap orphans, and end the notebook when its processes together use too much memory."""
    ctl_r, st_w = fds["ctl_r"], fds["st_w"]
    try:
        pidfd = os.pidfd_open(child)
    except (OSError, AttributeError):
        pidfd = None
    reported = False
    budget = int(limits.notebook_memory_mb) * 1024 * 1024
    while True:
        watch = [ctl_r] + ([pidfd] if pidfd is not None and not reported else [])
        ready = poll(watch, timeout=_WATCH_EVERY)
        for pid, status in _reap_all():
            if pid == child and not reported:
                reported = True
                _report(st_w, status, ENDED_NORMALLY)
        if ctl_r in ready:
            data = os.read(ctl_r, 64)
            if b"K" in data:
                return True
            if not data:
                return False
        if not reported and _memory(descendants()) > budget:
            stop_children()
            reported = True
            _report(st_w, signal.SIGKILL, ENDED_MEMORY)


def _report(st_w: int, status: int, reason: int) -> None:
    try:
        write_all(st_w, STATUS.pack(status, reason))
    except OSError:
        pass


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _memory(pids: list[int]) -> int:
    """Bytes the processes use together: the sum of their proportional set sizes (shared
    pages split between their users), or of their private resident pages."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
            continue
        except (OSError, ValueError):
            pass
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                fields = f.read().split()
            total += max(0, int(fields[1]) - int(fields[2])) * _PAGE
        except (OSError, ValueError, IndexError):
            pass
    return total


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


def _end_uid(ident: tuple[int, int]) -> None:
    """uid mode: every process of the slot's uid is killed (kill(-1) from a process of that
    uid reaches exactly those, wherever they were reparented), then the slot's files in the
    shared temp folders and its SysV IPC objects are removed."""
    uid, gid = ident
    killer = os.fork()
    if killer == 0:
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
                if not _alive_of(uid):      # kill(-1) says ESRCH only on an empty machine
                    break
                time.sleep(0.0005)
        finally:
            os._exit(0)
    # Reap while it kills: the killed are our children (we are their subreaper), and a
    # zombie still counts for kill(-1) until it is reaped.
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        if any(pid == killer for pid, _ in _reap_all()):
            break
        time.sleep(0.0005)
    _reap_all()
    for top in _SHARED_TMP:
        _remove_owned(top, uid)
    _remove_ipc(uid)


def _alive_of(uid: int) -> list[int]:
    """Processes of uid other than us that are not zombies."""
    me, found = os.getpid(), []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != uid:
                continue
            with open(f"/proc/{name}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                    found.append(int(name))
        except (OSError, IndexError):
            pass
    return found


def _remove_owned(top: str, uid: int) -> None:
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for e in entries:
        try:
            if e.stat(follow_symlinks=False).st_uid != uid:
                continue
            if e.is_dir(follow_symlinks=False):
                rmtree(e.path)
            else:
                os.unlink(e.path)
        except OSError:
            pass


def _remove_ipc(uid: int) -> None:
    import ctypes
    from .posix import libc
    if libc is None:
        return
    for table, rm in (("/proc/sysvipc/shm", ("shmctl", 0)), ("/proc/sysvipc/sem", ("semctl", 1)),
                      ("/proc/sysvipc/msg", ("msgctl", 2))):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        head = {"shm": (1, 7), "sem": (1, 4), "msg": (1, 7)}[table.rsplit("/", 1)[1]]
        for line in lines:
            cols = line.split()
            try:
                ident, owner = int(cols[head[0]]), int(cols[head[1]])
            except (IndexError, ValueError):
                continue
            if owner != uid:
                continue
            fn = getattr(libc, rm[0])
            if rm[1] == 1:
                fn(ctypes.c_int(ident), ctypes.c_int(0), ctypes.c_int(0))   # semctl IPC_RMID
            else:
                fn(ctypes.c_int(ident), ctypes.c_int(0), None)               # IPC_RMID = 0
