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


@pytest.mark.parametrize("folder", ["source", "release"])
def test_each_graded_cell_holds_its_visible_asserts_above_the_hidden_part(course, folder):
    """nbgrader validate looks only at graded cells: the visible asserts must be in them
    (the cell right after the answer), the hidden part below them (source only)."""
    for nb in course.notebooks:
        cells = json.loads((ROOT / folder / course.assignment / nb.filename).read_text())["cells"]
        gids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in cells]
        for fn in nb.functions:
            i = gids.index(fn.name)
            assert gids[i - 1] == f"{fn.name}_answer", f"{nb.name}/{fn.name}: the test cell must follow its answer"
            text = "".join(cells[i]["source"])
            hidden = text.find("### BEGIN HIDDEN TESTS")
            visible = text if hidden < 0 else text[:hidden]
            assert "assert " in visible and f"{fn.name}(" in visible, f"{nb.name}/{fn.name} has no visible asserts"
            assert (hidden >= 0) == (folder == "source"), f"{folder}/{nb.name}/{fn.name}"
            if folder == "source":
                assert f'grade("{nb.name}", "{fn.name}", globals())' in text[hidden:]
        assert not [g for g in gids if g and g.endswith("_visible")], "visible tests belong in the graded cell"


def test_points_add_up(course):
    assert course.points == sum(spec.points for spec in course.checks())
    assert all(spec.points > 0 for spec in course.checks())


def test_a_broken_course_yaml_is_one_clear_error(tmp_path):
    with pytest.raises(CourseError, match="no course.yaml"):
        load(tmp_path)
    (tmp_path / "course.yaml").write_text("course_id: x\nassignment: a\nnotebooks: {nb: {f: {c: {points: -1}}}}\n")
    with pytest.raises(CourseError, match="points must be positive"):
        load(tmp_path)
    (tmp_path / "course.yaml").write_text("notebooks: [\n")
    with pytest.raises(CourseError, match="not valid YAML"):
        load(tmp_path)
