"""The class table for the terminal."""
from __future__ import annotations

from typing import Iterable

from ..course import Course
from ..results import SubmissionResult, latest_per_student
from .scores import fmt_points
from .text import printable


def class_table(results: Iterable[SubmissionResult], course: Course) -> str:
    """A plain-text table: one row per student (id, per-notebook scores, total / max),
    then the mean row and the number of students."""
    rows = latest_per_student(results)
    header = ["student", *(nb.name for nb in course.notebooks), "total"]
    table = [header, ["(max)", *(fmt_points(nb.points) for nb in course.notebooks),
                      fmt_points(course.points)]]
    for r in rows:
        table.append([printable(r.student),
                      *(fmt_points(r.notebook_score(nb.name)) for nb in course.notebooks),
                      f"{fmt_points(r.score)} / {fmt_points(r.max_score)}"])
    if rows:
        n = len(rows)
        table.append(["mean",
                      *(fmt_points(sum(r.notebook_score(nb.name) for r in rows) / n)
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
