"""grader.notebook.prepare, a pure function, tested directly: which cells of a submission
run, in which order, and what is reported about the read-only cells. No sandbox here."""
import pytest

from grader import samples as S
from conftest import ROOT
from grader.notebook import CourseNotebook, prepare, read

SETUP = "import numpy as np"
VISIBLE = "assert f(1) == 2"
COURSE_NB = CourseNotebook(
    name="nb",
    setup=[("setup", SETUP), ("setup_data", "X = np.eye(2)")],
    answers={"f": "def f(x):\n    return 2 * x\n", "g": "def g(x):\n    return x\n"},
    locked_release={"setup": SETUP, "setup_data": "X = np.eye(2)", "f_visible": VISIBLE, "f": "# hidden"},
    order=["setup", "f_answer", "setup_data", "g_answer"],
)


def code(source, grade_id=None, **meta):
    cell = {"cell_type": "code", "metadata": {}, "source": source, "outputs": []}
    if grade_id is not None:
        cell["metadata"]["nbgrader"] = {"grade_id": grade_id, **meta}
    return cell


def submission(**replace):
    """The release notebook of COURSE_NB as a student would hand it in, with the answers
    f -> 'def f(x): return x + 1' and g -> 'def g(x): return -x'; replace={grade_id: cell
    or None} changes or removes cells."""
    cells = {
        "setup": code(SETUP, "setup", locked=True),
        "f_answer": code("def f(x):\n    return x + 1\n", "f_answer", solution=True),
        "f_visible": code(VISIBLE, "f_visible", locked=True),
        "f": code("# hidden", "f", locked=True, grade=True, points=1),
        "setup_data": code("X = np.eye(2)", "setup_data", locked=True),
        "g_answer": code("def g(x):\n    return -x\n", "g_answer", solution=True),
    }
    cells.update(replace)
    return {"nbformat": 4, "cells": [c for c in cells.values() if c is not None]}


def test_an_untouched_notebook_runs_the_course_setup_and_the_answers_in_course_order():
    out = prepare(COURSE_NB, submission())
    assert out.cells == [("setup", SETUP), ("f_answer", "def f(x):\n    return x + 1\n"),
                         ("setup_data", "X = np.eye(2)"), ("g_answer", "def g(x):\n    return -x\n")]
    assert out.problems == [] and out.missing_answers == []


def test_the_order_is_the_courses_not_the_submissions():
    nb = submission()
    nb["cells"].reverse()
    assert [gid for gid, _ in prepare(COURSE_NB, nb).cells] == COURSE_NB.order


def test_an_edited_locked_cell_is_flagged_and_the_course_version_runs():
    out = prepare(COURSE_NB, submission(setup=code("import numpy as np\nnp.tanh = abs", "setup", locked=True),
                                        f_visible=code("assert True", "f_visible", locked=True)))
    assert out.problems == ["the read-only cell 'setup' was edited; the course's version is used",
                            "the read-only cell 'f_visible' was edited; the course's version is used"]
    assert out.cells[0] == ("setup", SETUP)
    assert all(gid != "f_visible" for gid, _ in out.cells)       # test cells never run from a submission


def test_whitespace_around_a_locked_cell_is_not_an_edit():
    out = prepare(COURSE_NB, submission(f_visible=code(f"\n{VISIBLE}  \n\n", "f_visible", locked=True)))
    assert out.problems == []


def test_a_deleted_locked_cell_is_flagged():
    out = prepare(COURSE_NB, submission(f=None, setup=None))
    assert sorted(out.problems) == ["the read-only cell 'f' was deleted; the course's version is used",
                                    "the read-only cell 'setup' was deleted; the course's version is used"]
    assert out.cells[0] == ("setup", SETUP)                       # the course's setup still runs


def test_an_answer_cell_that_lost_its_id_is_found_by_the_function_it_defines():
    helper = code("def helper():\n    return 1\n")
    pasted = code("import math\n\ndef f(x):\n    return x + 1\n")          # no nbgrader metadata
    later = code("def f(x):\n    return x + 2\n")                         # redefined further down
    nb = submission(f_answer=None)
    nb["cells"] += [helper, pasted, later]
    out = prepare(COURSE_NB, nb)
    assert ("f_answer", "def f(x):\n    return x + 2\n") in out.cells   # the last definition wins, as in a kernel
    assert out.problems == ["the answer cell of f lost its nbgrader id; graded the cell that defines f"]
    assert out.missing_answers == []


def test_a_missing_answer_is_reported_and_not_run():
    nb = submission(g_answer=None)
    nb["cells"].append(code("g = lambda x: x"))                          # not a `def g(`: not taken
    out = prepare(COURSE_NB, nb)
    assert out.missing_answers == ["g"]
    assert out.problems == ["the answer cell of g is missing"]
    assert [gid for gid, _ in out.cells] == ["setup", "f_answer", "setup_data"]


def test_an_answer_cell_turned_into_markdown_is_not_code():
    md = {"cell_type": "markdown", "metadata": {"nbgrader": {"grade_id": "f_answer", "solution": True}},
          "source": "def f(x):\n    return x\n"}
    out = prepare(COURSE_NB, submission(f_answer=md))
    assert out.missing_answers == ["f"] and "the answer cell of f is missing" in out.problems


def test_a_duplicated_answer_cell_uses_the_first():
    nb = submission()
    nb["cells"].append(code("def f(x):\n    return 0\n", "f_answer", solution=True))
    out = prepare(COURSE_NB, nb)
    assert dict(out.cells)["f_answer"] == "def f(x):\n    return x + 1\n"
    assert out.problems == []


def test_grade_ids_of_the_wrong_type_are_ignored():
    nb = submission(f_answer=None)
    nb["cells"] += [code("def f(x):\n    return 5\n", 7), code("def f(x):\n    return 6\n", "")]
    out = prepare(COURSE_NB, nb)
    assert dict(out.cells)["f_answer"] == "def f(x):\n    return 6\n"   # found by its def, not by id
    assert out.problems == ["the answer cell of f lost its nbgrader id; graded the cell that defines f"]


@pytest.mark.parametrize("name", S.NOTEBOOKS)
def test_the_real_release_and_key_prepare_cleanly(name, tmp_path):
    """On the course's own notebooks: the blank release and the solution key are matched
    cell for cell with nothing to report; the key runs the solution code."""
    source = ROOT / "source" / "nn_intro" / f"{name}.ipynb"
    release = ROOT / "release" / "nn_intro" / f"{name}.ipynb"
    course_nb = CourseNotebook.load(source, release)
    blank = prepare(course_nb, read(release))
    assert [gid for gid, _ in blank.cells] == course_nb.order
    assert blank.problems == [] and blank.missing_answers == []
    S.write_submission(tmp_path)
    key = prepare(course_nb, read(tmp_path / f"{name}.ipynb"))
    assert key.problems == [] and key.missing_answers == []
    assert [gid for gid, _ in key.cells] == course_nb.order
    for gid, text in key.cells:
        if gid.endswith("_answer"):
            assert text == S.solution_code(name, gid[: -len("_answer")]) != dict(blank.cells)[gid]
        else:
            assert text == dict(course_nb.setup)[gid]
