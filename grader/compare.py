"""Comparing a student's value with the expected one, and explaining the difference.

`compare(actual, expected, tol)` returns a `Comparison`. Shapes must match exactly (no
broadcasting of (3,) against (3, 1)), NaN and inf are reported, and a failure names the
worst index, the largest absolute and relative error, the tolerance, and a likely cause
when one is recognised. Messages never contain an input or an expected value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .course import Tolerance
from .wire import Unsupported

# A hint: (what it would mean, a function of the expected value giving the wrong answer
# that this mistake would produce). Checks add their own to the generic ones below.
Hint = tuple[str, Callable[[np.ndarray], np.ndarray]]


@dataclass(frozen=True)
class Comparison:
    ok: bool
    message: str = ""


OK = Comparison(True)


def _describe_type(value) -> str:
    if value is None:
        return "None (did you forget `return`?)"
    if isinstance(value, Unsupported):
        return f"a {value.type_name} object"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def _as_array(value):
    """The value as a numeric ndarray, or None if it is not array-like numbers."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return np.asarray(value)
    if isinstance(value, bool):
        return np.asarray(value)
    if isinstance(value, (list, tuple)):
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError):
            return None
        return arr if arr.dtype.kind in "biufc" else None
    return None


def _close(actual: np.ndarray, expected: np.ndarray, tol: Tolerance) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.isclose(actual, expected, rtol=tol.rtol, atol=tol.atol, equal_nan=False)


def _generic_hints(expected: np.ndarray) -> list[Hint]:
    hints: list[Hint] = [("the sign is flipped", lambda e: -e)]
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1]:
        hints.append(("the result is transposed", lambda e: e.T))
    return hints


def likely_cause(actual: np.ndarray, expected: np.ndarray, tol: Tolerance,
                 hints: Sequence[Hint] = ()) -> str:
    """A recognised mistake that turns `expected` into `actual`, or ''."""
    loose = Tolerance(max(tol.rtol, 1e-6), max(tol.atol, 1e-9))
    for text, wrong in list(hints) + _generic_hints(expected):
        try:
            with np.errstate(all="ignore"):
                candidate = np.asarray(wrong(expected), dtype=float)
        except Exception:  # a hint that does not apply to this value
            continue
        if candidate.shape == actual.shape and np.all(_close(actual, candidate, loose)):
            return text
    # off by a constant factor?
    if actual.shape == expected.shape and actual.size:
        with np.errstate(all="ignore"):
            mask = np.abs(expected) > 1e-12
            if mask.sum() >= 2 and np.all(np.isfinite(actual)):
                ratios = actual[mask] / expected[mask]
                factor = float(np.median(ratios))
                if (np.isfinite(factor) and abs(factor) > 1e-12 and not np.isclose(factor, 1.0, rtol=1e-3)
                        and np.all(_close(actual, factor * expected, loose))):
                    return f"off by a constant factor of about {factor:.2g}"
    return ""


def compare(actual, expected, tol: Tolerance, hints: Sequence[Hint] = (), integer: bool = False,
            path: str = "") -> Comparison:
    """Compare a (plain-data) student value with the expected value, recursively."""
    where = f"{path}: " if path else ""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return Comparison(False, f"{where}expected a dict, got {_describe_type(actual)}")
        for key in expected:
            if key not in actual:
                return Comparison(False, f"{where}the dict has no key {key!r}")
            sub = compare(actual[key], expected[key], tol, hints, integer, f"{path}[{key!r}]")
            if not sub.ok:
                return sub
        return OK
    if isinstance(expected, (tuple, list)) and not _is_numeric_sequence(expected):
        if not isinstance(actual, (tuple, list)):
            return Comparison(False, f"{where}expected a tuple of {len(expected)} values, got {_describe_type(actual)}")
        if len(actual) != len(expected):
            return Comparison(False, f"{where}expected {len(expected)} values, got {len(actual)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            sub = compare(a, e, tol, hints, integer, f"{path}[{i}]")
            if not sub.ok:
                return sub
        return OK
    return _compare_arrays(actual, expected, tol, hints, integer, where)


def _is_numeric_sequence(value) -> bool:
    return all(isinstance(v, (int, float, np.generic)) and not isinstance(v, bool) for v in value) and len(value) > 0


def _compare_arrays(actual, expected, tol, hints, integer, where) -> Comparison:
    exp = np.asarray(expected)
    act = _as_array(actual)
    if act is None:
        return Comparison(False, f"{where}expected numbers of shape {exp.shape}, got {_describe_type(actual)}")
    if act.shape != exp.shape:
        msg = f"{where}expected shape {exp.shape}, got shape {act.shape}"
        if act.ndim == 2 and act.shape == exp.T.shape and act.dtype.kind in "biuf" and np.all(
                _close(act.T.astype(float), exp.astype(float), tol)):
            msg += ". Likely cause: the result is transposed"
        return Comparison(False, msg)
    if integer and act.dtype.kind not in "iu":
        return Comparison(False, f"{where}expected an integer array, got dtype {act.dtype}")
    if act.dtype.kind not in "biufc":
        return Comparison(False, f"{where}expected numbers, got dtype {act.dtype}")
    if act.dtype.kind == "c" and exp.dtype.kind != "c":
        return Comparison(False, f"{where}expected real numbers, got complex dtype {act.dtype}")
    act = act.astype(float) if act.dtype.kind in "biu" else act
    expf = exp.astype(float)
    n_nan = int(np.isnan(act).sum())
    n_inf = int(np.isinf(act).sum())
    close = _close(act, expf, tol)
    if np.all(close):
        return OK
    bad = int((~close).sum())
    with np.errstate(all="ignore"):
        abs_err = np.abs(act - expf)
        rel_err = abs_err / np.maximum(np.abs(expf), np.finfo(float).tiny)
    score = np.where(np.isfinite(abs_err), abs_err, np.inf)
    worst = np.unravel_index(int(np.argmax(score)), act.shape) if act.ndim else ()
    parts = [f"{where}the value differs" if act.size == 1 else f"{where}{bad} of {act.size} values differ"]
    if n_nan or n_inf:
        parts.append(f" (the result has {n_nan} NaN and {n_inf} inf)")
    finite = np.isfinite(abs_err)
    if finite.any():
        # One significant digit: enough to act on, too little to rebuild a reference value.
        abs_text, rel_text = _rough(np.max(abs_err[finite])), _rough(np.max(rel_err[finite]))
        if act.size > 1:
            where_worst = tuple(int(i) for i in worst)
            parts.append(f"; worst at index {where_worst}; largest abs error {abs_text}, "
                         f"largest rel error {rel_text} (tolerance {tol.describe()})")
        else:
            parts.append(f": abs error {abs_text}, rel error {rel_text} (tolerance {tol.describe()})")
    else:
        parts.append(f" (tolerance {tol.describe()})")
    cause = likely_cause(act, expf, tol, hints) if not (n_nan or n_inf) else ""
    if cause:
        parts.append(f". Likely cause: {cause}")
    return Comparison(False, "".join(parts))


def _rough(x: float) -> str:
    """An error to one significant digit; very large relative errors just as '> 1e6'."""
    if x > 1e6:
        return "> 1e6"
    return f"~{x:.0e}" if x < 1e-3 else f"~{float(f'{x:.1g}'):g}"


def identical(actual, expected) -> bool:
    """Exact equality of two plain-data values (for 'inputs unchanged' checks)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and actual.keys() == expected.keys() and all(
            identical(actual[k], expected[k]) for k in expected)
    if isinstance(expected, (tuple, list)):
        return isinstance(actual, (tuple, list)) and len(actual) == len(expected) and all(
            identical(a, e) for a, e in zip(actual, expected))
    if isinstance(expected, np.ndarray):
        return isinstance(actual, np.ndarray) and actual.shape == expected.shape and bool(
            np.array_equal(actual, expected, equal_nan=True))
    return type(actual) is type(expected) and actual == expected
