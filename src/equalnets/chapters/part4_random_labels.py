"""IV.2 What networks learn from random labels (Maennel et al. 2020): the first layer's filters align
with the data's covariance, and what that alignment transfers to a task with real labels.

The chapter asks the run store for (:func:`runs`):

* ``gaussian``: fully connected networks on the synthetic Gaussian set (``dataset='gaussian'``, the
  paper's App. E.1 covariance diag(0.1 … 3.0), raw draws: ``inputs='unit'``) with random labels, the
  first layer recorded at every recorded epoch (the analytic case);
* ``random`` and ``real``: small CNNs (one 3×3 convolution, the paper's two-layer CNN narrowed) on half A
  of an image set (the even rows of its training split), with random and with real labels, the first
  layer recorded (the paper's Fig. 2 and 4); ``random`` is also the pre-trained network of the transfer;
* ``scratch``, ``copy``, ``rescaled``, ``covariance``, ``first-layer``: the same CNN trained with real
  labels on half B (the odd rows), from a fresh initialisation or started from member k of ``random``
  by the engine's ``init_mode`` (the paper's Fig. 5 and its negative side).

Dropout is off everywhere (the paper removes it for random labels); every ensemble has seeds of its own
(``derived_seed``). :func:`alignment` and :func:`transfer` compute what the figures show;
:func:`claims` decides the verdicts from the runs and the data covariances alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import stats

from ..analysis.claims import ClaimsTable
from ..engine.checks import (ParameterError, check_choice, check_float, check_int, check_int_list,
                             check_record_epochs)
from ..engine.config import RunConfig, derived_seed
from ..engine.data import DATASETS, Dataset
from ..engine.store import Run, RunStore
from ..methods.alignment import (basis_misalignment, data_covariance, misalignment, random_bases,
                                 transfer_function, weight_covariance)
from .base import ChapterParameters

TITLE = "IV.2 What networks learn from random labels"

#: The fine-tuning runs: from scratch, then the engine's ways of starting from the random-label network.
MODES = ("scratch", "copy", "rescaled", "covariance", "first-layer")
#: The runs whose first layer is compared with their data: name → the data covariance they are read against.
ALIGNED = {"gaussian": "gaussian", "random": "images", "real": "images"}
#: Kernel of the CNN's first layer (the ``cnn`` builder's 3×3 convolutions): Σ_x is over patches of this size.
KERNEL = 3
#: The rule of the alignment claims: the data's misalignment must lie below every random basis and below
#: this share of their median to count as "near 0".
NEAR_ZERO = 0.5
#: Level of the one-sided test that one way of starting trains faster than another.
ALPHA = 0.05


@dataclass(frozen=True)
class Parameters(ChapterParameters):
    """The chapter's networks and their training; defaults: the ``quick`` profile."""

    seed: int = 0
    n_models: int = 3
    n_bases: int = 100
    gauss_hidden: tuple[int, ...] = (2048,)
    gauss_epochs: int = 40
    gauss_record_epochs: tuple[int, ...] | None = (0, 2, 5, 10, 15, 20, 25, 30, 40)
    gauss_lr: float = 0.1
    gauss_momentum: float = 0.9
    gauss_batch_size: int = 100
    image_dataset: str = "fashion-mnist"
    image_train_per_class: int | None = 100
    image_test_per_class: int | None = 10
    cnn_channels: int = 64
    cnn_dense: int = 64
    optimizer: str = "adam"
    lr: float = 0.001
    momentum: float = 0.0
    batch_size: int = 25
    pretrain_epochs: int = 12
    pretrain_record_epochs: tuple[int, ...] | None = (0, 3, 6, 9, 12)
    finetune_epochs: int = 4

    def check(self) -> None:
        check_int("seed", self.seed, 0)
        check_int("n_models", self.n_models, 2, why=" (the transfer compares the spread over seeds)")
        check_int("n_bases", self.n_bases, 1, why=" (random orthonormal bases: the reference)")
        check_int("gauss_epochs", self.gauss_epochs, 1)
        self.set("gauss_record_epochs", check_record_epochs("gauss_record_epochs", self.gauss_record_epochs,
                                                            self.gauss_epochs, epochs_name="gauss_epochs"))
        check_int("pretrain_epochs", self.pretrain_epochs, 1)
        self.set("pretrain_record_epochs", check_record_epochs("pretrain_record_epochs", self.pretrain_record_epochs,
                                                               self.pretrain_epochs, epochs_name="pretrain_epochs"))
        check_int("finetune_epochs", self.finetune_epochs, 1)
        check_choice("image_dataset", self.image_dataset, [d for d in DATASETS if d != "gaussian"])
        self.set("gauss_hidden", check_int_list("gauss_hidden", self.gauss_hidden, 1))
        for name in ("cnn_channels", "cnn_dense", "gauss_batch_size", "batch_size"):
            check_int(name, getattr(self, name), 1)
        for name in ("image_train_per_class", "image_test_per_class"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        for name in ("gauss_lr", "lr"):
            check_float(name, getattr(self, name), low=0, low_open=True)
        for name in ("gauss_momentum", "momentum"):
            check_float(name, getattr(self, name), low=0)
        runs(self, n_train=2)  # every RunConfig field checked here, before anything is trained
        fan_in = {"gauss_hidden": 25, "cnn_channels": KERNEL * KERNEL * (3 if self.image_dataset.startswith("cifar")
                                                                        else 1)}
        for name, d in fan_in.items():
            filters = (self.gauss_hidden[0] if name == "gauss_hidden" else self.cnn_channels) * self.n_models
            if filters < d:
                raise ParameterError(f"{name} × n_models must give at least {d} first-layer filters (the fan-in), "
                                     f"got {filters}: Σ_w of fewer filters is singular")


def halves(n_train: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Half A (pre-training: the even rows of the training split) and half B (fine-tuning: the odd rows).
    The split keeps every class in both halves (rows are in class-interleaved file order)."""
    check_int("n_train", n_train, 2, why=" (two halves)")
    return tuple(range(0, n_train, 2)), tuple(range(1, n_train, 2))


def image_base(params: Parameters) -> RunConfig:
    """The CNN of every image run, before its labels, rows, epochs and seed are chosen."""
    return RunConfig(dataset=params.image_dataset, train_per_class=params.image_train_per_class,
                     test_per_class=params.image_test_per_class, arch="cnn",
                     hidden=(params.cnn_channels, params.cnn_dense), dropout=False, optimizer=params.optimizer,
                     lr=params.lr, momentum=params.momentum, batch_size=params.batch_size, lr_decay_every=0,
                     epochs=params.pretrain_epochs, n_models=params.n_models, seed=0)


def runs(params: Parameters, n_train: int | None = None) -> dict[str, RunConfig]:
    """Every run of the chapter, in the order they must be opened (the fine-tuning runs start from
    ``random``); ``n_train`` is the number of rows of the image set's training split (None: read from
    the data set)."""
    if n_train is None:
        n_train = len(RunStore.dataset_for(image_base(params)).y_train)
    half_a, half_b = halves(n_train)
    gauss = RunConfig(dataset="gaussian", inputs="unit", labels="random", arch="mlp", hidden=params.gauss_hidden,
                      dropout=False, optimizer="sgd", lr=params.gauss_lr, momentum=params.gauss_momentum,
                      batch_size=params.gauss_batch_size, lr_decay_every=0, epochs=params.gauss_epochs,
                      record_epochs=params.gauss_record_epochs, n_models=params.n_models,
                      seed=derived_seed(params.seed, "gaussian"), record_first_layer=True)
    base = image_base(params)
    out = {"gaussian": gauss}
    for name, labels in (("random", "random"), ("real", "true")):
        out[name] = base.replace(labels=labels, train_subset=half_a, record_epochs=params.pretrain_record_epochs,
                                 record_first_layer=True, seed=derived_seed(params.seed, name))
    fine = base.replace(train_subset=half_b, epochs=params.finetune_epochs)
    for mode in MODES:
        start = {} if mode == "scratch" else {"init_from": out["random"].key, "init_mode": mode}
        out[mode] = fine.replace(seed=derived_seed(params.seed, f"finetune/{mode}"), **start)
    return out


def open_label_runs(params: Parameters) -> tuple[dict[str, Run], dict[str, Dataset]]:
    """Every run of :func:`runs` from the store (trained first where missing) and the two data sets
    (``'gaussian'``, ``'images'``)."""
    gauss_data = RunStore.dataset_for(runs(params, n_train=2)["gaussian"])
    images = RunStore.dataset_for(image_base(params))
    configs = runs(params, n_train=len(images.y_train))
    opened = {name: params.open(config, gauss_data if name == "gaussian" else images)[0]
              for name, config in configs.items()}
    return opened, {"gaussian": gauss_data, "images": images}


def data_covariances(datasets: Mapping[str, Dataset], n_train: int | None = None) -> dict[str, np.ndarray]:
    """Σ_x of each data set as its first layer sees it, over the rows the aligned runs train on: every
    Gaussian input (25 dimensions), and every 3×3 patch of the images of half A."""
    images = datasets["images"].x_train
    half_a, _ = halves(n_train if n_train is not None else len(images))
    return {"gaussian": data_covariance(datasets["gaussian"].x_train),
            "images": data_covariance(images[list(half_a)], patch=KERNEL)}


# --------------------------------------------------------------------------- analysis

@dataclass(frozen=True)
class Alignment:
    """The first layer of one run against its data, per recorded epoch.

    Σ_w pools the filters of every member (the covariance of the filters' distribution). ``data`` ``(E,)``:
    misalignment to Σ_x's eigenvectors; ``random`` ``(E, B)``: to each of B random orthonormal bases (the
    same bases at every epoch); ``sigma`` ``(D,)`` √eigenvalues of Σ_x (ascending); ``f`` ``(E, D)`` the transfer function of the pooled Σ_w.
    """

    epochs: np.ndarray
    data: np.ndarray
    random: np.ndarray
    sigma: np.ndarray
    f: np.ndarray

    def ratio(self, k: int = -1) -> float:
        """The data's misalignment over the random bases' median at recorded epoch index ``k``."""
        return float(self.data[k] / np.median(self.random[k]))


def _first_layers(run: Run) -> np.ndarray:
    if run.first_layer is None:
        raise ValueError(f"run {run.path.name} did not record its first layer (RunConfig.record_first_layer)")
    return np.asarray(run.first_layer, dtype=np.float64)


def pooled_covariance(run: Run, epoch: int | None = None) -> np.ndarray:
    """Σ_w of the first-layer filters of every member pooled: ``(E, D, D)`` over the recorded epochs, or
    ``(D, D)`` at recorded-epoch index ``epoch`` (e.g. 0: untrained, -1: the last)."""
    layers = _first_layers(run)
    n, e, f, d = layers.shape
    pooled = weight_covariance(layers.transpose(1, 0, 2, 3).reshape(e, n * f, d))
    return pooled if epoch is None else pooled[epoch]


def filter_images(run: Run, epoch: int = -1, *, member: int = 0, n: int = 12) -> np.ndarray:
    """``(n, C, k, k)``: the first ``n`` first-layer filters of ``member`` at recorded-epoch index ``epoch``
    (0: untrained, -1: the last) as images, k = :data:`KERNEL` and C = fan-in / k² (a run of the CNN)."""
    layers = _first_layers(run)
    d = layers.shape[-1]
    if d % (KERNEL * KERNEL):
        raise ValueError(f"run {run.path.name} has first-layer filters of fan-in {d}, not C × {KERNEL}×{KERNEL}")
    check_int("member", member, 0, layers.shape[0] - 1)
    check_int("n", n, 1)
    return layers[member, epoch, :n].reshape(-1, d // (KERNEL * KERNEL), KERNEL, KERNEL)


def alignment(run: Run, cov_x: np.ndarray, *, n_bases: int = 100, seed: int = 0) -> Alignment:
    """:class:`Alignment` of a run that recorded its first layer (``Run.first_layer`` ``(N, E, F, D)``)
    against the data covariance ``cov_x`` ``(D, D)``; ``seed`` draws the random bases."""
    pooled = pooled_covariance(run)                                                  # (E, D, D)
    bases = random_bases(pooled.shape[-1], n_bases, seed=seed)
    curves = [transfer_function(c, cov_x) for c in pooled]
    return Alignment(epochs=np.asarray(run.epochs), data=np.array([misalignment(c, cov_x) for c in pooled]),
                     random=np.stack([basis_misalignment(c, bases) for c in pooled]),
                     sigma=curves[0][0], f=np.stack([fk for _, fk in curves]))


@dataclass(frozen=True)
class Transfer:
    """Training accuracy of the fine-tuning runs on the rows they train on: ``accuracy`` mode → ``(N, E)``
    per member and recorded epoch (``epochs`` ``(E,)``, the same for every mode); ``speed`` mode → ``(N,)``
    the mean of it over the recorded epochs after 0 (the area under the learning curve)."""

    epochs: np.ndarray
    accuracy: dict[str, np.ndarray]
    speed: dict[str, np.ndarray]


def fit_accuracy(run: Run) -> np.ndarray:
    """``(N, E)``: accuracy of each member on the training rows it trains on (``train_subset``, or all)."""
    rows = list(run.config.train_subset) if run.config.train_subset is not None else slice(None)
    return (run.train.pred[:, :, rows] == run.train.labels[rows]).mean(axis=2)


def transfer(runs: Mapping[str, Run]) -> Transfer:
    """:class:`Transfer` of the fine-tuning runs among ``runs`` (the :data:`MODES` that are there)."""
    found = [m for m in MODES if m in runs]
    epochs = {tuple(runs[m].epochs) for m in found}
    if not found or len(epochs) != 1:
        raise ValueError(f"runs must hold fine-tuning runs ({', '.join(MODES)}) recorded at the same epochs")
    accuracy = {m: fit_accuracy(runs[m]) for m in found}
    return Transfer(epochs=np.asarray(runs[found[0]].epochs), accuracy=accuracy,
                    speed={m: a[:, 1:].mean(axis=1) for m, a in accuracy.items()})


def faster(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """How much ``a`` ``(N_a,)`` exceeds ``b`` ``(N_b,)`` (one number per member): the difference of the
    means and the one-sided exact Mann–Whitney p-value that ``a`` is larger (1.0 with an empty side)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(a) or not len(b):
        return float("nan"), 1.0
    p = stats.mannwhitneyu(a, b, alternative="greater", method="exact").pvalue
    return float(a.mean() - b.mean()), float(p)


# --------------------------------------------------------------------------- claims

def _alignment_claim(table: ClaimsTable, claim: str, paper: str, a: Alignment) -> None:
    data, random = float(a.data[-1]), a.random[-1]
    table.check(claim, paper,
                f"misalignment to the data's eigenvectors {data:.3f} at epoch {int(a.epochs[-1])} (ratio to the random "
                f"bases' median {a.ratio():.2f}); untrained: {a.data[0]:.3f}",
                f"reproduced: the data's misalignment is below every one of the {len(random)} random bases "
                f"(p < {1 / (len(random) + 1):.3f}) and <= {NEAR_ZERO:g} x their median at the last epoch; "
                "partly: below their median",
                data < random.min() and data <= NEAR_ZERO * np.median(random), partly=data < np.median(random),
                reference=f"{len(random)} random orthonormal bases, same Σ_w: median {np.median(random):.3f}, lowest "
                          f"{random.min():.3f} (untrained: median {np.median(a.random[0]):.3f})")


def _faster_claim(table: ClaimsTable, claim: str, paper: str, t: Transfer, a: str, b: str) -> None:
    diff, p = faster(t.speed[a], t.speed[b])
    table.check(claim, paper,
                f"{a}: {t.speed[a].mean():.3f} (N = {len(t.speed[a])}); difference {diff:+.3f}, one-sided p = {p:.3f}",
                f"mean training accuracy over fine-tuning epochs 1-{int(t.epochs[-1])} (rows trained on), per "
                f"member: reproduced if {a} > {b} by a one-sided exact Mann-Whitney test at p <= {ALPHA:g} "
                f"(with N = 3 each: every {a} member above every {b} member); partly if the mean is higher",
                p <= ALPHA, partly=diff > 0,
                reference=f"{b}: {t.speed[b].mean():.3f} (N = {len(t.speed[b])}, seeds of its own)")


def claims(runs: Mapping[str, Run], covariances: Mapping[str, np.ndarray], *, n_bases: int = 100,
           seed: int = 0) -> ClaimsTable:
    """The claims of Maennel et al. (2020) against the runs of :func:`runs` (made-up ones too: the
    aligned runs need ``first_layer``, the fine-tuning runs ``config.train_subset`` or none) and the data
    covariances (``'gaussian'`` ``(25, 25)``, ``'images'`` ``(9, 9)`` for 3×3 grey patches)."""
    table = ClaimsTable()
    found = {name: alignment(runs[name], covariances[cov], n_bases=n_bases, seed=seed)
             for name, cov in ALIGNED.items()}
    _alignment_claim(table, "Analytic case: Σ_w's eigenvectors are Σ_x's (Gaussian inputs, random labels)",
                     "aligned: misalignment near 0 (§2, App. E.1)", found["gaussian"])
    _alignment_claim(table, "Images, random labels: the first layer aligns with the patches' covariance",
                     "far below random bases (Fig. 2)", found["random"])
    _alignment_claim(table, "Images, real labels: the first layer aligns too",
                     "far below random bases (Fig. 2)", found["real"])
    a = found["random"]
    f_last, f_first = a.f[-1], a.f[0]
    peak = int(np.argmax(f_last))
    height = float(f_last[peak] - max(f_last[0], f_last[-1]))
    noise = float(f_first.max() - f_first.min())
    interior = 0 < peak < len(f_last) - 1
    table.check("Transfer function: f(σ) rises, then falls with σ (random labels)",
                "peak inside the range: ≈ 0.10 near σ ≈ 0.3 (Fig. 4, CIFAR10)",
                f"peak f = {f_last[peak]:.3f} at σ = {a.sigma[peak]:.2f} (direction {peak + 1} of {len(f_last)}), "
                f"{height:.3f} above the higher end",
                "reproduced: the peak of f at the last epoch is at an inner σ and rises above both ends by more "
                "than the spread of f over directions before training; partly: an inner peak only",
                interior and height > noise, partly=interior,
                reference=f"spread (max − min) of f over the directions before training: {noise:.3f}")
    t = transfer(runs)
    _faster_claim(table, "Pre-training on random labels speeds up training on real labels",
                  "pre-trained faster than from scratch (Fig. 1, 5)", t, "copy", "scratch")
    _faster_claim(table, "So does a first layer drawn from N(0, Σ_w) of the random-label network",
                  "covariance initialisation as fast as pre-trained (Fig. 5)", t, "covariance", "scratch")
    _faster_claim(table, "Negative side: the later layers' specialisation hurts; re-initialising them helps",
                  "negative transfer from the later layers (§4)", t, "first-layer", "copy")
    return table
