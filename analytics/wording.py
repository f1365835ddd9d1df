"""Vectorised words for reasons: numbers, money, durations and clause joining.

Reasons are built for every account and category of a batch at once, so these helpers turn
whole arrays into object arrays of strings, formatting each distinct number once.
"""

from __future__ import annotations

import numpy as np


def int_text(values: np.ndarray) -> np.ndarray:
    """Integers as decimal strings (object array)."""
    v = np.asarray(values, dtype=np.int64)
    if len(v) == 0:
        return np.zeros(0, dtype=object)
    lo, hi = int(v.min()), int(v.max())
    if hi - lo < 4 * len(v):  # dense range: one table, indexed
        table = np.array([str(i) for i in range(lo, hi + 1)], dtype=object)
        return table[v - lo]
    if len(v) <= 64:
        return np.array([str(i) for i in v.tolist()], dtype=object)
    distinct, inverse = np.unique(v, return_inverse=True)
    return np.array([str(i) for i in distinct], dtype=object)[inverse]


def money_text(values: np.ndarray) -> np.ndarray:
    """Amounts as "$870", "$14k", "$1.2M" (absolute values; NaN as $0)."""
    v = np.abs(np.nan_to_num(np.asarray(values, dtype=np.float64)))
    out = "$" + int_text(np.round(v))
    thousands = v >= 999.5
    out[thousands] = "$" + int_text(np.round(v[thousands] / 1e3)) + "k"
    millions = v >= 999_500
    tenths = np.round(v[millions] / 1e5).astype(np.int64)
    out[millions] = "$" + int_text(tenths // 10) + "." + int_text(tenths % 10) + "M"
    return out


def days_text(days: np.ndarray) -> np.ndarray:
    """A duration in days as "12 days", "9 weeks" (from 3 weeks) or "5 months" (from 120 days)."""
    d = np.asarray(days, dtype=np.int64)
    out = int_text(d) + np.where(d == 1, " day", " days").astype(object)
    weeks = (d >= 21) & (d < 120)
    out[weeks] = int_text(np.round(d[weeks] / 7)) + " weeks"
    months = d >= 120
    out[months] = int_text(np.round(d[months] / 30.4)) + " months"
    return out


def percent_text(share: np.ndarray) -> np.ndarray:
    """A fraction as a whole percentage, "38%"."""
    return int_text(np.round(np.nan_to_num(np.asarray(share, dtype=np.float64)) * 100)) + "%"


def join_clauses(*parts: np.ndarray, sep: str = "; ") -> np.ndarray:
    """Join per-row clauses with ``sep``, skipping empty ones."""
    out = np.asarray(parts[0], dtype=object).copy()
    for part in parts[1:]:
        p = np.asarray(part, dtype=object)
        has = p != ""
        both = has & (out != "")
        out[both] = out[both] + sep + p[both]
        only = has & ~both
        out[only] = p[only]
    return out


def possessive(names: np.ndarray) -> np.ndarray:
    """English possessives: "Acme's", "Acme Foods'" (a name ending in s takes only the apostrophe)."""
    names = names.astype(object)
    ends_in_s = np.array([str(n).endswith(("s", "S")) for n in names], dtype=bool)
    return np.where(ends_in_s, names + "'", names + "'s").astype(object)
