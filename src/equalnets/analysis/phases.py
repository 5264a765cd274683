"""The four phases of learning (the paper's §3), found in a consistency trajectory by rule.

* initialisation: epoch 0, the untrained networks;
* beginning of learning: recorded epochs ≥ 1, before the first bi-modal one, whose consistency
  histogram (11 bins) has its mode at 0 (most examples wrong for every network);
* bi-modality: the recorded epochs whose distribution is clearly more bi-modal than a uniform
  one (Pearson's measure < 0.7; a continuous uniform gives 0.8, a uniform over the 11 values of
  N = 10 networks 0.78) with mass at both ends; the representative epoch is the most bi-modal
  one (the lowest measure);
* end of learning: the first recorded epoch at which at least 95 % of the examples have
  consistency 1, if any (the paper: easy data sets only).

Also here: Pearson's measure per epoch of an ensemble and of its independent-errors null, the
onset of learning, and *collapsed* epochs, where the networks give (almost) every example one
label, so that consistency marks an image's class rather than its difficulty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.checks import check_float, check_int
from . import scores
from .scores import bimodality

BIMODAL_BELOW = 0.7    # clearly below uniform, also for the discrete uniform over k/N
END_FRACTION = 0.95
END_MASS = 0.05        # 'mass at an end': at least 5 % of examples at consistency 0 (resp. 1)


PHASES = ("initialisation", "beginning of learning", "bi-modality", "end of learning", "transition", "collapsed")


@dataclass(frozen=True)
class Phases:
    """The phase of every recorded epoch and one representative epoch per phase seen.

    Representatives are indices into the recorded epochs (``None`` where a phase was not seen).
    """

    labels: tuple[str, ...]           # phase of every recorded epoch (one of PHASES)
    pearson: tuple[float, ...]        # Pearson's measure at every recorded epoch
    beginning: int | None
    bimodal: int | None
    end: int | None
    initialisation: int = 0

    def chosen(self) -> dict[str, int]:
        """The representative epoch index of every phase that was seen, in order."""
        named = {"initialisation": self.initialisation, "beginning of learning": self.beginning,
                 "bi-modality": self.bimodal, "end of learning": self.end}
        return {k: v for k, v in named.items() if v is not None}

    def count(self, phase: str) -> int:
        """Number of recorded epochs in ``phase``."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        return sum(label == phase for label in self.labels)


def is_bimodal(consistency: np.ndarray) -> bool:
    """Pearson's measure < 0.7 (clearly below a uniform's 0.8), with at least 5 % of the examples
    at each end (consistency 0 and 1)."""
    c = np.asarray(consistency)
    p = bimodality(c)
    return bool(np.isfinite(p) and p < BIMODAL_BELOW and (c == 0).mean() >= END_MASS
                and (c == 1).mean() >= END_MASS)


def _mode_at_zero(consistency: np.ndarray) -> bool:
    return bool(np.histogram(consistency, bins=11, range=(0, 1))[0].argmax() == 0)


def find_phases(consistency_by_epoch: np.ndarray, epochs: np.ndarray,
                collapsed: np.ndarray | None = None) -> Phases:
    """Label the recorded epochs of ``(E, M)`` consistency scores (``epochs`` (E,), from 0).

    Precedence for an epoch ≥ 1: collapsed (``collapsed`` ``(E,)`` bool, see
    :func:`collapsed_epochs`: the networks give most examples one label, so consistency marks the
    class, not the difficulty; such an epoch never counts for or against bi-modality), end of
    learning, then bi-modality, then beginning of learning (mode at 0, before the first bi-modal
    epoch), else transition.
    """
    c = np.asarray(consistency_by_epoch)
    epochs = np.asarray(epochs)
    if c.ndim != 2 or c.shape[0] != len(epochs) or c.size == 0:
        raise ValueError(f"consistency_by_epoch must be (E, M) with E = len(epochs) = {len(epochs)}, "
                         f"got {c.shape}")
    if epochs[0] != 0:
        raise ValueError("epochs must start at 0 (the untrained networks)")
    collapsed = np.zeros(len(epochs), bool) if collapsed is None else np.asarray(collapsed, dtype=bool)
    if collapsed.shape != epochs.shape:
        raise ValueError(f"collapsed must have shape {epochs.shape} (one flag per recorded epoch), got {collapsed.shape}")
    pearson = tuple(bimodality(row) for row in c)
    labels = ["initialisation"]
    seen_bimodal = False
    for row, flat in zip(c[1:], collapsed[1:]):
        if flat:
            labels.append("collapsed")
        elif (row == 1).mean() >= END_FRACTION:
            labels.append("end of learning")
        elif is_bimodal(row):
            labels.append("bi-modality")
            seen_bimodal = True
        elif _mode_at_zero(row) and not seen_bimodal:
            labels.append("beginning of learning")
        else:
            labels.append("transition")
    first = {p: next((i for i, lab in enumerate(labels) if lab == p), None) for p in PHASES}
    bimodal_idx = [i for i, lab in enumerate(labels) if lab == "bi-modality"]
    bimodal = min(bimodal_idx, key=lambda i: pearson[i]) if bimodal_idx else None
    return Phases(labels=tuple(labels), pearson=pearson, beginning=first["beginning of learning"],
                  bimodal=bimodal, end=first["end of learning"])


#: An epoch is collapsed when the networks give one label to more than this share of a class-balanced
#: set (on average over the networks): with K = 5 classes, 2.5 times the share of any class.
COLLAPSE_SHARE = 0.5


def top_label_share(preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Share of the examples that each network gives its most frequent label:
    ``(N, M)`` → ``(N,)``, ``(N, E, M)`` → ``(N, E)``. 1 for a network that predicts one class."""
    preds = np.asarray(preds)
    if preds.ndim not in (2, 3) or preds.size == 0:
        raise ValueError(f"preds must be a non-empty (N, M) or (N, E, M) array, got shape {preds.shape}")
    check_int("n_classes", n_classes, 1)
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
    check_float("share", share, low=0, high=1, low_open=True, high_open=True)
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
    epochs = np.asarray(epochs)
    collapsed = np.asarray(collapsed, dtype=bool)
    if collapsed.shape != epochs.shape:
        raise ValueError(f"collapsed must have shape {epochs.shape} (one flag per recorded epoch), got {collapsed.shape}")
    found = find_phases(consistency, epochs, collapsed)
    trained = epochs >= 1
    return BimodalitySummary(pearson=np.array(found.pearson),
                             bimodal=np.array([label == "bi-modality" for label in found.labels]),
                             trained=trained, kept=trained & ~collapsed)


def pearson_by_epoch(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Pearson's bi-modality measure of the consistency distribution at every recorded epoch:
    ``(N, E, M)`` → ``(E,)`` (``nan`` where every example has the same consistency)."""
    pred = np.asarray(pred)
    if pred.ndim != 3:
        raise ValueError(f"pred must have shape (N, E, M), got {pred.shape}")
    return np.array([scores.bimodality(row) for row in scores.consistency(pred, labels)])


def null_pearson_by_epoch(pred: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """:func:`pearson_by_epoch` of networks that err independently (``scores.independent_errors``):
    the value a non-bi-modal ensemble of the same N and accuracies would give. ``(N, E, M)`` → ``(E,)``."""
    return pearson_by_epoch(scores.independent_errors(pred, labels, seed=seed), labels)


def onset(test_accuracy: np.ndarray, epochs: np.ndarray, chance: float, margin: float = 0.05) -> int:
    """Index of the first recorded epoch ≥ 1 at which the mean test accuracy exceeds chance by
    ``margin``: where learning has visibly begun (the last recorded epoch if never)."""
    acc = np.asarray(test_accuracy, dtype=float)
    epochs = np.asarray(epochs)
    if acc.ndim != 1 or acc.shape != epochs.shape or acc.size == 0:
        raise ValueError(f"test_accuracy and epochs must be (E,) arrays of one length, got {acc.shape} and {epochs.shape}")
    hits = np.flatnonzero((epochs >= 1) & (acc >= chance + margin))
    return int(hits[0]) if len(hits) else len(acc) - 1


def split_phases(pred: np.ndarray, labels: np.ndarray, epochs: np.ndarray, n_classes: int) -> Phases:
    """The phases of one split of an ensemble, ``pred`` ``(N, E, M)``: :func:`find_phases` of its
    consistency with its collapsed epochs (:func:`collapsed_epochs`) labelled as such. The book's one
    rule for every chapter."""
    return find_phases(scores.consistency(pred, labels), epochs, collapsed_epochs(pred, n_classes))


def value_shares(consistency: np.ndarray, n_models: int) -> np.ndarray:
    """Share of the examples at each of the ``n_models + 1`` values k/N of a score: ``(M,)`` → ``(N + 1,)``
    (the bars of one consistency histogram; they sum to 1)."""
    c = np.asarray(consistency, dtype=np.float64)
    check_int("n_models", n_models, 1)
    if c.ndim != 1 or c.size == 0 or np.nanmin(c) < 0 or np.nanmax(c) > 1:
        raise ValueError(f"consistency must be a non-empty (M,) array in [0, 1], got shape {c.shape}")
    return np.bincount(np.rint(c * n_models).astype(int), minlength=n_models + 1) / c.size


def geometric_shares(mean: float, n_models: int) -> np.ndarray:
    """The law P(k) ∝ r^k on the values k = 0..N whose mean of k is ``mean`` (a geometric law truncated
    at N; the maximum-entropy law of that mean): ``(N + 1,)``, summing to 1. It decays exponentially
    from k = 0 (r < 1) when the mean is below N/2: the 'exponentially decreasing tail' of the paper's
    beginning of learning."""
    check_int("n_models", n_models, 1)
    mean = check_float("mean", mean, low=0, high=n_models)
    k = np.arange(n_models + 1)
    if mean in (0, n_models):
        return (k == mean).astype(float)

    def law(log_r: float) -> np.ndarray:
        w = np.exp(log_r * (k - n_models / 2))  # centred: no overflow for large |log r|
        return w / w.sum()

    low, high = -60.0, 60.0         # the mean of law(log r) rises with log r, from ~0 to ~N
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if law(mid) @ k < mean else (low, mid)
    return law((low + high) / 2)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Total-variation distance between two distributions on the same values: half the sum of
    ``|p - q|`` (0: equal, 1: disjoint)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.ndim != 1 or p.shape != q.shape or p.size == 0:
        raise ValueError(f"p and q must be (K,) arrays of one length, got {p.shape} and {q.shape}")
    return float(0.5 * np.abs(p - q).sum())
