"""The course notebooks: hygiene, and real runs in a Jupyter kernel (source/ and release/)."""
import json
import re

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

ASSIGNMENT = "nn_intro"
NAMES = ("01_perceptron", "02_xor_network", "03_activations")
SOURCE = [ROOT / "source" / ASSIGNMENT / f"{n}.ipynb" for n in NAMES]
RELEASE = [ROOT / "release" / ASSIGNMENT / f"{n}.ipynb" for n in NAMES]
CELL_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


@pytest.mark.parametrize("path", SOURCE + RELEASE, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_hygiene(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5)
    assert nb.metadata.kernelspec.name == "python3"
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == len(ids) and all(CELL_ID.match(i) for i in ids)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}:{cell.id} has output"


@pytest.mark.parametrize("path", SOURCE, ids=lambda p: p.name)
def test_cell_ids_are_stable_names(path):
    """Ids are chosen names (like 'sigmoid-answer'), not random ones that churn on every save."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid:
            assert cell["id"].replace("-", "_").startswith(gid.split("_answer")[0]) or \
                cell["id"] == gid, (cell["id"], gid)


@pytest.mark.parametrize("path", RELEASE, ids=lambda p: p.name)
def test_release_holds_no_solution_hidden_test_or_reference(path):
    text = path.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "grader.kernel", "references"):
        assert marker not in text, f"{path.name} leaks {marker!r}"
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            assert 'raise NotImplementedError("Replace this line with your code.")' in cell.source


def run(path, allow_errors):
    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


@pytest.mark.kernel
@pytest.mark.parametrize("path", SOURCE, ids=lambda p: p.name)
def test_source_notebook_runs_in_a_kernel_with_full_marks(path):
    """Top to bottom in a real kernel, no error, and every hidden-test cell returns its full points."""
    nb = run(path, allow_errors=False)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            results = [o for o in cell.outputs if o.output_type == "execute_result"]
            assert results, f"{cell.id} returned no score"
            assert float(results[0].data["text/plain"]) == meta["points"], cell.id
            assert not [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]


@pytest.mark.kernel
@pytest.mark.parametrize("path", RELEASE, ids=lambda p: p.name)
def test_release_notebook_fails_only_where_work_is_missing(path):
    """In the blank release, errors come only from the stubs: NotImplementedError (or a NameError
    for a variable that an earlier failed cell would have defined), never from the course's code."""
    nb = run(path, allow_errors=True)
    errors = [(c.id, o.ename) for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert errors, "the blank release should fail its visible tests"
    bad = [(cid, e) for cid, e in errors if e not in ("NotImplementedError", "NameError")]
    assert not bad, bad
    graded = {c.id for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    assert graded and graded <= {cid for cid, _ in errors}, \
        "every graded cell (its visible tests) must fail until the work is done"
