"""The Gradescope autograder bundle: `python -m grader gradescope-bundle` builds the zip,
and its own run_autograder grades a submission in a temporary directory laid out like
Gradescope's (/autograder/source, /autograder/submission, /autograder/results), writing a
results.json that satisfies the schema. The bundle's setup.sh (which installs Python and
the grader inside Gradescope's image) is only checked for syntax here: the test runs the
bundle with this venv's Python, so nothing is installed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from grader import samples as S
from conftest import ROOT
from grader import references, report

SCHEMA = json.loads(report.SCHEMA_PATH.read_text(encoding="utf-8"))
NOTEBOOKS = [f"{name}.ipynb" for name in S.NOTEBOOKS]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "gradescope_autograder.zip"
    proc = subprocess.run([sys.executable, "-m", "grader", "gradescope-bundle", "--output", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and str(out) in proc.stdout
    return out


def unpack(bundle: Path, dest: Path) -> Path:
    """As Gradescope does: the zip into <dest>/source, with the modes it records."""
    source = dest / "source"
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            target = source / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)
    (dest / "submission").mkdir()
    (dest / "results").mkdir()
    return source


def run_autograder(autograder: Path) -> subprocess.CompletedProcess:
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "AUTOGRADER_ROOT": str(autograder),
           "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "")])}
    env.pop("GRADER_PYTHON", None)
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(autograder / "source" / "run_autograder")], cwd=autograder, env=env,
                          capture_output=True, text=True, timeout=300)


def results(autograder: Path) -> dict:
    data = json.loads((autograder / "results" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, SCHEMA)
    return data


def test_the_bundle_holds_the_grader_and_the_gradescope_scripts(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        names = set(infos)
        assert zf.read("grader/references.bin") == references.PATH.read_bytes()
        assert zf.read("course.yaml") == (ROOT / "course.yaml").read_bytes()
        run_script = zf.read("run_autograder").decode()
    for name in ("setup.sh", "run_autograder"):
        assert (infos[name].external_attr >> 16) & 0o111, f"{name} is not executable"
    expected = {"setup.sh", "run_autograder", "pyproject.toml", "course.yaml", "nbgrader_config.py",
                "grader/__init__.py", "grader/__main__.py", "grader/cli.py", "grader/checks/__init__.py",
                "grader/references.bin", "grader/schemas/results.schema.json",
                *(f"{kind}/nn_intro/{nb}" for kind in ("source", "release") for nb in NOTEBOOKS)}
    assert expected <= names, expected - names
    package = {f"grader/{p.relative_to(references.PATH.parent).as_posix()}"
               for p in references.PATH.parent.rglob("*.py") if "__pycache__" not in p.parts}
    assert package <= names
    for name in names:
        assert not name.startswith(("tests/", "samples/", "bench/", "submitted/", "autograded/", "feedback/",
                                    ".venv/", "dist/")), name
        assert "__pycache__" not in name and not name.endswith((".pyc", "gradebook.db")), name
    assert "python3 -m grader run-autograder" in run_script.replace('"${GRADER_PYTHON:-python3}"', "python3")
    # both scripts parse; the same sources give the same zip, byte for byte
    source = unpack(bundle, tmp_path / "autograder")
    for script in ("setup.sh", "run_autograder"):
        proc = subprocess.run(["bash", "-n", str(source / script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    again = tmp_path / "again.zip"
    subprocess.run([sys.executable, "-m", "grader", "gradescope-bundle", "--output", str(again)],
                   cwd=ROOT, check=True, capture_output=True)
    assert again.read_bytes() == bundle.read_bytes()


@pytest.mark.parametrize("case", ["key_in_a_folder", "bug_at_the_top", "nothing_to_grade"])
def test_run_autograder_grades_a_submission_like_gradescope(bundle, tmp_path, case, course):
    autograder = tmp_path / "autograder"
    source = unpack(bundle, autograder)
    which = subprocess.run([sys.executable, "-c", "import grader; print(grader.__file__)"], cwd=source,
                           capture_output=True, text=True, check=True)
    assert Path(which.stdout.strip()).parent == source / "grader"      # the bundled grader runs
    submission = autograder / "submission"
    if case == "key_in_a_folder":
        S.write_submission(submission / "my_homework")
        (submission / "my_homework" / ".ipynb_checkpoints").mkdir()
    elif case == "bug_at_the_top":
        S.write_bug(submission, "relu_abs")
    else:
        (submission / "answers.txt").write_text("I could not upload my notebooks\n")

    proc = run_autograder(autograder)
    assert proc.returncode == 0, proc.stderr                 # a student's failure is not ours
    data = results(autograder)
    assert data["max_score"] == course.points == 33.0
    tests = {t["name"]: t for t in data["tests"]}
    assert len(tests) == len(list(course.checks()))            # one per check in course.yaml
    if case == "key_in_a_folder":
        assert data["score"] == 33.0
        assert all(t["status"] == "passed" for t in tests.values())
    elif case == "bug_at_the_top":
        assert data["score"] == 32.0
        failed = [t for t in tests.values() if t["status"] == "failed"]
        assert {t["name"].split(" - ")[0] for t in failed} == {"03_activations: relu"}   # relu has two checks
        assert all(t["score"] == 0 for t in failed) and any("the value differs" in t["output"] for t in failed)
    else:
        assert data["score"] == 0
        assert "none of the assignment's notebooks were found" in data["output"]
        assert "answers.txt" in data["output"] and "01_perceptron.ipynb" in data["output"]


def test_a_broken_bundle_still_writes_results_and_says_so(bundle, tmp_path):
    autograder = tmp_path / "autograder"
    source = unpack(bundle, autograder)
    (source / "grader" / "references.bin").write_bytes(b"damaged")
    S.write_submission(autograder / "submission")
    proc = run_autograder(autograder)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("error: references.bin is unreadable")
    data = results(autograder)
    assert data["score"] == 0 and data["tests"] == []
    assert "autograder is broken" in data["output"] and "tell your instructor" in data["output"]


def test_make_gradescope_calls_the_bundle_command():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    proc = subprocess.run(["make", "-n", "-W", "pyproject.toml", "gradescope"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert "-m grader gradescope-bundle" in proc.stdout


def test_the_gradescope_user_id_seeds_the_probes(tmp_path):
    """Gradescope's submission_metadata.json names the student, so students get different probe
    variants there too; without usable metadata every submission grades as 'submission'."""
    from grader.gradescope import GRADESCOPE_STUDENT, gradescope_student

    submission = tmp_path / "submission"
    submission.mkdir()
    assert gradescope_student(submission) == GRADESCOPE_STUDENT
    meta = tmp_path / "submission_metadata.json"
    meta.write_text('{"users": [{"email": "ada@example.edu", "id": 271828, "name": "Ada"}]}')
    assert gradescope_student(submission) == "gradescope-271828"
    meta.write_text('{"users": []}')
    assert gradescope_student(submission) == GRADESCOPE_STUDENT
