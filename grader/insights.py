"""`python -m grader insights`: the class insights page and CSV, from what is on disk.

Reads every student's result file (grader_result.json; manual grades from the formgrader
applied), the last class run's record (.grader/last_run.json) and the answer cells of the
submitted notebooks (for the similarity of answer code), and writes insights/<assignment>.html
and .csv (grader.report.insights). Nothing is graded again; no student code runs.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from . import files, store
from .autograde import AutogradeError, final_results, select_students
from .course import Course
from .notebook import ANSWER_SUFFIX, NotebookUnreadable, cell_source, nbgrader_meta, read
from .report import insights as page
from .report.csv_files import write_table_csv
from .report import similarity

#: Characters of one answer cell compared for similarity (a cell is rarely over 2 kB).
CODE_CAP = 20_000


@dataclass
class InsightsSummary:
    html: Path
    csv: Path
    students: int
    bytes: int
    seconds: float
    view: page.InsightsView


def answer_codes(path: Path) -> dict[str, str]:
    """function -> the code of its answer cell in the notebook at `path` ({} if unreadable)."""
    try:
        data = read(path)
    except NotebookUnreadable:
        return {}
    out = {}
    for cell in data["cells"]:
        gid = nbgrader_meta(cell).get("grade_id")
        if cell.get("cell_type") == "code" and isinstance(gid, str) and gid.endswith(ANSWER_SUFFIX):
            out.setdefault(gid[: -len(ANSWER_SUFFIX)], cell_source(cell)[:CODE_CAP])
    return out


def class_codes(course: Course, students: list[str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(the release's answer cells, student -> function -> their answer cell)."""
    template: dict[str, str] = {}
    for nb in course.notebooks:
        template.update(answer_codes(course.release_dir() / nb.filename))
    codes = {}
    for student in students:
        mine: dict[str, str] = {}
        for nb in course.notebooks:
            mine.update(answer_codes(course.submission_dir(student) / nb.filename))
        codes[student] = mine
    return template, codes


def _run_record(course: Course) -> dict:
    try:
        data = json.loads(course.run_record().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def out_of_date(course: Course, results, run: dict) -> tuple[list[str], list[str]]:
    """(the students graded with other checks, references, course.yaml or grader than
    today's, the students whose submission changed after it was graded): results a rerun of
    autograde would redo, by the fingerprints it skips unchanged work by. A result from
    before results recorded their grader's fingerprint is taken as the last run's."""
    from .grading import grader_fingerprint, submission_fingerprint

    now = grader_fingerprint(course)
    grader_changed, changed = [], []
    for r in results:
        graded_with = r.graded_with or run.get("grader_fingerprint") or now
        if graded_with != now:
            grader_changed.append(r.student)
        if r.fingerprint != submission_fingerprint(course.submission_dir(r.student), graded_with):
            changed.append(r.student)
    return grader_changed, changed


def build(course: Course) -> InsightsSummary:
    """Write the insights page and CSV of the course's graded class; raises AutogradeError
    (one line) when there is nothing to build them from."""
    start = time.perf_counter()
    students = select_students(course)
    results = store.all_results(course, students)
    if not results:
        raise AutogradeError(f"no results in {course.autograded_dir()}: run "
                             f"`python -m grader autograde {course.assignment}` first")
    results = final_results(course, results)
    template, codes = class_codes(course, [r.student for r in results])
    pairs = similarity.similar_pairs(template, codes)
    graded = {r.student for r in results}
    run = _run_record(course)
    grader_changed, changed = out_of_date(course, results, run)
    view = page.insights_view(course, results, pairs=pairs, run=run, grader_changed=grader_changed,
                              changed=changed,
                              built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              ungraded=[s for s in students if s not in graded],
                              unusable=course.unusable_folders())
    out_dir = course.insights_html().parent

    def feedback_href(student: str) -> str:
        target = course.feedback_student_dir(student) / "feedback.html"
        # surrogateescape: a folder name that is not UTF-8 links to its own bytes
        return quote(os.path.relpath(target, out_dir).replace(os.sep, "/"), errors="surrogateescape")

    html = page.insights_html(view, feedback_href)
    files.write_text(course.insights_html(), html)
    write_table_csv(course.insights_csv(), page.CSV_COLUMNS, page.insights_rows(view))
    return InsightsSummary(course.insights_html(), course.insights_csv(), len(results),
                           len(html.encode("utf-8")), time.perf_counter() - start, view)
