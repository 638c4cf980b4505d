"""grader.gradebook against real nbgrader: results recorded through nbgrader's API, a regrade
replaces (never duplicates) a submission, and `nbgrader export` reads the same totals as
export_totals and grades.csv."""
from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import course as course_mod
from grader import gradebook, report
from grader.results import CheckResult, NotebookResult, SubmissionResult

REPO = Path(__file__).resolve().parent.parent
REAL_SOURCE = REPO / "source" / "nn_intro"
STUDENTS = ["alice", "bob", "o'brien"]

FAKE_COURSE_YAML = """\
course_id: fake_course
assignment: hw1
notebooks:
  01_first:
    double:
      values: {points: 1.5}
      shape:  {points: 0.5}
    halve:
      values: {points: 1.0}
  02_second:
    add:
      values: {points: 2.0}
      inputs_unchanged: {points: 1.0}
"""

NBGRADER_CONFIG = """\
c = get_config()
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = "."
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
"""


def _cell(kind, source, **meta):
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    if meta:
        cell.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": False,
                                     "locked": False, **meta}
    return cell


def write_fake_source(root: Path, course) -> None:
    """Source notebooks carrying nbgrader metadata as the real ones do: a locked setup
    cell, and per function an answer cell `<fn>_answer` and a graded test cell `<fn>`."""
    folder = root / "source" / course.assignment
    folder.mkdir(parents=True)
    for spec in course.notebooks:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells.append(_cell("markdown", f"# {spec.name}"))
        nb.cells.append(_cell("code", "import numpy as np", grade_id="setup", locked=True))
        for fn in spec.functions:
            nb.cells.append(_cell("code", f"def {fn.name}(x):\n    ### BEGIN SOLUTION\n    return x\n"
                                          "    ### END SOLUTION", grade_id=f"{fn.name}_answer",
                                  solution=True))
            nb.cells.append(_cell("code", f'from grader.kernel import grade\n'
                                          f'grade("{spec.name}", "{fn.name}", globals())',
                                  grade_id=fn.name, grade=True, locked=True, points=fn.points))
        nbformat.write(nb, str(folder / spec.filename))


def make_course(root: Path, real: bool):
    if real:
        shutil.copy(REPO / "course.yaml", root / "course.yaml")
        shutil.copytree(REAL_SOURCE, root / "source" / REAL_SOURCE.name)
        course = course_mod.load(root)
    else:
        (root / "course.yaml").write_text(FAKE_COURSE_YAML, encoding="utf-8")
        course = course_mod.load(root)
        write_fake_source(root, course)
    (root / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(course_id=course.course_id),
                                             encoding="utf-8")
    return course


def has_real_course() -> bool:
    return REAL_SOURCE.is_dir() and any(REAL_SOURCE.glob("*.ipynb"))


FRACTIONS = {   # per student and round: the share of each check's points earned, cycled
    ("alice", 1): [1.0], ("bob", 1): [0.5, 1.0, 0.0], ("o'brien", 1): [0.0, 1 / 3],
    ("alice", 2): [1.0, 0.75], ("bob", 2): [1.0, 0.0], ("o'brien", 2): [1 / 3, 1.0, 0.25],
}


def make_results(course, round_: int) -> list[SubmissionResult]:
    """Hand-built results with partial credit; o'brien's last notebook is missing."""
    out = []
    for student in STUDENTS:
        fractions = FRACTIONS[(student, round_)]
        notebooks, i = [], 0
        specs = course.notebooks[:-1] if student == "o'brien" else course.notebooks
        for spec in specs:
            checks = []
            for fn in spec.functions:
                for c in fn.checks:
                    frac = fractions[i % len(fractions)]
                    i += 1
                    checks.append(CheckResult(spec.name, fn.name, c.name, c.name, c.points * frac,
                                              c.points, frac == 1.0, "" if frac == 1.0 else 'bad "<x>"'))
            notebooks.append(NotebookResult(spec.name, round(sum(c.score for c in checks), 6),
                                            spec.points, checks))
        problems = [f"{course.notebooks[-1].filename} was not submitted"] if student == "o'brien" else []
        out.append(SubmissionResult(student, course.assignment, round(sum(n.score for n in notebooks), 6),
                                    course.points, notebooks, problems,
                                    graded_at=f"2026-02-0{round_}T10:00:00+00:00"))
    return out


def function_scores(result: SubmissionResult, course) -> dict[tuple[str, str], float]:
    scores = {(spec.name, fn.name): 0.0 for spec in course.notebooks for fn in spec.functions}
    for nb in result.notebooks:
        for c in nb.checks:
            scores[(nb.notebook, c.function)] += c.score
    return scores


def check_recorded(course, results) -> None:
    """Through nbgrader's API: one submission per student, auto scores per function."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook.default_db_url(course), course_id=course.course_id) as gb:
        subs = gb.assignment_submissions(course.assignment)
        assert sorted(s.student.id for s in subs) == STUDENTS
        assert sorted(s.id for s in gb.students) == STUDENTS
        assert gb.find_assignment(course.assignment).max_score == pytest.approx(course.points)
        for result in results:
            for (nb, fn), expected in function_scores(result, course).items():
                grade = gb.find_grade(fn, nb, course.assignment, result.student)
                assert grade.auto_score == pytest.approx(expected, abs=1e-6), (result.student, nb, fn)
                assert grade.max_score == pytest.approx(course.notebook(nb).function(fn).points)
                assert grade.needs_manual_grade is False
            sub = gb.find_submission(course.assignment, result.student)
            assert sub.score == pytest.approx(result.score, abs=1e-5)


@pytest.fixture
def course_dir(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    return root, make_course(root, real=has_real_course())


@pytest.mark.nbgrader
def test_record_twice_then_nbgrader_export(course_dir):
    root, course = course_dir
    # nbgrader's own submission time, as nbgrader collect leaves it
    stamp_dir = root / "submitted" / "bob" / course.assignment
    stamp_dir.mkdir(parents=True)
    (stamp_dir / "timestamp.txt").write_text("2026-01-31 23:59:00.000000 UTC\n")

    first = make_results(course, 1)
    assert gradebook.record(course, first) == 3
    check_recorded(course, first)

    second = make_results(course, 2)
    gradebook.record(course, second)
    check_recorded(course, second)           # the regrade replaced every submission

    totals = gradebook.export_totals(course)
    assert totals == pytest.approx({r.student: r.score for r in second}, abs=1e-5)
    assert totals["o'brien"] > 0 and totals["alice"] != totals["bob"]

    from nbgrader.api import Gradebook
    with Gradebook(gradebook.default_db_url(course), course_id=course.course_id) as gb:
        assert str(gb.find_submission(course.assignment, "bob").timestamp) == "2026-01-31 23:59:00"
        # no timestamp.txt: None, as nbgrader's autograde stores it (not the grading time)
        assert gb.find_submission(course.assignment, "alice").timestamp is None

    ours = report.write_grades_csv(root / "grades.csv", second, course)
    with open(ours, newline="", encoding="utf-8") as fh:
        csv_totals = {row["student"]: float(row["total"]) for row in csv.DictReader(fh)}

    # the real nbgrader command line, once
    exe = Path(sys.executable).with_name("nbgrader")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".jupyter")}
    proc = subprocess.run([*cmd, "export", "--to", "nbgrader_export.csv"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(root / "nbgrader_export.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["student_id"] for r in rows) == STUDENTS       # one row each: no duplicates
    exported = {r["student_id"]: float(r["score"]) for r in rows}
    assert set(r["assignment"] for r in rows) == {course.assignment}
    for r in rows:
        assert float(r["max_score"]) == pytest.approx(course.points)
    for student in STUDENTS:
        assert exported[student] == pytest.approx(totals[student], abs=1e-6)
        assert math.isclose(exported[student], csv_totals[student], abs_tol=1e-4)


def test_regrade_keeps_what_people_entered(course_dir):
    """Manual scores, extra credit, comments, extensions and flags survive a regrade (as
    with `nbgrader autograde`), and the graded cell is marked for review."""
    from datetime import timedelta

    from nbgrader.api import Gradebook

    root, course = course_dir
    gradebook.record(course, make_results(course, 1))
    spec = course.notebooks[0]
    fn = spec.functions[0].name
    url = gradebook.default_db_url(course)
    with Gradebook(url, course_id=course.course_id) as gb:
        grade = gb.find_grade(fn, spec.name, course.assignment, "bob")
        grade.manual_score = 0.25
        grade.extra_credit = 1.0
        comment = gb.find_comment(f"{fn}_answer", spec.name, course.assignment, "bob")
        comment.manual_comment = "see me <b>"
        gb.find_submission_notebook(spec.name, course.assignment, "bob").flagged = True
        gb.db.commit()
        gb.grant_extension(course.assignment, "bob", days=2)

    second = make_results(course, 2)
    gradebook.record(course, second)
    gradebook.record(course, second)          # idempotent
    bob = next(r for r in second if r.student == "bob")
    with Gradebook(url, course_id=course.course_id) as gb:
        assert len(gb.assignment_submissions(course.assignment)) == 3
        grade = gb.find_grade(fn, spec.name, course.assignment, "bob")
        assert grade.manual_score == 0.25 and grade.extra_credit == 1.0
        assert grade.auto_score == pytest.approx(function_scores(bob, course)[(spec.name, fn)])
        assert grade.needs_manual_grade is True
        assert gb.find_comment(f"{fn}_answer", spec.name, course.assignment, "bob").manual_comment == "see me <b>"
        assert gb.find_submission_notebook(spec.name, course.assignment, "bob").flagged is True
        assert gb.find_submission(course.assignment, "bob").extension == timedelta(days=2)
        other = gb.find_grade(fn, spec.name, course.assignment, "alice")
        assert other.manual_score is None and other.needs_manual_grade is False
    totals = gradebook.export_totals(course)
    auto = function_scores(bob, course)[(spec.name, fn)]
    assert totals["bob"] == pytest.approx(bob.score - auto + 0.25 + 1.0, abs=1e-5)


def test_cells_from_course_yaml_without_source(tmp_path):
    """No source notebooks (and a fresh db): grade cells come from course.yaml alone."""
    (tmp_path / "course.yaml").write_text(FAKE_COURSE_YAML, encoding="utf-8")
    course = course_mod.load(tmp_path)
    results = make_results(course, 1)
    db_url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert gradebook.export_totals(course, db_url) == {}       # absent db: empty, not created
    assert not (tmp_path / "elsewhere.db").exists()
    gradebook.record(course, results, db_url)
    gradebook.record(course, results, db_url)
    assert gradebook.export_totals(course, db_url) == pytest.approx(
        {r.student: r.score for r in results}, abs=1e-5)

    from nbgrader.api import Gradebook
    with Gradebook(db_url, course_id=course.course_id) as gb:
        nb = gb.find_notebook("01_first", course.assignment)
        assert sorted(c.name for c in nb.grade_cells) == ["double", "halve"]
        assert sorted(c.name for c in nb.solution_cells) == ["double_answer", "halve_answer"]
        assert gb.find_grade_cell("double", "01_first", course.assignment).max_score == 2.0


def test_source_cells_as_nbgrader_saves_them(tmp_path):
    """From source notebooks, the cells nbgrader's SaveCells would store: grade cells with
    their points, solution cells, and source cells (locked ones, with checksums)."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import compute_checksum

    course = make_course(tmp_path, real=False)
    gradebook.record(course, make_results(course, 1))
    with Gradebook(gradebook.default_db_url(course), course_id=course.course_id) as gb:
        nb = gb.find_notebook("01_first", course.assignment)
        assert {c.name: c.max_score for c in nb.grade_cells} == {"double": 2.0, "halve": 1.0}
        assert sorted(c.name for c in nb.solution_cells) == ["double_answer", "halve_answer"]
        src = {c.name: c for c in nb.source_cells}
        assert sorted(src) == ["double", "double_answer", "halve", "halve_answer", "setup"]
        assert src["setup"].locked and src["double"].locked and not src["double_answer"].locked
        cells = nbformat.read(str(course.source_dir() / "01_first.ipynb"), as_version=4).cells
        by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in cells if "nbgrader" in c.metadata}
        assert src["double"].source == by_id["double"].source
        assert src["double"].checksum == compute_checksum(by_id["double"])
        assert "python3" in nb.kernelspec


def test_submission_timestamp_is_nbgraders_rule(tmp_path):
    assert gradebook.submission_timestamp(tmp_path) is None
    (tmp_path / "timestamp.txt").write_text("2026-01-31 23:59:00.000000 UTC\n")
    assert str(gradebook.submission_timestamp(tmp_path)) == "2026-01-31 23:59:00"
    (tmp_path / "timestamp.txt").write_text("not a time")
    assert gradebook.submission_timestamp(tmp_path) is None


@pytest.mark.nbgrader
def test_manual_grades_and_extra_credit_are_read_back_and_applied(course_dir):
    from nbgrader.api import Gradebook

    root, course = course_dir
    results = make_results(course, 1)
    gradebook.record(course, results)
    nb = course.notebooks[0]
    fn_a, fn_b = nb.functions[0], nb.functions[-1]
    student = results[0].student
    with Gradebook(gradebook.default_db_url(course), course_id=course.course_id) as gb:
        gb.find_grade(fn_a.name, nb.name, course.assignment, student).manual_score = 0.25
        gb.find_grade(fn_b.name, nb.name, course.assignment, student).extra_credit = 2.0
        gb.db.commit()
    entries = gradebook.manual_entries(course)
    assert entries == {student: {(nb.name, fn_a.name): (0.25, None), (nb.name, fn_b.name): (None, 2.0)}}
    # the stdlib read of a SQLite gradebook says what nbgrader's own API says
    assert gradebook._manual_entries_api(gradebook.default_db_url(course), course) == entries
    final = gradebook.final_results(course, results)
    mine = results[0].notebook(nb.name)
    auto_a = sum(c.score for c in mine.checks if c.function == fn_a.name)
    adjusted = final[0].notebook(nb.name)
    assert adjusted.score == pytest.approx(mine.score - auto_a + 0.25 + 2.0)
    assert final[0].score == pytest.approx(results[0].score - auto_a + 0.25 + 2.0)
    assert any("manual score 0.25" in p for p in adjusted.problems)
    assert any("extra credit 2" in p for p in adjusted.problems)
    assert results[0].notebook(nb.name).score == mine.score          # the input is not changed
    assert [r.score for r in final[1:]] == [r.score for r in results[1:]]
    with Gradebook(gradebook.default_db_url(course), course_id=course.course_id) as gb:
        assert gb.find_submission(course.assignment, student).score == pytest.approx(final[0].score)
    assert gradebook.manual_entries(course, db_url=f"sqlite:///{root / 'absent.db'}") == {}
