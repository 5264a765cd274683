"""Figures of the finite-temperature chapter (IV.3): loss and error per example against temperature,
the sampler's acceptance and swap rates, and the energy traces of the replicas. Each takes
:class:`~equalnets.chapters.part4_finite_temperature.Sampling` objects and returns the figure."""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from .plots import SPLIT_COLOURS

#: One colour per sampled network, the same in every figure of the chapter.
NETWORK_COLOURS = {"M(3)": "#1f77b4", "M(3*)": "#ff7f0e", "M(1)": "#2ca02c"}
#: Tick labels of a log axis as plain numbers (0.01, 2.3, 10), major and minor alike.
PLAIN = FuncFormatter(lambda value, _: f"{value:g}")
#: Line styles of the training subsets, smallest first.
SUBSET_STYLES = ("-", "--", ":", "-.")


def _grid(n: int, width: float = 4.6, height: float = 3.4) -> tuple[Figure, np.ndarray]:
    cols = min(n, 2 if n == 4 else 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def loss_against_temperature(samplings: Sequence, *, suptitle: str = "") -> Figure:
    """One panel per sampling: mean cross-entropy per example against T (log), train and test (band ±
    2 standard errors), the test loss of the posterior predictive, the uninformed classifier's ln K, the
    test loss of the gradient-trained minima (line: mean, dots: each) and the annealing rule's pick."""
    fig, axes = _grid(len(samplings))
    for ax, s in zip(axes, samplings):
        t = s.temperatures
        for split in ("train", "test"):
            mean, se = s.mean_loss(split), s.standard_error(split)
            ax.plot(t, mean, "o-", ms=3, color=SPLIT_COLOURS[split], label=f"{split}, mean over samples")
            ax.fill_between(t, mean - 2 * se, mean + 2 * se, color=SPLIT_COLOURS[split], alpha=0.2, lw=0)
        ax.plot(t, s.predictive_loss["test"], "s--", ms=3, color="#9467bd", label="test, posterior predictive")
        ax.axhline(math.log(s.classes), color="k", ls=":", lw=1, label=f"uninformed, ln {s.classes}")
        minima = s.minima_loss["test"]
        ax.axhline(minima.mean(), color="#7f7f7f", ls="-.", lw=1.2,
                   label=f"test, {len(minima)} gradient-trained minima")
        ax.plot(np.full(len(minima), t[0] / 1.6), minima, "x", color="#7f7f7f", ms=5)
        pick = s.annealed()
        ax.plot([t[pick]], [s.mean_loss("test")[pick]], "*", ms=13, color="#d4a017", mec="k", zorder=5,
                label="annealing rule's pick")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(PLAIN)
        low, high = ax.get_ylim()
        if high < 10 * low:  # less than a decade: label the minor ticks too
            ax.yaxis.set_minor_formatter(PLAIN)
            ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xlabel("temperature T")
        ax.set_ylabel("cross-entropy per example (nats)")
        ax.set_title(f"{s.label}: R={len(t)} temperatures, S={s.loss['test'].shape[1]} samples each", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0.06 if len(samplings) > 2 else 0.15, 1, 1))
    return fig


def error_against_temperature(samplings: Sequence, *, suptitle: str = "") -> Figure:
    """Test error against T for every sampling (mean over samples, solid; posterior predictive, dots),
    with the gradient-trained minima's mean test error (dashed, same colour) and chance (1 − 1/K)."""
    fig, ax = plt.subplots(figsize=(7.2, 4))
    sizes = sorted({s.size for s in samplings})
    for s in samplings:
        colour, style = NETWORK_COLOURS.get(s.model, "k"), SUBSET_STYLES[sizes.index(s.size) % len(SUBSET_STYLES)]
        ax.plot(s.temperatures, s.error["test"].mean(1), marker="o", ms=3, ls=style, color=colour, label=s.label)
        ax.plot(s.temperatures, s.predictive_error["test"], ".", ms=6, color=colour)
        ax.axhline(s.minima_error["test"].mean(), color=colour, ls=style, lw=0.8, alpha=0.6)
    k = samplings[0].classes if samplings else 10
    ax.axhline(1 - 1 / k, color="k", ls=":", lw=1, label=f"chance, 1 − 1/{k}")
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("temperature T")
    ax.set_ylabel("test error (fraction misclassified)")
    ax.set_title(suptitle or "Test error per temperature (lines: mean over samples; dots: posterior predictive; "
                             "thin: gradient-trained minima)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sampler_rates(samplings: Sequence, band: tuple[float, float] = (0.6, 0.7)) -> Figure:
    """Left: the fraction of HMC trajectories accepted after burn-in per temperature, with the band
    the step sizes were tuned to; right: the fraction of exchanges accepted between neighbours, at the
    geometric mean of the pair's temperatures."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    sizes = sorted({s.size for s in samplings})
    for s in samplings:
        colour, style = NETWORK_COLOURS.get(s.model, "k"), SUBSET_STYLES[sizes.index(s.size) % len(SUBSET_STYLES)]
        left.plot(s.temperatures, s.acceptance, marker="o", ms=3, ls=style, color=colour, label=s.label)
        pairs = np.sqrt(s.temperatures[1:] * s.temperatures[:-1])
        right.plot(pairs, s.swap_rate, marker="o", ms=3, ls=style, color=colour, label=s.label)
    left.axhspan(*band, color="#2ca02c", alpha=0.12, label=f"tuned to {band[0]:g}-{band[1]:g}")
    for ax, what in ((left, "HMC trajectories accepted after burn-in"),
                     (right, "exchanges accepted between neighbours T_j, T_j+1")):
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("temperature T" if ax is left else "pair's temperature √(T_j T_j+1)")
        ax.set_ylabel("fraction")
        ax.set_title(what, fontsize=10)
    left.legend(fontsize=8)
    fig.tight_layout()
    return fig


def energy_traces(samplings: Sequence) -> Figure:
    """One panel per sampling: the energy per training example at every temperature after every
    iteration (colour: T, dark = cold), the burn-in shaded."""
    fig, axes = _grid(len(samplings))
    for ax, s in zip(axes, samplings):
        colours = plt.cm.viridis(np.linspace(0, 0.95, len(s.temperatures)))
        iterations = np.arange(1, s.trace.shape[1] + 1)
        for r, (t, colour) in enumerate(zip(s.temperatures, colours)):
            ax.plot(iterations, s.trace[r] / s.size, color=colour, lw=1, label=f"T={t:.2g}")
        ax.axvspan(0.5, s.burn_in + 0.5, color="#7f7f7f", alpha=0.15, lw=0)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(PLAIN)
        ax.set_xlabel(f"iteration (shaded: burn-in, {s.burn_in})")
        ax.set_ylabel("energy per training example")
        ax.set_title(f"{s.label}: one line per temperature", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 9), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07 if len(samplings) > 2 else 0.14, 1, 1))
    return fig
