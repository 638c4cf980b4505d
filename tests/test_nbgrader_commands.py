"""Real nbgrader on a temporary copy of the course: the release is what generate_assignment
makes of source/, and nbgrader's own autograde gives the key full marks and the blank zero."""
import csv
import json
import shutil
import subprocess
import sys

import pytest

from grader import samples as S
from grader.nbgrader_commands import nbgrader_env

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]


def nbgrader(root, *args):
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=nbgrader_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def comparable(path):
    """Cell sources, types and nbgrader metadata (what must not drift), per cell id."""
    nb = json.loads(path.read_text())
    return [(c["id"], c["cell_type"], "".join(c["source"]), c["metadata"].get("nbgrader")) for c in nb["cells"]]


def test_generate_assignment_reproduces_the_committed_release(course_copy, course):
    shutil.rmtree(course_copy / "release")
    nbgrader(course_copy, "generate_assignment", course.assignment, "--force")
    for nb in course.notebooks:
        fresh = course_copy / "release" / course.assignment / nb.filename
        committed = S.ROOT / "release" / course.assignment / nb.filename
        assert comparable(fresh) == comparable(committed), f"release/{nb.filename} is stale: run make release"
    assert (course_copy / "release" / course.assignment / "README.md").read_text() == \
        (S.ROOT / "release" / course.assignment / "README.md").read_text()


def cell_errors(path) -> set[str]:
    """grade_ids of the graded cells of an autograded notebook that ended in an error."""
    nb = json.loads(path.read_text())
    return {c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade")
            and any(o.get("output_type") == "error" for o in c.get("outputs", []))}


def test_nbgrader_autograde_agrees_with_our_grader(course_copy, course):
    """nbgrader's own autograde (each graded cell: the visible asserts, then the hidden part
    calling the same checks in the student's kernel) gives the key full marks, the blank zero,
    and per graded cell the same points as our grader, except that a cell whose visible
    asserts fail scores 0 there (nbgrader's rule: an error in a graded cell is 0 points),
    where our grader still gives the checks that pass."""
    from nbgrader.api import Gradebook

    from grader import course as course_mod, gradebook
    from grader.grading import Grader

    nbgrader(course_copy, "generate_assignment", course.assignment, "--force")
    students = {"key": {}, "blank": None,
                "slips": {"01_perceptron": {"sigmoid": S.BUGS["sigmoid_naive"][2]},
                          "02_xor_network": {"compute_loss": S.BUGS["compute_loss_mean"][2]}},
                "grads": {"02_xor_network": {"backward": S.BUGS["backward_output_derivative_missing"][2]},
                          "03_activations": {"leaky_relu": S.BUGS["leaky_relu_fixed_alpha"][2]}}}
    for student, overrides in students.items():
        S.write_submission(course_copy / "submitted" / student / course.assignment, overrides or {},
                           blank=overrides is None, root=course_copy)
    copied = course_mod.load(course_copy)
    ours = {s: Grader(copied).grade(s) for s in students}
    nbgrader(course_copy, "autograde", course.assignment, "--force")
    out = course_copy / "grades_nbgrader.csv"
    nbgrader(course_copy, "export", "--to", str(out))
    rows = {r["student_id"]: r for r in csv.DictReader(out.open())}
    assert set(rows) == set(students)
    assert float(rows["key"]["score"]) == float(rows["key"]["max_score"]) == course.points
    assert float(rows["blank"]["score"]) == 0 == ours["blank"].score
    assert ours["key"].score == course.points
    visible_failures = set()
    with Gradebook(gradebook.default_db_url(copied), course_id=course.course_id) as gb:
        for student, result in ours.items():
            for nb in course.notebooks:
                errors = cell_errors(course_copy / "autograded" / student / course.assignment / nb.filename)
                mine = result.notebook(nb.name)
                for fn in nb.functions:
                    theirs = gb.find_grade(fn.name, nb.name, course.assignment, student).score
                    expected = round(sum(c.score for c in mine.checks if c.function == fn.name), 6)
                    if fn.name in errors:
                        visible_failures.add((student, nb.name, fn.name))
                        assert theirs == 0, (student, nb.name, fn.name)
                    else:
                        assert theirs == pytest.approx(expected), (student, nb.name, fn.name)
    # the planted bugs that break a visible assert are the ones that cost the whole cell there
    assert ("slips", "02_xor_network", "compute_loss") in visible_failures
    assert not {v for v in visible_failures if v[0] == "key"}
    assert {v for v in visible_failures if v[0] == "blank"} == \
        {("blank", nb.name, fn.name) for nb in course.notebooks for fn in nb.functions}


def test_nbgrader_validate_tells_the_truth(course_copy, course):
    """`nbgrader validate` (what the Lab Validate button runs): the untouched release fails
    with the visible tests' messages, a notebook with one wrong function fails on that
    function's visible assert, and the solution passes."""
    folder = course_copy / "try"
    S.write_submission(folder / "key", {}, root=course_copy)
    S.write_submission(folder / "blank", None, blank=True, root=course_copy)
    S.write_submission(folder / "slip", {"02_xor_network": {"compute_loss": S.BUGS["compute_loss_mean"][2]}},
                       root=course_copy)
    names = [nb.filename for nb in course.notebooks]
    blank = nbgrader(course_copy, "validate", *(str(folder / "blank" / n) for n in names)).stdout
    assert blank.count("VALIDATION FAILED ON") == len(names)
    for nb in course.notebooks:
        assert f"VALIDATION FAILED ON {len(nb.functions)} CELL(S)" in blank
    assert "NotImplementedError: Replace this line with your code." in blank
    assert "Success!" not in blank
    slip = nbgrader(course_copy, "validate", str(folder / "slip" / "02_xor_network.ipynb")).stdout
    # compute_loss's visible assert with its own message (train, which uses it, fails too)
    assert "VALIDATION FAILED ON" in slip and "AssertionError: expected 0.25, got" in slip
    assert "Success!" not in slip
    key = nbgrader(course_copy, "validate", *(str(folder / "key" / n) for n in names)).stdout
    assert key.count("Success! Your notebook passes all the tests.") == len(names), key[-2000:]


def test_zip_collect_takes_canvas_downloads_with_the_shipped_config(course_copy, course):
    """Canvas's "Download Submissions" zip, as it names files (a late one, a re-upload with
    -1), in downloaded/<assignment>/archive/: zip_collect puts each student's notebooks in
    submitted/<canvas user id>/<assignment>/ under the released names."""
    import zipfile

    work = course_copy / "work"
    S.write_submission(work / "ada", {}, root=course_copy)
    S.write_submission(work / "bob", {"03_activations": {"relu": S.BUGS["relu_abs"][2]}}, root=course_copy)
    archive = course_copy / "downloaded" / course.assignment / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as zf:
        for nb in course.notebooks:
            zf.write(work / "ada" / nb.filename, f"lovelaceada_1001_5001_{nb.filename}")
            stem = nb.filename[:-len(".ipynb")]
            zf.write(work / "bob" / nb.filename, f"smithbob_late_1002_5002_{stem}-1.ipynb")
        zf.writestr("lovelaceada_1001_5001_notes.txt", "not a notebook")
    proc = nbgrader(course_copy, "zip_collect", course.assignment)
    assert "Regular expression not provided" not in proc.stderr
    for student, source in (("1001", "ada"), ("1002", "bob")):
        got = course_copy / "submitted" / student / course.assignment
        assert sorted(p.name for p in got.glob("*.ipynb")) == sorted(nb.filename for nb in course.notebooks)
        for nb in course.notebooks:
            assert (got / nb.filename).read_bytes() == (work / source / nb.filename).read_bytes()
    ignored = subprocess.run(["git", "check-ignore", "-q", "downloaded/nn_intro/archive/submissions.zip"],
                             cwd=S.ROOT)
    assert ignored.returncode == 0, "downloaded/ must be git-ignored"


def test_no_warnings_from_our_config(course_copy):
    """nbgrader prints no warning caused by nbgrader_config.py (the root is absolute, from
    the file's folder; tests/test_exchange_cycle.py checks every command of the cycle)."""
    proc = nbgrader(course_copy, "db", "student", "list")
    assert "WARNING" not in proc.stderr, proc.stderr
    assert (course_copy / "gradebook.db").exists()
