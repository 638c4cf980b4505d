"""Grading state on disk: which submissions are graded, crash-safe, and one run at a time.

For every student the grader keeps `autograded/<student>/<assignment>/grader_result.json`
(the full result, with the fingerprint of the submission, the checks and the references
it was graded with). It is written last, atomically, after results.json and the feedback
pages, so it marks a grading as complete: a run killed at any moment leaves every student
either fully graded or not graded at all, and the next run grades the rest. A submission
whose fingerprint is unchanged is skipped unless --force.

`.grader/lock` (an flock) makes a second run on the same course wait or refuse.
`.grader/gradebook.json` remembers which fingerprints are in nbgrader's gradebook, so
the gradebook catches up after a crash between a result file and its database row.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from pathlib import Path

from .course import Course
from .report import write_json
from .results import SubmissionResult

RESULT_FILE = "grader_result.json"


class LockedError(Exception):
    """Another grading run holds the course lock."""


class RunLock:
    """An exclusive flock on <course>/.grader/lock, released when the process ends."""

    def __init__(self, course: Course, wait: float = 0.0):
        self.path = course.root / ".grader" / "lock"
        self.wait = wait
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    raise LockedError(f"another grading run (pid {holder}) is working on this course; "
                                      "wait for it or use --wait SECONDS") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)   # closing the descriptor releases the flock
            self._fd = None


def result_path(course: Course, student: str) -> Path:
    return course.autograded_dir() / student / course.assignment / RESULT_FILE


def load_result(course: Course, student: str) -> SubmissionResult | None:
    path = result_path(course, student)
    try:
        return SubmissionResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None   # absent, or unreadable: the student is graded again


def save_result(course: Course, result: SubmissionResult) -> None:
    write_json(result_path(course, result.student), result.to_dict())


def all_results(course: Course, students: list[str]) -> list[SubmissionResult]:
    return [r for r in (load_result(course, s) for s in students) if r is not None]


def _gradebook_marks_path(course: Course) -> Path:
    return course.root / ".grader" / "gradebook.json"


def gradebook_marks(course: Course) -> dict[str, str]:
    try:
        data = json.loads(_gradebook_marks_path(course).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def save_gradebook_marks(course: Course, marks: dict[str, str]) -> None:
    write_json(_gradebook_marks_path(course), marks)
