"""IV.3 Bayesian neural networks at finite temperature (Baldock & Marzari 2019): the paper's networks
sampled by replica-exchange HMC at a ladder of temperatures on small stratified training subsets, their
train, validation and test loss per temperature against gradient-trained minima, and the claims.

:func:`load_splits` draws the subsets (D_n nested, the held-out images split into validation and
test); :func:`run_samplings` gives one :class:`Sampling` per (network, subset) of ``samplings``, each
computed once by :mod:`equalnets.methods.sampler` and kept in the run store
(``RunStore.artifact``), so a warm book samples nothing; :func:`claims` decides the verdicts from
the :class:`Sampling` objects alone, so a test can feed it made-up ones.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from ..analysis.claims import ClaimsTable
from ..engine.checks import ParameterError, check_choice, check_float, check_int
from ..engine.config import RunConfig, derived_seed
from ..engine.data import load_dataset
from ..methods import sampler
from .base import ChapterParameters

TITLE = "IV.3 finite temperature"
SAMPLED_DATASETS = ("digits", "mnist")
SAMPLE_SPLITS = ("train", "validation", "test")
#: Part of every cached array's key: bumped whenever what the arrays mean changes.
ARTIFACT_VERSION = "finite-temperature-v1"
#: MNIST's 28×28 digits are resized to the paper's 16×16 (256 inputs); the 8×8 digits stay 8×8.
MNIST_SIZE = 16
#: Batches of consecutive samples whose means give a temperature's standard error (batch means: the
#: samples of one chain are correlated).
SE_BATCHES = 5


@dataclass(frozen=True)
class Parameters(ChapterParameters):
    """The chapter's data, networks, temperature ladder, sampler and optimiser (defaults: ``quick``)."""

    dataset: str = "digits"                 # digits (8×8, ships with scikit-learn) or mnist (resized to 16×16)
    samplings: tuple[tuple[str, int], ...] = (("M(3)", 50), ("M(3)", 500), ("M(3*)", 50), ("M(1)", 50))
    validation_share: float = 0.5           # share of the held-out images used for validation, the rest is test
    t_min: float = 0.01                     # coldest temperature of the geometric ladder (the paper: 0.01)
    t_max: float = 100.0                    # hottest temperature (the paper: 100)
    n_temperatures: int = 9                 # R, temperatures (replicas) on the ladder (the paper: 112)
    iterations: int = 60                    # iterations of the sampler, each: HMC trajectories, then swaps
    burn_in: int = 30                       # first iterations not kept (the step sizes are tuned during them)
    trajectories: int = 10                  # HMC trajectories per iteration (the paper: 10)
    leapfrog: int = 10                      # leapfrog steps per trajectory (the paper: 100)
    minima_networks: int = 4                # K, gradient-trained networks per (network, subset)
    minima_steps: int = 2000                # full-batch Adam steps of each
    minima_lr: float = 0.01                 # their learning rate
    seed: int = 0                           # seed of the subsets, the minima and the sampler
    num_threads: int = 1                    # CPU threads for torch (0: torch's default); see the quick profile

    def check(self) -> None:
        check_choice("dataset", self.dataset, SAMPLED_DATASETS)
        self.set("samplings", _check_samplings(self.samplings))
        self.set("validation_share", check_float("validation_share", self.validation_share, low=0, high=1,
                                                 low_open=True, high_open=True))
        self.set("t_min", check_float("t_min", self.t_min, low=0, low_open=True))
        self.set("t_max", check_float("t_max", self.t_max, low=self.t_min, low_open=True))
        check_int("n_temperatures", self.n_temperatures, 2, why=" (replica exchange needs two temperatures)")
        check_int("iterations", self.iterations, 2)
        check_int("burn_in", self.burn_in, 1, self.iterations - 1, why=" (at least one iteration is kept)")
        for name in ("trajectories", "leapfrog", "minima_networks", "minima_steps"):
            check_int(name, getattr(self, name), 1)
        self.set("minima_lr", check_float("minima_lr", self.minima_lr, low=0, low_open=True))
        check_int("seed", self.seed, 0)
        check_int("num_threads", self.num_threads, 0)

    def temperatures(self) -> np.ndarray:
        """``(R,)`` the geometric ladder from ``t_min`` to ``t_max``."""
        return sampler.geometric_ladder(self.t_min, self.t_max, self.n_temperatures)


def runs(params: Parameters) -> dict[str, RunConfig]:
    """The run store's ensembles this chapter asks for: none. Its networks are sampled, not trained
    by the engine: the samples and the gradient-trained minima are the store's artifacts (:func:`run_samplings`)."""
    return {}


def _check_samplings(value: Any) -> tuple[tuple[str, int], ...]:
    why = (f"a non-empty list of [network, training-set size] pairs, the network one of "
           f"{', '.join(sampler.PAPER_NETWORKS)} and the size a multiple of 10 (stratified), e.g. [['M(3)', 50]]")
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ParameterError(f"samplings must be {why}, got {value!r}")
    out = []
    for pair in value:
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__iter__") or len(tuple(pair)) != 2:
            raise ParameterError(f"samplings must be {why}, got {value!r}")
        name, size = tuple(pair)
        check_choice("the network of every entry of samplings", name, sampler.PAPER_NETWORKS)
        check_int("the size of every entry of samplings", size, 10)
        if size % 10:
            raise ParameterError(f"samplings must be {why}, got size {size}")
        out.append((name, int(size)))
    if not out or len(set(out)) != len(out):
        raise ParameterError(f"samplings must be {why} (each pair once), got {value!r}")
    return tuple(out)


# --------------------------------------------------------------------------- data

@dataclass(frozen=True)
class Splits:
    """Images as rows of pixels in [0, 1] and their labels, on one device: ``train[n]`` the stratified
    training subset D_n (nested: every smaller subset lies in every larger one), ``validation`` and
    ``test`` the held-out images (every image not in the largest subset)."""

    name: str
    train: dict[int, tuple[torch.Tensor, torch.Tensor]]
    validation: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    classes: int

    @property
    def inputs(self) -> int:
        return int(self.validation[0].shape[1])

    def split(self, name: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``'train'`` (D_size), ``'validation'`` or ``'test'``."""
        return self.train[size] if name == "train" else getattr(self, name)

    def describe(self) -> str:
        sizes = ", ".join(f"D{n}" for n in sorted(self.train))
        return (f"{self.name}: {self.inputs} inputs, {self.classes} classes; training subsets {sizes} (stratified, "
                f"nested); {len(self.validation[1])} validation and {len(self.test[1])} test images")


def stratified_split(labels: np.ndarray, sizes: Sequence[int], validation_share: float,
                     seed: int) -> tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]:
    """Indices of ``labels`` ``(M,)``: the nested stratified training subsets (size → (size,), size/K of
    every one of the K classes, each class's images in one random order drawn with ``seed``), and the
    validation and test indices: every class's images beyond the largest subset, the first
    ``validation_share`` of them to validation."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    largest = max(sizes) // len(classes)
    if any(len(order) < largest + 2 for order in orders):
        raise ParameterError(f"samplings asks for a training subset of {max(sizes)} images ({largest} per class) but "
                             f"the smallest class has {min(len(o) for o in orders)} images: choose smaller subsets")
    train = {n: np.sort(np.concatenate([order[:n // len(classes)] for order in orders])) for n in sizes}
    rest = [order[largest:] for order in orders]
    cut = [max(1, min(len(r) - 1, round(validation_share * len(r)))) for r in rest]
    validation = np.sort(np.concatenate([r[:k] for r, k in zip(rest, cut)]))
    test = np.sort(np.concatenate([r[k:] for r, k in zip(rest, cut)]))
    return train, validation, test


def _pool(dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """All images of the data set (train and test files together) as rows in [0, 1], and labels."""
    data = load_dataset(dataset, inputs="unit")
    x, y = torch.cat([data.x_train, data.x_test]), torch.cat([data.y_train, data.y_test])
    if dataset == "mnist":  # undo the loader's zero-padding to 32×32, then resize as the paper did
        x = F.interpolate(x[:, :, 2:30, 2:30], size=(MNIST_SIZE, MNIST_SIZE), mode="bilinear", antialias=True,
                          align_corners=False).clamp(0, 1)
    return x.flatten(1), y


def load_splits(params: Parameters) -> Splits:
    """The chapter's subsets of ``params.dataset`` (see :func:`stratified_split`) on ``params.device``."""
    x, y = _pool(params.dataset)
    sizes = sorted({size for _, size in params.samplings})
    train, validation, test = stratified_split(y.numpy(), sizes, params.validation_share,
                                               derived_seed(params.seed, "finite-temperature subsets"))
    def rows(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return x[idx].to(params.device), y[idx].to(params.device)

    return Splits(name=params.dataset, train={n: rows(idx) for n, idx in train.items()}, validation=rows(validation),
                  test=rows(test), classes=int(y.max()) + 1)


# --------------------------------------------------------------------------- sampling, cached

@dataclass(frozen=True)
class Sampling:
    """One network sampled on one training subset D_n. Per split (``'train'``, ``'validation'``,
    ``'test'``): ``loss`` and ``error`` ``(R, S)`` of every sample at every temperature (cross-entropy
    per example, fraction wrong), ``predictive_loss`` and ``predictive_error`` ``(R,)`` of each
    temperature's posterior predictive (its samples' softmax outputs averaged), ``minima_loss`` and
    ``minima_error`` ``(K,)`` of the K gradient-trained networks. The sampler's ``acceptance`` ``(R,)``,
    ``swap_rate`` ``(R − 1,)``, ``step_size`` ``(R,)``, ``trace`` ``(R, iterations)`` (energy at each
    temperature after every iteration) and ``burn_in``; ``classes`` K of the softmax."""

    model: str
    size: int
    temperatures: np.ndarray
    loss: dict[str, np.ndarray]
    error: dict[str, np.ndarray]
    predictive_loss: dict[str, np.ndarray]
    predictive_error: dict[str, np.ndarray]
    minima_loss: dict[str, np.ndarray]
    minima_error: dict[str, np.ndarray]
    acceptance: np.ndarray
    swap_rate: np.ndarray
    step_size: np.ndarray
    trace: np.ndarray
    burn_in: int
    classes: int = 10
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.model} on D{self.size}"

    def mean_loss(self, split: str = "test") -> np.ndarray:
        """``(R,)``: the loss per example averaged over each temperature's samples (the paper's curves)."""
        return self.loss[split].mean(1)

    def standard_error(self, split: str = "test") -> np.ndarray:
        """``(R,)``: standard error of :meth:`mean_loss` by batch means (0 with fewer than two samples)."""
        return batch_standard_error(self.loss[split])

    def best(self, split: str = "test") -> int:
        """Index of the temperature with the lowest mean loss on ``split``."""
        return int(np.argmin(self.mean_loss(split)))

    def near(self, temperature: float) -> int:
        """Index of the ladder's temperature nearest ``temperature`` (on a log scale)."""
        return int(np.argmin(np.abs(np.log(self.temperatures) - math.log(temperature))))

    def annealed(self) -> int:
        """The annealing rule's pick on this ladder (:func:`annealing_pick` of the validation loss)."""
        return annealing_pick(self.mean_loss("validation"))


def batch_standard_error(values: np.ndarray, batches: int = SE_BATCHES) -> np.ndarray:
    """``(R,)``: the standard error of the mean over the last axis of ``values`` ``(R, S)`` from the
    means of ``batches`` consecutive batches (fewer when S is smaller); 0 where S < 2."""
    values = np.asarray(values, dtype=float)
    S = values.shape[-1]
    if S < 2:
        return np.zeros(values.shape[:-1])
    means = np.stack([chunk.mean(-1) for chunk in np.array_split(values, min(batches, S), axis=-1)], -1)
    return means.std(-1, ddof=1) / math.sqrt(means.shape[-1])


def annealing_pick(validation_loss: np.ndarray) -> int:
    """The abstract's rule on a ladder ``(R,)`` ordered cold to hot: cool from the hottest temperature
    while the validation loss does not rise, then keep the temperature with the lowest validation loss
    seen (the first local minimum met from the hot end; the coldest if the loss never rises)."""
    v = np.asarray(validation_loss, dtype=float)
    i = len(v) - 1
    while i > 0 and not v[i - 1] > v[i]:
        i -= 1
    return int(i + np.argmin(v[i:]))


def _spec(params: Parameters, splits: Splits, name: str, size: int) -> dict[str, Any]:
    """What a cached minima array depends on (the sampling's spec adds the sampler's parameters)."""
    return {"version": ARTIFACT_VERSION, "dataset": params.dataset, "inputs": splits.inputs,
            "sizes": sorted(splits.train), "validation_share": params.validation_share, "seed": params.seed,
            "n_validation": len(splits.validation[1]), "n_test": len(splits.test[1]), "network": name, "size": size,
            "minima": [params.minima_networks, params.minima_steps, params.minima_lr]}


def _scores(model: sampler.StackedMLP, samples: torch.Tensor, splits: Splits, size: int) -> dict[str, np.ndarray]:
    out = {}
    for split in SAMPLE_SPLITS:
        s = sampler.sample_losses(model, samples, *splits.split(split, size))
        out.update({f"{split}/loss": s.loss, f"{split}/error": s.error, f"{split}/predictive_loss": s.predictive_loss,
                    f"{split}/predictive_error": s.predictive_error})
    return out


def _minima(params: Parameters, splits: Splits, name: str, size: int) -> dict[str, np.ndarray]:
    model = sampler.paper_network(name, splits.inputs, splits.classes)
    started = time.perf_counter()
    weights = sampler.gradient_trained_minima(model, *splits.train[size], networks=params.minima_networks,
                                              steps=params.minima_steps, lr=params.minima_lr,
                                              seed=derived_seed(params.seed, f"minima {name} D{size}"))
    scores = _scores(model, weights[:, None], splits, size)
    return {"weights": weights.cpu().numpy(), "seconds": np.array(time.perf_counter() - started),
            **{k: v[:, 0] for k, v in scores.items() if k.endswith("/loss") or k.endswith("/error")}}


def _sample(params: Parameters, splits: Splits, name: str, size: int, start: np.ndarray) -> dict[str, np.ndarray]:
    model = sampler.paper_network(name, splits.inputs, splits.classes)
    x, y = splits.train[size]
    started = time.perf_counter()
    result = sampler.replica_exchange(lambda theta: model.energy(theta, x, y),
                                      torch.as_tensor(start, device=x.device), params.temperatures(),
                                      iterations=params.iterations, trajectories=params.trajectories,
                                      leapfrog=params.leapfrog, burn_in=params.burn_in,
                                      bounds=model.bounds().to(x.device),
                                      seed=derived_seed(params.seed, f"sampler {name} D{size}"))
    return {"temperatures": result.temperatures.cpu().numpy(), "acceptance": result.acceptance.cpu().numpy(),
            "swap_rate": result.swap_rate.cpu().numpy(), "step_size": result.step_size.cpu().numpy(),
            "trace": result.trace.cpu().numpy(), "burn_in": np.array(result.burn_in),
            **_scores(model, result.samples, splits, size), "seconds": np.array(time.perf_counter() - started)}


def run_samplings(params: Parameters, splits: Splits, *,
                  log: Callable[[str], None] = print) -> list[Sampling]:
    """One :class:`Sampling` per entry of ``params.samplings``: K gradient-trained minima, then the
    replica-exchange sampler started (every replica) from the first of them, as the paper's code starts
    from a minimised configuration; both kept in the run store and read from it when present."""
    store = params.store()
    out = []
    for name, size in params.samplings:
        spec = _spec(params, splits, name, size)
        minima = store.artifact("finite-temperature-minima", spec, lambda: _minima(params, splits, name, size))
        sampler_spec = {**spec, "temperatures": params.temperatures().tolist(), "iterations": params.iterations,
                        "burn_in": params.burn_in, "trajectories": params.trajectories, "leapfrog": params.leapfrog}
        started = time.perf_counter()
        arrays = store.artifact("finite-temperature-samples", sampler_spec,
                                lambda: _sample(params, splits, name, size, minima["weights"][0]))
        sampling = from_arrays(name, size, arrays, minima, splits.classes)
        log(f"{sampling.label}: {len(sampling.temperatures)} temperatures x {params.iterations} iterations of "
            f"{params.trajectories} trajectories x {params.leapfrog} leapfrog steps: "
            f"sampled in {sampling.seconds:.0f} s, "
            f"kept in the run store (this call: {time.perf_counter() - started:.1f} s)")
        out.append(sampling)
    return out


def from_arrays(name: str, size: int, arrays: dict[str, np.ndarray], minima: dict[str, np.ndarray],
                classes: int = 10) -> Sampling:
    """A :class:`Sampling` from the cached arrays of its sampler and of its minima."""
    return Sampling(model=name, size=size, temperatures=arrays["temperatures"],
                    loss={s: arrays[f"{s}/loss"] for s in SAMPLE_SPLITS}, error={s: arrays[f"{s}/error"] for s in SAMPLE_SPLITS},
                    predictive_loss={s: arrays[f"{s}/predictive_loss"] for s in SAMPLE_SPLITS},
                    predictive_error={s: arrays[f"{s}/predictive_error"] for s in SAMPLE_SPLITS},
                    minima_loss={s: minima[f"{s}/loss"] for s in SAMPLE_SPLITS},
                    minima_error={s: minima[f"{s}/error"] for s in SAMPLE_SPLITS},
                    acceptance=arrays["acceptance"], swap_rate=arrays["swap_rate"], step_size=arrays["step_size"],
                    trace=arrays["trace"], burn_in=int(arrays["burn_in"]), classes=classes,
                    seconds=float(arrays["seconds"]))


# --------------------------------------------------------------------------- tables

def sampling_table(samplings: Sequence[Sampling]) -> pd.DataFrame:
    """Per sampling: the best temperature on the test set and its loss, the loss at the temperature
    nearest 1 and at the coldest, the annealing rule's pick and its test loss, the minima's test loss."""
    rows = []
    for s in samplings:
        test, best, one, pick = s.mean_loss("test"), s.best("test"), s.near(1.0), s.annealed()
        rows.append({"network": s.model, "subset": f"D{s.size}", "best T (test)": s.temperatures[best],
                     "test loss at best T": test[best], "T nearest 1": s.temperatures[one],
                     "test loss at T≈1": test[one], "test loss, coldest T": test[0],
                     "annealing pick T": s.temperatures[pick], "test loss at pick": test[pick],
                     "minima test loss (mean)": s.minima_loss["test"].mean(),
                     "minima test loss (best)": s.minima_loss["test"].min(),
                     "test error at best T": s.error["test"].mean(1)[best],
                     "minima test error (mean)": s.minima_error["test"].mean()})
    return pd.DataFrame(rows)


def networks_table(params: Parameters, splits: Splits) -> pd.DataFrame:
    """The networks sampled: layer sizes, parameters D and the box prior's half-widths per layer."""
    rows = []
    for name in dict.fromkeys(n for n, _ in params.samplings):
        model = sampler.paper_network(name, splits.inputs, splits.classes)
        half = [model.prior_scale / math.sqrt(a + 1) / 2 for a in model.sizes[:-1]]
        rows.append({"network": name, "layers": " → ".join(map(str, model.sizes)),
                     "outputs": "logistic, then softmax" if model.logistic_outputs else "linear, then softmax",
                     "parameters D": model.n_params, "prior scale": model.prior_scale,
                     "box half-width per layer": ", ".join(f"{h:.2f}" for h in half)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- claims

def _of(samplings: Sequence[Sampling], *models: str) -> list[Sampling]:
    return [s for s in samplings if s.model in models]


def claims(samplings: Sequence[Sampling]) -> ClaimsTable:
    """The paper's claims against the samplings (rows for networks that were not sampled are left out).
    Every rule compares our number with a reference computed in the same run: the gradient-trained
    minima, the coldest temperature, the ladder's best temperature, or the uninformed classifier."""
    table = ClaimsTable()
    m3 = _of(samplings, "M(3)")
    if m3:
        one = [(s, s.near(1.0)) for s in m3]
        below_best = [s.mean_loss()[i] < s.minima_loss["test"].min() for s, i in one]
        below_mean = [s.mean_loss()[i] < s.minima_loss["test"].mean() for s, i in one]
        table.check("Sampling the posterior (T = 1) generalises better than optimisation",
                    "M(3) test loss 7.7 → ≈2.5 (D50), 2.05 → ≈1.1 (D500) (Fig. 3)",
                    "; ".join(f"{s.label}: {s.mean_loss()[i]:.2f} at T={s.temperatures[i]:.2g}" for s, i in one),
                    "reproduced: on every M(3) subset the mean test loss at the ladder's temperature nearest 1 is "
                    "below the best of the K gradient-trained minima; partly: below their mean on at least one",
                    all(below_best), partly=any(below_mean),
                    reference="; ".join(f"{s.label}: K={len(s.minima_loss['test'])} gradient-trained minima, mean "
                                        f"{s.minima_loss['test'].mean():.2f}, best {s.minima_loss['test'].min():.2f}"
                                        for s in m3))
        interior = []
        for s in m3:
            test, se, best = s.mean_loss(), s.standard_error(), s.best()
            interior.append(0 < best < len(test) - 1 and 0.1 <= s.temperatures[best] <= 10
                            and test[best] + 2 * se[best] < test[0])
        table.check("M(3)'s test loss has a minimum at T > 0, near T = 1",
                    "minimum ≈2.5 near T≈1 (D50), ≈1.1 near T≈0.5-1 (D500) (Fig. 3)",
                    "; ".join(f"{s.label}: best T={s.temperatures[s.best()]:.2g} ({s.mean_loss()[s.best()]:.2f} "
                              f"± {s.standard_error()[s.best()]:.2f})" for s in m3),
                    "reproduced: on every M(3) subset the lowest mean test loss is at an inner temperature of the "
                    "ladder with 0.1 <= T <= 10, more than 2 standard errors below the coldest temperature's; "
                    "partly: on at least one subset", all(interior), partly=any(interior),
                    reference="; ".join(f"{s.label}: coldest T={s.temperatures[0]:.2g} ({s.mean_loss()[0]:.2f} "
                                        f"± {s.standard_error()[0]:.2f})" for s in m3))
    m3s = _of(samplings, "M(3*)")
    if m3s:
        cold, contrast = [], []
        for s in m3s:
            test, se, best, one = s.mean_loss(), s.standard_error(), s.best(), s.near(1.0)
            cold.append(s.temperatures[best] <= 0.1 and test[one] > test[best] + 2 * se[best])
            twin = [t for t in m3 if t.size == s.size]
            contrast.append(bool(twin) and s.temperatures[best] < twin[0].temperatures[twin[0].best()])
        table.check("M(3*) (logistic outputs, a high-bias model) is best at low T",
                    "test loss rises with T, best at low T; floor ≈1.46 (Fig. 4)",
                    "; ".join(f"{s.label}: best T={s.temperatures[s.best()]:.2g} ({s.mean_loss()[s.best()]:.2f} "
                              f"± {s.standard_error()[s.best()]:.2f})" for s in m3s),
                    "reproduced: on every M(3*) subset the lowest mean test loss is at T <= 0.1 and the loss at the "
                    "temperature nearest 1 is more than 2 standard errors higher; partly: its best T is below "
                    "M(3)'s on the same subset", all(cold), partly=any(contrast),
                    reference="; ".join(f"{s.label}: {s.mean_loss()[s.near(1.0)]:.2f} at T={s.temperatures[s.near(1.0)]:.2g}"
                                        for s in m3s)
                              + "".join(f"; M(3) on D{t.size}: best T={t.temperatures[t.best()]:.2g}" for t in m3
                                        if any(t.size == s.size for s in m3s)))
    if samplings:
        close, beats = [], []
        for s in samplings:
            test, se, best, pick = s.mean_loss(), s.standard_error(), s.best(), s.annealed()
            close.append(test[pick] <= test[best] + max(2 * se[pick], 0.05 * test[best]))
            beats.append(test[pick] < s.minima_loss["test"].mean())
        table.check("Annealing rule: cool until the validation loss rises, keep the best",
                    "an early-stopping criterion for simulated annealing (abstract)",
                    "; ".join(f"{s.label}: pick T={s.temperatures[s.annealed()]:.2g}, test "
                              f"{s.mean_loss()[s.annealed()]:.2f}" for s in samplings),
                    "reproduced: on every sampling the test loss at the pick (made on the validation set) is within "
                    "2 standard errors or 5 % of the ladder's best test loss; partly: below the gradient-trained "
                    "minima's mean test loss on every sampling", all(close), partly=all(beats),
                    reference="; ".join(f"{s.label}: ladder's best {s.mean_loss()[s.best()]:.2f} at "
                                        f"T={s.temperatures[s.best()]:.2g} (minima {s.minima_loss['test'].mean():.2f})"
                                        for s in samplings))
    linear = _of(samplings, "M(3)", "M(1)")
    if linear:
        crossed = []
        for s in linear:
            train, lnk = s.mean_loss("train"), math.log(s.classes)
            crossed.append((train[0] < 0.1 * lnk, train[-1] > lnk))
        table.check("As T rises the networks become worse than the uninformed classifier on their training set",
                    "training loss ≈ 0 at low T, above ln 10 ≈ 2.30 at high T (abstract, Fig. 3)",
                    "; ".join(f"{s.label}: train {s.mean_loss('train')[0]:.3f} at T={s.temperatures[0]:.2g}, "
                              f"{s.mean_loss('train')[-1]:.2f} at T={s.temperatures[-1]:.2g}" for s in linear),
                    "reproduced: on every M(3) and M(1) sampling the training loss per example is below 0.1 ln K "
                    "at the "
                    "coldest temperature and above ln K at the hottest; partly: above ln K at the hottest on at "
                    "least one", all(a and b for a, b in crossed), partly=any(b for _, b in crossed),
                    reference="; ".join(sorted({f"uninformed classifier: ln {s.classes} = {math.log(s.classes):.2f} "
                                                f"(0.1 ln {s.classes} = {0.1 * math.log(s.classes):.2f})"
                                                for s in linear})))
    return table
