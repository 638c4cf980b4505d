"""grades.csv (one row per student, a score per notebook) and the LMS import CSV (Canvas's
format, which Moodle reads too)."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable

from .. import files
from ..course import Course
from ..results import SubmissionResult, latest_per_student
from .scores import fmt_points, points
from .text import encodable

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str) -> str:
    """A text cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    value = encodable(value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def grades_rows(results: Iterable[SubmissionResult], course: Course) -> list[dict]:
    """One row per student, sorted by id: student, one score per notebook (course
    order; a notebook missing from a result scores 0), total, max_score. Scores are
    floats rounded to 4 decimals."""
    rows = []
    for result in latest_per_student(results):
        row: dict = {"student": result.student}
        for nb in course.notebooks:
            row[nb.name] = points(result.notebook_score(nb.name))
        row["total"] = points(result.score)
        row["max_score"] = points(result.max_score)
        rows.append(row)
    return rows


def grades_columns(course: Course) -> list[str]:
    return ["student", *(nb.name for nb in course.notebooks), "total", "max_score"]


def _csv_string(header: list[str], rows: Iterable[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_grades_csv(path, results: Iterable[SubmissionResult], course: Course) -> Path:
    """grades.csv: the rows of `grades_rows`, numbers without float noise. Student ids
    that a spreadsheet would take for a formula (=, +, -, @) are prefixed with '."""
    columns = grades_columns(course)
    body = []
    for row in grades_rows(results, course):
        body.append([_csv_text(row["student"])] + [fmt_points(row[c]) for c in columns[1:]])
    return files.write_text(path, _csv_string(columns, body))


LMS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"


def lms_assignment_column(course: Course) -> str:
    return f"{course.assignment} ({course.course_id})"


def write_lms_csv(path, results: Iterable[SubmissionResult], course: Course,
                  roster: dict | None = None, points_possible: bool = True) -> Path:
    """A gradebook import CSV in Canvas's format.

    Columns: Student, ID, SIS User ID, SIS Login ID, Section, "<assignment> (<course_id>)".
    The first data row is "Points Possible" with the assignment's maximum; then one row
    per student, sorted by id, with the total score.

    `roster` maps a student id to {"name", "sis_id", "login", "section"} (and optionally
    "id", the LMS's own user id); a missing name is the student id, a missing "id" is
    the student id, anything else missing is left empty (`read_roster` reads it from a
    CSV file: `python -m grader export --roster FILE`).

    Canvas: Grades > Import, upload this file. Canvas matches students by ID, then SIS
    User ID / SIS Login ID, and matches the assignment by the number in parentheses or
    else by name, creating a new assignment column if none matches.

    Moodle: Grades > Import > CSV file. In "Identify user by", map from "SIS Login ID"
    to "username" (or from "ID" to "ID number" / "useridnumber" if the student ids are
    Moodle ID numbers), and map the "<assignment> (<course_id>)" column to the grade
    item (or "new grade item"). Moodle does not know the "Points Possible" row and
    refuses rows whose user it cannot find, so for Moodle write the file with
    `points_possible=False` (`python -m grader export --moodle`).
    """
    roster = roster or {}
    header = [*LMS_COLUMNS, lms_assignment_column(course)]
    rows = []
    if points_possible:
        rows.append([POINTS_POSSIBLE, "", "", "", "", fmt_points(course.points)])
    for result in latest_per_student(results):
        info = roster.get(result.student) or {}
        rows.append([
            _csv_text(info.get("name") or result.student),
            _csv_text(info.get("id") or result.student),
            _csv_text(info.get("sis_id") or ""),
            _csv_text(info.get("login") or ""),
            _csv_text(info.get("section") or ""),
            fmt_points(result.score),
        ])
    return files.write_text(path, _csv_string(header, rows))


ROSTER_COLUMNS = ("student", "name", "id", "sis_id", "login", "section")


def read_roster(path) -> dict[str, dict]:
    """A roster CSV: a header row with `student` (our student id, the folder name in
    submitted/) and any of name, id, sis_id, login, section. Raises ValueError (one
    line) for a file that cannot be used."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the roster {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "student" not in header:
        raise ValueError(f"the roster {path} has no 'student' column (columns: {', '.join(ROSTER_COLUMNS)})")
    unknown = [h for h in header if h not in ROSTER_COLUMNS]
    if unknown:
        raise ValueError(f"the roster {path} has an unknown column {unknown[0]!r} "
                         f"(columns: {', '.join(ROSTER_COLUMNS)})")
    roster = {}
    for row in reader:
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if row.get("student"):
            roster[row["student"]] = {k: v for k, v in row.items() if k != "student" and v}
    return roster


def write_table_csv(path, header: list[str], rows: Iterable[list]) -> Path:
    """Any table as CSV (the insights' long format): text cells guarded against formulas,
    numbers as they are."""
    body = [[_csv_text(v) if isinstance(v, str) else v for v in row] for row in rows]
    return files.write_text(path, _csv_string(header, body))
