"""Choosing training rows by difficulty: the easiest, the hardest or a random share of a split.

Used where a chapter trains on part of the data: the moving experiment of §3 (move a share of
the training set to the test set) and the hard data set of §6 (keep only the hardest rows).
A difficulty score is any per-example number where higher means easier (consistency, learning
speed); ties are broken by a seeded random order, never by position in the data set.
"""

from __future__ import annotations

import numpy as np

WHICH = ("easiest", "hardest", "random")


def by_difficulty(score: np.ndarray, fraction: float, which: str, *, seed: int = 0) -> np.ndarray:
    """Sorted row indices of the ``fraction`` easiest, hardest or random rows of ``score``.

    ``score`` is ``(M,)``, higher = easier; ``round(fraction * M)`` rows are chosen (at least one).
    """
    score = np.asarray(score, dtype=float)
    if score.ndim != 1 or len(score) == 0:
        raise ValueError(f"score must be a non-empty 1-D array (one value per example), got shape {score.shape}")
    if not np.isfinite(score).all():
        raise ValueError("score has NaN or infinite values")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    if which not in WHICH:
        raise ValueError(f"which must be one of {', '.join(WHICH)}; got {which!r}")
    k = max(1, int(round(fraction * len(score))))
    rng = np.random.default_rng(seed)
    shuffle = rng.permutation(len(score))  # random tie-breaking, and the 'random' choice itself
    if which == "random":
        return np.sort(shuffle[:k])
    order = shuffle[np.argsort(-score[shuffle] if which == "easiest" else score[shuffle], kind="stable")]
    return np.sort(order[:k])


def complement(n: int, rows: np.ndarray) -> np.ndarray:
    """Sorted indices of ``range(n)`` not in ``rows``."""
    rows = np.asarray(rows)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"rows must lie in [0, {n}), got values from {rows.min()} to {rows.max()}")
    keep = np.ones(n, dtype=bool)
    keep[rows] = False
    return np.flatnonzero(keep)
