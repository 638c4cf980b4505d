"""How a score is rounded and printed, everywhere."""
from __future__ import annotations


def points(x: float) -> float:
    """A score rounded to 4 decimals (no -0.0)."""
    value = round(float(x), 4)
    return 0.0 if value == 0 else value


def fmt_points(x: float) -> str:
    """A score as people read it: 12.5, 3, 0.25 (never 12.500000001 or 12.0)."""
    text = f"{points(x):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
