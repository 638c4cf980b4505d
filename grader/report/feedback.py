"""The feedback page of one submission: one view model (`feedback_view`), rendered twice,
as Markdown (`feedback_markdown`) and as a self-contained HTML page (`feedback_html`,
from feedback.html.j2 with feedback.css inlined: no scripts, no external resources).

The view model holds text already made printable (text.printable / text.block); each
renderer escapes it for its own format.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..course import Course, NotebookSpec
from ..results import NotebookResult, SubmissionResult
from . import html, text
from .scores import fmt_points

#: Characters of a notebook's captured output shown on a feedback page.
FEEDBACK_OUTPUT_CAP = 10_000

@dataclass
class CheckView:
    passed: bool
    title: str
    points: str                  # "0.75 / 1"
    message: str = ""            # shown only for a failed check

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"


@dataclass
class FunctionView:
    name: str
    points: str
    checks: list[CheckView]


@dataclass
class NotebookView:
    name: str
    points: str
    graded: bool                 # False: no results for this notebook
    problems: list[str] = field(default_factory=list)
    functions: list[FunctionView] = field(default_factory=list)
    output: str = ""             # capped
    output_chars: int = 0        # before the cap


@dataclass
class FeedbackView:
    assignment: str
    student: str
    graded_at: str
    total: str
    problems: list[str]
    notebooks: list[NotebookView]


def _cap(output: str, cap: int = FEEDBACK_OUTPUT_CAP) -> str:
    if len(output) <= cap:
        return output
    return output[:cap] + f"\n... ({len(output) - cap} more characters not shown)"


def _functions(nb: NotebookResult, spec: NotebookSpec | None) -> list[FunctionView]:
    """The checks of a notebook grouped by function, in course order (then any function
    the course does not know); a function with no checks in the result is left out."""
    groups: dict[str, list] = {fn.name: [] for fn in spec.functions} if spec else {}
    for check in nb.checks:
        groups.setdefault(check.function, []).append(check)
    views = []
    for name, checks in groups.items():
        if not checks:
            continue
        fn_max = sum(c.max_score for c in checks)
        if spec is not None:
            try:
                fn_max = spec.function(name).points
            except KeyError:
                pass
        views.append(FunctionView(
            text.printable(name), f"{fmt_points(sum(c.score for c in checks))} / {fmt_points(fn_max)}",
            [CheckView(c.passed, text.printable(c.title), f"{fmt_points(c.score)} / {fmt_points(c.max_score)}",
                       "" if c.passed else text.block(c.message or ""))
             for c in checks]))
    return views


def feedback_view(result: SubmissionResult, course: Course) -> FeedbackView:
    """What a feedback page shows, in course order (then any notebook of the result that
    the course does not know)."""
    notebooks = []
    seen = set()
    pairs = [(spec.name, result.notebook(spec.name), spec) for spec in course.notebooks]
    seen.update(spec.name for spec in course.notebooks)
    pairs += [(nb.notebook, nb, None) for nb in result.notebooks if nb.notebook not in seen]
    for name, nb, spec in pairs:
        if nb is None:
            notebooks.append(NotebookView(text.printable(name), f"0 / {fmt_points(spec.points)}", graded=False))
            continue
        notebooks.append(NotebookView(
            text.printable(name), f"{fmt_points(nb.score)} / {fmt_points(nb.max_score)}", graded=True,
            problems=[text.printable(p) for p in nb.problems], functions=_functions(nb, spec),
            output=text.block(_cap(nb.output)) if nb.output else "", output_chars=len(nb.output)))
    return FeedbackView(
        assignment=text.printable(course.assignment), student=text.printable(result.student),
        graded_at=text.printable(result.graded_at), total=f"{fmt_points(result.score)} / {fmt_points(result.max_score)}",
        problems=[text.printable(p) for p in result.problems], notebooks=notebooks)


# ---------------------------------------------------------------------------------------
# Markdown


def feedback_markdown(result: SubmissionResult, course: Course) -> str:
    """The feedback page of one submission in Markdown."""
    view = feedback_view(result, course)
    md = text.md_inline
    out = [f"# Feedback: {md(view.assignment)}", "", f"Student: **{md(view.student)}**  "]
    if view.graded_at:
        out.append(f"Graded: {md(view.graded_at)}  ")
    out += [f"**Total: {view.total}**", ""]
    if view.problems:
        out += ["Problems with the submission:", "", *(f"- {md(p)}" for p in view.problems), ""]
    for nb in view.notebooks:
        out += [f"## {md(nb.name)}: {nb.points}", ""]
        if not nb.graded:
            out += ["No results for this notebook.", ""]
            continue
        if nb.problems:
            out += ["Problems:", "", *(f"- {md(p)}" for p in nb.problems), ""]
        for fn in nb.functions:
            out += [f"### {md(fn.name)}: {fn.points}", ""]
            for check in fn.checks:
                out.append(f"- **{check.verdict}** {md(check.title)}: {check.points}")
                if check.message:
                    out += ["", *text.md_code_block(check.message, indent="  "), ""]
            out.append("")
        if nb.output:
            out += ["#### Output of your code", "", *text.md_code_block(nb.output), ""]
    return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------
# HTML


def feedback_html(result: SubmissionResult, course: Course) -> str:
    """The feedback page of one submission: a self-contained HTML5 document; everything
    from the results is escaped (Jinja2's autoescape)."""
    return html.render("feedback.html.j2", view=feedback_view(result, course), css=html.stylesheet("feedback.css"))
