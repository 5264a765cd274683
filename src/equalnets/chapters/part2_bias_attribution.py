"""Part II Bias attribution: the chapter's networks (each a RunConfig served by the run store), the
exactness of the local linear split, the motivating table, the digit-flip test and the claims.

:func:`runs` names every network the chapter asks the store for, so a warm book trains none of
them; :func:`open_networks` loads them onto the chapter's device. The analysis functions compute
what the tables and figures show from those networks; :func:`claims` decides the verdicts from
the tables alone (the identity check, the per-image correctness of the motivating table, the
digit-flip rows and the agreement rows), so a test can feed it made-up ones.

Every verdict compares this book's number with a reference computed in the same run (float64's
rounding, the chance rate, the random control, the gradient methods, integrated gradients' own
agreement with gradient × input) by a test whose threshold is fixed here, before any network is
trained (:data:`ALPHA`, :data:`ALPHA_SPLIT`, :data:`NONINFERIORITY`, :data:`IDENTITY_EPS`). The
digit-flip tests take the network as the unit: per network, the median over its images of a
paired difference, then a one-sided Wilcoxon signed-rank test over the networks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from scipy import stats
from torch import nn

from ..analysis.claims import ClaimsTable
from ..engine.checks import (ParameterError, check_choice, check_float, check_int, check_int_list)
from ..engine.config import RunConfig, derived_seed
from ..engine.data import Dataset, DatasetNotFoundError, load_dataset
from ..figures import bias_attribution as figures
from ..methods import attribution as attr
from .base import ChapterParameters

TITLE = "Part II: bias attribution"
FLIP_DATASETS = ("digits", "mnist")
#: Captum's integration rules for integrated gradients.
IG_METHODS = ("riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid", "gausslegendre")
#: The Fashion-MNIST row of the talk's motivating table (test accuracy, %).
PAPER_MOTIVATING = {"source": "paper (Fashion-MNIST, its network)", "trained without bias": 94.1,
                    "with bias: full": 94.7, "only w·x": 76.1, "only b": 24.6}
#: Significance level of the digit-flip, agreement and training-without-bias tests (one-sided).
ALPHA = 0.05
#: Significance level of the two tests of the motivating table's split (one-sided, exact).
ALPHA_SPLIT = 0.01
#: Non-inferiority margin: a bias rule is competitive with a method when its rise is at least this
#: fraction of the method's, image by image (a one-sided test of rise(rule) − 0.8 · rise(method) > 0).
NONINFERIORITY = 0.8
#: Tolerance of the identity in units of float64's machine epsilon, times max(1, largest |logit|).
IDENTITY_EPS = 1e5
#: The "ρ with gradient × input" of integrated gradients, the reference of the complementarity claim.
RHO = "ρ vs gradient×input"
DELTA = "|completeness error|"


@dataclass(frozen=True)
class Parameters(ChapterParameters):
    """The networks of Part II (small ReLU networks trained with Adam on raw intensities in [0, 1]) and
    the attribution experiments run on them."""

    seed: int = 0                           # base seed: each run derives its own; also the random control
    num_threads: int = 1                    # CPU threads for torch; 0 leaves torch's default
    digits_epochs: int = 30                 # epochs of the MLP and the CNN on the 8×8 digits
    fashion_train_per_class: int | None = 500  # Fashion-MNIST training images per class (None: all)
    fashion_test_per_class: int | None = 100   # Fashion-MNIST test images per class (None: all)
    fashion_epochs: int = 4                 # epochs of the two Fashion-MNIST CNNs (with and without bias)
    lr: float = 1e-3                        # Adam learning rate of every network
    batch_size: int = 100                   # minibatch size of every network
    cnn_channels: tuple[int, ...] = (16, 32)   # conv widths of the CNN
    cnn_dense: int = 64                     # hidden dense width of the CNN
    mlp_hidden: tuple[int, ...] = (128, 64)    # hidden widths of the MLP
    flip_dataset: str = "digits"            # digits, or mnist (falls back to digits when absent)
    flip_train_per_class: int | None = None  # MNIST training images per class (None: all)
    flip_epochs: int = 5                    # epochs of the flip CNNs on MNIST (on digits: digits_epochs)
    flip_pairs: tuple[tuple[int, int], ...] = ((8, 3), (8, 6))  # source → target classes of the digit flip
    flip_networks: int = 10                 # independently initialised CNNs in the digit-flip test
    flip_images: int = 40                   # at most this many correct source test images per network
    flip_fraction: float = 0.2              # fraction of the input features removed
    ig_steps: tuple[int, ...] = (10, 50, 100)  # step counts of integrated gradients
    ig_method: str = "riemann_right"        # Captum's integration rule
    map_classes: int = 10                   # classes shown in the attribution-map grids
    identity_images: int = 100              # test images per network on which the identity is checked

    def check(self) -> None:
        check_int("seed", self.seed, 0)
        check_int("num_threads", self.num_threads, 0)
        for name in ("digits_epochs", "fashion_epochs", "flip_epochs", "batch_size", "cnn_dense", "flip_networks",
                     "flip_images", "identity_images"):
            check_int(name, getattr(self, name), 1)
        for name in ("fashion_train_per_class", "fashion_test_per_class", "flip_train_per_class"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        self.set("lr", check_float("lr", self.lr, low=0, low_open=True))
        self.set("flip_fraction", check_float("flip_fraction", self.flip_fraction, low=0, high=1, low_open=True))
        for name in ("cnn_channels", "mlp_hidden", "ig_steps"):
            self.set(name, check_int_list(name, getattr(self, name), 1))
        check_choice("flip_dataset", self.flip_dataset, FLIP_DATASETS)
        check_choice("ig_method", self.ig_method, IG_METHODS)
        check_int("map_classes", self.map_classes, 1, 10)
        self.set("flip_pairs", _check_pairs(self.flip_pairs))
        runs(self)  # every RunConfig field checked here, before anything is trained


def _check_pairs(pairs: object) -> tuple[tuple[int, int], ...]:
    why = "a non-empty list of [source, target] pairs of two different classes in 0..9, e.g. [[8, 3], [8, 6]]"
    if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__iter__"):
        raise ParameterError(f"flip_pairs must be {why}, got {pairs!r}")
    out = tuple(check_int_list("flip_pairs", pair, 0, min_len=2) for pair in pairs)
    if not out or any(len(pair) != 2 or max(pair) > 9 or pair[0] == pair[1] for pair in out):
        raise ParameterError(f"flip_pairs must be {why}, got {pairs!r}")
    return out


# --------------------------------------------------------------------------- the runs

def runs(params: Parameters, flip_data: str | None = None) -> dict[str, RunConfig]:
    """Every network the chapter asks the store for, by name (``'<data set> <network>'``), each with the
    seed :func:`~equalnets.engine.config.derived_seed` gives its name (no two share a member seed).

    ``flip_data``: the data set of the digit-flip test (default ``params.flip_dataset``; see
    :func:`flip_source`). Its CNN run holds the ``flip_networks`` networks of the test; member 0 is
    the CNN shown everywhere else.
    """
    flip_data = flip_data or params.flip_dataset
    cnn = params.cnn_channels + (params.cnn_dense,)
    configs = {
        "digits MLP": _config(params, "digits MLP", "digits", "mlp", params.mlp_hidden, params.digits_epochs),
        "digits CNN": _config(params, "digits CNN", "digits", "cnn", cnn, params.digits_epochs,
                              n_models=params.flip_networks if flip_data == "digits" else 1),
        "fashion-mnist CNN": _config(params, "fashion-mnist CNN", "fashion-mnist", "cnn", cnn, params.fashion_epochs,
                                     train_per_class=params.fashion_train_per_class,
                                     test_per_class=params.fashion_test_per_class),
    }
    configs["fashion-mnist CNN without bias"] = configs["fashion-mnist CNN"].replace(
        bias=False, seed=derived_seed(params.seed, "fashion-mnist CNN without bias"))
    if flip_data == "mnist":
        configs["mnist CNN"] = _config(params, "mnist CNN", "mnist", "cnn", cnn, params.flip_epochs,
                                       n_models=params.flip_networks, train_per_class=params.flip_train_per_class)
    return configs


def _config(params: Parameters, name: str, dataset: str, arch: str, hidden: tuple[int, ...], epochs: int,
            **fields: object) -> RunConfig:
    """One of the chapter's runs: no dropout, raw intensities, Adam at a constant rate; only the
    untrained and the trained networks are recorded."""
    return RunConfig(**{"dataset": dataset, "arch": arch, "hidden": hidden, "dropout": False, "inputs": "unit",
                        "optimizer": "adam", "lr": params.lr, "momentum": 0.0, "lr_decay_every": 0,
                        "batch_size": params.batch_size, "epochs": epochs, "record_epochs": (0, epochs),
                        "n_models": 1, "seed": derived_seed(params.seed, name), **fields})


def flip_source(params: Parameters) -> tuple[str, Dataset | None]:
    """The data set of the digit-flip test and, for MNIST, its images: MNIST where asked for and on
    disk, else the 8×8 digits (with a printed note)."""
    if params.flip_dataset == "digits":
        return "digits", None
    try:
        mnist = load_dataset("mnist", train_per_class=params.flip_train_per_class, download=False, inputs="unit")
    except DatasetNotFoundError as err:
        print(f"note: MNIST is not available here ({err}); the digit-flip test falls back to the 8×8 digits.")
        return "digits", None
    return "mnist", mnist


@dataclass(frozen=True)
class Networks:
    """The chapter's trained networks on its device. ``models``: member 0 of every run, by run name;
    ``datasets``: run name → its data set's name; ``data``: data set name → its images (raw
    intensities in [0, 1]); ``accuracy``: run name → member 0's test accuracy (%); ``flip``: every
    network of the digit-flip test (its first is ``models[f'{flip_data} CNN']``)."""

    models: dict[str, nn.Module]
    datasets: dict[str, str]
    data: dict[str, Dataset]
    accuracy: dict[str, float]
    flip: list[nn.Module]
    flip_data: str


def open_networks(params: Parameters) -> Networks:
    """Every network of :func:`runs` from the store (trained first where missing), on ``params.device``."""
    flip_data, mnist = flip_source(params)
    configs = runs(params, flip_data)
    loaded: dict[tuple, Dataset] = {} if mnist is None else {("mnist", params.flip_train_per_class, None): mnist}
    models, data, accuracy, flip = {}, {}, {}, []
    for name, config in configs.items():
        where = (config.dataset, config.train_per_class, config.test_per_class)
        run, loaded[where] = params.open(config, loaded.get(where))
        data.setdefault(config.dataset, loaded[where].to(params.device))
        members = [run.model(k).to(params.device) for k in range(run.n_models)]
        models[name], accuracy[name] = members[0], 100 * float(run.test.accuracy()[0, -1])
        if name == f"{flip_data} CNN":
            flip = members
    return Networks(models=models, datasets={name: c.dataset for name, c in configs.items()}, data=data,
                    accuracy=accuracy, flip=flip, flip_data=flip_data)


# --------------------------------------------------------------------------- the identity and the motivating table

def identity_table(networks: Networks, images: int) -> pd.DataFrame:
    """Per network: the largest error of the layer-wise identity over the first ``images`` test
    images, every layer and every logit (:func:`~equalnets.methods.attribution.identity_error`), and
    the largest |logit| there (the scale of the identity's tolerance)."""
    rows = []
    for name, net in networks.models.items():
        data = networks.data[networks.datasets[name]]
        x = data.x_test[:images]
        with torch.no_grad():
            scale = float(net(x).abs().max())
        rows.append({"data": data.name, "network": name.removeprefix(f"{data.name} "), "images": len(x),
                     "logits": data.n_classes, "layers": len(net), "largest |error|": attr.identity_error(net, x),
                     "largest |logit|": scale})
    return pd.DataFrame(rows)


def identity_tolerance(identity: pd.DataFrame) -> float:
    """The identity's tolerance: :data:`IDENTITY_EPS` × float64's machine epsilon × max(1, largest |logit|)."""
    return IDENTITY_EPS * float(np.finfo(np.float64).eps) * max(1.0, float(identity["largest |logit|"].max()))


@dataclass(frozen=True)
class Motivating:
    """The motivating table's numbers, per Fashion-MNIST test image (four ``(M,)`` bool arrays): the CNN
    is right from its full logits (``full``), from J(x)·x only (``wx``), from b_x only (``b``); the CNN
    trained without bias is right (``nobias``). ``chance``: the largest share of one class among the
    test labels, what a prediction that ignores the image gets at best."""

    full: np.ndarray
    wx: np.ndarray
    b: np.ndarray
    nobias: np.ndarray
    chance: float

    def __post_init__(self) -> None:
        arrays = [np.asarray(getattr(self, k)) for k in ("full", "wx", "b", "nobias")]
        if any(a.dtype != bool or a.ndim != 1 or a.shape != arrays[0].shape for a in arrays) or not len(arrays[0]):
            raise ValueError(f"full, wx, b and nobias must be non-empty bool (M,) arrays of one length, got "
                             f"{[(a.dtype, a.shape) for a in arrays]}")
        if not 0 < self.chance < 1:
            raise ValueError(f"chance must lie in (0, 1), got {self.chance!r}")

    @property
    def n(self) -> int:
        return len(self.full)

    def percent(self) -> dict[str, float]:
        """Test accuracy (%) of each: ``full``, ``wx``, ``b``, ``nobias``."""
        return {k: 100.0 * float(np.mean(getattr(self, k))) for k in ("full", "wx", "b", "nobias")}


def motivating_accuracy(networks: Networks) -> Motivating:
    """The per-image correctness of the Fashion-MNIST CNN predicting from its full logits, from J(x)·x
    only and from b_x only, and of the CNN trained without bias (:class:`Motivating`)."""
    d = networks.data["fashion-mnist"]
    split = attr.split_correct(networks.models["fashion-mnist CNN"], d.x_test, d.y_test)
    no_bias = attr.split_correct(networks.models["fashion-mnist CNN without bias"], d.x_test, d.y_test)["full"]
    chance = float(np.bincount(d.y_test.cpu().numpy()).max() / len(d.y_test))
    return Motivating(full=split["full"], wx=split["wx"], b=split["b"], nobias=no_bias, chance=chance)


def motivating_table(motivating: Motivating) -> pd.DataFrame:
    """The talk's motivating table beside this book's row (:func:`motivating_accuracy`)."""
    acc = motivating.percent()
    ours = {"source": f"this book (Fashion-MNIST, {motivating.n} test images, small CNN)",
            "trained without bias": acc["nobias"], "with bias: full": acc["full"],
            "only w·x": acc["wx"], "only b": acc["b"]}
    return pd.DataFrame([PAPER_MOTIVATING, ours])


def mcnemar_p(better: np.ndarray, worse: np.ndarray) -> float:
    """One-sided exact McNemar test that ``better`` is right more often than ``worse`` on the same images
    (two ``(M,)`` bool arrays): the binomial test of the discordant images; 1 when there are none."""
    b = int((better & ~worse).sum())
    c = int((~better & worse).sum())
    return float(stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue) if b + c else 1.0


@dataclass(frozen=True)
class SplitTests:
    """The tests of the motivating table: only-b against chance (exact binomial), full against only-w·x
    and with against without bias (exact McNemar), each one-sided."""

    p_b: float
    p_wx: float
    p_nobias: float


def split_tests(m: Motivating) -> SplitTests:
    """:class:`SplitTests` of ``m``."""
    p_b = float(stats.binomtest(int(m.b.sum()), m.n, m.chance, alternative="greater").pvalue)
    return SplitTests(p_b=p_b, p_wx=mcnemar_p(m.full, m.wx), p_nobias=mcnemar_p(m.full, m.nobias))


# --------------------------------------------------------------------------- the digit-flip test

@dataclass(frozen=True)
class FlipTest:
    """The digit-flip rows (one per network, pair, method and image: ``pair``, ``method``, ``image``,
    the log-odds before and after, ``rise``, ``network``) and the test's settings."""

    frame: pd.DataFrame
    data: str
    methods: list[str]
    n_remove: int
    n_features: int
    n_networks: int


def flip_cases(params: Parameters, networks: Networks, *, say_skipped: bool = False
               ) -> Iterator[tuple[int, nn.Module, int, int, torch.Tensor]]:
    """Every (network index, network, source class, target class, its correctly classified source
    test images ``(n, C, H, W)``, at most ``flip_images``) of the digit-flip networks and pairs; a
    network with no such image is skipped (said with ``say_skipped``)."""
    d = networks.data[networks.flip_data]
    for k, net in enumerate(networks.flip):
        for source, target in params.flip_pairs:
            x_src = attr.correct_of_class(net, d.x_test, d.y_test, source, params.flip_images)
            if len(x_src):
                yield k, net, source, target, x_src
            elif say_skipped:
                print(f"note: network {k} classifies no test image of {source} correctly; skipped for "
                      f"{source}→{target}")


def digit_flip_test(params: Parameters, networks: Networks) -> FlipTest:
    """The digit-flip test of every method on every flip network and pair (the paper's Fig. 3)."""
    d = networks.data[networks.flip_data]
    n_features = d.x_test[0].numel()
    n_remove = max(1, round(params.flip_fraction * n_features))
    methods = attr.method_names(params.ig_steps)
    blank = torch.zeros(d.x_test.shape[1:], device=d.x_test.device)
    frames = [attr.digit_flip(net, x_src, source, target, methods, n_remove, blank, ig_method=params.ig_method,
                              seed=params.seed).assign(network=k)
              for k, net, source, target, x_src in flip_cases(params, networks, say_skipped=True)]
    return FlipTest(frame=pd.concat(frames, ignore_index=True), data=networks.flip_data, methods=methods,
                    n_remove=int(n_remove), n_features=int(n_features), n_networks=len(networks.flip))


@dataclass(frozen=True)
class FlipSummary:
    """What the digit-flip rows show: ``medians`` (method × pair) of the rise; ``per_net`` the median
    per (pair, method, network) and ``net_medians`` the same as (pair, network) × method; the bias
    rule and the gradient-based method with the largest median per pair; the range of the former
    over the networks per pair; the fewest images in one (pair, method) box."""

    methods: list[str]
    bias_methods: list[str]
    gradient_methods: list[str]
    ig_methods: list[str]
    pairs: list[str]
    medians: pd.DataFrame
    per_net: pd.DataFrame
    net_medians: pd.DataFrame
    best_bias: dict[str, str]
    best_grad: dict[str, str]
    spread: dict[str, tuple[float, float]]
    n_per_box: int


def flip_summary(flip: pd.DataFrame) -> FlipSummary:
    """The summary of digit-flip rows (columns ``pair``, ``method``, ``network``, ``rise``)."""
    methods = list(dict.fromkeys(flip["method"]))
    medians = flip.pivot_table(index="method", columns="pair", values="rise", aggfunc="median").loc[methods]
    bias_methods = [m for m in methods if m.startswith("bias")]
    gradient_methods = [m for m in methods if not m.startswith("bias") and m != "random"]
    pairs = list(medians.columns)
    best_bias = {p: medians.loc[bias_methods, p].idxmax() for p in pairs}
    per_net = flip.groupby(["pair", "method", "network"], sort=False)["rise"].median().reset_index()
    net_medians = per_net.pivot_table(index=["pair", "network"], columns="method", values="rise")
    spread = {p: (float(net_medians.loc[p, best_bias[p]].min()), float(net_medians.loc[p, best_bias[p]].max()))
              for p in pairs}
    return FlipSummary(methods=methods, bias_methods=bias_methods, gradient_methods=gradient_methods,
                       ig_methods=[m for m in methods if m.startswith("IG")], pairs=pairs, medians=medians,
                       per_net=per_net, net_medians=net_medians, best_bias=best_bias,
                       best_grad={p: medians.loc[gradient_methods, p].idxmax() for p in pairs}, spread=spread,
                       n_per_box=int(flip.groupby(["pair", "method"]).size().min()))


def flip_numbers(s: FlipSummary) -> dict[str, float | int | str]:
    """The digit-flip numbers the prose quotes, by glue name."""
    out: dict[str, float | int | str] = {}
    for pair in s.pairs:
        tag = pair.replace("→", "to")
        for m in s.methods:
            key = m.replace(" ", "_").replace("(", "").replace(")", "").replace("=", "").replace("×", "x")
            out[f"p2_median_{tag}_{key}"] = float(s.medians.loc[m, pair])
    out.update(p2_gxi_min=float(s.net_medians["gradient×input"].min()),
               p2_gxi_max=float(s.net_medians["gradient×input"].max()))
    for i, p in enumerate(s.pairs):
        out.update({f"p2_bias_min{i}": s.spread[p][0], f"p2_bias_max{i}": s.spread[p][1], f"p2_pair{i}": p,
                    f"p2_best_bias{i}": s.best_bias[p], f"p2_best_grad{i}": s.best_grad[p],
                    f"p2_best_bias_median{i}": float(s.medians.loc[s.best_bias[p], p]),
                    f"p2_best_grad_median{i}": float(s.medians.loc[s.best_grad[p], p]),
                    f"p2_random_median{i}": float(s.medians.loc["random", p])})
    return out


def agreement_rows(params: Parameters, networks: Networks) -> pd.DataFrame:
    """Per flip network, pair and correctly classified source image: the Spearman ρ with gradient × input
    (source class) of each bias rule and of integrated gradients with the most steps
    (quantity :data:`RHO`), and IG's |completeness error| for each step count (quantity
    :data:`DELTA`). Columns ``pair, network, image, method, quantity, value``."""
    d = networks.data[networks.flip_data]
    blank = torch.zeros(d.x_test.shape[1:], device=d.x_test.device)
    frames = []
    for k, net, source, target, x_src in flip_cases(params, networks):
        gxi = attr.gradient_x_input(net, x_src, source)
        values: list[tuple[str, str, np.ndarray]] = [
            (f"bias ({rule})", RHO, attr.rank_agreement(attr.bias_attribution(net, x_src, source, rule), gxi))
            for rule in attr.BIAS_RULES]
        for n in params.ig_steps:
            ig, delta = attr.integrated_gradients(net, x_src, source, n, blank, params.ig_method)
            values.append((f"IG n={n}", DELTA, delta.abs().cpu().numpy()))
            if n == max(params.ig_steps):
                values.append((f"IG n={n}", RHO, attr.rank_agreement(ig, gxi)))
        for method, quantity, v in values:
            frames.append(pd.DataFrame({"pair": f"{source}→{target}", "network": k, "image": np.arange(len(v)),
                                        "method": method, "quantity": quantity, "value": v.astype(float)}))
    return pd.concat(frames, ignore_index=True)


def agreement_table(rows: pd.DataFrame) -> pd.DataFrame:
    """:func:`agreement_rows` per pair and method: the median ρ with gradient × input and the mean
    |completeness error| over images (all networks), and the number of images."""
    table = rows[rows.quantity == RHO].groupby(["pair", "method"], sort=False)["value"].median().rename(
        f"median {RHO}").to_frame()
    delta = rows[rows.quantity == DELTA].groupby(["pair", "method"], sort=False)["value"].mean().rename(
        f"mean {DELTA}")
    images = rows.drop_duplicates(["pair", "method", "network", "image"]).groupby(["pair", "method"], sort=False)[
        "image"].size().rename("images")
    return table.join(delta, how="outer").join(images).reset_index()


# --------------------------------------------------------------------------- the tests over networks

def paired_by_network(flip: pd.DataFrame, method: str, comparator: str, scale: float = 1.0) -> pd.Series:
    """Per network: the median over its images (all pairs) of rise(``method``) − ``scale`` ·
    rise(``comparator``), paired image by image. ``flip``: the digit-flip rows → ``(networks,)``."""
    wide = flip.pivot_table(index=["network", "pair", "image"], columns="method", values="rise")
    for m in (method, comparator):
        if m not in wide.columns:
            raise ValueError(f"method {m!r} is not in the digit-flip rows ({', '.join(map(str, wide.columns))})")
    return (wide[method] - scale * wide[comparator]).groupby(level="network").median()


def signed_rank_p(per_network: pd.Series) -> float:
    """One-sided p-value (scipy's Wilcoxon signed-rank test) that the per-network values lie above 0;
    1 when every value is 0 (no evidence either way), nan with no network."""
    values = per_network.to_numpy(dtype=float)
    if not len(values):
        return float("nan")
    return float(stats.wilcoxon(values, alternative="greater").pvalue) if np.any(values != 0) else 1.0


@dataclass(frozen=True)
class FlipTests:
    """The digit-flip and agreement tests over the networks, each one-sided (:func:`flip_tests`).

    ``vs_random``: rule → (median over networks of its per-network median gain over the random control,
    p); ``noninferior``: rule → method → p of rise(rule) − :data:`NONINFERIORITY` · rise(method) > 0;
    ``rho``: rule → (median over networks of its median ρ with gradient × input, p that IG's ρ is
    larger); ``rho_ig``: IG's median ρ (most steps); ``friedman``: the p of Friedman's test that
    the rules' per-network median rises differ; ``rule_medians``: rule → median over networks;
    ``delta``: IG's mean |completeness error| at the fewest and at the most steps (medians over the
    networks) and the p that it shrinks; ``alpha_rule``: :data:`ALPHA` over the number of rules."""

    rules: list[str]
    gradient_methods: list[str]
    n_networks: int
    vs_random: dict[str, tuple[float, float]]
    random_median: float
    noninferior: dict[str, dict[str, float]]
    method_medians: dict[str, float]
    rho: dict[str, tuple[float, float]]
    rho_ig: float
    ig_rho_method: str
    friedman: float
    rule_medians: dict[str, float]
    delta: tuple[str, float, str, float, float]
    alpha_rule: float

    def informative(self) -> list[str]:
        """The rules that beat the random control at ``alpha_rule``."""
        return [r for r in self.rules if self.vs_random[r][1] < self.alpha_rule]

    def competitive(self) -> dict[str, list[str]]:
        """Rule → the gradient-based methods it is non-inferior to at ``alpha_rule``."""
        return {r: [m for m in self.gradient_methods if self.noninferior[r][m] < self.alpha_rule] for r in self.rules}

    def complementary(self) -> list[str]:
        """The informative rules whose ρ with gradient × input is below IG's at ``alpha_rule``."""
        return [r for r in self.informative() if self.rho[r][1] < self.alpha_rule]


def flip_tests(flip: pd.DataFrame, agreement: pd.DataFrame) -> FlipTests:
    """The tests of :class:`FlipTests` from the digit-flip rows and :func:`agreement_rows`."""
    s = flip_summary(flip)
    rules, grads = s.bias_methods, s.gradient_methods
    by_net = flip.groupby(["method", "network"])["rise"].median()
    vs_random, noninferior = {}, {}
    for r in rules:
        gain = paired_by_network(flip, r, "random")
        vs_random[r] = (float(gain.median()), signed_rank_p(gain))
        noninferior[r] = {m: signed_rank_p(paired_by_network(flip, r, m, NONINFERIORITY)) for m in grads}
    rho_rows = agreement[agreement.quantity == RHO]
    rho_net = rho_rows.groupby(["method", "network"])["value"].median().unstack("method")
    ig_rho = [m for m in rho_net.columns if m.startswith("IG")]
    if len(ig_rho) != 1:
        raise ValueError(f"agreement must hold the ρ of exactly one IG step count, got {ig_rho}")
    rho = {r: (float(rho_net[r].median()), signed_rank_p((rho_net[ig_rho[0]] - rho_net[r]).dropna())) for r in rules}
    net_rules = by_net.unstack("method")[rules].dropna()
    friedman = float(stats.friedmanchisquare(*(net_rules[r] for r in rules)).pvalue) if len(net_rules) > 1 \
        else float("nan")
    deltas = agreement[agreement.quantity == DELTA].groupby(["method", "network"])["value"].mean().unstack("method")
    steps = sorted(deltas.columns, key=lambda m: int(m.removeprefix("IG n=")))
    first, last = steps[0], steps[-1]
    delta = (first, float(deltas[first].median()), last, float(deltas[last].median()),
             signed_rank_p((deltas[first] - deltas[last]).dropna()) if first != last else float("nan"))
    return FlipTests(rules=rules, gradient_methods=grads, n_networks=int(flip["network"].nunique()),
                     vs_random=vs_random, random_median=float(by_net["random"].median()), noninferior=noninferior,
                     method_medians={m: float(by_net[m].median()) for m in grads}, rho=rho,
                     rho_ig=float(rho_net[ig_rho[0]].median()), ig_rho_method=ig_rho[0], friedman=friedman,
                     rule_medians={r: float(by_net[r].median()) for r in rules}, delta=delta,
                     alpha_rule=ALPHA / len(rules))


def flip_test_numbers(t: FlipTests) -> dict[str, float | int | str]:
    """The test results the prose quotes, by glue name."""
    competitive = t.competitive()
    out: dict[str, float | int | str] = {
        "p2_n_informative": len(t.informative()), "p2_n_rules": len(t.rules), "p2_alpha_rule": t.alpha_rule,
        "p2_rho_ig": t.rho_ig, "p2_friedman_p": t.friedman, "p2_n_gradient": len(t.gradient_methods),
        "p2_most_competitive": max(len(v) for v in competitive.values()), "p2_n_complementary": len(t.complementary()),
        "p2_ig_delta_first": t.delta[1], "p2_ig_delta_last": t.delta[3], "p2_ig_delta_p": t.delta[4],
        "p2_random_net_median": t.random_median}
    for r in t.rules:
        key = r.removeprefix("bias (").removesuffix(")")
        out.update({f"p2_gain_{key}": t.vs_random[r][0], f"p2_gain_p_{key}": t.vs_random[r][1],
                    f"p2_rho_{key}": t.rho[r][0], f"p2_rho_p_{key}": t.rho[r][1]})
    return out


# --------------------------------------------------------------------------- attribution maps

def input_maps(networks: Networks, data: str, n_classes_shown: int, ig_steps: tuple[int, ...],
               ig_method: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """For the first ``n_classes_shown`` classes, the CNN's most confidently correct test image and its
    attributions for its own class: column title → ``(n, H, W)`` (summed over channels), and the
    row labels (class names)."""
    net, d = networks.models[f"{data} CNN"], networks.data[data]
    idx = attr.most_confident_per_class(net, d.x_test, d.y_test, d.n_classes)[:n_classes_shown]
    x, y = d.x_test[idx], d.y_test[idx]
    cols = {"image": x, "gradient×input": attr.gradient_x_input(net, x, y),
            f"IG n={max(ig_steps)}": attr.integrated_gradients(net, x, y, max(ig_steps), 0.0, ig_method)[0]}
    for rule in attr.BIAS_RULES:
        cols[f"bias ({rule})"] = attr.bias_attribution(net, x, y, rule)
    return {title: a.sum(1).detach().cpu().numpy() for title, a in cols.items()}, [d.classes[int(c)] for c in y]


def layer_maps(networks: Networks, data: str, cls: int | None) -> tuple[int, np.ndarray, dict[str, list[dict[str, object]]]]:
    """The CNN's most confidently correct test image of class ``cls`` (None: the first class with a
    correctly classified test image): the class, the image ``(H, W)`` and, per bias rule, its
    :func:`~equalnets.methods.attribution.spatial_maps`."""
    net, d = networks.models[f"{data} CNN"], networks.data[data]
    idx = attr.most_confident_per_class(net, d.x_test, d.y_test, d.n_classes)
    pick = [i for i in idx if cls is None or int(d.y_test[i]) == cls][:1]
    if not pick:
        raise ValueError(f"no correctly classified test image of class {cls} in {data}")
    cls = int(d.y_test[pick[0]])
    x = d.x_test[pick]
    return cls, x[0].sum(0).cpu().numpy(), {rule: attr.spatial_maps(net, x, cls, rule) for rule in attr.BIAS_RULES}


def layer_figure(networks: Networks, data: str, cls: int | None = None) -> Figure:
    """The figure of :func:`layer_maps` (static on the site, redrawn by the JupyterLab widget)."""
    cls, image, per_rule = layer_maps(networks, data, cls)
    return figures.layer_grid(image, per_rule, title=f"{data} CNN, class {networks.data[data].classes[cls]}: "
                                                     "logit split at each layer, N = 1 image")


# --------------------------------------------------------------------------- claims

def _p(p: float) -> str:
    return "nan" if np.isnan(p) else (f"{p:.1e}" if p < 1e-3 else f"{p:.3f}")


def claims(identity: pd.DataFrame, motivating: Motivating, flip: pd.DataFrame, agreement: pd.DataFrame) -> ClaimsTable:
    """The claims of the paper against the chapter's tables: ``identity`` (:func:`identity_table`),
    ``motivating`` (:func:`motivating_accuracy`), ``flip`` (the rows of :func:`digit_flip_test`) and
    ``agreement`` (:func:`agreement_rows`). Every rule's threshold is one of this module's constants."""
    t = flip_tests(flip, agreement)
    split, acc = split_tests(motivating), motivating.percent()
    n_net, a_rule = t.n_networks, t.alpha_rule
    table = ClaimsTable()

    identity_max, tol = float(identity["largest |error|"].max()), identity_tolerance(identity)
    scale = max(1.0, float(identity["largest |logit|"].max()))
    table.check("The network is exactly linear around x: f = Σ_p (∏W)[p]·x_ℓ[p] + β_ℓ[p] at every layer",
                "exact by construction (Sec. 3, Eq. 5–14)",
                f"largest |error| {identity_max:.1e} over {len(identity)} networks, every layer and logit",
                f"reproduced if the largest error ≤ {IDENTITY_EPS:.0e} × float64's epsilon × max(1, largest |logit|)",
                identity_max <= tol,
                reference=f"tolerance {tol:.1e} (largest |logit| {scale:.1f}); float32 rounding alone: "
                          f"{float(np.finfo(np.float32).eps) * scale:.1e}")

    table.check("Predicting from b_x alone beats chance",
                "Fashion-MNIST: only b 24.6 % against 10 % chance (talk's table)",
                f"only b {acc['b']:.1f} % of {motivating.n} test images (p = {_p(split.p_b)})",
                f"reproduced if an exact one-sided binomial test against the chance rate gives p < {ALPHA_SPLIT}",
                split.p_b < ALPHA_SPLIT, reference=f"chance {100 * motivating.chance:.1f} % (largest class share)")
    table.check("Predicting from J(x)·x alone loses accuracy",
                "Fashion-MNIST: full 94.7 %, only w·x 76.1 % (−18.6 points)",
                f"full {acc['full']:.1f} %, only w·x {acc['wx']:.1f} % ({acc['wx'] - acc['full']:+.1f} points, "
                f"p = {_p(split.p_wx)})",
                f"reproduced if an exact one-sided McNemar test over the test images gives p < {ALPHA_SPLIT}",
                split.p_wx < ALPHA_SPLIT, reference="no loss: 0 points")
    table.check("Training without bias costs accuracy",
                "Fashion-MNIST: 94.1 % without vs 94.7 % with bias (−0.6 points)",
                f"{acc['nobias']:.1f} % without vs {acc['full']:.1f} % with bias "
                f"({acc['nobias'] - acc['full']:+.1f} points, p = {_p(split.p_nobias)})",
                f"reproduced if an exact one-sided McNemar test over the test images gives p < {ALPHA} (one network "
                "each, as in the table: seed-to-seed noise is not in the test)",
                split.p_nobias < ALPHA, reference="no cost: 0 points")

    table.check("Bias attribution points at pixels that matter for the decision (digit flip)",
                "BBp maps are informative explanations (abstract; Fig. 3)",
                "median gain over random: " + "; ".join(
                    f"{r.removeprefix('bias ')} {t.vs_random[r][0]:+.2f} (p = {_p(t.vs_random[r][1])})" for r in t.rules),
                f"per network, the median over images of rise(rule) − rise(random); reproduced if for some rule a "
                f"one-sided Wilcoxon signed-rank test over the {n_net} networks gives p < {ALPHA}/{len(t.rules)}",
                bool(t.informative()), reference=f"random ranking: median rise {t.random_median:.2f}")

    competitive = t.competitive()
    best = max(t.rules, key=lambda r: (len(competitive[r]), -max(t.noninferior[r].values())))
    table.check("Bias attribution is competitive with gradient-based attribution (digit flip)",
                "Fig. 3 sets BBp beside gradient, gradient × input and integrated gradients",
                f"{best.removeprefix('bias ')}: non-inferior to {len(competitive[best])} of {len(t.gradient_methods)} "
                "(p = " + ", ".join(_p(t.noninferior[best][m]) for m in t.gradient_methods) + "); "
                f"its median rise {t.rule_medians[best]:.2f}",
                f"per network, the median over images of rise(rule) − {NONINFERIORITY} × rise(method); non-inferior "
                f"if a one-sided Wilcoxon test over the networks gives p < {ALPHA}/{len(t.rules)}; reproduced if a "
                "rule is non-inferior to every gradient-based method, partly if to some",
                len(competitive[best]) == len(t.gradient_methods), partly=len(competitive[best]) > 0,
                reference="median rises: " + ", ".join(f"{m} {v:.2f}" for m, v in t.method_medians.items()))

    table.check("Bias attribution is complementary to the gradient: informative, yet unlike gradient × input",
                "BBp gives explanations complementary to the gradient (abstract)",
                "median ρ with gradient × input: " + "; ".join(
                    f"{r.removeprefix('bias ')} {t.rho[r][0]:.2f} (p = {_p(t.rho[r][1])})" for r in t.rules),
                f"per network, the median over images of ρ(IG, g×i) − ρ(rule, g×i); reproduced if a rule that beats "
                f"random (above) has p < {ALPHA}/{len(t.rules)} in a one-sided Wilcoxon test over the networks",
                bool(t.complementary()), reference=f"{t.ig_rho_method} vs gradient × input: median ρ {t.rho_ig:.2f}")

    table.check("The choice of bias rule matters: the rules flip the digit by different amounts",
                "several rules for α (Eq. 15–18), compared side by side in Fig. 3",
                "median rise per rule: " + ", ".join(f"{r.removeprefix('bias ')} {v:.2f}"
                                                     for r, v in t.rule_medians.items()) + f" (p = {_p(t.friedman)})",
                f"reproduced if Friedman's test over the {n_net} networks' median rises of the {len(t.rules)} rules "
                f"gives p < {ALPHA}",
                t.friedman < ALPHA, reference="interchangeable rules: equal rises (Friedman's null)")

    first, d_first, last, d_last, p_delta = t.delta
    table.check("Integrated gradients need enough steps: the completeness error shrinks with n",
                "Fig. 3 runs IG-n for several n (IG's completeness, Sundararajan et al. 2017, Sec. 3)",
                f"{last}: mean |completeness error| {d_last:.3f} (p = {_p(p_delta)})",
                f"per network, the mean error at the fewest minus at the most steps; reproduced if a one-sided "
                f"Wilcoxon signed-rank test over the networks gives p < {ALPHA}",
                p_delta < ALPHA, reference=f"{first}: {d_first:.3f}")
    return table
