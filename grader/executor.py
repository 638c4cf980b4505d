"""Grading many submissions: inline, on a local process pool (the default), or on Dask.

Every executor grades a student with the same `Grader.grade`, so results are the same
whichever ran them. Workers are forked from a parent that has numpy and the grader
imported (pre-warmed); each notebook then gets its own sandbox process from its worker.
On Dask, each task grades a batch of students in a fresh `python -m grader worker`
process on the Dask worker (a single-threaded process that can fork safely, unlike the
threaded Dask worker itself), which returns the results as JSON.
"""
from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Iterator

from .course import Course, load
from .grading import Grader
from .results import SubmissionResult

_worker_grader: Grader | None = None


def _init_worker(root: str) -> None:
    global _worker_grader
    _worker_grader = Grader(load(root))


def _grade_in_worker(student: str) -> SubmissionResult:
    assert _worker_grader is not None
    return _worker_grader.grade(student)


def grade_local(course: Course, students: list[str], workers: int = 1) -> Iterator[SubmissionResult]:
    """Results in completion order. workers=1 grades in this process (no pool)."""
    if workers <= 1 or len(students) <= 1:
        grader = Grader(course)
        for student in students:
            yield grader.grade(student)
        return
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(str(course.root),)) as pool:
        futures = [pool.submit(_grade_in_worker, s) for s in students]
        for future in as_completed(futures):
            yield future.result()


def grade_batch_subprocess(root: str, students: list[str]) -> list[dict]:
    """Grade `students` in a fresh single-threaded process; plain dicts back (runs on a Dask worker)."""
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "worker", "--course", root, *students],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"grader worker failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def grade_dask(course: Course, students: list[str], scheduler: str, batch_size: int = 8
               ) -> Iterator[SubmissionResult]:
    """Grade on a Dask distributed cluster at `scheduler` (e.g. tcp://127.0.0.1:8786)."""
    from distributed import Client, as_completed as dask_completed

    batches = [students[i:i + batch_size] for i in range(0, len(students), batch_size)]
    with Client(scheduler, set_as_default=False) as client:
        futures = [client.submit(grade_batch_subprocess, str(course.root), batch, pure=False)
                   for batch in batches]
        for future in dask_completed(futures):
            for data in future.result():
                yield SubmissionResult.from_dict(data)
