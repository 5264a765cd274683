"""Choosing examples by difficulty: the easiest, the hardest or a random share of a split, the same
within every class, difficulty groups (thirds), and the iterated hard subset of the paper's §6.

Used where a chapter trains on part of the data: the moving experiment of §3 (move a share of
the training set to the test set) and the hard data set of §6 (keep only the hardest rows).
A difficulty score is any per-example number where higher means easier (consistency, learning
speed); ties are broken by a seeded random order, never by position in the data set.

The hard data set: each iteration removes the ``step`` easiest rows (a share of the *original*
training set) among those still kept, until ``keep`` of it remains. With one fixed score the
iteration is the same as keeping the hardest ``keep`` at once; it differs when the score is
recomputed on the rows that remain, by networks trained on them: ``rescore(rows)`` every
``rescore_every`` iterations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..engine.checks import check_choice, check_float, check_int

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
    check_float("fraction", fraction, low=0, high=1, low_open=True)
    check_choice("which", which, WHICH)
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


def by_difficulty_within(score: np.ndarray, groups: np.ndarray, fraction: float, which: str, *,
                         seed: int = 0) -> np.ndarray:
    """``subsets.by_difficulty`` applied inside every group (e.g. class) and joined: sorted rows.

    Each group of size ``m`` gives ``round(fraction * m)`` rows (at least one), so every class is
    represented as in the data and a score that favours one class cannot pick only that class.
    """
    score, groups = np.asarray(score), np.asarray(groups)
    if groups.shape != score.shape:
        raise ValueError(f"groups must have the shape of score {score.shape}, got {groups.shape}")
    picked = []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        picked.append(idx[by_difficulty(score[idx], fraction, which, seed=seed)])
    return np.sort(np.concatenate(picked))


#: ``rows (k,) -> score (k,)``: the difficulty of each of the given train rows (higher = easier).
Rescore = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class HardSet:
    """The outcome of :func:`iterative_hard_subset`.

    ``rows``: the kept train rows, sorted; ``removed``: the rows removed by each iteration;
    ``rescored_at``: the iterations (0-based) that started from a recomputed score (0 is the
    initial score); ``n_total``: rows of the training set.
    """

    rows: np.ndarray
    removed: tuple[np.ndarray, ...]
    rescored_at: tuple[int, ...]
    n_total: int

    @property
    def iterations(self) -> int:
        return len(self.removed)

    def kept_after(self, iteration: int) -> np.ndarray:
        """Sorted rows still kept after ``iteration`` iterations (0: all rows)."""
        check_int("iteration", iteration, 0, self.iterations)
        keep = np.ones(self.n_total, dtype=bool)
        for rows in self.removed[:iteration]:
            keep[rows] = False
        return np.flatnonzero(keep)


def removal_counts(n: int, step: float, keep: float) -> list[int]:
    """Rows removed by each iteration: ``round(step * n)`` (at least 1) until ``round(keep * n)``
    remain; the last iteration removes only what is left to remove."""
    check_int("n", n, 1)
    for name, value in (("step", step), ("keep", keep)):
        check_float(name, value, low=0, high=1, low_open=True, high_open=True)
    target = max(1, int(round(keep * n)))
    per = max(1, int(round(step * n)))
    counts, left = [], n
    while left > target:
        counts.append(min(per, left - target))
        left -= counts[-1]
    return counts


def iterative_hard_subset(score: np.ndarray, *, step: float = 0.02, keep: float = 0.2,
                          rescore: Rescore | None = None, rescore_every: int = 0,
                          seed: int = 0) -> HardSet:
    """Remove the easiest ``step`` of the training set repeatedly until ``keep`` of it remains.

    ``score`` ``(M,)``: the initial difficulty of every train row (higher = easier). If
    ``rescore_every`` > 0, ``rescore(rows)`` gives a new score for the kept ``rows`` before
    iterations ``rescore_every``, ``2 * rescore_every``, ...; with 0 the initial score is used
    throughout. Ties are broken at random (``seed``), as in :func:`equalnets.subsets.by_difficulty`.
    """
    score = np.asarray(score, dtype=float)
    if score.ndim != 1 or len(score) < 2:
        raise ValueError(f"score must be a 1-D array with one value per train row (>= 2), got shape {score.shape}")
    if not np.isfinite(score).all():
        raise ValueError("score has NaN or infinite values")
    check_int("rescore_every", rescore_every, 0, why=" (0: never rescore)")
    if rescore_every and rescore is None:
        raise ValueError(f"rescore_every={rescore_every} needs a rescore function (rows -> scores)")
    counts = removal_counts(len(score), step, keep)
    current = score.copy()               # the score of every row, refreshed for the kept ones
    kept = np.arange(len(score))
    removed: list[np.ndarray] = []
    rescored_at = [0]
    for it, count in enumerate(counts):
        if it and rescore_every and it % rescore_every == 0:
            new = np.asarray(rescore(kept.copy()), dtype=float)
            if new.shape != kept.shape or not np.isfinite(new).all():
                raise ValueError(f"rescore must return {len(kept)} finite scores, one per kept row; "
                                 f"got shape {new.shape}")
            current[kept] = new
            rescored_at.append(it)
        picked = kept[by_difficulty(current[kept], count / len(kept), "easiest", seed=seed + it)]
        removed.append(picked)
        kept = np.setdiff1d(kept, picked, assume_unique=True)
    return HardSet(rows=kept, removed=tuple(removed), rescored_at=tuple(rescored_at), n_total=len(score))


def class_shares(labels: np.ndarray, rows: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes,)``: the fraction of ``rows`` in each class of ``labels``."""
    labels = np.asarray(labels)
    rows = np.asarray(rows)
    if rows.size == 0:
        raise ValueError("rows must not be empty")
    if rows.min() < 0 or rows.max() >= len(labels):
        raise ValueError(f"rows must lie in [0, {len(labels)}), got values from {rows.min()} to {rows.max()}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, n_classes={n_classes}), found [{labels.min()}, {labels.max()}]")
    return np.bincount(labels[rows], minlength=n_classes) / len(rows)


#: Names of the difficulty groups of :func:`difficulty_groups` with ``n_groups=3``, easiest first.
GROUP_NAMES = ("easy", "intermediate", "hard")


def difficulty_groups(speed: np.ndarray, n_groups: int = 3) -> np.ndarray:
    """Group index of every example by learning speed, 0 = fastest learnt (easiest): ``(M,)`` → ``(M,)``.

    Examples are ranked by decreasing speed (ties keep their order) and cut into ``n_groups``
    groups of equal size (sizes differ by at most one).
    """
    speed = np.asarray(speed, dtype=np.float64)
    if speed.ndim != 1 or not np.isfinite(speed).all():
        raise ValueError(f"speed must be a finite (M,) array, got shape {speed.shape}")
    check_int("n_groups", n_groups, 1, len(speed))
    order = np.argsort(-speed, kind="stable")
    groups = np.empty(len(speed), dtype=np.int64)
    groups[order] = np.arange(len(speed)) * n_groups // len(speed)
    return groups


def holdout_subsets(labels: np.ndarray, ratio: float, n_subsets: int, *, seed: int = 0) -> list[np.ndarray]:
    """Training subsets for a holdout estimate (the C-score's, Jiang et al. 2021) in which every row is
    held out equally often: the rows of each class are shuffled (``seed``) and cut into ``n_subsets``
    folds of nearly equal size; subset s trains on every fold but the h = (1 − ``ratio``) · ``n_subsets``
    folds s, s+1, …, s+h−1 (cyclically), so each subset holds ``ratio`` of every class and every row is
    held out by exactly h subsets. ``ratio`` must be a multiple of 1/``n_subsets`` in (0, 1); with
    ``ratio`` 0.5 and two subsets these are two complementary halves. Returns the sorted rows of each
    subset, ``n_subsets`` arrays."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty (M,) array, got shape {labels.shape}")
    check_int("n_subsets", n_subsets, 2)
    check_float("ratio", ratio, low=0, high=1, low_open=True, high_open=True)
    held = (1 - ratio) * n_subsets
    h = int(round(held))
    if abs(held - h) > 1e-9 or not 1 <= h <= n_subsets - 1:
        raise ValueError(f"ratio must be a multiple of 1/n_subsets = 1/{n_subsets} strictly between 0 and 1, "
                         f"got {ratio:g}")
    rng = np.random.default_rng(seed)
    folds = [np.concatenate(parts) for parts in zip(*(np.array_split(rng.permutation(np.flatnonzero(labels == c)),
                                                                     n_subsets) for c in np.unique(labels)))]
    return [np.sort(np.concatenate([folds[f % n_subsets] for f in range(s + h, s + n_subsets)]))
            for s in range(n_subsets)]
