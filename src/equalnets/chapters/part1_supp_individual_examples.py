"""Supplement C: classes and individual examples over training in the base ensemble (the paper's
Fig. 9 and 11), and the claims of its Supp. C against the run.

The chapter trains nothing: it reads the base ensemble (:meth:`Parameters.base_config`), the run of
§3. :func:`analyse` computes every number its figures show from the training split, with the rules
of :mod:`equalnets.analysis.trajectories`; :func:`claims` decides the verdicts from a
:class:`~equalnets.engine.store.Run` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis import scores, trajectories
from ..analysis.claims import ClaimsTable
from ..engine.config import RunConfig
from ..engine.store import Run
from .base import EnsembleParameters

TITLE = "Supplement: individual examples"

#: k-means clusters of trajectories: enough to separate the paper's patterns, few enough to read.
N_BEHAVIOURS = 6
#: A label is "used" at an epoch when it is the majority label of at least this share of the images.
USED_SHARE = 0.05
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

    ``consistency`` and ``majority`` (the label most networks predict) ``(E, M)``; ``shown`` the
    recorded-epoch indices of Fig. 9 (:func:`~equalnets.analysis.trajectories.epochs_at_fractions`);
    ``class_mean`` ``(K, E)`` each true class's mean consistency; ``learnt_at`` per class the index
    of the epoch its mean first reaches 0.5 (None: never); ``labels_used`` ``(E,)`` how many labels
    are the majority label of at least :data:`USED_SHARE` of the images; ``clusters`` the k-means
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
    shown: list[int]
    class_mean: np.ndarray
    learnt_at: list[int | None]
    labels_used: np.ndarray
    clusters: trajectories.TrajectoryClusters
    behaviour: np.ndarray
    largest_drop: int | None
    share: dict[str, float]
    per_cluster: dict[str, float]

    @property
    def reached(self) -> list[int]:
        """The ``learnt_at`` indices of the classes that reach 0.5."""
        return [i for i in self.learnt_at if i is not None]

    @property
    def spread(self) -> int:
        """Recorded epochs between the first and the last class to reach 0.5 (0 if none does)."""
        return max(self.reached) - min(self.reached) if self.reached else 0

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
        """The index of the first recorded epoch after initialisation (0 if there is none)."""
        return min(1, len(self.epochs) - 1)

    @property
    def first_used(self) -> int:
        """Labels used at the first trained epoch."""
        return int(self.labels_used[self.first_trained])

    def fraction(self, names: tuple[str, ...], *, clusters: bool = False) -> float:
        """Fraction of images whose behaviour is one of ``names``: by the rule per image, or
        (``clusters``) in the clusters so named."""
        by = self.per_cluster if clusters else self.share
        return sum(by[n] for n in names)


def analyse(run: Run, *, n_clusters: int = N_BEHAVIOURS) -> Analysis:
    """Every number of the chapter from the run's training split; ``n_clusters`` k-means clusters
    (at most M) with ``random_state=0``."""
    labels, K = run.train.labels, run.n_classes
    cons = scores.consistency(run.train.pred, labels)                               # (E, M)
    majority = trajectories.majority_label(run.train.pred.astype(np.int64), K)      # (E, M)
    M = len(labels)
    labels_used = np.array([(np.bincount(majority[e], minlength=K) / M >= USED_SHARE).sum()
                            for e in range(len(run.epochs))])
    clusters = trajectories.cluster_trajectories(cons, min(n_clusters, M), random_state=0)
    behaviour = trajectories.name_behaviours(cons)
    forgot = np.flatnonzero(behaviour == "learnt then forgotten")
    largest_drop = int(forgot[(cons[1:, forgot].max(axis=0) - cons[-1, forgot]).argmax()]) if forgot.size else None
    return Analysis(epochs=run.epochs, labels=labels, classes=run.classes, consistency=cons, majority=majority,
                    shown=trajectories.epochs_at_fractions(run.epochs),
                    class_mean=np.stack([cons[:, labels == k].mean(axis=1) for k in range(K)]),
                    learnt_at=trajectories.class_learnt_epochs(cons, labels, K), labels_used=labels_used,
                    clusters=clusters, behaviour=behaviour, largest_drop=largest_drop,
                    share={b: float((behaviour == b).mean()) for b in trajectories.BEHAVIOURS},
                    per_cluster={b: clusters.fraction(b) for b in trajectories.BEHAVIOURS})


def claims(run: Run, *, n_clusters: int = N_BEHAVIOURS) -> ClaimsTable:
    """The claims of the paper's Supp. C against ``run`` (any ensemble with recorded epoch 0)."""
    a = analyse(run, n_clusters=n_clusters)
    table = ClaimsTable()
    classes, epochs_, K, share, per_cluster = a.classes, a.epochs, run.n_classes, a.share, a.per_cluster
    spread_idx, n_never, first_used, labels_used = a.spread, a.n_never, a.first_used, a.labels_used
    when = ", ".join(f"{classes[c]}: {'never' if i is None else int(epochs_[i])}" for c, i in enumerate(a.learnt_at))
    table.check("Classes are learnt one after another", "2 classes first, others emerge later (Fig. 9)",
                f"epoch at which the class mean consistency reaches 0.5 — {when}; spread {spread_idx} recorded epochs "
                f"among the {len(a.reached)} classes that reach it",
                "spread >= 2 recorded epochs among the classes that reach 0.5, or some reach it and others never; "
                "partly if spread 1",
                spread_idx >= 2 or (0 < n_never < K), partly=spread_idx > 0)
    table.check("Early on the networks use fewer labels", "fewer labels at first (Fig. 9)",
                f"labels that are the majority label of >= 5 % of images: {first_used} at epoch "
                f"{int(epochs_[a.first_trained])}, {int(labels_used[-1])} at the last epoch",
                "fewer at the first trained epoch than at the last, and fewer than K",
                first_used < labels_used[-1] and first_used < K, partly=first_used < K)
    step = a.fraction(STEP_PATTERNS)
    table.check("Most images follow one of three step patterns", "most: jump to 1, dip then rise, or fall to 0 (Fig. 11)",
                f"{step:.2f} of images (clusters: {a.fraction(STEP_PATTERNS, clusters=True):.2f})",
                "fraction > 0.5", step > 0.5)
    at_once_never = share["learnt at once"] + share["never learnt"]
    table.check("Most images jump to 1 at once or stay at 0", "most (Fig. 11)",
                f"{at_once_never:.2f} of images (clusters: "
                f"{per_cluster['learnt at once'] + per_cluster['never learnt']:.2f})",
                "'learnt at once' + 'never learnt' > 0.5; partly if > 0.5 with 'dip then rise'",
                at_once_never > 0.5, partly=step > 0.5)
    forgotten = share["learnt then forgotten"]
    table.check("'Learnt then forgotten' is a minority", "a few images (green curve, Fig. 11)",
                f"{forgotten:.3f} of images (clusters: {per_cluster['learnt then forgotten']:.3f})",
                "fraction < 0.10; partly if < 0.5", forgotten < 0.10, partly=forgotten < 0.5)
    return table
