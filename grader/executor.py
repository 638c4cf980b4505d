"""Grading many submissions: inline, on a local process pool (the default), or on Dask.

Every executor grades a student with the same `Grader.grade`, so results are the same
whichever ran them. Workers are forked from a parent that has numpy and the grader
imported (pre-warmed); each notebook then gets its own sandbox process from its worker.

On Dask (`grade_dask`), each task grades a batch of students in a fresh Python process
started on the Dask worker (`worker_main` below): the Dask worker itself is threaded, and
forking sandboxes from a threaded process is unsafe, so the batch runs in a
single-threaded process that calls `Grader()` -- which starts the clean sandbox zygote
(grading.isolate) before any reference is loaded -- exactly as a local run does. The
sandbox guarantees (limits, no leaked processes, comparison in the grading process, not
in the student's) therefore hold on the workers too. The batch process writes its results
as JSON to a private temporary file; the task returns them as plain dicts.

Requirements on a real cluster: every worker runs the same Python environment (this
package installed) and sees the course folder at the same path (a shared filesystem).
A batch process whose Dask worker dies stops too (it watches its stdin, a pipe from the
worker), and its sandboxes with it.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Iterator

from . import files
from .course import Course, load
from .grading import Grader
from .sandbox.posix import PR_SET_PDEATHSIG, prctl
from .results import SubmissionResult

_worker_grader: Grader | None = None
_worker_fingerprints: dict[str, str] = {}


def _init_worker() -> None:
    # A pool worker dies with the run that started it (a killed run leaves no grader behind;
    # its sandboxes' wardens follow their own parent).
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _grade_in_worker(student: str) -> SubmissionResult:
    assert _worker_grader is not None
    return _worker_grader.grade(student, fingerprint=_worker_fingerprints.get(student))


def grade_local(grader: Grader, students: list[str], workers: int = 1,
                fingerprints: dict[str, str] | None = None) -> Iterator[SubmissionResult]:
    """Results in completion order. workers=1 grades in this process (no pool); more
    workers are forked from it and use its Grader (isolated, references loaded) as is.
    `fingerprints`: the submissions' fingerprints, when the caller computed them."""
    global _worker_grader, _worker_fingerprints
    fingerprints = fingerprints or {}
    if workers <= 1 or len(students) <= 1:
        for student in students:
            yield grader.grade(student, fingerprint=fingerprints.get(student))
        return
    _worker_grader, _worker_fingerprints = grader, fingerprints    # inherited by the fork
    ctx = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
            futures = {pool.submit(_grade_in_worker, s): s for s in students}
            for future in as_completed(futures):
                try:
                    yield future.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed from outside
                    yield failed_result(grader.course, futures[future], exc)
    finally:
        _worker_grader, _worker_fingerprints = None, {}


def failed_result(course: Course, student: str, exc: BaseException) -> SubmissionResult:
    """The verdict for a student whose grading itself failed: zero, and why, so that the
    class run goes on and the next run grades the student again (no fingerprint)."""
    why = (f"grading did not complete ({type(exc).__name__}: {str(exc)[:200]}); "
           "it will be retried on the next run")
    return SubmissionResult(student=student, assignment=course.assignment, score=0.0,
                            max_score=course.points, problems=[why], fingerprint="")


# ---------------------------------------------------------------------------------------
# Dask

MAX_BATCH = 32      # students per Dask task, at most (a batch process costs ~0.3 s to start)

_WORKER_CODE = "from grader.executor import worker_main; worker_main()"


def worker_main(argv: list[str] | None = None) -> None:
    """The batch process of a Dask task: `python -c <_WORKER_CODE> ROOT OUT STUDENT...`.
    Grades the students of the course at ROOT and writes their results, a JSON list of
    SubmissionResult dicts, to the file OUT. Exits when its stdin reaches end of file
    (its Dask worker died), taking its sandboxes with it."""
    root, out, *students = sys.argv[1:] if argv is None else argv
    grader = Grader(load(root))     # isolate() first: the zygote never sees a reference
    _exit_when_stdin_closes()       # a thread, started after the zygote was forked
    results = [grader.grade(student).to_dict() for student in students]
    files.write_json(out, results)


def _exit_when_stdin_closes() -> None:
    import threading

    def watch() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        os._exit(75)    # the zygote's PDEATHSIG ends it, and each warden then its sandbox

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def grade_batch_subprocess(root: str, students: list[str]) -> list[dict]:
    """Grade `students` in a fresh single-threaded process; plain dicts back (runs on a
    Dask worker). Raises RuntimeError, with the process's last words, if it fails."""
    if not (Path(root) / "course.yaml").is_file():
        raise RuntimeError(f"the Dask worker on {socket.gethostname()} cannot see the course folder {root}: "
                           "the course must be on a filesystem that every worker sees at the same path")
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory(prefix="nn-intro-dask-") as tmp:
        out, log = os.path.join(tmp, "results.json"), os.path.join(tmp, "log.txt")
        with open(log, "wb") as log_file:
            proc = subprocess.Popen([sys.executable, "-c", _WORKER_CODE, root, out, *students],
                                    stdin=subprocess.PIPE, stdout=log_file, stderr=log_file,
                                    env=env, close_fds=True)
            try:
                status = proc.wait()
            finally:
                if proc.poll() is None:     # interrupted: do not leave it running
                    proc.kill()
                    proc.wait()
                proc.stdin.close()
        if status != 0 or not os.path.isfile(out):
            with open(log, "rb") as f:
                tail = f.read()[-800:].decode("utf-8", "replace").strip()
            raise RuntimeError(f"the grading process on {socket.gethostname()} failed "
                               f"(exit status {status}): {tail or 'no output'}")
        with open(out, encoding="utf-8") as f:
            return json.load(f)


def batches_for(students: list[str], threads: int, batch_size: int | None = None) -> list[list[str]]:
    """Students in batches: `batch_size` each, or by default about two batches per Dask
    thread (so that a slow batch does not leave the others idle), at most MAX_BATCH."""
    if not students:
        return []
    size = batch_size or max(1, min(MAX_BATCH, math.ceil(len(students) / (2 * max(1, threads)))))
    return [students[i:i + size] for i in range(0, len(students), size)]


def grade_dask(course: Course, students: list[str], scheduler: str) -> Iterator[SubmissionResult]:
    """Grade on a Dask distributed cluster at `scheduler` (e.g. tcp://127.0.0.1:8786).
    Results in completion order, as `grade_local`."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    if not students:
        return
    with Client(scheduler, set_as_default=False) as client:
        threads = sum(client.nthreads().values())
        batches = {client.submit(grade_batch_subprocess, str(course.root), batch, pure=False): batch
                   for batch in batches_for(list(students), threads)}
        futures = list(batches)
        try:
            for future in dask_completed(futures, loop=client.loop):
                try:
                    done = [SubmissionResult.from_dict(data) for data in future.result()]
                except Exception as exc:  # noqa: BLE001 - a lost worker or batch: verdicts, not a crash
                    done = [failed_result(course, student, exc) for student in batches[future]]
                yield from done
        finally:
            client.cancel([f for f in futures if not f.done()])
