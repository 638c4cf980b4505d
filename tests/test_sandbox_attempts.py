"""grader.sandbox.attempts: what student code tried that the sandbox forbids, recorded by
an audit hook in the child even when the student's code catches the refusal."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from grader import results as R
from grader.grading import attempt_incidents
from grader.results import Incident
from grader.sandbox import Limits, Sandbox
from grader.sandbox.attempts import PER_CATEGORY, category
from grader.sandbox.limits import ATTEMPTS_MAX, ATTEMPTS_PER_REPLY

WORK = ("nb-work",)        # a folder that does not exist: nothing below writes anywhere


@pytest.fixture
def work(tmp_path):
    """(the work dir, its parent), real paths: a notebook's folder and what lies outside it."""
    top = Path(os.path.realpath(tmp_path))
    (top / "nb").mkdir()
    return str(top / "nb"), str(top)


@pytest.mark.parametrize("args, expected", [
    (("/usr/x", "w", 0), ("write", "/usr/x")),
    (("/usr/x", "a", 0), ("write", "/usr/x")),
    (("/usr/x", "r+", 0), ("write", "/usr/x")),
    ((b"/etc/passwd", None, os.O_WRONLY), ("write", "/etc/passwd")),
    (("{top}/x", None, os.O_RDWR | os.O_CREAT), ("write", "{top}/x")),
    (("../escape.txt", "w", 0), ("write", "{top}/escape.txt")),
    (("{work}/out.npy", "wb", 0), None),
    (("{work}/sub/../plot.png", "w", 0), None),
    (("plot.png", "w", 0), None),                       # relative to the work dir
    ((os.devnull, "w", 0), None),
    (("/dev/stdout", "w", 0), None),                    # its own output
    (("/proc/self/fd/2", "a", 0), None),
    (("/usr/lib/python3/x.py", "r", os.O_RDONLY), None),    # reading is not recorded
    ((3, "w", 0), None),                                # an fd: already open
    ((object(), "w", 0), None),                         # never run an object's own code
    ((), None),
])
def test_which_opens_are_writes_outside_the_work_dir(work, args, expected):
    folder, top = work

    def fill(v):
        return v.format(work=folder, top=top) if type(v) is str else v
    args = tuple(fill(a) for a in args)
    expected = tuple(fill(e) for e in expected) if expected else expected
    assert category("open", args, (folder,), cwd=folder) == expected


def test_the_runtime_is_never_writable_even_inside_a_writable_folder(work):
    """A venv made under /tmp, graded in namespaces mode (whose /tmp is the notebook's own)."""
    _, top = work
    venv = (f"{top}/clone/.venv",)
    assert category("open", (f"{top}/clone/.venv/lib/x.pth", "w", 0), (top,), readonly=venv) == \
        ("write", f"{top}/clone/.venv/lib/x.pth")
    assert category("open", (f"{top}/scratch.txt", "w", 0), (top,), readonly=venv) is None


def test_network_programs_signals_and_native_code_are_named():
    assert category("socket.__new__", (None, socket.AF_INET, 1, 0), WORK) == ("socket", "")
    assert category("socket.__new__", (None, socket.AF_UNIX, 1, 0), WORK) is None
    assert category("socket.connect", (None, ("192.0.2.1", 80)), WORK) == ("connect", "('192.0.2.1', 80)")
    assert category("socket.getaddrinfo", ("example.org", 80, 0, 0, 0), WORK) == ("lookup", "'example.org'")
    assert category("subprocess.Popen", ("ls", ["ls", "/"], None, None), WORK) == ("program", "['ls', '/']")
    assert category("os.system", (b"id",), WORK) == ("shell", "b'id'")
    assert category("ctypes.dlopen", (None,), WORK) == ("native", "")
    assert category("os.kill", (1, 9), WORK) == ("signal", "")
    assert category("os.kill", (os.getpid(), 0), WORK) is None       # itself
    assert category("gc.get_objects", (-1,), WORK) == ("gc", "")
    assert category("compile", (b"x", "<cell a>"), WORK) is None
    assert category("socket.connect", (), WORK) == ("connect", "")   # odd arguments


CELLS = [
    ("caught_write", "import pathlib\ntry:\n    pathlib.Path('/usr/pwned.txt').write_text('x')\n"
                     "except OSError:\n    pass\n"),
    ("caught_net", "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
                   "except OSError:\n    pass\n"),
    ("program", "import subprocess\ntry:\n    subprocess.run(['/bin/true'])\nexcept OSError:\n    pass\n"),
    # honest work: files in the work dir, numpy, tempfile, matplotlib's cache and a plot
    ("honest", "import numpy as np, tempfile\nnp.save('w.npy', np.zeros(3))\n"
               "open('notes.txt', 'w').write('ok')\ntempfile.NamedTemporaryFile().close()\n"
               "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
               "plt.plot([1, 2]); plt.savefig('plot.png')\n"),
    # a module of the student's own that writes outside when imported: theirs, on the import line
    ("own_module", "open('sneaky.py', 'w').write(\"try:\\n    open('/etc/sneaky', 'w')\\n"
                   "except OSError:\\n    pass\\n\")\nimport sneaky\n"),
    ("probe", "def f(z):\n    try:\n        open('/usr/' + str(z), 'w')\n    except OSError:\n"
              "        pass\n    return z\n"),
    # a call that tries to smuggle its (hidden) input into the record: as a cell's file name,
    # as the cached source line of its own code, or through a thread after the call
    ("smuggle", "import linecache, threading\n"
                "def g(z):\n"
                "    try:\n"
                "        exec(compile(\"open('/usr/x', 'w')\", '<cell ' + repr(z) + '>', 'exec'))\n"
                "    except OSError:\n"
                "        pass\n"
                "    linecache.cache[g.__code__.co_filename] = (1, None, [repr(z)] * 20, 'x')\n"
                "    try:\n"
                "        open('/usr/y', 'w')\n"
                "    except OSError:\n"
                "        pass\n"
                "    def later():\n"
                "        try:\n"
                "            open('/usr/' + repr(z), 'w')\n"
                "        except OSError:\n"
                "            pass\n"
                "    threading.Thread(target=later).start()\n"
                "    return z\n"),
    # the standard library asking the system about itself is not the student's doing
    ("informative", "import platform\nplatform.platform(); platform.architecture()\n"),
    # odd events of its own making do not disturb the record or the cell
    ("odd", "import sys\nsys.audit('open', object(), 5, 'x')\nsys.audit('socket.__new__')\n"
            "sys.audit('open', '/usr/fake', None, 1)\n"),
]


@pytest.fixture(scope="module")
def attempted():
    with Sandbox(Limits(cell_timeout=30)) as box:
        outcomes = box.run_cells(CELLS)
        call = box.call("f", (123456789,))
        smuggled = [box.call("g", (987654321,)) for _ in range(2)]      # the thread's write lands in the second
        assert all(c.status == "ok" for c in smuggled), smuggled
        return outcomes, call, list(box.attempts)


def test_caught_refusals_are_recorded_in_the_students_words(attempted):
    outcomes, _, found = attempted
    assert [o.status for o in outcomes] == ["ok"] * len(CELLS), outcomes
    by_cell = {}
    for where, text in found:
        by_cell.setdefault(where, []).append(text)
    assert by_cell["caught_write"] == [
        "pathlib.Path('/usr/pwned.txt').write_text('x') (writes outside its folder: /usr/pwned.txt)"]
    assert "socket.create_connection(('192.0.2.1', 80), timeout=1) (opens a network socket)" in by_cell["caught_net"]
    assert by_cell["program"] == ["subprocess.run(['/bin/true']) (starts a program: ['/bin/true'])"]
    assert by_cell["own_module"] == ["import sneaky (writes outside its folder: /etc/sneaky)"]
    assert "honest" not in by_cell
    assert by_cell["odd"] == ["sys.audit('open', '/usr/fake', None, 1) (writes outside its folder: /usr/fake)"]


def test_what_a_called_function_was_given_is_not_named(attempted):
    _, call, found = attempted
    assert call.status == "ok" and call.value == 123456789
    assert ("f", "open('/usr/' + str(z), 'w') (writes outside its folder)") in found
    assert not any("123456789" in text for _, text in found)     # the grader's input stays hidden
    assert not any("987654321" in text or "987654321" in where for where, text in found), found
    assert ("g", "open('/usr/y', 'w')") in [(w, t.partition(" (")[0]) for w, t in found]


def test_the_standard_library_asking_the_system_is_not_an_attempt(attempted):
    assert "informative" not in {where for where, _ in attempted[2]}


def test_one_kind_of_attempt_cannot_fill_the_record():
    code = ("import socket\nfor i in range(9):\n    try:\n        open(f'/usr/x{i}', 'w')\n    except OSError:\n"
            "        pass\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\nexcept OSError:\n    pass\n")
    with Sandbox(Limits(cell_timeout=30)) as box:
        box.run_cells([("many", code)])
        kinds = [text for _, text in box.attempts]
    assert sum("writes outside its folder" in t for t in kinds) == PER_CATEGORY
    assert any("opens a network socket" in t for t in kinds), kinds


def test_the_record_is_bounded():
    many = "for i in range(50):\n    try:\n        open(f'/usr/x{i}', 'w')\n    except OSError:\n        pass\n"
    with Sandbox(Limits(cell_timeout=30)) as box:
        box.run_cells([(f"c{k}", many.replace("/usr/x", f"/usr/{k}x")) for k in range(12)])
        assert len(box.attempts) == ATTEMPTS_MAX
        assert sum(where == "c0" for where, _ in box.attempts) == PER_CATEGORY    # all writes
        assert ATTEMPTS_PER_REPLY >= PER_CATEGORY


def test_an_attempt_already_seen_as_a_refusal_is_not_listed_twice():
    seen = [Incident(R.REFUSED, "cell-a", "open('/usr/x', 'w') (PermissionError)")]
    got = attempt_incidents([("cell-a", "open('/usr/x', 'w') (writes outside its folder: /usr/x)"),
                             ("cell-a", "s.connect(addr) (connects to the network)"),      # caught, same cell
                             ("relu", "x (opens a network socket)")], seen)
    assert got == [Incident(R.ATTEMPTED, "cell-a", "s.connect(addr) (connects to the network)"),
                   Incident(R.ATTEMPTED, "relu", "x (opens a network socket)")]
