"""Class insights: what the class got wrong, at a glance (`python -m grader insights`).

One view model (`insights_view`), built from the results only, rendered twice: a
self-contained HTML page (`insights_html`: plots embedded as PNG, the CSS inlined, no
script, nothing fetched) and a long-format CSV (`insights_rows`, one row per check, cause,
incident group and similar pair, with every student id).

What it shows is what the results already say as data: each check's `passed` and
`failure`, the likely `causes` a check named, the notebooks' `incidents`. Check messages
(which name cases) are not shown at all, and no input or reference value is in a result,
so none can reach the page. It stays small for a class of 1,000: per-check and per-cause
rows are bounded by the course, long student lists are cut at LINKS_SHOWN (the CSV has
them all), and incident details at DETAILS_SHOWN per group.
"""
from __future__ import annotations

import base64
import io
import statistics
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .. import results as R
from ..course import Course
from ..results import SubmissionResult
from . import html
from .scores import fmt_points

LINKS_SHOWN = 60        # student ids linked per cause or incident group; the rest are counted (the CSV has all)
ROW_LINKS = 20          # ... and per function or check (a class of 1,000 fails a check by the hundred)
DETAILS_SHOWN = 40      # incident rows shown per group
DETAILS_PER_STUDENT = 3  # ... of one student (one cannot push the others off the page)
PAIRS_SHOWN = 10        # similar pairs shown side by side ...
PAIR_FUNCTIONS = 3      # ... with their most similar functions (the others are named)

FAILURE_WORDS = {
    R.WRONG: "wrong value", R.NOT_IMPLEMENTED: "not implemented", R.NOT_DEFINED: "not defined",
    R.RAISED: "raised", R.TIMEOUT: "timed out", R.CRASHED: "crashed", R.UNGRADABLE: "not numbers",
    R.NOT_GRADED: "notebook unreadable",
}

# Incident groups, in the order the page lists them: (key, heading, how the summary says it,
# incident kinds).
GROUPS = (
    ("broken", "Missing, broken or edited notebooks", "left out a notebook or handed in a broken or edited one",
     (R.UNREADABLE, R.SYNTAX_ERROR, R.LOCKED_CELL, R.ANSWER_CELL)),
    ("time", "Hit the time limit", "hit the time limit", (R.CELL_TIMEOUT, R.CPU)),
    ("memory", "Hit the memory limit", "hit the memory limit", (R.MEMORY,)),
    ("crashed", "Ended their own process", "ended their own process", (R.CELL_CRASHED,)),
    ("errors", "A cell raised an error", "had a cell that raised an error", (R.CELL_ERROR,)),
    ("output", "Printed past the output limit", "printed past the output limit", (R.OUTPUT_LIMIT,)),
    ("refused", "Tried what the sandbox forbids (what was attempted)", "tried something the sandbox forbids",
     (R.REFUSED, R.ATTEMPTED)),
)


@dataclass
class StudentList:
    ids: list[str]                      # every id, sorted
    limit: int = LINKS_SHOWN            # ids the page links; the CSV has all

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def shown(self) -> list[str]:
        return self.ids[:self.limit]

    @property
    def more(self) -> int:
        return max(0, len(self.ids) - self.limit)


@dataclass
class CheckRow:
    notebook: str
    function: str
    check: str
    title: str
    points: float
    passed: int
    of: int
    failures: list[tuple[str, int]]     # (words, count), most common first
    failed: StudentList

    @property
    def rate(self) -> float:
        return self.passed / self.of if self.of else 0.0


@dataclass
class CauseRow:
    notebook: str
    function: str
    cause: str
    students: StudentList


@dataclass
class IncidentDetail:
    student: str
    notebook: str
    where: str
    detail: str


@dataclass
class IncidentGroup:
    key: str
    heading: str
    phrase: str                         # the summary's words after the count
    students: StudentList
    details: list[IncidentDetail]       # shown: at most DETAILS_SHOWN, DETAILS_PER_STUDENT each
    every: list[IncidentDetail]         # all of them, for the CSV

    @property
    def more(self) -> int:              # details not shown
        return len(self.every) - len(self.details)


@dataclass
class PairView:
    a: str
    b: str
    score: float
    functions: list["PairFunction"]


@dataclass
class PairFunction:
    function: str
    score: float
    lines_a: list[tuple[str, bool]]     # (line, part of the shared uncommon code)
    lines_b: list[tuple[str, bool]]


@dataclass
class FunctionRow:
    notebook: str
    function: str
    points: float
    full: int                           # students who passed every check of the function
    of: int
    checks: list[CheckRow]              # its checks, hardest first
    missed: StudentList                 # students who failed at least one of them

    @property
    def rate(self) -> float:
        return self.full / self.of if self.of else 0.0

    @property
    def hardest(self) -> CheckRow:
        return self.checks[0]


@dataclass
class InsightsView:
    course_id: str
    assignment: str
    students: int
    max_score: float
    totals: list[float]
    notebook_scores: dict[str, tuple[float, list[float]]]   # notebook -> (max, scores)
    mean: float
    median: float
    full_marks: int
    checks: list[CheckRow]              # hardest first
    functions: list[FunctionRow]        # hardest first
    causes: list[CauseRow]              # most common first
    nothing: StudentList                # submitted no notebook at all
    blank: StudentList                  # submitted, but implemented nothing
    groups: list[IncidentGroup]
    pairs: list[PairView] = field(default_factory=list)     # the page shows PAIRS_SHOWN
    run: dict = field(default_factory=dict)     # the class run's own figures
    built_at: str = ""
    unsafe: StudentList = field(default_factory=lambda: StudentList([]))
    ungraded: StudentList = field(default_factory=lambda: StudentList([]))   # in submitted/, no result yet
    unusable: list[str] = field(default_factory=list)   # folders whose name cannot be an id: why
    changed: StudentList = field(default_factory=lambda: StudentList([]))    # submission changed after grading
    grader_changed: StudentList = field(default_factory=lambda: StudentList([]))   # graded by another grader


def _nothing_submitted(result: SubmissionResult) -> bool:
    return bool(result.notebooks) and all(
        any(i.kind == R.MISSING for i in nb.incidents) for nb in result.notebooks)


def _blank(result: SubmissionResult) -> bool:
    checks = [c for nb in result.notebooks for c in nb.checks]
    return bool(checks) and not _nothing_submitted(result) and all(
        not c.passed and c.failure in (R.NOT_IMPLEMENTED, R.NOT_DEFINED, R.NOT_GRADED) for c in checks) \
        and any(c.failure == R.NOT_IMPLEMENTED for c in checks)


def insights_view(course: Course, results: Sequence[SubmissionResult], *, pairs: Sequence = (),
                  run: dict | None = None, built_at: str = "", ungraded: Sequence[str] = (),
                  unusable: Sequence[str] = (), changed: Sequence[str] = (),
                  grader_changed: Sequence[str] = ()) -> InsightsView:
    """The class's insights from its results (one per student, manual grades applied).
    `pairs`: grader.report.similarity pairs, strongest first; `run`: .grader/last_run.json;
    `ungraded`: students with a submission but no result (not counted anywhere else);
    `unusable`: Course.unusable_folders(), folders no run can grade until renamed;
    `changed`, `grader_changed`: grader.insights.out_of_date."""
    results = sorted(results, key=lambda r: r.student)
    totals = [r.score for r in results]
    notebook_scores = {nb.name: (nb.points, [r.notebook_score(nb.name) for r in results])
                       for nb in course.notebooks}

    checks: list[CheckRow] = []
    causes: dict[tuple[str, str, str], list[str]] = {}
    for spec in course.checks():
        passed, failed, kinds = 0, [], {}
        for r in results:
            nb = r.notebook(spec.notebook)
            found = next((c for c in nb.checks if c.function == spec.function and c.check == spec.name),
                         None) if nb else None
            if found is not None and found.passed:
                passed += 1
                continue
            failed.append(r.student)
            kind = found.failure if found is not None and found.failure else R.NOT_GRADED
            kinds[kind] = kinds.get(kind, 0) + 1
            for cause in (found.causes if found is not None else []):
                causes.setdefault((spec.notebook, spec.function, cause), [])
                if r.student not in causes[(spec.notebook, spec.function, cause)]:
                    causes[(spec.notebook, spec.function, cause)].append(r.student)
        checks.append(CheckRow(
            spec.notebook, spec.function, spec.name, _title(spec), spec.points, passed, len(results),
            sorted(((FAILURE_WORDS.get(k, k), n) for k, n in kinds.items()), key=lambda x: (-x[1], x[0])),
            StudentList(failed, ROW_LINKS)))
    order = {nb.name: i for i, nb in enumerate(course.notebooks)}
    checks.sort(key=lambda c: (c.rate, order.get(c.notebook, 0), c.function, c.check))
    functions = []
    for nb in course.notebooks:
        for fn in nb.functions:
            mine = [c for c in checks if c.notebook == nb.name and c.function == fn.name]
            if not mine:
                continue
            missed = sorted({s for c in mine for s in c.failed.ids})
            functions.append(FunctionRow(nb.name, fn.name, fn.points, len(results) - len(missed), len(results),
                                         mine, StudentList(missed, ROW_LINKS)))
    functions.sort(key=lambda f: (f.rate, order.get(f.notebook, 0), f.function))
    cause_rows = sorted((CauseRow(nb, fn, cause, StudentList(sorted(ids)))
                         for (nb, fn, cause), ids in causes.items()),
                        key=lambda c: (-c.students.count, order.get(c.notebook, 0), c.function, c.cause))

    groups = []
    for key, heading, phrase, kinds in GROUPS:
        details = [IncidentDetail(r.student, nb.notebook, i.where, i.detail)
                   for r in results for nb in r.notebooks for i in nb.incidents if i.kind in kinds]
        if key == "broken":     # a notebook not handed in by a student who handed in others
            details += [IncidentDetail(r.student, nb.notebook, i.where, i.detail)
                        for r in results if not _nothing_submitted(r)
                        for nb in r.notebooks for i in nb.incidents if i.kind == R.MISSING]
            details.sort(key=lambda d: (d.student, order.get(d.notebook, 0)))
        ids = sorted({d.student for d in details})
        if ids:
            shown = _shown_details(details)
            groups.append(IncidentGroup(key, heading, phrase, StudentList(ids), shown, details))

    return InsightsView(
        course_id=course.course_id, assignment=course.assignment, students=len(results),
        max_score=course.points, totals=totals, notebook_scores=notebook_scores,
        mean=statistics.fmean(totals) if totals else 0.0,
        median=statistics.median(totals) if totals else 0.0,
        full_marks=sum(1 for t in totals if t >= course.points - 1e-9),
        checks=checks, functions=functions, causes=cause_rows,
        nothing=StudentList([r.student for r in results if _nothing_submitted(r)]),
        blank=StudentList([r.student for r in results if _blank(r)]),
        groups=groups, pairs=[_pair_view(p) for p in pairs],
        run=dict(run or {}), built_at=built_at,
        unsafe=StudentList([r.student for r in results if r.isolation == "none"]),
        ungraded=StudentList(sorted(ungraded)), unusable=list(unusable),
        changed=StudentList(sorted(changed)), grader_changed=StudentList(sorted(grader_changed)),
    )


def _shown_details(details: list[IncidentDetail]) -> list[IncidentDetail]:
    """The details the page shows: DETAILS_PER_STUDENT of each student at most, in order,
    DETAILS_SHOWN in all."""
    per: dict[str, int] = {}
    shown = []
    for d in details:
        if per.get(d.student, 0) < DETAILS_PER_STUDENT and len(shown) < DETAILS_SHOWN:
            per[d.student] = per.get(d.student, 0) + 1
            shown.append(d)
    return shown


def _title(spec) -> str:
    from ..checks import definition
    return definition(spec).title


def _pair_view(pair) -> PairView:
    return PairView(pair.a, pair.b, pair.score, [
        PairFunction(f.function, f.score, list(f.lines_a), list(f.lines_b)) for f in pair.functions])


# ---------------------------------------------------------------------------------------
# plots (matplotlib, Agg, PNG embedded as data: URIs)

def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _histogram(ax, values: list[float], top: float, title: str) -> None:
    import numpy as np
    edges = np.linspace(0, top, min(int(top), 20) + 1) if top >= 1 else np.linspace(0, 1, 5)
    edges[-1] += 1e-9           # full marks fall in the last bin
    # extra credit above the maximum and anything below 0 land in the end bins, not off the axis
    ax.hist(np.clip(values, 0, top), bins=edges, color="#3b6ea5", edgecolor="white")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("points")
    ax.set_ylabel("students")
    ax.set_xlim(0, top)
    from matplotlib.ticker import MaxNLocator
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))     # students come whole


def plots(view: InsightsView) -> dict[str, str]:
    """name -> PNG data URI: totals, notebooks (one panel each), functions and checks (the
    share of the class passing each, hardest first)."""
    plt = _pyplot()
    out = {}
    fig, ax = plt.subplots(figsize=(7, 2.8))
    _histogram(ax, view.totals, view.max_score, f"Totals ({view.students} students, out of {fmt_points(view.max_score)})")
    out["totals"] = _png(fig)

    fig, axes = plt.subplots(1, len(view.notebook_scores), figsize=(3.2 * len(view.notebook_scores), 2.6),
                             squeeze=False)
    for ax, (name, (top, scores)) in zip(axes[0], view.notebook_scores.items()):
        _histogram(ax, scores, top, f"{name} (out of {fmt_points(top)})")
    fig.tight_layout()
    out["notebooks"] = _png(fig)

    twice = {f.function for f in view.functions if sum(g.function == f.function for g in view.functions) > 1}

    def label(notebook: str, function: str) -> str:
        return f"{function} ({notebook})" if function in twice else function

    out["functions"] = _pass_rates(plt, [label(f.notebook, f.function) for f in view.functions],
                                   [100 * f.rate for f in view.functions],
                                   "Functions, hardest first", "% of students passing every check")
    out["checks"] = _pass_rates(plt, [f"{label(c.notebook, c.function)}: {c.check}" for c in view.checks],
                                [100 * c.rate for c in view.checks], "Checks, hardest first",
                                "% of students passing")
    return out


def _pass_rates(plt, labels: list[str], rates: list[float], title: str, xlabel: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(labels) + 0.8))
    ax.barh(range(len(labels)), rates, color=["#c0392b" if r < 50 else "#e0a030" if r < 80 else "#3b8f5a"
                                              for r in rates])
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    return _png(fig)


# ---------------------------------------------------------------------------------------
# renderers

def insights_html(view: InsightsView, feedback_href: Callable[[str], str]) -> str:
    """The page: a self-contained HTML5 document; everything from the results is escaped.
    `feedback_href(student)` gives the link from the page to that student's feedback page."""
    return html.render("insights.html.j2", view=view, plots=plots(view), href=feedback_href,
                       fmt=fmt_points, plural=_plural, pairs_shown=PAIRS_SHOWN, pair_functions=PAIR_FUNCTIONS, css=html.stylesheet("insights.css"))


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


IDS = "; "               # between student ids in a CSV cell (an id may hold spaces)
CSV_COLUMNS = ["section", "notebook", "function", "check", "what", "count", "of", "students"]


def insights_rows(view: InsightsView) -> list[list]:
    """The CSV's rows (after CSV_COLUMNS): every check, function, cause, incident group and pair,
    with every student id (separated by IDS)."""
    rows: list[list] = []
    for c in view.checks:
        failures = "; ".join(f"{w}: {n}" for w, n in c.failures)
        rows.append(["check", c.notebook, c.function, c.check, f"{c.title}" + (f" ({failures})" if failures else ""),
                     c.passed, c.of, IDS.join(c.failed.ids)])
    for f in view.functions:
        rows.append(["function", f.notebook, f.function, "", "passed every check", f.full, f.of,
                     IDS.join(f.missed.ids)])
    for c in view.causes:
        rows.append(["cause", c.notebook, c.function, "", c.cause, c.students.count, view.students,
                     IDS.join(c.students.ids)])
    rows.append(["nothing_submitted", "", "", "", "submitted no notebook", view.nothing.count, view.students,
                 IDS.join(view.nothing.ids)])
    rows.append(["ungraded", "", "", "", "submitted, not graded yet", view.ungraded.count, view.students,
                 IDS.join(view.ungraded.ids)])
    rows.append(["changed", "", "", "", "submission changed after it was graded", view.changed.count,
                 view.students, IDS.join(view.changed.ids)])
    rows.append(["regrade", "", "", "", "graded with other checks, references or course.yaml than today's",
                 view.grader_changed.count, view.students, IDS.join(view.grader_changed.ids)])
    for line in view.unusable:
        rows.append(["unusable_folder", "", "", "", line, 1, view.students, ""])
    rows.append(["blank", "", "", "", "submitted, implemented nothing", view.blank.count, view.students,
                 IDS.join(view.blank.ids)])
    for g in view.groups:
        rows.append([g.key, "", "", "", g.heading, g.students.count, view.students, IDS.join(g.students.ids)])
        for d in g.every:
            rows.append([f"{g.key}_detail", d.notebook, d.where, "", d.detail, 1, "", d.student])
    for p in view.pairs:
        rows.append(["similar", "", " ".join(f.function for f in p.functions), "", f"score {p.score:.2f}", 2,
                     view.students, IDS.join([p.a, p.b])])
    return rows
