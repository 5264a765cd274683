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
#: Before being learnt, a trajectory that falls to at most DIP (near 0), or at least
#: DIP_BELOW_START below its value at initialisation, has dipped.
DIP = 0.1
DIP_BELOW_START = 0.05
#: 'At once': first learnt within this fraction of the recorded epochs after initialisation.
EARLY_FRACTION = 0.1

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


def name_behaviour(trajectory: np.ndarray) -> str:
    """Name a consistency trajectory ``(E,)`` (index 0: initialisation) by a rule, in this order:

    * never learnt: it never reaches ``LEARNT`` (0.5) after initialisation;
    * learnt then forgotten: it ends below 0.5, at least ``FORGET_DROP`` (0.5) below its peak;
    * unsettled: it ends below 0.5 after reaching it, with a smaller drop;
    * dip then rise: it ends learnt, and before first reaching 0.5 it fell to ≤ ``DIP`` (0.1) or
      at least ``DIP_BELOW_START`` (0.05) below its value at initialisation;
    * learnt at once: it ends learnt, first reaching 0.5 within the first ``EARLY_FRACTION``
      (10 %) of the recorded epochs (at least the first one) without such a dip;
    * learnt gradually: the rest (ends learnt, later, without a dip).
    """
    t = _check_trajectory(trajectory)
    if t.size < 2:
        raise ValueError("trajectory must hold at least 2 recorded epochs (initialisation and one more)")
    first = first_learnt(t)
    if first is None:
        return "never learnt"
    final, peak = t[-1], t[1:].max()
    if final < LEARNT:
        return "learnt then forgotten" if peak - final >= FORGET_DROP else "unsettled"
    if first > 1 and (t[1:first].min() <= DIP or t[1:first].min() <= t[0] - DIP_BELOW_START):
        return "dip then rise"
    early = max(1, math.ceil(EARLY_FRACTION * (t.size - 1)))
    return "learnt at once" if first <= early else "learnt gradually"


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
