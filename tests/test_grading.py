"""Grading real submissions in the sandbox: the key, the blank release, planted bugs,
hostile code and broken notebooks. No mocks: real processes, real notebooks."""
import json
import os
import shutil
import time
from pathlib import Path

import jsonschema
import pytest

from grader import samples as S
from conftest import marked, new_token
from grader import course as course_mod
from grader import report
from grader.grading import Grader

SCHEMA = json.loads(report.SCHEMA_PATH.read_text())


@pytest.fixture(scope="module")
def grader(tmp_path_factory):
    from conftest import copy_course
    root = copy_course(tmp_path_factory.mktemp("course"))
    return Grader(course_mod.load(root))


@pytest.fixture(scope="module")
def tight_grader(tight_course):
    """For hostile submissions: the same scores as with the course's limits, sooner."""
    return Grader(tight_course)


def grade(grader, name, **kwargs):
    folder = grader.course.submitted_dir() / name / grader.course.assignment
    S.write_submission(folder, **kwargs)
    return grader.grade(name)


def by_function(result):
    scores = {}
    for nb in result.notebooks:
        for c in nb.checks:
            key = (nb.notebook, c.function)
            got, top = scores.get(key, (0.0, 0.0))
            scores[key] = (got + c.score, top + c.max_score)
    return scores


def test_the_solution_key_earns_full_marks(grader):
    result = grade(grader, "key")
    failed = [(c.name, c.message) for nb in result.notebooks for c in nb.checks if not c.passed]
    assert not failed
    assert result.score == result.max_score == grader.course.points
    assert all(not nb.problems for nb in result.notebooks)
    jsonschema.validate(report.gradescope_results(result), SCHEMA)


def test_the_blank_release_earns_zero_without_a_crash(grader):
    result = grade(grader, "blank", blank=True)
    assert result.score == 0 and result.max_score == grader.course.points
    messages = {c.message for nb in result.notebooks for c in nb.checks}
    assert any("not implemented yet" in m for m in messages)
    jsonschema.validate(report.gradescope_results(result), SCHEMA)


@pytest.mark.parametrize("bug", sorted(S.BUGS))
def test_a_planted_bug_costs_points_on_its_function_only(grader, bug):
    notebook, function, code = S.BUGS[bug]
    result = grade(grader, f"bug-{bug}", overrides={notebook: {function: code}})
    for (nb, fn), (got, top) in by_function(result).items():
        if (nb, fn) == (notebook, function):
            assert got < top, f"{bug} was not caught"
        else:
            assert got == top, f"{bug} also cost points on {nb}:{fn}"


def test_diagnostics_name_the_likely_cause_without_values(grader):
    result = grade(grader, "diag", overrides={"02_xor_network": {"compute_loss": S.BUGS["compute_loss_mean"][2]}})
    check = next(c for nb in result.notebooks for c in nb.checks if c.function == "compute_loss")
    assert "Likely cause: the mean" in check.message and "tolerance rtol=" in check.message
    assert check.name == "02_xor_network: compute_loss - L = 1/2 * sum of squared errors, for several shapes"


def test_patched_allclose_does_not_fool_the_grader(tight_grader):
    result = grade(tight_grader, "cheat", overrides={"03_activations": {"relu": S.HOSTILE["patched_allclose"][2]}})
    assert by_function(result)[("03_activations", "relu")][0] == 0
    assert by_function(result)[("03_activations", "tanh")] == (1.0, 1.0)


def test_an_infinite_loop_costs_one_time_limit_and_its_dependants(tight_grader):
    start = time.perf_counter()
    result = grade(tight_grader, "loop", overrides={"01_perceptron": {"sigmoid": S.HOSTILE["infinite_loop"][2]}})
    elapsed = time.perf_counter() - start
    limit = tight_grader.limits.check_timeout
    assert elapsed < limit + 5, f"{elapsed:.1f} s: the loop was waited for more than once"
    # the same without a clock: one check waited for the loop, every later call failed at once
    messages = [c.message for c in result.notebook("01_perceptron").checks if not c.passed]
    assert sum("did not finish within the check's time limit" in m for m in messages) == 1, messages
    assert len(messages) > 1 and all("in an earlier check, so it is not run again" in m for m in messages[1:])
    scores = by_function(result)
    assert scores[("01_perceptron", "sigmoid")][0] == 0
    assert result.notebook("02_xor_network").score == result.notebook("02_xor_network").max_score
    assert result.notebook("03_activations").score == result.notebook("03_activations").max_score


@pytest.mark.parametrize("hostile, function", [("memory_hog", "neuron_output"), ("exit_process", "perceptron_step"),
                                               ("output_flood", "relu_derivative")])
def test_hostile_code_costs_only_its_own_notebook(tight_grader, hostile, function):
    notebook, fn, code = S.HOSTILE[hostile]
    result = grade(tight_grader, f"hostile-{hostile}", overrides={notebook: {fn: code}})
    assert by_function(result)[(notebook, function)][0] < by_function(result)[(notebook, function)][1]
    for nb in result.notebooks:
        if nb.notebook != notebook:
            assert nb.score == nb.max_score, (hostile, nb.notebook)
    if hostile == "output_flood":
        nb = result.notebook(notebook)
        assert len(nb.output.encode()) <= tight_grader.limits.output_bytes + 100
        assert any("printed more than" in p for p in nb.problems)


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid switch that blocks writes needs root")
def test_writes_outside_the_work_dir_fail(tight_grader, reachable_dir):
    target = reachable_dir / "protected"
    target.mkdir()
    target.chmod(0o755)   # like the course folder: readable by all, writable by its owner
    os.environ["NN_INTRO_HOSTILE_TARGET"] = str(target)
    try:
        result = grade(tight_grader, "writer", overrides={"03_activations": {"tanh": S.HOSTILE["write_outside"][2]}})
    finally:
        del os.environ["NN_INTRO_HOSTILE_TARGET"]
    assert not (target / "pwned.txt").exists()
    assert result.score == result.max_score


def test_a_detached_grandchild_is_gone_after_grading(tight_grader):
    token = new_token()
    os.environ["NN_INTRO_HOSTILE_TOKEN"] = token
    try:
        result = grade(tight_grader, "daemon", overrides={"02_xor_network": {"compute_loss": S.HOSTILE["detached_child"][2]}})
    finally:
        del os.environ["NN_INTRO_HOSTILE_TOKEN"]
    assert "daemon started" in result.notebook("02_xor_network").output, \
        "the hostile code did not start its daemon, so this test proves nothing"
    assert marked(token) == []
    assert result.notebook("02_xor_network").score == result.notebook("02_xor_network").max_score


def write_raw(grader, student, files: dict):
    folder = grader.course.submitted_dir() / student / grader.course.assignment
    S.write_submission(folder)
    for name, text in files.items():
        path = folder / f"{name}.ipynb"
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
    return grader.grade(student)


def test_broken_notebooks_are_verdicts(grader):
    result = write_raw(grader, "broken", {"01_perceptron": "{not json", "02_xor_network": None})
    p1, p2, p3 = result.notebooks
    assert p1.score == 0 and any("not valid JSON" in p for p in p1.problems)
    assert p2.score == 0 and any("was not submitted" in p for p in p2.problems)
    assert p3.score == p3.max_score
    assert all(c.message for c in p1.checks + p2.checks)


def test_a_syntax_error_costs_only_its_cell(grader):
    result = grade(grader, "syntax", overrides={"03_activations": {"relu": "def relu(z):\n    return max(0, z\n"}})
    nb = result.notebook("03_activations")
    assert any("relu_answer" in p and "SyntaxError" in p for p in nb.problems)
    scores = by_function(result)
    assert scores[("03_activations", "relu")][0] == 0
    assert scores[("03_activations", "leaky_relu")] == (1.0, 1.0)


def test_edited_locked_cells_are_flagged_and_tests_come_from_the_source(grader):
    folder = grader.course.submitted_dir() / "editor" / grader.course.assignment
    S.write_submission(folder)
    path = folder / "03_activations.ipynb"
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid == "setup":
            cell["source"] = "import numpy as np\nnp.tanh = lambda z: 0 * z\n"
        if gid == "relu":
            cell["source"] = "0.0 + 1.0"
    nb["cells"] = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") != "tanh"]
    path.write_text(json.dumps(nb))
    result = grader.grade("editor")
    problems = " ".join(result.notebook("03_activations").problems)
    assert "'setup' was edited" in problems and "'relu' was edited" in problems
    assert "'tanh' was deleted" in problems
    assert result.score == result.max_score   # the course's setup cell ran, not the edited one


def test_an_answer_cell_without_its_id_is_still_found(grader):
    folder = grader.course.submitted_dir() / "paster" / grader.course.assignment
    S.write_submission(folder)
    path = folder / "03_activations.ipynb"
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "relu_answer":
            del cell["metadata"]["nbgrader"]
    path.write_text(json.dumps(nb))
    result = grader.grade("paster")
    assert result.score == result.max_score
    assert any("lost its nbgrader id" in p for p in result.notebook("03_activations").problems)


def test_an_empty_submission_is_a_verdict(grader):
    folder = grader.course.submitted_dir() / "empty" / grader.course.assignment
    folder.mkdir(parents=True)
    result = grader.grade("empty")
    assert result.score == 0 and "no notebooks were submitted" in result.problems


def test_grading_is_repeatable_and_seeded_per_student(grader):
    a1 = grade(grader, "same", overrides={"01_perceptron": {"perceptron_step": S.BUGS["perceptron_step_mean"][2]}})
    a2 = grader.grade("same")
    assert [c.message for nb in a1.notebooks for c in nb.checks] == [c.message for nb in a2.notebooks for c in nb.checks]


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid switch that hides the solutions needs root")
def test_a_student_cannot_read_the_solution_notebooks(tight_grader):
    os.environ["NN_INTRO_HOSTILE_SOLUTION"] = str(tight_grader.course.source_dir() / "03_activations.ipynb")
    try:
        result = grade(tight_grader, "reader", overrides={"03_activations": {"relu": S.HOSTILE["read_solutions"][2]}})
    finally:
        del os.environ["NN_INTRO_HOSTILE_SOLUTION"]
    assert by_function(result)[("03_activations", "relu")][0] == 0


def test_reference_values_are_not_in_the_student_process_memory(tight_grader):
    """The sandbox forks from a zygote started before the references were loaded."""
    result = grade(tight_grader, "searcher", overrides={"03_activations": {"relu": S.HOSTILE["search_memory"][2]}})
    assert by_function(result)[("03_activations", "relu")][0] == 0


def test_warnings_cost_nothing_outside_stability_checks(grader):
    noisy = '''
import warnings
def relu(z):
    warnings.warn("a warning from the student's code")
    with np.errstate(divide="warn"):
        np.log(np.zeros(1))                     # a RuntimeWarning too
    return np.maximum(0.0, np.asarray(z, dtype=float))
'''
    result = grade(grader, "noisy", overrides={"03_activations": {"relu": noisy}})
    assert by_function(result)[("03_activations", "relu")] == (1.0, 1.0)


def test_no_state_leaks_from_one_student_to_the_next(grader):
    """A submission that patches numpy and writes into its working folder does not change
    how the next student is graded: every notebook starts from a clean process."""
    patcher = '''
import os
np.maximum = lambda *a, **k: "patched"
open("left_behind.txt", "w").write("x")
def relu(z):
    return np.where(np.asarray(z) > 0, z, 0.0) * 1.0
'''
    first = grade(grader, "patcher", overrides={"03_activations": {"relu": patcher}})
    assert first.notebook("03_activations").score == first.notebook("03_activations").max_score
    checker = '''
import os
assert not os.path.exists("left_behind.txt")
def relu(z):
    return np.maximum(0.0, np.asarray(z, dtype=float))
'''
    second = grade(grader, "after-patcher", overrides={"03_activations": {"relu": checker}})
    assert not second.notebook("03_activations").problems
    assert second.notebook("03_activations").score == second.notebook("03_activations").max_score


def test_odd_json_in_a_notebook_is_a_verdict_not_a_crash(grader):
    """Valid JSON with the wrong types where nbformat expects others (hand-edited files)."""
    folder = grader.course.submitted_dir() / "odd" / grader.course.assignment
    S.write_submission(folder)
    path = folder / "03_activations.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][0]["metadata"] = ["not", "a", "dict"]
    nb["cells"][1]["source"] = 42
    nb["cells"].append("not a cell")
    for cell in nb["cells"]:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        if isinstance(meta, dict) and meta.get("nbgrader", {}).get("grade_id") == "relu":
            cell["metadata"]["nbgrader"] = "locked?"
    path.write_text(json.dumps(nb))
    result = grader.grade("odd")
    nb3 = result.notebook("03_activations")
    assert any("'relu' was deleted" in p for p in nb3.problems)
    assert nb3.score == nb3.max_score      # the course's own cells ran; the answers are intact
    assert result.notebook("01_perceptron").score == result.notebook("01_perceptron").max_score


def test_an_oversized_notebook_is_a_verdict(grader):
    from grader.notebook import MAX_NOTEBOOK_BYTES

    folder = grader.course.submitted_dir() / "huge" / grader.course.assignment
    S.write_submission(folder)
    with open(folder / "02_xor_network.ipynb", "ab") as f:
        f.truncate(MAX_NOTEBOOK_BYTES + 1)
    result = grader.grade("huge")
    assert result.notebook("02_xor_network").score == 0
    assert any("larger than" in p for p in result.notebook("02_xor_network").problems)
    assert result.notebook("03_activations").score == result.notebook("03_activations").max_score


def test_a_broken_worker_pool_gives_verdicts_not_a_crash(tmp_path):
    """If grading itself fails in a pool worker (here: a grader whose grade() raises, as
    the workers inherit it), every affected student gets a zero with the reason, no
    fingerprint (so the next run grades them again), and the run goes on."""
    from conftest import copy_course
    from grader import course as course_mod
    from grader.executor import grade_local

    root = copy_course(tmp_path)
    for student in ("a", "b", "c"):
        S.write_submission(root / "submitted" / student / "nn_intro")
    grader = Grader(course_mod.load(root))

    def broken(student, **kwargs):
        raise OSError(f"the disk went away while grading {student}")

    grader.grade = broken
    results = list(grade_local(grader, ["a", "b", "c"], workers=2))
    assert sorted(r.student for r in results) == ["a", "b", "c"]
    for r in results:
        assert r.score == 0 and r.fingerprint == "" and "grading did not complete" in r.problems[0]
