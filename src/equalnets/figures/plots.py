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

from ..analysis.compare import joint_histogram
from ..analysis.scores import bimodality

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


def null_histograms(observed: dict[str, np.ndarray], null: dict[str, np.ndarray], n_models: int, epoch: int,
                    *, score: str = "consistency") -> Figure:
    """One panel per split: the ensemble's histogram of ``score`` at one epoch (bars) against that of
    the independent-errors null (black line); ``observed`` / ``null``: split → ``(M,)``."""
    fig, axes = plt.subplots(1, len(observed), figsize=(4.5 * len(observed), 3.2), sharey=True, squeeze=False)
    bins = score_bins(n_models)
    for ax, split in zip(axes[0], observed):
        weights = np.full(len(observed[split]), 1 / len(observed[split]))
        ax.hist(observed[split], bins=bins, weights=weights, alpha=0.75, color=SPLIT_COLOURS.get(split, "grey"),
                label="trained ensemble")
        ax.hist(null[split], bins=bins, weights=weights, histtype="step", linewidth=2, color="black",
                label="independent errors")
        ax.set_title(f"{split}, epoch {epoch}: Pearson {bimodality(observed[split]):.2f} vs "
                     f"{bimodality(null[split]):.2f}")
        ax.set_xlabel(score)
        ax.legend(fontsize="small")
    axes[0, 0].set_ylabel("fraction of examples")
    fig.suptitle(f"Real ensemble vs. the independent-errors null, N={n_models}, M={len(next(iter(observed.values())))}")
    fig.tight_layout()
    return fig


def split_heatmaps(by_split: dict[str, np.ndarray], epochs: np.ndarray, n_models: int, *,
                   score: str = "consistency") -> Figure:
    """:func:`score_heatmap` of every split side by side; ``by_split``: split → ``(E, M)``."""
    fig, axes = plt.subplots(1, len(by_split), figsize=(6 * len(by_split), 3.6), squeeze=False)
    for ax, (split, values) in zip(axes[0], by_split.items()):
        score_heatmap(values, epochs, n_models, ax=ax, score=score,
                      title=f"{split}: {score} over training, N={n_models}, M={values.shape[1]}")
    fig.tight_layout()
    return fig


def curves_by_ensemble(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, ax: Axes, ylabel: str, title: str = "",
                       bands: dict[str, np.ndarray] | None = None,
                       references: dict[str, float] | None = None) -> Axes:
    """:func:`per_epoch_curves` of ensembles recorded at different epochs: ``curves`` name →
    ``(epochs (E,), values (E,))``, optional ± ``bands`` name → ``(E,)``; the first ensemble's
    epochs place the reference lines."""
    (first, (epochs, values)), *rest = curves.items()
    per_epoch_curves(epochs, {first: values}, ax=ax, ylabel=ylabel, title=title, references=references,
                     bands={first: bands[first]} if bands and first in bands else None)
    for name, (epochs, values) in rest:
        line, = ax.plot(epochs, values, marker=".", label=name)
        if bands and name in bands:
            ax.fill_between(epochs, values - bands[name], values + bands[name], color=line.get_color(), alpha=0.2)
    ax.legend(fontsize="small")
    return ax


def joint_consistency_panel(scores_a: np.ndarray, scores_b: np.ndarray, n_a: int, n_b: int, *, ax: Axes,
                            xlabel: str, ylabel: str, title: str = ""):
    """The joint distribution of two ensembles' ``(M,)`` consistency scores (``compare.joint_histogram``)
    on a log colour scale, with the diagonal dotted; returns the image (for a colour bar)."""
    hist = joint_histogram(scores_a, scores_b, n_a, n_b)
    image = ax.imshow(np.where(hist > 0, hist, np.nan).T, origin="lower", aspect="auto", cmap="viridis",
                      extent=(-0.5 / n_a, 1 + 0.5 / n_a, -0.5 / n_b, 1 + 0.5 / n_b),
                      norm=LogNorm(vmin=1 / len(scores_a), vmax=1))
    ax.plot([0, 1], [0, 1], color="white", linewidth=0.6, linestyle=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="small")
    return image


def joint_consistency_grid(levels: dict[tuple[str, str], list[tuple[int, int]]], consistency: dict[str, np.ndarray],
                           epochs: dict[str, np.ndarray], accuracy: dict[str, np.ndarray],
                           n_models: dict[str, int]) -> Figure:
    """One row per pair of ensembles, one :func:`joint_consistency_panel` per matched level
    ``(e_a, e_b)`` of ``levels``; ``consistency`` name → ``(E, M)``, ``epochs`` / ``accuracy``
    name → ``(E,)``. A figure that says so where nothing matched."""
    if not any(levels.values()):
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no matched epochs: the accuracy ranges do not overlap", ha="center")
        return fig
    ncols = max(len(found) for found in levels.values())
    fig, axes = plt.subplots(len(levels), ncols, figsize=(3.6 * ncols, 3.3 * len(levels)), squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    for row, ((a, b), found) in enumerate(levels.items()):
        for col, (i, j) in enumerate(found):
            axes[row, col].set_visible(True)
            image = joint_consistency_panel(consistency[a][i], consistency[b][j], n_models[a], n_models[b],
                                            ax=axes[row, col], xlabel=f"consistency, {a} (epoch {epochs[a][i]})",
                                            ylabel=f"{b} (epoch {epochs[b][j]})",
                                            title=f"accuracy {accuracy[a][i]:.2f} / {accuracy[b][j]:.2f}")
    fig.colorbar(image, ax=axes.ravel().tolist(), label="fraction of test images (log)", shrink=0.8)
    fig.suptitle(f"Joint consistency at matched epochs, M={consistency[a].shape[1]} test images")
    return fig


def speed_scatter(panels: Sequence[tuple[np.ndarray, np.ndarray, str, str, str]], *, suptitle: str = "") -> Figure:
    """One scatter per panel ``(x (M,), y (M,), xlabel, ylabel, title)`` of two learning speeds, one
    dot per example, with the diagonal dotted."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.7 * len(panels), 3.6), squeeze=False)
    for ax, (x, y, xlabel, ylabel, title) in zip(axes[0], panels):
        ax.scatter(x, y, s=6, alpha=0.35)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
        ax.set_title(title, fontsize="small")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def subset_histograms(panels: dict[str, tuple[np.ndarray, np.ndarray, str]], n_models: int, *, xlabel: str,
                      subset_label: str, suptitle: str = "") -> Figure:
    """One panel per entry ``(scores (M,), subset (M,) bool, title)``: the histogram of every example's
    score and, over it, of the subset's; counts of examples."""
    fig, axes = plt.subplots(1, len(panels), figsize=(14 / 3 * len(panels), 3.4), sharey=True, squeeze=False)
    bins = score_bins(n_models)
    for ax, (values, subset, title) in zip(axes[0], panels.values()):
        ax.hist(values, bins=bins, color="#1f77b4", alpha=0.8, label=f"all test images (M={len(values)})")
        ax.hist(values[subset], bins=bins, color="#d62728", alpha=0.8, label=f"{subset_label} ({int(subset.sum())})")
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize="small")
        ax.legend(fontsize="small")
    axes[0, 0].set_ylabel("number of test images")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
