"""Everything a person reads: results.json for Gradescope, grades.csv, the LMS import CSV,
the per-student feedback pages and the class table for the terminal.

Pure functions of the results (no grading happens here), plus the atomic file writes
every module uses for every output file (`write_text`, `write_json`).

Text that comes from results (student ids, messages, captured output) is hostile: it is
escaped in HTML and Markdown, kept literal in JSON/CSV, and stripped of control
characters in the terminal table. Nothing is added to a message: what the checks wrote
is already free of hidden inputs and reference values.
"""
from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, NamedTuple

from .course import Course, NotebookSpec
from .results import CheckResult, NotebookResult, SubmissionResult

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "results.schema.json"

#: Characters of a notebook's captured output shown on a feedback page.
FEEDBACK_OUTPUT_CAP = 10_000

# ---------------------------------------------------------------------------------------
# Numbers


def points(x: float) -> float:
    """A score rounded to 4 decimals (no -0.0)."""
    value = round(float(x), 4)
    return 0.0 if value == 0 else value


def fmt_points(x: float) -> str:
    """A score as people read it: 12.5, 3, 0.25 (never 12.500000001 or 12.0)."""
    text = f"{points(x):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


# ---------------------------------------------------------------------------------------
# Atomic writes

def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()   # read once, at import: os.umask is process-wide


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically: a temporary file in the same folder, fsync,
    then os.replace. Readers see the old file or the new one, never a part. The parent
    folders are created. Line endings are written as given (no translation)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: not every OS / file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: str | os.PathLike, data) -> Path:
    """Write `data` as UTF-8 JSON (indented, NaN refused), atomically."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return write_text(path, text)


# ---------------------------------------------------------------------------------------
# Gradescope


def _summary(result: SubmissionResult) -> str:
    lines = [f"Total: {fmt_points(result.score)} / {fmt_points(result.max_score)}"]
    for nb in result.notebooks:
        lines.append(f"{nb.notebook}: {fmt_points(nb.score)} / {fmt_points(nb.max_score)}")
    problems = [f"- {p}" for p in result.problems]
    for nb in result.notebooks:
        problems.extend(f"- {nb.notebook}: {p}" for p in nb.problems)
    if problems:
        lines.append("Problems:")
        lines.extend(problems)
    return "\n".join(lines)


def _all_checks(result: SubmissionResult) -> Iterable[CheckResult]:
    for nb in result.notebooks:
        yield from nb.checks


def gradescope_results(result: SubmissionResult) -> dict:
    """The Gradescope autograder results (results.json) of one submission: one test per
    check, named "<notebook>: <function> - <what is checked>". The top-level score is
    the submission's score (Gradescope uses it instead of summing the tests)."""
    tests = []
    for check in _all_checks(result):
        tests.append({
            "name": check.name,
            "name_format": "text",
            "score": points(check.score),
            "max_score": points(check.max_score),
            "status": "passed" if check.passed else "failed",
            "output": "passed" if check.passed else (check.message or "failed"),
            "output_format": "text",
            "visibility": "visible",
        })
    return {
        "score": points(result.score),
        "max_score": points(result.max_score),
        "output": _summary(result),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


# ---------------------------------------------------------------------------------------
# CSV files

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str) -> str:
    """A text cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    value = str(value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def _latest_per_student(results: Iterable[SubmissionResult]) -> list[SubmissionResult]:
    """One result per student (the last one given wins), sorted by student id."""
    by_student = {r.student: r for r in results}
    return [by_student[s] for s in sorted(by_student)]


def _notebook_score(result: SubmissionResult, nb: NotebookSpec) -> float:
    found = result.notebook(nb.name)
    return found.score if found is not None else 0.0


def grades_rows(results: Iterable[SubmissionResult], course: Course) -> list[dict]:
    """One row per student, sorted by id: student, one score per notebook (course
    order; a notebook missing from a result scores 0), total, max_score. Scores are
    floats rounded to 4 decimals."""
    rows = []
    for result in _latest_per_student(results):
        row: dict = {"student": result.student}
        for nb in course.notebooks:
            row[nb.name] = points(_notebook_score(result, nb))
        row["total"] = points(result.score)
        row["max_score"] = points(result.max_score)
        rows.append(row)
    return rows


def grades_columns(course: Course) -> list[str]:
    return ["student", *(nb.name for nb in course.notebooks), "total", "max_score"]


def _csv_string(header: list[str], rows: Iterable[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_grades_csv(path, results: Iterable[SubmissionResult], course: Course) -> Path:
    """grades.csv: the rows of `grades_rows`, numbers without float noise. Student ids
    that a spreadsheet would take for a formula (=, +, -, @) are prefixed with '."""
    columns = grades_columns(course)
    body = []
    for row in grades_rows(results, course):
        body.append([_csv_text(row["student"])] + [fmt_points(row[c]) for c in columns[1:]])
    return write_text(path, _csv_string(columns, body))


LMS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"


def lms_assignment_column(course: Course) -> str:
    return f"{course.assignment} ({course.course_id})"


def write_lms_csv(path, results: Iterable[SubmissionResult], course: Course,
                  roster: dict | None = None, points_possible: bool = True) -> Path:
    """A gradebook import CSV in Canvas's format.

    Columns: Student, ID, SIS User ID, SIS Login ID, Section, "<assignment> (<course_id>)".
    The first data row is "Points Possible" with the assignment's maximum; then one row
    per student, sorted by id, with the total score.

    `roster` maps a student id to {"name", "sis_id", "login", "section"} (and optionally
    "id", the LMS's own user id); a missing name is the student id, a missing "id" is
    the student id, anything else missing is left empty.

    Canvas: Grades > Import, upload this file. Canvas matches students by ID, then SIS
    User ID / SIS Login ID, and matches the assignment by the number in parentheses or
    else by name, creating a new assignment column if none matches.

    Moodle: Grades > Import > CSV file. In "Identify user by", map from "SIS Login ID"
    to "username" (or from "ID" to "ID number" / "useridnumber" if the student ids are
    Moodle ID numbers), and map the "<assignment> (<course_id>)" column to the grade
    item (or "new grade item"). Moodle does not know the "Points Possible" row and
    refuses rows whose user it cannot find, so for Moodle write the file with
    `points_possible=False` (or delete that second line).
    """
    roster = roster or {}
    header = [*LMS_COLUMNS, lms_assignment_column(course)]
    rows = []
    if points_possible:
        rows.append([POINTS_POSSIBLE, "", "", "", "", fmt_points(course.points)])
    for result in _latest_per_student(results):
        info = roster.get(result.student) or {}
        rows.append([
            _csv_text(info.get("name") or result.student),
            _csv_text(info.get("id") or result.student),
            _csv_text(info.get("sis_id") or ""),
            _csv_text(info.get("login") or ""),
            _csv_text(info.get("section") or ""),
            fmt_points(result.score),
        ])
    return write_text(path, _csv_string(header, rows))


# ---------------------------------------------------------------------------------------
# Feedback pages: shared structure


class _FunctionView(NamedTuple):
    name: str
    score: float
    max_score: float
    checks: list[CheckResult]


def _function_views(nb_result: NotebookResult, spec: NotebookSpec | None) -> list[_FunctionView]:
    """The checks of a notebook grouped by function, in course order (then any function
    the course does not know); a function with no checks in the result is left out."""
    groups: dict[str, list[CheckResult]] = {fn.name: [] for fn in spec.functions} if spec else {}
    for check in nb_result.checks:
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
        views.append(_FunctionView(name, sum(c.score for c in checks), fn_max, checks))
    return views


def _notebook_views(result: SubmissionResult, course: Course):
    """(name, NotebookResult or None, NotebookSpec or None) in course order, then any
    notebook of the result the course does not know."""
    seen = set()
    for spec in course.notebooks:
        seen.add(spec.name)
        yield spec.name, result.notebook(spec.name), spec
    for nb in result.notebooks:
        if nb.notebook not in seen:
            yield nb.notebook, nb, None


def _cap_output(text: str, cap: int = FEEDBACK_OUTPUT_CAP) -> str:
    if len(text) <= cap:
        return text
    return text[:cap] + f"\n... ({len(text) - cap} more characters not shown)"


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """Hostile text for a terminal or a one-line field: control characters become '?'."""
    return _CONTROL.sub("?", str(text))


# ---------------------------------------------------------------------------------------
# Markdown

# `_` inside a word never makes emphasis (CommonMark), so 01_perceptron stays readable.
_MD_SPECIAL = re.compile(r"([\\`*\[\]|#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def _md(text: str) -> str:
    """Inline Markdown text: no raw HTML, no links or emphasis from hostile text."""
    text = _printable(text).replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _md_code_block(text: str, indent: str = "") -> list[str]:
    """A fenced code block (literal: nothing in it is rendered), fence longer than any
    run of backticks in the text."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = _CONTROL.sub("?", text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    return [f"{indent}{fence}text", *(f"{indent}{line}" for line in body), f"{indent}{fence}"]


def feedback_markdown(result: SubmissionResult, course: Course) -> str:
    """The feedback page of one submission in Markdown."""
    out = [f"# Feedback: {_md(course.assignment)}", ""]
    out.append(f"Student: **{_md(result.student)}**  ")
    if result.graded_at:
        out.append(f"Graded: {_md(result.graded_at)}  ")
    out.append(f"**Total: {fmt_points(result.score)} / {fmt_points(result.max_score)}**")
    out.append("")
    if result.problems:
        out.append("Problems with the submission:")
        out.append("")
        out.extend(f"- {_md(p)}" for p in result.problems)
        out.append("")
    for name, nb, spec in _notebook_views(result, course):
        if nb is None:
            out += [f"## {_md(name)}: 0 / {fmt_points(spec.points)}", "",
                    "No results for this notebook.", ""]
            continue
        out += [f"## {_md(name)}: {fmt_points(nb.score)} / {fmt_points(nb.max_score)}", ""]
        if nb.problems:
            out.append("Problems:")
            out.append("")
            out.extend(f"- {_md(p)}" for p in nb.problems)
            out.append("")
        for fn in _function_views(nb, spec):
            out += [f"### {_md(fn.name)}: {fmt_points(fn.score)} / {fmt_points(fn.max_score)}", ""]
            for check in fn.checks:
                verdict = "PASS" if check.passed else "FAIL"
                out.append(f"- **{verdict}** {_md(check.title)}: "
                           f"{fmt_points(check.score)} / {fmt_points(check.max_score)}")
                if not check.passed and check.message:
                    out.append("")
                    out.extend(_md_code_block(check.message, indent="  "))
                    out.append("")
            out.append("")
        if nb.output:
            out += ["#### Output of your code", ""]
            out += _md_code_block(_cap_output(nb.output))
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------
# HTML

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       background: #f6f7f9; color: #1d2125; line-height: 1.45; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem; }
h1 { margin: 0 0 .25rem; font-size: 1.6rem; }
h2 { margin: 2rem 0 .5rem; font-size: 1.3rem; border-bottom: 2px solid #d0d5dc; padding-bottom: .25rem; }
h3 { margin: 1.25rem 0 .4rem; font-size: 1.05rem; }
.meta { color: #5a6370; margin: 0 0 1rem; }
.total { font-size: 1.25rem; font-weight: 600; background: #fff; border: 1px solid #d0d5dc;
         border-radius: 6px; padding: .6rem 1rem; display: inline-block; }
.score { color: #5a6370; font-weight: normal; }
.problems { background: #fff4e5; border-left: 4px solid #e08a00; padding: .5rem 1rem .5rem 2rem; }
table { border-collapse: collapse; width: 100%; background: #fff; table-layout: fixed; }
th, td { border: 1px solid #d0d5dc; padding: .35rem .6rem; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #eef0f3; }
th:nth-child(1) { width: 4.5rem; }
th:nth-child(2) { width: 36%; }
th:nth-child(3) { width: 7rem; }
td.points { white-space: nowrap; text-align: right; }
.verdict { font-weight: 700; white-space: nowrap; }
.pass { color: #1a7f37; }
.fail { color: #c0262d; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; font-size: .9rem;
      font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
details { margin: 1rem 0; background: #fff; border: 1px solid #d0d5dc; border-radius: 6px;
          padding: .5rem 1rem; }
summary { cursor: pointer; font-weight: 600; }
@media (max-width: 40rem) {   /* phones: one block per check instead of four squeezed columns */
  main { padding: 1rem .75rem; }
  table, tbody, tr, td { display: block; }
  thead { display: none; }
  tr { border: 1px solid #d0d5dc; border-top: none; padding: .4rem .6rem; }
  tbody tr:first-child { border-top: 1px solid #d0d5dc; }
  td { border: none; padding: .1rem 0; }
  td:empty { display: none; }
  td:first-child, td:nth-child(2) { display: inline; margin-right: .4rem; }
  td.points { display: inline-block; text-align: left; color: #5a6370; }
}
"""


def _h(text) -> str:
    return html.escape(str(text), quote=True)


def _h_pre(text: str) -> str:
    return html.escape(_CONTROL.sub("?", text.replace("\r\n", "\n")), quote=True)


def _problems_html(problems: list[str], heading: str) -> list[str]:
    if not problems:
        return []
    items = "".join(f"<li>{_h(_printable(p))}</li>" for p in problems)
    return [f'<div class="problems"><p><strong>{_h(heading)}</strong></p><ul>{items}</ul></div>']


def feedback_html(result: SubmissionResult, course: Course) -> str:
    """The feedback page of one submission: a self-contained HTML5 document (inline CSS,
    no scripts, no external resources); everything from the results is escaped."""
    student = _h(_printable(result.student))
    assignment = _h(course.assignment)
    total = f"{fmt_points(result.score)} / {fmt_points(result.max_score)}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Feedback: {assignment}, {student}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>Feedback: {assignment}</h1>",
        f'<p class="meta">Student: <strong>{student}</strong>'
        + (f" &middot; graded {_h(_printable(result.graded_at))}" if result.graded_at else "")
        + "</p>",
        f'<p class="total">Total: {total}</p>',
    ]
    out += _problems_html(result.problems, "Problems with the submission")
    for name, nb, spec in _notebook_views(result, course):
        out.append("<section>")
        if nb is None:
            out.append(f'<h2>{_h(name)} <span class="score">0 / {fmt_points(spec.points)}</span></h2>')
            out.append("<p>No results for this notebook.</p>")
            out.append("</section>")
            continue
        out.append(f'<h2>{_h(name)} <span class="score">'
                   f"{fmt_points(nb.score)} / {fmt_points(nb.max_score)}</span></h2>")
        out += _problems_html(nb.problems, "Problems")
        for fn in _function_views(nb, spec):
            out.append(f'<h3>{_h(fn.name)} <span class="score">'
                       f"{fmt_points(fn.score)} / {fmt_points(fn.max_score)}</span></h3>")
            out.append("<table>")
            out.append("<thead><tr><th>Result</th><th>Check</th><th>Points</th>"
                       "<th>Details</th></tr></thead>")
            out.append("<tbody>")
            for check in fn.checks:
                verdict = ('<span class="verdict pass">PASS</span>' if check.passed
                           else '<span class="verdict fail">FAIL</span>')
                details = ""
                if not check.passed and check.message:
                    details = f"<pre>{_h_pre(check.message)}</pre>"
                out.append(
                    f"<tr><td>{verdict}</td><td>{_h(_printable(check.title))}</td>"
                    f'<td class="points">{fmt_points(check.score)} / {fmt_points(check.max_score)}</td>'
                    f"<td>{details}</td></tr>")
            out.append("</tbody>")
            out.append("</table>")
        if nb.output:
            shown = _cap_output(nb.output)
            out.append(f"<details><summary>Output of your code ({len(nb.output)} characters)</summary>"
                       f"<pre>{_h_pre(shown)}</pre></details>")
        out.append("</section>")
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------
# Terminal


def class_table(results: Iterable[SubmissionResult], course: Course) -> str:
    """A plain-text table: one row per student (id, per-notebook scores, total / max),
    then the mean row and the number of students."""
    rows = _latest_per_student(results)
    header = ["student", *(nb.name for nb in course.notebooks), "total"]
    table = [header, ["(max)", *(fmt_points(nb.points) for nb in course.notebooks),
                      fmt_points(course.points)]]
    for r in rows:
        table.append([_printable(r.student),
                      *(fmt_points(_notebook_score(r, nb)) for nb in course.notebooks),
                      f"{fmt_points(r.score)} / {fmt_points(r.max_score)}"])
    if rows:
        n = len(rows)
        table.append(["mean",
                      *(fmt_points(sum(_notebook_score(r, nb) for r in rows) / n)
                        for nb in course.notebooks),
                      f"{fmt_points(sum(r.score for r in rows) / n)} / {fmt_points(course.points)}"])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()

    out = [line(table[0]), line(table[1]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in table[2:-1]] if rows else []
    if rows:
        out.append("  ".join("-" * w for w in widths))
        out.append(line(table[-1]))
    n = len(rows)
    out.append(f"{n} student{'s' if n != 1 else ''}")
    unsafe = sum(1 for r in rows if r.isolation == "none")
    if unsafe:
        out.append(f"WARNING: {unsafe} student{'s were' if unsafe != 1 else ' was'} graded WITHOUT "
                   f"isolation (--unsafe-no-isolation): their code ran as the grader's user")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------
# Per-student files


class StudentOutputs(NamedTuple):
    results_json: Path
    feedback_html: Path
    feedback_md: Path


def safe_student_dir(student: str) -> str:
    """The student id as one folder name; refuses ids that would leave the folder."""
    if (not student or student in (".", "..") or "/" in student or "\\" in student
            or "\x00" in student):
        raise ValueError(f"unusable student id for a folder name: {student!r}")
    return student


def write_student_outputs(autograded_root, feedback_root, result: SubmissionResult,
                          course: Course) -> StudentOutputs:
    """autograded/<student>/<assignment>/results.json and
    <feedback_root>/<student>/<assignment>/feedback.html + feedback.md (the class run's
    feedback_root: course.grader_feedback_dir()), each written atomically."""
    student = safe_student_dir(result.student)
    assignment = safe_student_dir(course.assignment)
    auto_dir = Path(autograded_root) / student / assignment
    fb_dir = Path(feedback_root) / student / assignment
    return StudentOutputs(
        write_json(auto_dir / "results.json", gradescope_results(result)),
        write_text(fb_dir / "feedback.html", feedback_html(result, course)),
        write_text(fb_dir / "feedback.md", feedback_markdown(result, course)),
    )
