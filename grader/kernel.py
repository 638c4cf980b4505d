"""The entry point of the notebooks' hidden test cells (the nbgrader path).

    from grader.kernel import grade
    grade("01_perceptron", "sigmoid", globals())

runs the same checks as `python -m grader autograde`, but inside the notebook's own
kernel (grader.runners.KernelRunner: the same outcomes, messages and time limit as the
sandbox), and returns the points earned as a Python float, which nbgrader takes as the
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
from pathlib import Path

from . import checks, course as course_mod, references
from .runners import KernelRunner

STUDENT_ENV = "NN_INTRO_STUDENT"


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


def grade(notebook: str, function: str, namespace: dict) -> float:
    """Run every check of `function` in `notebook` on `namespace`'s function; print; return points."""
    start = time.perf_counter()
    course = course_mod.load(find_course_root())
    fn_spec = course.notebook(notebook).function(function)
    timeout = course.limits.check_timeout
    results = checks.grade_function(fn_spec, course, KernelRunner(namespace), student=student_id(),
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
