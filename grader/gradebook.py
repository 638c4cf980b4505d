"""nbgrader's SQLite gradebook is the record: our results go into it through nbgrader's
own API (`nbgrader.api.Gradebook`), so `nbgrader export`, the formgrader and any
nbgrader tooling see the same scores as grades.csv.

Layout in the gradebook, as `nbgrader generate_assignment` creates it: the assignment,
its notebooks, and in each notebook one grade cell per graded function (grade_id = the
function's name, max_score = the function's points), plus the solution, task and source
cells. When the gradebook lacks a notebook (a fresh database: our autograde must not
depend on generate_assignment having run), `record` creates it from the nbgrader
metadata of source/<assignment>/<notebook>.ipynb the way nbgrader's SaveCells does, or,
without a source notebook, from course.yaml alone (grade cells and `<function>_answer`
solution cells).

nbgrader.api is imported lazily: importing it costs ~2 s (the nbgrader package imports its
server extensions), and the command line should not pay that unless it records.

A fresh database: nbgrader's Gradebook stamps it with the alembic head revision by running
the `alembic` executable (`alembic heads`), which takes ~4.5 s and fails outright when the
venv's bin/ is not on PATH (e.g. `.venv/bin/python -m grader ...` without activating).
`open_gradebook` gives Gradebook the same revision, read in-process from nbgrader's own
alembic scripts (a few ms); everything else is nbgrader's API unchanged.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import warnings
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from . import files
from .course import Course, NotebookSpec
from .results import SubmissionResult

log = logging.getLogger(__name__)

TIMESTAMP_FILE = "timestamp.txt"   # nbgrader collect / zip collect write it per submission


def default_db_url(course: Course) -> str:
    return course.gradebook_url()


def _sqlite_path(db_url: str) -> Path | None:
    prefix = "sqlite:///"
    if db_url.startswith(prefix) and ":memory:" not in db_url:
        return Path(db_url[len(prefix):])
    return None


def _skip_slow_optional_imports() -> None:
    """Before the first nbgrader import: nbgrader imports nbformat, which imports jsonschema,
    which imports the optional rfc3987-syntax (only for its "iri" format checker, which
    neither nbformat nor nbgrader uses) and spends ~3 s building its grammar. Marking it
    absent makes jsonschema skip that checker: importing nbgrader.api then takes ~1.9 s
    instead of ~4.9 s, a cost every autograde run with the gradebook paid."""
    import sys
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


def _alembic_head() -> str | None:
    """The revision `alembic heads` prints for nbgrader's migrations, without a subprocess."""
    _skip_slow_optional_imports()
    try:
        from alembic.config import Config
        from alembic.script import ScriptDirectory
        from nbgrader.dbutil import ALEMBIC_DIR

        cfg = Config()
        cfg.set_main_option("script_location", ALEMBIC_DIR)
        return ScriptDirectory.from_config(cfg).get_current_head()
    except Exception as exc:   # fall back to nbgrader's own way
        log.debug("gradebook: alembic head not read in-process: %s", exc)
        return None


@contextmanager
def open_gradebook(db_url: str, course_id: str):
    """nbgrader.api.Gradebook(db_url, course_id), closed on exit (see the module docstring
    for how a fresh database is stamped)."""
    _skip_slow_optional_imports()
    import nbgrader.api as api

    head = _alembic_head()
    original = api.get_alembic_version
    if head:
        api.get_alembic_version = lambda: head
    try:
        gb = api.Gradebook(db_url, course_id=course_id)
    finally:
        api.get_alembic_version = original
    try:
        yield gb
    finally:
        gb.close()


# ---------------------------------------------------------------------------------------
# Structure: assignment, notebooks, cells


def _cells_from_notebook(course: Course, spec: NotebookSpec):
    """SaveCells' view of source/<assignment>/<notebook>.ipynb: (grade, solution, task,
    source) cell infos, and the kernelspec; None if there is no source notebook."""
    _skip_slow_optional_imports()
    import nbformat
    from nbgrader import utils

    src_path = course.source_dir() / spec.filename
    if not src_path.is_file():
        return None
    nb = nbformat.read(str(src_path), as_version=4)
    # The released notebook holds solution cells as generate_assignment cleared them
    # (what SaveCells stores); the source holds the full text of test cells (SaveCells
    # runs before ClearHiddenTests, so the gradebook keeps hidden tests).
    released = {}
    rel_path = course.release_dir() / spec.filename
    if rel_path.is_file():
        for cell in nbformat.read(str(rel_path), as_version=4).cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid:
                released[gid] = cell.source
    grade, solution, task, source = {}, {}, {}, {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if not meta or not meta.get("grade_id"):
            continue
        gid = meta["grade_id"]
        if utils.is_solution(cell) and gid in released:
            cell = nbformat.from_dict({**cell, "source": released[gid]})
        if utils.is_grade(cell):
            grade[gid] = {"max_score": float(meta.get("points", 0)), "cell_type": cell.cell_type}
        if utils.is_solution(cell):
            solution[gid] = {}
        if utils.is_task(cell):
            task[gid] = {"max_score": float(meta.get("points", 0)), "cell_type": cell.cell_type}
        if utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell) or utils.is_task(cell):
            source[gid] = {"cell_type": cell.cell_type, "locked": utils.is_locked(cell),
                           "source": cell.source, "checksum": utils.compute_checksum(cell)}
    kernelspec = json.dumps(nb.metadata.get("kernelspec", {}))
    return grade, solution, task, source, kernelspec


def _create_notebook(gb, course: Course, spec: NotebookSpec) -> None:
    found = _cells_from_notebook(course, spec)
    if found is None:
        log.info("gradebook: no source notebook for %s; its cells come from course.yaml", spec.name)
        gb.add_notebook(spec.name, course.assignment)
        for fn in spec.functions:
            gb.add_grade_cell(fn.name, spec.name, course.assignment,
                              max_score=float(fn.points), cell_type="code")
            gb.add_solution_cell(f"{fn.name}_answer", spec.name, course.assignment)
        return
    grade, solution, task, source, kernelspec = found
    gb.add_notebook(spec.name, course.assignment, kernelspec=kernelspec)
    for name, info in grade.items():
        gb.add_grade_cell(name, spec.name, course.assignment, **info)
    for name in solution:
        gb.add_solution_cell(name, spec.name, course.assignment)
    for name, info in task.items():
        gb.add_task_cell(name, spec.name, course.assignment, **info)
    for name, info in source.items():
        gb.add_source_cell(name, spec.name, course.assignment, **info)


def ensure_structure(gb, course: Course) -> dict[str, tuple[str, str]]:
    """Make sure the assignment, its notebooks and the grade cell of every graded function
    exist with max_score = the function's points (course.yaml is the source of truth).
    Returns {grade cell id: (notebook, function)} for the graded functions' cells."""
    from nbgrader.api import MissingEntry

    try:
        gb.find_assignment(course.assignment)
    except MissingEntry:
        gb.add_assignment(course.assignment)
    ours: dict[str, tuple[str, str]] = {}
    for spec in course.notebooks:
        try:
            notebook = gb.find_notebook(spec.name, course.assignment)
        except MissingEntry:
            _create_notebook(gb, course, spec)
            notebook = gb.find_notebook(spec.name, course.assignment)
        cells = {c.name: c for c in notebook.grade_cells}
        changed = False
        for fn in spec.functions:
            cell = cells.get(fn.name)
            if cell is None:
                log.warning("gradebook: %s/%s had no grade cell %r; creating it",
                            course.assignment, spec.name, fn.name)
                cell = gb.add_grade_cell(fn.name, spec.name, course.assignment,
                                         max_score=float(fn.points), cell_type="code")
            elif abs((cell.max_score or 0.0) - fn.points) > 1e-9:
                log.warning("gradebook: grade cell %s/%s has max_score %s, course.yaml says %s; "
                            "using course.yaml", spec.name, fn.name, cell.max_score, fn.points)
                cell.max_score = float(fn.points)
                changed = True
            ours[cell.id] = (spec.name, fn.name)
        if changed:
            gb.db.commit()
    return ours


# ---------------------------------------------------------------------------------------
# Submissions


def submission_timestamp(folder: Path) -> datetime | None:
    """nbgrader's rule for a submission's time: <folder>/timestamp.txt (written by
    `nbgrader collect` / `zip_collect`), parsed as nbgrader parses it; None without one
    (nbgrader's autograde then stores None, and the formgrader counts a submission as
    autograded only when the gradebook's time equals the file's, None included). An
    unreadable file is None too, with a warning."""
    from nbgrader.utils import parse_utc

    path = Path(folder) / TIMESTAMP_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text:
        return None
    try:
        return parse_utc(text)
    except (ValueError, OverflowError):
        log.warning("gradebook: unreadable timestamp %r in %s", text[:80], path)
        return None


def _submission_timestamp(course: Course, result: SubmissionResult) -> datetime | None:
    return submission_timestamp(course.submitted_dir() / result.student / course.assignment)


class _Kept:
    """What a person entered for a submission, kept across a regrade: the extension, the
    manual scores, extra credit and comments, and flags (as `nbgrader autograde` keeps
    them)."""

    def __init__(self, submission):
        self.extension = submission.extension
        self.grades: dict[tuple[str, str], tuple] = {}
        self.comments: dict[tuple[str, str], str] = {}
        self.flagged: dict[str, bool] = {}
        for snb in submission.notebooks:
            self.flagged[snb.notebook_id] = bool(snb.flagged)
            for grade in snb.grades:
                if grade.manual_score is not None or grade.extra_credit is not None:
                    self.grades[(snb.notebook_id, grade.cell_id)] = (grade.manual_score, grade.extra_credit)
            for comment in snb.comments:
                if comment.manual_comment:
                    self.comments[(snb.notebook_id, comment.cell_id)] = comment.manual_comment


def _function_scores(result: SubmissionResult) -> dict[tuple[str, str], float]:
    scores: dict[tuple[str, str], float] = defaultdict(float)
    for nb in result.notebooks:
        for check in nb.checks:
            scores[(nb.notebook, check.function)] += float(check.score)
    return scores


def _update_in_place(gb, course: Course, result: SubmissionResult, ours: dict, old) -> bool:
    """A regrade of a submission that already has a grade row for each of our cells: set
    the new auto scores on those rows in one commit (atomic, and what people entered stays
    untouched). False if the rows do not all exist (then the submission is rebuilt)."""
    rows = {grade.cell_id: grade for snb in old.notebooks for grade in snb.grades}
    if not set(ours) <= set(rows):
        return False
    scores = _function_scores(result)
    old.timestamp = _submission_timestamp(course, result)
    for cell_id, where in ours.items():
        grade = rows[cell_id]
        grade.auto_score = round(scores.get(where, 0.0), 6)
        # as nbgrader's SaveAutoGrades: a manual score on a regraded cell asks for review
        grade.needs_manual_grade = grade.manual_score is not None
    gb.db.commit()
    return True


def _record_one(gb, course: Course, result: SubmissionResult, ours: dict) -> None:
    from nbgrader.api import MissingEntry

    if result.assignment and result.assignment != course.assignment:
        raise ValueError(f"result of {result.student} is for assignment {result.assignment!r}, "
                         f"not {course.assignment!r}")
    student = result.student
    gb.update_or_create_student(student)
    kept = None
    try:
        old = gb.find_submission(course.assignment, student)
    except MissingEntry:
        pass
    else:
        if _update_in_place(gb, course, result, ours, old):
            return
        kept = _Kept(old)
        gb.remove_submission(course.assignment, student)
    with warnings.catch_warnings():
        # nbgrader's add_submission builds the submission while the session autoflushes;
        # SQLAlchemy 2 warns about it on every call (harmless: the objects are added next).
        warnings.filterwarnings("ignore", message=r"Object of type <Submitted",
                                category=Warning, module=r"nbgrader\.api")
        submission = gb.add_submission(course.assignment, student,
                                       timestamp=_submission_timestamp(course, result))
    if kept is not None and kept.extension is not None:
        submission.extension = kept.extension
    scores = _function_scores(result)
    for snb in submission.notebooks:
        if kept is not None:
            snb.flagged = kept.flagged.get(snb.notebook_id, False)
        for grade in snb.grades:
            manual, extra = (None, None)
            if kept is not None:
                manual, extra = kept.grades.get((snb.notebook_id, grade.cell_id), (None, None))
            grade.manual_score, grade.extra_credit = manual, extra
            where = ours.get(grade.cell_id)
            if where is None:
                continue    # not graded by us (e.g. a manually graded cell): left to people
            grade.auto_score = round(scores.get(where, 0.0), 6)
            # as nbgrader's SaveAutoGrades: a manual score on a regraded cell asks for review
            grade.needs_manual_grade = manual is not None
        if kept is not None:
            for comment in snb.comments:
                text = kept.comments.get((snb.notebook_id, comment.cell_id))
                if text:
                    comment.manual_comment = text
    gb.db.commit()


def record(course: Course, results: Iterable[SubmissionResult], db_url: str | None = None) -> int:
    """Record results in the gradebook (default sqlite:///<course.root>/gradebook.db).

    Per result: the student is created if new; an existing submission is replaced
    (removed, then added again: a regrade never duplicates), keeping what people entered
    (extension, manual scores, extra credit, comments, flags); its timestamp is set; each
    graded function's grade cell gets auto_score = the sum of its checks' scores (partial
    credit kept; 0 for a notebook missing from the result). Safe to call repeatedly; one
    gradebook connection per call. Returns the number of submissions recorded."""
    results = list(results)
    with open_gradebook(db_url or default_db_url(course), course.course_id) as gb:
        ours = ensure_structure(gb, course)
        for result in results:
            _record_one(gb, course, result, ours)
    return len(results)


def export_totals(course: Course, db_url: str | None = None) -> dict[str, float]:
    """student -> total score of the assignment, read back through nbgrader's API, as
    `nbgrader export` computes its `score` column: the submission's score minus any late
    penalty, never below 0; 0 for a student in the gradebook without a submission.
    An absent SQLite file is an empty gradebook (nothing is created)."""
    db_url = db_url or default_db_url(course)
    path = _sqlite_path(db_url)
    if path is not None and not path.is_file():
        return {}
    from nbgrader.api import MissingEntry

    totals: dict[str, float] = {}
    with open_gradebook(db_url, course.course_id) as gb:
        try:
            gb.find_assignment(course.assignment)
        except MissingEntry:
            return {}
        for student in gb.students:
            try:
                sub = gb.find_submission(course.assignment, student.id)
            except MissingEntry:
                totals[student.id] = 0.0
                continue
            totals[student.id] = round(max(0.0, float(sub.score) - float(sub.late_submission_penalty or 0.0)), 6)
    return dict(sorted(totals.items()))


# ---------------------------------------------------------------------------------------
# Keeping the gradebook in step with the result files
#
# `.grader/gradebook.json` remembers which results are in gradebook.db, so the gradebook
# catches up after a crash between a result file and its database row. It is tied to one
# gradebook.db by a random token kept in that database's `PRAGMA user_version` (which
# nbgrader does not use): a deleted or replaced gradebook.db gets every result again.


class GradebookError(Exception):
    """The gradebook could not be written; the message says why in one line."""


def result_mark(result: SubmissionResult) -> str:
    return result.fingerprint + result.graded_at


def gradebook_token(path: Path) -> int:
    """The grader's token in the gradebook (`PRAGMA user_version`); 0 if none or no file."""
    if not path.is_file():
        return 0
    try:
        # read-write (never create): a run killed mid-write leaves a hot journal, which only
        # a writable connection can roll back, as nbgrader's next connection would anyway
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=30)
    except sqlite3.Error:
        return 0
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error:
        return 0      # unreadable: the marks do not count, everything is recorded again
    finally:
        db.close()


def set_gradebook_token(path: Path, token: int) -> None:
    db = sqlite3.connect(str(path), timeout=30)
    try:
        db.execute(f"PRAGMA user_version = {int(token)}")
        db.commit()
    finally:
        db.close()


def new_gradebook_token() -> int:
    return secrets.randbelow(2**31 - 2) + 1     # a positive 32-bit int, never 0


def gradebook_marks(course: Course) -> dict[str, str]:
    """student -> result_mark of what the gradebook holds for them; empty when the marks
    are for another (or no) gradebook.db."""
    try:
        data = json.loads(course.gradebook_marks_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("students"), dict):
        return {}
    token = data.get("gradebook")
    if not token or token != gradebook_token(course.gradebook_path()):
        return {}
    return dict(data["students"])


def save_gradebook_marks(course: Course, marks: dict[str, str]) -> None:
    """Remember `marks` for the gradebook.db as it is now (stamping it with a token first
    if it has none)."""
    path = course.gradebook_path()
    token = gradebook_token(path)
    if not token:
        token = new_gradebook_token()
        set_gradebook_token(path, token)
    files.write_json(course.gradebook_marks_path(), {"gradebook": token, "students": dict(sorted(marks.items()))})


def sync(course: Course, results: list[SubmissionResult]) -> int:
    """Record in gradebook.db every result it does not hold yet; returns how many.

    The marks are saved only after the rows are committed, so a kill in between records
    them again (a regrade replaces a submission, never duplicates it). A new gradebook.db
    is built under a temporary name and renamed: it appears whole or not at all.
    Raises GradebookError (one line; the result files are kept) on any database trouble."""
    marks = gradebook_marks(course)
    stale = [r for r in results if marks.get(r.student) != result_mark(r)]
    if not stale:
        return 0
    path = course.gradebook_path()
    try:
        if path.is_file():
            record(course, stale)
        else:
            tmp = files.temp_path(path)
            try:
                record(course, stale, db_url=f"sqlite:///{tmp}")
                os.replace(tmp, path)
            finally:
                for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
                    leftover.unlink(missing_ok=True)
        marks.update({r.student: result_mark(r) for r in stale})
        save_gradebook_marks(course, marks)
    except Exception as exc:   # noqa: BLE001 - any database trouble: one line, results kept
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GradebookError(f"could not record the grades in {path.name} ({type(exc).__name__}: {reason}); "
                             "the results are saved in autograded/, run again to record them") from None
    return len(stale)


# ---------------------------------------------------------------------------------------
# What people entered in the formgrader, back out


def manual_entries(course: Course, db_url: str | None = None) -> dict[str, dict[tuple[str, str], tuple]]:
    """student -> {(notebook, function): (manual_score or None, extra_credit or None)} for
    every graded function's cell of the assignment on which someone entered a manual score
    or extra credit in the formgrader. An absent SQLite file, or no such assignment, is {}
    (nothing is created).

    A SQLite gradebook is read with one read-only query on nbgrader's tables (the stdlib's
    sqlite3: the exports and the insights page need not pay nbgrader's ~2 s import to read
    a few rows); any other database through nbgrader's API."""
    db_url = db_url or default_db_url(course)
    path = _sqlite_path(db_url)
    if path is not None:
        return _manual_entries_sqlite(path, course.assignment) if path.is_file() else {}
    return _manual_entries_api(db_url, course)


def _manual_entries_api(db_url: str, course: Course) -> dict[str, dict[tuple[str, str], tuple]]:
    from nbgrader.api import Assignment, Grade, GradeCell, MissingEntry, Notebook, Student, \
        SubmittedAssignment, SubmittedNotebook

    out: dict[str, dict[tuple[str, str], tuple]] = {}
    with open_gradebook(db_url, course.course_id) as gb:
        try:
            gb.find_assignment(course.assignment)
        except MissingEntry:
            return {}
        rows = (gb.db.query(Student.id, Notebook.name, GradeCell.name, Grade.manual_score, Grade.extra_credit)
                .select_from(Grade)
                .join(GradeCell, Grade.cell_id == GradeCell.id)
                .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
                .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
                .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                .join(Student, SubmittedAssignment.student_id == Student.id)
                .filter(Assignment.name == course.assignment)
                .filter((Grade.manual_score.isnot(None)) | (Grade.extra_credit.isnot(None)))
                .all())
        for student, notebook, cell, manual, extra in rows:
            out.setdefault(student, {})[(notebook, cell)] = (manual, extra)
    return out


# nbgrader 0.9's schema: grade_cells inherits base_cell (its name), grades point at both.
_MANUAL_SQL = """
SELECT student.id, notebook.name, base_cell.name, grade.manual_score, grade.extra_credit
FROM grade
JOIN base_cell ON grade.cell_id = base_cell.id
JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id
JOIN notebook ON submitted_notebook.notebook_id = notebook.id
JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id
JOIN assignment ON submitted_assignment.assignment_id = assignment.id
JOIN student ON submitted_assignment.student_id = student.id
WHERE assignment.name = ? AND (grade.manual_score IS NOT NULL OR grade.extra_credit IS NOT NULL)
"""


def _manual_entries_sqlite(path: Path, assignment: str) -> dict[str, dict[tuple[str, str], tuple]]:
    out: dict[str, dict[tuple[str, str], tuple]] = {}
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        try:
            rows = db.execute(_MANUAL_SQL, (assignment,)).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):     # not a gradebook yet (an empty file)
                return {}
            raise
    finally:
        db.close()
    for student, notebook, cell, manual, extra in rows:
        out.setdefault(student, {})[(notebook, cell)] = (manual, extra)
    return out


def with_manual_grades(result: SubmissionResult, entries: dict[tuple[str, str], tuple],
                       course: Course) -> SubmissionResult:
    """A copy of `result` whose notebook scores and total are nbgrader's for the cells
    people graded: a function's score is the manual score if one was entered (else ours),
    plus any extra credit, as nbgrader's Grade.score counts it. The checks are unchanged;
    each adjusted function gets a problem line saying what was entered, so every page
    that shows the result says why the score differs from the checks."""
    if not entries:
        return result
    notebooks = []
    for nb in result.notebooks:
        changed = False
        score = 0.0
        notes = []
        by_function: dict[str, float] = defaultdict(float)
        for check in nb.checks:
            by_function[check.function] += float(check.score)
        try:
            functions = [f.name for f in course.notebook(nb.notebook).functions]
        except KeyError:
            functions = list(by_function)
        for fn in functions:
            auto = by_function.get(fn, 0.0)
            manual, extra = entries.get((nb.notebook, fn), (None, None))
            value = (float(manual) if manual is not None else auto) + float(extra or 0.0)
            if manual is not None or extra:
                changed = True
                what = []
                if manual is not None:
                    what.append(f"manual score {float(manual):g} (checks gave {auto:g})")
                if extra:
                    what.append(f"extra credit {float(extra):g}")
                notes.append(f"{fn}: {' and '.join(what)}, entered in the formgrader")
            score += value
        if changed:
            nb = replace(nb, score=round(score, 6), problems=[*nb.problems, *notes])
        notebooks.append(nb)
    total = round(sum(nb.score for nb in notebooks), 6)
    return replace(result, notebooks=notebooks, score=total)


def final_results(course: Course, results: list[SubmissionResult], db_url: str | None = None) -> list[SubmissionResult]:
    """`results` with what people entered in the formgrader applied (see with_manual_grades)."""
    entries = manual_entries(course, db_url)
    return [with_manual_grades(r, entries.get(r.student, {}), course) for r in results]
