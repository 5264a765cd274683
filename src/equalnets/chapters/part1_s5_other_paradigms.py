"""§5 Comparison to other learning paradigms: classical learners (AdaBoost by number of weak
learners, the paper's six scikit-learn classifiers) against the difficulty the base CNN ensemble
finds, and the claims of the paper's §5 (Fig. 6, 7) against them.

The chapter trains no network: it reads the base ensemble (:meth:`Parameters.base_config`) and fits
the classical learners on its data set (:func:`fit_learners`). :func:`analyse` computes every number
the figures and tables show; :func:`claims` decides the verdicts from a
:class:`~equalnets.engine.store.Run` and the learners' predictions (fitted from the run's data set
when not given).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from ..analysis import compare, scores
from ..analysis.claims import ClaimsTable
from ..analysis.stats import Correlation, GivenReference, bootstrap_correlation, given_reference, group_accuracy
from ..analysis.subsets import difficulty_groups
from ..engine.checks import check_float, check_int, check_int_list
from ..engine.config import RunConfig
from ..engine.data import Dataset
from ..engine.store import Run, RunStore
from ..methods import classic
from .base import EnsembleParameters
from .part1_s4_cross_architecture import N_PERM, R_TOLERANCE

TITLE = "§5 other paradigms"

#: The paper's test accuracies of the six classifiers on CIFAR-100 small mammals (§5), and its CNN's.
PAPER_ACCURACY = {"SVM (RBF)": 0.48, "k-NN": 0.36, "perceptron": 0.35, "decision tree": 0.31, "random forest": 0.48,
                  "Gaussian naive Bayes": 0.38}
PAPER_CNN_ACCURACY = 0.56
#: The paper's correlation of AdaBoost's difficulty with the CNN's (Fig. 6b) and how far below it a
#: correlation still reproduces it (the tolerance of §4.1's rules).
PAPER_R = 0.83
#: AdaBoost's accuracy on a third is 'flat' in k within FLAT and 'rises' by at least RISE; ALPHA is the
#: significance level of the tests against independent errors.
FLAT, RISE, ALPHA = 0.05, 0.03, 0.01


@dataclass(frozen=True)
class Parameters(EnsembleParameters):
    """The base ensemble's parameters (see :class:`~equalnets.chapters.base.EnsembleParameters`) and
    the classical learners'."""

    adaboost_k: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100)
    adaboost_alpha: float = 1000.0
    pca_components: int | None = 64
    classifier_seed: int = 0
    n_boot: int = 1000

    def check(self) -> None:
        self.set("adaboost_k", check_int_list("adaboost_k", self.adaboost_k, 1))
        check_float("adaboost_alpha", self.adaboost_alpha, low=0, low_open=True)
        if self.pca_components is not None:
            check_int("pca_components", self.pca_components, 1, why=" or None (raw pixels)")
        check_int("classifier_seed", self.classifier_seed, 0)
        check_int("n_boot", self.n_boot, 1)


def runs(params: Parameters) -> dict[str, RunConfig]:
    """The runs this chapter asks the store for: the base ensemble (no network is trained here)."""
    return {"base": params.base_config()}


@dataclass(frozen=True)
class Learners:
    """The classical learners' predictions on the test images.

    ``ks`` the numbers of weak learners at which AdaBoost is evaluated (sorted, unique);
    ``boost`` ``(max_k, M)`` AdaBoost's predictions after each of its first ``max(ks)`` learners;
    ``zoo`` classifier name → ``(M,)``: the paper's six and AdaBoost with ``max(ks)`` learners;
    ``dims`` the dimensions of the images the learners saw; ``explained`` the fraction of the
    training variance their principal components keep (``None``: raw pixels).
    """

    ks: np.ndarray
    boost: np.ndarray
    zoo: dict[str, np.ndarray]
    dims: int
    explained: float | None = None

    def describe(self) -> str:
        """What the learners saw, in one line."""
        if self.explained is None:
            return f"{self.dims} raw pixel values per image (no principal components)"
        return f"{self.dims} principal components keep {self.explained:.1%} of the training variance"


def fit_learners(run: Run, dataset: Dataset, *, adaboost_k: Sequence[int] = Parameters.adaboost_k,
                 alpha: float = Parameters.adaboost_alpha, pca_components: int | None = Parameters.pca_components,
                 seed: int = Parameters.classifier_seed) -> Learners:
    """Fit AdaBoost and the paper's six classifiers on ``dataset``'s training images with the run's
    training labels, flattened to vectors and, unless ``pca_components`` is None, projected on their
    first principal components (fitted on the training set); predict the test images."""
    ks = np.array(sorted(set(check_int_list("adaboost_k", adaboost_k, 1))))
    x_train = dataset.x_train.reshape(len(dataset.x_train), -1).cpu().numpy()
    x_test = dataset.x_test.reshape(len(dataset.x_test), -1).cpu().numpy()
    y_train = run.train.labels
    explained = None
    if pca_components is not None:
        pca = PCA(min(check_int("pca_components", pca_components, 1), *x_train.shape), random_state=seed).fit(x_train)
        x_train, x_test = pca.transform(x_train), pca.transform(x_test)
        explained = float(pca.explained_variance_ratio_.sum())
    max_k = int(ks[-1])
    boost = classic.adaboost_by_k(x_train, y_train, x_test, max_k=max_k, alpha=alpha, seed=seed)
    zoo = classic.fit_predict_zoo(x_train, y_train, x_test, seed=seed)
    zoo[f"AdaBoost (k={max_k})"] = boost[-1]
    return Learners(ks=ks, boost=boost, zoo=zoo, dims=int(x_train.shape[1]), explained=explained)


def beginning_of_learning(consistency: np.ndarray, epochs: np.ndarray) -> int:
    """The index of the first recorded epoch ≥ 1 at which the CNN majority (consistency > 0.5) gets
    at least 5 % of the examples right and 5 % wrong (before it, "among the examples the CNN gets
    right" is empty); the first epoch ≥ 1 if there is none. ``(E, M)``, ``(E,)`` → int."""
    right = (consistency > 0.5).mean(1)
    usable = np.flatnonzero((epochs >= 1) & (right >= 0.05) & (right <= 0.95))
    return int(usable[0]) if len(usable) else int(np.flatnonzero(epochs >= 1)[0])


@dataclass(frozen=True)
class Analysis:
    """What the figures and the claims are computed from (test images, M of them).

    ``consistency`` ``(E, M)`` of the CNN ensemble; ``speed`` ``(M,)`` its learning speed
    (``scores.speed``: consistency averaged over the training epochs ≥ 1); ``groups`` ``(M,)`` 0 easy,
    1 intermediate, 2 hard (thirds by speed); ``cnn_accuracy`` the ensemble's final mean accuracy;
    ``ks``; ``by_group`` ``(len(ks), 3)`` and ``overall`` ``(len(ks),)`` AdaBoost's accuracy per third
    and on all; ``boost_score`` ``(M,)`` the fraction of k = 1..max_k at which AdaBoost is right;
    ``correlation`` of it with the speed, and ``null_r`` its reference, the ``1 - ALPHA`` quantile of r
    with AdaBoost's scores paired with the speeds at random within each class
    (``compare.pairing_quantile_r``: an AdaBoost as accurate on every class whose difficulty is
    unrelated to the CNN's); ``accuracy`` classifier → test accuracy; ``moments`` label → recorded-epoch index (the
    beginning of learning and the last epoch); ``given`` (moment, classifier) → its accuracy among the
    images the CNN majority gets right and among those it gets wrong, against its base rate
    (:class:`~equalnets.analysis.stats.GivenReference`).
    """

    epochs: np.ndarray
    consistency: np.ndarray
    speed: np.ndarray
    groups: np.ndarray
    cnn_accuracy: float
    ks: np.ndarray
    by_group: np.ndarray
    overall: np.ndarray
    boost_score: np.ndarray
    correlation: Correlation
    null_r: float
    accuracy: dict[str, float]
    beginning: int
    moments: dict[str, int]
    given: dict[tuple[str, str], GivenReference]

    @property
    def max_k(self) -> int:
        return int(self.ks[-1])

    @property
    def names(self) -> list[str]:
        """The classifiers compared, the paper's six and AdaBoost."""
        return list(self.accuracy)

    @property
    def cnn_right(self) -> dict[str, np.ndarray]:
        """Moment → ``(M,)`` bool: the images the CNN majority (consistency > 0.5) gets right then."""
        return {m: self.consistency[i] > 0.5 for m, i in self.moments.items()}

    def describe_beginning(self) -> str:
        """Where the CNN majority stands at the first trained epoch, and the beginning chosen."""
        first = int(np.flatnonzero(self.epochs >= 1)[0])
        return (f"CNN majority right on {(self.consistency[first] > 0.5).mean():.1%} of the test images at epoch "
                f"{self.epochs[first]}; beginning of learning taken at epoch {self.epochs[self.beginning]}")

    def given_table(self) -> pd.DataFrame:
        """One row per classifier and moment: its accuracy on the CNN-right and CNN-wrong images, on all
        (the base rate of a classifier whose errors are independent of the CNN's) and the Fisher p."""
        return pd.DataFrame([{"moment": m, "classifier": n, "CNN right": g.right, "CNN wrong": g.wrong,
                              "all images (base rate)": g.base, "lift": g.lift, "Fisher p": g.p}
                             for (m, n), g in self.given.items()]).set_index(["moment", "classifier"])


def analyse(run: Run, learners: Learners, *, n_boot: int = Parameters.n_boot,
            seed: int = Parameters.classifier_seed) -> Analysis:
    """Every number of the chapter from the run and the learners; ``seed`` draws the bootstrap and the
    shuffle of the null."""
    y_test = run.test.labels
    cons = scores.consistency(run.test.pred, y_test)       # (E, M)
    speed = scores.speed(run.test.pred, y_test, run.epochs)  # (M,) high: learnt early by the CNNs
    groups = difficulty_groups(speed)                      # 0 easy, 1 intermediate, 2 hard
    ks = learners.ks
    boost_correct = learners.boost == y_test               # (max_k, M)
    boost_score = boost_correct.mean(0)                    # (M,) over k = 1..max_k
    first = beginning_of_learning(cons, run.epochs)
    moments = {f"epoch {run.epochs[first]}": first, f"epoch {run.epochs[-1]}": len(run.epochs) - 1}
    given = {(m, name): given_reference(p == y_test, cons[i] > 0.5)
             for m, i in moments.items() for name, p in learners.zoo.items()}
    return Analysis(epochs=run.epochs, consistency=cons, speed=speed, groups=groups,
                    cnn_accuracy=float(run.test.accuracy()[:, -1].mean()), ks=ks,
                    by_group=group_accuracy(boost_correct[ks - 1], groups), overall=boost_correct[ks - 1].mean(1),
                    boost_score=boost_score,
                    correlation=bootstrap_correlation(boost_score, speed, n_boot=n_boot, seed=seed),
                    null_r=compare.pairing_quantile_r(boost_score, speed, y_test, q=1 - ALPHA, n_perm=N_PERM,
                                                      seed=seed),
                    accuracy={name: float((p == y_test).mean()) for name, p in learners.zoo.items()},
                    beginning=first, moments=moments, given=given)


def claims(run: Run, learners: Learners | None = None, *, dataset: Dataset | None = None,
           adaboost_k: Sequence[int] = Parameters.adaboost_k, adaboost_alpha: float = Parameters.adaboost_alpha,
           pca_components: int | None = Parameters.pca_components, n_boot: int = Parameters.n_boot,
           seed: int = Parameters.classifier_seed) -> ClaimsTable:
    """The claims of the paper's §5 against ``run`` (any ensemble with recorded epochs ≥ 1) and the
    classical ``learners`` (fitted by :func:`fit_learners` on ``dataset``, by default the run's, with
    the given settings, when not given). Each rule compares with a reference computed here: AdaBoost on
    all images, AdaBoost's scores shuffled within each class, each classifier's base rate, the CNN's
    accuracy, or the paper's number less :data:`R_TOLERANCE`."""
    if learners is None:
        learners = fit_learners(run, dataset if dataset is not None else RunStore.dataset_for(run.config),
                                adaboost_k=adaboost_k, alpha=adaboost_alpha, pca_components=pca_components, seed=seed)
    missing = [n for n in PAPER_ACCURACY if n not in learners.zoo]
    if missing:
        raise ValueError(f"learners.zoo must hold the predictions of every classifier of the paper; "
                             f"it lacks {', '.join(missing)}")
    a = analyse(run, learners, n_boot=n_boot, seed=seed)
    table = ClaimsTable()
    e, i_, h = a.by_group[:, 0], a.by_group[:, 1], a.by_group[:, 2]
    ks, overall, corr, cnn_acc, zoo_acc, names, given = a.ks, a.overall, a.correlation, a.cnn_accuracy, \
        a.accuracy, a.names, a.given

    def fmt(values: np.ndarray) -> str:
        return " → ".join(f"{v:.2f}" for v in values)

    k_range = f"k = {ks[0]} → {ks[-1]}"
    all_images = f"AdaBoost on all images (an AdaBoost blind to the CNN's difficulty): {fmt(overall[[0, -1]])}"
    table.check("AdaBoost: easy > intermediate > hard at every k", "yes (Fig. 6a)",
                f"easy {fmt(e[[0, -1]])}, intermediate {fmt(i_[[0, -1]])}, hard {fmt(h[[0, -1]])} ({k_range})",
                "the ordering holds at every k; partly: at more than half of the k", bool(np.all((e > i_) & (i_ > h))),
                partly=bool(np.mean((e > i_) & (i_ > h)) > 0.5), reference=all_images)
    table.check("AdaBoost: easy high and flat in k", "above overall, no gain with k (Fig. 6a)",
                f"easy {fmt(e[[0, -1]])} ({k_range})",
                f"easy above all images at every k and |change from smallest to largest k| <= {FLAT}; partly: above "
                "all images", bool(np.all(e > overall)) and abs(e[-1] - e[0]) <= FLAT, partly=bool(np.all(e > overall)),
                reference=all_images)
    table.check("AdaBoost: intermediate rises with k", "significant improvement (Fig. 6a)",
                f"intermediate {fmt(i_[[0, -1]])}, gain {i_[-1] - i_[0]:+.2f} ({k_range})",
                f"gain from smallest to largest k >= {RISE} and >= the gain on all images; partly: > 0 and >= the gain "
                "on all images",
                i_[-1] - i_[0] >= RISE and i_[-1] - i_[0] >= overall[-1] - overall[0],
                partly=i_[-1] > i_[0] and i_[-1] - i_[0] >= overall[-1] - overall[0],
                reference=f"gain on all images {overall[-1] - overall[0]:+.2f}")
    table.check("AdaBoost: hard low and slowly falling", "below overall, slowly decreasing (Fig. 6a)",
                f"hard {fmt(h[[0, -1]])} ({k_range})",
                "hard below all images at every k and not higher at the largest k than at the smallest; "
                "partly: below all images",
                bool(np.all(h < overall)) and h[-1] <= h[0], partly=bool(np.all(h < overall)), reference=all_images)
    low = PAPER_R - R_TOLERANCE
    table.check("AdaBoost's difficulty correlates with the CNN's", f"r = {PAPER_R}, p <= 1e-10 (Fig. 6b)",
                corr.describe(),
                f"r >= {low:.2f} (the paper's {PAPER_R} less {R_TOLERANCE}) and p < 1e-10; partly: r above the "
                f"reference (permutation p < {ALPHA})", corr.r >= low and corr.p < 1e-10, partly=corr.r > a.null_r,
                reference=f"r exceeded by {ALPHA:.0%} of AdaBoost's scores paired at random within each class: "
                          f"{a.null_r:.2f}")
    below = [n for n in PAPER_ACCURACY if zoo_acc[n] < cnn_acc]
    table.check("All six classifiers under-perform the CNN", "0.31-0.48 vs 0.56",
                ", ".join(f"{n} {zoo_acc[n]:.2f}" for n in PAPER_ACCURACY),
                "every one below the CNN's mean test accuracy; partly: at least half",
                len(below) == len(PAPER_ACCURACY), partly=len(below) >= len(PAPER_ACCURACY) / 2,
                reference=f"CNN {cnn_acc:.2f} (mean of N={run.n_models}, final epoch)")
    for m in a.moments:
        above = [n for n in names if given[m, n].p < ALPHA]
        table.check(f"Classifiers are right mostly where the CNN is right ({m})", "every classifier (Fig. 7)",
                    f"{len(above)} of {len(names)} more accurate on CNN-right images than on CNN-wrong ones "
                    f"(one-sided Fisher exact p < {ALPHA}); mean accuracy on CNN-right images "
                    f"{np.nanmean([given[m, n].right for n in names]):.2f}",
                    f"every classifier more accurate on CNN-right than on CNN-wrong images with p < {ALPHA}; partly: "
                    "at least half", len(above) == len(names), partly=len(above) >= len(names) / 2,
                    reference="each classifier's base rate, what it gets on any set if its errors are independent of "
                              f"the CNN's: mean {np.mean([given[m, n].base for n in names]):.2f} (on CNN-wrong images: "
                              f"{np.nanmean([given[m, n].wrong for n in names]):.2f})")
    return table
