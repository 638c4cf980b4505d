"""Crash safety of `python -m grader autograde`, on a real class run: SIGKILL the run's
whole process group (pool workers, sandbox zygote, wardens and student processes
included) at different moments, run it again, and the course ends exactly as after one
uninterrupted run: every student graded once, the same scores, whole results.json files,
a whole grades.csv, one gradebook submission per student, no temporary files. Also: two
runs started at once, and a run whose main process alone is killed."""
from __future__ import annotations

import csv
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from grader import samples as S
from conftest import copy_course, gradebook_submissions, holds_open, marked, new_token, set_limits
from grader import course as course_mod
from grader import gradebook, store

pytestmark = pytest.mark.slow     # real class runs killed and resumed: not in `make check`

ASSIGNMENT = "nn_intro"
TAG = "NN_INTRO_CRASH_TAG"      # NN_INTRO_* survives into the sandbox's environment too

# 30 students: the key, the blank release and every planted bug (no infinite loop).
FINAL = {**{f"key{i}": "key" for i in range(5)}, **{f"blank{i}": "blank" for i in range(4)},
         **{f"bug-{name}": name for name in sorted(S.BUGS)}}
# the first version of six submissions, replaced before the second half of the test
FIRST = {"key0": "relu_abs", "key1": "blank", "blank0": "key", "bug-relu_abs": "key",
         "bug-compute_loss_mean": "blank", "bug-tanh_naive": "sigmoid_naive"}
assert len(FINAL) == 30 and set(FIRST) <= set(FINAL)


def write(root: Path, student: str, kind: str) -> None:
    folder = root / "submitted" / student / ASSIGNMENT
    if folder.exists():
        shutil.rmtree(folder)
    if kind in ("key", "blank"):
        S.write_submission(folder, blank=kind == "blank")
    else:
        S.write_bug(folder, kind)


def make_course(root: Path, kinds: dict[str, str]):
    root.mkdir()
    copy_course(root)
    for student, kind in kinds.items():
        write(root, student, kind)
    return course_mod.load(root)


def tagged_processes(tag: str) -> list[int]:
    """Live processes started by the runs of this test (a zombie has no environment)."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if needle in fh.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                pass
    return found


def wait_all_gone(tag: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes of a killed run are still alive: {left}"


class Run:
    """`python -m grader autograde` in its own session (process group = its pid)."""

    def __init__(self, root: Path, tag: str, *args: str, env: dict | None = None):
        self.root = root
        self.tag = tag
        self.started = time.time_ns()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--workers", "2", *args],
            cwd=root, env={**os.environ, **(env or {}), TAG: tag}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True)

    def kill_when(self, moment, what: str, timeout: float = 180) -> None:
        """SIGKILL the process group as soon as `moment()` is true (polled every ~2 ms);
        the run must not have finished before."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            if moment():
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.communicate()
                wait_all_gone(self.tag)
                return
            time.sleep(0.002)
        out, err = self.proc.communicate(timeout=5) if self.proc.poll() is not None else ("", "")
        self.cleanup()
        raise AssertionError(f"the run ended (status {self.proc.returncode}) before the moment "
                             f"'{what}': {out[-300:]} {err[-300:]}")

    def finish(self, timeout: float = 300) -> str:
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return out

    def cleanup(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def graded_files(course, since_ns: int = 0) -> int:
    n = 0
    for path in course.autograded_dir().glob(f"*/{ASSIGNMENT}/grader_result.json"):
        try:
            n += path.stat().st_mtime_ns > since_ns
        except FileNotFoundError:
            pass
    return n


def graded_count(out: str) -> int:
    assert out.startswith("graded "), out
    return int(out.split()[1])


def check_each_student_whole(course) -> int:
    """Mid-crash invariant: a student with grader_result.json has every output, whole and
    agreeing with it. Returns how many students are graded."""
    n = 0
    for path in sorted(course.autograded_dir().glob(f"*/{ASSIGNMENT}/grader_result.json")):
        student = path.parent.parent.name
        result = store.load_result(course, student)
        assert result is not None, f"{path} is not a whole result"
        data = json.loads((path.parent / "results.json").read_text(encoding="utf-8"))
        assert data["score"] == pytest.approx(result.score, abs=1e-4)
        fb = course.grader_feedback_dir() / student / ASSIGNMENT
        assert (fb / "feedback.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
        assert (fb / "feedback.md").read_text(encoding="utf-8").startswith("# Feedback")
        n += 1
    return n


def read_grades(root: Path) -> dict[str, dict]:
    with open(root / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert header == ["student", "01_perceptron", "02_xor_network", "03_activations", "total", "max_score"]
    assert all(len(r) == len(header) for r in body), "a cut grades.csv"
    students = [r[0] for r in body]
    assert len(students) == len(set(students)), "a student twice in grades.csv"
    return {r[0]: dict(zip(header[1:], map(float, r[1:]))) for r in body}


def results_json(course, student: str) -> dict:
    data = json.loads((course.autograded_dir() / student / ASSIGNMENT / "results.json").read_text(encoding="utf-8"))
    return {"score": data["score"], "tests": [(t["name"], t["score"], t["status"]) for t in data["tests"]]}


def leftovers(root: Path) -> list[str]:
    """Temporary files anywhere in the course (write_text's .<name>.<random>.tmp, mkstemp
    names, a temporary gradebook) and SQLite journals."""
    bad = []
    for path in root.rglob("*"):
        name = path.name
        if (".tmp" in name or name.startswith("tmp") or name.endswith(("-journal", "-wal"))):
            bad.append(str(path.relative_to(root)))
    return sorted(bad)


def in_gradebook_sync(run: Run, db: Path, seen: dict) -> bool:
    """The moment to kill a run that records in an existing gradebook.db: its rollback
    journal exists (a write transaction is open), or the run has had the database open
    for 0.3 s (whichever comes first)."""
    if db.with_name(db.name + "-journal").exists():
        seen["how"] = "journal"
        return True
    if holds_open(run.proc.pid, db):
        first = seen.setdefault("open", time.monotonic())
        if time.monotonic() - first > 0.3:
            seen["how"] = "open"
            return True
    return False


def test_killed_runs_end_as_one_uninterrupted_run(tmp_path):
    # the uninterrupted run, on the final submissions, runs in the background meanwhile
    ref = make_course(tmp_path / "reference", FINAL)
    ref_run = Run(ref.root, uuid.uuid4().hex, "--no-gradebook")
    try:
        course = make_course(tmp_path / "crashed", {**FINAL, **FIRST})
        _crash_and_resume(course, uuid.uuid4().hex)
    except BaseException:
        ref_run.cleanup()
        raise
    ref_run.finish()
    wait_all_gone(ref_run.tag)

    # every student once, the same scores as the uninterrupted run, everything whole
    root = course.root
    expected = read_grades(ref.root)
    assert sorted(expected) == sorted(FINAL)
    assert len({r["total"] for r in expected.values()}) > 5    # not a trivially uniform class
    assert read_grades(root) == expected
    for student in FINAL:
        assert results_json(course, student) == results_json(ref, student), student
    assert check_each_student_whole(course) == 30
    assert gradebook_submissions(course) == {s: [row["total"]] for s, row in expected.items()}
    assert gradebook.export_totals(course) == pytest.approx({s: r["total"] for s, r in expected.items()}, abs=1e-4)
    assert set(gradebook.gradebook_marks(course)) == set(FINAL)
    assert leftovers(root) == []


def _crash_and_resume(course, tag: str) -> None:
    root = course.root
    # 1. during start-up
    run = Run(root, tag)
    run.kill_when(lambda: time.time_ns() - run.started > 300_000_000, "0.3 s after start")
    # 2. early in grading, 3. half-way
    for k in (2, 12):
        before = graded_files(course)
        run = Run(root, tag)
        run.kill_when(lambda: graded_files(course) >= before + k, f"{k} more students graded")
        assert check_each_student_whole(course) >= before + k
    # 4. while the new gradebook is being built (under a temporary name)
    run = Run(root, tag)
    run.kill_when(lambda: any(root.glob(".gradebook.db.*.tmp")), "gradebook being built")
    assert check_each_student_whole(course) == 30
    assert not (root / "gradebook.db").exists()               # never a half-made gradebook
    assert not (root / "grades.csv").exists()
    # 5. to the end: nobody is graded twice
    assert graded_count(Run(root, tag).finish()) == 0
    assert sorted(gradebook_submissions(course)) == sorted(FINAL)

    # six students submit again; a --force regrade of everyone is killed part-way ...
    for student in FIRST:
        write(root, student, FINAL[student])
    run = Run(root, tag, "--force")
    run.kill_when(lambda: graded_files(course, run.started) >= 10, "10 students regraded")
    assert graded_files(course, run.started) >= 10
    assert check_each_student_whole(course) == 30
    # ... the next run grades what is left and is killed while recording in the gradebook
    marks_before = gradebook.gradebook_marks(course)
    run = Run(root, tag)
    seen: dict = {}
    run.kill_when(lambda: in_gradebook_sync(run, root / "gradebook.db", seen), "recording in gradebook.db")
    assert all(store.is_graded(course, s, _fingerprint_now(course, s)) for s in FINAL)
    assert gradebook.gradebook_marks(course) == marks_before       # the sync did not complete
    # 6. to the end
    assert graded_count(Run(root, tag).finish()) == 0


def _fingerprint_now(course, student: str) -> str:
    from grader.grading import grader_fingerprint, submission_fingerprint

    return submission_fingerprint(course.submitted_dir() / student / ASSIGNMENT, grader_fingerprint(course))


SMALL = {"alice": "key", "bob": "blank", "carol": "relu_abs", "dave": "forward_no_hidden_bias",
         "erin": "key", "frank": "predict_strict", "grace": "tanh_naive", "heidi": "blank"}


def test_two_runs_started_at_once(tmp_path):
    course = make_course(tmp_path / "course", SMALL)
    root, tag = course.root, uuid.uuid4().hex
    runs = [Run(root, tag), Run(root, tag)]
    done = [(r.proc.pid, *r.proc.communicate(timeout=300), r.proc.returncode) for r in runs]
    assert sorted(d[3] for d in done) == [0, 1], done
    (winner, out, _, _), = [d for d in done if d[3] == 0]
    (_, refused_out, refused_err, _), = [d for d in done if d[3] == 1]
    assert refused_out == ""
    assert refused_err.strip().splitlines() == [
        f"error: another grading run (pid {winner}) is working on this course; wait for it or use --wait SECONDS"]
    assert graded_count(out) == len(SMALL)

    # with --wait, the second waits, then finds the work done: each student graded once
    for student in ("bob", "carol", "dave"):
        write(root, student, "key")
    runs = [Run(root, tag, "--wait", "300"), Run(root, tag, "--wait", "300")]
    graded = sorted(graded_count(r.finish()) for r in runs)
    assert graded == [0, 3]
    wait_all_gone(tag)

    totals = {s: row["total"] for s, row in read_grades(root).items()}
    assert sorted(totals) == sorted(SMALL) and totals["bob"] == 33.0
    assert check_each_student_whole(course) == len(SMALL)
    assert gradebook_submissions(course) == {s: [t] for s, t in totals.items()}
    assert leftovers(root) == []


# A relu that, in a run started with NN_INTRO_CRASH_BLOCK=<token>, waits in `sleep <token>`
# (a process the test can see) until the check's time limit; in any other run it is relu.
BLOCKER = """
import os
def relu(z):
    token = os.environ.get("NN_INTRO_CRASH_BLOCK")
    if token:
        os.spawnv(os.P_WAIT, "/bin/sleep", ["sleep", token])
    return np.maximum(0.0, np.asarray(z, dtype=float))
"""


def parent_and_command(pid: int) -> tuple[int, bytes]:
    with open(f"/proc/{pid}/status") as fh:
        ppid = next(int(line.split()[1]) for line in fh if line.startswith("PPid:"))
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return ppid, fh.read()


def test_a_killed_main_process_frees_the_course_at_once(tmp_path):
    """Only the run's own process is killed, while a pool worker is provably in the middle
    of a submission: the lock is free at once, because forked workers do not keep a copy
    of it (the workers themselves die with the run, by their parent-death signal).

    Deterministic: the run cannot end, nor its worker finish carol, before the test has
    looked, because carol's relu waits for the check's time limit (120 s here) in a
    `sleep <token>` process, but only in this first run."""
    course = make_course(tmp_path / "course", SMALL)
    root, tag, token = course.root, uuid.uuid4().hex, new_token()
    S.write_submission(root / "submitted" / "carol" / ASSIGNMENT, overrides={"03_activations": {"relu": BLOCKER}})
    set_limits(root, check_timeout=120)
    lock = root / ".grader" / "lock"
    run = Run(root, tag, "--no-gradebook", env={"NN_INTRO_CRASH_BLOCK": token})
    try:
        # the state the test needs: carol's worker is inside her relu and another student is graded
        deadline = time.monotonic() + 120
        while ((not marked(token) or graded_files(course) < 1) and run.proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.002)
        assert run.proc.poll() is None, "the run ended before it could be killed"
        assert marked(token) and graded_files(course) >= 1, "the run never reached carol's relu"
        main = run.proc.pid
        workers = []
        for pid in tagged_processes(tag):
            try:
                ppid, command = parent_and_command(pid)
            except (OSError, StopIteration):
                continue
            if ppid == main and command == parent_and_command(main)[1]:
                workers.append(pid)           # forked from the main process: a pool worker
        assert workers, "no pool worker is alive while carol is being graded: nothing was tested"
        assert holds_open(main, lock), "the run does not hold .grader/lock: nothing was tested"
        assert [p for p in tagged_processes(tag) if p != main and holds_open(p, lock)] == [], \
            "a process forked by the run keeps the lock open"
        os.kill(main, signal.SIGKILL)
        run.proc.wait()
        fd = os.open(lock, os.O_RDWR)         # at once: nobody holds it any more
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        again = subprocess.run([sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--no-gradebook"],
                               cwd=root, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        assert graded_count(again.stdout) < len(SMALL)
    finally:
        try:
            os.killpg(run.proc.pid, signal.SIGKILL)   # the orphaned workers
        except ProcessLookupError:
            pass
        wait_all_gone(tag)
    assert set(read_grades(root)) == set(SMALL)
