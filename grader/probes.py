"""Seeded probe inputs: which variant a student gets for a check, and its random generator.

A check draws its inputs from `rng(...)`. Each check has `course.variants` variants; a
student always gets the same variant of a check (so a rerun gives the same grade), and
different students usually get different ones (so an answer copied from a neighbour, or
hard-coded, does not pass). Reference outputs exist for every variant.
"""
from __future__ import annotations

import hashlib

import numpy as np


def _digest(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def variant(salt: str, student: str, check_key: str, variants: int) -> int:
    """The variant of check `check_key` ("notebook/function/check") that `student` gets."""
    return _digest(salt, "variant", student, check_key) % variants


def rng(salt: str, check_key: str, variant_index: int) -> np.random.Generator:
    """The generator that draws the inputs of one variant of one check."""
    return np.random.default_rng(_digest(salt, "inputs", check_key, variant_index))
