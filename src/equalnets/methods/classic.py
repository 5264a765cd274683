"""Classical learners beside the CNN ensemble (the paper's §5): AdaBoost's predictions by number of
weak learners, and the paper's six scikit-learn classifiers.

Arrays in, arrays out: images flattened to ``(M, D)``, labels ``(M,)``. Invalid input raises
``ValueError`` naming the argument.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier
from sklearn.linear_model import Perceptron, RidgeClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from ..engine.checks import check_float, check_int

#: The paper's classifiers (§5), in its order; see :func:`classifier_zoo`.
CLASSIFIERS = ("SVM (RBF)", "k-NN", "perceptron", "decision tree", "random forest", "Gaussian naive Bayes")


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


def classifier_zoo(seed: int = 0) -> dict[str, object]:
    """The paper's six classifiers with scikit-learn's default settings (the paper gives none);
    one CPU thread each."""
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
    x_train, y_train = _check_xy(x_train, y_train, "x_train", "y_train")
    x_test = _check_test(x_test, x_train)
    check_int("max_k", max_k, 1)
    check_float("alpha", alpha, low=0, low_open=True)
    boost = AdaBoostClassifier(RidgeClassifier(alpha=float(alpha)), n_estimators=int(max_k), random_state=seed)
    staged = np.array(list(boost.fit(x_train, y_train).staged_predict(x_test)))
    if len(staged) < max_k:
        staged = np.concatenate([staged, np.repeat(staged[-1:], max_k - len(staged), axis=0)])
    return staged


