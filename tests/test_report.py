"""grader.report: results.json (schema), grades.csv, the LMS CSV, feedback pages, the class
table and atomic writes, on hand-built results with partial credit, a missing notebook
and hostile text."""
from __future__ import annotations

import csv
import html
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from grader import files, report
from grader.report.text import md_inline
from grader.sandbox import Limits
from grader.course import CheckSpec, Course, FunctionSpec, NotebookSpec, Tolerance
from grader.results import CheckResult, NotebookResult, SubmissionResult

TOL = Tolerance(1e-7, 1e-10)
HOSTILE = '<script>alert("pwned")</script> & "quoted" \'single\''


def make_course(root: Path) -> Course:
    def fn(nb, name, checks):
        return FunctionSpec(nb, name, tuple(CheckSpec(nb, name, c, p, TOL) for c, p in checks))

    alpha = NotebookSpec("01_alpha", (
        fn("01_alpha", "sigmoid", [("values", 1.5), ("stable", 1.0)]),
        fn("01_alpha", "predict", [("values", 2.0)]),
    ))
    beta = NotebookSpec("02_beta", (
        fn("02_beta", "forward", [("values", 1.0), ("cache", 0.5)]),
    ))
    return Course(root=root, course_id="nn_test", assignment="hw1", probe_salt="s", variants=1,
                  limits=Limits(), notebooks=(alpha, beta))


TITLES = {
    "values": "values on probe inputs",
    "stable": "stable for large |z|",
    "cache": "returns the cache",
}


def check(nb, fn, name, score, max_score, message=""):
    return CheckResult(nb, fn, name, TITLES[name], score, max_score, passed=score >= max_score,
                       message=message)


def notebook(name, checks, problems=(), output=""):
    return NotebookResult(name, round(sum(c.score for c in checks), 6),
                          sum(c.max_score for c in checks), list(checks), list(problems), output)


def submission(student, notebooks, problems=(), max_score=6.0):
    return SubmissionResult(student, "hw1", round(sum(nb.score for nb in notebooks), 6), max_score,
                            list(notebooks), list(problems), fingerprint="f" * 16,
                            graded_at="2026-01-02T03:04:05+00:00")


def make_results() -> list[SubmissionResult]:
    alice = submission("alice", [
        notebook("01_alpha", [
            check("01_alpha", "sigmoid", "values", 1.5, 1.5),
            check("01_alpha", "sigmoid", "stable", 0.75, 1.0,   # partial credit
                  "3 of 4 cases match; overflow for z = -800\nmax |diff| 1e+300 > atol"),
            check("01_alpha", "predict", "values", 2.0, 2.0),
        ], output="epoch 1\n" + HOSTILE + "\n</pre></details>```\n"),
        notebook("02_beta", [
            check("02_beta", "forward", "values", 1.0, 1.0),
            check("02_beta", "forward", "cache", 0.0, 0.5, "the cache " + HOSTILE + "\n```inner```"),
        ], problems=["the read-only cell 'setup' was edited; the course's version is used"]),
    ])
    obrien = submission("o'brien", [
        notebook("01_alpha", [
            check("01_alpha", "sigmoid", "values", 0.0, 1.5, 'NameError: name "np" is not defined'),
            check("01_alpha", "sigmoid", "stable", 0.0, 1.0, "sigmoid is not defined"),
            check("01_alpha", "predict", "values", 2.0, 2.0),
        ], problems=["cell 'sigmoid_answer': " + HOSTILE]),
        # 02_beta is missing from this result entirely
    ], problems=['<img src=x onerror="alert(1)"> 02_beta.ipynb was not submitted'])
    # float noise: 0.1 * 15 = 1.5000000000000002
    bob = submission("bob", [
        notebook("01_alpha", [
            check("01_alpha", "sigmoid", "values", 0.1 * 15, 1.5),
            check("01_alpha", "sigmoid", "stable", 1.0, 1.0),
            check("01_alpha", "predict", "values", 2.0 / 3.0, 2.0, "1 of 3 gates right"),
        ], output="x" * 50_000),
        notebook("02_beta", [
            check("02_beta", "forward", "values", 1.0, 1.0),
            check("02_beta", "forward", "cache", 0.5, 0.5),
        ]),
    ])
    bob.score = 0.1 * 15 + 1.0 + 2.0 / 3.0 + 1.0 + 0.5 + 1e-12   # noise on the total too
    return [obrien, bob, alice]   # unsorted on purpose


@pytest.fixture
def course(tmp_path):
    return make_course(tmp_path)


@pytest.fixture
def results():
    return make_results()


@pytest.fixture(scope="module")
def schema():
    return json.loads(report.SCHEMA_PATH.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------
# results.json


def test_gradescope_results_validate_and_add_up(results, schema, tmp_path):
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for result in results:
        data = report.gradescope_results(result)
        # what is written is what validates
        path = files.write_json(tmp_path / result.student / "results.json", data)
        loaded = json.loads(path.read_text(encoding="utf-8"))
        validator.validate(loaded)
        checks = [c for nb in result.notebooks for c in nb.checks]
        assert [t["name"] for t in loaded["tests"]] == [c.name for c in checks]
        assert math.isclose(sum(t["score"] for t in loaded["tests"]), loaded["score"], abs_tol=1e-3)
        assert loaded["score"] == round(result.score, 4)
        assert loaded["max_score"] == 6.0
        for t, c in zip(loaded["tests"], checks):
            assert t["status"] == ("passed" if c.passed else "failed")
            assert t["output"] == ("passed" if c.passed else c.message)
            assert t["score"] <= t["max_score"]
        assert loaded["output"].startswith(f"Total: {report.fmt_points(result.score)} / 6")


def test_gradescope_details(results):
    alice, obrien, bob = (next(r for r in results if r.student == s) for s in ("alice", "o'brien", "bob"))
    data = report.gradescope_results(alice)
    assert data["tests"][1]["name"] == "01_alpha: sigmoid - stable for large |z|"
    assert data["tests"][1]["score"] == 0.75 and data["tests"][1]["status"] == "failed"
    assert data["score"] == 5.25 and data["visibility"] == "visible"
    assert data["stdout_visibility"] == "hidden"
    assert "02_beta: the read-only cell 'setup' was edited" in data["output"]
    # a missing notebook: no tests for it, the problem in the summary, totals still add up
    data = report.gradescope_results(obrien)
    assert len(data["tests"]) == 3 and data["score"] == 2.0
    assert "02_beta.ipynb was not submitted" in data["output"]
    # float noise is rounded away
    data = report.gradescope_results(bob)
    assert data["tests"][0]["score"] == 1.5 and data["tests"][2]["score"] == 0.6667
    assert data["score"] == 4.6667
    with pytest.raises(jsonschema.ValidationError):   # the schema is not a rubber stamp
        jsonschema.validate({**data, "tests": [{**data["tests"][0], "status": "ok"}]},
                            json.loads(report.SCHEMA_PATH.read_text()))


# ---------------------------------------------------------------------------------------
# CSV files


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_grades_csv(results, course, tmp_path):
    rows = report.grades_rows(results, course)
    assert [r["student"] for r in rows] == ["alice", "bob", "o'brien"]
    assert rows[2]["02_beta"] == 0.0      # the missing notebook scores 0

    path = report.write_grades_csv(tmp_path / "out" / "grades.csv", results, course)
    table = read_csv(path)
    assert table[0] == ["student", "01_alpha", "02_beta", "total", "max_score"]
    assert table[1:] == [
        ["alice", "4.25", "1", "5.25", "6"],
        ["bob", "3.1667", "1.5", "4.6667", "6"],
        ["o'brien", "2", "0", "2", "6"],
    ]
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            parts = float(row["01_alpha"]) + float(row["02_beta"])
            assert math.isclose(parts, float(row["total"]), abs_tol=2e-4)


def test_grades_csv_defuses_formulas(course, tmp_path):
    evil = SubmissionResult("=HYPERLINK(\"http://x\")", "hw1", 1.0, 6.0)
    table = read_csv(report.write_grades_csv(tmp_path / "g.csv", [evil], course))
    assert table[1][0] == "'=HYPERLINK(\"http://x\")"
    assert table[1][1:] == ["0", "0", "1", "6"]


def test_lms_csv(results, course, tmp_path):
    roster = {"alice": {"name": "Liddell, Alice", "sis_id": "S001", "login": "aliddell",
                        "section": "Lab A"}}
    path = report.write_lms_csv(tmp_path / "lms.csv", results, course, roster)
    table = read_csv(path)
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "hw1 (nn_test)"]
    assert table[1] == ["Points Possible", "", "", "", "", "6"]
    assert table[2] == ["Liddell, Alice", "alice", "S001", "aliddell", "Lab A", "5.25"]
    assert table[3] == ["bob", "bob", "", "", "", "4.6667"]
    assert table[4] == ["o'brien", "o'brien", "", "", "", "2"]
    # for Moodle: no Points Possible row
    table = read_csv(report.write_lms_csv(tmp_path / "moodle.csv", results, course,
                                          points_possible=False))
    assert [r[1] for r in table[1:]] == ["alice", "bob", "o'brien"]


# ---------------------------------------------------------------------------------------
# Feedback pages


class TagBalance(HTMLParser):
    VOID = {"meta", "br", "hr", "img", "link", "input", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.tags, self.errors, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> TagBalance:
    parser = TagBalance()
    parser.feed(page)
    parser.close()
    return parser


def test_feedback_html_is_escaped_and_complete(results, course):
    for result in results:
        page = report.feedback_html(result, course)
        assert page.startswith("<!DOCTYPE html>\n")
        assert '<meta charset="utf-8">' in page and "<title>" in page
        low = page.lower()
        # self-contained, and nothing hostile became markup
        for bad in ("<script", "<img", "<link", "<iframe", "http://", "https://", "url("):
            assert bad not in low, bad
        parser = parse(page)
        assert not parser.errors and not parser.stack, (parser.errors, parser.stack)
        assert set(parser.tags) <= {"html", "head", "meta", "title", "style", "body", "main", "h1",
                                    "h2", "h3", "p", "strong", "span", "section", "div", "ul", "li",
                                    "table", "thead", "tbody", "tr", "th", "td", "pre", "details",
                                    "summary"}
        text = "".join(parser.text)
        assert f"Total: {report.fmt_points(result.score)} / 6" in text
        for nb in result.notebooks:
            for c in nb.checks:
                assert c.title in text
                if not c.passed and c.message:
                    assert c.message in text          # the message, unescaped back, in full
        assert result.student in text
    alice = next(r for r in results if r.student == "alice")
    page = report.feedback_html(alice, course)
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert page.count("FAIL") == 2 and page.count("PASS") == 3
    assert "<details><summary>Output of your code" in page
    assert "0.75 / 1" in page and "4.25 / 4.5" in page    # partial credit, notebook score


def test_feedback_html_missing_notebook_and_capped_output(results, course):
    obrien = next(r for r in results if r.student == "o'brien")
    page = report.feedback_html(obrien, course)
    assert "o&#x27;brien" in page and "o'brien" not in page
    assert "No results for this notebook." in page
    bob = next(r for r in results if r.student == "bob")
    page = report.feedback_html(bob, course)
    assert "40000 more characters not shown" in page
    assert len(page) < 25_000


def test_feedback_markdown(results, course):
    for result in results:
        md = report.feedback_markdown(result, course)
        assert f"**Total: {report.fmt_points(result.score)} / 6**" in md
        # outside fenced code blocks there is no raw HTML
        fence = None
        for line in md.splitlines():
            stripped = line.strip()
            if fence is None and stripped.startswith("```"):
                fence = stripped[: len(stripped) - len(stripped.lstrip("`"))]
                continue
            if fence is not None:
                if stripped == fence:
                    fence = None
                continue
            assert "<" not in line and ">" not in line, line
        assert fence is None
        for nb in result.notebooks:
            for c in nb.checks:
                assert md_inline(c.title) in md
    alice = next(r for r in results if r.student == "alice")
    md = report.feedback_markdown(alice, course)
    assert "- **FAIL** stable for large \\|z\\|: 0.75 / 1" in md
    assert "````text" in md        # the fence outgrows the ``` inside the message/output
    obrien = next(r for r in results if r.student == "o'brien")
    assert "No results for this notebook." in report.feedback_markdown(obrien, course)


# ---------------------------------------------------------------------------------------
# Class table


def test_class_table(results, course):
    results = results + [SubmissionResult("eve\x1b[2J", "hw1", 0.0, 6.0)]
    text = report.class_table(results, course)
    lines = text.rstrip("\n").splitlines()
    assert "\x1b" not in text
    assert lines[-1] == "4 students"
    assert len({len(line) for line in lines[:-1]}) == 1      # aligned columns
    names = [line.split()[0] for line in lines[3:7]]
    assert names == ["alice", "bob", "eve?[2J", "o'brien"]
    mean = next(line for line in lines if line.startswith("mean"))
    assert mean.split() == ["mean", "2.3542", "0.625", "2.9792", "/", "6"]
    assert report.class_table([], course).rstrip().endswith("0 students")


# ---------------------------------------------------------------------------------------
# Files


def test_write_student_outputs(results, course, tmp_path):
    obrien = next(r for r in results if r.student == "o'brien")
    paths = report.write_student_outputs(course, obrien)
    assert paths.results_json == course.root / "autograded" / "o'brien" / "hw1" / "results.json"
    assert paths.feedback_html == course.root / "grader_feedback" / "o'brien" / "hw1" / "feedback.html"
    assert paths.feedback_md == course.root / "grader_feedback" / "o'brien" / "hw1" / "feedback.md"
    assert json.loads(paths.results_json.read_text())["score"] == 2.0
    assert html.escape("o'brien") in paths.feedback_html.read_text()
    assert sorted(p.name for p in paths.feedback_md.parent.iterdir()) == ["feedback.html", "feedback.md"]
    for bad in ("..", "a/b", ""):
        with pytest.raises(ValueError):
            report.write_student_outputs(course, SubmissionResult(bad, "hw1", 0, 6))
