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
__version__ = "0.1.0"
