"""grader/references.bin is what the solution notebooks in source/ produce today."""
from grader import checks, references


def test_references_are_in_sync_with_source(course):
    fresh = references.record(course)
    stored = references.load()
    assert references.differences(fresh, stored) == [], "run `python -m grader references`"
    assert len(stored) == len(list(course.checks())) * course.variants


def test_references_live_in_the_grader_package_not_in_release():
    assert references.PATH.parent.name == "grader"


def test_every_variant_of_every_check_is_recorded(course):
    """Property checks (symmetry, gradient check, inputs unchanged) compare the student with
    the student or with the grader's maths, so they record nothing; the others record values."""
    stored = references.load()
    empty = set()
    for spec in course.checks():
        for v in range(course.variants):
            if not stored[checks.reference_key(spec, v)]:
                empty.add(spec.name)
    assert empty == {"symmetry", "odd", "gradient_check", "inputs_unchanged"}


def test_differences_ignore_cpu_rounding_but_not_a_changed_solution():
    import numpy as np
    base = {"k": {"a": np.array([0.25, -1.5, 3.0]), "n": 2.0, "i": np.array([1, 0])}}

    def changed(**kw):
        return {"k": {**base["k"], **kw}}
    assert references.differences(base, changed(a=base["k"]["a"] * (1 + 3e-14))) == []
    assert references.differences(base, changed(n=2.0 * (1 + 3e-14))) == []
    assert references.differences(base, changed(a=base["k"]["a"] * (1 + 1e-9))) == ["k"]
    assert references.differences(base, changed(n=2.0 + 1e-9)) == ["k"]
    assert references.differences(base, changed(a=base["k"]["a"].astype(np.float32))) == ["k"]
    assert references.differences(base, changed(i=np.array([1, 1]))) == ["k"]
    assert references.differences(base, changed(n=2)) == ["k"]          # int for float
    assert references.differences(base, {"j": base["k"]}) == ["j", "k"]
