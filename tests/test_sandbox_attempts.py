"""grader.sandbox.attempts: what student code tried that the sandbox forbids, recorded by
an audit hook in the child even when the student's code catches the refusal."""
from __future__ import annotations

import os
import socket

import pytest

from grader import results as R
from grader.grading import attempt_incidents
from grader.results import Incident
from grader.sandbox import Limits, Sandbox
from grader.sandbox.attempts import category
from grader.sandbox.limits import ATTEMPTS_MAX, ATTEMPTS_PER_REPLY

WORK = ("/work/nb",)


@pytest.mark.parametrize("args, expected", [
    (("/usr/x", "w", 0), ("writes outside its folder", "/usr/x")),
    (("/usr/x", "a", 0), ("writes outside its folder", "/usr/x")),
    (("/usr/x", "r+", 0), ("writes outside its folder", "/usr/x")),
    ((b"/etc/passwd", None, os.O_WRONLY), ("writes outside its folder", "/etc/passwd")),
    (("/tmp/x", None, os.O_RDWR | os.O_CREAT), ("writes outside its folder", "/tmp/x")),
    (("../escape.txt", "w", 0), ("writes outside its folder", "/work/escape.txt")),
    (("/work/nb/out.npy", "wb", 0), None),
    (("/work/nb/sub/../plot.png", "w", 0), None),
    (("plot.png", "w", 0), None),                       # relative to the work dir
    ((os.devnull, "w", 0), None),
    (("/usr/lib/python3/x.py", "r", os.O_RDONLY), None),    # reading is not recorded
    ((3, "w", 0), None),                                # an fd: already open
    ((object(), "w", 0), None),                         # never run an object's own code
    ((), None),
])
def test_which_opens_are_writes_outside_the_work_dir(args, expected):
    assert category("open", args, WORK, cwd="/work/nb") == expected


def test_network_programs_signals_and_native_code_are_named():
    assert category("socket.__new__", (None, socket.AF_INET, 1, 0), WORK) == ("opens a network socket", "")
    assert category("socket.__new__", (None, socket.AF_UNIX, 1, 0), WORK) is None
    assert category("socket.connect", (None, ("192.0.2.1", 80)), WORK) == \
        ("connects to the network", "('192.0.2.1', 80)")
    assert category("socket.getaddrinfo", ("example.org", 80, 0, 0, 0), WORK) == \
        ("looks up a host name", "'example.org'")
    assert category("subprocess.Popen", ("ls", ["ls", "/"], None, None), WORK) == \
        ("starts a program", "['ls', '/']")
    assert category("os.system", (b"id",), WORK) == ("runs a shell command", "b'id'")
    assert category("ctypes.dlopen", (None,), WORK) == ("loads native code with ctypes", "")
    assert category("os.kill", (1, 9), WORK) == ("sends a signal to another process", "")
    assert category("os.kill", (os.getpid(), 0), WORK) is None       # itself
    assert category("gc.get_objects", (-1,), WORK)[0] == "searches the interpreter's objects"
    assert category("compile", (b"x", "<cell a>"), WORK) is None
    assert category("socket.connect", (), WORK) == ("connects to the network", "")   # odd arguments


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
    # odd events of its own making do not disturb the record or the cell
    ("odd", "import sys\nsys.audit('open', object(), 5, 'x')\nsys.audit('socket.__new__')\n"
            "sys.audit('open', '/usr/fake', None, 1)\n"),
]


@pytest.fixture(scope="module")
def attempted():
    with Sandbox(Limits(cell_timeout=30)) as box:
        outcomes = box.run_cells(CELLS)
        call = box.call("f", (123456789,))
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


def test_the_record_is_bounded():
    many = "for i in range(50):\n    try:\n        open(f'/usr/x{i}', 'w')\n    except OSError:\n        pass\n"
    with Sandbox(Limits(cell_timeout=30)) as box:
        box.run_cells([(f"c{k}", many.replace("/usr/x", f"/usr/{k}x")) for k in range(6)])
        assert len(box.attempts) == ATTEMPTS_MAX
        assert sum(where == "c0" for where, _ in box.attempts) == ATTEMPTS_PER_REPLY


def test_an_attempt_already_seen_as_a_refusal_is_not_listed_twice():
    seen = [Incident(R.REFUSED, "cell-a", "open(...) (PermissionError)")]
    got = attempt_incidents([("cell-a", "open(...) (writes outside its folder)"), ("relu", "x (opens a network socket)")],
                            seen)
    assert got == [Incident(R.ATTEMPTED, "relu", "x (opens a network socket)")]
