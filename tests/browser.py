"""Helpers for the tests that read pages in a real browser: headless Chromium driven over
its DevTools pipe (--remote-debugging-pipe, so no extra package is needed), and a detector
of hidden values (probe inputs, reference values) in a page's text.

The `browser` fixture (conftest.py) starts one Chromium per test module, or skips, saying why,
when no Chromium binary is installed (`apt-get install chromium`; .ci/run installs it when it can)."""
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

from grader import checks, probes, references

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


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
