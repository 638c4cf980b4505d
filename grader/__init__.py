"""nn_intro grader: clean-process numeric grading of the nn_intro notebooks.

Modules, one concern each:
  course      course.yaml: assignment, notebooks, checks, points, tolerances, limits
  notebook    reading submissions and source notebooks, mapping cells, locked-cell edits
  wire        plain-data encoding (JSON + raw array buffers) between processes
  sandbox     the forked child process that runs student code, with limits
  probes      seeded probe inputs, per student and check
  compare     comparing arrays and explaining differences
  network     the contract's 2-n-1 network maths (loss, forward) for gradient checks
  checks/     every check, declared once, per notebook
  references  reference outputs produced from the solution notebooks
  kernel      the entry point of the notebooks' hidden test cells (nbgrader path)
  grading     grading one submission: sandbox + checks -> results
  executor    grading many submissions: local process pool or Dask
  store       crash-safe results on disk, skip-unchanged ledger, run lock
  report      results.json, grades.csv, LMS CSV, feedback pages
  gradebook   nbgrader's SQLite gradebook
  cli         the command line (python -m grader)
"""
import os as _os

# One BLAS/OpenMP thread in the grader and in every sandbox forked from it. This must be
# set before numpy is first imported (OpenBLAS reads it when it loads): otherwise each
# sandbox child's openblas_set_num_threads(1) starts a BLAS server thread that busy-waits
# for ~0.1 s, i.e. a whole core for the life of a sandbox (measured: with 2 workers on 2
# cores, grading took 1.6-1.8x as long). The grader's own arithmetic is on tiny arrays.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ[_var] = "1"
del _var

__version__ = "0.1.0"
