"""Supplement C: classes and individual examples over training in the base ensemble (the paper's
Fig. 9 and 11), and the claims of its Supp. C against the run.

The chapter trains nothing: it reads the base ensemble (:meth:`Parameters.base_config`), the run of
§3. :func:`analyse` computes every number its figures show from the training split, with the rules
of :mod:`equalnets.analysis.trajectories`; :func:`claims` decides the verdicts from a
:class:`~equalnets.engine.store.Run` alone, each against a reference from the same run (the
independent-errors null, ``scores.independent_errors``, or a permutation of the class labels).
Epochs at which the networks give most images one label (``phases.collapsed_epochs``) are left out
of the trajectories and of every rule: there consistency marks an image's class, not its difficulty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..analysis import phases, scores, trajectories
from ..analysis.claims import ClaimsTable
from ..engine.config import RunConfig
from ..engine.store import Run
from .base import EnsembleParameters

TITLE = "Supplement: individual examples"

#: k-means clusters of trajectories: enough to separate the paper's patterns, few enough to read.
N_BEHAVIOURS = 6
#: Permutations of the class labels behind the 'classes one after another' rule.
N_PERMUTATIONS = 200
#: The three step-like patterns of the paper's Fig. 11 (jump to 1, dip then rise, fall to 0).
STEP_PATTERNS = ("learnt at once", "dip then rise", "never learnt")

#: The data sets and architectures on which the paper saw the bi-modal phase (its Supp. C), and
#: where this book stands on each.
PAPER_DATASETS = (
    ("ImageNet", "AlexNet (N=22), ResNet-50 (N=27), DenseNet (N=7)", "no (too large for the book's budget)"),
    ("MNIST", "MNIST net (N=100)", "the architecture exists (arch='mnist-net'); not run in Part I"),
    ("CIFAR-10, CIFAR-100", "VGG-16 (N=20), st-VGG (N=100)", "data sets available (dataset='cifar10', 'cifar100')"),
    ("tiny ImageNet", "st-VGG (N=100)", "no"),
    ("CIFAR-100 small mammals", "st-VGG and small st-VGG (N=100)", "the 'paper' profile (dataset='cifar100-small-mammals')"),
    ("CIFAR-100 aquatic mammals, insects, household furniture", "st-VGG (N=100)",
     "available as dataset='cifar100-<superclass>'; not run"),
)


@dataclass(frozen=True)
class Parameters(EnsembleParameters):
    """The base ensemble's parameters (see :class:`~equalnets.chapters.base.EnsembleParameters`)."""


def runs(params: Parameters) -> dict[str, RunConfig]:
    """The runs this chapter asks the store for: the base ensemble (a cache hit on §3's run)."""
    return {"base": params.base_config()}


@dataclass(frozen=True)
class Analysis:
    """What the figures and the claims are computed from, on the training split (M images, K classes).

    ``consistency`` and ``majority`` (the label most networks predict) ``(E, M)`` at every recorded
    epoch; ``collapsed`` ``(E,)`` bool; ``rows`` the recorded-epoch indices of the trajectories
    (epoch 0 and every trained epoch not collapsed); ``shown`` the recorded-epoch indices of Fig. 9
    (:func:`~equalnets.analysis.trajectories.epochs_at_fractions`); ``class_mean`` ``(K, E)`` each
    true class's mean consistency; ``learnt_at`` per class the index of the first epoch of ``rows``
    at which its mean reaches 0.5 (None: never); ``wrong_labels`` ``(E,)`` the effective number of
    labels among the majority labels of the images the ensemble gets wrong; ``clusters`` the k-means
    clusters of trajectories; ``behaviour`` ``(M,)`` the rule's name of every image's own trajectory;
    ``largest_drop`` the 'learnt then forgotten' image (by that rule) whose consistency drops most
    from its peak (None if there is none); ``share`` and ``per_cluster`` behaviour → fraction of
    the images, by the rule per image and by the clusters so named.
    """

    epochs: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    consistency: np.ndarray
    majority: np.ndarray
    collapsed: np.ndarray
    rows: np.ndarray
    shown: list[int]
    class_mean: np.ndarray
    learnt_at: list[int | None]
    wrong_labels: np.ndarray
    clusters: trajectories.TrajectoryClusters
    behaviour: np.ndarray
    largest_drop: int | None
    share: dict[str, float]
    per_cluster: dict[str, float]

    @property
    def trajectory_epochs(self) -> np.ndarray:
        """``(E',)`` the epochs of the trajectories (``epochs[rows]``)."""
        return self.epochs[self.rows]

    @property
    def trajectories(self) -> np.ndarray:
        """``(E', M)`` consistency at the epochs of the trajectories."""
        return self.consistency[self.rows]

    @property
    def reached(self) -> list[int]:
        """The ``learnt_at`` indices of the classes that reach 0.5."""
        return [i for i in self.learnt_at if i is not None]

    @property
    def spread(self) -> int:
        """Epochs between the first and the last class to reach 0.5, a class that never does counting
        as the last epoch + 1 (0 if none does)."""
        return class_spread(self.learnt_at, self.epochs) if self.reached else 0

    @property
    def n_never(self) -> int:
        """Classes whose mean consistency never reaches 0.5."""
        return sum(i is None for i in self.learnt_at)

    @property
    def class_order(self) -> list[str]:
        """The classes in the order they reach 0.5 (those that never do last)."""
        key = [np.inf if i is None else i for i in self.learnt_at]
        return [self.classes[k] for k in sorted(range(len(self.classes)), key=key.__getitem__)]

    @property
    def first_trained(self) -> int:
        """The index of the first recorded epoch after initialisation that is not collapsed (the last
        epoch if every one is)."""
        return int(self.rows[1]) if len(self.rows) > 1 else len(self.epochs) - 1

    def fraction(self, names: tuple[str, ...], *, clusters: bool = False) -> float:
        """Fraction of images whose behaviour is one of ``names``: by the rule per image, or
        (``clusters``) in the clusters so named."""
        by = self.per_cluster if clusters else self.share
        return sum(by[n] for n in names)


def class_spread(learnt_at: list[int | None], epochs: np.ndarray) -> int:
    """Epochs from the first class to reach 0.5 to the last, a class that never does counting as the
    last epoch + 1: ``learnt_at`` recorded-epoch indices (or None) → epochs."""
    when = [int(epochs[-1]) + 1 if i is None else int(epochs[i]) for i in learnt_at]
    return max(when) - min(when)


def class_learnt_at(consistency: np.ndarray, labels: np.ndarray, n_classes: int, rows: np.ndarray) -> list[int | None]:
    """Per class, the recorded-epoch index of the first epoch of ``rows`` after the first (epoch 0) at
    which its mean consistency reaches 0.5, None if never (``trajectories.class_learnt_epochs`` on the
    epochs kept)."""
    found = trajectories.class_learnt_epochs(consistency[rows], labels, n_classes)
    return [None if i is None else int(rows[i]) for i in found]


def trajectory_rows(pred: np.ndarray, epochs: np.ndarray, n_classes: int) -> np.ndarray:
    """Recorded-epoch indices of epoch 0 and of every trained epoch that is not collapsed."""
    collapsed = phases.collapsed_epochs(pred, n_classes)
    return np.flatnonzero((np.asarray(epochs) == 0) | ~collapsed)


def _wrong_labels(majority: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.array([trajectories.effective_labels(row[row != labels], n_classes) for row in majority])


def analyse(run: Run, *, n_clusters: int = N_BEHAVIOURS) -> Analysis:
    """Every number of the chapter from the run's training split; ``n_clusters`` k-means clusters
    (at most M) with ``random_state=0``."""
    labels, K = run.train.labels, run.n_classes
    cons = scores.consistency(run.train.pred, labels)                               # (E, M)
    majority = trajectories.majority_label(run.train.pred.astype(np.int64), K)      # (E, M)
    M = len(labels)
    rows = trajectory_rows(run.train.pred, run.epochs, K)
    if len(rows) < 2:  # every trained epoch collapsed: shown as it is; every claim says so
        rows = np.arange(len(run.epochs))
    traj = cons[rows]
    clusters = trajectories.cluster_trajectories(traj, min(n_clusters, M), random_state=0)
    behaviour = trajectories.name_behaviours(traj)
    forgot = np.flatnonzero(behaviour == "learnt then forgotten")
    largest_drop = int(forgot[(traj[1:, forgot].max(axis=0) - traj[-1, forgot]).argmax()]) if forgot.size else None
    return Analysis(epochs=run.epochs, labels=labels, classes=run.classes, consistency=cons, majority=majority,
                    collapsed=phases.collapsed_epochs(run.train.pred, K), rows=rows,
                    shown=trajectories.epochs_at_fractions(run.epochs),
                    class_mean=np.stack([cons[:, labels == k].mean(axis=1) if (labels == k).any() else np.full(len(cons), np.nan)
                                         for k in range(K)]),
                    learnt_at=class_learnt_at(cons, labels, K, rows), wrong_labels=_wrong_labels(majority, labels, K),
                    clusters=clusters, behaviour=behaviour, largest_drop=largest_drop,
                    share={b: float((behaviour == b).mean()) for b in trajectories.BEHAVIOURS},
                    per_cluster={b: clusters.fraction(b) for b in trajectories.BEHAVIOURS})


def null_behaviours(run: Run, *, seed: int = 0) -> dict[str, float]:
    """Behaviour → fraction of the training images, by the rule per image, for the same networks with
    independent errors (``scores.independent_errors``) over the same epochs."""
    null = scores.independent_errors(run.train.pred, run.train.labels, seed=seed)
    rows = trajectory_rows(run.train.pred, run.epochs, run.n_classes)
    rows = rows if len(rows) >= 2 else np.arange(len(run.epochs))
    names = trajectories.name_behaviours(scores.consistency(null, run.train.labels)[rows])
    return {b: float((names == b).mean()) for b in trajectories.BEHAVIOURS}


def zero_time_correlation(pred: np.ndarray, labels: np.ndarray, epochs: np.ndarray, rows: np.ndarray) -> float:
    """Spearman's rho between the epochs an image spends at consistency 0 in one half of the networks
    (the even members; over the trained epochs of ``rows``, each standing for the epochs since the
    previous recorded one) and its learning speed (``scores.speed``) in the other half, within each
    class, averaged over the classes where both vary: disjoint networks, so that no image is
    correlated with itself, and within classes, so that what a whole class shares (an easy or a hard
    class) does not count. ``pred`` ``(N, E, M)``, N >= 2; ``nan`` where no class has both varying."""
    pred, epochs, labels = np.asarray(pred), np.asarray(epochs), np.asarray(labels)
    weights = np.zeros(len(epochs))
    gaps = np.diff(epochs, prepend=0)
    trained = rows[epochs[rows] >= 1]
    weights[trained] = gaps[trained]
    zero = trajectories.time_at_zero(scores.consistency(pred[0::2], labels), weights)
    speed = scores.speed(pred[1::2], labels, epochs)
    rhos = [stats.spearmanr(zero[labels == k], speed[labels == k]).statistic for k in np.unique(labels)
            if zero[labels == k].std() > 0 and speed[labels == k].std() > 0]
    return float(np.mean(rhos)) if rhos else float("nan")


def claims(run: Run, *, n_clusters: int = N_BEHAVIOURS, seed: int = 0) -> ClaimsTable:
    """The claims of the paper's Supp. C against ``run`` (any ensemble with recorded epoch 0);
    ``seed`` draws the independent-errors null and the permutations of the class labels."""
    a = analyse(run, n_clusters=n_clusters)
    table = ClaimsTable()
    classes, epochs_, K, share, per_cluster = a.classes, a.epochs, run.n_classes, a.share, a.per_cluster
    labels, rows = a.labels, a.rows
    null_share = null_behaviours(run, seed=seed)
    usable = not a.collapsed[1:].all()   # else no epoch is left to test: every rule says not reproduced
    note = "" if usable else "every trained epoch is collapsed; "

    # --- classes one after another: the spread of the classes' times against class labels that do not matter
    rng = np.random.default_rng(seed)
    null_spread = np.array([class_spread(class_learnt_at(a.consistency, rng.permutation(labels), K, rows), epochs_)
                            for _ in range(N_PERMUTATIONS)])
    spread, limit = class_spread(a.learnt_at, epochs_), float(np.percentile(null_spread, 95))
    when = ", ".join(f"{classes[c]}: {'never' if i is None else int(epochs_[i])}" for c, i in enumerate(a.learnt_at))
    table.check("Classes are learnt one after another", "2 classes first, others emerge later (Fig. 9)",
                note + f"epoch at which the class mean consistency reaches 0.5 (collapsed epochs left out) — {when}; spread "
                f"{spread} epochs",
                f"spread (first to last class, 'never' = last epoch + 1) >= 1 epoch and above the 95th percentile of "
                f"{N_PERMUTATIONS} permutations of the class labels among the images",
                bool(usable and spread >= 1 and spread > limit),
                reference=f"permuted classes: 95th percentile {limit:.0f} epochs")

    # --- fewer labels early: the labels of the mistakes, at the first epoch not collapsed against the last
    first, last = a.first_trained, len(epochs_) - 1
    early, late = float(a.wrong_labels[first]), float(a.wrong_labels[last])
    table.check("Early on, the networks' mistakes use fewer labels", "fewer labels at first, more specific later (Fig. 9)",
                note + f"effective number of labels among the majority labels of wrongly classified images: {early:.2f} at epoch "
                f"{int(epochs_[first])} (the first not collapsed)",
                "at least 0.5 fewer at the first trained epoch not collapsed than at the last epoch",
                bool(usable and early <= late - 0.5), reference=f"last epoch ({int(epochs_[last])}): {late:.2f}")

    # --- step patterns, then staying at 0 or 1
    step, null_step = a.fraction(STEP_PATTERNS), sum(null_share[b] for b in STEP_PATTERNS)
    table.check("Most images follow one of three step patterns", "most: jump to 1, dip to 0 then rise, or fall to 0, "
                "then stay (Fig. 11)",
                note + f"{step:.2f} of images (clusters so named: {a.fraction(STEP_PATTERNS, clusters=True):.2f})",
                "the share of 'learnt at once', 'dip then rise' and 'never learnt' (each settling near 0 or 1: "
                "trajectories.name_behaviour) > 0.5 and >= the independent-errors null's + 0.2",
                bool(usable and step > 0.5 and step >= null_step + 0.2), reference=f"independent errors: {null_step:.2f}")

    forgotten = share["learnt then forgotten"]
    table.check("'Learnt then forgotten' is a minority", "a few images (green curve, Fig. 11)",
                note + f"{forgotten:.3f} of images (clusters: {per_cluster['learnt then forgotten']:.3f})",
                "some images (> 0) and fewer than 10 %",
                bool(usable and 0 < forgotten < 0.10), reference=f"independent errors: {null_share['learnt then forgotten']:.3f}")

    # --- the longer at 0, the harder: across disjoint halves of the networks
    rho = zero_time_correlation(run.train.pred, labels, epochs_, rows)
    null = scores.independent_errors(run.train.pred, labels, seed=seed)
    rho_null = zero_time_correlation(null, labels, epochs_, rows)
    table.check("The longer an image stays at consistency 0, the later it is learnt",
                "time at 0 correlates with the order of learning (Supp. C)",
                note + f"Spearman rho = {rho:.2f} (within classes, averaged) between the epochs at 0 in one half of the "
                "networks and the learning speed in the other",
                "rho < 0 and at least 0.2 below that of the independent-errors null",
                bool(usable and rho < 0 and rho <= rho_null - 0.2), reference=f"independent errors: rho = {rho_null:.2f}")
    return table
