"""Running student code in isolation, with limits.

Modules, one concern each (arrows point down; nothing here imports the grader but wire):
  limits     Limits and the protocol's size bounds
  outcomes   CellOutcome, CallOutcome, SandboxError, how a process ended in words
  posix      prctl, unshare, mount, capabilities, fd helpers
  framing    length-prefixed wire frames, both sides
  seccomp    the child's system-call filter (no network, no ptrace, no new namespaces)
  isolation  which mode this machine gives (namespaces / uid / none) and the bubblewrap command
  slots      a uid of its own per concurrent sandbox when running as root
  imports    module imports through directory fds after a uid switch (uid mode)
  harness    the child: cells, calls, output and warnings
  warden     one per notebook: namespaces, limits on the whole notebook, clean-up
  zygote     the clean process wardens are forked from
  client     Sandbox, the parent's handle
"""
from .client import Sandbox, settle
from .isolation import Isolation, detect as detect_isolation, hide
from .limits import Limits
from .outcomes import CallOutcome, CellOutcome, IsolationUnavailable, SandboxError
from .zygote import prewarm, start_zygote, stop_zygote

__all__ = ["Limits", "CellOutcome", "CallOutcome", "Sandbox", "SandboxError",
           "IsolationUnavailable", "Isolation", "detect_isolation", "hide", "prewarm",
           "start_zygote", "stop_zygote", "settle"]
