"""grader.runners: the sandbox runner and the kernel runner give the same CallOutcome,
with the same words, for the same student code, and both enforce the time limit."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from grader.runners import KernelRunner, SandboxRunner
from grader.sandbox import Limits, Sandbox

CODE = textwrap.dedent('''
    import numpy as np
    import warnings

    def good(z):
        return np.maximum(0.0, np.asarray(z, dtype=float))

    def returns_function(z):
        return lambda x: x

    def returns_object_array(z):
        return np.array([1.0, "a"], dtype=object)

    def contains_function(z):
        return {"value": 1.0, "why": print}

    def raises(z):
        raise ValueError("z must be positive")

    def overflows(z):
        return np.exp(np.asarray(z, dtype=float) * 1000.0)

    def warns(z):
        warnings.warn("this is deprecated", DeprecationWarning)
        return 1.0

    def mutates(z):
        z[0] = 99.0
        return z

    def exits(z):
        raise SystemExit(3)

    def loops(z):
        while True:
            pass

    def calls_loops(z):
        return loops(z)

    def helper(z):
        raise ValueError("broken helper")

    def uses_helper(z):
        return helper(z) + 1.0
''')

CASES = [
    ("good", [1.0, -2.0]),
    ("returns_function", 1.0),
    ("returns_object_array", 1.0),
    ("contains_function", 1.0),
    ("raises", 1.0),
    ("overflows", [1.0]),
    ("warns", 1.0),
    ("exits", 1.0),
    ("missing", 1.0),
]


@pytest.fixture(scope="module")
def runners():
    box = Sandbox(Limits(check_timeout=5.0, cell_timeout=10.0), label="runners")
    assert all(o.status == "ok" for o in box.run_cells([("code", CODE)]))
    namespace: dict = {}
    exec(compile(CODE, "<cell code>", "exec"), namespace)
    yield SandboxRunner(box), KernelRunner(namespace)
    box.close()


def _first_line(message: str) -> str:
    return (message.splitlines() or [""])[0]


@pytest.mark.parametrize("function, arg", CASES, ids=[c[0] for c in CASES])
def test_the_same_mistake_gets_the_same_outcome_in_both_runners(runners, function, arg):
    sandbox, kernel = runners
    a = sandbox(function, (np.asarray(arg) if isinstance(arg, list) else arg,), {}, False, 5.0)
    b = kernel(function, (np.asarray(arg) if isinstance(arg, list) else arg,), {}, False, 5.0)
    assert (a.status, _first_line(a.message), a.warnings) == (b.status, _first_line(b.message), b.warnings)
    if a.status == "ok":
        np.testing.assert_array_equal(np.asarray(a.value), np.asarray(b.value))
        assert type(a.value) is type(b.value)


def test_the_words_say_what_went_wrong(runners):
    _, kernel = runners
    assert kernel("returns_function", (1.0,), {}, False, 5.0).message == \
        "the function returned function, which is not plain data"
    assert "contains builtin_function_or_method" in kernel("contains_function", (1.0,), {}, False, 5.0).message
    raised = kernel("raises", (1.0,), {}, False, 5.0)
    assert raised.status == "error" and raised.message.startswith("ValueError: z must be positive")
    assert kernel("overflows", ([1.0],), {}, False, 5.0).warnings == \
        ["RuntimeWarning: overflow encountered in exp"]
    assert kernel("missing", (1.0,), {}, False, 5.0).message == "NameError: name 'missing' is not defined"


def test_arguments_are_copies_and_echo_shows_them_after_the_call(runners):
    for runner in runners:
        z = np.array([1.0, 2.0])
        out = runner("mutates", (z,), {}, True, 5.0)
        assert out.status == "ok" and z[0] == 1.0             # the caller's array is untouched
        (args_after, _kwargs) = out.args_after
        assert np.asarray(args_after[0])[0] == 99.0             # what the function did to its copy


def test_both_runners_stop_an_infinite_loop_and_do_not_wait_for_it_again(runners):
    for runner in runners:
        out = runner("loops", (1.0,), {}, False, 0.5)
        assert (out.status, out.message) == ("timeout", "timed out after 0.5 s")
        again = runner("calls_loops", (1.0,), {}, False, 60.0)     # an error at once, not a timeout
        assert again.status == "error"
        assert again.message.startswith("TimeoutError: loops did not finish within 0.5 s")
    assert runners[0].student_seconds > 0 and runners[1].student_seconds > 0


def test_both_runners_put_stand_ins_in_for_one_call_and_restore_the_students_helper(runners):
    standins = {"source": "def helper(z):\n    return 2.0 * z\n", "names": ["helper"]}
    for runner in runners:
        assert runner.standins
        helped = runner("uses_helper", (3.0,), {}, False, 5.0, standins=standins)
        assert (helped.status, helped.value) == ("ok", 7.0)
        alone = runner("uses_helper", (3.0,), {}, False, 5.0)
        assert alone.status == "error" and alone.message.startswith("ValueError: broken helper")
