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
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol, Sequence

import numpy as np

from ..compare import Comparison, Hint, compare, consistent, describe_type, identical
from ..course import CheckSpec, Course, FunctionSpec, NotebookSpec
from ..probes import rng as probe_rng
from ..probes import variant as probe_variant
from .. import results as R
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
    """The student's function could not produce a value for this check (or this case).

    A fatal failure ends the whole check (the function is not defined, not implemented,
    timed out, or its process died); any other ends only the case it happened in.
    `kind` says why, in one word (grader.results.FAILURES)."""

    def __init__(self, message: str, fatal: bool = False, kind: str = R.WRONG):
        super().__init__(message)
        self.fatal = fatal
        self.kind = kind


@dataclass
class Case:
    label: str
    comparison: Comparison
    kind: str = R.WRONG     # why it failed, when it did (grader.results.FAILURES)

    @property
    def ok(self) -> bool:
        return self.comparison.ok

    @property
    def message(self) -> str:
        return self.comparison.message


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


def _failure(function: str, outcome) -> StudentFailure:
    msg = (outcome.message or "").strip()
    if outcome.status == "error":
        if msg.startswith("NotImplementedError"):
            return StudentFailure(f"{function} is not implemented yet (it raises NotImplementedError)", True,
                                  R.NOT_IMPLEMENTED)
        if msg.startswith("NameError") and repr(function) in msg.splitlines()[0]:
            return StudentFailure(f"{function} is not defined (is its answer cell missing or broken?)", True,
                                  R.NOT_DEFINED)
        if msg.startswith(("ModuleNotFoundError", "ImportError")):
            return StudentFailure(f"{function} raised {msg}\n  (that module is not available when grading: "
                                  "use numpy and the standard library only)", kind=R.RAISED)
        # a function that timed out earlier is replaced by a stub raising this (runners._STOPPED)
        stopped = msg.startswith("TimeoutError:") and "so it is not run again" in msg.splitlines()[0]
        return StudentFailure(f"{function} raised {msg}", kind=R.TIMEOUT if stopped else R.RAISED)
    if outcome.status == "timeout":
        return StudentFailure(f"{function} did not finish within the check's time limit", True, R.TIMEOUT)
    if outcome.status == "crashed":
        return StudentFailure(f"the process running {function} died: {msg}", True, R.CRASHED)
    return StudentFailure(f"{function} returned something that cannot be graded: {msg}", kind=R.UNGRADABLE)


class Trial:
    """One run of one check on one variant of its probe inputs.

    In record mode (`reference is None`) the values passed to `t.reference` are stored
    as the reference; in grade mode they are compared with the stored ones.

    `standins` (grade mode only): {"source": code, "names": [...]}: for every call of this
    trial the caller puts the grader's own versions of those functions (defined by `code`)
    in place of the student's, so that a helper's mistake is not counted again here.
    """

    def __init__(self, spec: CheckSpec, rng: np.random.Generator, caller: Caller,
                 reference: dict | None, timeout: float, standins: dict | None = None):
        self.spec = spec
        self.rng = rng
        self.tol = spec.tolerance
        self._caller = caller
        self._reference = reference
        self._standins = standins
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
            raise StudentFailure(f"the check ran out of time before calling {function}", True, R.TIMEOUT)
        if self._standins:
            outcome = self._caller(function, args, kwargs, echo, remaining, standins=self._standins)
        else:
            outcome = self._caller(function, args, kwargs, echo, remaining)
        self.warnings = list(outcome.warnings or [])
        # A value that is not plain data (an object array, a function) still comes back,
        # with wire.Unsupported where it could not be encoded: compared, it is a failed case
        # that says what the value was, and the other cases still run.
        if outcome.status == "bad_output" and outcome.value is not None:
            return outcome
        if outcome.status != "ok":
            failure = _failure(function, outcome)
            if outcome.status == "timeout":
                failure.args = (f"{failure} ({self.timeout:g} s)",)
            raise failure
        return outcome

    def call(self, function: str, *args, **kwargs):
        """The student's `function(*args, **kwargs)` as plain data."""
        return self._outcome(function, args, kwargs, False).value

    def call_echo(self, function: str, *args, **kwargs):
        """Like `call`, and also the arguments as they were after the call: (value, args, kwargs)."""
        outcome = self._outcome(function, args, kwargs, True)
        if outcome.args_after is None:
            raise StudentFailure(f"{function} returned something that cannot be graded: {outcome.message}",
                                 kind=R.UNGRADABLE)
        after_args, after_kwargs = outcome.args_after
        return outcome.value, after_args, after_kwargs

    @contextmanager
    def case(self, label: str):
        """A case whose calls may fail: a failure that is not fatal fails this case only."""
        try:
            yield
        except StudentFailure as exc:
            if exc.fatal or self.recording:
                raise
            self.cases.append(Case(label, Comparison(False, str(exc)), exc.kind))

    # -- stating what must hold -------------------------------------------------------
    def _add(self, label: str, result: Comparison) -> bool:
        self.cases.append(Case(label, result))
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
            except (StudentFailure, TypeError, ValueError):
                other = None
            if other is not None and compare(actual, other, self.tol, (), integer).ok:
                result = Comparison(True, f"accepted: consistent with {description}")
        return self._add(label, result)

    def expect(self, label: str, actual, expected, *, hints: Sequence[Hint] = (),
               integer: bool = False, tol=None, dtype="auto") -> bool:
        """`actual` must match `expected`, computed here in the grader."""
        return self._add(label, compare(actual, expected, tol or self.tol, hints, integer, dtype=dtype))

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
        arr = numbers(value)
        if arr is None:
            return self.require(label, False, f"expected float64 numbers, got {describe_type(value)}")
        return self.require(label, bool(np.all(np.isfinite(arr))),
                            "the result must be finite (no NaN or inf) for every input")


def numbers(value) -> np.ndarray | None:
    """`value` as a float array if it is real numbers (any dtype), else None."""
    if isinstance(value, (dict, Unsupported)) or value is None:
        return None
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        return None
    return arr.astype(float) if arr.dtype.kind in "biuf" else None


@dataclass
class Verdict:
    definition: CheckDef
    spec: CheckSpec
    passed: bool
    message: str
    recorded: dict = field(default_factory=dict)
    seconds: float = 0.0
    failure: str = ""                   # why it failed (grader.results.FAILURES)
    causes: tuple = ()                  # the likely causes its message names

    def result(self) -> CheckResult:
        return CheckResult(
            notebook=self.spec.notebook, function=self.spec.function, check=self.spec.name,
            title=self.definition.title, score=self.spec.points if self.passed else 0.0,
            max_score=self.spec.points, passed=self.passed, message=self.message,
            seconds=round(self.seconds, 4), failure="" if self.passed else (self.failure or R.WRONG),
            causes=list(self.causes),
        )


MAX_CASE_LINES = 6      # failing cases described in full; the rest are named
MAX_NAMED = 12


def definition(spec: CheckSpec) -> CheckDef:
    try:
        return REGISTRY[spec.key]
    except KeyError:
        raise KeyError(f"course.yaml names check {spec.key}, which grader/checks does not declare") from None


def named_causes(cases: list[Case]) -> tuple:
    """The likely causes that the failure lines of `cases` name, in order, each once."""
    causes = consistent([c.comparison for c in cases])
    named = [next((text for key, text in c.comparison.causes if (key, text) in causes), "")
             for c in cases if not c.ok]
    return tuple(dict.fromkeys(n for n in named if n))


def failure_kind(cases: list[Case], fallback: str = R.WRONG) -> str:
    """Why the failed cases failed, in one word: the most common kind among them."""
    kinds = [c.kind for c in cases if not c.ok]
    return max(dict.fromkeys(kinds), key=kinds.count) if kinds else fallback


def describe_failures(cases: list[Case]) -> list[str]:
    """One line per distinct failure: the cases it happened in, what differs, and a likely
    cause only where that cause explains every case of the check it was tried on."""
    causes = consistent([c.comparison for c in cases])
    groups: dict[str, list[str]] = {}
    for c in cases:
        if c.ok:
            continue
        named = next((text for key, text in c.comparison.causes if (key, text) in causes), "")
        text = c.comparison.detail + (f". Likely cause: {named}" if named else "")
        groups.setdefault(text, []).append(c.label)
    lines = []
    for text, labels in groups.items():
        if len(lines) == MAX_CASE_LINES:
            rest = [label for ls in list(groups.values())[MAX_CASE_LINES:] for label in ls]
            shown = ", ".join(f"'{label}'" for label in rest[:MAX_NAMED])
            more = f" and {len(rest) - MAX_NAMED} more" if len(rest) > MAX_NAMED else ""
            lines.append(f"... also failing: {shown}{more}")
            break
        which = "case" if len(labels) == 1 else "cases"
        lines.append(f"{which} " + ", ".join(f"'{label}'" for label in labels) + f": {text}")
    return lines


def run(spec: CheckSpec, course: Course, caller: Caller, *, student: str | None,
        variant: int | None = None, references: dict | None = None, timeout: float = 10.0,
        standins: dict | None = None) -> Verdict:
    """Run one check. Record mode: `references is None` and `variant` given.
    Grade mode: `student` picks the variant (unless `variant` is given) and `references`
    holds every variant's values."""
    d = definition(spec)
    if variant is None:
        variant = probe_variant(course.probe_salt, student, spec.key, course.variants)
    ref = None
    if references is not None:
        ref = references.get(reference_key(spec, variant), {})
    t = Trial(spec, probe_rng(course.probe_salt, spec.key, variant), caller, ref, timeout, standins)
    start = time.perf_counter()
    try:
        d.run(t)
    except StudentFailure as exc:
        lines = [str(exc)] + describe_failures(t.cases)
        return Verdict(d, spec, False, "\n".join(lines), seconds=time.perf_counter() - start,
                       failure=exc.kind, causes=named_causes(t.cases))
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        if t.recording:
            raise
        # a value of a kind the check did not expect (grader-side arithmetic on it failed)
        lines = describe_failures(t.cases) + [
            f"the check could not use what {spec.function} returned ({type(exc).__name__}: {str(exc)[:200]})"]
        return Verdict(d, spec, False, "\n".join(lines), seconds=time.perf_counter() - start,
                       failure=R.UNGRADABLE, causes=named_causes(t.cases))
    seconds = time.perf_counter() - start
    failed = [c for c in t.cases if not c.ok]
    if not t.cases:
        return Verdict(d, spec, False, "the check compared nothing (grader bug)", seconds=seconds)
    if failed:
        return Verdict(d, spec, False, "\n".join(describe_failures(t.cases)), t.recorded, seconds,
                       failure=failure_kind(t.cases), causes=named_causes(t.cases))
    notes = [c.comparison.detail for c in t.cases if c.comparison.detail]
    return Verdict(d, spec, True, "\n".join(dict.fromkeys(notes)), t.recorded, seconds)


def reference_key(spec: CheckSpec, variant: int) -> str:
    return f"{spec.key}/{variant}"


def grade_function(fn: FunctionSpec, course: Course, caller: Caller, *, student: str,
                   references: dict, timeout: float, variant: int | None = None) -> list[CheckResult]:
    """All checks of one function, graded for `student` (each with its own helpers)."""
    return [run(spec, course, caller, student=student, references=references, timeout=timeout,
                variant=variant).result()
            for spec in fn.checks]


def grade_notebook(nb: NotebookSpec, course: Course, caller: Caller, *, student: str,
                   references: dict, timeout: float, variant: int | None = None) -> list[CheckResult]:
    """Every check of every function of `nb`, in the notebook's order, so that one mistake
    costs once: a check that fails while an earlier function of the notebook failed one of
    its own checks is run again with the grader's versions of those earlier functions in
    place of the student's (if the caller can do that: `caller.standins`), and passes if it
    passes so.

    Why stand-ins cannot be kept for profit: a stand-in for function H is only ever put in
    place while a function graded *after* H runs, so every check of H is over by then; a
    student function that stashes it can only use it for checks whose functions would get
    the same stand-in anyway (tests/test_fairness.py tries it)."""
    can_substitute = bool(getattr(caller, "standins", False))
    failed: list[str] = []
    results: list[CheckResult] = []
    for fn in nb.functions:
        own: list[CheckResult] = []
        for spec in fn.checks:
            verdict = run(spec, course, caller, student=student, references=references,
                          timeout=timeout, variant=variant)
            helpers = [name for name in failed if name in standin_names(nb.name)]
            if not verdict.passed and can_substitute and helpers:
                again = run(spec, course, caller, student=student, references=references, timeout=timeout,
                            variant=variant, standins={"source": standin_source(nb.name), "names": helpers})
                verdict = _with_standins(verdict, again, helpers)
            own.append(verdict.result())
        if any(not r.passed for r in own):
            failed.append(fn.name)
        results.extend(own)
    return results


def _with_standins(first: Verdict, again: Verdict, helpers: list[str]) -> Verdict:
    names = ", ".join(f"`{h}`" for h in helpers)
    yours = "yours fails" if len(helpers) == 1 else "yours fail"
    if again.passed:
        return replace(again, message=f"passes when graded with a correct {names} in place of yours "
                                      f"({yours} its own checks, which is where that costs points)")
    return replace(again, message=f"(graded with a correct {names} in place of yours, because {yours} "
                                  f"its own checks)\n{again.message}")


from .standins import standin_names, standin_source  # noqa: E402
from . import activations, perceptron, xor_network  # noqa: E402,F401  (registers the checks)
