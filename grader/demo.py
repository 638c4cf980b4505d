"""`make demo`: the instructor's job end to end on the sample submissions in samples/.

Releases with nbgrader, copies the samples into submitted/, grades them with two
workers, prints the class table and what students read, checks that nbgrader's
gradebook holds the same totals, and writes the class insights page. `say` receives each line of the story.
"""
from __future__ import annotations

import shutil
import time
from typing import Callable

from . import gradebook, insights, nbgrader_commands, report
from .autograde import AutogradeError, autograde
from .course import Course


def run(course: Course, say: Callable[[str], None] = print) -> bool:
    """Tell the story; returns whether the gradebook agrees with grades.csv. Raises
    AutogradeError (no samples, or the class run cannot proceed) or
    nbgrader_commands.NbgraderError."""
    samples = course.samples_dir()
    if not samples.is_dir():
        raise AutogradeError(f"no sample submissions in {samples}")
    say("1. nbgrader generate_assignment: source/ -> release/ ...")
    t = time.perf_counter()
    released = nbgrader_commands.release(course)
    say(f"   released {released.relative_to(course.root)} in {time.perf_counter() - t:.1f} s")
    say("2. the sample submissions arrive in submitted/ ...")
    for student in sorted(p for p in samples.iterdir() if p.is_dir()):
        dest = course.submitted_dir() / student.name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(student, dest)
        about = student / "ABOUT.txt"
        say(f"   {student.name}: {about.read_text().strip() if about.exists() else ''}")
    say("3. python -m grader autograde nn_intro --force --workers 2 ...")
    summary = autograde(course, force=True, workers=2)
    results = summary.results
    slowest = max(results, key=lambda r: r.seconds, default=None)
    say(f"   graded {summary.graded} submissions in {summary.seconds:.2f} s with 2 workers"
        + (f" ({slowest.student}'s took {slowest.seconds:.1f} s: its time limits at work)"
           if slowest and slowest.seconds > 2 else ""))
    say("")
    say(report.class_table(results, course))
    say("")
    say("4. what students read, e.g. the failed checks of each sample student:")
    for result in results:
        failed = [c for nb in result.notebooks for c in nb.checks if not c.passed]
        problems = [p for nb in result.notebooks for p in nb.problems] + result.problems
        if not failed and not problems:
            say(f"   {result.student}: everything passed")
            continue
        say(f"   {result.student}: {len(failed)} failed check(s)")
        for line in problems[:2]:
            say(f"     ! {line.splitlines()[0][:150]}")
        for check in failed[:3]:
            first = (check.message.splitlines() or [""])[0]
            say(f"     - {check.name}: {first[:150]}")
        if len(failed) > 3:
            page = course.feedback_student_dir(result.student) / "feedback.html"
            say(f"     ... {len(failed) - 3} more in {page.relative_to(course.root)}")
    totals = gradebook.export_totals(course)
    same = all(abs(totals.get(r.student, -1) - r.score) < 1e-9 for r in results)
    say("")
    say(f"5. nbgrader's gradebook holds the same totals: {'yes' if same else 'NO'} "
        f"({', '.join(f'{s} {report.fmt_points(t)}' for s, t in sorted(totals.items()))})")
    say("")
    say(f"6. python -m grader insights {course.assignment}: what the class got wrong, for Monday ...")
    built = insights.build(course)
    view = built.view
    hardest = view.functions[0] if view.functions else None
    if hardest is not None:
        say(f"   hardest function: {hardest.function} ({hardest.full} of {hardest.of} passed every check)")
    for cause in view.causes[:3]:
        say(f"   {cause.students.count} {'student' if cause.students.count == 1 else 'students'}: "
            f"{cause.function}: {cause.cause}")
    for pair in view.pairs[:3]:
        say(f"   worth a look: {pair.a} and {pair.b} (similarity {pair.score:.2f} in "
            f"{', '.join(f.function for f in pair.functions)})")
    say(f"   wrote {built.html.relative_to(course.root)} ({built.bytes / 1024:.0f} KiB) in {built.seconds:.1f} s"
        f" (open it in a browser)")
    say("")
    say("Where things are:")
    say("  autograded/<student>/nn_intro/results.json   Gradescope-format results")
    say("  autograded/<student>/nn_intro/<nb>.ipynb     autograded notebooks (formgrader, generate_feedback)")
    say("  grader_feedback/<student>/nn_intro/feedback.html  feedback page for each student (and feedback.md)")
    say("  grades.csv, grades_lms.csv                    class grades; Canvas/Moodle import")
    say("  gradebook.db                                  nbgrader's gradebook (nbgrader export, formgrader)")
    say(f"  insights/{course.assignment}.html, .csv".ljust(49) + "the class at a glance: hardest checks, likely causes")
    say("  make gradescope                               builds dist/gradescope_autograder.zip")
    return same
