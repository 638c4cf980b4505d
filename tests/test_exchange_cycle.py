"""The whole nbgrader cycle on this course, with nbgrader's own commands and pages and our
grader in the middle (issue 10):

  instructor: generate_assignment, release_assignment        (exchange in a temporary root)
  students:   fetch_assignment, fill in, submit              (ada: correct, bob: one wrong
                                                              function, cy: untouched)
  instructor: collect, python -m grader autograde,
              the formgrader (a real Jupyter server on 127.0.0.1): statuses, scores,
              notebooks, submission pages, a manual score, extra credit and a comment,
              a regrade, python -m grader export and nbgrader export,
              generate_feedback, release_feedback
  students:   fetch_feedback, and the pages they get

Each step is one module-scoped fixture run once, in order; the tests assert on what each
step left. Students run with a config file of their own (as JupyterHub's
/etc/jupyter/nbgrader_config.py would give them) and `--student` (one Unix user here runs
all three, so collect's owner check is turned off: it would warn that root owns them).
"""
from __future__ import annotations

import csv
import html
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from grader import samples as S
from conftest import copy_course
from grader import course as course_mod
from grader.nbgrader_commands import nbgrader_env

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow,
              pytest.mark.xdist_group("nbgrader-cycle")]   # one worker runs the cycle once

ASSIGNMENT = "nn_intro"
STUDENTS = ("ada", "bob", "cy")
BOB_BUG = ("02_xor_network", "compute_loss", S.BUGS["compute_loss_mean"][2])
NOTEBOOKS = ("01_perceptron", "02_xor_network", "03_activations")
# What nbgrader prints that is not about our config: log lines, and ipykernel's notice.
_NOT_WARNINGS = re.compile(r"Kernel is running over TCP without encryption")


def run(args, cwd, env=None, check=True):
    proc = subprocess.run(args, cwd=cwd, env=env or nbgrader_env(), capture_output=True, text=True,
                          timeout=600)
    if check:
        assert proc.returncode == 0, f"{args}: {proc.stderr[-3000:]}"
    return proc


def warnings_in(proc) -> list[str]:
    return [line for line in (proc.stderr + proc.stdout).splitlines()
            if ("WARNING" in line or "Warning" in line) and not _NOT_WARNINGS.search(line)]


class Cycle:
    """The course folder, the exchange, the students' homes, and what every command printed."""

    def __init__(self, base: Path):
        (base / "course").mkdir()
        self.root = copy_course(base / "course")
        self.root.chmod(0o755)
        self.exchange = base / "exchange"
        self.exchange.mkdir()
        self.exchange.chmod(0o777)          # as nbgrader's docs set it up (it warns otherwise)
        self.homes = {s: base / "home" / s for s in STUDENTS}
        self.outputs: dict[str, list] = {}
        self.course = course_mod.load(self.root)
        self.ex = [f"--Exchange.root={self.exchange}"]

    def nbgrader(self, *args, step=None):
        proc = run([sys.executable, "-m", "nbgrader", *args, *self.ex], cwd=self.root)
        self.outputs.setdefault(step or args[0], []).append(proc)
        return proc

    def student(self, student, *args):
        home = self.homes[student]
        proc = run([sys.executable, "-m", "nbgrader", *args, "--course", ASSIGNMENT, "--student", student],
                   cwd=home, env={**nbgrader_env(), "HOME": str(home)})
        self.outputs.setdefault(args[0], []).append(proc)
        return proc

    def grader(self, *args):
        return run([sys.executable, "-m", "grader", *args], cwd=self.root)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root: Path, runtime: Path, extra: list[str] = ()):
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**nbgrader_env(), "JUPYTER_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}
        self.log = open(runtime / "server.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "server", "--no-browser", "--ServerApp.ip=127.0.0.1",
             *(["--allow-root"] if os.geteuid() == 0 else []),
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}", *extra],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self):
        """Poll until the server answers (or has died): a state, not a time."""
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                if self.request("GET", "/api/status")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)

    def request(self, method, path, body=None, form=None):
        headers = {"Authorization": f"token {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            from urllib.parse import urlencode
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def json(self, path):
        status, text = self.request("GET", path)
        assert status == 200, (path, status, text[:500])
        return json.loads(text)

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.log.close()


def _submission_ids(server, notebook):
    return {s["student"]: s for s in server.json(f"/formgrader/api/submitted_notebooks/{ASSIGNMENT}/{notebook}")}


COMMENT = "Half a point for the derivation in your notes."


@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    """Runs the whole cycle once; the tests below only read what each step left."""
    c = Cycle(tmp_path_factory.mktemp("cycle"))
    c.nbgrader("generate_assignment", ASSIGNMENT, "--force")
    c.nbgrader("release_assignment", ASSIGNMENT)
    for student in STUDENTS:
        home = c.homes[student]
        home.mkdir(parents=True)
        (home / "nbgrader_config.py").write_text(
            "c = get_config()\n"
            f"c.Exchange.root = {str(c.exchange)!r}\n"
            f"c.Exchange.cache = {str(home / '.cache')!r}\n")
        c.student(student, "fetch_assignment", ASSIGNMENT)
    c.fetched = {s: sorted(p.name for p in (c.homes[s] / ASSIGNMENT).iterdir()) for s in STUDENTS}
    S.write_submission(c.homes["ada"] / ASSIGNMENT, {}, root=c.root)
    S.write_submission(c.homes["bob"] / ASSIGNMENT, {BOB_BUG[0]: {BOB_BUG[1]: BOB_BUG[2]}}, root=c.root)
    for student in STUDENTS:                       # cy submits the release untouched
        c.student(student, "submit", ASSIGNMENT)
    c.nbgrader("collect", ASSIGNMENT, "--ExchangeCollect.check_owner=False")
    c.first_run = c.grader("autograde", ASSIGNMENT)
    c.grades_first = (c.root / "grades.csv").read_text()

    server = Server(c.root, Path(tmp_path_factory.mktemp("jupyter-runtime")), c.ex)
    c.server = server
    try:
        c.api_submissions = server.json(f"/formgrader/api/submissions/{ASSIGNMENT}")
        c.api_notebooks = server.json(f"/formgrader/api/notebooks/{ASSIGNMENT}")
        c.api_listed = {name: _submission_ids(server, name) for name in NOTEBOOKS}
        c.pages = {(name, student): server.request("GET", f"/formgrader/submissions/{sub['id']}/")
                   for name, subs in c.api_listed.items() for student, sub in subs.items()}
        # the Lab "Validate" button posts to nbgrader's validate_assignment handler
        folder = c.root / "try"
        folder.mkdir()
        for who, name in (("cy", "blank"), ("bob", "wrong"), ("ada", "good")):
            (folder / f"{name}.ipynb").write_bytes((c.homes[who] / ASSIGNMENT / "02_xor_network.ipynb").read_bytes())
        c.validated = {name: server.request("POST", "/assignments/validate", form={"path": f"try/{name}.ipynb"})
                       for name in ("blank", "wrong", "good")}
        # manual grading of bob's compute_loss: a score, extra credit, a comment
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{c.root / 'gradebook.db'}", course_id=ASSIGNMENT) as gb:
            c.grade_id = gb.find_grade("compute_loss", "02_xor_network", ASSIGNMENT, "bob").id
            comment_id = gb.find_comment("compute_loss_answer", "02_xor_network", ASSIGNMENT, "bob").id
        c.put_grade = server.request("PUT", f"/formgrader/api/grade/{c.grade_id}",
                                     body={"manual_score": 0.5, "extra_credit": 1.0})
        c.put_comment = server.request("PUT", f"/formgrader/api/comment/{comment_id}",
                                       body={"manual_comment": COMMENT})
        c.regrade = c.grader("autograde", ASSIGNMENT, "--force")
        c.grades_regraded = (c.root / "grades.csv").read_text()
        c.lms_regraded = (c.root / "grades_lms.csv").read_text()
        c.api_grade_after = server.json(f"/formgrader/api/grade/{c.grade_id}")
        c.api_bob_after = _submission_ids(server, "02_xor_network")["bob"]
        c.grader("export")
        c.grades_exported = (c.root / "grades.csv").read_text()
        c.nbgrader("export")
        c.grades_after_nbgrader_export = (c.root / "grades.csv").read_text()
        # feedback: instructor, then each student
        c.nbgrader("generate_feedback", ASSIGNMENT)
        c.nbgrader("release_feedback", ASSIGNMENT)
        for student in STUDENTS:
            c.student(student, "fetch_feedback", ASSIGNMENT)
        c.feedback = {s: {p.stem: p for p in (c.homes[s] / ASSIGNMENT / "feedback").glob("*/*.html")}
                      for s in STUDENTS}
        c.nbgrader("generate_feedback", ASSIGNMENT, "--force")
        yield c
    finally:
        server.close()


def _text(html_text: str) -> str:
    """The words of a page: no tags, no style sheets or scripts (Bootstrap's 1.42857143)."""
    html_text = re.sub(r"<(style|script)\b.*?</\1>", "", html_text, flags=re.DOTALL | re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def _csv(text: str) -> dict:
    return {r["student"]: r for r in csv.DictReader(text.splitlines())}


def test_the_exchange_moves_the_notebooks_and_nbgrader_files(cycle):
    names = {f"{n}.ipynb" for n in NOTEBOOKS}
    for student in STUDENTS:
        assert names | {"README.md"} <= set(cycle.fetched[student])
        got = {p.name for p in (cycle.root / "submitted" / student / ASSIGNMENT).iterdir()}
        assert names | {"timestamp.txt", "submission_secret.txt"} <= got, got
    assert "no notebooks were submitted" not in cycle.first_run.stdout
    rows = _csv(cycle.grades_first)
    assert float(rows["ada"]["total"]) == cycle.course.points
    assert float(rows["bob"]["total"]) == cycle.course.points - 1       # compute_loss: 1 point
    assert float(rows["cy"]["total"]) == 0


def test_autograded_notebooks_are_where_nbgrader_puts_them_with_our_verdicts(cycle):
    import nbformat

    for student in STUDENTS:
        folder = cycle.root / "autograded" / student / ASSIGNMENT
        for name in NOTEBOOKS:
            nb = nbformat.read(str(folder / f"{name}.ipynb"), as_version=4)
            nbformat.validate(nb)
            graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
            assert {c.metadata.nbgrader.grade_id for c in graded} == \
                {f.name for f in cycle.course.notebook(name).functions}
            for cell in graded:
                assert "### BEGIN HIDDEN TESTS" in cell.source   # the course's cell, as nbgrader restores it
                assert cell.outputs[0]["text"].startswith(f"{cell.metadata.nbgrader.grade_id}: ")
        assert (folder / "timestamp.txt").read_text() == \
            (cycle.root / "submitted" / student / ASSIGNMENT / "timestamp.txt").read_text()
    bob = nbformat.read(str(cycle.root / "autograded" / "bob" / ASSIGNMENT / "02_xor_network.ipynb"), 4)
    cell = next(c for c in bob.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "compute_loss")
    text = cell.outputs[0]["text"]
    assert text.startswith("compute_loss: 0 / 1 points") and "FAIL" in text
    assert "Likely cause: the mean over all entries is taken instead of the sum" in text
    assert cell.outputs[1]["data"]["text/plain"] == "0"


def test_gradebook_timestamps_follow_nbgrader(cycle):
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    with Gradebook(f"sqlite:///{cycle.root / 'gradebook.db'}", course_id=ASSIGNMENT) as gb:
        for student in STUDENTS:
            sub = gb.find_submission(ASSIGNMENT, student)
            stamp = (cycle.root / "submitted" / student / ASSIGNMENT / "timestamp.txt").read_text().strip()
            assert sub.timestamp == parse_utc(stamp)


def test_formgrader_shows_every_student_graded_with_our_scores(cycle):
    subs = {s["student"]: s for s in cycle.api_submissions}
    assert set(subs) == set(STUDENTS)
    totals = {s: float(r["total"]) for s, r in _csv(cycle.grades_first).items()}
    for student, sub in subs.items():
        assert sub["autograded"] is True, sub            # not "needs autograding"
        assert sub["score"] == pytest.approx(totals[student])
        assert sub["max_score"] == pytest.approx(cycle.course.points)
    assert {n["name"] for n in cycle.api_notebooks} == set(NOTEBOOKS)
    for name in NOTEBOOKS:
        assert set(cycle.api_listed[name]) == set(STUDENTS), name    # every notebook lists every student
    spec = cycle.course.notebook("02_xor_network")
    assert cycle.api_listed["02_xor_network"]["bob"]["score"] == pytest.approx(spec.points - 1)


def test_every_submission_page_opens_with_the_verdict(cycle):
    assert len(cycle.pages) == len(NOTEBOOKS) * len(STUDENTS)
    for (name, student), (status, page) in cycle.pages.items():
        assert status == 200, (student, name, page[:300])
        assert f"{cycle.course.notebook(name).functions[0].name}: " in _text(page)
    page = _text(cycle.pages[("02_xor_network", "bob")][1])
    assert "compute_loss: 0 / 1 points" in page and "the mean over all entries is taken instead of the sum" in page


def test_the_validate_button_tells_the_truth(cycle):
    replies = {}
    for name, (status, text) in cycle.validated.items():
        assert status == 200, text[:300]
        reply = json.loads(text)
        assert reply["success"] is True, reply           # the request worked; "value" is the verdict
        replies[name] = json.dumps(reply["value"])
    assert "NotImplementedError" in replies["blank"] and "failed" in replies["blank"]
    # the visible assert's own message
    assert "AssertionError" in replies["wrong"] and "compute_loss" in replies["wrong"]
    assert "failed" not in replies["good"] and "Error" not in replies["good"], replies["good"]


def test_manual_grades_survive_a_regrade_and_reach_every_export(cycle):
    assert cycle.put_grade[0] == 200 and cycle.put_comment[0] == 200
    expected = cycle.course.points - 1 + 0.5 + 1.0      # manual 0.5 instead of 0, extra credit 1
    rows = _csv(cycle.grades_regraded)
    assert float(rows["bob"]["total"]) == pytest.approx(expected)
    assert float(rows["bob"]["02_xor_network"]) == pytest.approx(12 + 1.5)
    assert float(rows["ada"]["total"]) == cycle.course.points
    lms = list(csv.reader(cycle.lms_regraded.splitlines()))
    assert float(next(r for r in lms if r[1] == "bob")[-1]) == pytest.approx(expected)
    table = next(line for line in cycle.regrade.stdout.splitlines() if line.startswith("bob "))
    assert table.split()[-3] == f"{expected:g}", table
    grade = cycle.api_grade_after                       # the regrade kept what was entered
    assert (grade["manual_score"], grade["extra_credit"], grade["auto_score"]) == (0.5, 1.0, 0)
    assert cycle.api_bob_after["score"] == pytest.approx(13.5)
    assert cycle.grades_exported == cycle.grades_regraded           # python -m grader export
    # nbgrader export writes its own file and agrees with ours
    assert cycle.grades_after_nbgrader_export == cycle.grades_exported
    theirs = {r["student_id"]: float(r["score"])
              for r in csv.DictReader((cycle.root / "grades_nbgrader.csv").open())}
    assert theirs == {s: float(r["total"]) for s, r in rows.items()}


def test_feedback_reaches_students_one_page_per_notebook(cycle):
    pages = {}
    for student in STUDENTS:
        assert sorted(cycle.feedback[student]) == sorted(NOTEBOOKS), student
        pages[student] = {name: _text(p.read_text()) for name, p in cycle.feedback[student].items()}
    bob = pages["bob"]["02_xor_network"]
    assert "compute_loss: 0 / 1 points" in bob and "Likely cause: the mean over all entries is taken instead of the sum" in bob
    assert COMMENT in bob                                # the formgrader's comment reaches the student
    for name in NOTEBOOKS:
        for fn in cycle.course.notebook(name).functions:
            assert f"{fn.name}: {fn.points:g} / {fn.points:g} points" in pages["ada"][name]
            assert f"{fn.name}: 0 / {fn.points:g} points" in pages["cy"][name]
    assert "NotImplementedError" in pages["cy"]["01_perceptron"]


def test_our_feedback_pages_and_nbgraders_do_not_touch_each_other(cycle):
    for student in STUDENTS:
        ours = cycle.root / "grader_feedback" / student / ASSIGNMENT
        assert (ours / "feedback.html").is_file() and (ours / "feedback.md").is_file()   # after --force
        nbgraders = cycle.root / "feedback" / student / ASSIGNMENT
        assert sorted(p.stem for p in nbgraders.glob("*.html")) == sorted(NOTEBOOKS)


def test_no_hidden_values_in_what_students_get(cycle):
    from browser import hidden_values, leaks

    values = hidden_values(cycle.course, "bob")
    assert values
    for name, page in cycle.feedback["bob"].items():
        public = (cycle.root / "release" / ASSIGNMENT / f"{name}.ipynb").read_text()
        found = [f for f in leaks(_text(page.read_text()), values) if f not in public]   # not a visible test's
        assert not found, name


def test_no_nbgrader_command_warned_because_of_our_config(cycle):
    assert cycle.outputs
    for step, procs in cycle.outputs.items():
        for proc in procs:
            found = [w for w in warnings_in(proc) if "Removing existing" not in w]  # --force says what it removes
            assert not found, (step, found)


def test_the_formgrader_submission_view_in_a_browser(cycle, browser):
    """The page an instructor opens from the formgrader, rendered by headless Chromium."""
    from browser import Page

    sub = cycle.api_listed["02_xor_network"]["bob"]
    page = Page(browser, f"{cycle.server.base}/formgrader/submissions/{sub['id']}/?token={cycle.server.token}",
                width=1200, height=900)
    text = " ".join(page.js("document.body.innerText").split())
    assert "compute_loss: 0 / 1 points" in text
    assert "Likely cause: the mean over all entries is taken instead of the sum" in text
    assert "02_xor_network" in text and "Submission" in text      # students are anonymous there
