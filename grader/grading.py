"""Grading one submission: each notebook's answer cells in a fresh sandbox, then its checks.

Nothing a submission contains stops the others from being graded: a missing or broken
notebook, a syntax error, a crash or a timeout becomes a verdict in that student's
results (lost points and a message), never an exception.
"""
from __future__ import annotations

import hashlib
import os
import stat
import time
from datetime import datetime, timezone
from pathlib import Path

from . import checks, references
from .course import Course, NotebookSpec
from .notebook import MAX_NOTEBOOK_BYTES, NotebookUnreadable, prepare, read
from .results import CheckResult, NotebookResult, SubmissionResult
from .sandbox import IsolationUnavailable, Limits, Sandbox, SandboxError, detect_isolation, hide, \
    settle, start_zygote


class Grader:
    """Everything that is the same for every student of a run, loaded once."""

    def __init__(self, course: Course):
        self.course = course
        self.limits = Limits.from_mapping(course.limits)
        # Sandboxes must fork from a process that has never seen a reference value or a
        # solution: start the clean zygote before loading them (a no-op if it runs).
        self.isolation = isolate(course)
        protect_course_files(course)
        self.references = references.load()
        self.notebooks = {nb.name: references.course_notebook(course, nb.name) for nb in course.notebooks}
        self.fingerprint = grader_fingerprint(course)

    def submission_dir(self, student: str) -> Path:
        return self.course.submitted_dir() / student / self.course.assignment

    def grade(self, student: str, folder: Path | None = None) -> SubmissionResult:
        folder = folder or self.submission_dir(student)
        start = time.perf_counter()
        result = SubmissionResult(student=student, assignment=self.course.assignment, score=0.0,
                                  max_score=self.course.points,
                                  fingerprint=submission_fingerprint(folder, self.fingerprint),
                                  isolation=self.isolation)
        if self.isolation == "none":
            result.problems.append(UNSAFE_NOTE)
        if not folder.is_dir() or not any(folder.glob("*.ipynb")):
            result.problems.append("no notebooks were submitted")
        for nb in self.course.notebooks:
            try:
                result.notebooks.append(self.grade_notebook(nb, student, folder / nb.filename))
            except Exception as exc:  # noqa: BLE001 - a grader bug must not stop the class run
                why = f"the grader could not grade this notebook ({type(exc).__name__}: {exc}); " \
                      "tell your instructor"
                result.notebooks.append(NotebookResult(
                    notebook=nb.name, score=0.0, max_score=nb.points, problems=[why],
                    checks=[_zero(spec, checks.definition(spec).title, why)
                            for fn in nb.functions for spec in fn.checks]))
        settle()        # every process of this student is gone before its grade is out
        result.score = round(sum(nb.score for nb in result.notebooks), 6)
        result.graded_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        result.seconds = round(time.perf_counter() - start, 4)
        return result

    def grade_notebook(self, nb: NotebookSpec, student: str, path: Path) -> NotebookResult:
        start = time.perf_counter()
        out = NotebookResult(notebook=nb.name, score=0.0, max_score=nb.points)
        try:
            prepared = prepare(self.notebooks[nb.name], read(path))
        except NotebookUnreadable as exc:
            out.problems.append(str(exc))
            out.checks = [_zero(spec, checks.definition(spec).title, str(exc))
                          for fn in nb.functions for spec in fn.checks]
            out.seconds = round(time.perf_counter() - start, 4)
            return out
        out.problems.extend(prepared.problems)
        t_open = time.perf_counter()
        box = Sandbox(self.limits, label=f"{student} {nb.name}")
        t_cells = time.perf_counter()
        try:
            for cell in box.run_cells(prepared.cells):
                if cell.status != "ok":
                    out.problems.append(f"cell '{cell.cell_id}': {cell.message}")
            t_checks = time.perf_counter()
            caller = timeout_once_caller(box)
            for fn in nb.functions:
                out.checks.extend(checks.grade_function(
                    fn, self.course, caller, student=student, references=self.references,
                    timeout=self.limits.check_timeout))
            out.output, truncated = box.output()
            if truncated:
                out.problems.append(f"the notebook printed more than {self.limits.output_bytes} bytes; "
                                    "the rest was dropped")
        finally:
            t_close = time.perf_counter()
            box.close(wait=False)
        end = time.perf_counter()
        out.score = round(sum(c.score for c in out.checks), 6)
        out.seconds = round(end - start, 4)
        start_s = (t_cells - t_open) + (end - t_close)
        cells_s = t_checks - t_cells
        student_s = caller.student_seconds
        out.timings = {"start": round(start_s, 6), "cells": round(cells_s, 6),
                       "student": round(student_s, 6),
                       "checks": round(max(0.0, (end - start) - start_s - cells_s - student_s), 6)}
        return out


_STOPPED = '''
def {name}(*args, **kwargs):
    raise TimeoutError("{name} did not finish within {seconds:.0f} s in an earlier check, so it is not run again")
'''


def timeout_once_caller(box: Sandbox):
    """A checks.Caller on `box` in which an infinite loop costs its time limit once: a
    function that timed out is replaced by one that fails at once, so the checks after it,
    and the functions that call it, do not wait for it again."""
    def call(function, args, kwargs, echo, timeout):
        outcome = box.call(function, tuple(args), dict(kwargs), timeout=timeout, echo_args=echo)
        call.student_seconds += outcome.seconds
        if outcome.status == "timeout" and function.isidentifier():
            box.run_cells([(f"stopped-{function}", _STOPPED.format(name=function, seconds=timeout))])
        return outcome
    call.student_seconds = 0.0    # the student's own code inside the calls (CallOutcome.seconds)
    return call


UNSAFE_NOTE = "graded WITHOUT isolation (--unsafe-no-isolation): student code ran as the grader's user"
_self_tested: set[int] = set()


def isolate(course: Course | None = None) -> str:
    """Start the sandbox zygote before anything secret is loaded into this process, and
    prove once per process that a sandbox starts and runs a cell.  Returns the isolation
    mode; raises IsolationUnavailable (one line: what is missing) when there is none."""
    mode = detect_isolation().mode
    if course is not None:
        hide(course.root, references.PATH)
    hide(references.PATH)
    start_zygote()
    if os.getpid() not in _self_tested:
        try:
            with Sandbox(Limits(cell_timeout=60), label="self-test") as box:
                outcome = box.run_cells([("self-test", "x = 1")])[0]
        except SandboxError as exc:
            raise IsolationUnavailable(f"the sandbox does not work on this machine: {exc}") from None
        if outcome.status != "ok":
            raise IsolationUnavailable(f"the sandbox does not work on this machine: {outcome.message}")
        _self_tested.add(os.getpid())
    return mode


def protect_course_files(course: Course) -> None:
    """Take away 'other' access from what a student's process must not read: the solution
    notebooks, the references, and every student's submission and results. The sandbox
    runs student code as 'nobody' when the grader runs as root, so this shuts it out;
    git does not record these bits, so the working tree stays clean."""
    if os.geteuid() != 0:
        return
    for path in (course.source_dir(), course.root / "source", course.submitted_dir(), course.autograded_dir(),
                 course.root / "feedback", course.grader_feedback_dir(), course.root / ".grader", references.PATH,
                 course.root / "gradebook.db"):
        try:
            st = path.stat()
            if st.st_uid == 0 and st.st_mode & 0o007:
                path.chmod(stat.S_IMODE(st.st_mode) & ~0o007)
        except OSError:
            pass


def _zero(spec, title: str, why: str) -> CheckResult:
    return CheckResult(spec.notebook, spec.function, spec.name, title, 0.0, spec.points, False, why)


def _hash_files(h, paths) -> None:
    for path in paths:
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")


def grader_fingerprint(course: Course) -> str:
    """Changes when the checks, the references, course.yaml or the course notebooks change."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    _hash_files(h, sorted(package.rglob("*.py")))
    h.update(references.fingerprint().encode())
    _hash_files(h, [course.root / "course.yaml"])
    _hash_files(h, sorted(course.source_dir().glob("*.ipynb")))
    return h.hexdigest()[:16]


def submission_fingerprint(folder: Path, grader_print: str) -> str:
    h = hashlib.sha256(grader_print.encode())
    if folder.is_dir():
        for path in sorted(p for p in folder.glob("*.ipynb") if p.is_file()):
            st = path.stat()
            if st.st_size > MAX_NOTEBOOK_BYTES:     # not read: size and time stand for it
                h.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
            else:
                _hash_files(h, [path])
    return h.hexdigest()[:16]
