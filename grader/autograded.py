"""autograded/<student>/<assignment>/<notebook>.ipynb, as nbgrader's own autograde leaves it.

nbgrader's formgrader lists a notebook of a submission only if this file exists, opens it
for manual grading, and `nbgrader generate_feedback` turns it into the student's
feedback page. nbgrader's autograde makes it from the submitted notebook by clearing the
outputs (ClearOutput), keeping the first cell of each grade_id (DeduplicateIds), giving
back the course's kernelspec (OverwriteKernelspec) and the course's text and nbgrader
metadata to every locked cell (OverwriteCells), then executing it. We do the same except
the execution: each graded cell's output is our verdict for that function (points, each
check PASS/FAIL, the failing checks' diagnostics and likely causes: never a hidden input or
a reference value, see grader.compare), and its execute_result is the points, as the
hidden-test cell's own `grade(...)` would print and return.

Unlike nbgrader, a notebook that was not submitted or cannot be read still gets a file
(the release notebook, with the reason as the verdict), so every student has a page per
notebook in the formgrader and in their feedback.

Everything here is a pure function of its arguments except `write_notebooks` and
`copy_submission_files`, which write (atomically) under autograded/.
"""
from __future__ import annotations

import copy
import json
import os
import re
import stat
from pathlib import Path

from . import files
from .course import Course, FunctionSpec, NotebookSpec
from .notebook import NotebookUnreadable, cell_source, nbgrader_meta, read
from .results import CheckResult, NotebookResult, SubmissionResult

# Files nbgrader's exchange puts in a submission that its later steps read from
# autograded/ and feedback/: release_feedback needs both, the formgrader the timestamp.
NBGRADER_FILES = ("timestamp.txt", "submission_secret.txt")
MAX_NBGRADER_FILE_BYTES = 4096

_QUOTED_ID = re.compile(r"'([^']+)'")


def _fmt(x: float) -> str:
    return f"{round(float(x), 6):g}"


def function_verdict(fn: FunctionSpec, checks: list[CheckResult], problems: list[str] = ()) -> str:
    """What the graded cell of `fn` prints: the same lines as grader.kernel.grade."""
    score = round(sum(c.score for c in checks), 6)
    lines = [f"{fn.name}: {_fmt(score)} / {_fmt(fn.points)} points"]
    lines.extend(f"  ! {p}" for p in problems)
    for c in checks:
        lines.append(f"  {'PASS' if c.passed else 'FAIL'} {c.title} ({_fmt(c.score)}/{_fmt(c.max_score)})")
        if not c.passed and c.message:
            lines.extend("       " + line for line in c.message.splitlines())
    return "\n".join(lines) + "\n"


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _score_output(score: float) -> dict:
    return {"output_type": "execute_result", "execution_count": None, "metadata": {},
            "data": {"text/plain": _fmt(score)}}


def _clean(cell: dict) -> dict:
    """A copy of the cell as ClearOutput leaves it (attachments kept, as nbgrader does)."""
    out = {k: copy.deepcopy(v) for k, v in cell.items() if k not in ("outputs", "execution_count")}
    out["source"] = cell_source(cell)
    out.setdefault("metadata", {})
    if out.get("cell_type") == "code":
        out["outputs"], out["execution_count"] = [], None
    return out


def _course_cell(source_cell: dict, release_cell: dict | None) -> dict:
    """The course's version of a cell: the solution stub for answer cells, the full source
    (hidden tests included, as OverwriteCells restores them) for locked cells."""
    meta = nbgrader_meta(source_cell)
    base = release_cell if (meta.get("solution") and release_cell is not None) else source_cell
    return _clean(base)


def sanitized_cells(source: dict, release: dict | None, submitted: dict | None) -> list[dict]:
    """The submitted cells as nbgrader's sanitize step leaves them (see the module
    docstring); the release's cells if there is no readable submission. Course cells the
    student deleted are put back after the course cell that precedes them."""
    src_cells = {nbgrader_meta(c).get("grade_id"): c for c in source["cells"] if nbgrader_meta(c).get("grade_id")}
    order = list(src_cells)
    rel_cells = {}
    if release is not None:
        rel_cells = {nbgrader_meta(c).get("grade_id"): c for c in release["cells"] if nbgrader_meta(c).get("grade_id")}
    base = submitted if submitted is not None else (release or source)
    cells, seen = [], set()
    for cell in base["cells"]:
        if not isinstance(cell, dict):
            continue
        out = _clean(cell)
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in src_cells and gid not in seen:
            seen.add(gid)
            course_meta = copy.deepcopy(nbgrader_meta(src_cells[gid]))
            if not course_meta.get("solution"):      # locked: the course's text and type
                out = _course_cell(src_cells[gid], rel_cells.get(gid))
            out["cell_type"] = src_cells[gid].get("cell_type", out.get("cell_type"))
            if out["cell_type"] == "code":
                out.setdefault("outputs", [])
                out.setdefault("execution_count", None)
            else:
                out.pop("outputs", None)
                out.pop("execution_count", None)
            out["metadata"] = {**out.get("metadata", {}), "nbgrader": course_meta}
        elif "nbgrader" in out.get("metadata", {}):
            # a copy of a course cell, or metadata the course does not know: nbgrader
            # (DeduplicateIds) drops it, and the formgrader would fail on an unknown id
            out["metadata"] = {k: v for k, v in out["metadata"].items() if k != "nbgrader"}
        cells.append(out)
    for i, gid in enumerate(order):
        if gid in seen:
            continue
        restored = _course_cell(src_cells[gid], rel_cells.get(gid))
        where = 0
        for before in reversed(order[:i]):
            found = [k for k, c in enumerate(cells) if nbgrader_meta(c).get("grade_id") == before]
            if found:
                where = found[0] + 1
                break
        cells.insert(where, restored)
        seen.add(gid)
    _unique_ids(cells)
    return cells


def _unique_ids(cells: list[dict]) -> None:
    """nbformat 4.5 needs a unique id per cell (students copy cells, and with them ids)."""
    used: set[str] = set()
    for n, cell in enumerate(cells):
        cid = cell.get("id")
        if not isinstance(cid, str) or not re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", cid) or cid in used:
            cid = f"cell-{n}"
            while cid in used:
                cid += "-x"
            cell["id"] = cid
        used.add(cid)


def _problems_by_cell(problems: list[str], ids: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Problems that name a cell ('relu_answer', 'tanh') go to that cell; the rest are
    about the notebook."""
    per_cell: dict[str, list[str]] = {}
    general = []
    for p in problems:
        named = [q for q in _QUOTED_ID.findall(p) if q in ids]
        if named:
            per_cell.setdefault(named[0], []).append(p)
        else:
            general.append(p)
    return per_cell, general


def autograded_notebook(spec: NotebookSpec, source: dict, release: dict | None,
                        submitted: dict | None, result: NotebookResult,
                        extra_problems: list[str] = ()) -> dict:
    """The autograded notebook (nbformat 4 dict) of one submitted notebook and its result."""
    cells = sanitized_cells(source, release, submitted)
    ids = {nbgrader_meta(c).get("grade_id") for c in cells} - {None}
    per_cell, general = _problems_by_cell([*extra_problems, *result.problems], ids)
    checks: dict[str, list[CheckResult]] = {}
    for c in result.checks:
        checks.setdefault(c.function, []).append(c)
    first_graded = True
    for cell in cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if cell.get("cell_type") != "code" or not gid:
            continue
        if meta.get("grade"):
            try:
                fn = spec.function(gid)
            except KeyError:
                continue
            mine = checks.get(fn.name, [])
            head = ""
            if first_graded and general:
                head = "Problems with this notebook:\n" + "".join(f"  - {p}\n" for p in general) + "\n"
                first_graded = False
            answer_problems = per_cell.get(f"{fn.name}_answer", []) + per_cell.get(fn.name, [])
            cell["outputs"] = [_stream(head + function_verdict(fn, mine, answer_problems)),
                               _score_output(sum(c.score for c in mine))]
        elif gid in per_cell:
            cell["outputs"] = [_stream("".join(f"{p}\n" for p in per_cell[gid]))]
    base = submitted if submitted is not None else (release or source)
    metadata = copy.deepcopy(base.get("metadata")) if isinstance(base.get("metadata"), dict) else {}
    if "kernelspec" in source.get("metadata", {}):
        metadata["kernelspec"] = copy.deepcopy(source["metadata"]["kernelspec"])
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def _read_or_none(path: Path) -> tuple[dict | None, str | None]:
    try:
        return read(path), None
    except NotebookUnreadable as exc:
        return None, str(exc)


def notebook_path(course: Course, student: str, spec: NotebookSpec) -> Path:
    return course.autograded_student_dir(student) / spec.filename


def write_notebooks(course: Course, result: SubmissionResult, submitted_folder: Path | None = None) -> list[Path]:
    """Write autograded/<student>/<assignment>/<notebook>.ipynb for every notebook of the
    course (atomically), and copy nbgrader's files of the submission next to them."""
    folder = submitted_folder or course.submission_dir(result.student)
    written = []
    for spec in course.notebooks:
        source = read(course.source_dir() / spec.filename)
        release, _ = _read_or_none(course.release_dir() / spec.filename)
        submitted, why = _read_or_none(folder / spec.filename)
        nb_result = result.notebook(spec.name) or NotebookResult(spec.name, 0.0, spec.points)
        extra = [why] if why and why not in nb_result.problems else []
        try:
            nb = autograded_notebook(spec, source, release, submitted, nb_result, extra)
        except Exception as exc:  # noqa: BLE001 - an odd submission must not stop the class run
            why = f"the submitted notebook could not be shown here ({type(exc).__name__}); this is the release"
            nb = autograded_notebook(spec, source, release, None, nb_result, [*extra, why])
        path = notebook_path(course, result.student, spec)
        files.write_text(path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        written.append(path)
    copy_submission_files(folder, course.autograded_student_dir(result.student))
    return written


def copy_submission_files(submitted: Path, autograded: Path) -> list[str]:
    """Copy nbgrader's timestamp.txt and submission_secret.txt (regular, small files only:
    a submission is student-controlled) from a submission to its autograded folder, as
    nbgrader's autograde copies them; remove stale ones the submission no longer has."""
    copied = []
    autograded.mkdir(parents=True, exist_ok=True)
    for name in NBGRADER_FILES:
        src, dest = submitted / name, autograded / name
        try:
            st = os.lstat(src)
        except OSError:
            dest.unlink(missing_ok=True)
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_NBGRADER_FILE_BYTES:
            dest.unlink(missing_ok=True)
            continue
        try:
            fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            dest.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_NBGRADER_FILE_BYTES + 1)
        if len(data) > MAX_NBGRADER_FILE_BYTES:
            dest.unlink(missing_ok=True)
            continue
        files.write_bytes(dest, data)
        copied.append(name)
    return copied
