"""Gradescope: the autograder bundle, and grading one uploaded submission in it.

`build_bundle` writes the zip Gradescope runs (setup.sh, run_autograder, the grader, the
course); inside it, `run_autograder` grades /autograder/submission into Gradescope's
results.json. Every way it can fail still writes a results.json that says why (the
student sees it), and raises GradescopeError (one line) for the log.
"""
from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from . import files, report
from .course import Course, CourseError, load



class GradescopeError(Exception):
    """The bundle cannot be built or the submission cannot be graded; one line."""


GRADESCOPE_ZIP = "gradescope_autograder.zip"
GRADESCOPE_STUDENT = "submission"      # the student id a Gradescope run grades as
_TEMPLATES = Path(__file__).resolve().parent.parent / "gradescope"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)      # fixed: the same sources give the same zip, byte for byte
_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints"}


def _bundle_files(course: Course) -> list[tuple[str, Path]]:
    """(name in the zip, file) of everything the autograder needs: the two Gradescope
    scripts, the grader package (with its references and schemas), the project metadata
    to install it, the course configuration, and the assignment's source and release
    notebooks (the grader reads the setup cells of both; the bundle goes to Gradescope,
    never to students)."""
    from . import references as references_mod

    package = Path(__file__).resolve().parent
    project = package.parent
    files: list[tuple[str, Path]] = []
    for script in ("setup.sh", "run_autograder"):
        path = _TEMPLATES / script
        if not path.is_file():
            raise GradescopeError(f"the Gradescope template {path} is missing")
        files.append((script, path))

    def tree(top: Path, prefix: str, pattern: str = "*") -> None:
        for path in sorted(top.rglob(pattern)):
            rel = path.relative_to(top)
            if path.is_file() and not _SKIP_PARTS & set(rel.parts) and path.suffix != ".pyc":
                files.append((f"{prefix}/{rel.as_posix()}", path))

    tree(package, "grader", "*.py")
    tree(package / "schemas", "grader/schemas")
    tree(package / "report", "grader/report", "*.css")
    tree(package / "report", "grader/report", "*.j2")
    files.append(("grader/" + references_mod.PATH.name, references_mod.PATH))
    for name in ("pyproject.toml", "README.md"):
        if (project / name).is_file():
            files.append((name, project / name))
    for name in ("course.yaml", "nbgrader_config.py"):
        if (course.root / name).is_file():
            files.append((name, course.root / name))
    for folder, kind in ((course.source_dir(), "source"), (course.release_dir(), "release")):
        missing = [nb.filename for nb in course.notebooks if not (folder / nb.filename).is_file()]
        if missing:
            raise GradescopeError(f"{kind}/{course.assignment} lacks {', '.join(missing)}"
                       + ("; run `python -m grader release`" if kind == "release" else ""))
        tree(folder, f"{kind}/{course.assignment}")
    return files


def build_bundle(course: Course, output: Path | None = None) -> tuple[Path, int, int]:
    """Write the autograder zip (default dist/gradescope_autograder.zip); returns (path,
    number of files, bytes). The same sources give the same zip, byte for byte."""
    from . import references as references_mod

    try:
        refs = references_mod.load()
    except references_mod.ReferencesError as exc:
        raise GradescopeError(str(exc)) from None
    if not refs:
        raise GradescopeError(f"{references_mod.PATH.name} is empty: run `python -m grader references`")
    entries = _bundle_files(course)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    output = output or course.dist_dir() / GRADESCOPE_ZIP
    files.write_bytes(output, buf.getvalue())
    return output, len(entries), len(buf.getvalue())


def find_submitted_notebooks(folder: Path, course: Course) -> tuple[dict[str, Path], list[str]]:
    """The course's notebooks among the files a student uploaded to Gradescope: at the top
    of `folder` or one folder down (an uploaded folder or zip). Returns {file name: path}
    and notes for the student about what was used or left out."""
    wanted = [nb.filename for nb in course.notebooks]
    found: dict[str, Path] = {}
    notes: list[str] = []
    if not folder.is_dir():
        return found, notes

    def visible(p: Path) -> bool:
        return not p.name.startswith(".") and p.name not in _SKIP_PARTS and p.name != "__MACOSX"

    top = sorted(p for p in folder.iterdir() if visible(p))
    levels = [[p for p in top if p.is_file()],
              [q for d in top if d.is_dir() for q in sorted(d.iterdir()) if q.is_file() and visible(q)]]
    for level in levels:
        for path in level:
            if path.name in wanted and path.name not in found:
                found[path.name] = path
            elif path.name in wanted and found[path.name] != path:
                notes.append(f"{path.relative_to(folder).as_posix()} was ignored: "
                             f"{found[path.name].relative_to(folder).as_posix()} was graded instead")
    others = sorted({p.relative_to(folder).as_posix() for level in levels for p in level
                     if p.suffix == ".ipynb" and p.name not in wanted})
    if others:
        notes.append(f"notebook(s) not graded (the assignment's notebooks are named {', '.join(wanted)}): "
                     + ", ".join(others))
    return found, notes


def _gradescope_failure(results: Path, message: str, max_score: float = 0.0) -> None:
    files.write_json(results, report.results_json.failure_results(message, max_score))


def gradescope_student(submission: Path) -> str:
    """Who is graded on Gradescope: the first user's id in submission_metadata.json (beside
    the submission folder), so that probe variants differ between students as they do in
    a class run; GRADESCOPE_STUDENT when there is no usable metadata."""
    try:
        meta = json.loads((submission.parent / "submission_metadata.json").read_text(encoding="utf-8"))
        user = meta["users"][0]
        ident = str(user.get("id") or user.get("email") or "").strip()
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return GRADESCOPE_STUDENT
    return f"gradescope-{ident}" if ident and ident.isprintable() and len(ident) < 200 else GRADESCOPE_STUDENT




def run_autograder(submission: Path, results: Path, root: str | Path = "."):
    """Grade one Gradescope submission (the uploaded files in `submission`) and write
    Gradescope's `results` file; returns the SubmissionResult. Raises GradescopeError
    after writing a results.json that tells the student why when it cannot grade."""
    from . import references as references_mod
    from .grading import Grader, isolate
    from .sandbox import IsolationUnavailable

    try:
        isolate()   # before anything secret is loaded into this process
    except IsolationUnavailable as exc:
        _gradescope_failure(results, f"The autograder cannot run here ({exc}); your submission was "
                                     "not graded. Please tell your instructor.")
        raise GradescopeError(str(exc)) from None
    try:
        course = load(root)
    except CourseError as exc:
        _gradescope_failure(results, f"The autograder is broken ({exc}); your submission was not graded. "
                                     "Please tell your instructor.")
        raise GradescopeError(str(exc)) from None
    found, notes = find_submitted_notebooks(submission, course)
    try:
        grader = Grader(course)
    except (references_mod.ReferencesError, OSError, ValueError) as exc:
        _gradescope_failure(results, f"The autograder is broken ({exc}); your submission was not graded. "
                                     "Please tell your instructor.", course.points)
        raise GradescopeError(str(exc)) from None
    nothing = "no notebooks were submitted"
    if not found:
        listed = sorted(p.relative_to(submission).as_posix() for p in submission.rglob("*") if p.is_file()) \
            if submission.is_dir() else []
        shown = ", ".join(listed[:10]) + (", ..." if len(listed) > 10 else "") if listed else "nothing"
        nothing = ("none of the assignment's notebooks were found in your submission "
                   f"(expected {', '.join(nb.filename for nb in course.notebooks)}; "
                   f"found: {shown}); upload the notebooks themselves")
    try:
        with tempfile.TemporaryDirectory(prefix="nn-intro-gradescope-") as tmp:
            folder = Path(tmp) / course.assignment
            folder.mkdir()
            for name, path in found.items():
                shutil.copyfile(path, folder / name)
            result = grader.grade(gradescope_student(submission), folder=folder, nothing_submitted=nothing)
    except Exception as exc:   # noqa: BLE001 - a grader bug: say so in results.json too
        reason = (str(exc).strip().splitlines() or [""])[0]
        _gradescope_failure(results, f"The autograder failed ({type(exc).__name__}: {reason}); your submission "
                                     "was not graded. Please tell your instructor.", course.points)
        raise GradescopeError(f"grading failed: {type(exc).__name__}: {reason}") from None
    result.problems.extend(notes)
    files.write_json(results, report.gradescope_results(result))
    return result
