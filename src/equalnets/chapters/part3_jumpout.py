"""Part III, Jumpout: plain dropout against each of Jumpout's three changes and all three, on two small ReLU networks.

The chapter asks the run store for one run per (architecture, variant) (:func:`runs`): ``n_seeds`` networks
each, every run with seeds of its own, recording ``q⁺`` at every dropout layer's input after every epoch.
:func:`compare_variants` turns the runs into the tables the figures draw; :func:`moment_shifts` measures the
train/test moment shift in the first network of the CNN dropout run; :func:`claims` decides the verdicts from
the runs and that shift table alone (the paper: Wang, Zhou & Bilmes, ICML 2019).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..analysis.claims import ClaimsTable
from ..engine.checks import (ParameterError, check_choice, check_choice_list, check_float, check_float_list,
                             check_int, check_int_list, check_probability)
from ..engine.config import Q_MODES, SMALL_ARCHS, RunConfig, derived_seed
from ..engine.data import Dataset
from ..engine.layers import Jumpout, sigma_for_mean_rate
from ..engine.store import Run, RunStore
from ..engine.train import dropout_layers
from ..methods.jumpout import shift_table
from .base import ChapterParameters

TITLE = "Part III — Jumpout"

#: The dropout variants compared in the chapter: none, plain dropout, each change alone, all three.
VARIANTS = ("none", "dropout", "sampled", "normalised", "rescaled", "jumpout")


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


def gain_verdict(a: np.ndarray, b: np.ndarray) -> tuple[float, float, str]:
    """Gain of ``b`` over ``a`` (mean difference) against their pooled standard deviation, and
    the verdict: ``reproduced`` when the gain exceeds the pooled SD, ``partly`` when it is
    positive but within it, else ``not reproduced``. ``(n_a,), (n_b,) -> (gain, pooled, verdict)``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 1 or b.size < 1:
        raise ValueError("a and b must each hold at least one value")
    gain = float(b.mean() - a.mean())
    var_a = a.var(ddof=1) if a.size > 1 else 0.0
    var_b = b.var(ddof=1) if b.size > 1 else 0.0
    pooled = float(math.sqrt((var_a + var_b) / 2))
    verdict = "reproduced" if gain > pooled else ("partly" if gain > 0 else "not reproduced")
    return gain, pooled, verdict


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


def claims(runs: Mapping[str, Run], shifts: pd.DataFrame | None = None, *, dropout_rate: float = 0.1) -> ClaimsTable:
    """The claims of the Jumpout paper against ``runs`` (any runs of small networks, as :func:`runs` names
    them; those with dropout record ``q⁺``) and the moment-shift table ``shifts`` (:func:`moment_shifts`;
    None: no claim about the rescaling); ``dropout_rate``: the base rate ``p`` of the variants."""
    comparison = compare_variants(runs)
    results = comparison.results
    archs, variants = list(dict.fromkeys(results.arch)), list(dict.fromkeys(results.variant))
    n_seeds = results.groupby(["arch", "variant"]).size().max()
    table = ClaimsTable()

    active = summarize_active(comparison.active, plain_variant(variants), dropout_rate)
    q_end, spread = active.final, active.spread
    effective_below = bool((q_end < 0.9).all())
    spread_large = bool(spread.max() >= 0.1)
    table.check(
        "Behind a ReLU, dropout's effective rate p·q⁺ is well below p and differs between layers (Modification II)",
        "q⁺ varies by layer and during training, so a fixed p gives layer-dependent effective rates",
        f"q⁺ at the end: {q_end.min():.2f}–{q_end.max():.2f}; largest spread within a network {spread.max():.2f}",
        "reproduced if q⁺ < 0.9 in every layer and the spread within a network ≥ 0.10; partly if one holds",
        effective_below and spread_large, partly=effective_below or spread_large)

    if shifts is not None and {1.0, 0.75, 0.5} <= set(shifts.power):
        rate, summary_shift = shift_summary(shifts, dropout_rate)
        m, v = summary_shift.abs_mean, summary_shift.abs_logvar
        var_better = bool(v[0.75] < v[1.0])
        mean_better = bool(m[0.75] < m[0.5])
        table.check(
            "Rescaling by (1−p)^−0.75 trades the mean shift of (1−p)^−0.5 against the variance shift of (1−p)^−1 "
            "(Modification III)",
            "(1−p)^−1 keeps the mean but not the variance, (1−p)^−0.5 the reverse; 0.75 is a compromise",
            f"at p = {rate:g}: |log var ratio| {v[1.0]:.3f} (a=1), {v[0.75]:.3f} (0.75), {v[0.5]:.3f} (0.5); "
            f"|mean shift| {m[1.0]:.3f}, {m[0.75]:.3f}, {m[0.5]:.3f} SD",
            "reproduced if 0.75 has a smaller variance shift than 1 and a smaller mean shift than 0.5; "
            "partly if one holds",
            var_better and mean_better, partly=var_better or mean_better)

    def gain_claim(arch: str, variant: str, claim: str, paper: str) -> None:
        if arch not in archs or variant not in variants or "dropout" not in variants:
            return
        gain, pooled, verdict = gain_verdict(accuracies(results, arch, "dropout"), accuracies(results, arch, variant))
        table.add(claim, paper, f"{100 * gain:+.2f} points (pooled SD {100 * pooled:.2f}, N = {n_seeds} seeds)",
                  verdict, "gain > pooled SD: reproduced; 0 < gain ≤ pooled SD: partly; else not reproduced")

    gain_claim("cnn", "jumpout", "Jumpout beats dropout on Fashion-MNIST (CNN with batch norm)",
               "higher test accuracy than dropout on Fashion-MNIST and five other data sets (main results table)")
    gain_claim("mlp", "jumpout", "Jumpout beats dropout for a ReLU MLP without batch norm",
               "stated for DNNs with ReLUs in general (abstract); no MLP in the paper")
    for variant, mod in (("sampled", "I"), ("normalised", "II"), ("rescaled", "III")):
        gain_claim("cnn", variant, f"Modification {mod} alone improves on dropout (CNN)",
                   "each modification contributes (the paper's ablation of the three changes)")

    if "cnn" in archs and {"dropout", "jumpout"} <= set(variants):
        ratio = time_ratio(summarize(results))
        table.check("Jumpout costs about as much as dropout", "negligible extra memory and computation (abstract)",
                    f"training time ratio jumpout/dropout (CNN): {ratio:.2f}",
                    "reproduced if ratio ≤ 1.25; partly if ≤ 1.5", ratio <= 1.25, partly=ratio <= 1.5)
    return table
