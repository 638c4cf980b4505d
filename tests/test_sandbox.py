"""grader.sandbox: real forked processes, no mocks."""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest

from grader import wire
from conftest import marked, new_token, wait_unmarked
from grader.sandbox import zygote as sandbox_mod
from grader.sandbox import CellOutcome, Limits, Sandbox, start_zygote, stop_zygote

ROOT = os.geteuid() == 0
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = Limits(check_timeout=5.0, cell_timeout=5.0)


def cells(**sources):
    return [(name, textwrap.dedent(src)) for name, src in sources.items()]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_gone(pids, seconds=2.0):
    """close() reaps everything before it returns; allow a little slack anyway."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not all(gone(p) for p in pids):
        time.sleep(0.01)
    return [p for p in pids if not gone(p)]


@pytest.fixture(autouse=True)
def own_zygote_state():
    """These tests decide themselves whether a zygote runs. Another test in the same worker
    (a Grader) may have started one: set it aside and put it back afterwards."""
    saved = sandbox_mod._zygote
    sandbox_mod._zygote = None
    yield
    if sandbox_mod._zygote is not None:
        stop_zygote()
    sandbox_mod._zygote = saved


@pytest.fixture
def sb():
    with Sandbox(FAST, label="test") as s:
        yield s


def test_ok_cells_and_calls_returning_arrays(sb):
    out = sb.run_cells(cells(
        imports="import numpy as np",
        sigmoid="""
            def sigmoid(z):
                return 1 / (1 + np.exp(-z))
            def pair(n):
                return np.arange(n), {"n": n, "t": (1.5, None)}
        """))
    assert [o.status for o in out] == ["ok", "ok"]
    r = sb.call("sigmoid", (np.array([0.0, 1.0]),))
    assert r.status == "ok" and r.warnings == [] and r.seconds >= 0
    assert type(r.value) is np.ndarray and np.allclose(r.value, [0.5, 1 / (1 + np.exp(-1))])
    r = sb.call("pair", (), {"n": 3})
    assert r.status == "ok" and np.array_equal(r.value[0], np.arange(3))
    assert r.value[1] == {"n": 3, "t": (1.5, None)}
    r = sb.call("sigmoid", (np.float64(0.0),))
    assert type(r.value) is np.float64 and r.value == 0.5


def test_missing_name(sb):
    r = sb.call("sigmoid")
    assert r.status == "error" and r.message == "NameError: name 'sigmoid' is not defined"


def test_syntax_error_in_one_cell_others_still_run(sb):
    out = sb.run_cells(cells(
        broken="""
            x = 1
            def f(:
                pass
        """,
        good="def g():\n    return 2\n"))
    assert out[0] == CellOutcome("broken", "syntax_error", out[0].message)
    assert out[0].message.startswith("SyntaxError: ") and "(line 3)" in out[0].message
    assert out[1].status == "ok"
    assert sb.call("g").value == 2


def test_exception_in_cell(sb):
    out = sb.run_cells(cells(
        a="def h():\n    return 3\n",
        boom="y = 1\nz = y / 0\n",
        after="w = 5"))
    assert [o.status for o in out] == ["ok", "error", "ok"]
    msg = out[1].message
    assert msg.startswith("ZeroDivisionError: division by zero")
    assert 'File "<cell boom>", line 2' in msg and "z = y / 0" in msg
    assert sb.call("h").value == 3


def test_error_in_call_shows_only_student_frames(sb):
    sb.run_cells(cells(answer="""
        import numpy as np
        def inner(x):
            return np.dot(x, np.ones(4))
        def outer(x):
            return inner(x)
    """))
    r = sb.call("outer", (np.arange(3.0),))
    assert r.status == "error" and r.message.startswith("ValueError: ")
    assert 'File "<cell answer>", line 4, in inner' in r.message
    assert "sandbox.py" not in r.message and "[0. 1. 2.]" not in r.message


def test_ipython_magics_are_commented_out(sb):
    out = sb.run_cells(cells(m="""
        %matplotlib inline
        !pip install nothing
        import numpy as np
        def k(a, b):
            return (a
                    != b)
    """))
    assert out[0].status == "ok", out[0].message
    assert sb.call("k", (1, 2)).value is True


def test_timeout_then_next_call_works_and_cells_are_replayed(sb):
    sb.run_cells(cells(setup="""
        print("defined once")
        counter = [0]
        def spin():
            while True:
                pass
        def value():
            counter[0] += 1
            return counter[0]
    """))
    assert sb.call("value").value == 1
    t0 = time.monotonic()
    r = sb.call("spin", timeout=0.5)
    elapsed = time.monotonic() - t0
    assert r.status == "timeout" and r.message == "timed out after 0.5 s"
    assert elapsed < 1.5
    assert sb.restarts == 0                 # restart is lazy: on the next use
    r = sb.call("value")
    assert r.status == "ok" and r.value == 1    # fresh process, cells replayed
    assert sb.restarts == 1
    text, truncated = sb.output()
    assert text.count("defined once") == 1 and not truncated   # replay is silent


def test_cell_timeout_then_next_cells_run():
    with Sandbox(Limits(cell_timeout=0.5)) as s:
        out = s.run_cells(cells(a="A = 1", hang="while True:\n    pass\n", b="B = A + 1",
                                f="def get():\n    return A, B\n"))
        assert [o.status for o in out] == ["ok", "timeout", "ok", "ok"]
        assert out[1].message == "timed out after 0.5 s"
        assert s.call("get").value == (1, 2)
        assert s.restarts == 1


def test_os_exit_is_crashed_and_next_call_works(sb):
    sb.run_cells(cells(a="import os\ndef die():\n    os._exit(3)\ndef ok():\n    return 'fine'\n"))
    r = sb.call("die")
    assert r.status == "crashed" and r.message == "the process exited with status 3"
    assert sb.call("ok").value == "fine"
    r = sb.call("die")
    assert r.status == "crashed"
    assert sb.call("ok").value == "fine" and sb.restarts == 2


def test_killed_by_signal(sb):
    sb.run_cells(cells(a="import os, signal\ndef kill():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
                         "def segv():\n    os.kill(os.getpid(), signal.SIGSEGV)\n"))
    r = sb.call("kill")
    assert r.status == "crashed" and "SIGKILL" in r.message
    r = sb.call("segv")
    assert r.status == "crashed" and "SIGSEGV" in r.message


def test_memory_hog_is_contained(sb):
    sb.run_cells(cells(a="""
        import numpy as np
        def hog():
            big = np.ones(8 * 2**30 // 8)
            return float(big.sum())
        def small():
            return float(np.ones(1000).sum())
    """))
    r = sb.call("hog")
    assert r.status in ("error", "crashed")
    if r.status == "error":
        assert r.message.startswith("MemoryError")
    assert sb.call("small").value == 1000.0


def test_cpu_limit_kills_the_child():
    with Sandbox(Limits(notebook_cpu=1, check_timeout=10)) as s:
        s.run_cells(cells(a="def burn():\n    while True:\n        pass\n"))
        r = s.call("burn")
        assert r.status == "crashed" and "CPU" in r.message, r
        assert r.seconds < 5


def test_flood_of_output_is_capped():
    lim = Limits(output_bytes=2000)
    with Sandbox(lim) as s:
        s.run_cells(cells(a="""
            print("start")
            def flood():
                while True:
                    print("x" * 99)
            def hello():
                print("hello after flood")
                return 1
        """))
        t0 = time.monotonic()
        r = s.call("flood")
        assert time.monotonic() - t0 < 5
        assert r.status == "error" and r.message.startswith("OSError: [Errno 27] File too large")
        text, truncated = s.output()
        assert truncated and len(text.encode()) <= 2000 and text.startswith("start\nxxx")
        assert s.call("hello").value == 1             # the next call may print again
        assert s.output()[1]
    assert s.output()[1] and s.output()[0].startswith("start")   # kept after close()


def test_monkeypatched_warnings_are_still_reported(sb):
    sb.run_cells(cells(a="""
        import warnings
        import numpy as np
        np.seterr(all="ignore")
        np.seterr = lambda **k: None
        warnings.simplefilter = lambda *a, **k: None
        warnings.filterwarnings("ignore")
        warnings.showwarning = lambda *a, **k: None
        def overflow():
            np.seterr(all="ignore")
            warnings.simplefilter("ignore")
            return np.exp(np.float64(1000.0))
        def underflow():
            return np.exp(np.float64(-1000.0))
        def many():
            for i in range(30):
                warnings.warn(f"w{i}", UserWarning)
            return 0
    """))
    r = sb.call("overflow")
    assert r.status == "ok" and r.value == np.inf
    assert r.warnings == ["RuntimeWarning: overflow encountered in exp"]
    r = sb.call("underflow")                # ignored, as in the in-kernel path (kernel.py)
    assert r.status == "ok" and r.value == 0.0 and r.warnings == []
    r = sb.call("many")
    assert len(r.warnings) == 10 and r.warnings[0] == "UserWarning: w0"


def test_detached_grandchild_is_gone_after_close():
    token = new_token()
    s = Sandbox(FAST)
    s.run_cells(cells(a=f"""
        import os, time, signal
        def detach():
            pid = os.fork()
            if pid == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "{token}"])
                os._exit(0)
            os.waitpid(pid, 0)
            return pid
        def stubborn():
            pids = []
            for mode in ("ignore_term", "stop"):
                pid = os.fork()
                if pid == 0:
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                    if mode == "stop":
                        os.kill(os.getpid(), signal.SIGSTOP)
                    os.execv("/bin/sleep", ["sleep", "{token}"])
                pids.append(pid)
            return pids
    """))
    r = s.call("detach")
    assert r.status == "ok", r
    r2 = s.call("stubborn")
    assert r2.status == "ok", r2
    end = time.monotonic() + 5
    while len(marked(token)) < 2 and time.monotonic() < end:
        time.sleep(0.01)
    assert len(marked(token)) >= 2          # the detached one and the one that ignores SIGTERM
    root = s._root
    s.close()
    assert wait_unmarked(token, 0.5) == []
    assert not root or not os.path.exists(root)
    s.close()                               # idempotent


DETACH = """
import os, time
def detach(token):
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", token])
        os._exit(0)
    os.waitpid(pid, 0)
    return pid
"""


def test_everything_is_gone_when_the_parent_dies_without_close():
    token = new_token()
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {REPO!r})
        import numpy as np
        from grader.sandbox import Sandbox
        s = Sandbox()
        s.run_cells([("a", {DETACH!r})])
        r = s.call("detach", ({token!r},))
        print(r.status, s._root or "-", flush=True)
        os._exit(0)                 # dies without close()
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, cwd=REPO)
    status, folder = res.stdout.split()
    assert status == "ok", res.stderr
    try:
        assert wait_unmarked(token, 5.0) == []
        end = time.monotonic() + 5.0
        while folder != "-" and os.path.exists(folder) and time.monotonic() < end:
            time.sleep(0.02)
        assert folder == "-" or not os.path.exists(folder), \
            "the orphaned warden must remove the sandbox folder"
    finally:
        if folder != "-":
            shutil.rmtree(folder, ignore_errors=True)


def test_stdlib_imports_work_in_the_child(sb):
    out = sb.run_cells(cells(a="""
        import colorsys, wave, decimal, statistics, csv, json, xml.dom.minidom
        import numpy as np
        rng = np.random.default_rng(0)
        def stats():
            return float(statistics.mean([1, 2, 3])), str(decimal.Decimal("1.5")), \
                json.dumps([1]), float(rng.random() < 1)
    """))
    assert out[0].status == "ok", out[0].message
    assert sb.call("stats").value == (2.0, "1.5", "[1]", 1.0)


STEAL = """
import gc, sys
def steal():
    found = []
    f = sys._getframe()
    while f is not None:                        # the Python stack inherited by fork
        found += [k for k, v in f.f_locals.items() if isinstance(v, dict) and "TOP-SECRET" in v]
        f = f.f_back
    for th in sys._current_frames().values():
        while th is not None:
            found += [k for k, v in th.f_locals.items() if isinstance(v, dict) and "TOP-SECRET" in v]
            th = th.f_back
    found += ["gc" for o in gc.get_objects() if isinstance(o, dict) and "TOP-SECRET" in o]
    return found
"""


def test_without_an_early_zygote_the_callers_memory_is_visible_only_without_namespaces():
    """With namespaces the zygote is a new process, started whenever: nothing of the
    caller's memory reaches student code.  Without them (uid, none) the zygote is a fork,
    which is why it must start early: this documents the leak."""
    secrets = {"TOP-SECRET": 42}                # e.g. the reference answers  # noqa: F841
    with Sandbox(FAST) as s:
        s.run_cells([("a", STEAL)])
        if s.isolation == "namespaces":
            assert s.call("steal").value == []
        else:
            assert "secrets" in s.call("steal").value


def test_zygote_children_do_not_see_later_memory():
    assert sandbox_mod._zygote is None
    start_zygote()
    try:
        start_zygote()                          # idempotent
        zpid = sandbox_mod._zygote.pid
        secrets = {"TOP-SECRET": 42}            # loaded after the zygote  # noqa: F841
        with Sandbox(FAST) as s:
            s.run_cells([("a", STEAL), ("b", DETACH), ("c", "def spin():\n    while True:\n        pass\n")])
            assert s.call("steal").value == []
            assert s.call("spin", timeout=0.3).status == "timeout"
            assert s.call("steal").value == [] and s.restarts == 1
            token = new_token()
            assert s.call("detach", (token,)).status == "ok"
        assert wait_unmarked(token, 0.5) == []
        # a process forked from the creator (a pool worker) shares the zygote
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                with Sandbox(FAST) as s2:
                    s2.run_cells([("a", "def f():\n    return 7\n")])
                    os.write(w, str(s2.call("f").value).encode())
            finally:
                os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        assert os.read(r, 10) == b"7"
        os.close(r)
    finally:
        stop_zygote()
    assert wait_gone([zpid], 2.0) == []


def test_fork_bomb_is_limited_and_cleaned_up():
    lim = Limits(processes=32, check_timeout=10)
    token = new_token()
    with Sandbox(lim) as s:
        s.run_cells(cells(a=f"""
            import os, time
            def bomb():
                pids, failures = [], 0
                for i in range(500):
                    try:
                        pid = os.fork()
                    except OSError:
                        failures += 1
                        continue
                    if pid == 0:
                        os.execv("/bin/sleep", ["sleep", "{token}"])
                    pids.append(pid)
                return pids, failures
        """))
        r = s.call("bomb")
        assert r.status == "ok", r
        pids, failures = r.value
        if s.isolation != "none":
            assert len(pids) < lim.processes and failures > 450
        assert pids and marked(token)
    assert wait_unmarked(token, 0.5) == []


@pytest.mark.skipif(not ROOT, reason="the uid switch needs root")
def test_root_child_cannot_write_outside_its_work_dir():
    outside = tempfile.mkdtemp(prefix="nn-intro-test-")
    os.chmod(outside, 0o755)
    try:
        with Sandbox(FAST) as s:
            s.run_cells(cells(a="""
                import os
                def attempt(path):
                    try:
                        with open(path, "w") as f:
                            f.write("x")
                        return "written"
                    except OSError as e:
                        return type(e).__name__
                def whoami():
                    return os.getuid(), os.getgid(), os.getgroups(), os.getcwd()
                def read_parent_output():
                    try:
                        return open("../output.txt").read()
                    except OSError as e:
                        return type(e).__name__
            """))
            uid, gid, groups, cwd = s.call("whoami").value
            assert uid != 0 and gid != 0 and groups == [] and cwd == s.workdir
            refused = ("PermissionError", "FileNotFoundError", "OSError")   # OSError: read-only
            assert s.call("attempt", (os.path.join(REPO, "sandbox_escape.txt"),)).value in refused
            assert s.call("attempt", (os.path.join(outside, "x.txt"),)).value in refused
            assert s.call("attempt", ("in_cwd.txt",)).value == "written"
            assert s.call("attempt", (os.path.join(s.workdir, "abs.txt"),)).value == "written"
            assert s.call("read_parent_output").value in refused
            if s.isolation != "namespaces":         # there the work dir is not on this disk
                assert os.path.exists(os.path.join(s.workdir, "in_cwd.txt"))
        assert not os.path.exists(os.path.join(REPO, "sandbox_escape.txt"))
        assert os.listdir(outside) == []
    finally:
        os.rmdir(outside)


def test_child_environment(sb):
    sb.run_cells(cells(a="""
        import os, sys, resource, tempfile
        def env():
            return {k: os.environ.get(k) for k in ("HOME", "TMPDIR", "MPLCONFIGDIR", "MPLBACKEND")}
        def info():
            return (os.getsid(0) == os.getpid(), sys.stdin.read(),
                    resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20,
                    resource.getrlimit(resource.RLIMIT_FSIZE)[0],
                    resource.getrlimit(resource.RLIMIT_CORE)[0],
                    resource.getrlimit(resource.RLIMIT_CPU)[0], tempfile.gettempdir(),
                    __name__)
    """))
    env = sb.call("env").value
    assert env == {"HOME": sb.workdir, "TMPDIR": sb.workdir, "MPLCONFIGDIR": sb.workdir,
                   "MPLBACKEND": "Agg"}
    assert sb.call("info").value == (True, "", FAST.notebook_memory_mb, 8 * 2**20, 0,
                                     FAST.notebook_cpu, sb.workdir, "__main__")


def test_environment_is_reduced(monkeypatch):
    monkeypatch.setenv("LMS_API_TOKEN", "do-not-leak")
    monkeypatch.setenv("NN_INTRO_TEST_HOOK", "passed through")
    with Sandbox(FAST) as s:
        s.run_cells(cells(a="import os\ndef env():\n    return dict(os.environ)\n"))
        env = s.call("env").value
    assert "LMS_API_TOKEN" not in env and env["NN_INTRO_TEST_HOOK"] == "passed through"
    assert set(env) <= {"PATH", "LANG", "LANGUAGE", "TZ", "TERM", "HOME", "TMPDIR", "MPLCONFIGDIR",
                        "MPLBACKEND", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                        "MKL_NUM_THREADS", "PYTHONHASHSEED", "NN_INTRO_TEST_HOOK"} | {
        k for k in env if k.startswith("LC_")}


def test_echo_args_shows_mutation(sb):
    sb.run_cells(cells(a="def mutate(a, scale=1):\n    a[0] = 99\n    return a.sum() * scale\n"))
    x = np.arange(4.0)
    r = sb.call("mutate", (x,), {"scale": 2}, echo_args=True)
    assert r.status == "ok" and r.value == 2 * (99 + 1 + 2 + 3)
    args, kwargs = r.args_after
    assert np.array_equal(args[0], [99, 1, 2, 3]) and kwargs == {"scale": 2}
    assert x[0] == 0                        # the parent's array is untouched
    assert sb.call("mutate", (x,)).args_after is None


def test_system_exit_and_keyboard_interrupt_are_errors(sb):
    sb.run_cells(cells(a="import sys\ndef leave():\n    sys.exit(4)\n"
                         "def interrupt():\n    raise KeyboardInterrupt\n"
                         "def ok():\n    return 1\n",
                       b="exit()"))
    r = sb.call("leave")
    assert r.status == "error" and r.message.startswith("SystemExit: 4")
    r = sb.call("interrupt")
    assert r.status == "error" and r.message.startswith("KeyboardInterrupt")
    assert sb.call("ok").value == 1 and sb.restarts == 0


def test_unencodable_return_value_is_bad_output(sb):
    """Documented choice: status 'bad_output', value keeps wire.Unsupported markers."""
    sb.run_cells(cells(a="def f():\n    return lambda: 0\n"
                         "def g():\n    return (1, {2, 3})\n"))
    r = sb.call("f")
    assert r.status == "bad_output" and r.value == wire.Unsupported("function")
    assert "function" in r.message
    r = sb.call("g")
    assert r.status == "bad_output" and r.value == (1, wire.Unsupported("set"))


def test_value_too_large_is_bad_output(sb):
    sb.run_cells(cells(a="import numpy as np\ndef big():\n    return np.zeros(9 * 2**20)\n"
                         "def ok():\n    return 1\n"))
    r = sb.call("big")
    assert r.status == "bad_output" and "too large" in r.message
    assert sb.call("ok").value == 1 and sb.restarts == 0


def test_forked_copy_does_not_answer_for_the_child(sb):
    sb.run_cells(cells(a="import os\ndef forks():\n    os.fork()\n    return os.getpid()\n"
                         "def pid():\n    return os.getpid()\n"))
    r = sb.call("forks")
    assert r.status == "ok"
    assert sb.call("pid").value == r.value
    assert sb.call("pid").value == r.value


def test_sandboxes_do_not_share_state():
    with Sandbox(FAST) as a, Sandbox(FAST) as b:
        a.run_cells(cells(x="secret = 42\nopen('f.txt', 'w').write('a')"))
        b.run_cells(cells(y="import os\ndef probe():\n"
                            "    return 'secret' in globals(), os.listdir('.')\n"))
        assert a.workdir != b.workdir or a.isolation == "namespaces"   # then: own tmpfs each
        assert b.call("probe").value == (False, [])


def test_closed_sandbox_refuses_work():
    s = Sandbox(FAST)
    s.close()
    with pytest.raises(RuntimeError):
        s.call("f")


def test_numpy_works_under_the_default_memory_limit(capsys):
    """Prints the child's VmPeak after a typical NN-intro workload under Limits()."""
    with Sandbox(Limits()) as s:
        out = s.run_cells(cells(a="""
            import numpy as np
            def status():
                d = dict(line.split(":", 1) for line in open("/proc/self/status"))
                return int(d["VmPeak"].split()[0]) // 1024, int(d["VmSize"].split()[0]) // 1024
            at_start = status()
            rng = np.random.default_rng(0)
            A = rng.standard_normal((1000, 1000))
            B = np.linalg.inv(A @ A.T + 1000 * np.eye(1000))
            X = rng.standard_normal((2, 400))
            W1, W2 = rng.standard_normal((2, 2)), rng.standard_normal((1, 2))
            for _ in range(300):
                H = np.tanh(W1 @ X)
                Y = 1 / (1 + np.exp(-(W2 @ H)))
                W2 -= 0.1 * ((Y - 1) @ H.T) / X.shape[1]
            def peak():
                return at_start, status()
        """))
        assert out[0].status == "ok", out[0].message
        (start_peak, start_size), (peak, size) = s.call("peak").value
        assert peak < Limits().notebook_memory_mb
    with capsys.disabled():
        print(f"\nchild address space (MiB): inherited VmSize {start_size}, VmPeak after "
              f"workload {peak} (RLIMIT_AS {Limits().notebook_memory_mb}); "
              f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
