"""Generic statistics of the chapters: correlations with bootstrap intervals, accuracies within
groups of examples and the noise of a proportion. NumPy in, NumPy out; bad input raises
``ValueError`` naming the argument."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats

from ..engine.checks import check_float, check_int
@dataclass(frozen=True)
class Correlation:
    """Pearson's r of ``n`` pairs, its two-sided p-value and a bootstrap confidence interval."""

    r: float
    p: float
    low: float
    high: float
    n: int
    confidence: float

    def describe(self) -> str:
        return (f"r = {self.r:.2f} ({self.confidence:.0%} CI {self.low:.2f} to {self.high:.2f}), "
                f"p = {self.p:.1e}, n = {self.n}")


def bootstrap_correlation(x: np.ndarray, y: np.ndarray, *, n_boot: int = 1000, confidence: float = 0.95,
                          seed: int = 0) -> Correlation:
    """Pearson's r of ``x`` and ``y`` (both ``(M,)``), its p-value and a percentile bootstrap CI over
    examples (scipy's ``pearsonr(...).confidence_interval``). Where either is constant, r is
    undefined and every number of the result is ``nan`` (e.g. a tiny ensemble that has learnt
    nothing yet has no order to compare)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 3:
        raise ValueError(f"x and y must be (M,) arrays of the same length M >= 3, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite")
    check_int("n_boot", n_boot, 1)
    check_float("confidence", confidence, low=0, high=1, low_open=True, high_open=True)
    if x.std() == 0 or y.std() == 0:
        nan = float("nan")
        return Correlation(nan, nan, nan, nan, len(x), float(confidence))
    result = stats.pearsonr(x, y)
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample of constant values has no r
        ci = result.confidence_interval(confidence, stats.BootstrapMethod(n_resamples=int(n_boot), method="percentile",
                                                                          rng=np.random.default_rng(seed)))
    return Correlation(float(result.statistic), float(result.pvalue), float(ci.low), float(ci.high), len(x),
                       float(confidence))


def group_accuracy(correct: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Accuracy within each group: ``correct`` ``(..., M)`` bool, ``groups`` ``(M,)`` in
    ``[0, G)`` → ``(..., G)``; a group with no examples gives ``nan``."""
    correct, groups = np.asarray(correct, dtype=np.float64), np.asarray(groups)
    if correct.ndim < 1 or groups.ndim != 1 or correct.shape[-1] != groups.shape[0]:
        raise ValueError(f"groups must have shape ({correct.shape[-1] if correct.ndim else '?'},) to match "
                         f"correct {correct.shape}, got {groups.shape}")
    if not np.issubdtype(groups.dtype, np.integer) or (groups < 0).any():
        raise ValueError("groups must hold non-negative integers")
    with np.errstate(invalid="ignore"):
        return np.stack([correct[..., groups == g].mean(-1) if (groups == g).any()
                         else np.full(correct.shape[:-1], np.nan) for g in range(int(groups.max()) + 1)], -1)


def accuracy_given_reference(correct: np.ndarray, reference_correct: np.ndarray) -> tuple[float, float]:
    """Accuracy of a classifier among the examples a reference gets right, and among those it gets
    wrong: two ``(M,)`` bool arrays → ``(right, wrong)``, ``nan`` for an empty set."""
    correct, ref = np.asarray(correct), np.asarray(reference_correct)
    if correct.ndim != 1 or correct.shape != ref.shape or correct.dtype != bool or ref.dtype != bool:
        raise ValueError(f"correct and reference_correct must be bool (M,) arrays of one length, got "
                         f"{correct.dtype} {correct.shape} and {ref.dtype} {ref.shape}")
    right = float(correct[ref].mean()) if ref.any() else float("nan")
    wrong = float(correct[~ref].mean()) if (~ref).any() else float("nan")
    return right, wrong


def binomial_halfwidth(p: np.ndarray, k: int, z: float = 1.96) -> np.ndarray:
    """Half-width ``z·sqrt(p(1-p)/k)`` of the normal interval of a proportion ``p`` over ``k``
    examples, floored at ``z·sqrt(0.5·0.5/k)/2`` so that p near 0 or 1 still allows some noise."""
    check_int("k", k, 1, why=" (number of examples)")
    p = np.asarray(p, dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p must lie in [0, 1]")
    return np.maximum(z * np.sqrt(p * (1 - p) / k), z * math.sqrt(0.25 / k) / 2)


@dataclass(frozen=True)
class GivenReference:
    """A classifier against a reference on the same examples: its accuracy among the examples the
    reference gets right (``right``, ``n_right`` of them) and among those it gets wrong (``wrong``,
    ``n_wrong``), its accuracy on all of them (``base``: what a classifier of the same accuracy whose
    errors are independent of the reference's gets on either set), and the one-sided Fisher exact
    p-value that it is more accurate where the reference is right (``nan`` if either set is empty)."""

    right: float
    wrong: float
    base: float
    n_right: int
    n_wrong: int
    p: float

    @property
    def lift(self) -> float:
        """``(right - base) / (1 - base)``: the share of its errors on a random set of examples that the
        classifier avoids on the reference's right ones; 0 for independent errors, 1 when it gets every
        one of them right (``nan`` when ``base`` is 1 or ``right`` undefined)."""
        return float((self.right - self.base) / (1 - self.base)) if self.base < 1 else float("nan")


def given_reference(correct: np.ndarray, reference_correct: np.ndarray) -> GivenReference:
    """:func:`accuracy_given_reference` with its base rate and a test against independent errors: two
    ``(M,)`` bool arrays → :class:`GivenReference`."""
    right, wrong = accuracy_given_reference(correct, reference_correct)
    correct, ref = np.asarray(correct), np.asarray(reference_correct)
    table = [[int((correct & ref).sum()), int((~correct & ref).sum())],
             [int((correct & ~ref).sum()), int((~correct & ~ref).sum())]]
    p = float(stats.fisher_exact(table, alternative="greater").pvalue) if ref.any() and (~ref).any() else float("nan")
    return GivenReference(right=right, wrong=wrong, base=float(correct.mean()), n_right=int(ref.sum()),
                          n_wrong=int((~ref).sum()), p=p)


def bootstrap_interval(statistic: Callable[..., float], samples: tuple[np.ndarray, ...], *, n_boot: int = 1000,
                       confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*samples)`` over examples: every array of
    ``samples`` has the examples on its last axis ``(..., M)``, and one resample of the M indices is
    applied to all of them (paired). Resamples where the statistic is ``nan`` are left out; ``(nan,
    nan)`` if all are."""
    samples = tuple(np.asarray(s) for s in samples)
    if not samples or any(s.ndim < 1 or s.shape[-1] != samples[0].shape[-1] for s in samples) or \
            samples[0].shape[-1] < 2:
        raise ValueError(f"samples must be arrays with the same number (>= 2) of examples on their last axis, "
                         f"got shapes {[s.shape for s in samples]}")
    check_int("n_boot", n_boot, 1)
    check_float("confidence", confidence, low=0, high=1, low_open=True, high_open=True)
    rng = np.random.default_rng(seed)
    m = samples[0].shape[-1]
    values = np.array([statistic(*(s[..., idx] for s in samples))
                       for idx in (rng.integers(0, m, m) for _ in range(int(n_boot)))], dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))
