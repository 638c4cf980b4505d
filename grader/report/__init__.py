"""Everything a person reads, as pure functions of the results (no grading here):

  scores.py       how a score is rounded and printed
  text.py         hostile text made safe for a terminal, Markdown or HTML
  results_json.py Gradescope's results.json for one submission
  csv_files.py    grades.csv and the LMS (Canvas / Moodle) import CSV
  feedback.py     the feedback page: one view model, rendered as Markdown and as HTML
                  (feedback.html.j2 and feedback.css beside it)
  table.py        the class table for the terminal

Text that comes from results (student ids, messages, captured output) is hostile: it is
escaped in HTML and Markdown, kept literal in JSON/CSV, and stripped of control
characters in the terminal table. Nothing is added to a message: what the checks wrote
is already free of hidden inputs and reference values. Files are written by grader.files.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .. import files
from ..course import Course
from ..results import SubmissionResult
from .csv_files import LMS_COLUMNS, POINTS_POSSIBLE, grades_columns, grades_rows, lms_assignment_column, \
    write_grades_csv, write_lms_csv
from .feedback import FEEDBACK_OUTPUT_CAP, feedback_html, feedback_markdown, feedback_view
from .results_json import SCHEMA_PATH, gradescope_results
from .scores import fmt_points, points
from .table import class_table

__all__ = [
    "FEEDBACK_OUTPUT_CAP", "LMS_COLUMNS", "POINTS_POSSIBLE", "SCHEMA_PATH", "StudentOutputs", "class_table",
    "feedback_html", "feedback_markdown", "feedback_view", "fmt_points", "grades_columns", "grades_rows",
    "gradescope_results", "lms_assignment_column", "points", "write_class_csvs", "write_grades_csv",
    "write_lms_csv", "write_student_outputs",
]


class StudentOutputs(NamedTuple):
    results_json: Path
    feedback_html: Path
    feedback_md: Path


def write_student_outputs(course: Course, result: SubmissionResult) -> StudentOutputs:
    """The student's results.json (autograded/) and feedback pages (feedback/), each
    written atomically; an id that would leave its folder raises ValueError."""
    fb_dir = course.feedback_student_dir(result.student)
    return StudentOutputs(
        files.write_json(course.results_json(result.student), gradescope_results(result)),
        files.write_text(fb_dir / "feedback.html", feedback_html(result, course)),
        files.write_text(fb_dir / "feedback.md", feedback_markdown(result, course)),
    )


def write_class_csvs(course: Course, results: list[SubmissionResult]) -> tuple[Path, Path]:
    """grades.csv and grades_lms.csv of the class."""
    return (write_grades_csv(course.grades_csv(), results, course),
            write_lms_csv(course.lms_csv(), results, course))
