"""The class run: grade every (changed) submission of the course and write every output.

    summary = autograde(course, students=None, force=False, workers=1)

Validates everything first (the students, the executor and its scheduler, the
isolation, the references), then, holding the course's run lock: sweeps the leftovers
of a killed run, builds the to-do list (unchanged submissions are skipped unless
`force`), grades on the chosen executor, and for each result writes results.json and
the feedback pages, the autograded notebooks (as nbgrader's autograde leaves them, with
our verdicts as the graded cells' outputs) and then grader_result.json (last: it marks
the student as graded); finally brings nbgrader's gradebook up to date from the result
files, writes the class CSVs with the formgrader's manual grades applied, and records the
run's own figures (.grader/last_run.json: when, how long, which grader) for the insights page.

Crash-safe (see grader.store): a run killed at any moment leaves every student fully
graded or not at all, and the gradebook and CSVs are rebuilt from the result files at
the end of every run, so a rerun finishes the job.

Every reason to stop is an `AutogradeError` with a one-line message; a student's
broken submission is never one (it is a verdict in that student's results).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from . import __version__, autograded, files, gradebook, report, store
from .course import Course
from .results import SubmissionResult

EXECUTORS = ("local", "dask")


class AutogradeError(Exception):
    """The class run cannot proceed; the message says why in one line."""


@dataclass
class RunSummary:
    graded: int                         # submissions graded in this run
    skipped: int                        # unchanged since they were graded
    seconds: float                      # grading time (the executor's), start-up excluded
    results: list[SubmissionResult] = field(default_factory=list)   # every student's latest
    isolation: str = ""                 # how student code was isolated in this run
    unusable: list[str] = field(default_factory=list)   # folders in submitted/ not graded, and why

    @property
    def per_submission(self) -> float:
        return self.seconds / self.graded if self.graded else 0.0


@contextmanager
def _course_lock(course: Course, wait: float):
    """The course's run lock (store.RunLock), a refusal as an AutogradeError."""
    try:
        lock = store.RunLock(course, wait=wait).__enter__()
    except store.LockedError as exc:
        raise AutogradeError(str(exc)) from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def select_students(course: Course, wanted: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """`wanted` (each must have a folder in submitted/), or every student there."""
    found = course.students()
    if wanted:
        missing = [s for s in wanted if s not in found]
        problems = course.folder_problems()
        for s in missing:
            if s in problems:
                raise AutogradeError(f"cannot grade {s!r}: {problems[s]}; rename it to the student's id")
        if missing:
            raise AutogradeError(f"no submission for {', '.join(missing)} in {course.submitted_dir()}")
        return list(dict.fromkeys(wanted))
    if not found:
        unusable = course.unusable_folders()
        if unusable:
            raise AutogradeError(f"no usable submission folder: {unusable[0]}")
        raise AutogradeError(f"no submissions in {course.submitted_dir()} "
                             f"(expected submitted/<student>/{course.assignment}/)")
    return found


def check_assignment(course: Course, assignment: str) -> None:
    if assignment != course.assignment:
        raise AutogradeError(f"this course's assignment is {course.assignment!r}, not {assignment!r}")


def autograde(course: Course, students: list[str] | tuple[str, ...] | None = None, *, force: bool = False,
              workers: int = 1, executor: str = "local", scheduler: str | None = None,
              gradebook_sync: bool = True, wait: float = 0.0,
              progress: Callable[[int], None] | None = None) -> RunSummary:
    """Grade `students` (default: everyone in submitted/) and write every output; see the
    module docstring. `progress(n)` is called with the number of submissions to grade,
    then once per result with 1 (a progress bar's `update`); raises AutogradeError."""
    from . import executor as executors
    from . import references
    from .grading import Grader
    from .sandbox import IsolationUnavailable

    # -- everything that can be refused, before any work --------------------------------
    wanted = bool(students)
    students = select_students(course, students)
    if executor not in EXECUTORS:
        raise AutogradeError(f"unknown executor {executor!r} (choose {' or '.join(EXECUTORS)})")
    if executor == "dask" and not scheduler:
        raise AutogradeError("--executor dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
    if workers < 1:
        raise AutogradeError("--workers must be at least 1")
    try:
        grader = Grader(course)     # isolation first, then references and fingerprints, once
    except IsolationUnavailable as exc:
        raise AutogradeError(str(exc)) from None
    except references.ReferencesError as exc:
        raise AutogradeError(str(exc)) from None
    with _course_lock(course, wait):
        store.sweep_temp_files(course)          # leftovers of a killed run
        unusable = [] if wanted else course.unusable_folders()   # graded by no one: said, not skipped silently
        fingerprints = {s: grader.submission_fingerprint(s) for s in students}
        todo = [s for s in students if force or not store.is_graded(course, s, fingerprints[s])]
        if progress:
            progress(len(todo))
        start = time.perf_counter()
        if not todo:
            stream = iter(())
        elif executor == "dask":
            stream = executors.grade_dask(course, todo, scheduler)
        else:
            stream = executors.grade_local(grader, todo, workers=workers, fingerprints=fingerprints)
        for result in stream:
            report.write_student_outputs(course, result)
            autograded.write_notebooks(course, result)     # as nbgrader's autograde leaves them
            store.save_result(course, result)   # written last: marks the student as graded
            if progress:
                progress(1)
        seconds = time.perf_counter() - start
        results = store.all_results(course, course.students())
        if gradebook_sync:
            try:
                gradebook.sync(course, results)
            except gradebook.GradebookError as exc:
                raise AutogradeError(str(exc)) from None
            results = final_results(course, results)
        report.write_class_csvs(course, results)
        files.write_json(course.run_record(), {
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3), "graded": len(todo), "skipped": len(students) - len(todo),
            "students": len(results), "workers": workers, "executor": executor,
            "isolation": grader.isolation, "grader_version": __version__,
            "grader_fingerprint": grader.fingerprint, "references": references.fingerprint(),
            "unusable_folders": unusable,
        })
    return RunSummary(graded=len(todo), skipped=len(students) - len(todo), seconds=seconds,
                      results=results, isolation=grader.isolation, unusable=unusable)


def final_results(course: Course, results: list[SubmissionResult]) -> list[SubmissionResult]:
    """`results` with the manual scores, comments and extra credit entered in nbgrader's
    formgrader (gradebook.db) applied: what every export shows."""
    try:
        return gradebook.final_results(course, results)
    except Exception as exc:   # noqa: BLE001 - a database we cannot read: one line
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AutogradeError(f"could not read the manual grades in {course.gradebook_path().name} "
                             f"({type(exc).__name__}: {reason})") from None


def export(course: Course, *, wait: float = 0.0, roster: dict | None = None,
           moodle: bool = False) -> list[SubmissionResult]:
    """Rewrite grades.csv and grades_lms.csv from the result files (under the run lock);
    returns the results exported."""
    students = select_students(course)
    with _course_lock(course, wait):
        results = final_results(course, store.all_results(course, students))
        report.write_grades_csv(course.grades_csv(), results, course)
        report.write_lms_csv(course.lms_csv(), results, course, roster=roster, points_possible=not moodle)
    return results
