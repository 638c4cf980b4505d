"""Benchmark: our grader against `nbgrader autograde`, on the same synthetic submissions.

    .venv/bin/python bench/run.py [--k 12] [--workers 1,2] [--repeats 3]
                                  [--skip-nbgrader] [--skip-dask] [--out FILE]

(`make bench` runs it with the defaults; about 5 minutes, most of it nbgrader.) One run
builds K submissions of the three notebooks in temporary copies of the course -- the
solution key, a blank release, planted bugs and the hostile `patched_allclose` -- grades
them with our grader and with the real nbgrader (generate_assignment, autograde, export),
and reports, as figures of this one run:

* seconds per submission of each command (`python -m grader autograde` and
  `nbgrader autograde`, start-up and gradebook included) on the first K/2 and on all K
  submissions: per submission in the batch, and per extra submission (start-up excluded);
  their ratios; one submission as its own command;
* peak memory of our command (its largest process, and the sum over its process tree);
* where our time goes: sandbox start/close, the notebook's cells, the student's own code
  inside the checks' calls (timed in the sandbox), our checks (the rest), and the same
  for slow but correct student code;
* one sandbox's life on a tiny notebook: start, 3 cells, one call, close (milliseconds);
* whether the honest submissions get the same totals from both;
* the hostile submissions that a batch average would hide (output flood, memory hog,
  infinite loop), each graded alone by ours; nbgrader is not run on them (bench/README.md);
* linearity (K and 2K submissions) and worker scaling (1 and 2 workers), in process,
  medians of interleaved repetitions (other jobs on the machine add noise);
* the OpenBLAS fix found by profiling, before/after, interleaved in this run;
* the Dask executor on a local cluster (2 worker processes), on the same 2K submissions.

Results go to bench/results/<timestamp>.json (git-ignored) and a summary is printed.
Absolute times of the same work vary by 10-30 % between runs on a shared machine;
compare ratios measured within one run.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ORIGINAL_ENV = dict(os.environ)      # before grader is imported (it pins BLAS threads to 1)
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import samples as S  # noqa: E402

PY = sys.executable
HOSTILE_IN_BATCH = ("patched_allclose",)            # cheap for both graders
HOSTILE_ALONE = ("output_flood", "memory_hog", "infinite_loop")


# ---------------------------------------------------------------------------------------
# submissions and course copies

def mix(k: int) -> list[tuple[str, str]]:
    """(student id, kind) of k submissions: key, blank, patched_allclose and the planted
    bugs, spread over the three notebooks; 2*12 covers every bug. Repeats if k is larger."""
    bugs = sorted(S.BUGS, key=lambda b: (list(S.NOTEBOOKS).index(S.BUGS[b][0]), b))
    by_nb = [[b for b in bugs if S.BUGS[b][0] == nb] for nb in S.NOTEBOOKS]
    spread = [b for group in zip(*[g + [None] * (max(map(len, by_nb)) - len(g)) for g in by_nb])
              for b in group if b]                 # round robin over the notebooks
    order = ["key", "blank", *HOSTILE_IN_BATCH, *spread]
    return [(f"s{i:03d}-{order[i % len(order)]}", order[i % len(order)]) for i in range(k)]


BURN_SECONDS = 0.02
_HEAVY = '''
if "_heavy" not in globals():
    import time as _time
    _depth = [0]
    def _heavy(f):
        """Burn {burn} s of CPU on each outer call of f (not on calls from other graded functions)."""
        def wrapper(*args, **kwargs):
            if _depth[0] == 0:
                end = _time.perf_counter() + {burn}
                while _time.perf_counter() < end:
                    pass
            _depth[0] += 1
            try:
                return f(*args, **kwargs)
            finally:
                _depth[0] -= 1
        wrapper.__name__ = f.__name__
        return wrapper
'''


def write_heavy(root: Path, student: str) -> None:
    """The key, made slow: each graded function burns BURN_SECONDS of CPU per call from a
    check. The student's own code then takes ~1.8 s per submission instead of ~10 ms,
    which shows how our overhead compares with student code of that size."""
    from grader import course as course_mod
    course = course_mod.load(root)
    overrides = {}
    for nb in course.notebooks:
        overrides[nb.name] = {fn.name: _HEAVY.format(burn=BURN_SECONDS) + S.solution_code(nb.name, fn.name, root)
                              + f"\n{fn.name} = _heavy({fn.name})\n" for fn in nb.functions}
    S.write_submission(root / "submitted" / student / "nn_intro", overrides, root=root)


def is_honest(kind: str) -> bool:
    return kind not in S.HOSTILE


def write(root: Path, student: str, kind: str) -> None:
    folder = root / "submitted" / student / "nn_intro"
    if kind == "key":
        S.write_submission(folder, root=root)
    elif kind == "blank":
        S.write_submission(folder, blank=True, root=root)
    else:
        S.write_bug(folder, kind, root=root)


def copy_course(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("course.yaml", "nbgrader_config.py"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, dest / name)
    return dest


# ---------------------------------------------------------------------------------------
# running commands

def nbgrader_env() -> dict:
    env = dict(ORIGINAL_ENV)       # nbgrader as an instructor runs it (its own BLAS threads)
    env["PATH"] = os.pathsep.join([str(Path(PY).parent), env.get("PATH", "")])
    return env


class TreeMemory:
    """Samples the resident memory of a process and its descendants (sum of RSS: shared
    pages are counted once per process, so this is an upper bound)."""

    def __init__(self, pid: int, interval: float = 0.02):
        import psutil
        self.proc, self.interval, self.peak, self._stop = psutil.Process(pid), interval, 0, False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil
        while not self._stop:
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(self.interval)

    def stop(self) -> int:
        self._stop = True
        self._thread.join()
        return self.peak


def run(cmd: list[str], cwd: Path, env: dict, memory: bool = False) -> dict:
    """Run a command: its wall seconds, its output, and the peak RSS of its largest process
    (rusage of the waited tree, from wait4) and, with memory=True, of its whole process tree
    (sampled)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        sampler = TreeMemory(proc.pid) if memory else None
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        tree_peak = sampler.stop() if sampler else 0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{(stderr or stdout)[-3000:]}")
    return {"seconds": seconds, "stdout": stdout, "stderr": stderr, "tree_peak_rss": tree_peak,
            "largest_rss": usage.ru_maxrss * 1024}


def ours_cli(root: Path, *args: str, memory: bool = False) -> dict:
    return run([PY, "-m", "grader", *args, "--course", str(root)], ROOT, ORIGINAL_ENV, memory)


def nbgrader(root: Path, *args: str) -> dict:
    return run([PY, "-m", "nbgrader", *args], root, nbgrader_env())


# ---------------------------------------------------------------------------------------
# the measurements

def ours_in_process(course, students: list[str], workers: int) -> float:
    """Grading seconds of grader.autograde.autograde (results written, no gradebook), per submission."""
    from grader.autograde import autograde
    summary = autograde(course, students, force=True, workers=workers, gradebook_sync=False)
    assert summary.graded == len(students)
    return summary.seconds / len(students)


def split_of(course, students: list[str]) -> dict:
    """Mean seconds per submission of each part, from the stored results."""
    from grader import store
    parts = {"start": 0.0, "cells": 0.0, "student": 0.0, "checks": 0.0, "total": 0.0}
    for student in students:
        result = store.load_result(course, student)
        parts["total"] += sum(nb.seconds for nb in result.notebooks)
        for nb in result.notebooks:
            for key, value in nb.timings.items():
                parts[key] += value
    return {k: v / len(students) for k, v in parts.items()}


def blas_before_after(root: Path, students: list[str], repeats: int) -> dict:
    """The profile's finding, checked: numpy imported before grader with the BLAS threads
    as the machine would have them (before the fix) against the grader as it is."""
    code = ("import sys; from grader import course as c; from grader.autograde import autograde; "
            "co = c.load(sys.argv[1]); s = sys.argv[3:]; "
            "r = autograde(co, s, force=True, workers=int(sys.argv[2]), gradebook_sync=False); "
            "print(r.seconds / len(s))")
    env_before = {k: v for k, v in ORIGINAL_ENV.items()
                  if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out: dict = {}
    for workers in (1, 2):
        for _ in range(repeats):
            for label, pre in (("before", "import numpy; "), ("after", "")):
                env = env_before if label == "before" else ORIGINAL_ENV
                r = run([PY, "-c", pre + code, str(root), str(workers), *students], ROOT, env)
                out.setdefault(f"{label}_w{workers}", []).append(float(r["stdout"].strip().splitlines()[-1]))
    return {k: statistics.median(v) for k, v in out.items()}


def ours_dask(course, students: list[str]) -> dict:
    import distributed
    from grader.autograde import autograde
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        summary = autograde(course, students, force=True, executor="dask",
                            scheduler=cluster.scheduler_address, gradebook_sync=False)
    return {"per_submission": summary.seconds / len(students)}


def nbgrader_totals(root: Path) -> dict[str, float]:
    out = root / "nbgrader_grades.csv"
    nbgrader(root, "export", "--to", str(out))
    with out.open() as f:
        return {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}


def ours_totals(course, students: list[str]) -> dict[str, float]:
    from grader import store
    return {s: store.load_result(course, s).score for s in students}


def sandbox_costs(rounds: int = 5, calls: int = 10) -> dict:
    """Milliseconds of one sandbox's life on a tiny notebook (3 cells, a forward pass),
    best and median of `rounds`: start, the cells, one call, close, all of it. (Was
    tests/test_sandbox.py::test_measure_costs, a benchmark inside the test suite.)"""
    import numpy as np

    from grader.sandbox import Limits, Sandbox, prewarm

    prewarm()                               # what a grading process does once
    snippet = [("a", "import numpy as np"),
               ("b", "W = np.random.default_rng(0).standard_normal((2, 3))"),
               ("c", "def forward(x):\n    return np.tanh(W @ x)\n")]
    x = np.ones(3)
    rows = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        box = Sandbox(Limits(check_timeout=5.0, cell_timeout=5.0), label="bench")
        t1 = time.perf_counter()
        out = box.run_cells(snippet)
        t2 = time.perf_counter()
        for _ in range(calls):
            r = box.call("forward", (x,))
        t3 = time.perf_counter()
        box.close()
        t4 = time.perf_counter()
        if not (all(o.status == "ok" for o in out) and r.status == "ok"):
            raise RuntimeError(f"the benchmark's sandbox failed: {[o.message for o in out]} {r.message}")
        rows.append((t1 - t0, t2 - t1, (t3 - t2) / calls, t4 - t3, t4 - t0))
    names = ("start", "cells", "call", "close", "total")
    return {name: {"best_ms": min(col) * 1e3, "median_ms": statistics.median(col) * 1e3}
            for name, col in zip(names, zip(*rows))}


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    return {"cores": os.cpu_count(), "cpu": model or platform.processor(), "python": platform.python_version(),
            "numpy": numpy.__version__, "platform": platform.platform(),
            "load_average_at_start": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", type=int, default=12, help="submissions in the batch (default 12); ours also grades 2K")
    ap.add_argument("--workers", default="1,2", help="worker counts for ours (default 1,2)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="repetitions of each of our timings (commands: best of; in process: median; default 3)")
    ap.add_argument("--skip-nbgrader", action="store_true", help="do not run nbgrader")
    ap.add_argument("--skip-dask", action="store_true", help="do not run the Dask executor")
    ap.add_argument("--out", type=Path, help="results file (default bench/results/<timestamp>.json)")
    args = ap.parse_args()
    workers = sorted({int(w) for w in args.workers.split(",")})
    k = args.k
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_path = args.out or ROOT / "bench" / "results" / f"{stamp}.json"

    from grader import course as course_mod
    from grader.grading import Grader, isolate

    isolate()
    work = Path(tempfile.mkdtemp(prefix="nn-intro-bench-"))
    report: dict = {"command": " ".join([Path(PY).name, *sys.argv]), "when": stamp, "machine": machine(), "k": k}
    try:
        batch = mix(k)
        double = mix(2 * k)
        kinds = dict(double)
        ours_root = copy_course(work / "ours")
        for student, kind in double:
            write(ours_root, student, kind)
        for kind in HOSTILE_ALONE:
            write(ours_root, f"hostile-{kind}", kind)
        heavy = [f"heavy-{i}" for i in range(3)]
        for student in heavy:
            write_heavy(ours_root, student)
        course = course_mod.load(ours_root)
        first = [s for s, _ in batch]
        both = [s for s, _ in double]
        log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731

        # 1. ours as a command, end to end (process start, grading, outputs, gradebook), on
        #    the first K/2 and on all K submissions: per submission and per extra submission
        half = first[: k // 2]
        log(f"ours: `python -m grader autograde` on {len(half)} and {k} submissions, workers {workers} ...")
        cmd: dict = {}
        for _ in range(args.repeats):
            for w in workers:
                for label, group in (("half", half), ("full", first)):
                    students = [a for s in group for a in ("--student", s)]
                    t = ours_cli(ours_root, "autograde", "nn_intro", "--force", "--workers", str(w), *students)
                    cmd.setdefault(f"w{w}", {}).setdefault(label, []).append(t["seconds"])
        memory = {}
        for w in workers:   # a separate run: the sampling would slow the timed ones
            students = [a for s in first for a in ("--student", s)]
            t = ours_cli(ours_root, "autograde", "nn_intro", "--force", "--workers", str(w), *students, memory=True)
            memory[f"w{w}"] = {"largest_process_mb": t["largest_rss"] / 2**20, "tree_mb": t["tree_peak_rss"] / 2**20}
        one_ours = [ours_cli(ours_root, "autograde", "nn_intro", "--force", "--student", first[0])["seconds"]
                    for _ in range(args.repeats)]
        report["ours_command"] = {"seconds": cmd, "half": len(half), "memory": memory,
                                  "one_submission_command_seconds": statistics.median(one_ours)}

        # 2. ours in process: linearity and workers, interleaved repetitions
        log(f"ours: {k} and {2 * k} submissions, workers {workers}, {args.repeats} repetitions ...")
        timings: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            for w in workers:
                timings.setdefault(f"k_w{w}", []).append(ours_in_process(course, first, w))
                timings.setdefault(f"2k_w{w}", []).append(ours_in_process(course, both, w))
        med = {key: statistics.median(v) for key, v in timings.items()}
        report["ours"] = {"per_submission_median": med, "all": timings}
        honest = [s for s in first if is_honest(kinds[s])]
        ours_in_process(course, first, 1)       # the stored results (and their timings) of a 1-worker run
        split = split_of(course, honest)
        report["split_honest_w1"] = split
        ours_in_process(course, heavy, 1)
        report["split_heavy_w1"] = split_of(course, heavy)
        report["heavy_scores"] = ours_totals(course, heavy)
        report["burn_seconds_per_call"] = BURN_SECONDS

        # 2b. one sandbox's life, in milliseconds
        log("ours: one sandbox's start, cells, call and close ...")
        report["sandbox_costs"] = sandbox_costs(rounds=max(5, args.repeats))

        # 3. hostile submissions that a batch average would hide, each alone
        log("ours: hostile submissions alone ...")
        grader = Grader(course)
        alone = {}
        for kind in HOSTILE_ALONE:
            t0 = time.perf_counter()
            result = grader.grade(f"hostile-{kind}")
            alone[kind] = {"seconds": time.perf_counter() - t0, "score": result.score}
        t0 = time.perf_counter()
        grader.grade(first[0])
        key_alone = time.perf_counter() - t0
        alone["key_for_comparison"] = {"seconds": key_alone}
        report["hostile_alone"] = alone
        report["check_timeout"] = grader.limits.check_timeout

        # 4. the BLAS fix, before/after in this run
        log("ours: OpenBLAS threads before/after ...")
        report["blas_fix"] = blas_before_after(ours_root, first, max(1, args.repeats - 1))

        # 5. Dask
        if not args.skip_dask:
            log(f"ours: Dask LocalCluster, 2 workers, {2 * k} submissions ...")
            dask_root = copy_course(work / "dask")
            for student, kind in double:
                write(dask_root, student, kind)
            dask_course = course_mod.load(dask_root)
            report["dask"] = ours_dask(dask_course, both)
            same = all((dask_root / "autograded" / s / "nn_intro" / "results.json").read_bytes()
                       == (ours_root / "autograded" / s / "nn_intro" / "results.json").read_bytes() for s in both)
            report["dask"]["results_json_identical_to_local"] = same

        # 6. nbgrader on the same submissions: the first K/2, then all K
        if not args.skip_nbgrader:
            nb_root = copy_course(work / "nbgrader")
            log("nbgrader: generate_assignment ...")
            report["nbgrader_generate_seconds"] = nbgrader(nb_root, "generate_assignment", "nn_intro", "--force")["seconds"]
            for student in half:
                write(nb_root, student, kinds[student])
            log(f"nbgrader: autograde on {len(half)}, then on {k} submissions (about 8 s each) ...")
            t_half = nbgrader(nb_root, "autograde", "nn_intro", "--force")["seconds"]
            for student in first[len(half):]:
                write(nb_root, student, kinds[student])
            t_full = nbgrader(nb_root, "autograde", "nn_intro", "--force")["seconds"]
            one_nb = nbgrader(nb_root, "autograde", "nn_intro", "--force", "--student", first[0])["seconds"]
            theirs = nbgrader_totals(nb_root)
            mine = ours_totals(course, first)
            report["nbgrader"] = {"seconds": {"half": t_half, "full": t_full}, "half": len(half),
                                  "one_submission_command_seconds": one_nb}
            report["totals"] = {s: {"kind": kinds[s], "ours": mine[s], "nbgrader": theirs.get(s)} for s in first}
        report["load_average_at_end"] = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summarize(report, workers)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {out_path}")


def summarize(r: dict, workers: list[int]) -> None:
    k = r["k"]
    m = r["machine"]
    med = r["ours"]["per_submission_median"]
    lines = [f"machine: {m['cores']} cores, {m['cpu']}, Python {m['python']}, numpy {m['numpy']}, "
             f"load average at start / end {m['load_average_at_start'][0]:.2f} / {r['load_average_at_end'][0]:.2f}",
             f"command: {r['command']}", ""]
    row = lambda a, b: lines.append(f"  {a:<58} {b}")  # noqa: E731
    oc = r["ours_command"]
    h = oc["half"]

    def per(seconds: dict) -> tuple[float, float]:
        """(seconds per submission in the batch of K, seconds per extra submission from
        K/2 to K), each command's time the best of its runs (other jobs only add time)."""
        full, half = min(seconds["full"]), min(seconds["half"])
        return full / k, (full - half) / (k - h)

    lines.append(f"Commands, start-up and gradebook included; {k // 2} then {k} submissions "
                 f"(ours: best of {len(oc['seconds'][f'w{min(workers)}']['full'])} runs; nbgrader: 1 run)")
    ours_per = {}
    for w in workers:
        ours_per[w] = per(oc["seconds"][f"w{w}"])
        row(f"ours `python -m grader autograde`, {w} worker(s): per submission / per extra",
            f"{ours_per[w][0]:.3f} s / {ours_per[w][1]:.3f} s")
    if "nbgrader" in r:
        nb = r["nbgrader"]
        nb_per = per({"full": [nb["seconds"]["full"]], "half": [nb["seconds"]["half"]]})
        row("nbgrader autograde (one process): per submission / per extra", f"{nb_per[0]:.3f} s / {nb_per[1]:.3f} s")
        for w in workers:
            row(f"ratio nbgrader / ours, {w} worker(s): per submission / per extra",
                f"{nb_per[0] / ours_per[w][0]:.1f}x / {nb_per[1] / ours_per[w][1]:.1f}x")
        row("one submission as its own command: ours / nbgrader",
            f"{oc['one_submission_command_seconds']:.2f} s / {nb['one_submission_command_seconds']:.2f} s "
            f"({nb['one_submission_command_seconds'] / oc['one_submission_command_seconds']:.1f}x)")
    else:
        row("nbgrader", "skipped (--skip-nbgrader)")
    mem = oc["memory"]
    for w in workers:
        row(f"peak memory of our command, {w} worker(s): largest process / tree",
            f"{mem[f'w{w}']['largest_process_mb']:.0f} MiB / {mem[f'w{w}']['tree_mb']:.0f} MiB")
    lines.append("")
    lines.append("Our grading alone (in process, median of repetitions), seconds per submission")
    for key in sorted(med, key=lambda s: (s.startswith("2k"), s)):
        row(key.replace("2k", f"{2 * k} subs").replace("k_", f"{k} subs_").replace("_w", ", workers "), f"{med[key]:.4f} s")
    w0 = min(workers)
    row(f"linearity: time for {2 * k} / time for {k} (ideal 2.00)",
        f"{2 * med[f'2k_w{w0}'] / med[f'k_w{w0}']:.2f}")
    if max(workers) != w0:
        row(f"workers: time with {w0} / time with {max(workers)} ({2 * k} subs; ideal {max(workers) / w0:.2f})",
            f"{med[f'2k_w{w0}'] / med[f'2k_w{max(workers)}']:.2f}")
    lines.append("")
    s = r["split_honest_w1"]
    lines.append("Where our time goes, honest submissions, 1 worker (ms per submission)")
    for key, label in (("start", "sandbox start/close (3 processes)"), ("cells", "running the notebooks' cells"),
                       ("student", "the student's own code in the calls"), ("checks", "our checks (the rest)"),
                       ("total", "total")):
        row(label, f"{s[key] * 1000:7.1f} ms  {100 * s[key] / s['total']:5.1f} %")
    row("our overhead = (total - student code) / student code", f"{100 * (s['total'] - s['student']) / s['student']:.0f} %")
    if "nbgrader" in r:
        row("nbgrader's, same formula, same student code (per extra submission)",
            f"{100 * (nb_per[1] - s['student']) / s['student']:.0f} %")
    h = r["split_heavy_w1"]
    lines.append(f"  slow but correct code (key, each graded function burns {1000 * r['burn_seconds_per_call']:g} ms "
                 "per call from a check):")
    row("  student code / total / overhead",
        f"{h['student']:.2f} s / {h['total']:.2f} s / {100 * (h['total'] - h['student']) / h['student']:.1f} %"
        f" (scores {sorted(set(r['heavy_scores'].values()))})")
    lines.append("")
    c = r["sandbox_costs"]
    lines.append("One sandbox on a 3-cell notebook, ms (best / median)")
    for key, label in (("start", "start"), ("cells", "run 3 cells"), ("call", "one call"), ("close", "close"),
                       ("total", "total, 10 calls")):
        row(label, f"{c[key]['best_ms']:.2f} / {c[key]['median_ms']:.2f}")
    lines.append("")
    lines.append("Hostile submissions graded alone by ours (nbgrader not run on these: see bench/README.md)")
    a = r["hostile_alone"]
    for kind in HOSTILE_ALONE:
        row(kind, f"{a[kind]['seconds']:.2f} s, score {a[kind]['score']:g}")
    extra = a["infinite_loop"]["seconds"] - a["key_for_comparison"]["seconds"]
    row("infinite loop: extra time over the key / check time limit",
        f"{extra:.2f} s / {r['check_timeout']:g} s")
    lines.append("")
    b = r["blas_fix"]
    lines.append("Profile fix: one BLAS thread (before: numpy's default threads), s per submission")
    for w in (1, 2):
        row(f"{k} subs, {w} worker(s): before / after", f"{b[f'before_w{w}']:.4f} / {b[f'after_w{w}']:.4f} "
            f"({b[f'before_w{w}'] / b[f'after_w{w}']:.2f}x)")
    if "dask" in r:
        d = r["dask"]
        row(f"Dask LocalCluster, 2 worker processes, {2 * k} subs", f"{d['per_submission']:.4f} s/submission, "
            f"results.json identical to local: {d['results_json_identical_to_local']}")
    if "totals" in r:
        lines.append("")
        t = r["totals"]
        honest = {s: v for s, v in t.items() if is_honest(v["kind"])}
        differ = {s: v for s, v in honest.items() if v["nbgrader"] is None or abs(v["ours"] - v["nbgrader"]) > 1e-9}
        lines.append(f"Totals, ours vs nbgrader: {len(honest) - len(differ)} of {len(honest)} honest submissions equal"
                     + ("" if not differ else f"; DIFFER: {differ}"))
        for s, v in t.items():
            if not is_honest(v["kind"]):
                lines.append(f"  hostile {v['kind']}: ours {v['ours']:g}, nbgrader {v['nbgrader']}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
