"""Comparing ensembles: matching epochs of two runs by their accuracy (the paper's §4.1)."""

from __future__ import annotations

import numpy as np


def _mean_accuracy(acc: np.ndarray, name: str) -> np.ndarray:
    acc = np.asarray(acc, dtype=np.float64)
    if acc.ndim == 2:  # (N, E): average the members
        acc = acc.mean(axis=0)
    if acc.ndim != 1 or acc.size == 0:
        raise ValueError(f"{name} must be a non-empty (E,) or (N, E) array of accuracies, got {acc.shape}")
    if np.nanmin(acc) < 0 or np.nanmax(acc) > 1:
        raise ValueError(f"{name} must hold accuracies in [0, 1]")
    return acc


def match_epochs(acc_a: np.ndarray, acc_b: np.ndarray, tol: float = 0.01) -> list[tuple[int, int]]:
    """Pairs ``(e_a, e_b)`` of recorded-epoch indices whose mean accuracies differ by at most ``tol``.

    ``acc_a`` / ``acc_b``: ``(E,)`` mean accuracy per recorded epoch, or ``(N, E)`` per member.
    """
    a, b = _mean_accuracy(acc_a, "acc_a"), _mean_accuracy(acc_b, "acc_b")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    close = np.abs(a[:, None] - b[None, :]) <= tol + 1e-12  # accuracies are ratios: no float noise at the edge
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(close))]
