"""course.yaml is the single source of truth: the checks and the notebooks agree with it."""
import json

import pytest

from grader import checks
from grader.course import CourseError, load

from conftest import ROOT


def nbgrader_cells(path):
    nb = json.loads(path.read_text())
    return [(c, c["metadata"]["nbgrader"]) for c in nb["cells"] if "nbgrader" in c.get("metadata", {})]


def test_every_check_in_course_yaml_is_declared_once_in_the_grader(course):
    configured = {spec.key for spec in course.checks()}
    assert configured == set(checks.REGISTRY)


@pytest.mark.parametrize("folder", ["source", "release"])
def test_graded_cells_match_course_yaml(course, folder):
    for nb in course.notebooks:
        cells = nbgrader_cells(ROOT / folder / course.assignment / nb.filename)
        graded = {m["grade_id"]: m["points"] for c, m in cells if m.get("grade")}
        assert graded == {f.name: f.points for f in nb.functions}, nb.name
        answers = {m["grade_id"] for c, m in cells if m.get("solution")}
        assert answers == {f"{f.name}_answer" for f in nb.functions}, nb.name
        for c, m in cells:
            if m.get("grade"):
                text = "".join(c["source"])
                assert f"({m['points']:g} point" in text, f"{nb.name}/{m['grade_id']} states other points"


def test_a_broken_course_yaml_is_one_clear_error(tmp_path):
    with pytest.raises(CourseError, match="no course.yaml"):
        load(tmp_path)
    (tmp_path / "course.yaml").write_text("course_id: x\nassignment: a\nnotebooks: {nb: {f: {c: {points: -1}}}}\n")
    with pytest.raises(CourseError, match="points must be positive"):
        load(tmp_path)
    (tmp_path / "course.yaml").write_text("notebooks: [\n")
    with pytest.raises(CourseError, match="not valid YAML"):
        load(tmp_path)
