"""The hard data set of the paper's §6: drop the easiest share of the training set, again and again.

Each iteration removes the ``step`` easiest rows (a share of the *original* training set) among
those still kept, until ``keep`` of it remains. Which rows are easiest comes from a difficulty
score (higher = easier, e.g. learning speed). With one fixed score the iteration is the same as
keeping the hardest ``keep`` at once; it differs when the score is recomputed on the rows that
remain, by networks trained on them: ``rescore(rows)`` every ``rescore_every`` iterations.
:func:`ensemble_rescorer` builds such a ``rescore`` from a RunConfig and the run store.

Both experiments of §6 meet ensembles that give (almost) every image one label, early in training
or on an unbalanced subset; consistency then marks an image's class, not its difficulty, and
looks bi-modal for that reason alone. :func:`collapsed_epochs` finds such epochs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import scores
from .config import RunConfig
from .subsets import by_difficulty

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
        if isinstance(iteration, bool) or not isinstance(iteration, (int, np.integer)) \
                or not 0 <= iteration <= self.iterations:
            raise ValueError(f"iteration must be an integer in [0, {self.iterations}], got {iteration!r}")
        keep = np.ones(self.n_total, dtype=bool)
        for rows in self.removed[:iteration]:
            keep[rows] = False
        return np.flatnonzero(keep)


def removal_counts(n: int, step: float, keep: float) -> list[int]:
    """Rows removed by each iteration: ``round(step * n)`` (at least 1) until ``round(keep * n)``
    remain; the last iteration removes only what is left to remove."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    for name, value in (("step", step), ("keep", keep)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
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
    if isinstance(rescore_every, bool) or not isinstance(rescore_every, (int, np.integer)) or rescore_every < 0:
        raise ValueError(f"rescore_every must be an integer >= 0 (0: never rescore), got {rescore_every!r}")
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


def subset_config(config: RunConfig, rows: np.ndarray, **changes: object) -> RunConfig:
    """``config`` trained only on train ``rows`` (every row still recorded), with ``changes``."""
    return dataclasses.replace(config, train_subset=tuple(int(r) for r in np.asarray(rows)), **changes)


def ensemble_rescorer(config: RunConfig, *, cache_dir: str | Path | None = None, device: str = "cpu",
                      progress: bool = False, log: Callable[[str], None] | None = print) -> Rescore:
    """A ``rescore`` for :func:`iterative_hard_subset`: train ``config`` on the given rows (through
    the run store, so a rerun loads it) and return their learning speed, the consistency of each
    row averaged over the recorded epochs."""
    from .store import RunStore

    store = RunStore(cache_dir)
    dataset = store.dataset_for(config)

    def rescore(rows: np.ndarray) -> np.ndarray:
        run = store.get_or_train(subset_config(config, rows), device=device, dataset=dataset, progress=progress)
        cons = run.train.consistency()[:, rows]              # (E, k): the rows the networks trained on
        if log is not None:
            log(f"rescored {len(rows)} rows with N={run.n_models} networks trained on them "
                f"({run.path.name}): final accuracy on those rows {cons[-1].mean():.3f}")
        return scores.learning_speed(cons)

    return rescore


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


#: An epoch is collapsed when the networks give one label to more than this share of a class-balanced
#: set (on average over the networks): with K = 5 classes, 2.5 times the share of any class.
COLLAPSE_SHARE = 0.5


def top_label_share(preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Share of the examples that each network gives its most frequent label:
    ``(N, M)`` → ``(N,)``, ``(N, E, M)`` → ``(N, E)``. 1 for a network that predicts one class."""
    preds = np.asarray(preds)
    if preds.ndim not in (2, 3) or preds.size == 0:
        raise ValueError(f"preds must be a non-empty (N, M) or (N, E, M) array, got shape {preds.shape}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    if not np.issubdtype(preds.dtype, np.integer) or preds.min() < 0 or preds.max() >= n_classes:
        raise ValueError(f"preds must be integer labels in [0, n_classes={n_classes})")
    counts = np.stack([(preds == k).sum(axis=-1) for k in range(n_classes)])
    return counts.max(axis=0) / preds.shape[-1]


def collapsed_epochs(preds: np.ndarray, n_classes: int, share: float = COLLAPSE_SHARE) -> np.ndarray:
    """``(N, E, M)`` predictions on a class-balanced set → ``(E,)`` bool: the epochs at which the
    networks give, on average, more than ``share`` of the examples one label."""
    preds = np.asarray(preds)
    if preds.ndim != 3:
        raise ValueError(f"preds must have shape (N, E, M), got {preds.shape}")
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        raise ValueError(f"share must be a number in (0, 1), got {share!r}")
    return top_label_share(preds, n_classes).mean(axis=0) > share


@dataclass(frozen=True)
class BimodalitySummary:
    """Pearson's measure and the §3 phase rule over the trained epochs (>= 1) of one ensemble and
    split, over all of them and over those not collapsed."""

    pearson: np.ndarray    # (E,) Pearson's measure at every recorded epoch
    bimodal: np.ndarray    # (E,) bool: the §3 rule calls the epoch bi-modal
    trained: np.ndarray    # (E,) bool: epoch >= 1
    kept: np.ndarray       # (E,) bool: epoch >= 1 and not collapsed

    @property
    def n_collapsed(self) -> int:
        """Number of trained epochs (>= 1) left out as collapsed."""
        return int((self.trained & ~self.kept).sum())

    def min_pearson(self, exclude_collapsed: bool = True) -> float:
        """Lowest measure over the kept (or all trained) epochs; nan if there are none."""
        sel = self.kept if exclude_collapsed else self.trained
        values = self.pearson[sel]
        return float(np.nanmin(values)) if np.isfinite(values).any() else float("nan")

    def n_bimodal(self, exclude_collapsed: bool = True) -> int:
        """Number of kept (or all trained) epochs that the §3 rule calls bi-modal."""
        return int((self.bimodal & (self.kept if exclude_collapsed else self.trained)).sum())


def bimodality_summary(consistency: np.ndarray, epochs: np.ndarray, collapsed: np.ndarray) -> BimodalitySummary:
    """Summarise ``(E, M)`` consistency at recorded ``epochs`` (from 0), leaving out the epochs
    flagged in ``collapsed`` ``(E,)`` (see :func:`collapsed_epochs`) where asked."""
    from .phases import find_phases

    epochs = np.asarray(epochs)
    collapsed = np.asarray(collapsed, dtype=bool)
    if collapsed.shape != epochs.shape:
        raise ValueError(f"collapsed must have shape {epochs.shape} (one flag per recorded epoch), got {collapsed.shape}")
    found = find_phases(consistency, epochs)
    trained = epochs >= 1
    return BimodalitySummary(pearson=np.array(found.pearson),
                             bimodal=np.array([label == "bi-modality" for label in found.labels]),
                             trained=trained, kept=trained & ~collapsed)
