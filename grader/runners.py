"""Calling student code: ONE protocol, ONE outcome type, two runners.

A check calls the function under test through a `Runner`:

    outcome = runner(function, args, kwargs, echo, timeout)    # -> sandbox.CallOutcome

* `SandboxRunner(box)`: the grade of record (`python -m grader autograde`, Gradescope,
  recording the references): the call runs in the notebook's sandbox process.
* `KernelRunner(namespace)`: the notebooks' hidden test cells under nbgrader
  (grader.kernel): the call runs in the student's own kernel, in this process.

Both give the same `CallOutcome` with the same words for the same mistake: the value
goes through the same wire encoding (a lambda, an object array or a value of another
type becomes the same "not plain data" verdict), exceptions are described by the same
function (sandbox.harness.describe_exception), warnings are recorded the same way
("Category: message", deduplicated, at most WARNINGS_MAX) under the same numpy error
state, and both enforce the check's time limit ("timed out after N s").

In both, a function that timed out is replaced by one that fails at once, so the checks
after it, and the functions that call it, do not wait for it again: an infinite loop
costs its time limit once. And both can put the grader's stand-ins (grader.checks.standins)
in place of a student's broken helpers for one call (`standins={"source", "names"}`):
the stand-ins run in a namespace of their own and the student's objects are put back
after the call, whatever it did to those names.
"""
from __future__ import annotations

import builtins
import signal
import threading
import time
import warnings
from typing import Protocol

import numpy as np

from . import wire
from .sandbox import CallOutcome, Sandbox
from .sandbox.client import unsupported_message
from .sandbox.harness import describe_exception
from .sandbox.limits import REPLY_MAX, WARNINGS_MAX


class Runner(Protocol):
    """What the checks call student code through."""

    student_seconds: float      # the student's own code inside the calls, in total
    standins: bool              # can put the grader's stand-ins in place of helpers

    def __call__(self, function: str, args: tuple, kwargs: dict, echo: bool, timeout: float,
                 standins: dict | None = None) -> CallOutcome:
        ...


_STOPPED = '''
def {name}(*args, **kwargs):
    raise TimeoutError("{name} did not finish within {seconds:.3g} s in an earlier check, so it is not run again")
'''


def _timed_out(timeout: float, seconds: float) -> CallOutcome:
    return CallOutcome("timeout", message=f"timed out after {timeout:g} s", seconds=seconds)


class SandboxRunner:
    """Calls in a notebook's sandbox (the grade of record)."""

    standins = True

    def __init__(self, box: Sandbox):
        self.box = box
        self.student_seconds = 0.0

    def __call__(self, function, args, kwargs, echo, timeout, standins=None) -> CallOutcome:
        outcome = self.box.call(function, tuple(args), dict(kwargs), timeout=timeout, echo_args=echo,
                                standins=standins)
        self.student_seconds += outcome.seconds
        if outcome.status == "timeout" and function.isidentifier():
            self.box.run_cells([(f"stopped-{function}", _STOPPED.format(name=function, seconds=timeout))])
        return outcome


class _Timeout(BaseException):
    """Raised into student code by the kernel runner's alarm (a BaseException, so that a
    student's `except Exception` does not swallow it)."""


def _kernel_frame(frame) -> bool:
    """Student code in a Jupyter kernel: ipykernel names cells <temp dir>/ipykernel_<pid>/<n>.py,
    older kernels <ipython-input-...>."""
    name = str(frame.filename)
    return name.startswith("<") or "ipykernel_" in name


class KernelRunner:
    """Calls in this process, on the functions of `namespace` (a notebook's globals)."""

    standins = True

    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.student_seconds = 0.0

    def __call__(self, function, args, kwargs, echo, timeout, standins=None) -> CallOutcome:
        fn = self.namespace.get(function)
        if not callable(fn):
            return CallOutcome("error", message=f"NameError: name {function!r} is not defined")
        try:
            swapped = _swap_in(self.namespace, standins) if standins else {}
        except Exception as exc:  # noqa: BLE001 - the grader's own code: say so
            return CallOutcome("error", message=f"grader stand-ins failed: {describe_exception(exc)}")
        try:
            return self._call(fn, function, args, kwargs, echo, timeout)
        finally:
            _put_back(self.namespace, swapped)

    def _call(self, fn, function, args, kwargs, echo, timeout) -> CallOutcome:
        # the student's function gets its own copies, as it does in the sandbox
        args, kwargs = wire.plain(tuple(args)), wire.plain(dict(kwargs))
        recorded: list[str] = []
        status, value, message = "ok", None, ""
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="warn", under="ignore"), \
                _alarm(timeout) as armed:
            warnings.simplefilter("always")
            try:
                value = fn(*args, **kwargs)
            except _Timeout:
                status = "timeout"
            except BaseException as exc:  # noqa: BLE001 - a student error is a verdict
                if isinstance(exc, KeyboardInterrupt) and not armed:
                    raise
                status, message = "error", describe_exception(exc, _kernel_frame)
        seconds = time.perf_counter() - start
        self.student_seconds += seconds
        if status == "timeout":
            if function.isidentifier():
                exec(_STOPPED.format(name=function, seconds=timeout), self.namespace)
            return _timed_out(timeout, seconds)
        for w in caught:
            text = f"{w.category.__name__}: {w.message}"
            if text not in recorded and len(recorded) < WARNINGS_MAX:
                recorded.append(text)
        if status == "error":
            return CallOutcome("error", message=message, warnings=recorded, seconds=seconds)
        try:
            value = wire.plain(value, REPLY_MAX)
        except wire.TooLarge:
            return CallOutcome("bad_output", message=f"the returned value is too large "
                                                     f"(more than {REPLY_MAX >> 20} MiB)",
                               warnings=recorded, seconds=seconds)
        why = unsupported_message(value)
        return CallOutcome("bad_output" if why else "ok", value, why or "", recorded,
                           wire.plain((args, kwargs)) if echo else None, seconds)


_MISSING = object()


def _swap_in(namespace: dict, standins: dict) -> dict:
    """Put the stand-ins named in `standins` into `namespace`; returns what they replaced."""
    private = {"__builtins__": builtins, "np": np, "__name__": "grader_standins"}
    exec(compile(str(standins["source"]), "<grader stand-in>", "exec", dont_inherit=True), private)
    swapped = {}
    for name in standins["names"]:
        if type(name) is str and name in private:
            swapped[name] = namespace.get(name, _MISSING)
            namespace[name] = private[name]
    return swapped


def _put_back(namespace: dict, swapped: dict) -> None:
    for name, old in swapped.items():
        if old is _MISSING:
            namespace.pop(name, None)
        else:
            namespace[name] = old


class _alarm:
    """Interrupt the call after `timeout` seconds (SIGALRM; only possible on the main
    thread, where a Jupyter kernel runs cells: elsewhere the call has no time limit)."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.armed = False
        self._old = None

    def __enter__(self) -> bool:
        if self.timeout and self.timeout > 0 and threading.current_thread() is threading.main_thread():
            def ring(signum, frame):
                raise _Timeout()
            self._old = signal.signal(signal.SIGALRM, ring)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
            self.armed = True
        return self.armed

    def __exit__(self, *exc) -> bool:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)
        return False
