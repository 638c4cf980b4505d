"""A student's feedback page as a browser shows it: a buggy submission is graded for real,
its feedback.html is opened in headless Chromium, and the test reads what is rendered
(`document.body.innerText`: only what is laid out and visible), the colours of the
verdicts, the layout width, and takes a screenshot.

Why a real browser and not the HTML text: innerText is what a person can read, after the
parser, the CSS and the <details> fold have done their work. A page can hold text that
nobody sees (an unclosed tag, a collapsed section, a hidden style) or show text that is
not literally in the file (entities); only rendering tells. The driver is tests/browser.py.

Skipped, saying why, when no Chromium binary is installed (`apt-get install chromium`;
.ci/run installs it when it can)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from grader import samples as S
from browser import Page, hidden_values, leaks, telltale
from conftest import copy_course
from grader import report
from grader import course as course_mod
from grader.grading import Grader

STUDENT = "o'brien & <co>"

# planted bugs in three notebooks, a function left as the release stub, and some output
OVERRIDES = {
    "01_perceptron": {"sigmoid": S.BUGS["sigmoid_naive"][2], "predict": None},
    "02_xor_network": {"compute_loss": S.BUGS["compute_loss_mean"][2] + '\nprint("loss helper loaded")\n'},
    "03_activations": {"relu": S.BUGS["relu_abs"][2]},
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = copy_course(tmp_path_factory.mktemp("course"))
    course = course_mod.load(root)
    grader = Grader(course)
    S.write_submission(course.submitted_dir() / STUDENT / course.assignment, OVERRIDES)
    result = grader.grade(STUDENT)
    out = report.write_student_outputs(course, result)
    return course, result, out.feedback_html


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_rendered_feedback_page_reads_right(browser, graded, tmp_path):
    course, result, html_path = graded
    page = Page(browser, html_path.resolve().as_uri())
    text = page.js("document.body.innerText")
    flat = _words(text)

    assert page.js("document.title") == f"Feedback: {course.assignment}, {STUDENT}"
    assert f"Student: {STUDENT}" in flat                       # escaped in the file, literal on screen
    assert f"Total: {report.fmt_points(result.score)} / 33" in flat
    assert 0 < result.score < 33
    failed = [c for nb in result.notebooks for c in nb.checks if not c.passed]
    assert {c.function for c in failed} >= {"sigmoid", "predict", "compute_loss", "relu"}
    for nb in result.notebooks:
        assert f"{nb.notebook} {report.fmt_points(nb.score)} / {report.fmt_points(nb.max_score)}" in flat
        for check in nb.checks:
            assert _words(check.title) in flat, check.title
            assert check.function in flat
    for check in failed:                                       # the diagnostics, as written
        assert check.message and _words(check.message) in flat, check.message
    assert "not implemented yet" in flat and "Likely cause: the mean" in flat
    assert text.count("FAIL") == len(failed)
    assert text.count("PASS") == sum(len(nb.checks) for nb in result.notebooks) - len(failed)

    # what the student printed is folded away until opened
    assert "Output of your code" in flat and "loss helper loaded" not in flat
    page.js("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert "loss helper loaded" in _words(page.js("document.body.innerText"))
    page.js("document.querySelectorAll('details').forEach(d => d.open = false)")

    # verdicts in colour, and the page fits a laptop and a phone without sideways scrolling
    colour = "c => getComputedStyle(document.querySelector(c)).color"
    assert page.js(f"({colour})('.verdict.fail')") == "rgb(192, 38, 45)"
    assert page.js(f"({colour})('.verdict.pass')") == "rgb(26, 127, 55)"
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    # the narrowest diagnostics box, as a share of the window's width
    narrowest = ("Math.min(...[...document.querySelectorAll('td pre')].filter(p => p.offsetParent)"
                 ".map(p => p.getBoundingClientRect().width)) / window.innerWidth")
    # the check columns line up from one function's table to the next
    columns = ("new Set([...document.querySelectorAll('table')].map(t => [...t.rows[0].cells]"
               ".map(c => Math.round(c.getBoundingClientRect().width)).join())).size")
    assert page.js(overflow) <= 0
    assert page.js(narrowest) > 0.3
    assert page.js(columns) == 1
    page.screenshot(tmp_path / "feedback-1000px.png")
    page.resize(400, 800)
    assert page.js(overflow) <= 0, "the page scrolls sideways on a 400 px wide screen"
    assert page.js(narrowest) > 0.7, "diagnostics squeezed into a narrow column on a phone"
    text = _words(page.js("document.body.innerText"))
    for check in failed:
        assert _words(check.message) in text
    page.screenshot(tmp_path / "feedback-400px.png")
    if os.environ.get("NN_INTRO_SCREENSHOTS"):
        for name in ("feedback-1000px.png", "feedback-400px.png"):
            shutil.copy(tmp_path / name, Path(os.environ["NN_INTRO_SCREENSHOTS"]) / name)


def test_no_hidden_input_or_reference_value_is_on_the_page(browser, graded):
    course, result, html_path = graded
    text = Page(browser, html_path.resolve().as_uri()).js("document.body.innerText")
    values = hidden_values(course, STUDENT)
    assert len(values) > 1000 and sum(bool(telltale(x)) for x in values) > 500
    assert leaks(text, values) == []
    # the detector is not blind: one leaked reference value is found
    leaked = next(x for x in values if telltale(x))
    assert leaks(text + f"\nexpected {leaked:.4g}", values)
