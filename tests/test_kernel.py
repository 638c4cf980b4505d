"""grader.kernel, the hidden-test cells' entry point: who is graded, and what it prints/returns."""
import io
import math
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np

from grader import kernel


def test_student_id_comes_from_nbgraders_autograded_folder(monkeypatch):
    monkeypatch.delenv(kernel.STUDENT_ENV, raising=False)
    assert kernel.student_id(Path("/c/autograded/ada/nn_intro")) == "ada"
    assert kernel.student_id(Path("/c/submitted/bo b/nn_intro")) == "bo b"
    assert kernel.student_id(Path("/c/source/nn_intro")) == "instructor"
    monkeypatch.setenv(kernel.STUDENT_ENV, "zed")
    assert kernel.student_id(Path("/c/autograded/ada/nn_intro")) == "zed"


def test_grade_returns_a_python_float_and_writes_nothing_to_stderr(course, monkeypatch):
    """nbgrader reads a float result as partial credit (a numpy float would print as
    'np.float64(..)' and count as full marks) and zeroes a cell that writes to stderr."""
    monkeypatch.setenv("NN_INTRO_COURSE", str(course.root))
    namespace = {"np": np}
    exec("def relu(z):\n    import warnings; warnings.warn('noise')\n"
         "    return np.abs(np.asarray(z, dtype=float))\n", namespace)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        score = kernel.grade("03_activations", "relu", namespace)
    assert type(score) is float and score == 0.0 and not math.isnan(score)
    assert err.getvalue() == ""
    assert "FAIL max(0, z)" in out.getvalue() and "relu: 0 / 1 points" in out.getvalue()
    exec("def relu(z):\n    return np.maximum(0.0, np.asarray(z, dtype=float))\n", namespace)
    with redirect_stdout(io.StringIO()):
        assert kernel.grade("03_activations", "relu", namespace) == 1.0
