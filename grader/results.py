"""What grading produces: per check, per notebook, per submission. Plain dataclasses,
serialised to and from JSON by `to_dict` / `from_dict` (the reports and the store use them)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable


# Why a check failed, in one word (CheckResult.failure; "" when it passed): what the
# insights page counts. The message says the same in words, for the student.
WRONG = "wrong"                        # a value or a property was not what the contract asks
NOT_IMPLEMENTED = "not_implemented"    # the stub still raises NotImplementedError
NOT_DEFINED = "not_defined"            # no such function (answer cell missing or broken)
RAISED = "raised"                      # the function raised an exception
TIMEOUT = "timeout"                    # it did not finish within the check's time limit
CRASHED = "crashed"                    # the process running it died (memory, exit, signal)
UNGRADABLE = "ungradable"              # it returned something that is not plain numbers
NOT_GRADED = "not_graded"              # the notebook could not be read (missing, not JSON)
FAILURES = (WRONG, NOT_IMPLEMENTED, NOT_DEFINED, RAISED, TIMEOUT, CRASHED, UNGRADABLE, NOT_GRADED)


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
    failure: str = ""   # why it failed: one of FAILURES ("" when passed)
    causes: list[str] = field(default_factory=list)   # the likely causes its message names


    @property
    def name(self) -> str:
        """The Gradescope test name: "<notebook>: <function> - <what is checked>"."""
        return f"{self.notebook}: {self.function} - {self.title}"


# What happened to a notebook (Incident.kind), as data: the problems say it in words.
MISSING = "missing"              # the file was not submitted
UNREADABLE = "unreadable"        # not a notebook: invalid JSON, empty, too large, not UTF-8
LOCKED_CELL = "locked_cell"      # a read-only or test cell was edited or deleted
ANSWER_CELL = "answer_cell"      # an answer cell is missing or lost its nbgrader id
SYNTAX_ERROR = "syntax_error"    # a cell does not parse
CELL_ERROR = "cell_error"        # a cell raised when run
CELL_TIMEOUT = "timeout"         # a cell ran past its wall-clock limit
MEMORY = "memory"                # the notebook's processes used more than the memory limit
CPU = "cpu"                      # the notebook used up its CPU time
CELL_CRASHED = "crashed"         # the process died while running a cell (exit, signal)
OUTPUT_LIMIT = "output_limit"    # the notebook printed more than the output limit
REFUSED = "refused"              # the sandbox refused something the code tried (network, files)
ATTEMPTED = "attempted"          # the code tried what the sandbox forbids, refused or not (and
                                 # perhaps caught): seen by the child's audit hook (sandbox.attempts)
INCIDENTS = (MISSING, UNREADABLE, LOCKED_CELL, ANSWER_CELL, SYNTAX_ERROR, CELL_ERROR, CELL_TIMEOUT,
             MEMORY, CPU, CELL_CRASHED, OUTPUT_LIMIT, REFUSED, ATTEMPTED)


@dataclass
class Incident:
    kind: str           # one of INCIDENTS
    where: str = ""     # the cell id or the function it happened in
    detail: str = ""    # one line for the instructor (what was tried, the limit); no hidden value


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
    incidents: list[Incident] = field(default_factory=list)


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    score: float
    max_score: float
    notebooks: list[NotebookResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fingerprint: str = ""    # content hash of the submission, the checks and the references
    graded_with: str = ""    # the grader's fingerprint (checks, references, course) it was graded with
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
            NotebookResult(**{**nb, "checks": [CheckResult(**c) for c in nb.get("checks", [])],
                              "incidents": [Incident(**i) for i in nb.get("incidents", [])]})
            for nb in data.get("notebooks", [])
        ]
        return cls(**{**data, "notebooks": notebooks})


def latest_per_student(results: Iterable[SubmissionResult]) -> list[SubmissionResult]:
    """One result per student (the last one given wins), sorted by student id."""
    by_student = {r.student: r for r in results}
    return [by_student[s] for s in sorted(by_student)]
