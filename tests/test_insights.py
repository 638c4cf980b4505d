"""The class insights page (grader.insights, grader.report.insights, grader.report.similarity).

A generated class (the key, a blank release, nothing submitted, a cut-off file, every planted
bug, hostile submissions and a disguised copy) is graded for real with `autograde`, the page
is built and opened in headless Chromium, and what it shows is read back and compared with
what each student's results.json (Gradescope's file, not the grader's own record) says:
passes per check and per function, students per likely cause, the groups of submissions that
need a person. No hidden input or reference value may be on it, and student code shown side
by side must stay text. The similarity and the scale are tested without grading.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from browser import Page, hidden_values, leaks, telltale
from conftest import TIGHT_LIMITS, copy_course, set_limits
from grader import references
from grader import course as course_mod
from grader import insights, samples as S
from grader.autograde import autograde
from grader.checks import definition
from grader.cli import cli
from grader.report import similarity

PAYLOAD = '# </pre><script>document.title = "pwned"</script>'
COPIER = "o'brien & <co>"
HOSTILE = ("infinite_loop", "memory_hog", "patched_allclose", "write_outside", "output_flood", "read_solutions")


def _copied(code: str) -> str:
    return code.rstrip("\n") + "\n" + PAYLOAD + "\n"


def write_class(course) -> dict[str, str]:
    """student -> what they handed in, written into the course's submitted/."""
    made = {}

    def folder(student):
        return course.submission_dir(student)

    S.write_submission(folder("key"))
    made["key"] = "the key"
    S.write_submission(folder("blank"), blank=True)
    made["blank"] = "the release"
    folder("absent").mkdir(parents=True)
    made["absent"] = "nothing"
    S.write_submission(folder("cut"))
    path = folder("cut") / "02_xor_network.ipynb"
    path.write_text(path.read_text()[:1500], encoding="utf-8")
    made["cut"] = "a cut-off notebook"
    for name in S.BUGS:
        S.write_bug(folder(f"bug-{name}"), name)
        made[f"bug-{name}"] = name
    for name in HOSTILE:
        S.write_bug(folder(f"hostile-{name}"), name)
        made[f"hostile-{name}"] = name
    # refused by the sandbox, not caught: in a cell (a write into the system's files: read-only in
    # the namespace, another owner's in uid mode) and in a call (the network)
    S.write_submission(folder("tamper"), {"03_activations": {"tanh": (
        "import pathlib\npathlib.Path('/usr/pwned.txt').write_text('pwned')\n"
        "def tanh(z):\n    return np.tanh(z)\n")}})
    S.write_submission(folder("phone-home"), {"03_activations": {"relu": (
        "import socket\ndef relu(z):\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
        "    return np.maximum(0.0, z)\n")}})
    made["tamper"], made["phone-home"] = "writes into /usr", "opens a connection"
    own = {"01_perceptron": {"sigmoid": _copied(S.CORRECT["sigmoid_masks"][2])},
           "02_xor_network": {"forward": S.CORRECT["forward_loops"][2], "backward": S.CORRECT["backward_loops"][2]}}
    S.write_submission(folder("gus"), own)
    S.write_submission(folder(COPIER), {nb: {f: S._disguised(code) for f, code in fs.items()} for nb, fs in own.items()})
    made["gus"], made[COPIER] = "his own loops", "gus's code, renamed"
    return made


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = set_limits(copy_course(tmp_path_factory.mktemp("insights-course")), **TIGHT_LIMITS)
    course = course_mod.load(root)
    made = write_class(course)
    summary = autograde(course, workers=2, gradebook_sync=False)
    assert summary.graded == len(made)
    return course, made, insights.build(course)


def results_json(course) -> dict[str, dict]:
    return {s: json.loads(course.results_json(s).read_text(encoding="utf-8")) for s in course.students()}


def expected_counts(course):
    """From results.json alone: passes per check, full marks per function, students per cause."""
    by_name = {f"{spec.notebook}: {spec.function} - {definition(spec).title}": spec for spec in course.checks()}
    passed = {f"{s.notebook}/{s.function}/{s.name}": 0 for s in course.checks()}
    missed: dict[str, set] = {f"{s.notebook}/{s.function}": set() for s in course.checks()}
    causes: dict[str, set] = {}
    everyone = results_json(course)
    for student, data in everyone.items():
        seen = set()
        for test in data["tests"]:
            spec = by_name[test["name"]]
            seen.add(spec.key)
            where = f"{spec.notebook}/{spec.function}"
            if test["status"] == "passed":
                passed[f"{where}/{spec.name}"] += 1
                continue
            missed[where].add(student)
            for cause in re.findall(r"Likely cause: (.+)$", test["output"], re.MULTILINE):
                causes.setdefault(f"{where}/{cause}", set()).add(student)
        for spec in course.checks():
            if spec.key not in seen:                # not in results.json at all: not passed
                missed[f"{spec.notebook}/{spec.function}"].add(student)
    full = {where: len(everyone) - len(who) for where, who in missed.items()}
    return passed, full, causes, len(everyone)


def _open(browser, built) -> Page:
    page = Page(browser, built[2].html.resolve().as_uri(), width=1200, height=900)
    page.js("document.querySelectorAll('details').forEach(d => d.open = true)")
    return page


def _rows(page, selector: str, *fields: str) -> list[list]:
    return page.js(f"[...document.querySelectorAll('{selector}')].map(r => [{', '.join(f'r.dataset.{f}' for f in fields)}])")


@pytest.mark.slow
def test_the_page_counts_what_the_results_say(browser, built):
    course, made, out = built
    page = _open(browser, built)
    passed, full, causes, students = expected_counts(course)
    assert students == len(made) == out.students

    checks = {key: (int(p), int(of)) for key, p, of in _rows(page, "tr[data-check]", "check", "passed", "of")}
    assert checks == {key: (n, students) for key, n in passed.items()}
    functions = {key: (int(f), int(of)) for key, f, of in _rows(page, "tr[data-function]", "function", "full", "of")}
    assert functions == {key: (n, students) for key, n in full.items()}
    # hardest first, as the heading says
    rates = [int(f) / int(of) for _, f, of in _rows(page, "tr[data-function]", "function", "full", "of")]
    assert rates == sorted(rates) and rates[0] < rates[-1]

    shown = {key: int(n) for key, n in _rows(page, "tr[data-cause]", "cause", "count")}
    assert shown == {key: len(who) for key, who in causes.items()}
    assert len(shown) >= 5            # the planted bugs name causes: mean, 1/2, derivative of the output ...
    who = page.js("Object.fromEntries([...document.querySelectorAll('tr[data-cause]')]"
                  ".map(r => [r.dataset.cause, [...r.querySelectorAll('a.sid')].map(a => a.textContent)]))")
    assert {k: set(v) for k, v in who.items()} == causes
    assert any(c.endswith("the mean over all entries is taken instead of the sum") for c in shown)


@pytest.mark.slow
def test_the_submissions_that_need_a_person_are_named(browser, built):
    page = _open(browser, built)
    groups = page.js("Object.fromEntries([...document.querySelectorAll('tr[data-group]')]"
                     ".map(r => [r.dataset.group, [...r.querySelectorAll('a.sid')].map(a => a.textContent)]))")
    assert groups["nothing"] == ["absent"]
    assert groups["blank"] == ["blank"]
    assert "cut" in groups["broken"]
    assert "hostile-infinite_loop" in groups["time"]
    assert "hostile-memory_hog" in groups["memory"]
    assert "hostile-output_flood" in groups["output"]
    # hostile-write_outside catches its refusal: the sandbox's audit hook saw the attempt
    assert groups["refused"] == ["hostile-write_outside", "phone-home", "tamper"]
    assert "key" not in {s for ids in groups.values() for s in ids}
    assert "changed" not in groups and "regrade" not in groups
    assert page.js("document.querySelector('#changed, #grader-changed')") is None
    text = " ".join(page.js("document.querySelector('#group-refused').innerText").split())
    assert "pathlib.Path('/usr/pwned.txt').write_text('pwned')" in text  # what was attempted, in the student's words
    assert "socket.create_connection(('192.0.2.1', 80), timeout=1)" in text and "relu" in text
    assert 'target.write_text("pwned") (writes outside its folder: /nonexistent/pwned.txt)' in text
    assert text.count("/usr/pwned.txt") == 2        # once: the refusal seen is not listed again as an attempt


@pytest.mark.slow
def test_the_copied_pair_is_worth_a_look_and_its_code_stays_text(browser, built):
    course, made, out = built
    page = _open(browser, built)
    pairs = _rows(page, "details.pair", "pair")
    assert pairs == [[f"gus {COPIER}"]], pairs        # the key, shared by 20 bug students, pairs no one
    text = page.js("document.querySelector('details.pair').innerText")
    assert text.count(PAYLOAD) == 2                   # both codes, side by side, as text
    assert page.js("document.scripts.length") == 0 and page.js("document.title") == f"Class insights: {course.assignment}"
    marked = page.js("[...document.querySelectorAll('details.pair pre span.shared')].length")
    assert marked > 10


@pytest.mark.slow
def test_plots_are_embedded_images_and_links_reach_the_feedback(browser, built):
    page = _open(browser, built)
    images = page.js("[...document.images].map(i => [i.id, i.src.slice(0, 22), i.complete, i.naturalWidth])")
    assert {i[0] for i in images} == {"plot-totals", "plot-notebooks", "plot-functions", "plot-checks"}
    assert all(src == "data:image/png;base64," and done and width > 200 for _, src, done, width in images)
    assert page.js("[...document.querySelectorAll('[src], link[href]')].every(e => (e.src || e.href).startsWith('data:'))")
    links = page.js("[...document.querySelectorAll('a.sid')].map(a => [a.textContent, a.href])")
    assert len(links) > 50
    for student, href in links:
        target = Path(unquote(urlparse(href).path))
        assert target.is_file() and target.parent.parent.name == student, (student, href)


@pytest.mark.slow
def test_no_hidden_input_or_reference_value_is_on_the_page(browser, built):
    course, made, out = built
    page = _open(browser, built)
    # the run's own figures (its seconds can read like any number) are the run record's, nothing else
    run = page.js("[...document.querySelectorAll('#run tr')].map(r => r.cells[1].textContent)")
    record = json.loads(course.run_record().read_text(encoding="utf-8"))
    assert run and set(run) <= {str(v) for v in record.values()}
    text = page.js("[...document.querySelectorAll('main > :not(#run)')].map(e => e.innerText).join('\\n')")
    assert "Likely causes" in text and "grading time" not in text
    values = [x for v in references.load().values() for x in _numbers(v)]
    values += hidden_values(course, "bug-compute_loss_mean")
    assert sum(bool(telltale(x)) for x in values) > 1000
    assert leaks(text, values) == []
    assert leaks(out.csv.read_text(), values) == []


def _numbers(value) -> list[float]:
    import numpy as np
    arr = np.asarray(value)
    return [float(x) for x in arr.ravel()[:2000]] if arr.dtype.kind in "fiu" else []


@pytest.mark.slow
def test_the_csv_has_every_student_the_page_cuts(built):
    course, made, out = built
    rows = list(csv.DictReader(out.csv.open(encoding="utf-8")))
    passed, full, causes, students = expected_counts(course)
    checks = {f"{r['notebook']}/{r['function']}/{r['check']}": int(r["count"]) for r in rows if r["section"] == "check"}
    assert checks == passed
    cause_rows = {f"{r['notebook']}/{r['function']}/{r['what']}": set(r["students"].split("; "))
                  for r in rows if r["section"] == "cause"}
    assert cause_rows == causes                   # ids with spaces (o'brien & <co>) stay whole
    pair = next(r for r in rows if r["section"] == "similar")
    assert pair["students"].split("; ") == ["gus", COPIER]


# ---------------------------------------------------------------------------------------
# Similarity, without grading


def _template(course) -> dict[str, str]:
    return insights.class_codes(course, [])[0]


def test_a_renamed_and_commented_copy_is_found(course):
    template = _template(course)
    own = {"forward": S.CORRECT["forward_loops"][2], "backward": S.CORRECT["backward_loops"][2]}
    codes = {"gus": own, "hana": {f: S._disguised(c) for f, c in own.items()},
             "key": {f: S.solution_code("02_xor_network", f) for f in own}}
    pairs = similarity.similar_pairs(template, codes)
    assert [(p.a, p.b) for p in pairs] == [("gus", "hana")]
    assert pairs[0].score > 0.95 and {m.function for m in pairs[0].functions} == {"forward", "backward"}


def test_the_template_and_what_the_class_shares_pair_no_one(course):
    template = _template(course)
    stubs = {f"blank{i}": dict(template) for i in range(3)}
    assert similarity.similar_pairs(template, stubs) == []
    key = {f: S.solution_code(nb, f) for nb in S.NOTEBOOKS for f in
           [fn.name for fn in course.notebook(nb).functions]}
    assert similarity.similar_pairs(template, {f"s{i}": dict(key) for i in range(10)}) == []
    # ... but two of them alone do share uncommon code: the threshold is what tells
    assert [(p.a, p.b) for p in similarity.similar_pairs(template, {"a": key, "b": key})] == [("a", "b")]


def test_short_identical_answers_are_not_evidence(course):
    short = "def relu(z):\n    return np.maximum(0.0, np.asarray(z, dtype=float))\n"
    assert similarity.similar_pairs(_template(course), {"a": {"relu": short}, "b": {"relu": short}}) == []


def test_other_correct_forms_are_not_paired_with_the_key(course):
    template = _template(course)
    codes = {name: {fn: code} for name, (_, fn, code) in S.CORRECT.items()}
    for (_, fn, _) in S.CORRECT.values():
        nb = next(nb.name for nb in course.notebooks if any(f.name == fn for f in nb.functions))
        codes.setdefault(f"key-{fn}", {fn: S.solution_code(nb, fn)})
    assert similarity.similar_pairs(template, codes) == []


def test_broken_code_is_read_as_far_as_it_goes():
    broken = "def backward(X, y, params, cache):\n    dZ2 = (cache['A2'] - y\n    return {'W1': '''unclosed\n"
    toks = similarity.tokens(broken)
    assert [t for t, _ in toks][:3] == ["def", "V", "("] and toks[-1] == ("S", 3)
    assert similarity.canonical(broken) == [t for t, _ in toks]
    assert similarity.similar_pairs({}, {"a": {"backward": broken}, "b": {"backward": "\x00\ufeff" + broken}}) == []


def test_the_fast_lexer_agrees_with_the_one_that_keeps_lines():
    for _, _, code in [*S.BUGS.values(), *S.CORRECT.values(), *S.HOSTILE.values()]:
        assert similarity.canonical(code) == [t for t, _ in similarity.tokens(code)]


def test_names_and_layout_do_not_matter_but_operations_do():
    a = "def f(x):\n    y = np.outer(x, x.T)  # outer\n    return y * 2\n"
    b = "def f(inp):\n    out = np.outer(inp,\n                   inp.T)\n\n    return out*2\n"
    c = "def f(x):\n    y = np.dot(x, x.T)\n    return y * 2\n"
    assert similarity.canonical(a) == similarity.canonical(b) != similarity.canonical(c)


# ---------------------------------------------------------------------------------------
# A class of 1,000 and the command line


@pytest.mark.slow
def test_a_class_of_1000_gives_a_small_page(tmp_path):
    course = course_mod.load(copy_course(tmp_path))
    students = S.write_synthetic_class(course, 1001)
    course.result_record(students[-1]).unlink()          # handed in after the run: not graded yet
    out = insights.build(course)
    assert out.students == 1000 and out.bytes < 600_000, out.bytes
    assert out.view.ungraded.ids == [students[-1]] and out.view.changed.ids == []
    assert f'<span class="sid">{students[-1]}</span>' in out.html.read_text(encoding="utf-8")
    assert [(p.a, p.b) for p in out.view.pairs] == [(students[i - 1], students[i]) for i in range(99, 1001, 100)]
    html = out.html.read_text(encoding="utf-8")
    assert html.count('class="sid"') < 3000            # ids are cut per row; the CSV has them all
    rows = list(csv.DictReader(out.csv.open(encoding="utf-8")))
    assert sum(len(r["students"].split("; ")) for r in rows if r["section"] == "check") > 5000


@pytest.mark.slow
def test_results_a_rerun_would_redo_are_flagged(tmp_path):
    """A submission changed after it was graded (handed in again), or results graded with
    other checks, references or course.yaml than today's: the page counts old results and
    says which. Each result carries the fingerprint it was graded with, so a run of one
    student (--student) changes nothing for the others."""
    course = course_mod.load(copy_course(tmp_path))
    a, b, c = S.write_synthetic_class(course, 3, copied_every=0)
    out = insights.build(course)
    assert out.view.changed.ids == [] and out.view.grader_changed.ids == []
    resubmitted = course.submission_dir(b) / course.notebooks[0].filename
    resubmitted.write_text(resubmitted.read_text(encoding="utf-8") + " ", encoding="utf-8")
    out = insights.build(course)
    assert out.view.changed.ids == [b] and out.view.grader_changed.ids == []
    html = out.html.read_text(encoding="utf-8")
    assert 'data-group="changed" data-count="1"' in html and 'id="changed"' in html
    assert 'id="grader-changed"' not in html
    rows = {r["section"]: r for r in csv.DictReader(out.csv.open(encoding="utf-8"))}
    assert rows["changed"]["students"] == b and rows["changed"]["count"] == "1"

    yaml_path = course.root / "course.yaml"
    original = yaml_path.read_text(encoding="utf-8")
    yaml_path.write_text(original + "# a point moved\n", encoding="utf-8")
    out = insights.build(course)
    assert out.view.grader_changed.ids == [a, b, c] and out.view.changed.ids == [b]
    assert 'id="grader-changed"' in out.html.read_text(encoding="utf-8")

    # one student regraded with today's course: only the other two are left to redo
    from grader.autograde import autograde
    autograde(course, [b], gradebook_sync=False)
    out = insights.build(course)
    assert out.view.grader_changed.ids == [a, c] and out.view.changed.ids == []
    yaml_path.write_text(original, encoding="utf-8")        # back as it was: b is the odd one out
    out = insights.build(course)
    assert out.view.grader_changed.ids == [b] and out.view.changed.ids == []


def test_insights_without_results_exits_non_zero_in_one_line(course_copy):
    from click.testing import CliRunner

    (course_copy / "submitted" / "ada" / "nn_intro").mkdir(parents=True)
    r = CliRunner().invoke(cli, ["insights", "nn_intro", "--course", str(course_copy)])
    assert r.exit_code != 0 and len(r.output.strip().splitlines()) == 1
    assert "no results" in r.output and "autograde nn_intro" in r.output
    r = CliRunner().invoke(cli, ["insights", "nn_intr", "--course", str(course_copy)])
    assert r.exit_code != 0 and len(r.output.strip().splitlines()) == 1 and "nn_intr" in r.output


# ---------------------------------------------------------------------------------------
# What a hostile or odd class cannot do to the page (found by a review; each was a crash,
# a hang or a miss)


def test_the_lexer_cannot_be_made_to_backtrack():
    # a run of spaces before a character no token matches took ~4x longer per two spaces
    assert similarity.canonical(" " * 60 + "\v") == []
    assert similarity.canonical("def f(z):\n" + " " * 60 + "\xa0return z") == \
        ["def", "V", "(", "V", ")", ":", "NEWLINE", "return", "V"]
    assert similarity.canonical(" " * 60 + "$") == ["$"]


def test_a_copy_of_many_short_functions_is_found():
    rng = __import__("random").Random(1)

    def short(i, s):
        return f"def f{i}(z):\n    return np.clip(z * {rng.randrange(1000)}, 0, {i})\n"

    codes = {f"s{k}": {f"f{i}": short(i, k) for i in range(15)} for k in range(40)}
    codes["copy"] = dict(codes["s7"])
    pairs = similarity.similar_pairs({}, codes)
    assert [(p.a, p.b) for p in pairs] == [("copy", "s7")]
    assert all(m.evidence < similarity.MIN_EVIDENCE for m in pairs[0].functions)   # none enough alone


def test_what_many_students_share_is_bounded_and_pairs_no_one():
    assert similarity.common_limit(1000) == similarity.COMMON_MAX
    table = "W = [" + ", ".join(str(i) for i in range(400)) + "]\n"
    codes = {f"s{k:03d}": {"f": table + f"x = {k}\n"} for k in range(similarity.COMMON_MAX + 1)}
    codes.update({f"t{k:03d}": {"f": f"y = {k} * {k + 1}\n"} for k in range(200)})
    assert similarity.similar_pairs({}, codes) == []
    del codes["s000"]                                 # ten of them: still beyond the template, listed
    assert len(similarity.similar_pairs({}, codes)) == 45


def test_text_utf8_cannot_write_is_shown_escaped(tmp_path):
    course = course_mod.load(copy_course(tmp_path))
    a, b = S.write_synthetic_class(course, 2, copied_every=2)
    for student in (a, b):                      # a lone surrogate, as a notebook's JSON may hold
        for path in course.submission_dir(student).glob("*.ipynb"):
            path.write_text(path.read_text().replace("_mine_0", "_mine_0  # \\ud800"), encoding="utf-8")
    out = insights.build(course)
    assert [(p.a, p.b) for p in out.view.pairs] == [(a, b)]
    assert "\\ud800" in out.html.read_text(encoding="utf-8")


def test_a_result_filed_under_another_student_is_not_theirs(tmp_path):
    course = course_mod.load(copy_course(tmp_path))
    a, b = S.write_synthetic_class(course, 2, copied_every=0)
    record = course.result_record(b)
    record.write_text(record.read_text().replace(f'"student": "{b}"', '"student": "../ada"'))
    out = insights.build(course)
    assert out.students == 1 and out.view.ungraded.ids == [b]


def test_incidents_name_what_was_tried_never_the_exceptions_text():
    from grader import results as R
    from grader.grading import call_incidents

    def raised(function, text):
        return R.CheckResult("03_activations", function, "values", "t", 0.0, 1.0, False,
                             f"case 'x': {function} raised {text}", failure=R.RAISED)

    found = call_incidents([
        raised("relu", "MemoryError: z=array([ 0.7311, -2.25 ])"),
        raised("tanh", "PermissionError: [Errno 13] Permission denied: '/tmp/0.7311'\n"
                       '  File "<cell tanh_answer>", line 3, in tanh\n    open(f"/tmp/{z[0]}", "w")'),
    ], set())
    assert [(i.kind, i.where, i.detail) for i in found] == [
        (R.MEMORY, "relu", "MemoryError"), (R.REFUSED, "tanh", 'open(f"/tmp/{z[0]}", "w") (PermissionError)')]


def test_one_student_cannot_push_the_others_off_the_page(course):
    """A student with 60 incidents in a group shows DETAILS_PER_STUDENT of them; everyone
    else's still show; the CSV holds every detail."""
    from grader import results as R
    from grader.report import insights as page

    def result(student, n):
        nb = R.NotebookResult(course.notebooks[2].name, 0.0, course.notebooks[2].points,
                              incidents=[R.Incident(R.ATTEMPTED, f"f{k}", f"open('/usr/{k}', 'w') (writes outside its folder)")
                                         for k in range(n)])
        return R.SubmissionResult(student, course.assignment, 0.0, course.points, [nb])
    results = [result("aaa", 60), *(result(s, 1) for s in ("bob", "cat", "dan"))]
    view = page.insights_view(course, results)
    group = next(g for g in view.groups if g.key == "refused")
    assert [d.student for d in group.details] == ["aaa"] * page.DETAILS_PER_STUDENT + ["bob", "cat", "dan"]
    assert group.more == 60 - page.DETAILS_PER_STUDENT and len(group.every) == 63
    rows = [r for r in page.insights_rows(view) if r[0] == "refused_detail"]
    assert len(rows) == 63 and rows[-1][-1] == "dan" and rows[0][4] == "open('/usr/0', 'w') (writes outside its folder)"
