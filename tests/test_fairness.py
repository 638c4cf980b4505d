"""Fair grades (issue 11): one mistake costs once whatever its form, the same points under
every student id, checks that demand what the contract says, feedback that names the
mistake. Real submissions graded in the sandbox; the bank is grader/samples.py."""
import pytest

from grader import samples as S
from grader import course as course_mod
from grader.grading import Grader


@pytest.fixture(scope="module")
def grader(tmp_path_factory):
    from conftest import copy_course
    root = copy_course(tmp_path_factory.mktemp("course"))
    return Grader(course_mod.load(root))


def grade(grader, name, overrides):
    folder = grader.course.submitted_dir() / name / grader.course.assignment
    S.write_submission(folder, overrides, root=grader.course.root)
    return grader.grade(name)


def lost_by_function(result):
    lost = {}
    for nb in result.notebooks:
        for c in nb.checks:
            lost[(nb.notebook, c.function)] = round(lost.get((nb.notebook, c.function), 0.0)
                                                    + c.max_score - c.score, 6)
    return lost


BANK = {**{name: S.BUGS[name] for name in S.EXPECT if name in S.BUGS}, **S.FAIR_BUGS}


@pytest.mark.parametrize("bug", sorted(BANK))
def test_a_mistake_costs_its_own_points_once_and_says_what_it_is(grader, bug):
    notebook, function, code = BANK[bug]
    points, first_line = S.EXPECT[bug]
    result = grade(grader, f"fair-{bug}", {notebook: {function: code}})
    lost = lost_by_function(result)
    assert lost.pop((notebook, function)) == points, bug
    assert all(v == 0 for v in lost.values()), {k: v for k, v in lost.items() if v}
    failed = [c for nb in result.notebooks for c in nb.checks if c.function == function and not c.passed
              and nb.notebook == notebook]
    assert first_line in failed[0].message.splitlines()[0], failed[0].message


@pytest.mark.parametrize("name", sorted(S.CORRECT))
def test_correct_code_in_other_forms_earns_full_marks(grader, name):
    notebook, function, code = S.CORRECT[name]
    result = grade(grader, f"ok-{name}", {notebook: {function: code}})
    failed = [(c.function, c.check, c.message) for nb in result.notebooks for c in nb.checks if not c.passed]
    assert not failed and result.score == grader.course.points


def test_a_broken_helper_is_named_where_its_callers_are_graded(grader):
    notebook, function, code = S.FAIR_BUGS["sigmoid_object_dtype"]
    result = grade(grader, "helper-named", {notebook: {function: code}})
    nb = result.notebook(notebook)
    callers = {c.function: c for c in nb.checks if c.function != "sigmoid" and c.message}
    assert {"neuron_output", "perceptron_step", "train_perceptron"} <= set(callers)
    for c in callers.values():
        assert c.passed and "a correct `sigmoid` in place of yours" in c.message


ALL = {**S.BUGS, **S.FAIR_BUGS, **S.CORRECT}


def packs():
    """The bank packed into few submissions per notebook, each function at most once in a
    pack (a check's score must not depend on the variant, whatever else is broken)."""
    out = {nb: [] for nb in S.NOTEBOOKS}
    for name in sorted(ALL):
        notebook, function, code = ALL[name]
        pack = next((p for p in out[notebook] if function not in p), None)
        if pack is None:
            pack = {}
            out[notebook].append(pack)
        pack[function] = (name, code)
    return [(nb, {}) for nb in S.NOTEBOOKS] + [(nb, p) for nb, ps in out.items() for p in ps]


PACKS = packs()


def sweep(grader, notebook, answers):
    """(the checks of every variant, the checks whose score is not the same on all)."""
    folder = grader.course.submitted_dir() / "variants" / grader.course.assignment
    S.write_submission(folder, {notebook: answers}, root=grader.course.root)
    nb = grader.course.notebook(notebook)
    runs = grader.grade_variants(nb, folder / nb.filename, range(grader.course.variants))
    first = {(c.function, c.check): c.score for c in runs[0]}
    return runs, sorted({(c.function, c.check) for checks in runs for c in checks
                         if c.score != first[(c.function, c.check)]})


def test_the_sweep_sees_a_score_that_depends_on_the_numbers(grader):
    lucky = "def relu(z):\n    z = np.asarray(z, dtype=float)\n    return z if z.ndim == 2 and z.flat[0] > 0.5 else np.maximum(z, 0.0)\n"
    _, differing = sweep(grader, "03_activations", {"relu": lucky})
    assert ("relu", "values") in differing or ("relu", "scalars") in differing


@pytest.mark.slow      # 24 packs x 16 variants (~17 s); the quick lane keeps the sweep's own test above
@pytest.mark.parametrize("notebook, pack", PACKS, ids=[
    "+".join(name for name, _ in pack.values()) or f"key-{nb}" for nb, pack in PACKS])
def test_no_score_depends_on_the_probe_variant(grader, notebook, pack):
    """Every check of the notebook, graded on each of the 16 variants in turn, scores the
    same on all of them, so every student id gets the same total for this code."""
    runs, differing = sweep(grader, notebook, {fn: code for fn, (_, code) in pack.items()})
    assert not differing, f"scores differ between variants on {differing}"
    for checks in runs:
        for c in checks:
            name = pack.get(c.function, ("key", None))[0]
            if name == "key" or name in S.CORRECT:
                assert c.passed, (name, c.check, c.message)


@pytest.mark.parametrize("bug", ["forward_single_output", "leaky_relu_maximum"])
def test_sixteen_student_ids_get_the_same_points(grader, bug):
    notebook, function, code = ALL[bug]
    folder = grader.course.submitted_dir() / f"ids-{bug}" / grader.course.assignment
    S.write_submission(folder, {notebook: {function: code}}, root=grader.course.root)
    nb = grader.course.notebook(notebook)
    scores = {grader.grade_notebook(nb, f"student{i:02d}", folder / nb.filename).score for i in range(16)}
    assert len(scores) == 1 and scores.pop() < nb.points


STASH = '''
_kept = {}
def sigmoid(z):
    if "s" in _kept:                  # the grader's stand-in, kept from an earlier call
        return _kept["s"](z)
    return np.zeros_like(np.asarray(z, dtype=np.float64))
_own = sigmoid
'''
STASHER = '''
def neuron_output(X, weights, bias):
    if sigmoid is not _own and "s" not in _kept:
        _kept["s"] = sigmoid
        print("kept the stand-in")
    return sigmoid(np.asarray(X, dtype=np.float64) @ weights + bias)
'''


def test_a_kept_stand_in_earns_nothing(grader):
    """neuron_output keeps the stand-in sigmoid it is given and sigmoid returns it from then
    on: sigmoid is graded before anything that gets a stand-in, so it still loses all."""
    result = grade(grader, "stasher", {"01_perceptron": {"sigmoid": STASH, "neuron_output": STASHER}})
    nb = result.notebook("01_perceptron")
    assert "kept the stand-in" in nb.output, "the stand-in was never kept: this test proves nothing"
    lost = lost_by_function(result)
    assert lost[("01_perceptron", "sigmoid")] == 3.0
    assert sum(lost.values()) == 3.0


def test_a_stand_in_is_gone_after_its_call(grader):
    """The stand-in is in place only during the calls of a check graded again for a broken
    helper; a later check that passes on its own sees the student's own helper again."""
    wrong = '''
def sigmoid(z):
    return np.zeros_like(np.asarray(z, dtype=np.float64)) + 7.0     # wrong: fails its checks
'''
    caller = '''
def neuron_output(X, weights, bias):
    print("neuron_output sees sigmoid(0) =", float(sigmoid(0.0)))
    return sigmoid(np.asarray(X, dtype=np.float64) @ weights + bias)
'''
    later = '''
def predict(X, weights, bias):
    print("predict sees sigmoid(0) =", float(sigmoid(0.0)))
    return (np.asarray(X, dtype=np.float64) @ weights + bias >= 0).astype(int)
'''
    result = grade(grader, "restored", {"01_perceptron": {"sigmoid": wrong, "neuron_output": caller,
                                                          "predict": later}})
    out = result.notebook("01_perceptron").output
    assert "neuron_output sees sigmoid(0) = 0.5" in out, "no stand-in was used: this test proves nothing"
    assert "predict sees sigmoid(0) = 7.0" in out and "predict sees sigmoid(0) = 0.5" not in out
    assert lost_by_function(result)[("01_perceptron", "predict")] == 0


def visible_part(notebook: str, function: str) -> str:
    """The visible asserts of `function`'s graded test cell in source/ (before the hidden block)."""
    import json
    nb = json.loads((S.ROOT / "source" / S.ASSIGNMENT / f"{notebook}.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == function and cell["metadata"]["nbgrader"].get("grade"):
            return "".join(cell["source"]).split("### BEGIN HIDDEN TESTS")[0]
    raise KeyError(function)


@pytest.mark.parametrize("name", sorted(ALL))
def test_what_the_visible_tests_reject_never_gets_full_marks(grader, name):
    """The function's own visible asserts, run after the answer cells in a sandbox: if they
    fail, the grader takes points off that function; correct code passes them."""
    from grader.notebook import prepare, read
    from grader.sandbox import Sandbox

    notebook, function, code = ALL[name]
    result = grade(grader, f"visible-{name}", {notebook: {function: code}})
    folder = grader.course.submitted_dir() / f"visible-{name}" / grader.course.assignment
    prepared = prepare(grader.notebooks[notebook], read(folder / f"{notebook}.ipynb"))
    with Sandbox(grader.limits, label="visible") as box:
        box.run_cells(prepared.cells)
        visible = box.run_cells([("visible", visible_part(notebook, function))])[0]
    lost = lost_by_function(result)[(notebook, function)]
    if name in S.CORRECT:
        assert visible.status == "ok" and lost == 0, visible.message
    elif visible.status != "ok":
        assert lost > 0, f"the visible tests reject {name} ({visible.message}) but it got full marks"
