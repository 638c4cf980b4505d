"""Shared fixtures: the course, temporary course copies, synthetic submissions."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from grader import course as course_mod  # noqa: E402


@pytest.fixture(scope="session")
def course():
    return course_mod.load(ROOT)


def copy_course(dest: Path) -> Path:
    """A working copy of the course folder (no student data, no venv)."""
    for name in ("course.yaml", "nbgrader_config.py"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, dest / name)
    return dest


@pytest.fixture
def course_copy(tmp_path):
    return copy_course(tmp_path)
