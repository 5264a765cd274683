"""Classical learners beside the CNN ensemble (the paper's §5): AdaBoost accuracy by number of weak
learners, a zoo of scikit-learn classifiers, difficulty thirds and bootstrap correlations.

Arrays in, arrays out: images flattened to ``(M, D)``, labels ``(M,)``. Invalid input raises
``ValueError`` naming the argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

#: Names of the difficulty groups of :func:`difficulty_groups` with ``n_groups=3``, easiest first.
GROUP_NAMES = ("easy", "intermediate", "hard")

#: The paper's classifiers (§5), in its order; see :func:`classifier_zoo`.
ZOO = ("SVM (RBF)", "k-NN", "perceptron", "decision tree", "random forest", "Gaussian naive Bayes")


def _check_xy(x: np.ndarray, y: np.ndarray, xname: str, yname: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{xname} must be a non-empty (M, D) array of flattened examples, got shape {x.shape}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{yname} must have shape ({x.shape[0]},) to match {xname} {x.shape}, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{yname} must hold integer labels, got dtype {y.dtype}")
    if len(np.unique(y)) < 2:
        raise ValueError(f"{yname} must hold at least 2 classes")
    return x, y


def _check_test(x_test: np.ndarray, x_train: np.ndarray) -> np.ndarray:
    x_test = np.asarray(x_test)
    if x_test.ndim != 2 or x_test.shape[1] != x_train.shape[1] or x_test.shape[0] == 0:
        raise ValueError(f"x_test must be a non-empty (M, {x_train.shape[1]}) array like x_train, got {x_test.shape}")
    return x_test


def difficulty_groups(speed: np.ndarray, n_groups: int = 3) -> np.ndarray:
    """Group index of every example by learning speed, 0 = fastest learnt (easiest): ``(M,)`` → ``(M,)``.

    Examples are ranked by decreasing speed (ties keep their order) and cut into ``n_groups``
    groups of equal size (sizes differ by at most one).
    """
    speed = np.asarray(speed, dtype=np.float64)
    if speed.ndim != 1 or not np.isfinite(speed).all():
        raise ValueError(f"speed must be a finite (M,) array, got shape {speed.shape}")
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or not 1 <= n_groups <= len(speed):
        raise ValueError(f"n_groups must be an integer in [1, M={len(speed)}], got {n_groups!r}")
    order = np.argsort(-speed, kind="stable")
    groups = np.empty(len(speed), dtype=np.int64)
    groups[order] = np.arange(len(speed)) * n_groups // len(speed)
    return groups


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
    """Pearson's r of ``x`` and ``y`` (both ``(M,)``) with a percentile bootstrap CI over examples."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 3:
        raise ValueError(f"x and y must be (M,) arrays of the same length M >= 3, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite")
    if x.std() == 0 or y.std() == 0:
        raise ValueError("x and y must not be constant (Pearson's r is undefined)")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    r, p = stats.pearsonr(x, y)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    xb, yb = x[idx], y[idx]
    xb = xb - xb.mean(1, keepdims=True)
    yb = yb - yb.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample of constant values has no r
        rb = (xb * yb).sum(1) / np.sqrt((xb ** 2).sum(1) * (yb ** 2).sum(1))
    rb = rb[np.isfinite(rb)]
    tail = (1 - confidence) / 2
    low, high = np.quantile(rb, [tail, 1 - tail])
    return Correlation(float(r), float(p), float(low), float(high), len(x), float(confidence))


def classifier_zoo(seed: int = 0) -> dict[str, object]:
    """The paper's six classifiers with scikit-learn's default settings (the paper gives none);
    one CPU thread each."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import Perceptron
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    return {"SVM (RBF)": SVC(kernel="rbf"), "k-NN": KNeighborsClassifier(n_jobs=1),
            "perceptron": Perceptron(random_state=seed), "decision tree": DecisionTreeClassifier(random_state=seed),
            "random forest": RandomForestClassifier(random_state=seed, n_jobs=1), "Gaussian naive Bayes": GaussianNB()}


def fit_predict_zoo(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *,
                    names: Sequence[str] | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Fit each classifier of :func:`classifier_zoo` (or those in ``names``) on the training set;
    name → its ``(M_test,)`` predictions on ``x_test``."""
    x_train, y_train = _check_xy(x_train, y_train, "x_train", "y_train")
    x_test = _check_test(x_test, x_train)
    zoo = classifier_zoo(seed)
    names = list(zoo) if names is None else list(names)
    unknown = [n for n in names if n not in zoo]
    if unknown or not names:
        raise ValueError(f"names must be a non-empty list of {', '.join(zoo)}; got {names!r}")
    return {n: np.asarray(zoo[n].fit(x_train, y_train).predict(x_test)) for n in names}


def adaboost_by_k(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, max_k: int,
                  alpha: float = 1000.0, seed: int = 0) -> np.ndarray:
    """Test predictions of AdaBoost (SAMME) after each of its first ``max_k`` linear weak learners:
    ``(max_k, M_test)``; row ``k - 1`` is the ensemble of ``k`` learners.

    The weak learner is a least-squares linear classifier (``RidgeClassifier``, penalty ``alpha``;
    a large one keeps it weak). SAMME stops early when a learner fits the weighted data perfectly or
    is no better than chance; the rows after that repeat the final ensemble's predictions, which is
    what AdaBoost asked for more learners returns.
    """
    from sklearn.ensemble import AdaBoostClassifier
    from sklearn.linear_model import RidgeClassifier

    x_train, y_train = _check_xy(x_train, y_train, "x_train", "y_train")
    x_test = _check_test(x_test, x_train)
    if isinstance(max_k, bool) or not isinstance(max_k, (int, np.integer)) or max_k < 1:
        raise ValueError(f"max_k must be a positive integer, got {max_k!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f"alpha must be a number > 0, got {alpha!r}")
    boost = AdaBoostClassifier(RidgeClassifier(alpha=float(alpha)), n_estimators=int(max_k), random_state=seed)
    staged = np.array(list(boost.fit(x_train, y_train).staged_predict(x_test)))
    if len(staged) < max_k:
        staged = np.concatenate([staged, np.repeat(staged[-1:], max_k - len(staged), axis=0)])
    return staged


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
