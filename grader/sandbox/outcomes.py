"""What running student code in a sandbox gives back, and the sandbox's own errors."""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field

from .limits import Limits


class SandboxError(RuntimeError):
    """The sandbox itself could not be started (not a student error)."""


class IsolationUnavailable(SandboxError):
    """This machine cannot isolate student code; the message says what is missing."""


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
                  (a lambda -> Unsupported("function")), or the value was too large,
                  or the child sent a malformed reply (then it was killed)
    warnings: "Category: message" of the warnings raised during the call, deduplicated,
    at most 10.  args_after: (args, kwargs) after the call when echo_args=True.
    seconds: time of the call inside the child (wall time for timeout/crashed)."""
    status: str
    value: object = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    args_after: object = None
    seconds: float = 0.0


# Why a warden ended its notebook, sent with the child's wait status.
ENDED_NORMALLY, ENDED_MEMORY, ENDED_DISK = 0, 1, 2


def describe_status(status: int | None, limits: Limits, reason: int = ENDED_NORMALLY) -> str:
    if reason == ENDED_MEMORY:
        return (f"stopped: the notebook's processes together used more than "
                f"{limits.notebook_memory_mb} MiB of memory")
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


def limit_hit(message: str) -> str:
    """Which of the notebook's limits a crash described by `describe_status` hit:
    "memory", "cpu", "file_size", or "" (another death: an exit, a signal)."""
    if message.startswith("stopped: the notebook's processes together used more than"):
        return "memory"
    if "SIGXCPU" in message:
        return "cpu"
    if "SIGXFSZ" in message:
        return "file_size"
    return ""


# Exceptions that mean the sandbox said no: a read-only or hidden file system, no network.
# ("Type: text" as harness.describe_exception writes it, first line.)
_REFUSALS = ("PermissionError:", "OSError: [Errno 30]", "OSError: [Errno 101]", "OSError: [Errno 97]",
             "OSError: [Errno 99]", "ConnectionRefusedError:", "socket.gaierror:", "gaierror:")


def refused(message: str) -> str:
    """If a student's exception (as describe_exception wrote it) is the sandbox refusing
    something, what was tried: the student's line that raised, else the exception's text.
    Otherwise ""."""
    lines = message.splitlines()
    if not lines or not lines[0].startswith(_REFUSALS):
        return ""
    tried = next((line.strip() for line in reversed(lines[1:]) if not line.lstrip().startswith("File ")), "")
    return tried or lines[0]
