"""The command line: a thin layer over the library. `python -m grader --help`.

Exit status: 0 when the command did its job (students who fail are verdicts, not
errors); 1 with a one-line reason when the course or the command cannot be used;
2 for a usage error.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import click

from . import course as course_mod
from . import report, store
from .course import Course, CourseError
from .results import SubmissionResult


def _references():
    """grader.references, imported only by the commands that need it: with it come nbformat
    and the grading code (seconds on some installs), which --help and the early errors of
    every command do without."""
    from . import references
    return references


class Fail(click.ClickException):
    """A one-line reason, exit status 1."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _course(root: str) -> Course:
    try:
        return course_mod.load(root)
    except CourseError as exc:
        raise Fail(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Grade the nn_intro notebooks: fast, in clean processes, with feedback students can act on."""


def _students(course: Course, wanted: tuple[str, ...]) -> list[str]:
    root = course.submitted_dir()
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if root.is_dir() else []
    if wanted:
        missing = [s for s in wanted if s not in found]
        if missing:
            raise Fail(f"no submission for {', '.join(missing)} in {root}")
        return list(dict.fromkeys(wanted))
    if not found:
        raise Fail(f"no submissions in {root} (expected submitted/<student>/{course.assignment}/)")
    return found


def _progress(total: int):
    """A progress bar on a terminal, nothing otherwise."""
    if sys.stderr.isatty() and total > 1:
        return click.progressbar(length=total, label="grading", file=sys.stderr, show_pos=True)
    return _NoBar()


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int) -> None:
        pass


@contextmanager
def _run_lock(course: Course, wait: float):
    """store.RunLock, refusing with a one-line reason."""
    lock = store.RunLock(course, wait=wait)
    try:
        lock.__enter__()
    except store.LockedError as exc:
        raise Fail(str(exc)) from None
    try:
        yield lock
    finally:
        lock.__exit__(None, None, None)


def autograde_course(course: Course, students: list[str], *, force: bool = False, workers: int = 1,
                     executor: str = "local", scheduler: str | None = None, gradebook: bool = True,
                     wait: float = 0.0, echo=click.echo) -> dict:
    """Grade `students`, write every output, sync the gradebook; returns counts and timings.

    Crash-safe (see grader.store): each student's outputs are written atomically and
    grader_result.json last; the gradebook and grades.csv are brought up to date from the
    result files at the end of every run, so a rerun after a kill finishes the job."""
    from . import autograded, executor as executors
    from .grading import grader_fingerprint, isolate, submission_fingerprint
    from .sandbox import IsolationUnavailable

    references_mod = _references()

    try:
        isolate(course)   # before anything secret is loaded into this process
    except IsolationUnavailable as exc:
        raise Fail(str(exc)) from None
    with _run_lock(course, wait):
        store.sweep_temp_files(course)          # leftovers of a killed run
        try:
            gfp = grader_fingerprint(course)
            references_mod.load()
        except references_mod.ReferenceError as exc:
            raise Fail(str(exc)) from None
        todo = []
        for student in students:
            folder = course.submitted_dir() / student / course.assignment
            if force or not store.is_graded(course, student, submission_fingerprint(folder, gfp)):
                todo.append(student)
        if executor == "dask" and not scheduler:
            raise Fail("--executor dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
        start = time.perf_counter()
        if not todo:
            stream = iter(())
        elif executor == "dask":
            stream = executors.grade_dask(course, todo, scheduler)
        else:
            stream = executors.grade_local(course, todo, workers=workers)
        with _progress(len(todo)) as bar:
            for result in stream:
                report.write_student_outputs(course.autograded_dir(), course.grader_feedback_dir(), result, course)
                autograded.write_notebooks(course, result)   # nbgrader's autograded/<s>/<a>/<nb>.ipynb
                store.save_result(course, result)   # written last: marks the student as graded
                bar.update(1)
        seconds = time.perf_counter() - start
        results = store.all_results(course, _students(course, ()))
        if gradebook:
            _sync_gradebook(course, results)
            results = _final_results(course, results)   # manual grades from the formgrader
        report.write_grades_csv(course.root / "grades.csv", results, course)
        report.write_lms_csv(course.root / "grades_lms.csv", results, course)
    return {"graded": len(todo), "skipped": len(students) - len(todo), "seconds": seconds,
            "results": results}


def _final_results(course: Course, results: list[SubmissionResult]) -> list[SubmissionResult]:
    """results with the manual scores and extra credit entered in the formgrader."""
    from . import gradebook

    try:
        return gradebook.final_results(course, results)
    except Exception as exc:   # noqa: BLE001 - a database we cannot read: one line
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise Fail(f"could not read the manual grades in gradebook.db ({type(exc).__name__}: {reason})") from None


def _sync_gradebook(course: Course, results: list[SubmissionResult]) -> None:
    """Record in gradebook.db every result it does not hold yet (see store.gradebook_marks).
    The marks are saved only after the rows are committed, so a kill in between records
    them again (a regrade replaces a submission, never duplicates it). A new gradebook.db
    is built under a temporary name and renamed: it appears whole or not at all."""
    from . import gradebook

    marks = store.gradebook_marks(course)
    stale = [r for r in results if marks.get(r.student) != store.result_mark(r)]
    if not stale:
        return
    path = store.gradebook_path(course)
    try:
        if path.is_file():
            gradebook.record(course, stale)
        else:
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            try:
                gradebook.record(course, stale, db_url=f"sqlite:///{tmp}")
                os.replace(tmp, path)
            finally:
                for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
                    leftover.unlink(missing_ok=True)
        marks.update({r.student: store.result_mark(r) for r in stale})
        store.save_gradebook_marks(course, marks)
    except Exception as exc:   # noqa: BLE001 - any database trouble: one line, results kept
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise Fail(f"could not record the grades in {path.name} ({type(exc).__name__}: {reason}); "
                   "the results are saved in autograded/, run again to record them") from None


@cli.command()
@click.argument("assignment")
@click.option("--student", "students", multiple=True, metavar="ID", help="Grade only this student (repeatable).")
@click.option("--force", is_flag=True, help="Regrade submissions that are unchanged since they were graded.")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Processes grading at once on this machine.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler address, with --executor dask.")
@click.option("--no-gradebook", is_flag=True, help="Do not record the grades in nbgrader's gradebook.db.")
@click.option("--wait", type=float, default=0.0, metavar="SECONDS",
              help="Wait this long for another run on the course to finish instead of refusing.")
@click.option("--unsafe-no-isolation", is_flag=True,
              help="Grade even where student code cannot be isolated (no user namespaces, not root): "
                   "student code then runs as you, and every result says so.")
@click.option("--course", "root", default=".", show_default=True, help="The course folder.")
def autograde(assignment, students, force, workers, executor, scheduler, no_gradebook, wait,
              unsafe_no_isolation, root):
    """Grade submitted/<student>/ASSIGNMENT/ into autograded/, grader_feedback/, grades.csv and the gradebook."""
    if unsafe_no_isolation:
        from .sandbox.isolation import UNSAFE_ENV
        os.environ[UNSAFE_ENV] = "1"       # pool workers and batch processes inherit it
    course = _course(root)
    if assignment != course.assignment:
        raise Fail(f"this course's assignment is {course.assignment!r}, not {assignment!r}")
    summary = autograde_course(course, _students(course, students), force=force, workers=workers,
                               executor=executor, scheduler=scheduler, gradebook=not no_gradebook,
                               wait=wait)
    n = summary["graded"]
    per = summary["seconds"] / n if n else 0.0
    click.echo(f"graded {n} submission(s) in {summary['seconds']:.2f} s ({per:.3f} s each), "
               f"skipped {summary['skipped']} unchanged")
    click.echo(report.class_table(summary["results"], course))


@cli.command()
@click.option("--check", is_flag=True, help="Only compare with the committed file; exit 1 if they differ.")
@click.option("--course", "root", default=".", show_default=True, help="The course folder.")
def references(check, root):
    """Record the reference outputs of every check from the solution notebooks in source/."""
    course = _course(root)
    references_mod = _references()
    try:
        fresh = references_mod.record(course)
    except references_mod.ReferenceError as exc:
        raise Fail(str(exc)) from None
    if check:
        try:
            stored = references_mod.load()
        except references_mod.ReferenceError as exc:
            raise Fail(str(exc)) from None
        diff = references_mod.differences(fresh, stored)
        if diff:
            raise Fail(f"{references_mod.PATH.name} is out of date for {len(diff)} case(s), e.g. {diff[0]}; "
                       "run `python -m grader references`")
        click.echo(f"{references_mod.PATH.name} is in sync with source/ ({len(fresh)} check variants)")
        return
    references_mod.write(fresh)
    click.echo(f"wrote {references_mod.PATH} ({len(fresh)} check variants)")


def nbgrader_env() -> dict:
    """The environment for nbgrader's CLI: it runs `alembic` from PATH, so our Python's
    bin folder goes first."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _nbgrader(course: Course, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course.root,
                          capture_output=True, text=True, env=nbgrader_env())
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise Fail(f"nbgrader {args[0]} failed: {tail[0]}")


@cli.command()
@click.argument("assignment")
@click.option("--course", "root", default=".", show_default=True, help="The course folder.")
def release(assignment, root):
    """Generate release/ASSIGNMENT from source/ with nbgrader generate_assignment."""
    course = _course(root)
    if assignment != course.assignment:
        raise Fail(f"this course's assignment is {course.assignment!r}, not {assignment!r}")
    _nbgrader(course, "generate_assignment", assignment, "--force")
    click.echo(f"released {course.release_dir().relative_to(course.root)}")


@cli.command()
@click.option("--wait", type=float, default=0.0, metavar="SECONDS",
              help="Wait this long for a grading run on the course to finish instead of refusing.")
@click.option("--course", "root", default=".", show_default=True, help="The course folder.")
def export(wait, root):
    """Rewrite grades.csv and grades_lms.csv from the graded results."""
    course = _course(root)
    with _run_lock(course, wait):
        results = _final_results(course, store.all_results(course, _students(course, ())))
        report.write_grades_csv(course.root / "grades.csv", results, course)
        report.write_lms_csv(course.root / "grades_lms.csv", results, course)
    click.echo(f"wrote grades.csv and grades_lms.csv ({len(results)} students)")


# ---------------------------------------------------------------------------------------
# Gradescope

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
    references_mod = _references()
    package = Path(__file__).resolve().parent
    project = package.parent
    files: list[tuple[str, Path]] = []
    for script in ("setup.sh", "run_autograder"):
        path = _TEMPLATES / script
        if not path.is_file():
            raise Fail(f"the Gradescope template {path} is missing")
        files.append((script, path))

    def tree(top: Path, prefix: str, pattern: str = "*") -> None:
        for path in sorted(top.rglob(pattern)):
            rel = path.relative_to(top)
            if path.is_file() and not _SKIP_PARTS & set(rel.parts) and path.suffix != ".pyc":
                files.append((f"{prefix}/{rel.as_posix()}", path))

    tree(package, "grader", "*.py")
    tree(package / "schemas", "grader/schemas")
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
            raise Fail(f"{kind}/{course.assignment} lacks {', '.join(missing)}"
                       + ("; run `python -m grader release`" if kind == "release" else ""))
        tree(folder, f"{kind}/{course.assignment}")
    return files


@cli.command("gradescope-bundle")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"Where to write the zip  [default: <course>/dist/{GRADESCOPE_ZIP}]")
@click.option("--course", "root", default=".", show_default=True, help="The course folder.")
def gradescope_bundle(output, root):
    """Build the Gradescope autograder zip (setup.sh, run_autograder and the grader)."""
    import io
    import zipfile

    course = _course(root)
    references_mod = _references()
    try:
        refs = references_mod.load()
    except references_mod.ReferenceError as exc:
        raise Fail(str(exc)) from None
    if not refs:
        raise Fail(f"{references_mod.PATH.name} is empty: run `python -m grader references`")
    files = _bundle_files(course)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    output = output or course.root / "dist" / GRADESCOPE_ZIP
    tmp = output.parent / f".{output.name}.{secrets.token_hex(4)}.tmp"
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    click.echo(f"wrote {output} ({len(files)} files, {len(buf.getvalue()) // 1024} KiB): upload it as the "
               "assignment's autograder (Ubuntu base image)")


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
    report.write_json(results, {
        "score": 0.0, "max_score": report.points(max_score), "output": message,
        "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden", "tests": [],
    })


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


@cli.command("run-autograder")
@click.option("--submission", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The folder with the student's uploaded files (Gradescope: /autograder/submission).")
@click.option("--results", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The results.json to write (Gradescope: /autograder/results/results.json).")
@click.option("--course", "root", default=".", show_default=True, help="The course folder (the unpacked bundle).")
def run_autograder(submission, results, root):
    """Grade one Gradescope submission and write Gradescope's results.json."""
    import tempfile

    from .grading import Grader, isolate
    from .sandbox import IsolationUnavailable

    references_mod = _references()
    try:
        isolate()   # before anything secret is loaded into this process
    except IsolationUnavailable as exc:
        _gradescope_failure(results, f"The autograder cannot run here ({exc}); your submission was "
                                     "not graded. Please tell your instructor.")
        raise Fail(str(exc)) from None
    try:
        course = course_mod.load(root)
    except CourseError as exc:
        _gradescope_failure(results, f"The autograder is broken ({exc}); your submission was not graded. "
                                     "Please tell your instructor.")
        raise Fail(str(exc)) from None
    found, notes = find_submitted_notebooks(submission, course)
    try:
        grader = Grader(course)
    except (references_mod.ReferenceError, OSError, ValueError) as exc:
        _gradescope_failure(results, f"The autograder is broken ({exc}); your submission was not graded. "
                                     "Please tell your instructor.", course.points)
        raise Fail(str(exc)) from None
    try:
        with tempfile.TemporaryDirectory(prefix="nn-intro-gradescope-") as tmp:
            folder = Path(tmp) / course.assignment
            folder.mkdir()
            for name, path in found.items():
                shutil.copyfile(path, folder / name)
            result = grader.grade(gradescope_student(submission), folder=folder)
    except Exception as exc:   # noqa: BLE001 - a grader bug: say so in results.json too
        reason = (str(exc).strip().splitlines() or [""])[0]
        _gradescope_failure(results, f"The autograder failed ({type(exc).__name__}: {reason}); your submission "
                                     "was not graded. Please tell your instructor.", course.points)
        raise Fail(f"grading failed: {type(exc).__name__}: {reason}") from None
    if not found:
        listed = sorted(p.relative_to(submission).as_posix() for p in submission.rglob("*") if p.is_file()) \
            if submission.is_dir() else []
        shown = ", ".join(listed[:10]) + (", ..." if len(listed) > 10 else "") if listed else "nothing"
        result.problems = [p for p in result.problems if p != "no notebooks were submitted"]
        result.problems.insert(0, "none of the assignment's notebooks were found in your submission "
                                  f"(expected {', '.join(nb.filename for nb in course.notebooks)}; "
                                  f"found: {shown}); upload the notebooks themselves")
    else:
        result.problems.extend(notes)
    report.write_json(results, report.gradescope_results(result))
    click.echo(f"{result.student}: {report.fmt_points(result.score)} / {report.fmt_points(result.max_score)}"
               f" -> {results}")


@cli.command()
@click.option("--course", "root", default=".", show_default=True, help="The course folder.")
@click.option("--skip-release", is_flag=True, help="Do not regenerate release/ with nbgrader first.")
def demo(root, skip_release):
    """The instructor's job end to end on the sample submissions shipped in samples/."""
    course = _course(root)
    samples = course.root / "samples"
    if not samples.is_dir():
        raise Fail(f"no sample submissions in {samples}")
    if not skip_release:
        click.echo("1. nbgrader generate_assignment: source/ -> release/ ...")
        t = time.perf_counter()
        _nbgrader(course, "generate_assignment", course.assignment, "--force")
        click.echo(f"   released {course.release_dir().relative_to(course.root)} in {time.perf_counter() - t:.1f} s")
    click.echo("2. the sample submissions arrive in submitted/ ...")
    target = course.submitted_dir()
    for student in sorted(p for p in samples.iterdir() if p.is_dir()):
        dest = target / student.name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(student, dest)
        click.echo(f"   {student.name}: {(student / 'ABOUT.txt').read_text().strip() if (student / 'ABOUT.txt').exists() else ''}")
    click.echo("3. python -m grader autograde nn_intro --force --workers 2 ...")
    summary = autograde_course(course, _students(course, ()), force=True, workers=2)
    results = summary["results"]
    slowest = max(results, key=lambda r: r.seconds, default=None)
    click.echo(f"   graded {summary['graded']} submissions in {summary['seconds']:.2f} s with 2 workers"
               + (f" ({slowest.student}'s took {slowest.seconds:.1f} s: its time limits at work)"
                  if slowest and slowest.seconds > 2 else ""))
    click.echo("")
    click.echo(report.class_table(results, course))
    click.echo("")
    click.echo("4. what students read, e.g. the failed checks of each sample student:")
    for result in results:
        failed = [c for nb in result.notebooks for c in nb.checks if not c.passed]
        problems = [p for nb in result.notebooks for p in nb.problems] + result.problems
        if not failed and not problems:
            click.echo(f"   {result.student}: everything passed")
            continue
        click.echo(f"   {result.student}: {len(failed)} failed check(s)")
        for line in problems[:2]:
            click.echo(f"     ! {line.splitlines()[0][:150]}")
        for check in failed[:3]:
            first = (check.message.splitlines() or [""])[0]
            click.echo(f"     - {check.name}: {first[:150]}")
        if len(failed) > 3:
            click.echo(f"     ... {len(failed) - 3} more in grader_feedback/{result.student}/{course.assignment}/feedback.html")
    from . import gradebook

    totals = gradebook.export_totals(course)
    same = all(abs(totals.get(r.student, -1) - r.score) < 1e-9 for r in results)
    click.echo("")
    click.echo(f"5. nbgrader's gradebook holds the same totals: {'yes' if same else 'NO'} "
               f"({', '.join(f'{s} {report.fmt_points(t)}' for s, t in sorted(totals.items()))})")
    click.echo("")
    click.echo("Where things are:")
    click.echo("  autograded/<student>/nn_intro/results.json   Gradescope-format results")
    click.echo("  autograded/<student>/nn_intro/<nb>.ipynb     autograded notebooks (formgrader, generate_feedback)")
    click.echo("  grader_feedback/<student>/nn_intro/feedback.html  feedback page for each student (and feedback.md)")
    click.echo("  grades.csv, grades_lms.csv                    class grades; Canvas/Moodle import")
    click.echo("  gradebook.db                                  nbgrader's gradebook (nbgrader export, formgrader)")
    click.echo("  make gradescope                               builds dist/gradescope_autograder.zip")
    if not same:
        raise Fail("the gradebook disagrees with grades.csv")


def main() -> None:
    cli(prog_name="python -m grader")
