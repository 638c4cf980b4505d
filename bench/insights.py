"""Benchmark: the class insights page at scale, and our similarity against copydetect's.

    .venv/bin/python bench/insights.py [--sizes 100,300,1000] [--copydetect-up-to 300] [--out FILE]

(`make bench-insights`; it installs copydetect, the side-by-side, from pip.) For each size N a
synthetic class (grader.samples.write_synthetic_class: every student's notebooks with code of
their own, every 100th a disguised copy of the one before, made-up result records) is
written into a temporary course copy, and this run measures:

* `python -m grader insights`'s library call (grader.insights.build): seconds and the page's
  bytes; the similarity step alone (grader.report.similarity.similar_pairs) and how many of
  the planted copies it lists, and what else;
* copydetect 0.5.0 (the tool an instructor would otherwise reach for: MOSS's winnowing,
  offline) on the same answer code, one "file" per student (their answer cells joined, the
  release's cells as boilerplate): fingerprints, then every pair (it has no index), the
  planted copies it ranks in its top pairs; the ratio of its seconds to ours.

Results go to bench/results/insights-<timestamp>.json (git-ignored) and a summary is printed.
Compare the ratios within one run: absolute times move 10-30 % on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import course as course_mod, insights, samples as S  # noqa: E402
from grader.report import similarity  # noqa: E402


def course_copy(dest: Path):
    for name in ("course.yaml", "nbgrader_config.py"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, dest / name)
    return course_mod.load(dest)


def planted(students: list[str], every: int = 100) -> set[tuple[str, str]]:
    return {(students[i - 1], students[i]) for i in range(every - 1, len(students), every)}


def ours(course, students: list[str]) -> dict:
    t = time.perf_counter()
    built = insights.build(course)
    page_seconds = time.perf_counter() - t
    template, codes = insights.class_codes(course, students)
    t = time.perf_counter()
    pairs = similarity.similar_pairs(template, codes)
    sim_seconds = time.perf_counter() - t
    found = {(p.a, p.b) for p in pairs}
    return {"build_seconds": round(page_seconds, 3), "page_bytes": built.bytes,
            "csv_bytes": built.csv.stat().st_size, "similarity_seconds": round(sim_seconds, 4),
            "pairs_listed": len(pairs), "planted_found": len(found & planted(students)),
            "planted": len(planted(students)), "other_pairs": len(found - planted(students))}


def copydetect_side(course, students: list[str], work: Path) -> dict:
    """copydetect's fingerprints and all-pairs comparison of the same answer code."""
    import numpy as np
    from copydetect import CodeFingerprint, compare_files

    template, codes = insights.class_codes(course, students)
    folder = work / "copydetect"
    folder.mkdir(exist_ok=True)
    boiler = folder / "template.py"
    boiler.write_text("\n\n".join(template[f] for f in sorted(template)), encoding="utf-8")
    files = {}
    for s in students:
        files[s] = folder / f"{s}.py"
        files[s].write_text("\n\n".join(codes[s][f] for f in sorted(codes[s])), encoding="utf-8")
    t = time.perf_counter()
    boilerplate = sorted(CodeFingerprint(str(boiler), 25, 1).hashes)
    prints = {s: CodeFingerprint(str(files[s]), 25, 1, boilerplate=np.array(boilerplate)) for s in students}
    fp_seconds = time.perf_counter() - t
    t = time.perf_counter()
    scores = []
    for i, a in enumerate(students):
        for b in students[i + 1:]:
            _, (sa, sb), _ = compare_files(prints[a], prints[b])
            scores.append((min(sa, sb), a, b))
    pair_seconds = time.perf_counter() - t
    scores.sort(reverse=True)
    top = {(a, b) for _, a, b in scores[: len(planted(students))]}
    return {"fingerprint_seconds": round(fp_seconds, 3), "pairs_seconds": round(pair_seconds, 3),
            "pairs_compared": len(scores), "seconds": round(fp_seconds + pair_seconds, 3),
            "planted_in_top": len(top & planted(students)),
            "per_pair_us": round(1e6 * pair_seconds / max(1, len(scores)), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,300,1000", help="class sizes (default 100,300,1000)")
    ap.add_argument("--copydetect-up-to", type=int, default=300,
                    help="run copydetect on the sizes up to this one (default 300: all pairs of 1,000 take it ~10 min; 0: not at all)")
    ap.add_argument("--out", type=Path, help="results file (default bench/results/insights-<timestamp>.json)")
    args = ap.parse_args()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_path = args.out or ROOT / "bench" / "results" / f"insights-{stamp}.json"
    try:
        import copydetect  # noqa: F401
        have_copydetect = args.copydetect_up_to > 0
    except ImportError:
        have_copydetect = False
        print("copydetect is not installed (.venv/bin/pip install copydetect): ours only", file=sys.stderr)
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "when": stamp,
              "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
              "sizes": {}}
    for n in [int(x) for x in args.sizes.split(",")]:
        work = Path(tempfile.mkdtemp(prefix="nn-intro-bench-insights-"))
        try:
            course = course_copy(work)
            print(f"{n} students: writing the synthetic class ...", file=sys.stderr, flush=True)
            students = S.write_synthetic_class(course, n)
            row = {"ours": ours(course, students)}
            if have_copydetect and n <= args.copydetect_up_to:
                print(f"{n} students: copydetect, all {n * (n - 1) // 2} pairs ...", file=sys.stderr, flush=True)
                row["copydetect"] = copydetect_side(course, students, work)
                row["copydetect_over_ours"] = round(row["copydetect"]["seconds"] / row["ours"]["similarity_seconds"], 1)
            report["sizes"][n] = row
        finally:
            shutil.rmtree(work, ignore_errors=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"{'students':>8} {'page s':>7} {'page KiB':>8} {'ours sim s':>10} {'found':>7} {'others':>6}"
          f" {'copydetect s':>12} {'its top':>7} {'ratio':>6}")
    for n, row in report["sizes"].items():
        o, c = row["ours"], row.get("copydetect")
        print(f"{n:>8} {o['build_seconds']:>7.2f} {o['page_bytes'] / 1024:>8.0f} {o['similarity_seconds']:>10.2f}"
              f" {o['planted_found']:>3}/{o['planted']:<3} {o['other_pairs']:>6}"
              + (f" {c['seconds']:>12.2f} {c['planted_in_top']:>3}/{o['planted']:<3} {row['copydetect_over_ours']:>5}x"
                 if c else ""))
    print(f"written to {out_path}")


if __name__ == "__main__":
    main()
