"""nn_intro grader: clean-process numeric grading of the nn_intro notebooks.

Modules, one concern each: see the module map in README.md ("How the grader works").
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
