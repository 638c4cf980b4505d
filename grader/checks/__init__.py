"""Every graded check, declared once.

A check is a small function of a `Trial`: it draws probe inputs from `t.rng`, calls the
student's function through `t.call` (which crosses into the sandbox, or calls in-process
in a notebook's hidden test cell) and states what must hold with `t.reference`,
`t.expect` and `t.require`. The same code records the reference outputs from the solution
notebooks (`python -m grader references`) and grades a submission, so what is compared is
exactly what was recorded.

Checks live in one module per notebook; each is registered under the names that
course.yaml uses: notebook, function, check.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from ..compare import Comparison, Hint, compare, identical
from ..course import CheckSpec, Course, FunctionSpec
from ..probes import rng as probe_rng
from ..probes import variant as probe_variant
from ..results import CheckResult
from ..wire import Unsupported


class CallOutcomeLike(Protocol):
    status: str
    value: object
    message: str
    warnings: list
    args_after: object


# caller(function, args, kwargs, echo_args, timeout) -> outcome with .status/.value/...
Caller = Callable[[str, tuple, dict, bool, float], CallOutcomeLike]


class StudentFailure(Exception):
    """The student's function could not produce a value for this check."""


@dataclass
class Case:
    label: str
    ok: bool
    message: str = ""


@dataclass
class CheckDef:
    notebook: str
    function: str
    name: str
    title: str
    run: Callable[["Trial"], None]

    @property
    def key(self) -> str:
        return f"{self.notebook}/{self.function}/{self.name}"


REGISTRY: dict[str, CheckDef] = {}


def check(notebook: str, function: str, name: str, title: str):
    """Register `run(t)` as check `name` of `function` in `notebook`, described by `title`."""
    def register(run):
        definition = CheckDef(notebook, function, name, title, run)
        if definition.key in REGISTRY:
            raise ValueError(f"check {definition.key} is declared twice")
        REGISTRY[definition.key] = definition
        return run
    return register


def _failure_text(function: str, outcome) -> str:
    msg = (outcome.message or "").strip()
    if outcome.status == "error":
        if msg.startswith("NotImplementedError"):
            return f"{function} is not implemented yet (it raises NotImplementedError)"
        if msg.startswith("NameError") and repr(function) in msg:
            return f"{function} is not defined (is its answer cell missing or broken?)"
        return f"{function} raised {msg}"
    if outcome.status == "timeout":
        return f"{function} did not finish within the check's time limit"
    if outcome.status == "crashed":
        return f"the process running {function} died: {msg}"
    return f"{function} returned something that cannot be graded: {msg}"


class Trial:
    """One run of one check on one variant of its probe inputs.

    In record mode (`reference is None`) the values passed to `t.reference` are stored
    as the reference; in grade mode they are compared with the stored ones.
    """

    def __init__(self, spec: CheckSpec, rng: np.random.Generator, caller: Caller,
                 reference: dict | None, timeout: float):
        self.spec = spec
        self.rng = rng
        self.tol = spec.tolerance
        self._caller = caller
        self._reference = reference
        self.recording = reference is None
        self.recorded: dict = {}
        self.cases: list[Case] = []
        self.warnings: list[str] = []
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout

    # -- calling the student's code -------------------------------------------------
    def _outcome(self, function: str, args: tuple, kwargs: dict, echo: bool):
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise StudentFailure(f"the check ran out of time before calling {function}")
        outcome = self._caller(function, args, kwargs, echo, remaining)
        if outcome.status != "ok":
            text = _failure_text(function, outcome)
            if outcome.status == "timeout":
                text += f" ({self.timeout:g} s)"
            raise StudentFailure(text)
        self.warnings = list(outcome.warnings or [])
        return outcome

    def call(self, function: str, *args, **kwargs):
        """The student's `function(*args, **kwargs)` as plain data."""
        return self._outcome(function, args, kwargs, False).value

    def call_echo(self, function: str, *args, **kwargs):
        """Like `call`, and also the arguments as they were after the call: (value, args, kwargs)."""
        outcome = self._outcome(function, args, kwargs, True)
        after_args, after_kwargs = outcome.args_after
        return outcome.value, after_args, after_kwargs

    # -- stating what must hold -------------------------------------------------------
    def _add(self, label: str, result: Comparison) -> bool:
        self.cases.append(Case(label, result.ok, result.message))
        return result.ok

    def reference(self, label: str, actual, *, hints: Sequence[Hint] = (), integer: bool = False,
                  alternative: Callable[[], tuple[str, object]] | None = None) -> bool:
        """`actual` must match the solution's value for this case (recorded from source/).

        `alternative()`, if given, returns (description, value): another acceptable answer
        (e.g. consistent with the student's own helper functions), tried only if the
        reference does not match, so that one mistake costs once.
        """
        if self.recording:
            if label in self.recorded:
                raise ValueError(f"case label {label!r} used twice in {self.spec.key}")
            self.recorded[label] = actual
            return self._add(label, Comparison(True))
        if label not in self._reference:
            return self._add(label, Comparison(False, "no reference value recorded for this case "
                                                      "(run `python -m grader references`)"))
        result = compare(actual, self._reference[label], self.tol, hints, integer)
        if not result.ok and alternative is not None:
            try:
                description, other = alternative()
            except StudentFailure:
                other = None
            if other is not None and compare(actual, other, self.tol, (), integer).ok:
                result = Comparison(True, f"accepted: consistent with {description}")
        return self._add(label, result)

    def expect(self, label: str, actual, expected, *, hints: Sequence[Hint] = (),
               integer: bool = False, tol=None) -> bool:
        """`actual` must match `expected`, computed here in the grader."""
        return self._add(label, compare(actual, expected, tol or self.tol, hints, integer))

    def require(self, label: str, ok: bool, message: str) -> bool:
        return self._add(label, Comparison(bool(ok), "" if ok else message))

    def unchanged(self, label: str, before: dict, after: dict) -> bool:
        """Arguments named in `before` must be equal, bit for bit, in `after`."""
        changed = [name for name in before if not identical(after.get(name), before[name])]
        return self.require(label, not changed,
                            "modified its argument(s) " + ", ".join(f"`{n}`" for n in changed)
                            + " in place; work on copies")

    def no_warnings(self, label: str) -> bool:
        """The last call must have raised no warning (numerical stability)."""
        shown = "; ".join(self.warnings[:2])
        return self.require(label, not self.warnings,
                            f"numpy warned during the call ({shown}); compute it without overflow")

    def finite(self, label: str, value) -> bool:
        arr = np.asarray(value) if not isinstance(value, (dict, Unsupported)) else None
        ok = arr is not None and arr.dtype.kind in "biuf" and bool(np.all(np.isfinite(arr)))
        return self.require(label, ok, "the result must be finite (no NaN or inf) for every input")


@dataclass
class Verdict:
    definition: CheckDef
    spec: CheckSpec
    passed: bool
    message: str
    recorded: dict = field(default_factory=dict)
    seconds: float = 0.0

    def result(self) -> CheckResult:
        return CheckResult(
            notebook=self.spec.notebook, function=self.spec.function, check=self.spec.name,
            title=self.definition.title, score=self.spec.points if self.passed else 0.0,
            max_score=self.spec.points, passed=self.passed, message=self.message,
            seconds=round(self.seconds, 4),
        )


MAX_CASE_MESSAGES = 3


def definition(spec: CheckSpec) -> CheckDef:
    try:
        return REGISTRY[spec.key]
    except KeyError:
        raise KeyError(f"course.yaml names check {spec.key}, which grader/checks does not declare") from None


def run(spec: CheckSpec, course: Course, caller: Caller, *, student: str | None,
        variant: int | None = None, references: dict | None = None, timeout: float = 10.0) -> Verdict:
    """Run one check. Record mode: `references is None` and `variant` given.
    Grade mode: `student` picks the variant and `references` holds every variant's values."""
    d = definition(spec)
    if variant is None:
        variant = probe_variant(course.probe_salt, student, spec.key, course.variants)
    ref = None
    if references is not None:
        ref = references.get(reference_key(spec, variant), {})
    t = Trial(spec, probe_rng(course.probe_salt, spec.key, variant), caller, ref, timeout)
    start = time.perf_counter()
    try:
        d.run(t)
    except StudentFailure as exc:
        return Verdict(d, spec, False, str(exc), seconds=time.perf_counter() - start)
    seconds = time.perf_counter() - start
    failed = [c for c in t.cases if not c.ok]
    if not t.cases:
        return Verdict(d, spec, False, "the check compared nothing (grader bug)", seconds=seconds)
    if failed:
        lines = [f"case '{c.label}': {c.message}" for c in failed[:MAX_CASE_MESSAGES]]
        if len(failed) > MAX_CASE_MESSAGES:
            lines.append(f"... and {len(failed) - MAX_CASE_MESSAGES} more failing case(s)")
        return Verdict(d, spec, False, "\n".join(lines), t.recorded, seconds)
    notes = [c.message for c in t.cases if c.message]
    return Verdict(d, spec, True, "\n".join(dict.fromkeys(notes)), t.recorded, seconds)


def reference_key(spec: CheckSpec, variant: int) -> str:
    return f"{spec.key}/{variant}"


def grade_function(fn: FunctionSpec, course: Course, caller: Caller, *, student: str,
                   references: dict, timeout: float) -> list[CheckResult]:
    """All checks of one function, graded for `student`."""
    return [run(spec, course, caller, student=student, references=references, timeout=timeout).result()
            for spec in fn.checks]


from . import activations, perceptron, xor_network  # noqa: E402,F401  (registers the checks)
