"""Grading state on disk: which submissions are graded, crash-safe, and one run at a time.

For every student the grader keeps `autograded/<student>/<assignment>/grader_result.json`
(the full result, with the fingerprint of the submission, the checks and the references
it was graded with). It is written last, atomically, after results.json and the feedback
pages, so it marks a grading as complete: a run killed at any moment leaves every student
either fully graded or not graded at all, and the next run grades the rest. A submission
whose fingerprint is unchanged (and whose results.json is still there) is skipped unless
--force.

`.grader/lock` (an flock) makes a second run on the same course wait or refuse. Processes
forked while the lock is held (the grading pool) close their copy of it, so the lock ends
exactly when the run's own process does, even if its workers linger.

Every file is written by grader.files (temporary file + rename); a process killed
between the two leaves a temporary file (`files.is_temp`), which the next run removes
(`sweep_temp_files`, under the lock). Which results are in nbgrader's gradebook is the
gradebook module's business (grader.gradebook).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from pathlib import Path

from . import files
from .course import Course
from .results import SubmissionResult

# flock descriptors held by this process: closed in forked children (see RunLock)
_HELD_LOCKS: set[int] = set()


def _close_inherited_locks() -> None:
    for fd in list(_HELD_LOCKS):
        try:
            os.close(fd)    # the parent's descriptor still holds the lock
        except OSError:
            pass
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


_PID_WIDTH = 12


def _holder(fd: int) -> str:
    """The pid the lock's holder wrote. It writes it right after taking the lock, so a
    file still empty (a lock file just created) is read again until the pid is there,
    for up to 2 s; '?' if it never comes."""
    deadline = time.monotonic() + 2.0
    while True:
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
        if text or time.monotonic() >= deadline:
            return text or "?"
        time.sleep(0.01)


class LockedError(Exception):
    """Another grading run holds the course lock."""


class RunLock:
    """An exclusive flock on <course>/.grader/lock, released when the process ends."""

    def __init__(self, course: Course, wait: float = 0.0):
        self.path = course.lock_path()
        self.wait = wait
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = _holder(fd)
                    os.close(fd)
                    waited = f" after waiting {self.wait:g} s" if self.wait > 0 else ""
                    raise LockedError(f"another grading run (pid {holder}) is working on this course{waited}; "
                                      "wait for it or use --wait SECONDS") from None
                time.sleep(0.1)
        # fixed width, written in one pwrite: a reader never sees a mix of two pids
        os.pwrite(fd, f"{os.getpid():>{_PID_WIDTH}}".encode(), 0)
        self._fd = fd
        _HELD_LOCKS.add(fd)
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            _HELD_LOCKS.discard(self._fd)
            os.close(self._fd)   # closing the descriptor releases the flock
            self._fd = None


def load_result(course: Course, student: str) -> SubmissionResult | None:
    try:
        data = json.loads(course.result_record(student).read_text(encoding="utf-8"))
        result = SubmissionResult.from_dict(data)
    except (OSError, ValueError, TypeError, KeyError):
        return None   # absent, or unreadable: the student is graded again
    return result if result.student == student else None   # another student's file: not this one's


def is_graded(course: Course, student: str, fingerprint: str) -> bool:
    """Graded with this fingerprint, and its results.json is still there."""
    old = load_result(course, student)
    return old is not None and old.fingerprint == fingerprint and course.results_json(student).is_file()


def save_result(course: Course, result: SubmissionResult) -> None:
    files.write_json(course.result_record(result.student), result.to_dict())


def all_results(course: Course, students: list[str]) -> list[SubmissionResult]:
    return [r for r in (load_result(course, s) for s in students) if r is not None]


# ---------------------------------------------------------------------------------------
# Leftovers of a killed run


def temp_files(course: Course) -> list[Path]:
    """Temporary files that a killed run may have left among the grader's outputs."""
    folders = [course.root, course.state_dir()]
    for top in (course.autograded_dir(), course.grader_feedback_dir()):
        if top.is_dir():
            folders += [p / course.assignment for p in top.iterdir() if p.is_dir()]
    found = []
    for folder in folders:
        try:
            found += [folder / name for name in os.listdir(folder) if files.is_temp(name)]
        except OSError:
            pass
    return sorted(found)


def sweep_temp_files(course: Course) -> int:
    """Remove `temp_files` (call it while holding the RunLock: no writer is running)."""
    removed = 0
    for path in temp_files(course):
        try:
            path.unlink()
            removed += 1
        except (FileNotFoundError, IsADirectoryError):
            pass
    return removed
