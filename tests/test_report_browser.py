"""A student's feedback page as a browser shows it: a buggy submission is graded for real,
its feedback.html is opened in headless Chromium, and the test reads what is rendered
(`document.body.innerText`: only what is laid out and visible), the colours of the
verdicts, the layout width, and takes a screenshot.

Why a real browser and not the HTML text: innerText is what a person can read, after the
parser, the CSS and the <details> fold have done their work. A page can hold text that
nobody sees (an unclosed tag, a collapsed section, a hidden style) or show text that is
not literally in the file (entities); only rendering tells. Chromium is driven over its
DevTools pipe (--remote-debugging-pipe), so no extra package is needed.

Skipped, saying why, when no Chromium binary is installed (`apt-get install chromium`;
.ci/run installs it when it can)."""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from grader import samples as S
from conftest import copy_course
from grader import checks, probes, references, report
from grader import course as course_mod
from grader.grading import Grader

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
STUDENT = "o'brien & <co>"

# planted bugs in three notebooks, a function left as the release stub, and some output
OVERRIDES = {
    "01_perceptron": {"sigmoid": S.BUGS["sigmoid_naive"][2], "predict": None},
    "02_xor_network": {"compute_loss": S.BUGS["compute_loss_mean"][2] + '\nprint("loss helper loaded")\n'},
    "03_activations": {"relu": S.BUGS["relu_abs"][2]},
}


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _high_fd(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Chromium:
    """Headless Chromium driven through the DevTools protocol on a pipe (fd 3: commands
    in, fd 4: replies and events out; JSON messages ended by NUL)."""

    def __init__(self, binary: str, profile: Path):
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()
        # moved above fd 9, so that the dup2 to 3 and 4 below cannot clobber each other
        cmd_r, res_w = (_high_fd(fd) for fd in (cmd_r, res_w))
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--mute-audio", "--hide-scrollbars", f"--user-data-dir={profile}",
                "--remote-debugging-pipe", "about:blank"]
        # a small Python trampoline puts our pipe ends on fds 3 and 4, then becomes Chromium
        hop = ("import os, sys\n"
               "a, b = int(sys.argv[1]), int(sys.argv[2])\n"
               "os.dup2(a, 3); os.dup2(b, 4); os.close(a); os.close(b)\n"
               "os.execv(sys.argv[3], sys.argv[3:])\n")
        self.proc = subprocess.Popen([sys.executable, "-c", hop, str(cmd_r), str(res_w), *args],
                                     pass_fds=(cmd_r, res_w), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(cmd_r)
        os.close(res_w)
        self._buf = b""
        self._next = 0
        self.events: list[dict] = []

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._res_r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._res_r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._res_r)


class Page:
    def __init__(self, browser: Chromium, url: str, width: int = 1000, height: int = 800):
        self.b = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable")
        self.resize(width, height)
        self.send("Page.navigate", {"url": url})
        browser.wait_event("Page.loadEventFired", self.session)

    def send(self, method: str, params: dict | None = None) -> dict:
        return self.b.send(method, params, session=self.session)

    def resize(self, width: int, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def js(self, expression: str):
        out = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression}: {out['exceptionDetails']}")
        return out["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))
        return path


# ---------------------------------------------------------------------------------------
# What must not be on the page: the student's hidden probe inputs and the reference values


def _floats(value) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _floats(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _floats(v)]
    if isinstance(value, (np.ndarray, np.generic, float, int)) and not isinstance(value, bool):
        arr = np.asarray(value)
        if arr.dtype.kind in "fiu":
            return [float(x) for x in arr.ravel()[:10_000]]
    return []


def hidden_values(course, student: str) -> list[float]:
    """Every probe input the student's checks used and every reference value they were
    compared with: the checks are run again, in record mode, on the student's variants
    against the solution in a sandbox, recording what was passed in."""
    from grader.runners import SandboxRunner
    from grader.sandbox import Sandbox

    refs = references.load()
    limits = course.limits
    values: list[float] = []
    for nb in course.notebooks:
        key_nb = references.course_notebook(course, nb.name)
        with Sandbox(limits, label=f"hidden {nb.name}") as box:
            assert all(o.status == "ok" for o in box.run_cells(key_nb.solution_cells()))
            base = SandboxRunner(box)

            def caller(function, args, kwargs, echo, timeout):
                values.extend(_floats(args) + _floats(kwargs))
                return base(function, args, kwargs, echo, timeout)

            for spec in (s for fn in nb.functions for s in fn.checks):
                variant = probes.variant(course.probe_salt, student, spec.key, course.variants)
                checks.run(spec, course, caller, student=None, variant=variant, timeout=limits.check_timeout)
                values.extend(_floats(refs[checks.reference_key(spec, variant)]))
    return values


def telltale(x: float) -> set[str]:
    """How a leaked value would read: forms with at least 3 significant digits, for
    values that are not round (0.5, 2, 0.25 are everywhere on a page of scores)."""
    if not np.isfinite(x) or abs(x) < 1e-3 or float(x * 8).is_integer():
        return set()
    forms = {f"{x:.4g}", f"{x:.3e}", f"{x:.6f}".rstrip("0")}
    if abs(x) >= 0.1:
        forms.add(f"{x:.3f}")
    return {f for f in forms if sum(c.isdigit() for c in f.lstrip("-0.").split("e")[0]) >= 3}


def leaks(text: str, values: list[float]) -> list[str]:
    forms = set().union(*(telltale(x) for x in values))
    return sorted(f for f in forms if f in text)


# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = find_browser()
    if binary is None:
        pytest.skip("no Chromium binary (chromium, chromium-browser, google-chrome) on PATH: "
                    "the rendered feedback page is not checked (apt-get install chromium)")
    b = Chromium(binary, tmp_path_factory.mktemp("chromium-profile"))
    try:
        b.send("Browser.getVersion", timeout=60)
    except Exception as exc:
        b.close()
        pytest.skip(f"{binary} does not start headless here: {exc}")
    yield b
    b.close()


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
