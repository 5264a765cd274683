"""Figures shared by the chapters. Each helper takes data (and an ``ax`` where useful), labels
what it shows with N and units, and returns the figure: it neither saves nor shows."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

SPLIT_COLOURS = {"train": "#1f77b4", "test": "#d62728"}


def set_style() -> None:
    """The book's plotting style (called once per chapter)."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "axes.titlesize": "medium"})


def score_bins(n_models: int) -> np.ndarray:
    """Histogram edges centred on the N + 1 values k/N that an ensemble score can take."""
    half = 0.5 / n_models
    return np.linspace(-half, 1 + half, n_models + 2)


def score_histogram(scores: np.ndarray, n_models: int, *, ax: Axes, colour: str = "#1f77b4",
                    title: str = "", xlabel: str = "consistency") -> Axes:
    """Histogram of one epoch's per-example scores: fraction of examples per value k/N."""
    scores = np.asarray(scores)
    weights = np.full(scores.shape, 1.0 / len(scores))
    ax.hist(scores, bins=score_bins(n_models), weights=weights, color=colour, edgecolor="white",
            linewidth=0.4)
    ax.set_xlim(-0.05, 1.05)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of examples")
    ax.set_title(title)
    return ax


def phase_histograms(by_split: dict[str, np.ndarray], epochs: np.ndarray, chosen: dict[str, int],
                     n_models: int, *, score: str = "consistency", pearson: dict[str, Sequence[float]] | None = None,
                     suptitle: str = "") -> Figure:
    """One row per split, one column per phase: histograms of ``score`` at the chosen epochs.

    ``by_split``: split → ``(E, M)`` scores; ``chosen``: phase name → recorded-epoch index.
    """
    splits = list(by_split)
    fig, axes = plt.subplots(len(splits), len(chosen), figsize=(3.2 * len(chosen), 2.7 * len(splits)),
                             squeeze=False, sharex=True)
    for r, split in enumerate(splits):
        for c, (phase, idx) in enumerate(chosen.items()):
            values = by_split[split][idx]
            title = f"{split}: {phase}\nepoch {epochs[idx]}"
            if pearson is not None:
                title += f", Pearson {pearson[split][idx]:.2f}"
            score_histogram(values, n_models, ax=axes[r, c], colour=SPLIT_COLOURS.get(split, "grey"),
                            title=title, xlabel=score)
            if c:
                axes[r, c].set_ylabel("")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def score_heatmap(scores: np.ndarray, epochs: np.ndarray, n_models: int, *, ax: Axes,
                  title: str = "", score: str = "consistency") -> Axes:
    """Distribution of ``(E, M)`` scores over all recorded epochs: epoch on x, score on y,
    colour the fraction of examples (log scale), like a stack of histograms seen from above."""
    bins = score_bins(n_models)
    hist = np.stack([np.histogram(row, bins=bins)[0] / len(row) for row in scores]).T
    mesh = ax.pcolormesh(np.arange(len(epochs) + 1) - 0.5, bins, np.ma.masked_equal(hist, 0),
                         norm=LogNorm(vmin=1e-3, vmax=1), cmap="viridis", shading="flat")
    ticks = np.unique(np.linspace(0, len(epochs) - 1, min(len(epochs), 8)).round().astype(int))
    ax.set_xticks(ticks, [str(epochs[t]) for t in ticks])
    ax.set_xlabel("epoch")
    ax.set_ylabel(score)
    ax.set_title(title)
    ax.figure.colorbar(mesh, ax=ax, label="fraction of examples")
    return ax


def per_epoch_curves(epochs: np.ndarray, curves: dict[str, np.ndarray], *, ax: Axes, ylabel: str,
                     title: str = "", bands: dict[str, np.ndarray] | None = None,
                     references: dict[str, float] | None = None) -> Axes:
    """Lines of a per-epoch quantity, one per label (e.g. train / test); optional ± bands and
    horizontal reference lines (e.g. Pearson's measure of named distributions)."""
    for label, values in curves.items():
        colour = SPLIT_COLOURS.get(label)
        ax.plot(epochs, values, marker="o", markersize=3, label=label, color=colour)
        if bands is not None and label in bands:
            ax.fill_between(epochs, values - bands[label], values + bands[label], alpha=0.2, color=colour)
    for name, value in (references or {}).items():
        ax.axhline(value, color="grey", linestyle=":", linewidth=1)
        ax.annotate(name, (epochs[-1], value), textcoords="offset points", xytext=(-4, 3),
                    ha="right", fontsize="small", color="grey")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    return ax
