"""What student code tried that the sandbox forbids, seen by an audit hook in the child.

A refusal the student's code catches (`try: open("/usr/x", "w") ... except OSError: pass`)
leaves no exception behind, so grader.grading cannot see it in a verdict. The hook sees
the attempt before the operation, refused or not:

    network       a socket other than AF_UNIX, a connection, a name lookup
    write         a file opened for writing outside the notebook's work dir (TMPDIR is
                  the work dir; in namespaces /tmp is a private tmpfs, in uid mode
                  Landlock refuses it, but a notebook has no business there either)
    program       a program started (subprocess, os.system, exec, spawn)
    native code   a library loaded with ctypes
    signal        a signal sent to another process
    interpreter   a search of the interpreter's objects (gc.get_objects / get_referrers),
                  the way to reach the harness's own state

The child sends each attempt as plain data: (cell id, line number, category, what it was
given); the parent (client.Sandbox) keeps it only if the cell is one it ran and the
category one of CATEGORIES, and writes the words itself, with the line from its own copy
of the cell. Nothing the student's code can make up at run time reaches the record as
text, except what an operation was given (a path, a host, a command), and that only
before the grader's first call: a function the grader calls holds hidden probe inputs.
Work done on the student's behalf while a module is imported (numpy loading its own
libraries), and the standard library asking the system about itself (platform, uuid,
ctypes.util run small programs), is not theirs and is not recorded.

This is a record for the instructor, not a boundary: the boundary is the sandbox (its
namespaces, Landlock and seccomp). Reads are not recorded (hidden files simply do not
exist in the sandbox, and imports read thousands). Student code that rummages through
the interpreter (gc) can find and empty the record, or run its attempts under a file name
that looks like the import system's; the search itself is recorded, unless it empties
that too.
"""
from __future__ import annotations

import os
import socket
import sys

from .limits import ATTEMPTS_PER_REPLY

#: category -> how the record says it (the parent writes these words, never the child)
CATEGORIES = {
    "write": "writes outside its folder",
    "socket": "opens a network socket",
    "connect": "connects to the network",
    "lookup": "looks up a host name",
    "send": "sends on the network",
    "bind": "opens a network port",
    "program": "starts a program",
    "shell": "runs a shell command",
    "exec": "replaces the process with a program",
    "native": "loads native code with ctypes",
    "signal": "sends a signal to another process",
    "gc": "searches the interpreter's objects",
}
PER_CATEGORY = 2            # of one category per cell or call: one kind cannot fill the record
GIVEN_MAX = 200

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_EVENTS = {"subprocess.Popen": "program", "os.posix_spawn": "program", "os.spawn": "program",
           "pty.spawn": "program", "os.system": "shell", "os.exec": "exec",
           "socket.connect": "connect", "socket.getaddrinfo": "lookup", "socket.gethostbyname": "lookup",
           "socket.sendto": "send", "socket.bind": "bind", "ctypes.dlopen": "native",
           "gc.get_objects": "gc", "gc.get_referrers": "gc", "gc.get_referents": "gc",
           "os.kill": "signal", "os.killpg": "signal", "open": "write", "socket.__new__": "socket"}
WATCHED = frozenset(_EVENTS)
_STREAMS = {os.devnull, "/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2",
            "/proc/self/fd/1", "/proc/self/fd/2"}
# standard modules that run a program to ask the system about itself
_INFORMATIVE = ("/platform.py", "/uuid.py", "/ctypes/util.py")


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _plain(value) -> str:
    """repr of a str, bytes, int or a tuple/list of them (no object's own code runs), else ""."""
    if type(value) in (str, bytes, int):
        text = repr(value)
    elif type(value) in (list, tuple) and all(type(v) in (str, bytes, int) for v in value[:20]):
        text = repr(value[:20])
    else:
        return ""
    return text[:GIVEN_MAX]


def category(event: str, args: tuple, writable: tuple[str, ...], cwd: str = "",
             readonly: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(category, what it was given) for an audit event the sandbox forbids or that reaches
    beyond the notebook, else None. `writable`: the real paths of the folders the notebook
    may write in; `readonly`: folders inside those it may not (the runtime, when a venv lies
    in /tmp); `cwd`: where a relative path is taken from."""
    kind = _EVENTS.get(event)
    if kind is None:
        return None
    args = tuple(args)
    if kind == "write":
        path, mode, flags = (args + (None, None, None))[:3]
        if type(path) not in (str, bytes):      # an fd, or an object whose code we must not run
            return None
        writing = (type(flags) is int and flags & _WRITE_FLAGS) or \
                  (type(mode) is str and any(c in mode for c in "wax+"))
        if not writing:
            return None
        name = os.path.normpath(os.path.join(cwd or os.getcwd(), os.fsdecode(path)))
        if name in _STREAMS:
            return None
        full = os.path.realpath(name)
        if full == os.devnull or (_under(full, writable) and not _under(full, readonly)):
            return None
        return "write", full[:GIVEN_MAX]
    if kind == "socket":
        family = args[1] if len(args) > 1 else None
        if not isinstance(family, int) or int.__eq__(family, socket.AF_UNIX) is True:
            return None
        return "socket", ""
    if kind in ("connect", "send", "bind"):
        return kind, _plain(args[1]) if len(args) > 1 else ""
    if kind == "signal":
        pid = args[0] if args else None
        if event == "os.kill" and type(pid) is int and pid in (0, os.getpid()):
            return None
        return "signal", ""
    if kind == "program" and event == "subprocess.Popen":
        return kind, _plain(args[1]) if len(args) > 1 else ""
    if kind == "native":
        return kind, _plain(args[0]) if args and args[0] is not None else ""
    if kind == "gc":
        return kind, ""
    return kind, _plain(args[0]) if args else ""


def _student_frame(frame, library: tuple[str, ...], kind: str) -> tuple[str, int] | None:
    """(cell id, line number) of the innermost frame in a cell, or None when it is not the
    student's doing: only the installed libraries' code ran between an import and the event
    (a module the student wrote and imports is theirs), or a standard module ran a program
    to ask the system about itself."""
    only_library = True
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith("<cell ") and filename.endswith(">"):
            return filename[6:-1], frame.f_lineno
        if filename.startswith("<frozen importlib"):
            if only_library:
                return None
        elif not _under(filename, library):
            only_library = False
        elif kind in ("program", "shell") and filename.endswith(_INFORMATIVE):
            return None
        frame = frame.f_back
    return None


def library_roots() -> tuple[str, ...]:
    """Where the interpreter, the installed packages and the grader live (real paths)."""
    grader = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, grader}
    roots.update(p for p in sys.path if p and os.path.isabs(p) and "site-packages" in p)
    return tuple(sorted({os.path.realpath(r) for r in roots} | roots))


class Recorder:
    """The child's record of attempts, taken after every cell and call: [cell id, line,
    category, given]. Once `called` (the grader called a function with its inputs), what
    an operation was given is never recorded again, whichever thread does it."""

    def __init__(self, writable: list[str]):
        self.writable = tuple(os.path.realpath(p) for p in writable)
        self.library = library_roots()
        self.found: list[list] = []
        self.called = False

    def take(self) -> list[list]:
        found, self.found = self.found, []
        return found

    def make_hook(self):
        """The audit hook: a plain function (a bound method costs three times as much per
        event, and every id() or deepcopy is an event)."""
        watched, record, busy = WATCHED, self._record, [False]

        def hook(event, args):
            if event not in watched or busy[0]:
                return
            busy[0] = True
            try:
                record(event, args)
            except Exception:           # never the student's problem: a record missed
                pass
            finally:
                busy[0] = False
        return hook

    def _record(self, event: str, args: tuple) -> None:
        found = self.found
        if len(found) >= ATTEMPTS_PER_REPLY:
            return
        what = category(event, args, self.writable, readonly=self.library)
        if what is None:
            return
        kind, given = what
        at = _student_frame(sys._getframe(2), self.library, kind)
        if at is None:
            return
        if sum(1 for f in found if f[2] == kind) >= PER_CATEGORY:
            return
        item = [at[0], at[1], kind, "" if self.called else given]
        if item not in found:
            found.append(item)


def install(writable: list[str]) -> Recorder:
    """Start recording in this process (for good: an audit hook cannot be removed).
    Bytecode caches are not written from here on: a module imported from a read-only
    folder would otherwise try to write its cache there, on the student's line."""
    sys.dont_write_bytecode = True
    recorder = Recorder(writable)
    sys.addaudithook(recorder.make_hook())
    return recorder


def describe(kind: str, line: str, given: str) -> str:
    """The record's words for one attempt (the parent's side)."""
    what = CATEGORIES[kind] + (f": {given}" if given else "")
    return f"{line} ({what})" if line else what
