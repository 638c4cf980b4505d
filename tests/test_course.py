"""course.yaml is the single source of truth: the checks and the notebooks agree with it."""
import json
import os

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


def test_a_broken_course_yaml_is_one_clear_error(tmp_path):
    with pytest.raises(CourseError, match="no course.yaml"):
        load(tmp_path)
    (tmp_path / "course.yaml").write_text("course_id: x\nassignment: a\nnotebooks: {nb: {f: {c: {points: -1}}}}\n")
    with pytest.raises(CourseError, match="points must be positive"):
        load(tmp_path)
    (tmp_path / "course.yaml").write_text("notebooks: [\n")
    with pytest.raises(CourseError, match="not valid YAML"):
        load(tmp_path)


def test_limits_are_typed_and_parsed_once(course):
    from grader.sandbox import Limits

    assert course.limits == Limits(10.0, 20.0, 120, 1536, 20000, 64)
    assert isinstance(course.limits.check_timeout, float) and isinstance(course.limits.processes, int)


@pytest.mark.parametrize("limits, message", [
    ("{check_timout: 3}", "unknown limit 'check_timout'"),
    ("{processes: 2.5}", "limits.processes must be a whole number"),
    ("{cell_timeout: 0}", "limits.cell_timeout must be positive"),
    ("{output_bytes: lots}", "limits.output_bytes must be a number"),
    ("[1, 2]", "limits must be a mapping"),
])
def test_a_wrong_limit_is_one_clear_error(tmp_path, limits, message):
    (tmp_path / "course.yaml").write_text(
        f"course_id: x\nassignment: a\nlimits: {limits}\nnotebooks: {{nb: {{f: {{c: {{points: 1}}}}}}}}\n")
    with pytest.raises(CourseError, match=message):
        load(tmp_path)


def test_limits_given_are_used_and_the_rest_default(tmp_path):
    from grader.sandbox import Limits

    (tmp_path / "course.yaml").write_text(
        "course_id: x\nassignment: a\nlimits: {check_timeout: 3, cell_timeout: 7.5, processes: 8}\n"
        "notebooks: {nb: {f: {c: {points: 1}}}}\n")
    assert load(tmp_path).limits == Limits(check_timeout=3.0, cell_timeout=7.5, processes=8)


def test_an_unknown_top_level_key_is_one_clear_error(tmp_path):
    (tmp_path / "course.yaml").write_text(
        "course_id: x\nassignment: a\nvariant: 4\nnotebooks: {nb: {f: {c: {points: 1}}}}\n")
    with pytest.raises(CourseError, match="unknown key 'variant'"):
        load(tmp_path)


def test_a_folder_name_that_cannot_be_a_student_id_is_left_out_and_said(tmp_path):
    (tmp_path / "course.yaml").write_text("course_id: x\nassignment: a\nnotebooks: {nb: {f: {c: {points: 1}}}}\n")
    course = load(tmp_path)
    names = ["alice", "Zoë Ng", os.fsdecode(b"z\xe9d"), "tab\there", "back\\slash", ".hidden",
             " lead", "   ", "rlo\u202egpj.exe", "caf\u00e9", "cafe\u0301", "Alice", "y" * 100 + os.fsdecode(b"\xff")]
    for name in names:
        (course.submitted_dir() / name).mkdir(parents=True)
    (course.submitted_dir() / "a-file").write_text("not a folder")
    assert course.students() == ["Alice", "Zoë Ng", "alice"]        # case twins are two ids, as in nbgrader
    lines = {line.split(": ", 1)[0]: line.split(": ", 1)[1].split(";")[0] for line in course.unusable_folders()}
    assert lines == {
        "submitted/b'   '": "the folder name begins or ends with a space",
        "submitted/b' lead'": "the folder name begins or ends with a space",
        "submitted/b'back\\\\slash'": "the folder name holds a backslash",
        "submitted/b'caf\\xc3\\xa9'": "the folder name looks the same as another folder's (the same letters, encoded differently)",
        "submitted/b'cafe\\xcc\\x81'": "the folder name looks the same as another folder's (the same letters, encoded differently)",
        "submitted/b'rlo\\xe2\\x80\\xaegpj.exe'": "the folder name holds a control or invisible character",
        "submitted/b'tab\\there'": "the folder name holds a control or invisible character",
        "submitted/b'z\\xe9d'": "the folder name is not valid UTF-8",
        "submitted/b'" + "y" * 100 + "\\xff'": "the folder name is not valid UTF-8",     # whole, not cut
    }
    assert all(line.endswith("rename it to the student's id") for line in course.unusable_folders())
    for line in lines:
        line.encode("utf-8")       # printable and writable as it is
