"""Per-example scores of an ensemble (the paper's §2): pure functions, NumPy in, NumPy out.

N networks, E recorded epochs, M examples. Invalid input raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import numpy as np


def _check_preds(preds: np.ndarray, name: str = "preds") -> np.ndarray:
    preds = np.asarray(preds)
    if preds.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (N, M) or (N, E, M), got {preds.shape}")
    if preds.size == 0:
        raise ValueError(f"{name} must not be empty (N >= 1 networks, M >= 1 examples), got {preds.shape}")
    if not np.issubdtype(preds.dtype, np.integer):
        raise ValueError(f"{name} must hold integer labels, got dtype {preds.dtype}")
    return preds


def consistency(preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fraction of networks that classify each example correctly.

    ``preds`` ``(N, M)`` → ``(M,)``, or ``(N, E, M)`` → ``(E, M)``; ``labels`` ``(M,)``.
    """
    preds = _check_preds(preds)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != preds.shape[-1]:
        raise ValueError(f"labels must have shape ({preds.shape[-1]},) to match preds {preds.shape}, "
                         f"got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or (labels < 0).any():
        raise ValueError("labels must be non-negative integers")
    return (preds == labels).mean(axis=0)


def consensus(preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Largest fraction of networks that agree on one label, per example.

    ``preds`` ``(N, M)`` → ``(M,)``, or ``(N, E, M)`` → ``(E, M)``; labels in ``[0, n_classes)``.
    """
    preds = _check_preds(preds)
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    if preds.min() < 0 or preds.max() >= n_classes:
        raise ValueError(f"preds must lie in [0, n_classes={n_classes}), found "
                         f"[{preds.min()}, {preds.max()}]")
    counts = np.stack([(preds == k).sum(axis=0) for k in range(n_classes)])
    return counts.max(axis=0) / preds.shape[0]


def bimodality(scores: np.ndarray) -> float:
    """Pearson's measure kurtosis − skewness² − 1, with the non-excess kurtosis; lower is more bi-modal.

    ``(M,)`` → float. A two-point distribution gives 0, a uniform 0.8, a Gaussian 2. A constant
    array (e.g. every example at consistency 1) has no shape: the result is ``nan``.
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"scores must have shape (M,), got {x.shape}")
    if x.size < 2:
        raise ValueError(f"scores must hold at least 2 values, got {x.size}")
    centred = x - x.mean()
    var = np.mean(centred ** 2)
    if var <= 1e-12 * max(1.0, float(np.mean(x ** 2))):
        return float("nan")
    skew = np.mean(centred ** 3) / var ** 1.5
    kurt = np.mean(centred ** 4) / var ** 2
    return float(kurt - skew ** 2 - 1.0)


def learning_speed(consistency_by_epoch: np.ndarray) -> np.ndarray:
    """Mean consistency over the recorded epochs: ``(E, M)`` → ``(M,)``; high means learnt early."""
    c = np.asarray(consistency_by_epoch, dtype=np.float64)
    if c.ndim != 2 or c.size == 0:
        raise ValueError(f"consistency_by_epoch must be a non-empty (E, M) array, got {c.shape}")
    if np.nanmin(c) < 0 or np.nanmax(c) > 1:
        raise ValueError("consistency_by_epoch must lie in [0, 1]")
    return c.mean(axis=0)


def independent_errors(preds: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """The null of independent networks: each network's predictions shuffled among the examples
    of the same class. ``(N, M)`` or ``(N, E, M)`` → same shape.

    Every network keeps its per-class accuracy and confusions; only *which* examples it gets
    right is made independent of the other networks. Consistency under this null is what the
    paper's argument compares with (binomial-like around the accuracy, not bi-modal).
    """
    preds = _check_preds(preds)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != preds.shape[-1]:
        raise ValueError(f"labels must have shape ({preds.shape[-1]},) to match preds {preds.shape}, "
                         f"got {labels.shape}")
    rng = np.random.default_rng(seed)
    out = preds.copy()
    flat = out.reshape(-1, preds.shape[-1])  # (N·E, M) view: each row is one network at one epoch
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        for row in flat:
            row[idx] = row[rng.permutation(idx)]
    return out
