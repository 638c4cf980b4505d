"""`make demo` (python -m grader demo), the README's first command, end to end on a copy
of the course with its sample submissions: real nbgrader release, the class run, the
gradebook, the insights page."""
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, copy_course

pytestmark = [pytest.mark.slow, pytest.mark.nbgrader]


def test_the_demo_tells_the_whole_story_and_its_figures_agree(tmp_path):
    root = copy_course(tmp_path)
    shutil.copytree(ROOT / "samples", root / "samples")
    run = subprocess.run([sys.executable, "-m", "grader", "demo", "--course", str(root)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    steps = [int(m) for m in re.findall(r"^(\d)\. ", out, re.M)]
    assert steps == [1, 2, 3, 4, 5, 6], out[:2000]
    totals = dict(re.findall(r"(\w+) (\d+(?:\.\d+)?)", out.split("holds the same totals: yes (")[1].split(")")[0]))
    samples = sorted(p.name for p in (root / "samples").iterdir() if p.is_dir())
    assert sorted(totals) == samples
    assert totals["ada"] == totals["gus"] == totals["hana"] == "33" and totals["blake"] == "0"
    assert "worth a look: gus and hana" in out
    assert (root / "insights" / "nn_intro.html").stat().st_size > 50_000
    assert all((root / "grader_feedback" / s / "nn_intro" / "feedback.html").is_file() for s in samples)
