"""Reference outputs, recorded from the solution notebooks in source/.

`python -m grader references` runs every check, for every probe variant, against the
solution key in the sandbox (the same path as grading) and stores what the checks
compared as `grader/references.bin` (wire format). The file lives in the grader package,
never under release/. `python -m grader references --check` re-records and compares
(`differences`), for the tests and CI.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import checks, files, wire
from .course import Course
from .notebook import CourseNotebook

PATH = Path(__file__).with_name("references.bin")


class ReferencesError(Exception):
    """The solution key does not pass its own checks, or the reference file is unusable."""


def course_notebook(course: Course, name: str) -> CourseNotebook:
    return CourseNotebook.load(course.source_dir() / f"{name}.ipynb",
                               course.release_dir() / f"{name}.ipynb")


def record(course: Course) -> dict:
    """Every check's recorded values for every variant, from the solution key."""
    from .runners import SandboxRunner  # not needed by the notebooks' in-kernel path
    from .sandbox import Sandbox

    limits = course.limits
    refs: dict = {}
    for nb in course.notebooks:
        key_nb = course_notebook(course, nb.name)
        with Sandbox(limits, label=f"solution {nb.name}") as box:
            for outcome in box.run_cells(key_nb.solution_cells()):
                if outcome.status != "ok":
                    raise ReferencesError(f"source/{nb.name}: cell {outcome.cell_id}: {outcome.message}")
            caller = SandboxRunner(box)
            for spec in (s for f in nb.functions for s in f.checks):
                for v in range(course.variants):
                    verdict = checks.run(spec, course, caller, student=None, variant=v,
                                         timeout=limits.check_timeout)
                    if not verdict.passed:
                        raise ReferencesError(f"the solution fails {spec.key} (variant {v}): {verdict.message}")
                    refs[checks.reference_key(spec, v)] = verdict.recorded
    return refs


def write(refs: dict, path: Path = PATH) -> None:
    """Write atomically (a reader never sees half a file)."""
    files.write_bytes(path, wire.encode(refs))


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> dict:
    return wire.decode(Path(path).read_bytes())


def load(path: Path = PATH) -> dict:
    if not path.is_file():
        raise ReferencesError(f"{path.name} is missing: run `python -m grader references`")
    try:
        return _load(str(path), path.stat().st_mtime_ns)
    except wire.WireError as exc:
        raise ReferencesError(f"{path.name} is unreadable ({exc}): run `python -m grader references`") from None


def fingerprint(path: Path = PATH) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "none"


# Two recordings of the same solution agree to this relative error, not bit for bit: numpy's
# exp and OpenBLAS pick their kernels by CPU (DYNAMIC_ARCH), and a recording made on an AMD
# EPYC differed from one made on another x86-64 by up to 3.4e-14. The checks' own tolerances
# (1e-7 and looser) are ten million times wider, so no grade can depend on which CPU recorded.
SAME_RTOL = 1e-12


def differences(a: dict, b: dict) -> list[str]:
    """Keys whose recorded values differ between two reference sets: another key, type,
    shape or dtype, or a number further apart than SAME_RTOL (NaN only where NaN)."""
    out = sorted(set(a) ^ set(b))
    for key in sorted(set(a) & set(b)):
        if not _same(a[key], b[key]):
            out.append(key)
    return out


def _same(x, y) -> bool:
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return isinstance(y, (list, tuple)) and len(x) == len(y) and all(_same(p, q) for p, q in zip(x, y))
    if isinstance(x, (np.ndarray, np.generic)):
        return (isinstance(y, (np.ndarray, np.generic)) and np.shape(x) == np.shape(y)
                and np.asarray(x).dtype == np.asarray(y).dtype and _close(np.asarray(x), np.asarray(y)))
    if isinstance(x, float):
        return type(y) is float and _close(np.asarray(x), np.asarray(y))
    return type(x) is type(y) and x == y


def _close(x: np.ndarray, y: np.ndarray) -> bool:
    if x.dtype.kind not in "fc":
        return bool(np.array_equal(x, y))
    return bool(np.allclose(x, y, rtol=SAME_RTOL, atol=0.0, equal_nan=True))
