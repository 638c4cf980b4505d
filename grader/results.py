"""What grading produces: per check, per notebook, per submission. Plain dataclasses,
serialised to and from JSON by `to_dict` / `from_dict` (the reports and the store use them)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable


@dataclass
class CheckResult:
    notebook: str
    function: str
    check: str          # the check's name in course.yaml and grader/checks
    title: str          # what is checked, in words
    score: float
    max_score: float
    passed: bool
    message: str = ""   # diagnostics; never a hidden input or a reference value
    seconds: float = 0.0

    @property
    def name(self) -> str:
        """The Gradescope test name: "<notebook>: <function> - <what is checked>"."""
        return f"{self.notebook}: {self.function} - {self.title}"


@dataclass
class NotebookResult:
    notebook: str
    score: float
    max_score: float
    checks: list[CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # missing file, invalid JSON, cell errors, edited locked cells
    output: str = ""                                    # captured stdout/stderr of the student's code (capped)
    seconds: float = 0.0
    # Where `seconds` went (not in results.json): "start" sandbox start and close,
    # "cells" running the notebook's cells, "student" the student's own code inside the
    # checks' calls (measured in the sandbox), "checks" the rest (reading the notebook,
    # probes, comparisons, encoding, IPC). Empty for a notebook that could not be read.
    timings: dict = field(default_factory=dict)


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    score: float
    max_score: float
    notebooks: list[NotebookResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fingerprint: str = ""    # content hash of the submission, the checks and the references
    graded_at: str = ""      # ISO 8601 UTC
    seconds: float = 0.0
    isolation: str = ""      # how student code was isolated: namespaces | uid | none

    def notebook(self, name: str) -> NotebookResult | None:
        return next((nb for nb in self.notebooks if nb.notebook == name), None)

    def notebook_score(self, name: str) -> float:
        """The score of one notebook; 0 for a notebook missing from the result."""
        found = self.notebook(name)
        return found.score if found is not None else 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SubmissionResult":
        notebooks = [
            NotebookResult(**{**nb, "checks": [CheckResult(**c) for c in nb.get("checks", [])]})
            for nb in data.get("notebooks", [])
        ]
        return cls(**{**data, "notebooks": notebooks})


def latest_per_student(results: Iterable[SubmissionResult]) -> list[SubmissionResult]:
    """One result per student (the last one given wins), sorted by student id."""
    by_student = {r.student: r for r in results}
    return [by_student[s] for s in sorted(by_student)]
