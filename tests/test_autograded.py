"""autograded/<student>/<assignment>/<notebook>.ipynb as nbgrader's sanitize step would leave
the submission, with our verdicts as the graded cells' outputs (grader/autograded.py)."""
import json
import os

import nbformat
import pytest

from grader import samples as S
from conftest import ROOT
from grader import autograded
from grader.results import CheckResult, NotebookResult, SubmissionResult

NB = "03_activations"


def load(folder, name=NB):
    return json.loads((ROOT / folder / "nn_intro" / f"{name}.ipynb").read_text())


def result_for(course, name=NB, failing=("relu",), problems=()):
    spec = course.notebook(name)
    checks = []
    for fn in spec.functions:
        for c in fn.checks:
            bad = fn.name in failing
            checks.append(CheckResult(name, fn.name, c.name, f"title of {c.name}", 0.0 if bad else c.points,
                                      c.points, not bad, "case 'x': wrong. Likely cause: abs" if bad else ""))
    return NotebookResult(name, sum(c.score for c in checks), spec.points, checks, list(problems))


def by_gid(nb):
    return {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in nb["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade_id")}


def test_a_submission_becomes_a_valid_autograded_notebook_with_verdicts(course):
    submitted = S.notebook_with(NB, {"relu": S.BUGS["relu_abs"][2]})
    for cell in submitted["cells"]:               # the student ran the notebook
        if cell["cell_type"] == "code":
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "student output"}]
            cell["execution_count"] = 3
    nb = autograded.autograded_notebook(course.notebook(NB), load("source"), load("release"), submitted,
                                        result_for(course))
    nbformat.validate(nbformat.from_dict(nb))
    cells = by_gid(nb)
    src = by_gid(load("source"))
    assert "student output" not in json.dumps(nb)                      # ClearOutput
    relu = cells["relu"]
    assert relu["source"] == "".join(src["relu"]["source"])             # the course's cell, hidden part too
    assert relu["metadata"]["nbgrader"] == src["relu"]["metadata"]["nbgrader"]
    text = relu["outputs"][0]["text"]
    assert text.startswith("relu: 0 / 1 points") and "FAIL title of values" in text and "Likely cause: abs" in text
    assert relu["outputs"][1]["data"]["text/plain"] == "0"
    assert cells["tanh"]["outputs"][1]["data"]["text/plain"] == "1"
    assert "np.abs(z)" in cells["relu_answer"]["source"]               # the student's answer, as submitted


def test_deleted_duplicated_and_foreign_cells_are_handled_like_nbgrader(course):
    submitted = S.notebook_with(NB, {})
    cells = submitted["cells"]
    tanh_i = next(i for i, c in enumerate(cells) if c["metadata"].get("nbgrader", {}).get("grade_id") == "tanh")
    deleted = cells.pop(tanh_i)                                          # a graded cell deleted
    copy = json.loads(json.dumps(next(c for c in cells if c["metadata"].get("nbgrader", {}).get("grade_id") == "relu")))
    cells.append(copy)                                                   # a copied graded cell (same id too)
    foreign = {"cell_type": "code", "id": "mine", "metadata": {"nbgrader": {"grade": True, "grade_id": "bonus",
               "points": 100, "solution": False, "locked": False, "schema_version": 3}},
               "source": "1", "outputs": [], "execution_count": None}
    cells.append(foreign)
    nb = autograded.autograded_notebook(course.notebook(NB), load("source"), load("release"), submitted,
                                        result_for(course, failing=()),
                                        ["the read-only cell 'tanh' was deleted; the course's version is used"])
    nbformat.validate(nbformat.from_dict(nb))
    gids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in nb["cells"]]
    assert gids.count("relu") == 1 and "bonus" not in gids
    assert gids.index("tanh") == gids.index("tanh_answer") + 1          # put back where it was
    restored = nb["cells"][gids.index("tanh")]
    assert restored["id"] == deleted["id"]
    assert "the read-only cell 'tanh' was deleted" in restored["outputs"][0]["text"]
    assert len({c["id"] for c in nb["cells"]}) == len(nb["cells"])       # ids unique again


def test_a_notebook_not_submitted_still_gets_a_page(course):
    why = f"{NB}.ipynb was not submitted"
    nb = autograded.autograded_notebook(course.notebook(NB), load("source"), load("release"), None,
                                        result_for(course, failing=[f.name for f in course.notebook(NB).functions],
                                                   problems=[why]))
    nbformat.validate(nbformat.from_dict(nb))
    first = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade"))
    assert first["outputs"][0]["text"].startswith(f"Problems with this notebook:\n  - {why}")
    answer = by_gid(nb)["tanh_answer"]
    assert "NotImplementedError" in answer["source"]                     # the release's stub


def test_write_notebooks_and_nbgraders_files(course_copy, course, tmp_path):
    from grader import course as course_mod

    c = course_mod.load(course_copy)
    folder = c.submitted_dir() / "ada" / "nn_intro"
    S.write_submission(folder, {}, root=course_copy)
    (folder / "timestamp.txt").write_text("2026-01-31 23:59:00.000000 UTC")
    secret = tmp_path / "elsewhere"
    secret.write_text("not for students")
    os.symlink(secret, folder / "submission_secret.txt")                # a planted link is not followed
    result = SubmissionResult("ada", "nn_intro", 0.0, c.points,
                              [result_for(c, name=nb.name, failing=()) for nb in c.notebooks])
    paths = autograded.write_notebooks(c, result)
    assert [p.name for p in paths] == [nb.filename for nb in c.notebooks]
    out = c.autograded_dir() / "ada" / "nn_intro"
    assert (out / "timestamp.txt").read_text() == "2026-01-31 23:59:00.000000 UTC"
    assert not (out / "submission_secret.txt").exists()
    (folder / "timestamp.txt").unlink()
    autograded.write_notebooks(c, result)
    assert not (out / "timestamp.txt").exists()                         # no stale time left behind


def test_an_unshowable_submission_falls_back_to_the_release(course_copy, monkeypatch):
    from grader import course as course_mod

    c = course_mod.load(course_copy)
    S.write_submission(c.submitted_dir() / "odd" / "nn_intro", {}, root=course_copy)
    real = autograded.sanitized_cells

    def fragile(source, release, submitted):
        if submitted is not None:
            raise ValueError("odd")
        return real(source, release, submitted)

    monkeypatch.setattr(autograded, "sanitized_cells", fragile)
    result = SubmissionResult("odd", "nn_intro", 0.0, c.points,
                              [result_for(c, name=nb.name, failing=()) for nb in c.notebooks])
    for path in autograded.write_notebooks(c, result):
        assert "could not be shown here (ValueError)" in path.read_text()
