"""The entry point of the notebooks' hidden test cells (the nbgrader path).

    from grader.kernel import grade
    grade("01_perceptron", "sigmoid", globals())

runs the same checks as `python -m grader autograde`, but inside the notebook's own
kernel, and returns the points earned as a Python float, which nbgrader takes as the
cell's partial credit. Everything it prints goes to stdout: nbgrader scores a test cell
0 if anything reaches stderr.

This path shares one interpreter with the student's code, so it is only as trustworthy
as nbgrader itself (a student can patch numpy or this module). The grade of record
comes from `python -m grader autograde`, which runs student code in a separate process.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import checks, course as course_mod, references, wire

STUDENT_ENV = "NN_INTRO_STUDENT"


@dataclass
class InProcessOutcome:
    status: str
    value: object = None
    message: str = ""
    warnings: list = field(default_factory=list)
    args_after: object = None


def find_course_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: cwd) holding course.yaml."""
    env = os.environ.get("NN_INTRO_COURSE")
    if env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / course_mod.COURSE_FILE).is_file():
            return folder
    return Path(__file__).resolve().parent.parent


def student_id(cwd: Path | None = None) -> str:
    """Who is graded: $NN_INTRO_STUDENT, or <student> in .../autograded/<student>/<assignment>."""
    env = os.environ.get(STUDENT_ENV)
    if env:
        return env
    parts = (cwd or Path.cwd()).resolve().parts
    for i, part in enumerate(parts[:-2]):
        if part in ("autograded", "submitted"):
            return parts[i + 1]
    return "instructor"


def _message(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<")]
    where = f" (line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {str(exc)[:300]}{where}"


def in_process_caller(namespace: dict):
    """A checks.Caller that calls the function in this process, with plain-data copies."""
    def call(function, args, kwargs, echo, timeout):
        fn = namespace.get(function)
        if not callable(fn):
            return InProcessOutcome("error", message=f"NameError: name {function!r} is not defined")
        args, kwargs = wire.plain(tuple(args)), wire.plain(dict(kwargs))
        with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", invalid="warn", divide="warn", under="ignore"):
            warnings.simplefilter("always")
            try:
                value = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - a student error is a verdict
                if isinstance(exc, KeyboardInterrupt):
                    raise
                return InProcessOutcome("error", message=_message(exc))
        try:
            value = wire.plain(value)
        except wire.WireError as exc:
            return InProcessOutcome("bad_output", message=str(exc))
        return InProcessOutcome(
            "ok", value, warnings=[f"{w.category.__name__}: {w.message}" for w in caught][:10],
            args_after=wire.plain((args, kwargs)) if echo else None)
    return call


def grade(notebook: str, function: str, namespace: dict) -> float:
    """Run every check of `function` in `notebook` on `namespace`'s function; print; return points."""
    start = time.perf_counter()
    course = course_mod.load(find_course_root())
    fn_spec = course.notebook(notebook).function(function)
    timeout = float(course.limits.get("check_timeout", 10))
    results = checks.grade_function(fn_spec, course, in_process_caller(namespace), student=student_id(),
                                    references=references.load(), timeout=timeout)
    score = round(sum(r.score for r in results), 6)
    lines = [f"{function}: {score:g} / {fn_spec.points:g} points"]
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        lines.append(f"  {mark} {r.title} ({r.score:g}/{r.max_score:g})")
        if not r.passed:
            lines.extend("       " + line for line in r.message.splitlines())
    lines.append(f"  ({time.perf_counter() - start:.2f} s)")
    sys.stdout.write("\n".join(lines) + "\n")
    return float(score)
