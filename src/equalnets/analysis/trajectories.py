"""Trajectories of individual examples over training (the paper's Supp. C, Fig. 9 and 11).

An example's trajectory is its consistency at every recorded epoch, ``(E,)``; an ensemble's are
``(E, M)``. This module finds each example's majority predicted label per epoch (Fig. 9's
colours), groups trajectories into a few behaviours with k-means and names each behaviour by a
rule on its trajectory (Fig. 11), and picks the epochs to show. Pure functions: NumPy in, NumPy
out; bad input raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.cluster import KMeans

from ..engine.checks import check_int

#: Consistency at or above which an example counts as learnt (most networks get it right).
LEARNT = 0.5
#: A drop of at least this much from the peak to the final epoch, ending below LEARNT: forgotten.
FORGET_DROP = 0.5
#: 'Near 0' and 'near 1' (with N = 10 networks: at most one network off). A trajectory *dips* when it
#: falls to NEAR_ZERO before it is first learnt, and *settles* at an end when its mean over the last
#: SETTLE_FRACTION of the recorded epochs is at most NEAR_ZERO or at least NEAR_ONE.
NEAR_ZERO = 0.1
NEAR_ONE = 0.9
SETTLE_FRACTION = 0.25
#: 'At once': from below LEARNT to NEAR_ONE within this many recorded epochs (a step, not a climb).
STEP_EPOCHS = 1

BEHAVIOURS = ("learnt at once", "dip then rise", "learnt gradually", "never learnt",
              "learnt then forgotten", "unsettled")


def majority_label(preds: np.ndarray, n_classes: int) -> np.ndarray:
    """The label most networks predict, per example: ``(N, M)`` → ``(M,)`` or ``(N, E, M)`` → ``(E, M)``.

    Ties go to the smallest label. Labels must lie in ``[0, n_classes)``.
    """
    preds = np.asarray(preds)
    if preds.ndim not in (2, 3) or preds.size == 0:
        raise ValueError(f"preds must be a non-empty (N, M) or (N, E, M) array, got shape {preds.shape}")
    if not np.issubdtype(preds.dtype, np.integer):
        raise ValueError(f"preds must hold integer labels, got dtype {preds.dtype}")
    check_int("n_classes", n_classes, 1)
    if preds.min() < 0 or preds.max() >= n_classes:
        raise ValueError(f"preds must lie in [0, n_classes={n_classes}), found [{preds.min()}, {preds.max()}]")
    counts = np.stack([(preds == k).sum(axis=0) for k in range(n_classes)])  # (K, ...) votes
    return counts.argmax(axis=0)


def effective_labels(labels: np.ndarray, n_classes: int) -> float:
    """How many labels a set of labels ``(M,)`` uses, counting rare ones less: exp of the entropy of
    their distribution (K for K labels used equally, 1 for one label; ``nan`` for an empty set)."""
    labels = np.asarray(labels)
    check_int("n_classes", n_classes, 1)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or \
            (labels.size and (labels.min() < 0 or labels.max() >= n_classes)):
        raise ValueError(f"labels must be a (M,) integer array in [0, n_classes={n_classes})")
    if not labels.size:
        return float("nan")
    p = np.bincount(labels, minlength=n_classes) / labels.size
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def stacked_counts(scores: np.ndarray, groups: np.ndarray, n_models: int, n_groups: int) -> np.ndarray:
    """Fraction of examples per score value k/N and group: ``(M,)``, ``(M,)`` → ``(N + 1, n_groups)``.

    The bars of a histogram of ``scores`` stacked by ``groups`` (e.g. the majority label); the
    whole table sums to 1.
    """
    scores, groups = np.asarray(scores, dtype=np.float64), np.asarray(groups)
    if scores.ndim != 1 or scores.size == 0 or np.nanmin(scores) < 0 or np.nanmax(scores) > 1:
        raise ValueError(f"scores must be a non-empty (M,) array in [0, 1], got shape {scores.shape}")
    if groups.shape != scores.shape or not np.issubdtype(groups.dtype, np.integer):
        raise ValueError(f"groups must be integers of shape {scores.shape}, got {groups.shape} {groups.dtype}")
    check_int("n_models", n_models, 1)
    check_int("n_groups", n_groups, 1)
    if groups.min() < 0 or groups.max() >= n_groups:
        raise ValueError(f"groups must lie in [0, n_groups={n_groups}), found [{groups.min()}, {groups.max()}]")
    value = np.rint(scores * n_models).astype(int)  # consistency k/N -> k
    table = np.zeros((n_models + 1, n_groups))
    np.add.at(table, (value, groups), 1.0)
    return table / scores.size


def epochs_at_fractions(epochs: Sequence[int], fractions: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 1.0),
                        first_trained: bool = True) -> list[int]:
    """Indices of the recorded epochs nearest to the given fractions of training (sorted, unique).

    With ``first_trained`` the first recorded epoch after 0 is added (where classes start to
    emerge). ``epochs``: the recorded epochs, increasing, from 0.
    """
    epochs = np.asarray(epochs)
    if epochs.ndim != 1 or epochs.size == 0 or epochs[0] != 0 or (np.diff(epochs) <= 0).any():
        raise ValueError(f"epochs must be increasing recorded epochs starting at 0, got {epochs.tolist()}")
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or (fractions < 0).any() or (fractions > 1).any():
        raise ValueError(f"fractions must be numbers in [0, 1], got {fractions.tolist()}")
    chosen = {int(np.abs(epochs - f * epochs[-1]).argmin()) for f in fractions}
    if first_trained and epochs.size > 1:
        chosen.add(1)
    return sorted(chosen)


def first_learnt(trajectory: np.ndarray, level: float = LEARNT) -> int | None:
    """Index of the first recorded epoch after initialisation with consistency ≥ ``level`` (or None)."""
    t = _check_trajectory(trajectory)
    hits = np.flatnonzero(t[1:] >= level)
    return int(hits[0]) + 1 if hits.size else None


def settled(trajectory: np.ndarray) -> float:
    """Mean of a trajectory ``(E,)`` over its last :data:`SETTLE_FRACTION` of recorded epochs after
    initialisation (at least one): the level it ends at."""
    t = _check_trajectory(trajectory)
    if t.size < 2:
        raise ValueError("trajectory must hold at least 2 recorded epochs (initialisation and one more)")
    tail = max(1, math.ceil(SETTLE_FRACTION * (t.size - 1)))
    return float(t[-tail:].mean())


def name_behaviour(trajectory: np.ndarray) -> str:
    """Name a consistency trajectory ``(E,)`` (index 0: initialisation) by a rule, in this order (the
    paper's Supp. C: a score climbs to 1 in one epoch, or dips to 0 and then rises to 1, or falls to
    0, and then *stays* at 1 or 0):

    * never learnt: it never reaches ``LEARNT`` (0.5) after initialisation and settles near 0
      (:func:`settled` ≤ ``NEAR_ZERO``, 0.1);
    * learnt then forgotten: it ends below 0.5, at least ``FORGET_DROP`` (0.5) below its peak;
    * dip then rise: it settles near 1 (≥ ``NEAR_ONE``, 0.9) and, before first reaching 0.5, fell to
      ≤ ``NEAR_ZERO`` (0.1);
    * learnt at once: it settles near 1 and reaches ≥ 0.9 within ``STEP_EPOCHS`` (1) recorded epoch of
      first reaching 0.5, without such a dip;
    * learnt gradually: it settles near 1, climbing more slowly, without a dip;
    * unsettled: the rest (it ends between the two ends).
    """
    t = _check_trajectory(trajectory)
    level = settled(t)
    first = first_learnt(t)
    if first is None:
        return "never learnt" if level <= NEAR_ZERO else "unsettled"
    final, peak = t[-1], t[1:].max()
    if final < LEARNT and peak - final >= FORGET_DROP:
        return "learnt then forgotten"
    if level < NEAR_ONE:
        return "unsettled"
    if first > 1 and t[1:first].min() <= NEAR_ZERO:
        return "dip then rise"
    return "learnt at once" if t[first:first + STEP_EPOCHS + 1].max() >= NEAR_ONE else "learnt gradually"


def name_behaviours(consistency_by_epoch: np.ndarray) -> np.ndarray:
    """:func:`name_behaviour` of every example: ``(E, M)`` → ``(M,)`` of names."""
    c = _check_matrix(consistency_by_epoch)
    return np.array([name_behaviour(c[:, m]) for m in range(c.shape[1])], dtype=object)


@dataclass(frozen=True)
class TrajectoryClusters:
    """k-means clusters of ``(E, M)`` trajectories, ordered from the earliest learnt (highest mean).

    ``labels`` (M,) cluster of each example; ``centroids`` (k, E) mean trajectories;
    ``representatives`` (k,) the example closest to each centroid (a real trajectory to show);
    ``sizes`` (k,) examples per cluster; ``names`` the behaviour of each centroid by
    :func:`name_behaviour`.
    """

    labels: np.ndarray
    centroids: np.ndarray
    representatives: np.ndarray
    sizes: np.ndarray
    names: tuple[str, ...]

    def fraction(self, name: str) -> float:
        """Fraction of examples in clusters named ``name``."""
        if name not in BEHAVIOURS:
            raise ValueError(f"name must be one of {BEHAVIOURS}, got {name!r}")
        return float(sum(s for s, n in zip(self.sizes, self.names) if n == name) / self.sizes.sum())


def cluster_trajectories(consistency_by_epoch: np.ndarray, k: int, random_state: int = 0) -> TrajectoryClusters:
    """Group the examples' trajectories ``(E, M)`` into ``k`` behaviours with k-means (scikit-learn,
    10 restarts, fixed ``random_state``); see :class:`TrajectoryClusters`."""
    c = _check_matrix(consistency_by_epoch)
    if c.shape[0] < 2:
        raise ValueError(f"consistency_by_epoch must hold at least 2 recorded epochs, got {c.shape[0]}")
    check_int("k", k, 1, c.shape[1])
    x = c.T  # (M, E): one row per example
    km = KMeans(n_clusters=int(k), n_init=10, random_state=random_state).fit(x)
    order = np.argsort(-km.cluster_centers_.mean(axis=1), kind="stable")  # earliest learnt first
    rank = np.empty(k, dtype=int)
    rank[order] = np.arange(k)
    labels = rank[km.labels_]
    centroids = np.clip(km.cluster_centers_[order], 0.0, 1.0)  # k-means means can exceed 1 by rounding
    reps = np.empty(k, dtype=int)
    for j in range(k):
        members = np.flatnonzero(labels == j)
        reps[j] = members[np.linalg.norm(x[members] - centroids[j], axis=1).argmin()]
    sizes = np.bincount(labels, minlength=k)
    return TrajectoryClusters(labels=labels, centroids=centroids, representatives=reps, sizes=sizes,
                              names=tuple(name_behaviour(row) for row in centroids))


def class_learnt_epochs(consistency_by_epoch: np.ndarray, labels: np.ndarray, n_classes: int,
                        level: float = LEARNT) -> list[int | None]:
    """Per class, the index of the first recorded epoch after 0 at which the class's mean
    consistency reaches ``level`` (None if never): ``(E, M)``, ``(M,)`` → K entries."""
    c = _check_matrix(consistency_by_epoch)
    labels = np.asarray(labels)
    if labels.shape != (c.shape[1],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers of shape ({c.shape[1]},), got {labels.shape} {labels.dtype}")
    check_int("n_classes", n_classes, 1)
    out: list[int | None] = []
    for cls in range(n_classes):
        members = labels == cls
        out.append(first_learnt(c[:, members].mean(axis=1), level) if members.any() else None)
    return out


def _check_trajectory(trajectory: np.ndarray) -> np.ndarray:
    t = np.asarray(trajectory, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.isfinite(t).all() or t.min() < 0 or t.max() > 1:
        raise ValueError(f"trajectory must be a non-empty (E,) array of consistencies in [0, 1], got shape {t.shape}")
    return t


def _check_matrix(consistency_by_epoch: np.ndarray) -> np.ndarray:
    c = np.asarray(consistency_by_epoch, dtype=np.float64)
    if c.ndim != 2 or c.size == 0:
        raise ValueError(f"consistency_by_epoch must be a non-empty (E, M) array, got shape {c.shape}")
    if not np.isfinite(c).all() or c.min() < 0 or c.max() > 1:
        raise ValueError("consistency_by_epoch must lie in [0, 1]")
    return c


def transit_times(consistency_by_epoch: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """How fast examples move from consistency 0 to 1 (the paper's §3: 'quite rapidly'): ``(E, M)`` at
    the recorded ``epochs`` ``(E,)`` (increasing) → ``(M,)``, for every example that is at 0 at some
    given epoch and at 1 at a later one, the epochs from the last time at 0 to the first time at 1
    after it; ``nan`` for the others."""
    c = _check_matrix(consistency_by_epoch)
    epochs = np.asarray(epochs, dtype=np.float64)
    if epochs.shape != (c.shape[0],) or (np.diff(epochs) <= 0).any():
        raise ValueError(f"epochs must be {c.shape[0]} increasing epoch numbers (one per row), got {epochs}")
    out = np.full(c.shape[1], np.nan)
    zero, one = c == 0, c == 1
    for m in np.flatnonzero(zero.any(axis=0) & one.any(axis=0)):
        first_zero = int(np.argmax(zero[:, m]))
        ones = np.flatnonzero(one[first_zero:, m])
        if ones.size:
            up = first_zero + int(ones[0])
            last_zero = int(np.flatnonzero(zero[:up, m])[-1])
            out[m] = epochs[up] - epochs[last_zero]
    return out


def time_at_zero(consistency_by_epoch: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Epochs an example spends at consistency 0 (Supp. C: 'the longer it has 0 consistency, the more
    difficult it is'): ``(E, M)`` and ``weights`` ``(E,)``, the epochs each recorded epoch stands for
    (0 for one left out) → ``(M,)``, the sum of the weights of the epochs at 0."""
    c = _check_matrix(consistency_by_epoch)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (c.shape[0],) or (weights < 0).any():
        raise ValueError(f"weights must be {c.shape[0]} non-negative numbers (one per row), got {weights}")
    return weights @ (c == 0)
