"""The sample class in samples/ is what `python -m grader samples` (grader/samples.py)
builds from today's release."""
import filecmp
import subprocess
import sys

from conftest import copy_course
from grader import samples as S


def _same_tree(built, committed):
    for student in S.SAMPLES:
        for path in sorted((built / student).rglob("*")):
            if path.is_file():
                twin = committed / path.relative_to(built)
                assert twin.is_file() and filecmp.cmp(path, twin, shallow=False), \
                    f"samples/{path.relative_to(built)} is stale: run `make samples`"


def test_samples_are_in_sync_with_the_release(tmp_path):
    S.write_samples(tmp_path)
    _same_tree(tmp_path, S.ROOT / "samples")


def test_the_samples_command_rebuilds_them_in_the_course_it_is_given(tmp_path):
    course = copy_course(tmp_path)
    (course / "samples" / "stale").mkdir(parents=True)          # replaced, not merged
    proc = subprocess.run([sys.executable, "-m", "grader", "samples", "--course", str(course)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wrote samples/ ({len(S.SAMPLES)} students)"
    assert sorted(p.name for p in (course / "samples").iterdir()) == sorted(S.SAMPLES)
    _same_tree(course / "samples", S.ROOT / "samples")


def test_the_samples_command_without_a_release_says_why_in_one_line(tmp_path):
    course = copy_course(tmp_path)
    subprocess.run(["rm", "-r", str(course / "release")], check=True)
    proc = subprocess.run([sys.executable, "-m", "grader", "samples", "--course", str(course)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "release" in lines[0], proc.stderr
