"""nbgrader's own command line, run for the course (generate_assignment for the release,
and the demo). Kept off the hot paths: nbgrader's CLI takes seconds to start."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .course import Course


class NbgraderError(Exception):
    """An nbgrader command failed; the message is its last line of output."""


def nbgrader_env() -> dict:
    """The environment for nbgrader's CLI: it runs `alembic` from PATH, so our Python's
    bin folder goes first."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run(course: Course, *args: str) -> None:
    """`nbgrader ARGS...` in the course folder; raises NbgraderError on failure."""
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course.root,
                          capture_output=True, text=True, env=nbgrader_env())
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise NbgraderError(f"nbgrader {args[0]} failed: {tail[0]}")


def release(course: Course) -> Path:
    """Generate release/<assignment> from source/ with nbgrader generate_assignment."""
    run(course, "generate_assignment", course.assignment, "--force")
    return course.release_dir()
