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
    """ok, what differs (`detail`, no likely cause), and the likely causes that explain it.

    `causes` are (key, text) pairs of recognised mistakes that turn the expected value into
    this one; `offered` are the keys of every mistake that was tried on this case (or on any
    part of it). A check names a cause only if it explains every case it was offered on
    (checks.Verdict), so a coincidence on one case is not reported as the cause.
    """
    ok: bool
    detail: str = ""
    causes: tuple = ()
    offered: frozenset = frozenset()

    @property
    def message(self) -> str:
        """The detail with the first likely cause, for a comparison read on its own."""
        if self.causes:
            return f"{self.detail}. Likely cause: {self.causes[0][1]}"
        return self.detail


OK = Comparison(True)

# What the contract fixes about a value's dtype: "float" (float64 numbers; Python floats
# count), "integer" (an integer array), or None (numbers of any dtype).
FLOAT, INTEGER = "float", "integer"


def describe_type(value) -> str:
    if value is None:
        return "None (did you forget `return`?)"
    if isinstance(value, Unsupported):
        if value.type_name.startswith("ndarray[|O"):
            return "an array of dtype object (convert it with .astype(np.float64))"
        return f"a {value.type_name} object"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def _as_array(value):
    """The value as a numeric ndarray, or None if it is not array-like numbers."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (np.generic, bool, int, float)):
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


SIGN, TRANSPOSED, FACTOR = "the sign is flipped", "the result is transposed", "constant factor"


def _generic_hints(expected: np.ndarray) -> list[Hint]:
    hints: list[Hint] = [(SIGN, lambda e: -e)]
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1]:
        hints.append((TRANSPOSED, lambda e: e.T))
    return hints


def offered_keys(expected: np.ndarray, hints: Sequence[Hint]) -> frozenset:
    """The keys of every mistake tried on a comparison with `expected`."""
    return frozenset([text for text, _ in hints] + [text for text, _ in _generic_hints(expected)] + [FACTOR])


def likely_causes(actual: np.ndarray, expected: np.ndarray, tol: Tolerance,
                  hints: Sequence[Hint] = ()) -> tuple:
    """Every recognised mistake that turns `expected` into `actual`: (key, text) pairs."""
    loose = Tolerance(max(tol.rtol, 1e-6), max(tol.atol, 1e-9))
    found = []
    for text, wrong in list(hints) + _generic_hints(expected):
        try:
            with np.errstate(all="ignore"):
                candidate = np.asarray(wrong(expected), dtype=float)
        except Exception:  # a hint that does not apply to this value
            continue
        if candidate.shape == actual.shape and np.all(_close(actual, candidate, loose)):
            found.append((text, text))
    # off by a constant factor?
    if actual.shape == expected.shape and actual.size:
        with np.errstate(all="ignore"):
            mask = np.abs(expected) > 1e-12
            if mask.sum() >= 2 and np.all(np.isfinite(actual)):
                ratios = actual[mask] / expected[mask]
                factor = float(np.median(ratios))
                if (np.isfinite(factor) and abs(factor) > 1e-12 and not np.isclose(factor, 1.0, rtol=1e-3)
                        and not np.isclose(factor, -1.0, rtol=1e-3)
                        and np.all(_close(actual, factor * expected, loose))):
                    found.append((FACTOR, f"off by a constant factor of about {factor:.2g}"))
    return tuple(found)


def likely_cause(actual: np.ndarray, expected: np.ndarray, tol: Tolerance,
                 hints: Sequence[Hint] = ()) -> str:
    """The first recognised mistake that turns `expected` into `actual`, or ''."""
    found = likely_causes(actual, expected, tol, hints)
    return found[0][1] if found else ""


def consistent(parts: Sequence[Comparison]) -> tuple:
    """The causes that explain every one of `parts` on which they were offered."""
    out = []
    for part in parts:
        for key, text in part.causes:
            if (key, text) in out:
                continue
            if all(p.offered.isdisjoint({key}) or (not p.ok and (key, text) in p.causes) for p in parts):
                out.append((key, text))
    return tuple(out)


def compare(actual, expected, tol: Tolerance, hints: Sequence[Hint] = (), integer: bool = False,
            path: str = "", dtype: str | None = "auto") -> Comparison:
    """Compare a (plain-data) student value with the expected value, recursively.

    dtype: "float" demands float64 numbers (the contract's default), "integer" an integer
    array, None any numbers; "auto" (the default) takes "integer" if `integer`, else
    "float" where the expected value is floating point."""
    if dtype == "auto":
        dtype = INTEGER if integer else "auto"
    where = f"{path}: " if path else ""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return Comparison(False, f"{where}expected a dict, got {describe_type(actual)}")
        missing = [key for key in expected if key not in actual]
        if missing:
            return Comparison(False, f"{where}the dict has no key {missing[0]!r}")
        return _combine([compare(actual[k], expected[k], tol, hints, integer, f"{path}[{k!r}]", dtype)
                         for k in expected])
    if isinstance(expected, (tuple, list)) and not _is_numeric_sequence(expected):
        if not isinstance(actual, (tuple, list)):
            return Comparison(False, f"{where}expected a tuple of {len(expected)} values, got {describe_type(actual)}")
        if len(actual) != len(expected):
            return Comparison(False, f"{where}expected {len(expected)} values, got {len(actual)}")
        return _combine([compare(a, e, tol, hints, integer, f"{path}[{i}]", dtype)
                         for i, (a, e) in enumerate(zip(actual, expected))])
    return _compare_arrays(actual, expected, tol, hints, dtype, where)


def _combine(parts: list[Comparison]) -> Comparison:
    """One comparison of a structure from those of its parts: the first failure's detail,
    the causes that explain every part they were offered on."""
    failed = [p for p in parts if not p.ok]
    offered = frozenset().union(*(p.offered for p in parts)) if parts else frozenset()
    if not failed:
        return Comparison(True, offered=offered)
    return Comparison(False, failed[0].detail, consistent(parts), offered)


def _is_numeric_sequence(value) -> bool:
    return all(isinstance(v, (int, float, np.generic)) and not isinstance(v, bool) for v in value) and len(value) > 0


def _dtype_problem(act: np.ndarray, exp: np.ndarray, dtype) -> str:
    """What is wrong with the dtype of `act` for the contract, or ''."""
    if dtype == "auto":
        dtype = FLOAT if exp.dtype.kind == "f" else None
    if dtype == INTEGER and act.dtype.kind not in "iu":
        return f"expected an integer array, got dtype {act.dtype}"
    if dtype == FLOAT and act.dtype != np.float64:
        return f"expected float64 values, got dtype {act.dtype}"
    return ""


def _compare_arrays(actual, expected, tol, hints, dtype, where) -> Comparison:
    exp = np.asarray(expected)
    act = _as_array(actual)
    if act is None:
        return Comparison(False, f"{where}expected numbers of shape {exp.shape}, got {describe_type(actual)}")
    if act.shape != exp.shape:
        msg = f"{where}expected shape {exp.shape}, got shape {act.shape}"
        if act.ndim == 2 and act.shape == exp.T.shape and act.dtype.kind in "biuf":
            # a cause like any other (data the insights page counts), offered where it could apply
            found = np.all(_close(act.T.astype(float), exp.astype(float), tol))
            return Comparison(False, msg, causes=((TRANSPOSED, TRANSPOSED),) if found else (),
                              offered=frozenset({TRANSPOSED}))
        return Comparison(False, msg)
    if act.dtype.kind not in "biufc":
        return Comparison(False, f"{where}expected numbers, got dtype {act.dtype}")
    if act.dtype.kind == "c" and exp.dtype.kind != "c":
        return Comparison(False, f"{where}expected real numbers, got complex dtype {act.dtype}")
    bad_dtype = _dtype_problem(act, exp, dtype)
    act = act.astype(float)
    expf = exp.astype(float)
    offered = offered_keys(expf, hints)
    n_nan = int(np.isnan(act).sum())
    n_inf = int(np.isinf(act).sum())
    close = _close(act, expf, tol)
    if np.all(close):
        if bad_dtype:
            return Comparison(False, f"{where}{bad_dtype} (the values are right: convert the result)",
                              offered=offered)
        return Comparison(True, offered=offered)
    bad = int((~close).sum())
    with np.errstate(all="ignore"):
        abs_err = np.abs(act - expf)
        rel_err = abs_err / np.maximum(np.abs(expf), np.finfo(float).tiny)
    score = np.where(np.isfinite(abs_err), abs_err, np.inf)
    worst = np.unravel_index(int(np.argmax(score)), act.shape) if act.ndim else ()
    parts = [where]
    if bad_dtype:
        parts.append(f"{bad_dtype}, and ")
    parts.append("the value differs" if act.size == 1 else f"{bad} of {act.size} values differ")
    if n_nan or n_inf:
        parts.append(f" (the result has {n_nan} NaN and {n_inf} inf)")
    finite = np.isfinite(abs_err) & ~close
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
    causes: tuple = ()
    if bad_dtype and exp.dtype.kind == "f" and np.array_equal(act, np.trunc(act)):
        causes = (("integer truncation", "the values were truncated to integers (the result's dtype is "
                   "integer, e.g. from np.vectorize without otypes=[float] or an int array filled in place)"),)
    elif not (n_nan or n_inf):
        causes = likely_causes(act, expf, tol, hints)
    if causes:
        offered = offered | {causes[0][0]}
    return Comparison(False, "".join(parts), causes, offered)


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
