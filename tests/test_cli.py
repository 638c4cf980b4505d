"""`python -m grader` as an instructor runs it: real subprocesses on a temporary copy of
the course. Exit status 0 when the job is done (students who fail are verdicts), 1 with
one line "error: ..." when it cannot be done, 2 for a usage error; --student, skipping
unchanged submissions, --force, and the grades landing once per student in grades.csv,
nbgrader's gradebook and `nbgrader export`."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import samples as S
from conftest import copy_course, gradebook_submissions, holds_open
from grader import cli as cli_mod
from grader import course as course_mod
from grader import gradebook, store

ASSIGNMENT = "nn_intro"
SUMMARY = re.compile(r"^graded (\d+) submission\(s\) in .* skipped (\d+) unchanged$", re.MULTILINE)


def run(*args: str, cwd: Path, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess, fragment: str) -> str:
    """Exit status 1, nothing on stdout, exactly one line on stderr: 'error: ...fragment...'."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert fragment in lines[0], lines[0]
    assert proc.stdout == ""
    return lines[0]


def counts(proc: subprocess.CompletedProcess) -> tuple[int, int]:
    assert proc.returncode == 0, proc.stderr
    m = SUMMARY.search(proc.stdout)
    assert m, proc.stdout
    return int(m.group(1)), int(m.group(2))


def grades_csv(root: Path) -> dict[str, float]:
    with open(root / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    students = [r["student"] for r in rows]
    assert len(students) == len(set(students)), f"duplicate rows in grades.csv: {students}"
    return {r["student"]: float(r["total"]) for r in rows}


def submit(root: Path, student: str, kind: str) -> Path:
    folder = root / "submitted" / student / ASSIGNMENT
    if folder.exists():
        shutil.rmtree(folder)
    if kind == "key":
        return S.write_submission(folder)
    if kind == "blank":
        return S.write_submission(folder, blank=True)
    return S.write_bug(folder, kind)


# ---------------------------------------------------------------------------------------
# Help


def _words(text: str) -> str:
    return " ".join(text.split())


def test_help_text_comes_from_the_docstrings(tmp_path):
    top = run("--help", cwd=tmp_path)
    assert top.returncode == 0 and top.stderr == ""
    assert _words(cli_mod.cli.help) in _words(top.stdout)
    commands = {name: cmd for name, cmd in cli_mod.cli.commands.items() if not cmd.hidden}
    assert {"autograde", "export", "gradescope-bundle", "run-autograder"} <= set(commands)
    for name in commands:
        assert re.search(rf"^\s+{re.escape(name)}\s", top.stdout, re.MULTILINE), f"{name} not listed"
    for name in ("autograde", "run-autograder"):
        proc = run(name, "--help", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        doc = commands[name].callback.__doc__
        assert doc and _words(doc.split("\n\n")[0]) in _words(proc.stdout), proc.stdout
        for param in commands[name].params:
            if getattr(param, "help", None):
                assert _words(param.help) in _words(proc.stdout)


# ---------------------------------------------------------------------------------------
# Cannot proceed: exit 1 with one line; usage errors: exit 2


@pytest.fixture
def course_root(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    return copy_course(root)


def test_errors_are_one_line_with_exit_status_1(tmp_path, course_root):
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(run("autograde", ASSIGNMENT, cwd=empty), "no course.yaml in")
    one_line_error(run("autograde", ASSIGNMENT, "--course", str(empty), cwd=tmp_path), "no course.yaml in")
    (empty / "course.yaml").write_text("notebooks: [oops\n")
    one_line_error(run("autograde", ASSIGNMENT, cwd=empty), "course.yaml is not valid YAML")

    one_line_error(run("autograde", ASSIGNMENT, cwd=course_root), "no submissions in")
    one_line_error(run("export", cwd=course_root), "no submissions in")
    submit(course_root, "alice", "blank")
    one_line_error(run("autograde", "hw9", cwd=course_root),
                   "this course's assignment is 'nn_intro', not 'hw9'")
    one_line_error(run("autograde", ASSIGNMENT, "--student", "ghost", cwd=course_root), "no submission for ghost")
    assert not (course_root / "autograded").exists() and not (course_root / "grades.csv").exists()


def test_usage_errors_exit_2(course_root):
    for args in (["autograde"], ["autograde", ASSIGNMENT, "--workers", "0"],
                 ["autograde", ASSIGNMENT, "--executor", "spark"], ["no-such-command"],
                 ["run-autograder", "--results", "r.json"]):
        proc = run(*args, cwd=course_root)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Error:" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def _package_copy(dest: Path) -> Path:
    """A copy of the installed grader package, importable with PYTHONPATH=dest."""
    src = Path(cli_mod.__file__).resolve().parent
    shutil.copytree(src, dest / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "grader"


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_unusable_references_stop_the_run(tmp_path, course_root, damage):
    """The real references.bin is left alone: a copy of the package, with a damaged
    copy of the file, is put first on PYTHONPATH."""
    package = _package_copy(tmp_path / "pkg")
    refs = package / "references.bin"
    if damage == "missing":
        refs.unlink()
    else:
        refs.write_bytes(b"NOT A WIRE FILE" + os.urandom(256))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "pkg")}
    which = subprocess.run([sys.executable, "-c", "import grader; print(grader.__file__)"], cwd=course_root,
                           env=env, capture_output=True, text=True, check=True)
    assert Path(which.stdout.strip()).parent == package          # the copy is the one in use
    submit(course_root, "alice", "key")
    expected = "references.bin is missing" if damage == "missing" else "references.bin is unreadable"
    one_line_error(run("autograde", ASSIGNMENT, cwd=course_root, env=env), expected)
    assert not (course_root / "autograded").exists()


def test_a_run_holding_the_lock_makes_another_refuse_or_wait(course_root):
    submit(course_root, "alice", "blank")
    course = course_mod.load(course_root)
    with store.RunLock(course):
        line = one_line_error(run("autograde", ASSIGNMENT, "--no-gradebook", cwd=course_root),
                              "another grading run")
        assert f"(pid {os.getpid()})" in line and "--wait" in line
        one_line_error(run("export", cwd=course_root), "another grading run")
        waiting = subprocess.Popen([sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--no-gradebook",
                                    "--wait", "60"], cwd=course_root, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        lock_file = os.path.realpath(course_root / ".grader" / "lock")
        deadline = time.monotonic() + 60
        while not holds_open(waiting.pid, lock_file):              # it reached the lock ...
            assert waiting.poll() is None and time.monotonic() < deadline, waiting.communicate()
            time.sleep(0.01)
        time.sleep(0.5)
        assert waiting.poll() is None                             # ... and waits there
        assert not (course_root / "autograded").exists()
    out, err = waiting.communicate(timeout=120)           # released: it runs
    assert waiting.returncode == 0, err
    assert counts(subprocess.CompletedProcess([], 0, out, err)) == (1, 0)


# ---------------------------------------------------------------------------------------
# Success, --student, skipping unchanged, --force, the records


@pytest.mark.slow
@pytest.mark.nbgrader      # ends with the real `nbgrader export`
def test_autograde_skips_unchanged_regrades_changed_and_records_once(course_root):
    root = course_root
    submit(root, "alice", "key")
    submit(root, "bob", "blank")
    submit(root, "carol", "relu_abs")
    course = course_mod.load(root)

    first = run("autograde", ASSIGNMENT, "--student", "carol", "--no-gradebook", cwd=root)
    assert counts(first) == (1, 0)
    assert sorted(p.name for p in (root / "autograded").iterdir()) == ["carol"]
    assert grades_csv(root) == {"carol": 32.0}
    assert "carol" in first.stdout and "alice" not in first.stdout
    assert re.search(r"^isolation: (namespaces \(bubblewrap\)|root without namespaces)", first.stdout, re.M)
    assert not (root / "gradebook.db").exists()

    second = run("autograde", ASSIGNMENT, "--workers", "2", cwd=root)
    assert counts(second) == (2, 1)                            # carol was graded already
    totals = grades_csv(root)
    assert totals == {"alice": 33.0, "bob": 0.0, "carol": 32.0}
    for student in totals:
        data = json.loads((root / "autograded" / student / ASSIGNMENT / "results.json").read_text())
        assert data["score"] == totals[student]
        assert (root / "grader_feedback" / student / ASSIGNMENT / "feedback.html").is_file()
    assert gradebook_submissions(course) == {s: [t] for s, t in totals.items()}

    assert counts(run("autograde", ASSIGNMENT, cwd=root)) == (0, 3)

    # alice changes her submission and bob's results.json is lost: only they are regraded,
    # and alice's grade is replaced everywhere
    submit(root, "alice", "compute_loss_mean")
    (root / "autograded" / "bob" / ASSIGNMENT / "results.json").unlink()
    assert counts(run("autograde", ASSIGNMENT, cwd=root)) == (2, 1)
    assert (root / "autograded" / "bob" / ASSIGNMENT / "results.json").is_file()
    totals = grades_csv(root)
    assert totals["alice"] < 33.0 and totals["bob"] == 0.0 and totals["carol"] == 32.0
    assert gradebook_submissions(course) == {s: [t] for s, t in totals.items()}
    assert gradebook.export_totals(course) == pytest.approx(totals, abs=1e-4)

    forced = run("autograde", ASSIGNMENT, "--force", cwd=root)
    assert counts(forced) == (3, 0)
    assert grades_csv(root) == totals                          # same scores, one row each
    assert gradebook_submissions(course) == {s: [t] for s, t in totals.items()}

    # the marks of what is in the gradebook belong to one gradebook.db: without it,
    # every result is recorded again rather than skipped as 'already recorded'
    (root / "gradebook.db").unlink()
    assert counts(run("autograde", ASSIGNMENT, cwd=root)) == (0, 3)
    assert gradebook_submissions(course) == {s: [t] for s, t in totals.items()}
    assert not store.temp_files(course)

    # the real nbgrader command line reads the same totals as grades.csv
    exe = Path(sys.executable).with_name("nbgrader")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    proc = subprocess.run([*cmd, "export", "--to", "nbgrader_export.csv"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    with open(root / "nbgrader_export.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["assignment"] == ASSIGNMENT]
    assert sorted(r["student_id"] for r in rows) == sorted(totals)
    assert {r["student_id"]: float(r["score"]) for r in rows} == pytest.approx(grades_csv(root), abs=1e-4)


def test_the_fingerprint_covers_the_submission_and_the_grader_configuration(course_root):
    """What decides 'unchanged' (in-process: the same functions autograde uses)."""
    from grader.grading import grader_fingerprint, submission_fingerprint

    folder = submit(course_root, "alice", "key")
    course = course_mod.load(course_root)
    gfp = grader_fingerprint(course)
    sfp = submission_fingerprint(folder, gfp)
    assert grader_fingerprint(course) == gfp and submission_fingerprint(folder, gfp) == sfp
    (folder / "notes.txt").write_text("not a notebook")
    assert submission_fingerprint(folder, gfp) == sfp                   # only notebooks count
    nb = folder / "03_activations.ipynb"
    nb.write_text(nb.read_text() + " ")
    assert submission_fingerprint(folder, gfp) != sfp
    with open(course_root / "course.yaml", "a", encoding="utf-8") as fh:
        fh.write("# edited\n")
    assert grader_fingerprint(course) != gfp
    gfp2 = grader_fingerprint(course)
    src = course.source_dir() / "01_perceptron.ipynb"
    src.write_text(src.read_text() + " ")
    assert grader_fingerprint(course) != gfp2


def test_export_fills_the_lms_columns_from_a_roster_and_writes_moodles_format(course_root):
    root = course_root
    submit(root, "alice", "key")
    assert run("autograde", ASSIGNMENT, "--no-gradebook", cwd=root).returncode == 0
    roster = root / "roster.csv"
    roster.write_text("student,name,sis_id,login,section\nalice,\"Liddell, Alice\",S001,aliddell,A\n")
    done = run("export", "--roster", str(roster), "--moodle", cwd=root)
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader((root / "grades_lms.csv").open()))
    assert rows[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert rows[1] == ["Liddell, Alice", "alice", "S001", "aliddell", "A", "33"]   # no Points Possible row
    assert len(rows) == 2
    assert run("export", cwd=root).returncode == 0
    assert list(csv.reader((root / "grades_lms.csv").open()))[1][0] == "Points Possible"
    roster.write_text("id,name\nx,y\n")
    one_line_error(run("export", "--roster", str(roster), cwd=root), "has no 'student' column")


@pytest.mark.slow
def test_a_folder_that_cannot_be_a_student_id_is_named_and_everyone_else_is_graded(course_root):
    """A folder name that is not UTF-8 (an archive unpacked on another system), or holds a
    control character or a backslash, cannot be an id in nbgrader's gradebook, the CSVs or
    a feedback page: the class run grades everyone else, names each such folder and how to
    fix it, and exits 1; renaming the folder is the fix."""
    root = course_root
    submit(root, "ada", "key")
    submit(root, "bo", "blank")
    bad = os.fsdecode(b"z\xe9d")
    for name in (bad, "tab\there"):
        shutil.copytree(root / "submitted" / "ada", root / "submitted" / name)
    first = run("autograde", ASSIGNMENT, "--no-gradebook", cwd=root)
    assert first.returncode == 1, (first.stdout, first.stderr)
    assert counts(subprocess.CompletedProcess(first.args, 0, first.stdout, "")) == (2, 0)
    errors = first.stderr.strip().splitlines()
    assert errors[-3:] == [
        "not graded: submitted/b'tab\\there': the folder name holds a control or invisible character; "
        "rename it to the student's id",
        "not graded: submitted/b'z\\xe9d': the folder name is not valid UTF-8; rename it to the student's id",
        "error: 2 folder(s) in submitted/ could not be graded (listed above); everyone else was"]
    assert grades_csv(root) == {"ada": 33.0, "bo": 0.0}
    assert sorted(p.name for p in (root / "autograded").iterdir()) == ["ada", "bo"]

    one_line_error(run("autograde", ASSIGNMENT, "--student", "tab\there", cwd=root),
                   "cannot grade 'tab\\there': the folder name holds a control or invisible character")

    page = run("insights", ASSIGNMENT, cwd=root)
    assert page.returncode == 0, page.stderr
    html = (root / "insights" / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert 'id="unusable"' in html and "submitted/b&#x27;z\\xe9d&#x27;: the folder name is not valid UTF-8" in html

    (root / "submitted" / bad).rename(root / "submitted" / "zed")
    shutil.rmtree(root / "submitted" / "tab\there")
    assert counts(run("autograde", ASSIGNMENT, "--no-gradebook", cwd=root)) == (1, 2)
    assert grades_csv(root) == {"ada": 33.0, "bo": 0.0, "zed": 33.0}

    shutil.rmtree(root / "submitted")
    (root / "submitted" / bad / ASSIGNMENT).mkdir(parents=True)
    one_line_error(run("autograde", ASSIGNMENT, cwd=root),
                   "no usable submission folder: submitted/b'z\\xe9d': the folder name is not valid UTF-8")
