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
from . import results as R
from .course import Course, NotebookSpec
from .notebook import MAX_NOTEBOOK_BYTES, NotebookUnreadable, prepare, read
from .results import CheckResult, Incident, NotebookResult, SubmissionResult
from .runners import SandboxRunner
from .sandbox import IsolationUnavailable, Limits, Sandbox, SandboxError, detect_isolation, hide, \
    settle, start_zygote
from .sandbox.outcomes import limit_hit, refused


NOTHING_SUBMITTED = "no notebooks were submitted"


class Grader:
    """Everything that is the same for every student of a run, loaded once."""

    def __init__(self, course: Course):
        self.course = course
        self.limits = course.limits
        # Sandboxes must fork from a process that has never seen a reference value or a
        # solution: start the clean zygote before loading them (a no-op if it runs).
        self.isolation = isolate(course)
        protect_course_files(course)
        self.references = references.load()
        self.notebooks = {nb.name: references.course_notebook(course, nb.name) for nb in course.notebooks}
        self.fingerprint = grader_fingerprint(course)

    def submission_fingerprint(self, student: str) -> str:
        return submission_fingerprint(self.course.submission_dir(student), self.fingerprint)

    def grade(self, student: str, folder: Path | None = None, *, fingerprint: str | None = None,
              nothing_submitted: str = NOTHING_SUBMITTED) -> SubmissionResult:
        """Grade `student`'s submission (in submitted/, or in `folder`). `fingerprint`: the
        submission's, when the caller has computed it already; `nothing_submitted`: the
        problem to report when the folder holds no notebook at all."""
        folder = folder or self.course.submission_dir(student)
        start = time.perf_counter()
        result = SubmissionResult(student=student, assignment=self.course.assignment, score=0.0,
                                  max_score=self.course.points,
                                  fingerprint=fingerprint or submission_fingerprint(folder, self.fingerprint),
                                  graded_with=self.fingerprint,
                                  isolation=self.isolation)
        if self.isolation == "none":
            result.problems.append(UNSAFE_NOTE)
        if not folder.is_dir() or not any(folder.glob("*.ipynb")):
            result.problems.append(nothing_submitted)
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

    def grade_notebook(self, nb: NotebookSpec, student: str, path: Path,
                       variant: int | None = None) -> NotebookResult:
        """variant: every check on that probe variant instead of the student's (for tests)."""
        start = time.perf_counter()
        out = NotebookResult(notebook=nb.name, score=0.0, max_score=nb.points)
        try:
            prepared = prepare(self.notebooks[nb.name], read(path))
        except NotebookUnreadable as exc:
            out.problems.append(str(exc))
            out.incidents.append(Incident(R.MISSING if exc.missing else R.UNREADABLE, path.name, str(exc)))
            out.checks = [_zero(spec, checks.definition(spec).title, str(exc))
                          for fn in nb.functions for spec in fn.checks]
            out.seconds = round(time.perf_counter() - start, 4)
            return out
        out.problems.extend(prepared.problems)
        out.incidents.extend(Incident(kind, where, text)
                             for (kind, where), text in zip(prepared.incidents, prepared.problems))
        t_open = time.perf_counter()
        box = Sandbox(self.limits, label=f"{student} {nb.name}")
        t_cells = time.perf_counter()
        try:
            for cell in box.run_cells(prepared.cells):
                if cell.status != "ok":
                    out.problems.append(f"cell '{cell.cell_id}': {cell.message}")
                    out.incidents.append(cell_incident(cell.cell_id, cell.status, cell.message))
            t_checks = time.perf_counter()
            caller = SandboxRunner(box)
            out.checks.extend(checks.grade_notebook(
                nb, self.course, caller, student=student, references=self.references,
                timeout=self.limits.check_timeout, variant=variant))
            out.output, truncated = box.output()
            if truncated:
                out.problems.append(f"the notebook printed more than {self.limits.output_bytes} bytes; "
                                    "the rest was dropped")
                out.incidents.append(Incident(R.OUTPUT_LIMIT, "", f"more than {self.limits.output_bytes} bytes"))
        finally:
            t_close = time.perf_counter()
            box.close(wait=False)
        end = time.perf_counter()
        out.incidents.extend(call_incidents(out.checks, {(i.kind, i.where) for i in out.incidents}))
        out.incidents.extend(attempt_incidents(box.attempts, out.incidents))
        out.score = round(sum(c.score for c in out.checks), 6)
        out.seconds = round(end - start, 4)
        start_s = (t_cells - t_open) + (end - t_close)
        cells_s = t_checks - t_cells
        student_s = caller.student_seconds
        out.timings = {"start": round(start_s, 6), "cells": round(cells_s, 6),
                       "student": round(student_s, 6),
                       "checks": round(max(0.0, (end - start) - start_s - cells_s - student_s), 6)}
        return out

    def grade_variants(self, nb: NotebookSpec, path: Path, variants) -> list[list[CheckResult]]:
        """The checks of `nb` for each probe variant in `variants` in turn (every check on
        that variant), in one sandbox: what a test needs to show that no score depends on
        the variant, and so on the student id."""
        prepared = prepare(self.notebooks[nb.name], read(path))
        with Sandbox(self.limits, label=f"variants {nb.name}") as box:
            box.run_cells(prepared.cells)
            caller = SandboxRunner(box)
            return [checks.grade_notebook(nb, self.course, caller, student="", references=self.references,
                                          timeout=self.limits.check_timeout, variant=v)
                    for v in variants]


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
    for path in (*course.private_paths(), references.PATH):
        try:
            st = path.stat()
            if st.st_uid == 0 and st.st_mode & 0o007:
                path.chmod(stat.S_IMODE(st.st_mode) & ~0o007)
        except OSError:
            pass


def _zero(spec, title: str, why: str) -> CheckResult:
    return CheckResult(spec.notebook, spec.function, spec.name, title, 0.0, spec.points, False, why,
                       failure=R.NOT_GRADED)


def cell_incident(cell_id: str, status: str, message: str) -> Incident:
    """What a cell that did not run cleanly did, as an Incident (CellOutcome status/message)."""
    first = message.splitlines()[0] if message else status
    if status == "syntax_error":
        return Incident(R.SYNTAX_ERROR, cell_id, first)
    if status == "timeout":
        return Incident(R.CELL_TIMEOUT, cell_id, first)
    if status == "crashed":
        return Incident({"memory": R.MEMORY, "cpu": R.CPU}.get(limit_hit(message), R.CELL_CRASHED), cell_id, first)
    if first.startswith("MemoryError"):
        return Incident(R.MEMORY, cell_id, first)
    tried = refused(message)
    if tried:
        return Incident(R.REFUSED, cell_id, f"{tried} ({first})"[:300])
    return Incident(R.CELL_ERROR, cell_id, first)


def call_incidents(results: list[CheckResult], seen: set) -> list[Incident]:
    """Limits hit and refusals met while the checks called the student's functions, once
    per (kind, function) and not again where the notebook's cells already had one."""
    found = []
    for c in results:
        first = c.message.splitlines()[0] if c.message else ""
        if c.failure == R.TIMEOUT:
            incident = Incident(R.CELL_TIMEOUT, c.function, first)
        elif c.failure == R.CRASHED:
            kind = {"memory": R.MEMORY, "cpu": R.CPU}.get(limit_hit(first.partition(" died: ")[2]), R.CELL_CRASHED)
            incident = Incident(kind, c.function, first)
        elif c.failure == R.RAISED:
            raised = c.message.partition(" raised ")[2]
            exception = raised.splitlines()[0] if raised else ""
            # the exception's type only: its text is the student's and may hold the probe
            # inputs it was called with (a hidden value), the line that tried is their source
            kind = exception.partition(":")[0].strip()
            if kind == "MemoryError":
                incident = Incident(R.MEMORY, c.function, kind)
            elif refused(raised):
                tried = refused(raised)
                incident = Incident(R.REFUSED, c.function,
                                    (f"{tried} ({kind})" if tried != exception else kind)[:300])
            else:
                continue
        else:
            continue
        if (incident.kind, incident.where) not in seen:
            seen.add((incident.kind, incident.where))
            found.append(incident)
    return found


def attempt_incidents(attempts: list[tuple[str, str]], incidents: list[Incident]) -> list[Incident]:
    """What the sandbox's audit hook saw the code try (Sandbox.attempts), but the ones a
    refusal seen already names (same place, same line): those a student caught, or that
    were not refused."""
    refused = {(i.where, i.detail.rsplit(" (", 1)[0]) for i in incidents if i.kind == R.REFUSED}
    return [Incident(R.ATTEMPTED, where, text) for where, text in attempts
            if (where, text.rsplit(" (", 1)[0]) not in refused]


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
