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

`.grader/gradebook.json` remembers which results are in nbgrader's gradebook, so the
gradebook catches up after a crash between a result file and its database row. It is
tied to one gradebook.db by a random token the grader keeps in that database's
`PRAGMA user_version` (which nbgrader does not use): a deleted or replaced gradebook.db
gets every result again.

Every file is written by `report.write_text` (temporary file + rename); a process killed
between the two leaves a `.<name>.<random>.tmp` file, which the next run removes
(`sweep_temp_files`, under the lock).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from .course import Course
from .report import write_json
from .results import SubmissionResult

RESULT_FILE = "grader_result.json"
GRADEBOOK_FILE = "gradebook.db"

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
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    waited = f" after waiting {self.wait:g} s" if self.wait > 0 else ""
                    raise LockedError(f"another grading run (pid {holder}) is working on this course{waited}; "
                                      "wait for it or use --wait SECONDS") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        _HELD_LOCKS.add(fd)
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            _HELD_LOCKS.discard(self._fd)
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


def is_graded(course: Course, student: str, fingerprint: str) -> bool:
    """Graded with this fingerprint, and its results.json is still there."""
    old = load_result(course, student)
    return (old is not None and old.fingerprint == fingerprint
            and (result_path(course, student).parent / "results.json").is_file())


def save_result(course: Course, result: SubmissionResult) -> None:
    write_json(result_path(course, result.student), result.to_dict())


def all_results(course: Course, students: list[str]) -> list[SubmissionResult]:
    return [r for r in (load_result(course, s) for s in students) if r is not None]


# ---------------------------------------------------------------------------------------
# Leftovers of a killed run


_SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")


def _is_temp(name: str) -> bool:
    """A temporary file of report.write_text (.<name>.<random>.tmp), or a SQLite side file
    of a temporary gradebook (.<name>.<random>.tmp-journal)."""
    if not name.startswith(".") or name.count(".") < 3:
        return False
    return name.endswith(".tmp") or any(name.endswith(".tmp" + side) for side in _SQLITE_SIDE_FILES)


def temp_files(course: Course) -> list[Path]:
    """Temporary files that a killed run may have left among the grader's outputs."""
    folders = [course.root, course.root / ".grader"]
    for top in (course.autograded_dir(), course.grader_feedback_dir()):
        if top.is_dir():
            folders += [p / course.assignment for p in top.iterdir() if p.is_dir()]
    found = []
    for folder in folders:
        try:
            found += [folder / name for name in os.listdir(folder) if _is_temp(name)]
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


# ---------------------------------------------------------------------------------------
# Which results are in the gradebook


def gradebook_path(course: Course) -> Path:
    return course.root / GRADEBOOK_FILE


def _gradebook_marks_path(course: Course) -> Path:
    return course.root / ".grader" / "gradebook.json"


def result_mark(result: SubmissionResult) -> str:
    return result.fingerprint + result.graded_at


def gradebook_token(path: Path) -> int:
    """The grader's token in the gradebook (`PRAGMA user_version`); 0 if none or no file."""
    if not path.is_file():
        return 0
    try:
        # read-write (never create): a run killed mid-write leaves a hot journal, which only
        # a writable connection can roll back, as nbgrader's next connection would anyway
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=30)
    except sqlite3.Error:
        return 0
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error:
        return 0      # unreadable: the marks do not count, everything is recorded again
    finally:
        db.close()


def set_gradebook_token(path: Path, token: int) -> None:
    db = sqlite3.connect(str(path), timeout=30)
    try:
        db.execute(f"PRAGMA user_version = {int(token)}")
        db.commit()
    finally:
        db.close()


def new_gradebook_token() -> int:
    return secrets.randbelow(2**31 - 2) + 1     # a positive 32-bit int, never 0


def gradebook_marks(course: Course) -> dict[str, str]:
    """student -> result_mark of what the gradebook holds for them; empty when the marks
    are for another (or no) gradebook.db."""
    try:
        data = json.loads(_gradebook_marks_path(course).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("students"), dict):
        return {}
    token = data.get("gradebook")
    if not token or token != gradebook_token(gradebook_path(course)):
        return {}
    return dict(data["students"])


def save_gradebook_marks(course: Course, marks: dict[str, str]) -> None:
    """Remember `marks` for the gradebook.db as it is now (stamping it with a token first
    if it has none)."""
    path = gradebook_path(course)
    token = gradebook_token(path)
    if not token:
        token = new_gradebook_token()
        set_gradebook_token(path, token)
    write_json(_gradebook_marks_path(course), {"gradebook": token, "students": dict(sorted(marks.items()))})
