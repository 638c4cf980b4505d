"""The command line: each command parses, calls one library function and prints.
`python -m grader --help`.

Exit status: 0 when the command did its job (students who fail are verdicts, not
errors); 1 with a one-line reason when the course or the command cannot be used, or
(autograde) when a folder in submitted/ cannot be a student id and was not graded
(everyone else was); 2 for a usage error.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from . import course as course_mod
from .autograde import AutogradeError
from .course import Course, CourseError


class Fail(click.ClickException):
    """A one-line reason, exit status 1."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _user_errors() -> tuple[type[BaseException], ...]:
    """The library's one-line errors (imported when a command runs, not for --help)."""
    from .gradebook import GradebookError
    from .gradescope import GradescopeError
    from .nbgrader_commands import NbgraderError
    from .references import ReferencesError
    from .samples import SamplesError
    from .sandbox import IsolationUnavailable
    return (CourseError, AutogradeError, GradebookError, GradescopeError, NbgraderError, ReferencesError,
            SamplesError, IsolationUnavailable)


def one_line_errors(command):
    """Turn the library's errors into `error: <reason>` and exit status 1."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except click.ClickException:
            raise
        except Exception as exc:
            if isinstance(exc, _user_errors()):
                raise Fail(str(exc)) from None
            raise
    return wrapper


def _load(ctx, param, root: str) -> Course:
    try:
        return course_mod.load(root)
    except CourseError as exc:
        raise Fail(str(exc)) from None


# --course FOLDER, loaded (course.yaml validated) into a `course` argument.
course_option = click.option("--course", "course", default=".", show_default=True, metavar="FOLDER",
                             help="The course folder.", callback=_load)


wait_option = click.option("--wait", type=float, default=0.0, metavar="SECONDS",
                           help="Wait this long for another run on the course to finish instead of refusing.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Grade the nn_intro notebooks: fast, in clean processes, with feedback students can act on."""


class _Progress:
    """A progress bar on a terminal, nothing otherwise (autograde's `progress` callback)."""

    def __init__(self):
        self.bar = None

    def __call__(self, n: int) -> None:
        if self.bar is None:
            if sys.stderr.isatty() and n > 1:
                self.bar = click.progressbar(length=n, label="grading", file=sys.stderr, show_pos=True)
                self.bar.__enter__()
            else:
                self.bar = False
        elif self.bar:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar:
            self.bar.__exit__(None, None, None)


@cli.command()
@click.argument("assignment")
@click.option("--student", "students", multiple=True, metavar="ID", help="Grade only this student (repeatable).")
@click.option("--force", is_flag=True, help="Regrade submissions that are unchanged since they were graded.")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Processes grading at once on this machine.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler address, with --executor dask.")
@click.option("--no-gradebook", is_flag=True, help="Do not record the grades in nbgrader's gradebook.db.")
@wait_option
@click.option("--unsafe-no-isolation", is_flag=True,
              help="Grade even where student code cannot be isolated (no user namespaces, not root): "
                   "student code then runs as you, and every result says so.")
@course_option
@one_line_errors
def autograde(assignment, students, force, workers, executor, scheduler, no_gradebook, wait,
              unsafe_no_isolation, course):
    """Grade submitted/<student>/ASSIGNMENT/ into autograded/, grader_feedback/, grades.csv and the gradebook."""
    from . import autograde as run, report
    from .sandbox.isolation import DESCRIPTIONS, UNSAFE_ENV

    if unsafe_no_isolation:
        os.environ[UNSAFE_ENV] = "1"       # pool workers and batch processes inherit it
    run.check_assignment(course, assignment)
    progress = _Progress()
    try:
        summary = run.autograde(course, students, force=force, workers=workers, executor=executor,
                                scheduler=scheduler, gradebook_sync=not no_gradebook, wait=wait,
                                progress=progress)
    finally:
        progress.close()
    click.echo(f"graded {summary.graded} submission(s) in {summary.seconds:.2f} s "
               f"({summary.per_submission:.3f} s each), skipped {summary.skipped} unchanged")
    click.echo(f"isolation: {DESCRIPTIONS.get(summary.isolation, summary.isolation)}")
    click.echo(report.class_table(summary.results, course))
    click.echo(f"what the class got wrong: python -m grader insights {course.assignment}")
    for line in summary.unusable:
        click.echo(f"not graded: {line}", err=True)
    if summary.unusable:
        raise Fail(f"{len(summary.unusable)} folder(s) in {course.submitted_dir().name}/ could not be graded "
                   "(listed above); everyone else was")


@cli.command()
@click.argument("assignment")
@course_option
@one_line_errors
def insights(assignment, course):
    """Write insights/ASSIGNMENT.html and .csv: what the class got wrong, from the results on disk."""
    from . import insights as class_insights
    from .autograde import check_assignment

    check_assignment(course, assignment)
    built = class_insights.build(course)
    click.echo(f"wrote {built.html.relative_to(course.root)} ({built.bytes / 1024:.0f} KiB) and "
               f"{built.csv.relative_to(course.root)} for {built.students} students in {built.seconds:.1f} s")


@cli.command()
@click.option("--check", is_flag=True, help="Only compare with the committed file; exit 1 if they differ.")
@course_option
@one_line_errors
def references(check, course):
    """Record the reference outputs of every check from the solution notebooks in source/."""
    from . import references as refs

    if check:
        diff = refs.differences(refs.record(course), refs.load())
        if diff:
            raise Fail(f"{refs.PATH.name} is out of date for {len(diff)} case(s), e.g. {diff[0]}; "
                       "run `python -m grader references`")
        click.echo(f"{refs.PATH.name} is in sync with source/ ({len(refs.load())} check variants)")
        return
    fresh = refs.record(course)
    refs.write(fresh)
    click.echo(f"wrote {refs.PATH} ({len(fresh)} check variants)")


@cli.command()
@click.argument("assignment")
@course_option
@one_line_errors
def release(assignment, course):
    """Generate release/ASSIGNMENT from source/ with nbgrader generate_assignment."""
    from .autograde import check_assignment
    from .nbgrader_commands import release as generate

    check_assignment(course, assignment)
    click.echo(f"released {generate(course).relative_to(course.root)}")


@cli.command()
@course_option
@one_line_errors
def samples(course):
    """Rebuild samples/ (the sample class that `make demo` grades) from today's release/."""
    from .samples import write_samples

    written = write_samples(course.samples_dir(), root=course.root)
    click.echo(f"wrote {course.samples_dir().relative_to(course.root)}/ ({len(written)} students)")


@cli.command()
@wait_option
@click.option("--roster", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A CSV (columns: student, name, id, sis_id, login, section) that fills the LMS columns.")
@click.option("--moodle", is_flag=True, help="Write grades_lms.csv for Moodle (no 'Points Possible' row).")
@course_option
@one_line_errors
def export(wait, roster, moodle, course):
    """Rewrite grades.csv and grades_lms.csv from the graded results."""
    from .autograde import export as export_grades
    from .report.csv_files import read_roster

    try:
        people = read_roster(roster) if roster else None
    except ValueError as exc:
        raise Fail(str(exc)) from None
    results = export_grades(course, wait=wait, roster=people, moodle=moodle)
    click.echo(f"wrote grades.csv and grades_lms.csv ({len(results)} students)")


@cli.command("gradescope-bundle")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the zip  [default: <course>/dist/gradescope_autograder.zip]")
@course_option
@one_line_errors
def gradescope_bundle(output, course):
    """Build the Gradescope autograder zip (setup.sh, run_autograder and the grader)."""
    from .gradescope import build_bundle

    path, count, size = build_bundle(course, output)
    click.echo(f"wrote {path} ({count} files, {size // 1024} KiB): upload it as the "
               "assignment's autograder (Ubuntu base image)")


@cli.command("run-autograder")
@click.option("--submission", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The folder with the student's uploaded files (Gradescope: /autograder/submission).")
@click.option("--results", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The results.json to write (Gradescope: /autograder/results/results.json).")
@click.option("--course", "root", default=".", show_default=True, help="The course folder (the unpacked bundle).")
@one_line_errors
def run_autograder(submission, results, root):
    """Grade one Gradescope submission and write Gradescope's results.json."""
    from . import report
    from .gradescope import run_autograder as grade_upload

    result = grade_upload(submission, results, root)
    click.echo(f"{result.student}: {report.fmt_points(result.score)} / {report.fmt_points(result.max_score)}"
               f" -> {results}")


@cli.command()
@course_option
@one_line_errors
def demo(course):
    """The instructor's job end to end on the sample submissions shipped in samples/."""
    from . import demo as story

    if not story.run(course, say=click.echo):
        raise Fail("the gradebook disagrees with grades.csv")


def main() -> None:
    cli(prog_name="python -m grader")
