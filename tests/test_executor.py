"""The Dask executor gives the same results as the local one, on a real local Dask cluster
(two worker processes on the loopback interface, started by the test), and the sandbox
guarantees hold on its workers: limits, no leaked processes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader import samples as S
from conftest import copy_course, dask_cluster, marked, new_token
from grader import course as course_mod
from grader import store
from grader.autograde import autograde
from grader.executor import batches_for

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.slow

STUDENTS = {
    "key": {},
    "blank": None,
    "bug-loss": {"02_xor_network": {"compute_loss": S.BUGS["compute_loss_mean"][2]}},
    "bug-relu": {"03_activations": {"relu": S.BUGS["relu_abs"][2]}},
    "flood": {"03_activations": {"relu_derivative": S.HOSTILE["output_flood"][2]}},
    "daemon": {"02_xor_network": {"compute_loss": S.HOSTILE["detached_child"][2]}},
}


def make_course(folder: Path):
    root = copy_course(folder)
    for student, overrides in STUDENTS.items():
        S.write_submission(root / "submitted" / student / "nn_intro", overrides or {},
                           blank=overrides is None, root=root)
    return course_mod.load(root)


def comparable(course, student):
    """Everything of a stored result except timings and the time it was graded."""
    data = json.loads((course.autograded_dir() / student / "nn_intro" / "grader_result.json").read_text())
    for key in ("graded_at", "seconds"):
        data.pop(key)
    for nb in data["notebooks"]:
        for key in ("seconds", "timings"):
            nb.pop(key, None)
        for check in nb["checks"]:
            check.pop("seconds")
    return data


def test_batches_cover_every_student_once():
    students = [f"s{i}" for i in range(70)]
    for threads, size in ((1, None), (2, None), (8, None), (2, 5)):
        batches = batches_for(students, threads, size)
        assert [s for b in batches for s in b] == students
        assert all(0 < len(b) <= (size or 32) for b in batches)
    assert len(batches_for(students, 2)) == 4 and batches_for([], 2) == []


@pytest.fixture
def cluster(tmp_path, reachable_dir):
    """dask_cluster (conftest) with the pid file the hostile code writes on the workers.
    Yields (scheduler address, worker pids, that token)."""
    token = new_token()
    with dask_cluster(tmp_path, {**os.environ, "NN_INTRO_HOSTILE_TOKEN": token}) as (address, pids):
        yield address, pids, token


def test_dask_and_local_executors_give_identical_results(tmp_path, reachable_dir, monkeypatch, cluster):
    address, worker_pids, dask_token = cluster
    local_token = new_token()
    (tmp_path / "local").mkdir()
    (tmp_path / "dask").mkdir()
    local, remote = make_course(tmp_path / "local"), make_course(tmp_path / "dask")
    students = sorted(STUDENTS)

    monkeypatch.setenv("NN_INTRO_HOSTILE_TOKEN", local_token)
    autograde(local, students, workers=2, gradebook_sync=False)

    proc = subprocess.run([sys.executable, "-m", "grader", "autograde", "nn_intro", "--executor", "dask",
                           "--scheduler", address, "--no-gradebook", "--course", str(remote.root)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"graded {len(students)} submission(s)" in proc.stdout
    # nothing is left running under the Dask workers: no batch process, no sandbox
    leftovers = [c for pid in worker_pids for c in psutil.Process(pid).children(recursive=True)
                 if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not leftovers, [(c.pid, c.cmdline()) for c in leftovers]

    for student in students:
        a = (local.autograded_dir() / student / "nn_intro" / "results.json").read_bytes()
        b = (remote.autograded_dir() / student / "nn_intro" / "results.json").read_bytes()
        assert a == b, student
        assert comparable(local, student) == comparable(remote, student), student
    assert (local.root / "grades.csv").read_bytes() == (remote.root / "grades.csv").read_bytes()

    # the grades are the expected ones, whichever executor gave them
    by_student = {s: store.load_result(remote, s) for s in students}
    assert by_student["key"].score == remote.points and by_student["blank"].score == 0
    assert by_student["bug-loss"].score < remote.points and by_student["bug-relu"].score < remote.points
    assert by_student["daemon"].score == remote.points

    # where the time went travels with the results (not in results.json)
    for nb in by_student["key"].notebooks:
        assert set(nb.timings) == {"start", "cells", "student", "checks"}
        assert 0 < nb.timings["student"] < nb.seconds
        assert abs(sum(nb.timings.values()) - nb.seconds) < 0.01
    assert b"timings" not in (remote.autograded_dir() / "key" / "nn_intro" / "results.json").read_bytes()

    # limits hold on the workers: the output flood was capped
    flood = by_student["flood"].notebook("03_activations")
    assert len(flood.output.encode()) <= 20000 + 100
    assert any("printed more than" in p for p in flood.problems)

    # the detached grandchildren that the hostile code started, here and on the workers,
    # are all gone
    for where, course_, token in (("local", local, local_token), ("dask", remote, dask_token)):
        daemon = store.load_result(course_, "daemon").notebook("02_xor_network")
        assert "daemon started" in daemon.output, \
            f"the hostile code did not start its daemons ({where}), so this proves nothing"
        assert marked(token) == [], where
