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


def test_float64_is_demanded_where_the_expected_value_is_float_and_the_dtype_is_named():
    expected = np.array([0.0, 1.0, 1.0])
    r = compare(np.array([0, 1, 1]), expected, TOL)
    assert not r.ok and "expected float64 values, got dtype int64 (the values are right" in r.message
    assert "got dtype bool" in compare(np.array([False, True, True]), expected, TOL).message
    assert "got dtype float32" in compare(expected.astype(np.float32), expected, TOL).message
    assert compare(0.5, np.float64(0.5), TOL).ok and not compare(1, np.float64(1.0), TOL).ok
    assert compare(np.array([1, 0]), np.array([1, 0]), TOL).ok          # an integer reference: any numbers


def test_an_object_array_is_named_as_such():
    r = compare(Unsupported("ndarray[|O]"), np.zeros(3), TOL)
    assert not r.ok and "an array of dtype object" in r.message


def test_integer_truncation_is_named():
    expected = np.array([0.5, 1.7, -2.2, 3.0])
    r = compare(np.trunc(expected).astype(int), expected, TOL)
    assert "got dtype int64, and 3 of 4 values differ" in r.message and "truncated to integers" in r.message


def test_dtype_and_values_are_both_reported():
    r = compare(np.array([False, False]), np.array([1, 1]), TOL, integer=True,
                hints=[("uses > instead of >=", lambda e: np.zeros_like(e))])
    assert "expected an integer array, got dtype bool, and 2 of 2 values differ" in r.message
    assert "Likely cause: uses > instead of >=" in r.message


def test_a_cause_is_named_only_if_it_explains_every_case_it_was_tried_on():
    from grader.compare import consistent
    hint = ("the mean over samples", lambda e, n=4: e / n)
    one = compare(np.float64(0.25), np.float64(1.0), TOL, hints=[hint])          # explained
    other = compare(np.float64(0.5), np.float64(1.0), TOL, hints=[hint])         # not explained
    assert ("the mean over samples", "the mean over samples") in one.causes
    assert not any(key == "the mean over samples" for key, _ in consistent([one, other]))
    assert any(key == "the mean over samples" for key, _ in consistent([one, one]))
    passing = compare(np.float64(1.0), np.float64(1.0), TOL, hints=[hint])       # offered, passed
    assert not any(key == "the mean over samples" for key, _ in consistent([one, passing]))


def test_a_transposed_result_of_another_shape_names_its_cause_as_data():
    """Not only in the words: the insights page counts causes from Comparison.causes."""
    from grader.compare import TRANSPOSED

    expected = np.random.default_rng(2).normal(size=(4, 2))
    assert compare(expected.T, expected, TOL).causes == ((TRANSPOSED, TRANSPOSED),)
    other = compare(np.ones((2, 4)), expected, TOL)          # the shape of a transpose, other values
    assert not other.ok and other.causes == () and "Likely cause" not in other.message
