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

Each attempt is named by the student's line that made it (the innermost frame in a cell)
and its category. What the operation was given (a path, a host, a command) is named only
for cells: a function the grader calls holds hidden probe inputs, and a path built from
them would carry them into the feedback. Work done on the student's behalf while a module
is imported (numpy loading its own libraries) is not theirs and is not recorded.

This is a record for the instructor, not a boundary: the boundary is the sandbox (its
namespaces, Landlock and seccomp). Reads are not recorded (hidden files simply do not
exist in the sandbox, and imports read thousands). Student code that rummages through
the interpreter (gc) can find and empty the record, or run its attempts under a file name
that looks like the import system's; the search itself is recorded, unless it empties
that too.
"""
from __future__ import annotations

import linecache
import os
import socket
import sys

from .limits import ATTEMPTS_PER_REPLY

_TEXT_MAX = 300

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PROGRAM_EVENTS = {"subprocess.Popen": "starts a program", "os.system": "runs a shell command",
                   "os.exec": "replaces the process with a program", "os.posix_spawn": "starts a program",
                   "os.spawn": "starts a program", "pty.spawn": "starts a program"}
_NETWORK_EVENTS = {"socket.connect": "connects to the network", "socket.getaddrinfo": "looks up a host name",
                   "socket.gethostbyname": "looks up a host name", "socket.sendto": "sends on the network",
                   "socket.bind": "opens a network port"}
_GC_EVENTS = {"gc.get_objects": "searches the interpreter's objects",
              "gc.get_referrers": "searches the interpreter's objects",
              "gc.get_referents": "searches the interpreter's objects"}
WATCHED = frozenset({"open", "socket.__new__", "ctypes.dlopen", "os.kill", "os.killpg",
                     *_PROGRAM_EVENTS, *_NETWORK_EVENTS, *_GC_EVENTS})


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def category(event: str, args: tuple, writable: tuple[str, ...], cwd: str = "") -> tuple[str, str] | None:
    """(what the code tries, what it was given) for an audit event the sandbox forbids or
    that reaches beyond the notebook, else None. `writable`: the real paths of the folders
    the notebook may write in; `cwd`: where a relative path is taken from."""
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        if type(path) not in (str, bytes):      # an fd, or an object whose code we must not run
            return None
        writing = (type(flags) is int and flags & _WRITE_FLAGS) or \
                  (type(mode) is str and any(c in mode for c in "wax+"))
        if not writing:
            return None
        name = os.fsdecode(path)
        full = os.path.realpath(os.path.join(cwd or os.getcwd(), name))
        if full == os.devnull or _under(full, writable):
            return None
        return "writes outside its folder", full
    if event == "socket.__new__":
        family = args[1] if len(args) > 1 else None
        if not isinstance(family, int) or int.__eq__(family, socket.AF_UNIX) is True:
            return None
        return "opens a network socket", ""
    if event in _NETWORK_EVENTS:
        given = args[1] if event in ("socket.connect", "socket.sendto", "socket.bind") and len(args) > 1 else \
            (args[0] if args else None)
        return _NETWORK_EVENTS[event], _plain(given)
    if event in _PROGRAM_EVENTS:
        given = args[1] if event == "subprocess.Popen" and len(args) > 1 else (args[0] if args else None)
        return _PROGRAM_EVENTS[event], _plain(given)
    if event == "ctypes.dlopen":
        return "loads native code with ctypes", _plain(args[0]) if args and args[0] is not None else ""
    if event in ("os.kill", "os.killpg"):
        pid = args[0] if args else None
        if type(pid) is int and pid in (0, os.getpid()) and event == "os.kill":
            return None
        return "sends a signal to another process", ""
    if event in _GC_EVENTS:
        return _GC_EVENTS[event], ""
    return None


def _plain(value) -> str:
    """repr of a str, bytes or a tuple/list of them (no object's own code runs), else ""."""
    if type(value) in (str, bytes, int):
        return repr(value)
    if type(value) in (list, tuple) and all(type(v) in (str, bytes, int) for v in value[:20]):
        return repr(value[:20])
    return ""


def _student_line(frame, library: tuple[str, ...]) -> tuple[str, str] | None:
    """(where, the student's line) of the innermost frame in a cell, or None when only the
    installed libraries' code ran between an import and the event (numpy loading its own
    libraries is not the student's doing; a module the student wrote and imports is)."""
    only_library = True
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith("<cell "):
            line = linecache.getline(filename, frame.f_lineno).strip()
            return filename[6:-1], line
        if filename.startswith("<frozen importlib"):
            if only_library:
                return None
        elif not _under(filename, library):
            only_library = False
        frame = frame.f_back
    return None


def library_roots() -> tuple[str, ...]:
    """Where the interpreter, the installed packages and the grader live (real paths)."""
    grader = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, grader}
    roots.update(p for p in sys.path if p and os.path.isabs(p) and "site-packages" in p)
    return tuple(sorted({os.path.realpath(r) for r in roots} | roots))


class Recorder:
    """The child's record of attempts, taken after every cell and call. `in_call`: the
    current operation calls a function with the grader's inputs (so what an operation was
    given is not named)."""

    def __init__(self, writable: list[str]):
        self.writable = tuple(os.path.realpath(p) for p in writable)
        self.library = library_roots()
        self.found: list[str] = []
        self.in_call = False
        self._busy = False

    def take(self) -> list[str]:
        found, self.found = self.found, []
        return found

    def hook(self, event: str, args: tuple) -> None:
        if event not in WATCHED or self._busy:
            return
        self._busy = True
        try:
            self._record(event, args)
        except Exception:           # never the student's problem: a record missed
            pass
        finally:
            self._busy = False

    def _record(self, event: str, args: tuple) -> None:
        if len(self.found) >= ATTEMPTS_PER_REPLY:
            return
        what = category(event, args, self.writable)
        if what is None:
            return
        line = _student_line(sys._getframe(2), self.library)
        if line is None:
            return
        where, source = line
        tries, given = what
        text = f"{source} ({tries}{': ' + given if given and not self.in_call else ''})" if source \
            else f"{where}: {tries}"
        text = text if len(text) <= _TEXT_MAX else text[: _TEXT_MAX - 3] + "..."
        if text not in self.found:
            self.found.append(text)


def install(writable: list[str]) -> Recorder:
    """Start recording in this process (for good: an audit hook cannot be removed).
    Bytecode caches are not written from here on: a module imported from a read-only
    folder would otherwise try to write its cache there, on the student's line."""
    sys.dont_write_bytecode = True
    recorder = Recorder(writable)
    sys.addaudithook(recorder.hook)
    return recorder
