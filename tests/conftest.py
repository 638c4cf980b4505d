"""Shared fixtures: the course, temporary course copies, synthetic submissions."""
from __future__ import annotations

import os
import select
import subprocess
import time
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from grader import course as course_mod  # noqa: E402


@pytest.fixture(scope="session")
def course():
    return course_mod.load(ROOT)


def copy_course(dest: Path) -> Path:
    """A working copy of the course folder (no student data, no venv)."""
    for name in ("course.yaml", "nbgrader_config.py"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, dest / name)
    return dest


@pytest.fixture
def course_copy(tmp_path):
    return copy_course(tmp_path)


# Limits for grading hostile submissions (loops, memory hogs): the course's 10 s and
# 1.5 GiB would give the same scores, only ten times slower. An honest check takes a few
# milliseconds and an honest notebook stays well under 600 MiB of address space
# (tests/test_sandbox.py::test_numpy_works_under_the_default_memory_limit prints it).
TIGHT_LIMITS = {"check_timeout": 1, "cell_timeout": 5, "notebook_memory_mb": 600}


def set_limits(root: Path, **limits) -> Path:
    """Change the `limits:` of the course copy at `root` (its course.yaml, as an instructor
    would), keeping every other setting."""
    path = root / "course.yaml"
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown = set(limits) - set(cfg["limits"])
    assert not unknown, f"course.yaml has no limits {sorted(unknown)}"
    cfg["limits"].update(limits)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def tight_course(tmp_path_factory):
    """A course copy whose course.yaml has TIGHT_LIMITS: for tests of hostile submissions."""
    root = copy_course(tmp_path_factory.mktemp("tight-course"))
    return course_mod.load(set_limits(root, **TIGHT_LIMITS))


@pytest.fixture
def reachable_dir():
    """A temporary folder that the sandbox's unprivileged user can reach (pytest's are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="nn-intro-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


DASK_CLUSTER = """
import os, sys
from distributed import Client, LocalCluster

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        print(cluster.scheduler_address, *client.run(os.getpid).values(), flush=True)
        sys.stdin.read()    # runs until the test closes our stdin
"""


@contextmanager
def dask_cluster(folder: Path, env: dict):
    """A local Dask cluster (2 worker processes, loopback only) in a helper process, so that
    the test process gets none of Dask's threads (they would stay, and enlarge the address
    space that later sandboxes forked from it inherit). The workers get `env` (the test hooks
    NN_INTRO_* that reach student code through the sandbox). Yields (scheduler address,
    worker pids)."""
    script = folder / "cluster.py"
    script.write_text(DASK_CLUSTER)
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env, text=True)
    try:
        ready = select.select([proc.stdout], [], [], 60)[0]
        assert ready, "the Dask cluster did not start within 60 s"
        address, *pids = proc.stdout.readline().split()
        assert address.startswith("tcp://127.0.0.1:"), address
        yield address, [int(p) for p in pids]
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def holds_open(pid: int, path) -> bool:
    """Does process `pid` have `path` open?"""
    target = str(path)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:
            pass
    return False


def gradebook_submissions(course) -> dict[str, list[float]]:
    """student -> scores of their submissions of the assignment, through nbgrader's API."""
    from nbgrader.api import Gradebook

    from grader import gradebook

    out: dict[str, list[float]] = {}
    with Gradebook(gradebook.default_db_url(course), course_id=course.course_id) as gb:
        for sub in gb.assignment_submissions(course.assignment):
            out.setdefault(sub.student.id, []).append(round(float(sub.score), 6))
    return out


def marked(token: str) -> list[int]:
    """Host pids of the processes whose command line holds token (student processes live
    in their own pid namespace, so the pids they see mean nothing out here)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if token.encode() in f.read():
                        found.append(int(name))
            except OSError:
                pass
    return found


def wait_unmarked(token: str, seconds: float = 2.0) -> list[int]:
    end = time.monotonic() + seconds
    while time.monotonic() < end and marked(token):
        time.sleep(0.01)
    return marked(token)


def new_token() -> str:
    """A sleep duration no other process uses: `sleep <token>` marks a student process."""
    return f"{100000 + os.getpid()}.{time.monotonic_ns() % 10**9:09d}"


# ---------------------------------------------------------------------------------------
# The quick lane (`make check`) is every test without one of these markers. A test that
# takes longer than QUICK_SECONDS without one is named at the end of the run, so that the
# lane stays quick as tests are added. (A note, not a failure: timing is never asserted.)

LANE_MARKERS = ("slow", "kernel", "nbgrader")
QUICK_SECONDS = 5.0


def pytest_terminal_summary(terminalreporter):
    slow = {}
    for reports in terminalreporter.stats.values():
        for rep in reports:
            if getattr(rep, "when", None) is None or not hasattr(rep, "nodeid"):
                continue
            if any(m in rep.keywords for m in LANE_MARKERS):
                continue
            slow[rep.nodeid] = slow.get(rep.nodeid, 0.0) + rep.duration
    late = sorted((t, n) for n, t in slow.items() if t > QUICK_SECONDS)
    if late:
        terminalreporter.write_sep("-", f"unmarked tests over {QUICK_SECONDS:g} s (mark them slow to keep make check quick)")
        for t, nodeid in reversed(late):
            terminalreporter.write_line(f"{t:6.1f} s  {nodeid}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium (tests/browser.py), one per test module; skips, saying why, without one."""
    from browser import Chromium, find_browser

    binary = find_browser()
    if binary is None:
        pytest.skip("no Chromium binary (chromium, chromium-browser, google-chrome) on PATH: "
                    "pages are not checked in a browser (apt-get install chromium)")
    b = Chromium(binary, tmp_path_factory.mktemp("chromium-profile"))
    try:
        b.send("Browser.getVersion", timeout=60)
    except Exception as exc:
        b.close()
        pytest.skip(f"{binary} does not start headless here: {exc}")
    yield b
    b.close()
