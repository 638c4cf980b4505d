"""Gradescope's results.json for one submission (also what autograded/ keeps per student)."""
from __future__ import annotations

from pathlib import Path

from ..results import SubmissionResult
from .scores import fmt_points, points

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "results.schema.json"


def _summary(result: SubmissionResult) -> str:
    lines = [f"Total: {fmt_points(result.score)} / {fmt_points(result.max_score)}"]
    for nb in result.notebooks:
        lines.append(f"{nb.notebook}: {fmt_points(nb.score)} / {fmt_points(nb.max_score)}")
    problems = [f"- {p}" for p in result.problems]
    for nb in result.notebooks:
        problems.extend(f"- {nb.notebook}: {p}" for p in nb.problems)
    if problems:
        lines.append("Problems:")
        lines.extend(problems)
    return "\n".join(lines)


def gradescope_results(result: SubmissionResult) -> dict:
    """The Gradescope autograder results of one submission: one test per check, named
    "<notebook>: <function> - <what is checked>". The top-level score is the submission's
    score (Gradescope uses it instead of summing the tests)."""
    tests = []
    for nb in result.notebooks:
        for check in nb.checks:
            tests.append({
                "name": check.name,
                "name_format": "text",
                "score": points(check.score),
                "max_score": points(check.max_score),
                "status": "passed" if check.passed else "failed",
                "output": "passed" if check.passed else (check.message or "failed"),
                "output_format": "text",
                "visibility": "visible",
            })
    return {
        "score": points(result.score),
        "max_score": points(result.max_score),
        "output": _summary(result),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def failure_results(message: str, max_score: float = 0.0) -> dict:
    """results.json for a submission that could not be graded at all: 0 and why."""
    return {"score": 0.0, "max_score": points(max_score), "output": message, "output_format": "text",
            "visibility": "visible", "stdout_visibility": "hidden", "tests": []}
