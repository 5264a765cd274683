"""Comparing two ensembles: epochs matched by accuracy, the joint distribution of their
consistency scores, and the correlation of their learning speeds (the paper's §4)."""

from __future__ import annotations

import numpy as np

from ..engine.checks import check_int
from . import scores
from .stats import Correlation, bootstrap_correlation


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


def matched_levels(acc_a: np.ndarray, acc_b: np.ndarray, *, n_levels: int = 2, tol: float = 0.01,
                   min_accuracy: float = 0.0) -> list[tuple[int, int]]:
    """Up to ``n_levels`` matched epoch pairs ``(e_a, e_b)`` spread over the accuracy range.

    Pairs come from :func:`match_epochs` (mean accuracies within ``tol``); pairs where either mean
    accuracy is below ``min_accuracy`` are dropped (e.g. the untrained networks, which all match at
    chance). For each epoch of ``a`` the closest epoch of ``b`` is kept; of those, the lowest and the
    highest accuracy and evenly spaced ones between are returned, by increasing accuracy. Empty when
    nothing matches.
    """
    a, b = _mean_accuracy(acc_a, "acc_a"), _mean_accuracy(acc_b, "acc_b")
    check_int("n_levels", n_levels, 1)
    if not 0 <= min_accuracy <= 1:
        raise ValueError(f"min_accuracy must lie in [0, 1], got {min_accuracy!r}")
    best: dict[int, int] = {}
    for i, j in match_epochs(a, b, tol):
        if min(a[i], b[j]) >= min_accuracy and (i not in best or abs(a[i] - b[j]) < abs(a[i] - b[best[i]])):
            best[i] = j
    pairs = sorted(best.items(), key=lambda p: (a[p[0]] + b[p[1]]) / 2)
    if len(pairs) <= n_levels:
        return pairs
    picks = np.unique(np.round(np.linspace(0, len(pairs) - 1, n_levels)).astype(int))
    return [pairs[k] for k in picks]


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"scores_a must be a non-empty (M,) array, got shape {a.shape}")
    if b.shape != a.shape:
        raise ValueError(f"scores_b must have the shape of scores_a {a.shape}, got {b.shape}")
    for name, s in (("scores_a", a), ("scores_b", b)):
        if not (np.isfinite(s).all() and s.min() >= 0 and s.max() <= 1):
            raise ValueError(f"{name} must hold scores in [0, 1]")
    return a, b


def joint_histogram(scores_a: np.ndarray, scores_b: np.ndarray, n_a: int, n_b: int) -> np.ndarray:
    """Fraction of examples at each pair of consistency values (the paper's Fig. 4c-d).

    ``scores_a``, ``scores_b``: ``(M,)`` consistency of the same examples under two ensembles of
    ``n_a`` and ``n_b`` networks, so their values are multiples of ``1/n_a`` and ``1/n_b``.
    Returns ``(n_a + 1, n_b + 1)``: entry ``[i, j]`` is the fraction of examples with consistency
    ``i/n_a`` under ``a`` and ``j/n_b`` under ``b``; the entries sum to 1.
    """
    a, b = _check_pair(scores_a, scores_b)
    for name, n in (("n_a", n_a), ("n_b", n_b)):
        check_int(name, n, 1, why=" (networks in the ensemble)")
    i, j = np.rint(a * n_a).astype(int), np.rint(b * n_b).astype(int)
    if not (np.allclose(i, a * n_a, atol=1e-6) and np.allclose(j, b * n_b, atol=1e-6)):
        raise ValueError("scores_a and scores_b must be multiples of 1/n_a and 1/n_b (consistency of n networks)")
    hist = np.zeros((n_a + 1, n_b + 1))
    np.add.at(hist, (i, j), 1.0)
    return hist / len(a)


def agreement(scores_a: np.ndarray, scores_b: np.ndarray, *, near: float = 0.2) -> dict[str, float]:
    """Where the mass of a pair of consistency scores lies: the fractions of examples at (0, 0), at
    (1, 1), within ``near`` of the diagonal, and at the opposite corners (0, 1) or (1, 0).

    ``scores_a``, ``scores_b``: ``(M,)``. Independent ensembles of equal mean accuracy would put
    ``mean(a)·mean(b)`` at (1, 1); the shares here say how far above that the two agree.
    """
    a, b = _check_pair(scores_a, scores_b)
    if not 0 <= near <= 1:
        raise ValueError(f"near must lie in [0, 1], got {near!r}")
    return {"both 0": float(np.mean((a == 0) & (b == 0))), "both 1": float(np.mean((a == 1) & (b == 1))),
            "near diagonal": float(np.mean(np.abs(a - b) <= near + 1e-12)),
            "opposite corners": float(np.mean(((a == 0) & (b == 1)) | ((a == 1) & (b == 0))))}


def disjoint_halves(preds: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Consistency of the first and the second half of one ensemble's networks.

    ``preds``: ``(N, E, M)`` with ``N >= 2``; ``labels``: ``(M,)``. Returns two ``(E, M)`` arrays
    computed from networks ``0..N//2-1`` and ``N//2..N-1`` (no network in both), the within-
    architecture baseline of the paper's Fig. 4a.
    """
    preds = np.asarray(preds)
    if preds.ndim != 3 or preds.shape[0] < 2:
        raise ValueError(f"preds must be an (N, E, M) array with N >= 2 networks, got shape {preds.shape}")
    half = preds.shape[0] // 2
    return scores.consistency(preds[:half], labels), scores.consistency(preds[half:], labels)


def speed_correlation(consistency_a: np.ndarray, consistency_b: np.ndarray, *, first_epoch: int = 1,
                      n_boot: int = 1000, seed: int = 0) -> Correlation:
    """Pearson's r (p-value, bootstrap CI over examples) between two ensembles' learning speeds.

    ``consistency_a`` ``(E_a, M)`` and ``consistency_b`` ``(E_b, M)``: consistency of the same M
    examples per recorded epoch; the epoch counts may differ (each ensemble's speed is averaged over
    its own training, as in the paper's Fig. 4a-b). Recorded epochs before index ``first_epoch``
    (by default the untrained networks) are left out of the average.
    """
    ca, cb = np.asarray(consistency_a, dtype=np.float64), np.asarray(consistency_b, dtype=np.float64)
    for name, c in (("consistency_a", ca), ("consistency_b", cb)):
        if c.ndim != 2:
            raise ValueError(f"{name} must be an (E, M) array, got shape {c.shape}")
        if not 0 <= first_epoch < c.shape[0]:
            raise ValueError(f"first_epoch must index a recorded epoch of {name} (0..{c.shape[0] - 1}), "
                             f"got {first_epoch!r}")
    if ca.shape[1] != cb.shape[1]:
        raise ValueError(f"consistency_a and consistency_b must score the same M examples, "
                         f"got {ca.shape[1]} and {cb.shape[1]}")
    speed_a = scores.learning_speed(ca[first_epoch:])
    speed_b = scores.learning_speed(cb[first_epoch:])
    return bootstrap_correlation(speed_a, speed_b, n_boot=n_boot, seed=seed)


def permute_within_class(values: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """``values`` ``(..., M)`` with its examples shuffled among those of the same class: one permutation
    for every leading index, so an ensemble's scores keep their distribution (per class) while their
    pairing with another ensemble's becomes random (the null of two unrelated orders of learning that
    agree only on which classes are hard). ``labels`` ``(M,)``."""
    values, labels = np.asarray(values), np.asarray(labels)
    if values.ndim < 1 or labels.ndim != 1 or values.shape[-1] != labels.shape[0]:
        raise ValueError(f"labels must have shape ({values.shape[-1] if values.ndim else '?'},) to match values "
                         f"{values.shape}, got {labels.shape}")
    rng = np.random.default_rng(seed)
    order = np.arange(len(labels))
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        order[idx] = idx[rng.permutation(len(idx))]
    return values[..., order]


def pairing_null_r(x: np.ndarray, y: np.ndarray, labels: np.ndarray, *, n_perm: int = 200,
                   seed: int = 0) -> np.ndarray:
    """Pearson's r of two per-example scores ``x`` and ``y`` ``(M,)`` when ``y`` is paired with ``x`` at
    random within each class (:func:`permute_within_class`), ``n_perm`` times: ``(n_perm,)``. The
    reference of a correlation of two orders (e.g. two ensembles' learning speeds): what the classes'
    difficulty alone gives, with each score's own spread kept (``nan`` where either is constant)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 3:
        raise ValueError(f"x and y must be (M,) arrays of the same length M >= 3, got {x.shape} and {y.shape}")
    check_int("n_perm", n_perm, 1)
    if x.std() == 0 or y.std() == 0:
        return np.full(int(n_perm), np.nan)
    return np.array([np.corrcoef(x, permute_within_class(y, labels, seed=seed + k))[0, 1] for k in range(int(n_perm))])


def pairing_quantile_r(x: np.ndarray, y: np.ndarray, labels: np.ndarray, *, q: float, n_perm: int = 200,
                       seed: int = 0) -> float:
    """The reference of a correlation of two orders ``x``, ``y`` ``(M,)``: the ``q`` quantile of
    :func:`pairing_null_r` (the r that random pairings within each class exceed with probability
    ``1 - q``); ``nan`` where either score is constant."""
    null = pairing_null_r(x, y, labels, n_perm=n_perm, seed=seed)
    return float(np.quantile(null, q)) if np.isfinite(null).all() else float("nan")
