"""IV.1 Prediction depth (Baldock, Maennel & Neyshabur 2021): how many layers the base ensemble's
networks need for each example, how that relates to Part I's scores, what label noise does to it,
and the two views of difficulty (depth when an example is trained on, and when it is not).

The chapter reads the base ensemble of Part I (never retrained here) and trains two more kinds of
ensemble (:func:`runs`): one on a smaller training set with a share of its labels flipped, and two
on complementary random halves of the training split. Depths come from
:func:`equalnets.methods.depth.run_depths` (cached in the run store: :func:`depths_of`); the
analyses below take the runs and those arrays, and :func:`claims` decides every verdict from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

from ..analysis import scores
from ..analysis.claims import ClaimsTable
from ..engine.checks import ParameterError, check_bool, check_choice, check_float, check_int
from ..engine.config import OPTIMIZERS, RunConfig, derived_seed
from ..engine.data import Dataset
from ..engine.store import SPLITS, Run, RunStore
from ..methods.depth import METRICS, run_depths
from .base import EnsembleParameters

TITLE = "IV.1 prediction depth"
#: The Part I scores set against depth: name → (axis label, the sign of the relation the paper reports).
RELATIONS = {"consistency": ("consistency (last epoch)", -1), "learning speed": ("learning speed", -1),
             "consensus": ("consensus (last epoch)", -1), "p_label": ("p(label) (last epoch)", -1),
             "margin": ("margin (last epoch)", -1), "epoch learned": ("epoch learnt for good", +1)}
#: The groups of the two-dimensional view, in display order (their rule: :func:`two_view_groups`).
GROUPS = ("easy", "another class", "ambiguous", "deep when unseen", "deep when trained on")
#: Smallest |Spearman ρ| that counts as a relation (besides beating the permutation null).
MIN_RHO = 0.3


@dataclass(frozen=True)
class Parameters(EnsembleParameters):
    """The base ensemble's parameters (see :class:`~equalnets.chapters.base.EnsembleParameters`), the
    probes', and those of the label-noise and half-split ensembles."""

    k: int = 30                              # neighbours of every k-NN probe (the paper: 30)
    metric: str = "euclidean"                # distance of the probes: euclidean or cosine
    depth_members: int | None = 4            # members of each ensemble whose depths are computed (None: all)
    probe_layers: tuple[int, ...] | None = None  # probed layers, 0 = input ... L = softmax (None: every layer)
    noise_fraction: float = 0.2              # share of the label-noise ensemble's training labels flipped
    noise_train_per_class: int | None = 100  # its training images per class (None: the base's)
    noise_models: int = 3                    # networks of the label-noise ensemble
    noise_epochs: int = 40                   # their epochs
    half_models: int = 3                     # networks per half-split ensemble (two ensembles)
    half_epochs: int = 20                    # their epochs
    fit_optimizer: str = "adam"              # optimizer of the label-noise and half-split networks
    fit_lr: float = 0.001                    # their learning rate, constant
    fit_batch_size: int = 25                 # their mini-batch size
    fit_dropout: bool = False                # dropout in them (off: they fit their training rows sooner)
    n_perm: int = 200                        # permutations of the examples for every null
    n_shown: int = 6                         # images shown per group of the two-dimensional view

    def check(self) -> None:
        check_int("k", self.k, 1)
        check_choice("metric", self.metric, METRICS)
        if self.depth_members is not None:
            check_int("depth_members", self.depth_members, 2, why=" (the two views compare two groups of members)")
        if self.probe_layers is not None:
            if isinstance(self.probe_layers, (str, bytes)) or not isinstance(self.probe_layers, (list, tuple)) \
                    or not self.probe_layers:
                raise ParameterError(f"probe_layers must be a non-empty list of layer numbers (0 = the input) or "
                                     f"None (every layer), got {self.probe_layers!r}")
            self.set("probe_layers", tuple(sorted({check_int("every entry of probe_layers", l, 0)
                                                   for l in self.probe_layers})))
        check_float("noise_fraction", self.noise_fraction, low=0, high=1, low_open=True, high_open=True)
        if self.noise_train_per_class is not None:
            check_int("noise_train_per_class", self.noise_train_per_class, 1)
        check_int("noise_models", self.noise_models, 1)
        check_int("noise_epochs", self.noise_epochs, 1)
        check_int("half_models", self.half_models, 2, why=" (the two views compare two groups of members)")
        check_int("half_epochs", self.half_epochs, 1)
        check_choice("fit_optimizer", self.fit_optimizer, OPTIMIZERS)
        check_float("fit_lr", self.fit_lr, low=0, low_open=True)
        check_int("fit_batch_size", self.fit_batch_size, 1)
        check_bool("fit_dropout", self.fit_dropout)
        check_int("n_perm", self.n_perm, 20, why=" (the null's 99th percentile needs some)")
        check_int("n_shown", self.n_shown, 1)

    def fitting(self, **changes) -> RunConfig:
        """The base's network trained by the chapter's own protocol (``fit_*``: the networks must fit
        their training rows, flipped labels included, within the budget): constant learning rate,
        and ``changes``."""
        return self.base_config().replace(
            optimizer=self.fit_optimizer, lr=self.fit_lr, momentum=self.momentum if self.fit_optimizer == "sgd" else 0.0,
            lr_decay_every=0, batch_size=self.fit_batch_size, dropout=self.fit_dropout, **changes)

    def noise_config(self) -> RunConfig:
        """The label-noise ensemble (:meth:`fitting`) on ``noise_train_per_class`` images per class,
        ``noise_fraction`` of their labels moved to another class (a fixed draw of the run's seed),
        recorded at every second epoch: this chapter reads the last, the atlas's forgetting events and
        AUM of the flipped labels need the epochs between (a few seconds of recording per network)."""
        return self.fitting(
            train_per_class=self.noise_train_per_class if self.noise_train_per_class is not None else self.train_per_class,
            label_noise=self.noise_fraction, n_models=self.noise_models, epochs=self.noise_epochs,
            record_epochs=list(range(0, self.noise_epochs + 1, 2)), seed=derived_seed(self.seed, "label-noise"))

    def half_configs(self, n_train: int, train_labels: np.ndarray) -> dict[str, RunConfig]:
        """The two half-split ensembles (:meth:`fitting`): ``'half A'`` trains on a random half of each
        class of the ``n_train`` train rows (seeded by the chapter's seed), ``'half B'`` on the other
        half; each ensemble has seeds of its own. Recorded at the first and last epoch only (the
        chapter reads the last: the held-out networks' predictions)."""
        if len(train_labels) != n_train:
            raise ValueError(f"train_labels must have n_train = {n_train} entries, got {len(train_labels)}")
        halves = split_halves(train_labels, derived_seed(self.seed, "halves"))
        return {name: self.fitting(train_subset=[int(i) for i in rows], n_models=self.half_models,
                                   epochs=self.half_epochs, record_epochs=[0, self.half_epochs],
                                   seed=derived_seed(self.seed, name))
                for name, rows in zip(("half A", "half B"), halves)}


def split_halves(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two complementary halves of the rows ``0..M-1``, each with half of every class (rounded
    down for the first), drawn with ``seed``: ``(rows_a, rows_b)``, each sorted."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    first = [rng.permutation(np.flatnonzero(labels == c))[: (labels == c).sum() // 2] for c in np.unique(labels)]
    a = np.sort(np.concatenate(first))
    return a, np.setdiff1d(np.arange(len(labels)), a)


def runs(params: Parameters, dataset: Dataset | None = None) -> dict[str, RunConfig]:
    """The runs this chapter asks the store for: the base ensemble (Part I's, read only), the
    label-noise ensemble and the two half-split ensembles (their halves need the base's training
    labels: from ``dataset``, loaded here when not given)."""
    base = params.base_config()
    dataset = dataset if dataset is not None else RunStore.dataset_for(base)
    return {"base": base, "label noise": params.noise_config(),
            **params.half_configs(len(dataset.y_train), dataset.y_train.cpu().numpy())}


def depth_members(params: Parameters, run: Run) -> list[int]:
    """The members of ``run`` whose depths the chapter computes: the first ``depth_members`` (all
    when None or more than the run has)."""
    n = run.n_models if params.depth_members is None else min(params.depth_members, run.n_models)
    return list(range(n))


def depths_of(params: Parameters, run: Run, dataset: Dataset) -> dict[str, np.ndarray]:
    """The probes and depths of ``run`` with this chapter's probe parameters (``k``, ``metric``,
    ``probe_layers``, ``depth_members``), from the store or computed once: see
    :func:`equalnets.methods.depth.run_depths` for the arrays."""
    return run_depths(run, dataset, k=params.k, metric=params.metric, members=depth_members(params, run),
                      layers=params.probe_layers, store=None, device=params.device)


# --------------------------------------------------------------------------- statistics with their nulls

@dataclass(frozen=True)
class Relation:
    """Spearman's ρ of effective depth and a score over ``n`` examples, and the 99th percentile of
    |ρ| when the examples of one of them are permuted (``null99``)."""

    rho: float
    null99: float
    n: int

    def holds(self, sign: int) -> bool:
        """ρ has ``sign``, |ρ| ≥ :data:`MIN_RHO` and |ρ| beats the permutation null."""
        return bool(np.isfinite(self.rho) and np.sign(self.rho) == sign and abs(self.rho) >= MIN_RHO
                    and abs(self.rho) > self.null99)

    def describe(self) -> str:
        return f"ρ {self.rho:+.2f} (null 99% |ρ| {self.null99:.2f}, n={self.n})"


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ, ``nan`` where either is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def relation(depth: np.ndarray, score: np.ndarray, *, n_perm: int = 200, seed: int = 0) -> Relation:
    """Spearman's ρ of ``depth`` and ``score`` (both ``(M,)``) with its permutation null."""
    rng = np.random.default_rng(seed)
    rho = spearman(depth, score)
    rank_d, rank_s = stats.rankdata(depth), stats.rankdata(score)  # ρ of ranks = Pearson's r of ranks
    null = [abs(np.corrcoef(rank_d, rank_s[rng.permutation(len(score))])[0, 1]) for _ in range(n_perm)] \
        if np.isfinite(rho) else [float("nan")]
    return Relation(rho, float(np.quantile(null, 0.99)), len(depth))


# --------------------------------------------------------------------------- the base ensemble

@dataclass(frozen=True)
class BaseAnalysis:
    """Depth on the base ensemble, per split (``'train'``, ``'test'``).

    ``depth`` ``(n, M)`` per depth member; ``correct`` ``(n, M)`` whether each depth member's
    prediction is right; ``levels`` the depths 0 … L + 1; ``accuracy_by_depth`` / ``count_by_depth``
    ``(L+2,)`` over member-example pairs; ``probe_accuracy`` ``(n, P)`` each probe's accuracy;
    ``layers`` the probed layers. The relations set two disjoint groups of members against each other
    (:func:`relation_members`): ``effective`` ``(M,)`` the mean depth over ``depth_members`` (run
    member numbers), ``scores`` name → ``(M,)`` the :data:`RELATIONS` from ``score_members``;
    ``relations`` ``(split, name)`` → :class:`Relation`.
    """

    n_layers: int
    layers: np.ndarray
    depth: dict[str, np.ndarray]
    effective: dict[str, np.ndarray]
    correct: dict[str, np.ndarray]
    levels: np.ndarray
    accuracy_by_depth: dict[str, np.ndarray]
    count_by_depth: dict[str, np.ndarray]
    scores: dict[str, dict[str, np.ndarray]]
    relations: dict[tuple[str, str], Relation]
    probe_accuracy: dict[str, np.ndarray]
    depth_members: tuple[int, ...] = ()
    score_members: tuple[int, ...] = ()


def run_scores(run: Run, split: str, members: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """The :data:`RELATIONS` scores of every example of ``split`` from ``members`` (default: every
    member): consistency and consensus at the last recorded epoch, learning speed (the book's one
    definition, :func:`scores.speed`: the training epochs ≥ 1), p(label) and margin at the last epoch
    (mean over members), the epoch learnt for good (recorded epochs ≥ 1)."""
    rec = run.split(split)
    rows = slice(None) if members is None else list(members)
    pred = rec.pred[rows]
    return {"consistency": scores.consistency(pred[:, -1], rec.labels),
            "learning speed": scores.speed(pred, rec.labels, run.epochs),
            "consensus": scores.consensus(pred[:, -1], run.n_classes),
            "p_label": rec.p_label[rows, -1].astype(float).mean(0), "margin": rec.margin[rows, -1].astype(float).mean(0),
            "epoch learned": scores.epoch_learned(pred[:, 1:] == rec.labels, run.epochs[1:])}


def relation_members(n_models: int, probed: Sequence[int]) -> tuple[list[int], list[int]]:
    """Two disjoint groups of a run's members for the relations of depth and the Part I scores: the
    members whose depth is averaged and those whose records give the scores. The probed members and
    every other member when at least two are left; otherwise the first half of the probed members and
    the rest of the run. Disjoint, so that a relation says that *other* networks find the deep
    examples hard: from the same networks, a network's depth and its own errors would make even
    independent networks (each right or wrong on its own) show the relation."""
    probed = [int(m) for m in probed]
    others = [m for m in range(n_models) if m not in probed]
    if len(others) >= 2:
        return probed, others
    if len(probed) < 2:
        raise ValueError(f"probed must leave two groups of members of the run's {n_models}, got {probed}")
    half = probed[: len(probed) // 2]
    return half, [m for m in range(n_models) if m not in half]


def analyse_base(run: Run, depths: Mapping[str, np.ndarray], *, n_perm: int = 200, seed: int = 0) -> BaseAnalysis:
    """Every number of the base ensemble's sections from the run and its depths (:func:`depths_of`)."""
    L = int(depths["n_layers"])
    levels = np.arange(L + 2)
    probed = [int(m) for m in np.asarray(depths["members"])]
    deep_side, score_side = relation_members(run.n_models, probed)
    rows = [probed.index(m) for m in deep_side]                     # rows of the depth arrays
    out: dict[str, dict] = {name: {} for name in ("depth", "effective", "correct", "acc", "count", "scores", "probe")}
    relations = {}
    for s in SPLITS:
        labels = run.split(s).labels
        d = np.asarray(depths[f"depth_{s}"], dtype=int)
        correct = np.asarray(depths[f"final_{s}"]) == labels
        count = np.array([(d == v).sum() for v in levels])
        acc = np.array([correct[d == v].mean() if (d == v).any() else np.nan for v in levels])
        out["depth"][s], out["effective"][s], out["correct"][s] = d, d[rows].mean(0), correct
        out["acc"][s], out["count"][s] = acc, count
        out["scores"][s] = run_scores(run, s, score_side)
        out["probe"][s] = (np.asarray(depths[f"probe_{s}"]) == labels).mean(axis=2)
        for i, (name, value) in enumerate(out["scores"][s].items()):
            relations[(s, name)] = relation(out["effective"][s], value, n_perm=n_perm, seed=seed + i)
    return BaseAnalysis(n_layers=L, layers=np.asarray(depths["layers"]), depth=out["depth"], effective=out["effective"],
                        correct=out["correct"], levels=levels, accuracy_by_depth=out["acc"], count_by_depth=out["count"],
                        scores=out["scores"], relations=relations, probe_accuracy=out["probe"],
                        depth_members=tuple(deep_side), score_members=tuple(score_side))


def shallow_deep_gap(depth: np.ndarray, correct: np.ndarray, n_layers: int, *, n_perm: int = 200,
                     seed: int = 0) -> tuple[float, float]:
    """Accuracy of the member-example pairs with depth ≤ L/2 minus that of the deeper ones, and the
    99th percentile of the same gap when each member's depths are permuted among the examples
    (``nan`` where one side is empty)."""
    depth, correct = np.asarray(depth), np.asarray(correct, dtype=float)
    shallow = depth <= n_layers / 2

    def gap(sh: np.ndarray) -> float:
        return float(correct[sh].mean() - correct[~sh].mean()) if sh.any() and (~sh).any() else float("nan")

    rng = np.random.default_rng(seed)
    null = [gap(np.stack([row[rng.permutation(len(row))] for row in shallow])) for _ in range(n_perm)]
    return gap(shallow), float(np.nanquantile(null, 0.99)) if np.isfinite(null).any() else float("nan")


# --------------------------------------------------------------------------- label noise

@dataclass(frozen=True)
class NoiseAnalysis:
    """The label-noise ensemble's training split. ``flipped`` ``(M,)`` the rows whose label was moved;
    ``effective`` ``(M,)`` mean training-split depth over the depth members; ``memorised`` the share
    of (member, flipped example) pairs predicted with the flipped label; ``layers`` the probed layers;
    ``shares`` name → ``(P,)`` per probed layer, over members: ``'flipped: original'`` /
    ``'flipped: given'`` the share of flipped examples whose probe gives the original / the flipped
    label, ``'clean: label'`` the share of clean examples whose probe gives their label."""

    flipped: np.ndarray
    effective: np.ndarray
    memorised: float
    n_layers: int
    layers: np.ndarray
    shares: dict[str, np.ndarray]
    depth_gap: float
    depth_null99: float


def flipped_labels(run: Run, original: np.ndarray) -> np.ndarray:
    """Which training labels a label-noise run trained on differ from the ``original`` ``(M,)`` ones:
    ``(M,)`` bool; a ValueError where the shapes differ or no label (or every label) is flipped."""
    given, original = run.train.labels, np.asarray(original)
    if original.shape != given.shape:
        raise ValueError(f"original must have one label per train row ({given.shape[0]}), got {original.shape}")
    flipped = given != original
    if not flipped.any() or flipped.all():
        raise ValueError("the run has no flipped labels (or only flipped ones): it is not a label-noise run of "
                         "these original labels")
    return flipped


def analyse_noise(run: Run, depths: Mapping[str, np.ndarray], original: np.ndarray, *, n_perm: int = 200,
                  seed: int = 0) -> NoiseAnalysis:
    """The label-noise sections from the run (its ``train.labels`` are the labels it trained on),
    its depths and the ``original`` ``(M,)`` training labels."""
    flipped, given, original = flipped_labels(run, original), run.train.labels, np.asarray(original)
    effective = np.asarray(depths["depth_train"], dtype=float).mean(0)
    probes = np.asarray(depths["probe_train"])                                    # (n, P, M)
    shares = {"flipped: original": (probes[:, :, flipped] == original[flipped]).mean(axis=(0, 2)),
              "flipped: given": (probes[:, :, flipped] == given[flipped]).mean(axis=(0, 2)),
              "clean: label": (probes[:, :, ~flipped] == given[~flipped]).mean(axis=(0, 2))}
    memorised = float((np.asarray(depths["final_train"])[:, flipped] == given[flipped]).mean())

    def gap(mask: np.ndarray) -> float:
        return float(effective[mask].mean() - effective[~mask].mean())

    rng = np.random.default_rng(seed)
    null = [gap(flipped[rng.permutation(len(flipped))]) for _ in range(n_perm)]
    return NoiseAnalysis(flipped=flipped, effective=effective, memorised=memorised, n_layers=int(depths["n_layers"]),
                         layers=np.asarray(depths["layers"]), shares=shares, depth_gap=gap(flipped),
                         depth_null99=float(np.quantile(null, 0.99)))


# --------------------------------------------------------------------------- the two views

@dataclass(frozen=True)
class TwoViews:
    """Every train row in both views, from the two half-split ensembles.

    ``train_depth`` ``(M,)``: mean depth over the depth members of the ensemble that trained on the
    row; ``val_depth`` ``(M,)``: over those of the other ensemble (which did not); ``held_out_accuracy``
    and ``held_out_consensus`` ``(M,)``: of every member of the other ensemble at its last epoch;
    ``held_out_majority`` ``(M,)`` their most frequent label; ``reliability``: Spearman ρ of the
    validation depth measured by two disjoint groups of members; ``cross``: ρ of training and
    validation depth measured by groups of the same size; ``groups`` ``(M,)`` index into
    :data:`GROUPS`; ``threshold`` the depth above which a view counts as deep (L/2).
    """

    train_depth: np.ndarray
    val_depth: np.ndarray
    held_out_accuracy: np.ndarray
    held_out_consensus: np.ndarray
    held_out_majority: np.ndarray
    reliability: float
    cross: float
    groups: np.ndarray
    threshold: float
    n_layers: int

    def group_rows(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.groups == GROUPS.index(name))

    def shown(self, name: str, n: int) -> np.ndarray:
        """The rule's ``n`` images of group ``name``: the most extreme of the group along its own axis
        (easy: least total depth; another class: lowest held-out accuracy, then deepest in training;
        ambiguous: most total depth; deep when unseen / when trained on: largest gap between the views)."""
        rows = self.group_rows(name)
        key = {"easy": self.train_depth + self.val_depth,
               "another class": self.held_out_accuracy - 1e-3 * self.train_depth,
               "ambiguous": -(self.train_depth + self.val_depth),
               "deep when unseen": self.train_depth - self.val_depth,
               "deep when trained on": self.val_depth - self.train_depth}[name]
        return rows[np.lexsort((rows, key[rows]))][:n]


def two_view_groups(train_depth: np.ndarray, val_depth: np.ndarray, held_out_accuracy: np.ndarray,
                    threshold: float) -> np.ndarray:
    """The book's rule for the groups of the two-dimensional view (the paper's own three groups could
    not be read here): ``another class`` when the held-out networks mostly get the row wrong
    (accuracy < 0.5) yet settle early (validation depth ≤ ``threshold``); ``ambiguous`` when both
    views are deep; ``deep when unseen`` / ``deep when trained on`` when only one is; ``easy`` the
    rest (both shallow, held-out right). Returns ``(M,)`` indices into :data:`GROUPS`."""
    deep_t, deep_v = np.asarray(train_depth) > threshold, np.asarray(val_depth) > threshold
    wrong = np.asarray(held_out_accuracy) < 0.5
    g = np.full(len(deep_t), GROUPS.index("easy"))
    g[deep_t & ~deep_v] = GROUPS.index("deep when trained on")
    g[~deep_t & deep_v] = GROUPS.index("deep when unseen")
    g[deep_t & deep_v] = GROUPS.index("ambiguous")
    g[wrong & ~deep_v] = GROUPS.index("another class")
    return g


def analyse_two_views(halves: Mapping[str, Run], depths: Mapping[str, Mapping[str, np.ndarray]]) -> TwoViews:
    """The two views from the two half-split ensembles (``halves`` and ``depths`` keyed alike; their
    training rows must be complementary)."""
    names = list(halves)
    if len(names) != 2:
        raise ValueError(f"halves must hold two runs (on complementary halves), got {names}")
    trained = {n: np.asarray(depths[n]["trained"]) for n in names}
    if not (trained[names[0]] ^ trained[names[1]]).all():
        raise ValueError("the two half-split runs must train on complementary halves of the train rows")
    a, b = names
    labels = halves[a].train.labels
    own = trained[a]                                            # rows trained on by a (held out by b)
    mean = {n: np.asarray(depths[n]["depth_train"], float).mean(0) for n in names}
    train_depth = np.where(own, mean[a], mean[b])
    val_depth = np.where(own, mean[b], mean[a])
    last = {n: halves[n].train.pred[:, -1] for n in names}     # (N, M) every member at its last epoch
    acc = np.where(own, (last[b] == labels).mean(0), (last[a] == labels).mean(0))
    n_classes = halves[a].n_classes
    cons = np.where(own, scores.consensus(last[b], n_classes), scores.consensus(last[a], n_classes))
    counts = {n: np.stack([(last[n] == c).sum(0) for c in range(n_classes)]) for n in names}
    majority = np.where(own, counts[b].argmax(0), counts[a].argmax(0))
    # Reliability and cross-view agreement with groups of equal size: g members each.
    g = min(np.asarray(depths[n]["depth_train"]).shape[0] for n in names) // 2
    part = {n: (np.asarray(depths[n]["depth_train"], float)[:g].mean(0),
                np.asarray(depths[n]["depth_train"], float)[g:2 * g].mean(0)) for n in names}
    val_1 = np.where(own, part[b][0], part[a][0])
    val_2 = np.where(own, part[b][1], part[a][1])
    train_1 = np.where(own, part[a][0], part[b][0])
    L = int(depths[a]["n_layers"])
    threshold = L / 2
    return TwoViews(train_depth=train_depth, val_depth=val_depth, held_out_accuracy=acc, held_out_consensus=cons,
                    held_out_majority=majority, reliability=spearman(val_1, val_2), cross=spearman(train_1, val_1),
                    groups=two_view_groups(train_depth, val_depth, acc, threshold), threshold=threshold, n_layers=L)


# --------------------------------------------------------------------------- claims

def claims(base: Run, base_depths: Mapping[str, np.ndarray], noisy: Run, noisy_depths: Mapping[str, np.ndarray],
           original_labels: np.ndarray, halves: Mapping[str, Run], half_depths: Mapping[str, Mapping[str, np.ndarray]],
           *, n_perm: int = 200, seed: int = 0) -> ClaimsTable:
    """Every claim of the chapter against the runs and their depths (:func:`depths_of`): the base
    ensemble, the label-noise ensemble with the ``original_labels`` of its training rows, and the two
    half-split ensembles."""
    table = ClaimsTable()
    a = analyse_base(base, base_depths, n_perm=n_perm, seed=seed)
    L = a.n_layers
    gap, null = shallow_deep_gap(a.depth["test"], a.correct["test"], L, n_perm=n_perm, seed=seed)
    table.check("Accuracy falls with depth", "accuracy decreases as prediction depth grows",
                f"test accuracy at depth ≤ {L / 2:g} minus deeper: {gap:+.2f}",
                "reproduced: gap ≥ 0.2 and above the 99th percentile of the gap with depths permuted among "
                "the examples; partly: above the null only", bool(gap >= 0.2 and gap > null),
                partly=bool(gap > null), reference=f"permuted depths, 99th percentile: {null:+.2f}")
    groups = f"depth from {len(a.depth_members)} networks, score from {len(a.score_members)} others"
    for name, (label, sign) in RELATIONS.items():
        rel = {s: a.relations[(s, name)] for s in SPLITS}
        table.check(f"Depth against {label}", f"{'falls' if sign < 0 else 'rises'} with depth",
                    "; ".join(f"{s} ρ {r.rho:+.2f} (n={r.n})" for s, r in rel.items()) + f" ({groups})",
                    f"reproduced: Spearman ρ(effective depth, score) {'<' if sign < 0 else '>'} 0 with |ρ| ≥ "
                    f"{MIN_RHO} and |ρ| above the 99th percentile of a permutation null, on both splits, the depth and "
                    "the score from disjoint groups of networks; partly: on one",
                    all(r.holds(sign) for r in rel.values()), partly=any(r.holds(sign) for r in rel.values()),
                    reference="permuted images, 99th percentile of |ρ|: "
                              + "; ".join(f"{s} {r.null99:.2f}" for s, r in rel.items()))
    noise = analyse_noise(noisy, noisy_depths, original_labels, n_perm=n_perm, seed=seed)
    flipped_depth, clean_depth = noise.effective[noise.flipped].mean(), noise.effective[~noise.flipped].mean()
    table.check("Flipped labels are deep in the training split", "mislabelled examples have high depth",
                f"mean depth flipped {flipped_depth:.1f} (gap {noise.depth_gap:+.1f}); {noise.memorised:.0%} of "
                "flipped labels memorised",
                "reproduced: gap ≥ 2 layers and above the 99th percentile of the gap with the flipped rows permuted; "
                "partly: above the null only", bool(noise.depth_gap >= 2 and noise.depth_gap > noise.depth_null99),
                partly=bool(noise.depth_gap > noise.depth_null99),
                reference=f"clean rows {clean_depth:.1f}; permuted flips, 99th percentile of the gap: "
                          f"{noise.depth_null99:+.1f}")
    early = noise.layers <= L / 2
    orig, given = noise.shares["flipped: original"], noise.shares["flipped: given"]
    chance = 1 / base.n_classes
    table.check("Early layers generalise: their probes give flipped examples their original class",
                "early layers generalise", f"probes at layers ≤ {L / 2:g} give the original class to "
                f"{orig[early].mean():.2f} of flipped images",
                "reproduced: at every probed layer ≤ L/2 the original class is given to flipped examples more often "
                "than the flipped label, by ≥ 0.2, and above chance; partly: on average over those layers",
                bool(early.any() and ((orig[early] - given[early] >= 0.2) & (orig[early] > chance)).all()),
                partly=bool(early.any() and orig[early].mean() > given[early].mean()),
                reference=f"the flipped label: {given[early].mean():.2f}; chance {chance:.2f}")
    table.check("Later layers memorise: the last probes give flipped examples their flipped label",
                "later layers memorise", f"the softmax probe gives the flipped label to {given[-1]:.2f} of flipped images",
                "reproduced: at the softmax probe the flipped label is given more often than the original class "
                "and to ≥ half of the flipped examples; partly: more often only",
                bool(given[-1] > orig[-1] and given[-1] >= 0.5), partly=bool(given[-1] > orig[-1]),
                reference=f"the original class: {orig[-1]:.2f}")
    views = analyse_two_views(halves, half_depths)
    table.check("The two views differ: depth when trained on is not depth when unseen",
                "training- and validation-split depth are two views",
                f"ρ(training, validation depth) {views.cross:.2f}",
                "reproduced: the cross-view ρ is below the within-view reliability by ≥ 0.1; partly: by ≥ 0.05",
                bool(views.cross <= views.reliability - 0.1), partly=bool(views.cross <= views.reliability - 0.05),
                reference=f"the validation view's own reliability (ρ of two groups of networks): {views.reliability:.2f}")
    other, amb = views.group_rows("another class"), views.group_rows("ambiguous")
    enough = min(len(other), len(amb)) >= 5
    c_other = views.held_out_consensus[other].mean() if len(other) else float("nan")
    c_amb = views.held_out_consensus[amb].mean() if len(amb) else float("nan")
    table.check("The 2-D view separates kinds of difficulty", "three interpretable groups (the book's reading)",
                f"held-out consensus on 'another class': {c_other:.2f} ({len(other)} images)",
                "reproduced: both groups hold ≥ 5 images and the held-out networks agree more on the 'another class' "
                "images (consensus ≥ 0.1 higher) than on the 'ambiguous' ones; partly: ≥ 0.05 higher",
                bool(enough and c_other >= c_amb + 0.1), partly=bool(enough and c_other >= c_amb + 0.05),
                reference=f"on 'ambiguous': {c_amb:.2f} ({len(amb)} images)")
    return table


def gallery(views: TwoViews, images: np.ndarray, labels: np.ndarray, classes: Sequence[str], n: int
            ) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """The images of every non-empty group chosen by :meth:`TwoViews.shown` (``images`` ``(M, C, H, W)``
    the train split), and their captions: the label, the held-out networks' majority label and
    accuracy, and the two depths."""
    shown = {name: views.shown(name, n) for name in GROUPS}
    shown = {name: rows for name, rows in shown.items() if len(rows)}
    captions = {name: [f"{classes[labels[i]]}\n→ {classes[views.held_out_majority[i]]} "
                       f"({views.held_out_accuracy[i]:.0%})\nd {views.train_depth[i]:.1f} / {views.val_depth[i]:.1f}"
                       for i in rows] for name, rows in shown.items()}
    return {name: np.asarray(images)[rows] for name, rows in shown.items()}, captions
