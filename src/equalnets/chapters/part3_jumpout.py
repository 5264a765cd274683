"""Part III, Jumpout: plain dropout against each of Jumpout's three changes and all three, on two small ReLU networks.

The chapter asks the run store for one run per (architecture, variant) (:func:`runs`): ``n_seeds`` networks
each, every run with seeds of its own, recording ``q⁺`` at every dropout layer's input after every epoch.
:func:`compare_variants` turns the runs into the tables the figures draw; :func:`moment_shifts` measures the
train/test moment shift in the first network of the CNN dropout run; :func:`step_costs` times a training step
of the CNN with dropout and with jumpout, taking turns; :func:`claims` decides the verdicts from the runs, that
shift table and those timings alone (the paper: Wang, Zhou & Bilmes, ICML 2019).

Every verdict is a one-sided test against a reference computed in the same run, at a level fixed here before
any network is trained (:data:`ALPHA`, :data:`ALPHA_LAYERS`, :data:`LAYER_RATIO`, :data:`COST_MARGIN`):
accuracy gains by Welch's t-test across the networks of two runs (their seeds differ, so the test is not
paired), layer differences of ``q⁺`` by a one-way ANOVA across the networks, the rescaling by a Wilcoxon
signed-rank test across units, the cost by a t-test of the per-turn log time ratio.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ..analysis.claims import ClaimsTable
from ..engine.checks import (ParameterError, check_choice, check_choice_list, check_float, check_float_list,
                             check_int, check_int_list, check_probability)
from ..engine.config import Q_MODES, SMALL_ARCHS, RunConfig, derived_seed
from ..engine.data import Dataset
from ..engine.layers import Jumpout, sigma_for_mean_rate
from ..engine.models import network
from ..engine.store import Run, RunStore
from ..engine.train import dropout_layers
from ..methods.jumpout import gaussian_mismatch, shift_table, step_seconds
from .base import ChapterParameters

TITLE = "Part III — Jumpout"

#: The dropout variants compared in the chapter: none, plain dropout, each change alone, all three.
VARIANTS = ("none", "dropout", "sampled", "normalised", "rescaled", "jumpout")
#: Level of the one-sided tests of accuracy gains, of the rescaling and of the cost.
ALPHA = 0.05
#: Level of the test that ``q⁺`` differs between the layers of a network (one-way ANOVA).
ALPHA_LAYERS = 0.01
#: The layers' ``q⁺`` must differ by at least this ratio (largest over smallest layer mean) to matter.
LAYER_RATIO = 1.2
#: Jumpout costs "about as much" as dropout when its training step takes less than this many times as long.
COST_MARGIN = 1.25


@dataclass(frozen=True)
class Parameters(ChapterParameters):
    """The chapter's networks (a CNN with batch norm and a ReLU MLP), their training and the dropout variants;
    defaults: the ``quick`` profile (2,500 / 3,000 Fashion-MNIST images, 8 epochs, N = 3 per run)."""

    n_seeds: int = 3
    seed: int = 0
    dataset: str = "fashion-mnist"
    train_per_class: int | None = 250
    test_per_class: int | None = 300
    epochs: int = 8
    batch_size: int = 100
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    archs: tuple[str, ...] = ("cnn", "mlp")
    variants: tuple[str, ...] = ("dropout", "sampled", "normalised", "rescaled", "jumpout")
    dropout_rate: float = 0.1
    p_min: float = 0.0
    p_max: float = 0.6
    sigma: float | None = None
    rescale_power: float = 0.75
    q_mode: str = "batch"
    cnn_widths: tuple[int, ...] = (8, 16, 32)
    cnn_hidden: int = 64
    mlp_widths: tuple[int, ...] = (256, 256)
    probe_size: int = 500
    shift_rates: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
    shift_powers: tuple[float, ...] = (1.0, 0.75, 0.5)

    def check(self) -> None:
        check_int("n_seeds", self.n_seeds, 1)
        check_int("seed", self.seed, 0)
        self.set("archs", check_choice_list("archs", self.archs, SMALL_ARCHS))
        self.set("variants", check_choice_list("variants", self.variants, VARIANTS))
        if self.variants == ("none",):
            raise ParameterError("variants must name at least one variant with dropout besides 'none' "
                                 f"(among {', '.join(VARIANTS[1:])})")
        for name in ("dropout_rate", "p_min", "p_max"):
            self.set(name, check_probability(name, getattr(self, name)))
        if self.p_min > self.p_max:
            raise ParameterError(f"p_min must be <= p_max, got p_min={self.p_min:g} > p_max={self.p_max:g}")
        if self.sigma is not None:
            self.set("sigma", check_float("sigma", self.sigma, low=0, low_open=True))
        elif not self.p_min < self.dropout_rate < self.p_max:
            raise ParameterError(f"dropout_rate must lie strictly between p_min={self.p_min:g} and p_max="
                                 f"{self.p_max:g} when sigma is None (sigma is chosen so that the mean drawn "
                                 f"rate is dropout_rate), got {self.dropout_rate:g}")
        self.set("rescale_power", check_float("rescale_power", self.rescale_power, low=0, high=1, low_open=True))
        check_choice("q_mode", self.q_mode, Q_MODES)
        self.set("cnn_widths", check_int_list("cnn_widths", self.cnn_widths, 1))
        check_int("cnn_hidden", self.cnn_hidden, 1)
        self.set("mlp_widths", check_int_list("mlp_widths", self.mlp_widths, 1))
        check_int("probe_size", self.probe_size, 1)
        self.set("shift_rates", check_float_list("shift_rates", self.shift_rates, low=0, high=1, high_open=True))
        self.set("shift_powers", check_float_list("shift_powers", self.shift_powers, low=0, high=1, low_open=True))
        runs(self)  # every RunConfig field checked here, before anything is trained

    def rate_sigma(self) -> float:
        """σ of the drawn rate: ``sigma``, or (None) the σ whose mean drawn rate is ``dropout_rate``."""
        return self.sigma if self.sigma is not None else sigma_for_mean_rate(self.dropout_rate, self.p_min,
                                                                             self.p_max)


def run_name(arch: str, variant: str) -> str:
    """The name of the run of (``arch``, ``variant``) in :func:`runs`, e.g. ``'cnn/jumpout'``."""
    return f"{arch}/{variant}"


def variant_of(config: RunConfig) -> str:
    """The :data:`VARIANTS` name of a run's dropout: ``none``, ``dropout`` (standard) or a Jumpout kind."""
    if not config.dropout:
        return "none"
    return "dropout" if config.dropout_kind == "standard" else config.dropout_kind


def runs(params: Parameters) -> dict[str, RunConfig]:
    """The runs the chapter asks the store for, by :func:`run_name`: every architecture × variant, N =
    ``n_seeds`` networks each with the seed :func:`~equalnets.engine.config.derived_seed` gives its name,
    trained at a constant learning rate (``lr_decay_every=0``), ``q⁺`` of every dropout input recorded on
    the first ``probe_size`` training images."""
    out = {}
    for arch in params.archs:
        hidden = params.cnn_widths + (params.cnn_hidden,) if arch == "cnn" else params.mlp_widths
        base = RunConfig(dataset=params.dataset, train_per_class=params.train_per_class,
                         test_per_class=params.test_per_class, arch=arch, hidden=hidden, batch_norm=arch == "cnn",
                         optimizer=params.optimizer, lr=params.lr, momentum=params.momentum,
                         weight_decay=params.weight_decay, batch_size=params.batch_size, lr_decay_every=0,
                         epochs=params.epochs, n_models=params.n_seeds, seed=0)
        for variant in params.variants:
            seed = derived_seed(params.seed, run_name(arch, variant))  # no two runs share a member seed
            if variant == "none":
                out[run_name(arch, variant)] = base.replace(dropout=False, seed=seed)
            elif variant == "dropout":
                out[run_name(arch, variant)] = base.replace(dropout_p=params.dropout_rate, seed=seed,
                                                            record_active=params.probe_size)
            else:
                out[run_name(arch, variant)] = base.replace(
                    dropout_p=params.dropout_rate, dropout_kind=variant, jumpout_sigma=params.sigma,
                    jumpout_p_min=params.p_min, jumpout_p_max=params.p_max, jumpout_power=params.rescale_power,
                    jumpout_q_mode=params.q_mode, record_active=params.probe_size, seed=seed)
    return out


def open_variant_runs(params: Parameters) -> tuple[dict[str, Run], Dataset]:
    """Every run of :func:`runs` from the chapter's store (trained first where missing) and their data set,
    loaded once."""
    configs = runs(params)
    data = RunStore.dataset_for(next(iter(configs.values())))  # one data set for all: same dataset fields
    return {name: params.open(config, data)[0] for name, config in configs.items()}, data


def layer_names(runs: Mapping[str, Run]) -> dict[str, list[str]]:
    """The module names of the dropout layers (the columns of ``Run.active``) of every run that records
    ``q⁺``, read from its first trained network."""
    return {name: list(dropout_layers(run.model(0))) for name, run in runs.items() if run.active is not None}


@dataclass(frozen=True)
class Comparison:
    """Results of :func:`compare_variants`.

    ``results``: one row per (arch, variant, member) with ``test_acc`` (at the last epoch) and
    ``train_seconds`` (the member's training steps); ``active``: ``q⁺`` per (arch, variant, member, epoch,
    layer) on the probe images, epoch 0 being the untrained network.
    """

    results: pd.DataFrame
    active: pd.DataFrame


def compare_variants(runs: Mapping[str, Run], layers: Mapping[str, Sequence[str]] | None = None) -> Comparison:
    """The tables of :class:`Comparison` from the runs (any names; arch and variant come from each run's
    config). ``layers``: the dropout layers' names per run (:func:`layer_names`); without, ``layer 0``, ..."""
    results, active = [], []
    for name, run in runs.items():
        arch, variant = run.config.arch, variant_of(run.config)
        seconds = run.seconds if run.seconds is not None else np.full(run.n_models, np.nan)
        acc = run.test.accuracy()[:, -1]
        results.append(pd.DataFrame(dict(arch=arch, variant=variant, member=np.arange(run.n_models),
                                         test_acc=acc, train_seconds=seconds)))
        if run.active is not None:
            n, e, n_layers = run.active.shape
            names = list(layers[name]) if layers is not None and name in layers else \
                [f"layer {i}" for i in range(n_layers)]
            member, epoch, layer = np.meshgrid(np.arange(n), run.epochs, np.arange(n_layers), indexing="ij")
            active.append(pd.DataFrame(dict(arch=arch, variant=variant, member=member.ravel(), epoch=epoch.ravel(),
                                            layer=np.asarray(names)[layer.ravel()],
                                            q_plus=run.active.ravel().astype(float))))
    columns = ["arch", "variant", "member", "epoch", "layer", "q_plus"]
    return Comparison(pd.concat(results, ignore_index=True),
                      pd.concat(active, ignore_index=True) if active else pd.DataFrame(columns=columns))


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (ddof=1; 0 for one network) of test accuracy and training time per
    (arch, variant), with the number of networks: ``(networks) -> (arch × variant)``."""
    g = results.groupby(["arch", "variant"], sort=False)
    out = g.agg(acc_mean=("test_acc", "mean"), acc_sd=("test_acc", "std"),
                seconds_mean=("train_seconds", "mean"), seconds_sd=("train_seconds", "std"),
                n=("member", "count")).reset_index()
    return out.fillna({"acc_sd": 0.0, "seconds_sd": 0.0})


def comparison_table(summary: pd.DataFrame, variants: Sequence[str]) -> pd.DataFrame:
    """:func:`summarize`'s numbers as ``mean ± SD`` strings (accuracy in %, time in s), one row per variant
    and one column per (quantity, arch)."""
    table = summary.assign(
        accuracy=[f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in zip(summary.acc_mean, summary.acc_sd)],
        time_s=[f"{m:.1f} ± {s:.1f}" for m, s in zip(summary.seconds_mean, summary.seconds_sd)])
    return table.pivot(index="variant", columns="arch", values=["accuracy", "time_s"]).reindex(list(variants))


def accuracies(results: pd.DataFrame, arch: str, variant: str) -> np.ndarray:
    """Test accuracy of every network of (``arch``, ``variant``): ``(N,)``."""
    return results[(results.arch == arch) & (results.variant == variant)].sort_values("member").test_acc.to_numpy()


def time_ratio(summary: pd.DataFrame, arch: str = "cnn") -> float:
    """Mean training time of jumpout over that of plain dropout for ``arch`` (NaN where either is missing)."""
    t = summary.set_index(["arch", "variant"]).seconds_mean
    if (arch, "jumpout") not in t.index or (arch, "dropout") not in t.index:
        return float("nan")
    return float(t[(arch, "jumpout")] / t[(arch, "dropout")])


@dataclass(frozen=True)
class GainTest:
    """Welch's t-test of the accuracy gain of ``b`` over ``a`` (two runs of different seeds, not paired).

    ``gain``: mean(b) − mean(a); ``low``, ``high``: its two-sided 95 % interval; ``p``: one-sided
    p-value that b is more accurate; ``detectable``: the smallest gain the one-sided test at
    :data:`ALPHA` would have called significant with the spreads measured (nan with fewer than two
    networks in a run); ``n_a``, ``n_b``: the networks."""

    gain: float
    low: float
    high: float
    p: float
    detectable: float
    n_a: int
    n_b: int

    def describe(self) -> str:
        return (f"{100 * self.gain:+.2f} points (95 % CI {100 * self.low:+.2f} to {100 * self.high:+.2f}; "
                f"p = {self.p:.3f}; N = {self.n_a} + {self.n_b})")


def gain_test(a: np.ndarray, b: np.ndarray) -> GainTest:
    """:class:`GainTest` of ``b`` ``(n_b,)`` over ``a`` ``(n_a,)`` (scipy's ``ttest_ind`` with
    ``equal_var=False``)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.ndim != 1 or b.ndim != 1 or a.size < 1 or b.size < 1:
        raise ValueError(f"a and b must be (n,) arrays with at least one value each, got {a.shape} and {b.shape}")
    gain = float(b.mean() - a.mean())
    if a.size < 2 or b.size < 2:
        nan = float("nan")
        return GainTest(gain, nan, nan, nan, nan, int(a.size), int(b.size))
    with np.errstate(invalid="ignore", divide="ignore"):
        one = stats.ttest_ind(b, a, equal_var=False, alternative="greater")
        ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    detectable = float(stats.t.ppf(1 - ALPHA, one.df) * se) if se > 0 else 0.0
    return GainTest(gain, float(ci.low), float(ci.high), float(one.pvalue), detectable, int(a.size), int(b.size))


def plain_variant(variants: Sequence[str]) -> str:
    """The variant whose ``q⁺`` and trained network the chapter measures: ``dropout``, else the first with
    dropout."""
    return "dropout" if "dropout" in variants else next(v for v in variants if v != "none")


@dataclass(frozen=True)
class ActiveSummary:
    """``q⁺`` at the end of training in the runs of one variant.

    ``final``: (arch, layer) → mean over the networks at the last recorded epoch; ``spread``: arch → largest
    minus smallest ``final`` within that network; ``on_active``: the rate ``p / q⁺`` that the normalised
    variants apply to the active units, capped at :class:`~equalnets.engine.layers.Jumpout`'s ``max_rate``.
    """

    final: pd.Series
    spread: pd.Series
    on_active: pd.Series


def summarize_active(active: pd.DataFrame, variant: str, p: float) -> ActiveSummary:
    """:class:`ActiveSummary` of ``variant``'s rows of ``active`` (:class:`Comparison`), at base rate ``p``."""
    plain = active[active.variant == variant]
    final = plain[plain.epoch == plain.epoch.max()].groupby(["arch", "layer"]).q_plus.mean()
    spread = final.groupby("arch").agg(lambda q: q.max() - q.min())
    return ActiveSummary(final, spread, (p / final).clip(upper=Jumpout().max_rate))


def moment_shifts(runs: Mapping[str, Run], data: Dataset, params: Parameters) -> pd.DataFrame:
    """:func:`~equalnets.methods.jumpout.shift_table` of the first network of the CNN run of the plain
    variant (the first architecture if there is no CNN), on the first ``probe_size`` training images."""
    arch = "cnn" if "cnn" in params.archs else params.archs[0]
    model = runs[run_name(arch, plain_variant(params.variants))].model(0).to(params.device)
    probe = data.x_train[:params.probe_size].to(params.device)
    return shift_table(model, probe, rates=list(params.shift_rates), powers=list(params.shift_powers),
                       seed=params.seed)


def shift_summary(shifts: pd.DataFrame, rate: float) -> tuple[float, pd.DataFrame]:
    """The shift table's rate closest to ``rate``, and at it, per rescaling power, the median over units
    and layers of |mean shift| (``abs_mean``, in training SDs) and of |log variance ratio| (``abs_logvar``)."""
    nearest = min(shifts.rate.unique(), key=lambda r: abs(r - rate))
    at_p = shifts[np.isclose(shifts.rate, nearest)]
    summary = (at_p.assign(abs_mean=at_p.mean_shift.abs(), abs_logvar=np.log(at_p.var_ratio).abs())
               .groupby("power")[["abs_mean", "abs_logvar"]].median())
    return float(nearest), summary


@dataclass(frozen=True)
class LayerTest:
    """Whether ``q⁺`` at the end of training differs between the dropout layers of one architecture:
    the layers' means over the networks (``means``), largest over smallest (``ratio``), the one-way
    ANOVA p-value across the networks (``p``; nan with one network or one layer) and the largest SD
    of one layer over the networks (``sd``)."""

    arch: str
    means: pd.Series
    ratio: float
    p: float
    sd: float


def layer_tests(active: pd.DataFrame, variant: str) -> list[LayerTest]:
    """:class:`LayerTest` per architecture from ``active`` (:class:`Comparison`) for ``variant``'s networks."""
    plain = active[active.variant == variant]
    out = []
    for arch, part in plain.groupby("arch", sort=False):
        final = part[part.epoch == part.epoch.max()]
        groups = [g.q_plus.to_numpy() for _, g in final.groupby("layer", sort=False)]
        means = final.groupby("layer", sort=False).q_plus.mean()
        p = float("nan")
        if len(groups) > 1 and min(map(len, groups)) > 1 and any(np.ptp(g) > 0 for g in groups):
            p = float(stats.f_oneway(*groups).pvalue)
        out.append(LayerTest(arch=str(arch), means=means, ratio=float(means.max() / means.min()) if means.min() > 0
                             else float("inf"), p=p, sd=float(final.groupby("layer").q_plus.std().max())))
    return out


@dataclass(frozen=True)
class ShiftTest:
    """The rescaling at the rate closest to the chapter's: per power, the median over units of the
    mismatch :func:`~equalnets.methods.jumpout.gaussian_mismatch` (``median``, nats); the one-sided
    Wilcoxon p-value over units that jumpout's power gives a smaller mismatch than plain dropout's 1
    (``p``), and the number of units."""

    rate: float
    median: pd.Series
    p: float
    units: int


def shift_test(shifts: pd.DataFrame, rate: float, power: float = 0.75) -> ShiftTest:
    """:class:`ShiftTest` of ``power`` against 1 in the shift table (:func:`moment_shifts`)."""
    if not {1.0, power} <= set(shifts.power):
        raise ValueError(f"shifts must hold the powers 1 and {power}, got {sorted(set(shifts.power))}")
    nearest = float(min(shifts.rate.unique(), key=lambda r: abs(r - rate)))
    at = shifts[np.isclose(shifts.rate, nearest)]
    kl = at.assign(kl=gaussian_mismatch(at.mean_shift.to_numpy(), at.var_ratio.to_numpy()))
    wide = kl.pivot_table(index=["layer", "unit"], columns="power", values="kl")
    diff = (wide[1.0] - wide[power]).to_numpy()
    p = float(stats.wilcoxon(diff, alternative="greater").pvalue) if np.any(diff != 0) else 1.0
    return ShiftTest(rate=nearest, median=kl.groupby("power").kl.median(), p=p, units=len(wide))


def step_costs(params: Parameters, data: Dataset, repeats: int = 20) -> pd.DataFrame:
    """:func:`~equalnets.methods.jumpout.step_seconds` of a fresh network of the first architecture with
    plain dropout and with jumpout (their configs from :func:`runs`), on one mini-batch of the training
    images, taking turns ``repeats`` times. Columns ``repeat, model, seconds``."""
    arch = params.archs[0]
    configs = runs(dataclasses.replace(params, variants=("dropout", "jumpout")))
    shape = data.x_train.shape
    models = {}
    for variant in ("dropout", "jumpout"):
        torch.manual_seed(params.seed)  # the same initial weights for both
        models[variant] = network(configs[run_name(arch, variant)], in_channels=shape[1], image_size=shape[-1],
                                  n_classes=data.n_classes).to(params.device)
    x = data.x_train[:params.batch_size].to(params.device)
    y = data.y_train[:params.batch_size].to(params.device)
    return step_seconds(models, x, y, repeats=repeats)


@dataclass(frozen=True)
class CostTest:
    """Jumpout's training step against plain dropout's, turn by turn: the geometric mean of the time
    ratio (``ratio``) with its 95 % interval, the one-sided p-value that it is below
    :data:`COST_MARGIN` (t-test of the log ratios), dropout's median step (``dropout_s``) and the
    number of turns."""

    ratio: float
    low: float
    high: float
    p: float
    dropout_s: float
    repeats: int


def cost_test(costs: pd.DataFrame) -> CostTest:
    """:class:`CostTest` from :func:`step_costs`'s table (models ``dropout`` and ``jumpout``)."""
    wide = costs.pivot_table(index="repeat", columns="model", values="seconds")
    if not {"dropout", "jumpout"} <= set(wide.columns) or len(wide) < 2:
        raise ValueError("costs must time the models 'dropout' and 'jumpout' in at least two turns")
    log_ratio = np.log(wide["jumpout"].to_numpy() / wide["dropout"].to_numpy())
    test = stats.ttest_1samp(log_ratio, math.log(COST_MARGIN), alternative="less")
    ci = stats.ttest_1samp(log_ratio, 0.0).confidence_interval(0.95)
    return CostTest(ratio=float(np.exp(log_ratio.mean())), low=float(np.exp(ci.low)), high=float(np.exp(ci.high)),
                    p=float(test.pvalue), dropout_s=float(wide["dropout"].median()), repeats=len(wide))


def claims(runs: Mapping[str, Run], shifts: pd.DataFrame | None = None, *, dropout_rate: float = 0.1,
           costs: pd.DataFrame | None = None) -> ClaimsTable:
    """The claims of the Jumpout paper against ``runs`` (any runs of small networks, as :func:`runs` names
    them; those with dropout record ``q⁺``), the moment-shift table ``shifts`` (:func:`moment_shifts`; None:
    no claim about the rescaling) and the step timings ``costs`` (:func:`step_costs`; None: no claim about
    the cost); ``dropout_rate``: the base rate ``p`` of the variants. Every threshold is one of this
    module's constants."""
    comparison = compare_variants(runs)
    results = comparison.results
    archs, variants = list(dict.fromkeys(results.arch)), list(dict.fromkeys(results.variant))
    table = ClaimsTable()

    tests = layer_tests(comparison.active, plain_variant(variants))
    holds = [t for t in tests if t.p < ALPHA_LAYERS and t.ratio >= LAYER_RATIO]
    table.check(
        "The same dropout rate switches off different shares of different layers: q⁺ differs between layers "
        "(Modification II)",
        "the effective rate p·q⁺ differs between layers, since their shares of active ReLUs differ (abstract, §3.2)",
        "; ".join(f"{t.arch}: q⁺ {t.means.min():.2f}–{t.means.max():.2f}, ratio {t.ratio:.2f} (p = {t.p:.1e})"
                  for t in tests),
        f"per architecture, a one-way ANOVA of the final q⁺ across the networks, layers as groups: reproduced if "
        f"p < {ALPHA_LAYERS} and the largest layer mean ≥ {LAYER_RATIO} × the smallest in every architecture; "
        "partly if in some",
        bool(tests) and len(holds) == len(tests), partly=bool(holds),
        reference="equal layers: ratio 1; the networks' SD within a layer ≤ " + f"{max(t.sd for t in tests):.3f}"
        if tests else "")

    if shifts is not None and {1.0, 0.75} <= set(shifts.power):
        st = shift_test(shifts, dropout_rate)
        powers = ", ".join(f"{p:g}: {v:.2e}" for p, v in st.median.sort_index(ascending=False).items())
        table.check(
            "Rescaling by (1−p)^−0.75 brings the moments a batch norm sees at test time closer to training's than "
            "dropout's (1−p)^−1 (Modification III)",
            "the 0.75 rescaling keeps mean and variance more consistent between training and test (abstract, §3.3)",
            f"median mismatch at p = {st.rate:g}, by power: {powers} nats (p = {st.p:.1e}, {st.units} units)",
            "the mismatch of a unit is KL(test ‖ train) of the Gaussians with its moments; reproduced if a one-sided "
            f"Wilcoxon signed-rank test over the units gives mismatch(0.75) < mismatch(1) at p < {ALPHA}",
            st.p < ALPHA, reference=f"dropout's power 1: median {st.median[1.0]:.2e} nats")

    def gain_claim(arch: str, variant: str, claim: str, paper: str) -> None:
        if arch not in archs or variant not in variants or "dropout" not in variants:
            return
        g = gain_test(accuracies(results, arch, "dropout"), accuracies(results, arch, variant))
        table.check(claim, paper, g.describe(),
                    f"reproduced if Welch's one-sided t-test of the gain over plain dropout gives p < {ALPHA}",
                    g.p < ALPHA, reference=f"no gain: 0 points (smallest gain this test can detect: "
                                           f"{100 * g.detectable:.2f})")

    gain_claim("cnn", "jumpout", "Jumpout beats dropout on Fashion-MNIST (CNN with batch norm)",
               "significantly higher test accuracy than dropout on Fashion-MNIST and five other data sets (abstract)")
    gain_claim("mlp", "jumpout", "Jumpout beats dropout for a ReLU MLP without batch norm",
               "stated for DNNs with ReLUs in general (abstract); no MLP in the paper")
    for variant, mod in (("sampled", "I"), ("normalised", "II"), ("rescaled", "III")):
        gain_claim("cnn", variant, f"Modification {mod} alone improves on dropout (CNN)",
                   "each modification contributes (the paper's ablation of the three changes)")

    if costs is not None:
        c = cost_test(costs)
        table.check("Jumpout costs about as much as dropout", "negligible extra memory and computation (abstract)",
                    f"training step jumpout/dropout: {c.ratio:.2f} × (95 % CI {c.low:.2f}–{c.high:.2f}; "
                    f"p = {c.p:.1e}, {c.repeats} turns)",
                    f"reproduced if a one-sided t-test of the per-turn log time ratio puts it below {COST_MARGIN} "
                    f"at p < {ALPHA}",
                    c.p < ALPHA, reference=f"dropout's step: {1000 * c.dropout_s:.1f} ms; margin {COST_MARGIN} ×")
    return table
