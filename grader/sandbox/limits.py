"""The limits of one notebook's sandbox (parsed from course.yaml's `limits:` by
grader.course) and the protocol's bounds."""
from __future__ import annotations

from dataclasses import dataclass, fields

REQUEST_MAX = 64 * 1024 * 1024      # one request frame to the child (a call's arguments)
REPLY_MAX = 4 * 1024 * 1024         # one reply frame from the child: more is a verdict
FSIZE_MAX = 8 * 1024 * 1024         # RLIMIT_FSIZE of the child (one file)
MESSAGE_MAX = 2000                  # characters of a message the parent keeps from the child
WARNINGS_MAX = 10                   # warnings kept per call
ATTEMPTS_PER_REPLY = 5              # forbidden attempts (sandbox.attempts) kept per cell or call
ATTEMPTS_MAX = 20                   # ... and per notebook


@dataclass(frozen=True)
class Limits:
    check_timeout: float = 10.0     # default wall-clock budget of one call
    cell_timeout: float = 20.0      # wall-clock seconds for one cell
    notebook_cpu: int = 120         # RLIMIT_CPU of each process of the notebook (seconds)
    notebook_memory_mb: int = 1536  # memory of all the notebook's processes together
    output_bytes: int = 20000       # captured stdout+stderr kept
    processes: int = 64             # processes (threads) the notebook may run at once
    disk_mb: int = 256              # all files the notebook writes, together

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
