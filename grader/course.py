"""The course: `course.yaml` (the single source of truth for what is graded) and every
path of the course folder.

A course has one assignment made of notebooks; each notebook grades functions; each
function is graded by named checks, each with its points and tolerances. The sandbox's
limits are parsed here once, into a typed `Limits` (an unknown key is an error).

Paths, like nbgrader's CourseDirectory: every file and folder the grader reads or writes
is named by one method of `Course` below, and nowhere else.
"""
from __future__ import annotations

import os
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from .sandbox.limits import Limits

COURSE_FILE = "course.yaml"


class CourseError(Exception):
    """The course folder or its course.yaml cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def describe(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


@dataclass(frozen=True)
class CheckSpec:
    """One graded check as course.yaml configures it."""

    notebook: str
    function: str
    name: str
    points: float
    tolerance: Tolerance

    @property
    def key(self) -> str:
        return f"{self.notebook}/{self.function}/{self.name}"


@dataclass(frozen=True)
class FunctionSpec:
    notebook: str
    name: str
    checks: tuple[CheckSpec, ...]

    @property
    def points(self) -> float:
        return sum(c.points for c in self.checks)


@dataclass(frozen=True)
class NotebookSpec:
    name: str
    functions: tuple[FunctionSpec, ...]

    @property
    def filename(self) -> str:
        return f"{self.name}.ipynb"

    @property
    def points(self) -> float:
        return sum(f.points for f in self.functions)

    def function(self, name: str) -> FunctionSpec:
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} grades no function {name!r}")


@dataclass(frozen=True)
class Course:
    root: Path
    course_id: str
    assignment: str
    probe_salt: str
    variants: int
    limits: Limits
    notebooks: tuple[NotebookSpec, ...]
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    @property
    def points(self) -> float:
        return sum(nb.points for nb in self.notebooks)

    def notebook(self, name: str) -> NotebookSpec:
        for nb in self.notebooks:
            if nb.name == name:
                return nb
        raise KeyError(f"the assignment has no notebook {name!r}")

    def checks(self):
        """Every CheckSpec, in course order."""
        for nb in self.notebooks:
            for fn in nb.functions:
                yield from fn.checks

    # -- paths (the only place that spells them) ------------------------------------

    def source_dir(self) -> Path:
        return self.root / "source" / self.assignment

    def release_dir(self) -> Path:
        return self.root / "release" / self.assignment

    def submitted_dir(self) -> Path:
        """submitted/: one folder per student."""
        return self.root / "submitted"

    def submission_dir(self, student: str) -> Path:
        """submitted/<student>/<assignment>/: what the student handed in."""
        return self.submitted_dir() / folder_name(student) / self.assignment

    def autograded_dir(self) -> Path:
        return self.root / "autograded"

    def autograded_student_dir(self, student: str) -> Path:
        """autograded/<student>/<assignment>/: the grader's results for the student."""
        return self.autograded_dir() / folder_name(student) / self.assignment

    def results_json(self, student: str) -> Path:
        """The student's Gradescope-format results."""
        return self.autograded_student_dir(student) / "results.json"

    def result_record(self, student: str) -> Path:
        """The full result the grader keeps (grader.store), written last."""
        return self.autograded_student_dir(student) / "grader_result.json"

    def grader_feedback_dir(self) -> Path:
        """The grader's own feedback pages, <student>/<assignment>/feedback.{html,md}: not
        nbgrader's feedback/ (release_feedback would take feedback.html for a notebook,
        generate_feedback --force deletes what is there)."""
        return self.root / "grader_feedback"

    def feedback_student_dir(self, student: str) -> Path:
        """grader_feedback/<student>/<assignment>/: the student's feedback pages."""
        return self.grader_feedback_dir() / folder_name(student) / self.assignment

    def nbgrader_feedback_dir(self) -> Path:
        """nbgrader's feedback/ (generate_feedback writes it, release_feedback reads it)."""
        return self.root / "feedback"

    def state_dir(self) -> Path:
        """.grader/: the run lock and the gradebook marks."""
        return self.root / ".grader"

    def lock_path(self) -> Path:
        return self.state_dir() / "lock"

    def run_record(self) -> Path:
        """.grader/last_run.json: when the last class run was, how long, with what grader."""
        return self.state_dir() / "last_run.json"

    def insights_dir(self) -> Path:
        """insights/: the class insights page and its CSV (grader.insights)."""
        return self.root / "insights"

    def insights_html(self) -> Path:
        return self.insights_dir() / f"{folder_name(self.assignment)}.html"

    def insights_csv(self) -> Path:
        return self.insights_dir() / f"{folder_name(self.assignment)}.csv"

    def gradebook_marks_path(self) -> Path:
        return self.state_dir() / "gradebook.json"

    def gradebook_path(self) -> Path:
        return self.root / "gradebook.db"

    def gradebook_url(self) -> str:
        return f"sqlite:///{self.gradebook_path()}"

    def grades_csv(self) -> Path:
        return self.root / "grades.csv"

    def lms_csv(self) -> Path:
        return self.root / "grades_lms.csv"

    def samples_dir(self) -> Path:
        return self.root / "samples"

    def dist_dir(self) -> Path:
        return self.root / "dist"

    def private_paths(self) -> list[Path]:
        """What no student process may read: solutions, submissions, results, feedback,
        the grader's state and the gradebook."""
        return [self.root / "source", self.source_dir(), self.submitted_dir(), self.autograded_dir(),
                self.grader_feedback_dir(), self.nbgrader_feedback_dir(), self.state_dir(),
                self.insights_dir(), self.gradebook_path()]

    def students(self) -> list[str]:
        """The ids of every student with a folder in submitted/, sorted; a folder whose
        name cannot be a student id is left out (see `unusable_folders`)."""
        return [name for name, reason in self._student_folders() if reason is None]

    def folder_problems(self) -> dict[str, str]:
        """folder name -> why it cannot be a student id, for each such folder in submitted/."""
        return {name: reason for name, reason in self._student_folders() if reason is not None}

    def unusable_folder(self, name: str, reason: str) -> str:
        """One line: which folder, why it cannot be an id, what to do."""
        return f"{self.submitted_dir().name}/{os.fsencode(name)!r}: {reason}; rename it to the student's id"

    def unusable_folders(self) -> list[str]:
        """`unusable_folder` for each folder in submitted/ whose name cannot be a student id
        (and so is not graded)."""
        return [self.unusable_folder(name, reason) for name, reason in self.folder_problems().items()]

    def _student_folders(self) -> list[tuple[str, str | None]]:
        root = self.submitted_dir()
        if not root.is_dir():
            return []
        names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        found = [(name, id_problem(name)) for name in names]
        # the same letters encoded differently (é as one code point or as e + accent): two
        # folders that every page, CSV and the gradebook would show as one name
        looks = Counter(unicodedata.normalize("NFC", name) for name, reason in found if reason is None)
        twin = "the folder name looks the same as another folder's (the same letters, encoded differently)"
        return [(name, twin if reason is None and looks[unicodedata.normalize("NFC", name)] > 1 else reason)
                for name, reason in found]


def id_problem(name: str) -> str | None:
    """Why a folder name cannot be a student id, or None. An id is text: it goes into
    nbgrader's gradebook, the CSVs, the feedback pages and a folder of its own in
    autograded/ and grader_feedback/."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "the folder name is not valid UTF-8"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        return "the folder name holds a control or invisible character"
    if name != name.strip():
        return "the folder name begins or ends with a space"
    if "\\" in name:
        return "the folder name holds a backslash"
    return None


def folder_name(student: str) -> str:
    """A student id (or an assignment name) as one folder name; refuses ids that would
    leave their folder."""
    if (not student or student in (".", "..") or "/" in student or "\\" in student
            or "\x00" in student):
        raise ValueError(f"unusable student id for a folder name: {student!r}")
    return student


_TOP_KEYS = {"course_id", "assignment", "probe_salt", "variants", "tolerance", "limits", "notebooks"}


def _limits(raw) -> Limits:
    """course.yaml's `limits:` as a typed Limits; a key Limits does not know is an error
    (a typo must not silently leave a default in force)."""
    if raw is None:
        return Limits()
    if not isinstance(raw, dict):
        raise CourseError(f"{COURSE_FILE}: limits must be a mapping")
    known = {f.name: f for f in fields(Limits)}
    values = {}
    for key, value in raw.items():
        if key not in known:
            raise CourseError(f"{COURSE_FILE}: unknown limit {key!r} (known: {', '.join(known)})")
        number = _number(value, f"limits.{key}")
        if number <= 0:
            raise CourseError(f"{COURSE_FILE}: limits.{key} must be positive")
        is_float = known[key].type in (float, "float")
        if not is_float and number != int(number):
            raise CourseError(f"{COURSE_FILE}: limits.{key} must be a whole number")
        values[key] = number if is_float else int(number)
    return Limits(**values)


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CourseError(f"course.yaml: {where} must be a number, got {value!r}")
    return float(value)


def load(root: str | Path = ".") -> Course:
    """Read and validate `course.yaml` in the course folder `root`."""
    root = Path(root).resolve()
    path = root / COURSE_FILE
    if not path.is_file():
        raise CourseError(f"no {COURSE_FILE} in {root} (run this in the course folder)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CourseError(f"{COURSE_FILE} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise CourseError(f"{COURSE_FILE} must be a mapping")
    for key in ("course_id", "assignment", "notebooks"):
        if key not in raw:
            raise CourseError(f"{COURSE_FILE} lacks the key {key!r}")
    default_tol = raw.get("tolerance") or {}
    rtol0 = _number(default_tol.get("rtol", 1e-7), "tolerance.rtol")
    atol0 = _number(default_tol.get("atol", 1e-10), "tolerance.atol")
    notebooks = []
    if not isinstance(raw["notebooks"], dict) or not raw["notebooks"]:
        raise CourseError(f"{COURSE_FILE}: notebooks must be a non-empty mapping")
    for nb_name, functions in raw["notebooks"].items():
        if not isinstance(functions, dict) or not functions:
            raise CourseError(f"{COURSE_FILE}: notebook {nb_name} must map functions to checks")
        fspecs = []
        for fn_name, checks in functions.items():
            if not isinstance(checks, dict) or not checks:
                raise CourseError(f"{COURSE_FILE}: {nb_name}.{fn_name} must map check names to settings")
            cspecs = []
            for check_name, settings in checks.items():
                where = f"{nb_name}.{fn_name}.{check_name}"
                if not isinstance(settings, dict) or "points" not in settings:
                    raise CourseError(f"{COURSE_FILE}: {where} needs points")
                points = _number(settings["points"], f"{where}.points")
                if points <= 0:
                    raise CourseError(f"{COURSE_FILE}: {where}.points must be positive")
                tol = Tolerance(
                    _number(settings.get("rtol", rtol0), f"{where}.rtol"),
                    _number(settings.get("atol", atol0), f"{where}.atol"),
                )
                cspecs.append(CheckSpec(nb_name, fn_name, check_name, points, tol))
            fspecs.append(FunctionSpec(nb_name, fn_name, tuple(cspecs)))
        notebooks.append(NotebookSpec(nb_name, tuple(fspecs)))
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise CourseError(f"{COURSE_FILE}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    variants = raw.get("variants", 16)
    if not isinstance(variants, int) or variants < 1:
        raise CourseError(f"{COURSE_FILE}: variants must be a positive whole number")
    return Course(
        root=root,
        course_id=str(raw["course_id"]),
        assignment=str(raw["assignment"]),
        probe_salt=str(raw.get("probe_salt", raw["course_id"])),
        variants=variants,
        limits=_limits(raw.get("limits")),
        notebooks=tuple(notebooks),
        raw=raw,
    )
