"""Notebook I/O: the cells the grader runs, and what a submission did to them.

The grader runs, in source order, the given `setup` cells taken from source/ and the
student's answer cells (nbgrader grade_id `<function>_answer`). It never runs the graded
test cells (grade_id `<function>`: the visible asserts, then the hidden part calling
grader.kernel): their checks run in the grader, against the sandboxed functions. Locked
cells edited or deleted in a submission are flagged, never run.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .results import ANSWER_CELL, LOCKED_CELL

SETUP_ID = "setup"
MAX_NOTEBOOK_BYTES = 32 * 2**20   # a notebook with outputs is rarely over a few MiB
ANSWER_SUFFIX = "_answer"


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def cell_source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


class NotebookUnreadable(Exception):
    """The file is missing or is not a notebook; the message is one line for the student.
    `missing`: the file was not there at all."""

    def __init__(self, message: str, missing: bool = False):
        super().__init__(message)
        self.missing = missing


def read(path: Path) -> dict:
    """A notebook as a dict (nbformat v4), tolerant of student edits but not of broken JSON."""
    if not path.is_file():
        raise NotebookUnreadable(f"{path.name} was not submitted", missing=True)
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise NotebookUnreadable(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB "
                                 "(clear the outputs and submit again)")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotebookUnreadable(f"{path.name} is not UTF-8 text") from None
    if not raw.strip():
        raise NotebookUnreadable(f"{path.name} is empty")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise NotebookUnreadable(f"{path.name} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookUnreadable(f"{path.name} is not a Jupyter notebook (no list of cells)")
    if data.get("nbformat") != 4:
        raise NotebookUnreadable(f"{path.name} is not an nbformat 4 notebook")
    data["cells"] = [_clean_cell(c) for c in data["cells"] if isinstance(c, dict)]
    return data


def _clean_cell(cell: dict) -> dict:
    """A cell whose fields have the types the grader reads (a hand-edited notebook may have
    anything there): metadata a dict, source a string, cell_type a string."""
    meta = cell.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    if not isinstance(meta.get("nbgrader", {}), dict):
        meta = {k: v for k, v in meta.items() if k != "nbgrader"}
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    elif not isinstance(source, str):
        source = ""
    kind = cell.get("cell_type")
    return {**cell, "metadata": meta, "source": source, "cell_type": kind if isinstance(kind, str) else ""}


@dataclass
class CourseNotebook:
    """What the grader needs of one notebook of source/ and its release/ twin."""

    name: str
    setup: list[tuple[str, str]]          # (cell label, code) of the given cells, from source/
    answers: dict[str, str]               # function -> solution code (source/)
    locked_release: dict[str, str]        # grade_id -> source text of each locked cell in release/
    order: list[str]                      # grade_ids of setup and answer cells, in notebook order

    @classmethod
    def load(cls, source_path: Path, release_path: Path | None) -> "CourseNotebook":
        src = read(source_path)
        setup, answers, order = [], {}, []
        for cell in src["cells"]:
            meta = nbgrader_meta(cell)
            gid = meta.get("grade_id", "")
            if cell.get("cell_type") != "code" or not gid:
                continue
            if gid == SETUP_ID or (gid.startswith(SETUP_ID) and meta.get("locked") and not meta.get("grade")):
                setup.append((gid, cell_source(cell)))
                order.append(gid)
            elif meta.get("solution") and gid.endswith(ANSWER_SUFFIX):
                answers[gid[: -len(ANSWER_SUFFIX)]] = cell_source(cell)
                order.append(gid)
        locked = {}
        if release_path is not None and release_path.is_file():
            for cell in read(release_path)["cells"]:
                meta = nbgrader_meta(cell)
                if meta.get("locked") and meta.get("grade_id"):
                    locked[meta["grade_id"]] = cell_source(cell)
        return cls(source_path.stem, setup, answers, locked, order)

    def solution_cells(self) -> list[tuple[str, str]]:
        """The cells of the solution key, as the grader runs them."""
        return [(gid, self._code(gid, self.answers)) for gid in self.order]

    def _code(self, gid: str, answers: dict[str, str]) -> str:
        if gid.endswith(ANSWER_SUFFIX):
            return answers.get(gid[: -len(ANSWER_SUFFIX)], "")
        return dict(self.setup)[gid]


@dataclass
class SubmittedNotebook:
    """The cells to run for one submitted notebook, and what is wrong with it."""

    cells: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    missing_answers: list[str] = field(default_factory=list)
    # (kind, where) for each problem: kind is results.LOCKED_CELL or results.ANSWER_CELL
    incidents: list[tuple[str, str]] = field(default_factory=list)


_DEF = re.compile(r"^def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)


def prepare(course_nb: CourseNotebook, data: dict) -> SubmittedNotebook:
    """Match a submission's cells with the course notebook: answers to run, locked edits to flag."""
    out = SubmittedNotebook()
    by_id: dict[str, list] = {}
    for cell in data["cells"]:
        gid = nbgrader_meta(cell).get("grade_id")
        if isinstance(gid, str) and gid:
            by_id.setdefault(gid, []).append(cell)
    for gid, text in course_nb.locked_release.items():
        cells = by_id.get(gid)
        if not cells:
            out.problems.append(f"the read-only cell '{gid}' was deleted; the course's version is used")
            out.incidents.append((LOCKED_CELL, gid))
        elif cell_source(cells[0]).strip() != text.strip():
            out.problems.append(f"the read-only cell '{gid}' was edited; the course's version is used")
            out.incidents.append((LOCKED_CELL, gid))
    code_cells = [c for c in data["cells"] if c.get("cell_type") == "code"]
    for gid in course_nb.order:
        if not gid.endswith(ANSWER_SUFFIX):
            out.cells.append((gid, dict(course_nb.setup)[gid]))
            continue
        function = gid[: -len(ANSWER_SUFFIX)]
        cells = [c for c in by_id.get(gid, []) if c.get("cell_type") == "code"]
        if cells:
            out.cells.append((gid, cell_source(cells[0])))
            continue
        # The answer cell lost its nbgrader metadata (e.g. copied and pasted): use the
        # code cell that defines the function, if there is one.
        found = [c for c in code_cells if function in _DEF.findall(cell_source(c))]
        if found:
            out.cells.append((gid, cell_source(found[-1])))
            out.problems.append(f"the answer cell of {function} lost its nbgrader id; "
                                f"graded the cell that defines {function}")
            out.incidents.append((ANSWER_CELL, function))
        else:
            out.missing_answers.append(function)
            out.problems.append(f"the answer cell of {function} is missing")
            out.incidents.append((ANSWER_CELL, function))
    return out
