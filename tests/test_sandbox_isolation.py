"""Attacks from student code, in every deployment the grader runs in: as root (CI), as
root without namespaces (a Gradescope-like container: uid mode), as a normal user (an
instructor's laptop, a JupyterHub account), with one and two workers, and on Dask workers.  Each class holds
two honest students and one attacker per attack in tests/attacks.py; the real command
line grades it twice (the second run sees whatever the first left behind).

Asserted for each: nothing was read (every read-only attack earns full marks), nothing
was changed, no process outlived the run, nothing reached the network, no file was left
in the shared temp folders, each attack that breaks its own notebook costs only its
author, and every honest student keeps full marks."""
from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import threading
from contextlib import nullcontext
from pathlib import Path

import pytest
import yaml

import attacks as A
from conftest import ROOT as REPO, copy_course, dask_cluster, marked, new_token
from grader import course as course_mod
from grader.sandbox import isolation

IS_ROOT = os.geteuid() == 0
HAVE_BWRAP = isolation.bwrap_path() is not None and isolation.probe_bwrap() is None
TEST_USER = "nnintro-instructor"


class Listener:
    """TCP and UDP on 127.0.0.1 (one port number): remembers anything that arrives."""

    def __init__(self):
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen()
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.got: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        import select
        while not self._stop:
            ready = select.select([self.tcp, self.udp], [], [], 0.1)[0]
            for s in ready:
                if s is self.tcp:
                    try:
                        conn, _ = s.accept()
                    except OSError:
                        return
                    self.got.append("tcp")
                    conn.close()
                else:
                    s.recv(4096)
                    self.got.append("udp")

    def close(self):
        self._stop = True
        self._thread.join()         # then close: the thread never touches a closed socket
        self.tcp.close()
        self.udp.close()


def _user_ids() -> tuple[int, int]:
    try:
        pw = pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        TEST_USER], check=True, capture_output=True)
        pw = pwd.getpwnam(TEST_USER)
    return pw.pw_uid, pw.pw_gid


CONTAINER = [sys.executable, str(REPO / "tests" / "container.py")]


def _as_user(cmd: list[str], uid: int, gid: int, container: bool = False) -> list[str]:
    """cmd run as uid/gid (in a container without namespaces, if asked).  If this machine's
    Python or the venv lives under a folder that user cannot pass (a pyenv under /root, a
    clone under `mktemp -d`, mode 700), a private mount namespace shows that user the
    Python and the venv alone there, as any machine where instructors run their own
    Python would."""
    if container:
        prefix = [*CONTAINER, "--user", f"{uid}:{gid}", "--"]
    else:
        prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
    shown: dict[Path, list[str]] = {}   # a folder the user cannot pass -> its entries to show
    for needed in (Path(sys.base_prefix), Path(sys.prefix), REPO / "tests", REPO / "grader"):  # container.py needs both
        for parent in reversed(needed.parents):
            if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
                child = needed.relative_to(parent).parts[0]
                if child not in shown.setdefault(parent, []):
                    shown[parent].append(child)
                break
    if not shown:
        return prefix + cmd
    steps = []
    for blocked, children in shown.items():
        steps.append('d=$(mktemp -d) && chmod 755 "$d"')
        steps += [f'mkdir "$d/{c}" && mount --rbind "{blocked}/{c}" "$d/{c}"' for c in children]
        steps.append(f'mount --rbind "$d" "{blocked}"')
    script = " && ".join(steps) + ' && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *prefix, *cmd]


def _run_class(tmp_path: Path, *, user: bool = False, workers: int = 1, mode: str = "",
               attacks=tuple(A.ATTACKS), container: bool = False, runs: int = 2,
               extra: tuple = (), dask: bool = False) -> dict:
    (tmp_path / "course").mkdir()
    root = copy_course(tmp_path / "course")
    cfg = yaml.safe_load((root / "course.yaml").read_text())
    cfg["limits"].update(check_timeout=3, cell_timeout=10, notebook_memory_mb=600)
    (root / "course.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    # evidence the attacks could reach if they escaped
    (root / ".git" / "objects").mkdir(parents=True, exist_ok=True)
    (root / ".git" / "objects" / "ab").write_text("secret")
    (root / "samples").mkdir(exist_ok=True)
    students = A.write_class(root / "submitted", attacks)
    token = new_token()
    listener = Listener()
    env = {**os.environ, "NN_INTRO_ATTACK_ROOT": str(root), "NN_INTRO_ATTACK_TOKEN": token,
           "NN_INTRO_ATTACK_PORT": str(listener.port)}
    if mode:
        env[isolation.FORCE_ENV] = mode
    if mode == "none":
        env[isolation.UNSAFE_ENV] = "1"
    cmd = [sys.executable, "-m", "grader", "autograde", "nn_intro", "--course", str(root),
           "--workers", str(workers), "--force", *extra]
    if user:
        # the instructor's own checkout: the grader's code and references are theirs
        shutil.copytree(REPO / "grader", tmp_path / "grader",
                        ignore=shutil.ignore_patterns("__pycache__"))
        uid, gid = _user_ids()
        subprocess.run(["chown", "-R", f"{uid}:{gid}", str(tmp_path)], check=True)
        os.chmod(tmp_path, 0o755)
        env["HOME"] = str(tmp_path)
        cmd = _as_user(cmd, uid, gid, container)
    elif container:
        cmd = [*CONTAINER, "--", *cmd]
    n_runs, runs = runs, []
    try:
        with (dask_cluster(tmp_path, env) if dask else nullcontext((None, []))) as (address, _):
            if dask:        # the workers grade, with the attack's hooks in their environment
                cmd += ["--executor", "dask", "--scheduler", address]
            for _ in range(n_runs):
                runs.append(subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                                           cwd=str(tmp_path)))
    finally:
        listener.close()
    course = course_mod.load(root)
    results = {s: json.loads(p.read_text()) for s in students
               if (p := course.autograded_dir() / s / "nn_intro" / "grader_result.json").exists()}
    left_tmp = {p for top in ("/tmp", "/dev/shm", "/var/tmp") for p in Path(top).glob(f"nn-attack-{token}*")}
    return {"root": root, "runs": runs, "results": results, "token": token, "listener": listener,
            "left_tmp": left_tmp, "course": course}


def _check(out: dict) -> None:
    runs, results, root = out["runs"], out["results"], out["root"]
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
    full = out["course"].points
    relu_points = sum(c.points for nb in out["course"].notebooks for fn in nb.functions
                      if fn.name == "relu" for c in fn.checks)
    for name, res in results.items():
        attack = name.removeprefix("attack-")
        if name.startswith("honest") or attack not in A.SELF_HARMING:
            problems = [c["message"] for nb in res["notebooks"] for c in nb["checks"] if not c["passed"]]
            assert res["score"] == full, (name, problems[:3], res["notebooks"][2]["problems"][:3])
        else:
            # the attacker loses at most its own notebook's relu and neighbours in it
            assert full - 12 <= res["score"] < full or attack == "signals", (name, res["score"])
            for nb in res["notebooks"][:2]:
                assert nb["score"] == nb["max_score"], (name, nb["notebook"])
        assert len(json.dumps(res)) < 1 << 20
        for f in (out["course"].autograded_dir() / name / "nn_intro").iterdir():
            assert f.stat().st_size < 1 << 20, f
    assert relu_points > 0
    # what each attack tried is on record although it caught every refusal (sandbox.attempts);
    # the honest students' record is clean
    tried = {name: [i for nb in res["notebooks"] for i in nb["incidents"] if i["kind"] in ("attempted", "refused")]
             for name, res in results.items()}
    assert tried["honest-a"] == tried["honest-b"] == [], tried["honest-a"] + tried["honest-b"]
    for attack in ("tamper", "survive", "network", "leave_files"):
        if f"attack-{attack}" in tried:
            assert tried[f"attack-{attack}"], attack
    mem = results["attack-memory_total"]["notebooks"][2]["problems"]
    assert any("MiB of memory" in p or "SIGKILL" in p for p in mem), mem
    forged = [c["message"] for c in results["attack-forged_frame"]["notebooks"][2]["checks"]
              if c["function"] == "relu"]
    assert any("oversized" in m or "malformed" in m for m in forged), forged
    assert marked(out["token"]) == [], "a student process outlived the run"
    assert out["listener"].got == [], "student code reached the network"
    assert out["left_tmp"] == set(), "files were left in the shared temp folders"
    assert not (root / "numpy.py").exists()
    for top in sys.path:
        if top.endswith("site-packages"):
            assert not list(Path(top).glob("nn_attack_*.pth"))
    assert json.loads((root / "submitted" / "honest-a" / "nn_intro" / "03_activations.ipynb").read_text())["cells"]
    with open("/proc/sysvipc/shm") as f:
        key = int(out["token"].split(".")[1]) % 2**31
        assert not any(line.split()[0] == str(key) for line in f.read().splitlines()[1:])


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap cannot create namespaces on this machine")
@pytest.mark.parametrize("workers", [1, 2])
def test_attacks_get_nothing_in_namespaces_as_this_user(tmp_path, workers):
    out = _run_class(tmp_path, workers=workers)
    assert all(r["isolation"] == "namespaces" for r in out["results"].values())
    _check(out)


@pytest.mark.slow
@pytest.mark.skipif(not IS_ROOT, reason="makes a container without namespaces, as root")
@pytest.mark.parametrize("workers", [1, 2])
def test_attacks_get_nothing_as_root_in_a_container_without_namespaces(tmp_path, workers):
    """As on Gradescope: root, but no user namespaces and no CAP_SYS_ADMIN. The grader finds
    out by itself (bubblewrap fails) and falls back to uid mode."""
    out = _run_class(tmp_path, workers=workers, container=True)
    assert all(r["isolation"] == "uid" for r in out["results"].values())
    _check(out)


@pytest.mark.skipif(not IS_ROOT, reason="makes a user and a container, as root")
def test_a_normal_user_without_namespaces_is_refused_in_one_line(reachable_dir):
    out = _run_class(reachable_dir, user=True, container=True, attacks=(), runs=1)
    run = out["runs"][0]
    assert run.returncode == 1 and out["results"] == {}
    line = run.stderr.strip()
    assert "\n" not in line and line.startswith("error: cannot isolate student code:"), line
    assert "user namespaces" in line and "--unsafe-no-isolation" in line and "bwrap" in line


@pytest.mark.skipif(not IS_ROOT, reason="makes a user and a container, as root")
def test_unsafe_grading_says_so_everywhere(reachable_dir):
    out = _run_class(reachable_dir, user=True, container=True, attacks=(), runs=1,
                     extra=("--unsafe-no-isolation",))
    run = out["runs"][0]
    assert run.returncode == 0, run.stderr
    assert all(r["isolation"] == "none" and any("WITHOUT isolation" in p for p in r["problems"])
               for r in out["results"].values())
    assert "WARNING: 2 students were graded WITHOUT isolation" in run.stdout
    results_json = out["course"].autograded_dir() / "honest-a" / "nn_intro" / "results.json"
    assert "WITHOUT isolation" in results_json.read_text()


@pytest.mark.slow
@pytest.mark.skipif(not IS_ROOT or not HAVE_BWRAP, reason="needs root to make a normal user, and bubblewrap")
@pytest.mark.parametrize("workers", [1, 2])
def test_attacks_get_nothing_as_a_normal_user(reachable_dir, workers):
    out = _run_class(reachable_dir, user=True, workers=workers)
    assert all(r["isolation"] == "namespaces" for r in out["results"].values())
    _check(out)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [
    pytest.param("namespaces", marks=pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap cannot create namespaces")),
    pytest.param("uid", marks=pytest.mark.skipif(not IS_ROOT, reason="uid mode needs root"))])
def test_attacks_get_nothing_on_dask_workers(tmp_path, mode):
    """The class graded by a local Dask cluster's two worker processes (the scheduler on the
    loopback interface, its address in the grader's command line for the network attack to
    find): the same guarantees as on this machine's own workers."""
    pytest.importorskip("distributed")
    out = _run_class(tmp_path, mode=mode, dask=True)
    assert all(r["isolation"] == mode for r in out["results"].values())
    assert len(out["results"]) == 2 + len(A.ATTACKS)
    _check(out)


@pytest.mark.slow
def test_the_attacks_bite_without_isolation(tmp_path):
    """The same attacks with --unsafe-no-isolation (the ones safe to let loose on a test
    machine): they do read, outlive, reach the network and leave files, so the tests above
    prove something."""
    out = _run_class(tmp_path, mode="none", attacks=("read_secrets", "survive", "network", "leave_files"))
    try:
        assert all(r["isolation"] == "none" for r in out["results"].values())
        assert out["results"]["attack-read_secrets"]["score"] < out["course"].points
        assert out["results"]["honest-a"]["score"] == out["course"].points
        assert any("WITHOUT isolation" in p for p in out["results"]["honest-a"]["problems"])
        assert marked(out["token"]), "the surviving process was not left behind"
        assert "tcp" in out["listener"].got and "udp" in out["listener"].got
        assert out["left_tmp"], "no file was left in the shared temp folders"
        key = str(int(out["token"].split(".")[1]) % 2**31)
        assert any(line.split()[0] == key for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:])
    finally:
        for pid in marked(out["token"]):
            os.kill(pid, 9)
        for p in out["left_tmp"]:
            p.unlink()
        key = str(int(out["token"].split(".")[1]) % 2**31)
        subprocess.run(["ipcrm", "-M", key], capture_output=True)
