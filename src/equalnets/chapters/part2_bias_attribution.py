"""Part II Bias attribution: the chapter's networks (each a RunConfig served by the run store), the
exactness of the local linear split, the motivating table, the digit-flip test and the claims.

:func:`runs` names every network the chapter asks the store for, so a warm book trains none of
them; :func:`open_networks` loads them onto the chapter's device. The analysis functions compute
what the tables and figures show from those networks; :func:`claims` decides the verdicts from the
tables alone (the identity check, the motivating accuracies, the digit-flip rows and the agreement
rows), so a test can feed it made-up ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from ..analysis.claims import ClaimsTable
from ..engine.checks import (ParameterError, check_choice, check_float, check_int, check_int_list)
from ..engine.config import RunConfig
from ..engine.data import Dataset, DatasetNotFoundError, load_dataset
from ..figures import bias_attribution as figures
from ..methods import attribution as attr
from .base import ChapterParameters

TITLE = "Part II: bias attribution"
FLIP_DATASETS = ("digits", "mnist")
#: Captum's integration rules for integrated gradients.
IG_METHODS = ("riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid", "gausslegendre")
#: Each run's seed is the chapter's ``seed`` plus its offset: no two runs share member seeds.
SEED_OFFSETS = {"digits MLP": 0, "digits CNN": 1, "fashion-mnist CNN": 2, "fashion-mnist CNN without bias": 3,
                "mnist CNN": 4}
#: The Fashion-MNIST row of the talk's motivating table (test accuracy, %).
PAPER_MOTIVATING = {"source": "paper (Fashion-MNIST, its network)", "trained without bias": 94.1,
                    "with bias: full": 94.7, "only w·x": 76.1, "only b": 24.6}


@dataclass(frozen=True)
class Parameters(ChapterParameters):
    """The networks of Part II (small ReLU networks trained with Adam on raw intensities in [0, 1]) and
    the attribution experiments run on them."""

    seed: int = 0                           # seed of initialisation, batch order and the random control
    num_threads: int = 0                    # CPU threads for torch; 0 leaves torch's default
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
    flip_networks: int = 5                  # independently initialised CNNs in the digit-flip test
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
    """Every network the chapter asks the store for, by name (``'<data set> <network>'``).

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
        bias=False, seed=params.seed + SEED_OFFSETS["fashion-mnist CNN without bias"])
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
                        "n_models": 1, "seed": params.seed + SEED_OFFSETS[name], **fields})


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
    images, every layer and every logit (:func:`~equalnets.methods.attribution.identity_error`)."""
    rows = []
    for name, net in networks.models.items():
        data = networks.data[networks.datasets[name]]
        x = data.x_test[:images]
        rows.append({"data": data.name, "network": name.removeprefix(f"{data.name} "), "images": len(x),
                     "logits": data.n_classes, "layers": len(net), "largest |error|": attr.identity_error(net, x)})
    return pd.DataFrame(rows)


def motivating_accuracy(networks: Networks) -> dict[str, float]:
    """Test accuracies (%) of the Fashion-MNIST CNN predicting from its full logits (``full``), from
    J(x)·x only (``wx``) and from b_x only (``b``), and of the CNN trained without bias (``nobias``)."""
    d = networks.data["fashion-mnist"]
    split = attr.split_accuracy(networks.models["fashion-mnist CNN"], d.x_test, d.y_test)
    no_bias = attr.split_accuracy(networks.models["fashion-mnist CNN without bias"], d.x_test, d.y_test)["full"]
    return {**split, "nobias": no_bias}


def motivating_table(accuracy: dict[str, float], n_test: int) -> pd.DataFrame:
    """The talk's motivating table beside this book's row (:func:`motivating_accuracy`)."""
    ours = {"source": f"this book (Fashion-MNIST, {n_test} test images, small CNN)",
            "trained without bias": accuracy["nobias"], "with bias: full": accuracy["full"],
            "only w·x": accuracy["wx"], "only b": accuracy["b"]}
    return pd.DataFrame([PAPER_MOTIVATING, ours])


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


def digit_flip_test(params: Parameters, networks: Networks) -> FlipTest:
    """The digit-flip test of every method on every flip network and pair (the paper's Fig. 3)."""
    d = networks.data[networks.flip_data]
    n_features = d.x_test[0].numel()
    n_remove = max(1, round(params.flip_fraction * n_features))
    methods = attr.method_names(params.ig_steps)
    blank = torch.zeros(d.x_test.shape[1:], device=d.x_test.device)
    frames = []
    for k, net in enumerate(networks.flip):
        for source, target in params.flip_pairs:
            x_src = attr.correct_of_class(net, d.x_test, d.y_test, source, params.flip_images)
            if len(x_src) == 0:
                print(f"note: network {k} classifies no test image of {source} correctly; skipped for "
                      f"{source}→{target}")
                continue
            frames.append(attr.digit_flip(net, x_src, source, target, methods, n_remove, blank,
                                          ig_method=params.ig_method, seed=params.seed).assign(network=k))
    return FlipTest(frame=pd.concat(frames, ignore_index=True), data=networks.flip_data, methods=methods,
                    n_remove=int(n_remove), n_features=int(n_features), n_networks=len(networks.flip))


@dataclass(frozen=True)
class FlipSummary:
    """What the digit-flip rows say: ``medians`` (method × pair) of the rise; ``per_net`` the median
    per (pair, method, network) and ``net_medians`` the same as (pair, network) × method; the best
    bias rule and the best gradient method per pair; in how many (network, pair) cases the best
    bias rule beats the random control; the best rule's range over the networks per pair."""

    methods: list[str]
    bias_methods: list[str]
    ig_methods: list[str]
    pairs: list[str]
    medians: pd.DataFrame
    per_net: pd.DataFrame
    net_medians: pd.DataFrame
    best_bias: dict[str, str]
    best_grad: dict[str, str]
    wins: int
    cells: int
    spread: dict[str, tuple[float, float]]
    n_per_box: int


def flip_summary(flip: pd.DataFrame) -> FlipSummary:
    """The summary of digit-flip rows (columns ``pair``, ``method``, ``network``, ``rise``)."""
    methods = list(dict.fromkeys(flip["method"]))
    medians = flip.pivot_table(index="method", columns="pair", values="rise", aggfunc="median").loc[methods]
    bias_methods = [m for m in methods if m.startswith("bias")]
    pairs = list(medians.columns)
    best_bias = {p: medians.loc[bias_methods, p].idxmax() for p in pairs}
    gradient_methods = [m for m in methods if not m.startswith("bias") and m != "random"]
    per_net = flip.groupby(["pair", "method", "network"], sort=False)["rise"].median().reset_index()
    net_medians = per_net.pivot_table(index=["pair", "network"], columns="method", values="rise")
    wins = sum(int(row[best_bias[p]] > row["random"]) for (p, _k), row in net_medians.iterrows())
    spread = {p: (float(net_medians.loc[p, best_bias[p]].min()), float(net_medians.loc[p, best_bias[p]].max()))
              for p in pairs}
    return FlipSummary(methods=methods, bias_methods=bias_methods,
                       ig_methods=[m for m in methods if m.startswith("IG")], pairs=pairs, medians=medians,
                       per_net=per_net, net_medians=net_medians, best_bias=best_bias,
                       best_grad={p: medians.loc[gradient_methods, p].idxmax() for p in pairs}, wins=wins,
                       cells=len(net_medians), spread=spread,
                       n_per_box=int(flip.groupby(["pair", "method"]).size().min()))


def flip_numbers(s: FlipSummary) -> dict[str, float | int | str]:
    """The digit-flip numbers the prose quotes, by glue name."""
    out: dict[str, float | int | str] = {}
    for pair in s.pairs:
        tag = pair.replace("→", "to")
        for m in s.methods:
            key = m.replace(" ", "_").replace("(", "").replace(")", "").replace("=", "").replace("×", "x")
            out[f"p2_median_{tag}_{key}"] = float(s.medians.loc[m, pair])
    out.update(p2_bias_wins=s.wins, p2_bias_cells=s.cells, p2_gxi_min=float(s.net_medians["gradient×input"].min()),
               p2_gxi_max=float(s.net_medians["gradient×input"].max()))
    for i, p in enumerate(s.pairs):
        out.update({f"p2_bias_min{i}": s.spread[p][0], f"p2_bias_max{i}": s.spread[p][1], f"p2_pair{i}": p,
                    f"p2_best_bias{i}": s.best_bias[p], f"p2_best_grad{i}": s.best_grad[p],
                    f"p2_best_bias_median{i}": float(s.medians.loc[s.best_bias[p], p]),
                    f"p2_best_grad_median{i}": float(s.medians.loc[s.best_grad[p], p]),
                    f"p2_random_median{i}": float(s.medians.loc["random", p])})
    return out


def agreement_table(params: Parameters, networks: Networks) -> pd.DataFrame:
    """Per pair: the median Spearman ρ of each bias rule against gradient × input (source class), and
    the mean |completeness error| of integrated gradients for each step count, over the flip networks."""
    d = networks.data[networks.flip_data]
    blank = torch.zeros(d.x_test.shape[1:], device=d.x_test.device)
    rows = []
    for source, target in params.flip_pairs:
        rho: dict[str, list[np.ndarray]] = {rule: [] for rule in attr.BIAS_RULES}
        delta: dict[int, list[np.ndarray]] = {n: [] for n in params.ig_steps}
        for net in networks.flip:
            x_src = attr.correct_of_class(net, d.x_test, d.y_test, source, params.flip_images)
            if len(x_src) == 0:
                continue
            gxi = attr.gradient_x_input(net, x_src, source)
            for rule in attr.BIAS_RULES:
                rho[rule].append(attr.rank_agreement(attr.bias_attribution(net, x_src, source, rule), gxi))
            for n in params.ig_steps:
                delta[n].append(attr.integrated_gradients(net, x_src, source, n, blank, params.ig_method)[1]
                                .abs().cpu().numpy())
        for rule in attr.BIAS_RULES:
            r = np.concatenate(rho[rule])
            rows.append({"pair": f"{source}→{target}", "method": f"bias ({rule})",
                         "compared": f"bias ({rule}) vs gradient×input", "median Spearman ρ": float(np.median(r)),
                         "images": len(r)})
        for n in params.ig_steps:
            d_ = np.concatenate(delta[n])
            rows.append({"pair": f"{source}→{target}", "method": f"IG n={n}",
                         "compared": f"IG n={n}: mean |completeness error|", "median Spearman ρ": np.nan,
                         "images": len(d_), "IG |delta|": float(d_.mean())})
    return pd.DataFrame(rows)


def agreement_summary(agreement: pd.DataFrame, best_bias: dict[str, str]) -> tuple[float, pd.Series]:
    """The largest median ρ of the best bias rule (per pair) against gradient × input, and IG's mean
    |completeness error| per step count (in the table's order)."""
    rho_bias = agreement.dropna(subset=["median Spearman ρ"])
    rho_best = max(float(rho_bias.loc[(rho_bias["pair"] == p) & (rho_bias["method"] == best_bias[p]),
                                      "median Spearman ρ"].iloc[0]) for p in best_bias)
    ig_delta = agreement.dropna(subset=["IG |delta|"]).groupby("compared", sort=False)["IG |delta|"].mean()
    return rho_best, ig_delta


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


def layer_maps(networks: Networks, data: str, cls: int) -> tuple[np.ndarray, dict[str, list[dict[str, object]]]]:
    """The CNN's most confidently correct test image of class ``cls`` (``(H, W)``) and, per bias rule,
    its :func:`~equalnets.methods.attribution.spatial_maps`."""
    net, d = networks.models[f"{data} CNN"], networks.data[data]
    idx = attr.most_confident_per_class(net, d.x_test, d.y_test, d.n_classes)
    pick = [i for i in idx if int(d.y_test[i]) == cls][:1]
    if not pick:
        raise ValueError(f"no correctly classified test image of class {cls} in {data}")
    x = d.x_test[pick]
    return x[0].sum(0).cpu().numpy(), {rule: attr.spatial_maps(net, x, cls, rule) for rule in attr.BIAS_RULES}


def layer_figure(networks: Networks, data: str, cls: int) -> Figure:
    """The figure of :func:`layer_maps` (static on the site, redrawn by the JupyterLab widget)."""
    image, per_rule = layer_maps(networks, data, cls)
    return figures.layer_grid(image, per_rule, title=f"{data} CNN, class {networks.data[data].classes[cls]}: "
                                                     "logit split at each layer, N = 1 image")


# --------------------------------------------------------------------------- claims

def claims(identity: pd.DataFrame, motivating: dict[str, float], flip: pd.DataFrame,
           agreement: pd.DataFrame) -> ClaimsTable:
    """The claims of the paper against the chapter's tables: ``identity`` (:func:`identity_table`),
    ``motivating`` (:func:`motivating_accuracy`), ``flip`` (the rows of :func:`digit_flip_test`) and
    ``agreement`` (:func:`agreement_table`)."""
    s = flip_summary(flip)
    medians, best_bias, pairs, wins, cells_total = s.medians, s.best_bias, s.pairs, s.wins, s.cells
    rho_best, ig_delta = agreement_summary(agreement, best_bias)
    ig_steps = [int(m.removeprefix("IG n=")) for m in s.ig_methods]
    identity_max = float(identity["largest |error|"].max())
    split, no_bias, chance = motivating, motivating["nobias"], 100.0 / 10
    table = ClaimsTable()
    table.check("The network is exactly linear around x: f = Σ_p (∏W)[p]·x_ℓ[p] + β_ℓ[p] at every layer",
                "exact by construction (Sec. 3, Eq. 5–14)",
                f"largest |error| {identity_max:.1e} over {len(identity)} networks, all layers and logits",
                "reproduced if the largest error ≤ 1e-9 (float64)", identity_max <= 1e-9)
    wx_gap = split["full"] - split["wx"]
    table.check("The bias carries part of the decision: predicting from b_x alone beats chance, "
                "from J(x)·x alone loses accuracy",
                "Fashion-MNIST: full 94.7, only w·x 76.1, only b 24.6 (talk's table)",
                f"full {split['full']:.1f}, only w·x {split['wx']:.1f}, only b {split['b']:.1f}",
                "reproduced if only-b ≥ 2 × chance (20 %) and only-w·x ≤ full − 2 points; partly if one holds",
                split["b"] >= 2 * chance and wx_gap >= 2, partly=split["b"] >= 2 * chance or wx_gap >= 2)
    table.check("Training without bias costs some accuracy",
                "Fashion-MNIST: 94.1 without vs 94.7 with bias",
                f"{no_bias:.1f} without vs {split['full']:.1f} with bias",
                "reproduced if lower without bias; partly if at most 1 point higher (within test noise)",
                no_bias < split["full"], partly=no_bias <= split["full"] + 1)
    beats_random = wins == cells_total
    table.check("Bias attribution points at pixels that matter for the decision (digit flip)",
                "BBp maps are informative explanations (abstract; Fig. 3)",
                "; ".join(f"{p}: best bias {medians.loc[best_bias[p], p]:.2f} vs random {medians.loc['random', p]:.2f}"
                          for p in pairs) + f"; beats random in {wins} of {cells_total} (network, pair) cases",
                "reproduced if the best bias rule's median rise beats random in every network and pair; "
                "partly if in at least half",
                beats_random, partly=wins >= cells_total / 2)
    table.check("Bias attribution is complementary to gradient-based attribution",
                "BBp gives explanations complementary to the gradient (abstract)",
                f"median Spearman ρ of the best bias rule vs gradient×input ≤ {rho_best:.2f}",
                "reproduced if ρ is below 0.5 and the previous claim is reproduced; partly if only ρ is below 0.5",
                rho_best < 0.5 and beats_random, partly=rho_best < 0.5)
    rank = {p: list(medians.loc[s.bias_methods, p].sort_values(ascending=False).index) for p in pairs}
    same_top = len({rank[p][0] for p in pairs}) == 1
    same_order = len({tuple(rank[p]) for p in pairs}) == 1
    table.check("The bias rules are not interchangeable: one ranks first consistently",
                "several rules for α (Eq. 15–18), compared in the experiments",
                "; ".join(f"{p}: " + " > ".join(m.removeprefix("bias ") for m in rank[p]) for p in pairs),
                "reproduced if the same order in every pair; partly if only the same best rule",
                same_order, partly=same_top)
    ig_ratio = min(medians.loc[best_bias[p], p] / medians.loc[m, p] if medians.loc[m, p] > 0 else np.inf
                   for p in pairs for m in s.ig_methods)
    ig_any = any(medians.loc[best_bias[p], p] >= 0.8 * medians.loc[m, p] for p in pairs for m in s.ig_methods)
    table.check("Bias attribution is competitive with integrated gradients (n = " + ", ".join(map(str, ig_steps)) + ")",
                "Fig. 3 compares BBp with IG and other gradient methods",
                f"smallest ratio of best-bias median to IG median: {ig_ratio:.2f}",
                "reproduced if best-bias median ≥ 0.8 × IG median for every n and pair; partly if for some",
                ig_ratio >= 0.8, partly=ig_any)
    monotone = bool(np.all(np.diff(ig_delta.values) <= 1e-12))
    table.check("Integrated gradients need enough steps: the completeness error shrinks with n",
                "Sundararajan et al. 2017, Sec. 3 (IG's completeness)",
                ", ".join(f"n={n}: {v:.3f}" for n, v in zip(ig_steps, ig_delta.values)),
                "reproduced if the mean |completeness error| does not grow with n",
                monotone)
    return table
