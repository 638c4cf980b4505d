"""Real nbgrader on a temporary copy of the course: the release is what generate_assignment
makes of source/, and nbgrader's own autograde gives the key full marks and the blank zero."""
import csv
import json
import shutil
import subprocess
import sys

import pytest

import submissions as S
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


def test_nbgrader_autograde_agrees_with_our_grader(course_copy, course):
    """nbgrader's own autograde (hidden-test cells calling the same checks in the student's
    kernel) gives the key full marks, the blank zero, and the same totals as our grader for
    honest submissions, planted bugs included."""
    from grader import course as course_mod
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
    ours = Grader(course_mod.load(course_copy))
    expected = {student: ours.grade(student).score for student in students}
    nbgrader(course_copy, "autograde", course.assignment, "--force")
    out = course_copy / "grades_nbgrader.csv"
    nbgrader(course_copy, "export", "--to", str(out))
    rows = {r["student_id"]: r for r in csv.DictReader(out.open())}
    assert set(rows) == set(students)
    assert float(rows["key"]["score"]) == float(rows["key"]["max_score"]) == course.points
    assert float(rows["blank"]["score"]) == 0
    assert {s: float(r["score"]) for s, r in rows.items()} == expected
    assert expected["slips"] < course.points and expected["grads"] < course.points
