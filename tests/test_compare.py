"""grader.compare: exact shapes, NaN/inf, worst index, likely causes, no leaked values."""
import numpy as np
import pytest

from grader.compare import compare, identical
from grader.course import Tolerance
from grader.wire import Unsupported

TOL = Tolerance(1e-7, 1e-10)


def test_equal_arrays_pass():
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    assert compare(x.copy(), x, TOL).ok


def test_broadcastable_shape_is_a_failure():
    r = compare(np.zeros((3, 1)), np.zeros(3), TOL)
    assert not r.ok and "expected shape (3,), got shape (3, 1)" in r.message


def test_python_float_matches_zero_d_reference():
    assert compare(0.25, np.float64(0.25), TOL).ok
    assert not compare([0.25], np.float64(0.25), TOL).ok


def test_worst_index_and_errors_are_named_but_values_are_not():
    expected = np.array([[0.123456789, 0.5], [0.75, 0.987654321]])
    actual = expected.copy()
    actual[1, 0] += 0.3
    r = compare(actual, expected, TOL)
    assert not r.ok
    assert "index (1, 0)" in r.message and "abs error ~0.3" in r.message and "rtol=1e-07" in r.message
    for value in ("0.123456789", "0.987654321", "0.75", "1.05"):
        assert value not in r.message


@pytest.mark.parametrize("wrong, cause", [
    (lambda e: -e, "sign is flipped"),
    (lambda e: e.T, "transposed"),
    (lambda e: 0.25 * e, "constant factor of about 0.25"),
])
def test_likely_causes(wrong, cause):
    expected = np.random.default_rng(0).normal(size=(3, 5))
    r = compare(wrong(expected), expected, TOL)
    assert not r.ok and cause in r.message


def test_check_specific_hint_wins():
    expected = np.random.default_rng(1).normal(size=6)
    r = compare(expected / 6, expected, TOL, hints=[("mean instead of sum", lambda e: e / 6)])
    assert "Likely cause: mean instead of sum" in r.message


def test_nan_and_inf_are_reported():
    expected = np.ones(4)
    r = compare(np.array([1.0, np.nan, np.inf, 1.0]), expected, TOL)
    assert not r.ok and "1 NaN and 1 inf" in r.message


def test_integer_dtype_is_enforced_when_asked():
    assert not compare(np.array([1.0, 0.0]), np.array([1, 0]), TOL, integer=True).ok
    assert not compare(np.array([True, False]), np.array([1, 0]), TOL, integer=True).ok
    assert compare(np.array([1, 0], dtype=np.int32), np.array([1, 0]), TOL, integer=True).ok


def test_structures():
    exp = ({"W1": np.ones((2, 2))}, np.zeros(3))
    assert compare(({"W1": np.ones((2, 2)), "extra": 1}, np.zeros(3)), exp, TOL).ok
    assert "no key 'W1'" in compare(({}, np.zeros(3)), exp, TOL).message
    assert "expected 2 values, got 3" in compare((1, 2, 3), exp, TOL).message
    assert "None (did you forget `return`?)" in compare(None, np.zeros(2), TOL).message
    assert "a function object" in compare(Unsupported("function"), np.zeros(2), TOL).message


def test_identical_is_bitwise():
    a = np.array([1.0, 2.0])
    assert identical({"a": a, "b": 0.5}, {"a": a.copy(), "b": 0.5})
    assert not identical({"a": a + 1e-16 * 0 + np.array([0, 1e-12])}, {"a": a})
