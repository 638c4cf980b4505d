"""The command line: a thin layer over the library. `python -m grader --help`.

Exit status: 0 when the command did its job (students who fail are verdicts, not
errors); 1 with a one-line reason when the course or the command cannot be used;
2 for a usage error.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click

from . import course as course_mod
from . import references as references_mod
from . import report, store
from .course import Course, CourseError
from .grading import grader_fingerprint, submission_fingerprint
from .results import SubmissionResult


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


def autograde_course(course: Course, students: list[str], *, force: bool = False, workers: int = 1,
                     executor: str = "local", scheduler: str | None = None, gradebook: bool = True,
                     wait: float = 0.0, echo=click.echo) -> dict:
    """Grade `students`, write every output, sync the gradebook; returns counts and timings."""
    from . import executor as executors
    from .grading import isolate

    isolate()   # before anything secret is loaded into this process
    with store.RunLock(course, wait=wait):
        try:
            gfp = grader_fingerprint(course)
            references_mod.load()
        except references_mod.ReferenceError as exc:
            raise Fail(str(exc)) from None
        todo = []
        for student in students:
            old = store.load_result(course, student)
            folder = course.submitted_dir() / student / course.assignment
            if force or old is None or old.fingerprint != submission_fingerprint(folder, gfp):
                todo.append(student)
        start = time.perf_counter()
        if executor == "dask":
            if not scheduler:
                raise Fail("--executor dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
            stream = executors.grade_dask(course, todo, scheduler)
        else:
            stream = executors.grade_local(course, todo, workers=workers)
        with _progress(len(todo)) as bar:
            for result in stream:
                report.write_student_outputs(course.autograded_dir(), course.root / "feedback", result, course)
                store.save_result(course, result)   # written last: marks the student as graded
                bar.update(1)
        seconds = time.perf_counter() - start
        results = store.all_results(course, _students(course, ()))
        if gradebook:
            _sync_gradebook(course, results)
        report.write_grades_csv(course.root / "grades.csv", results, course)
        report.write_lms_csv(course.root / "grades_lms.csv", results, course)
    return {"graded": len(todo), "skipped": len(students) - len(todo), "seconds": seconds,
            "results": results}


def _sync_gradebook(course: Course, results: list[SubmissionResult]) -> None:
    from . import gradebook

    marks = store.gradebook_marks(course)
    stale = [r for r in results if marks.get(r.student) != r.fingerprint + r.graded_at]
    if stale:
        gradebook.record(course, stale)
        marks.update({r.student: r.fingerprint + r.graded_at for r in stale})
        store.save_gradebook_marks(course, marks)


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
@click.option("--course", "root", default=".", show_default=True, help="The course folder.")
def autograde(assignment, students, force, workers, executor, scheduler, no_gradebook, wait, root):
    """Grade submitted/<student>/ASSIGNMENT/ into autograded/, feedback/, grades.csv and the gradebook."""
    course = _course(root)
    if assignment != course.assignment:
        raise Fail(f"this course's assignment is {course.assignment!r}, not {assignment!r}")
    try:
        summary = autograde_course(course, _students(course, students), force=force, workers=workers,
                                   executor=executor, scheduler=scheduler, gradebook=not no_gradebook,
                                   wait=wait)
    except store.LockedError as exc:
        raise Fail(str(exc)) from None
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
@click.option("--course", "root", default=".", show_default=True, help="The course folder.")
def export(root):
    """Rewrite grades.csv and grades_lms.csv from the graded results."""
    course = _course(root)
    results = store.all_results(course, _students(course, ()))
    report.write_grades_csv(course.root / "grades.csv", results, course)
    report.write_lms_csv(course.root / "grades_lms.csv", results, course)
    click.echo(f"wrote grades.csv and grades_lms.csv ({len(results)} students)")


@cli.command(hidden=True)
@click.option("--course", "root", required=True)
@click.argument("students", nargs=-1)
def worker(root, students):
    """Grade STUDENTS and print their results as JSON (the Dask executor's task)."""
    from .grading import Grader

    grader = Grader(_course(root))
    json.dump([grader.grade(s).to_dict() for s in students], sys.stdout)


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
    click.echo("3. python -m grader autograde nn_intro --force ...")
    summary = autograde_course(course, _students(course, ()), force=True, workers=2)
    n = summary["graded"]
    click.echo(f"   graded {n} submissions in {summary['seconds']:.2f} s "
               f"({summary['seconds'] / max(n, 1):.3f} s per submission, 2 workers)")
    click.echo("")
    click.echo(report.class_table(summary["results"], course))
    click.echo("")
    click.echo("Where things are:")
    click.echo("  autograded/<student>/nn_intro/results.json   Gradescope-format results")
    click.echo("  feedback/<student>/nn_intro/feedback.html    feedback page for each student (and feedback.md)")
    click.echo("  grades.csv, grades_lms.csv                    class grades; Canvas/Moodle import")
    click.echo("  gradebook.db                                  nbgrader's gradebook (nbgrader export, formgrader)")


def main() -> None:
    cli(prog_name="python -m grader")
