"""Figures of §3 robustness: the bi-modality and accuracy of hyper-parameter variants per epoch,
their most bi-modal histograms, the correlation of their order of learning with the base's, and the
moving experiment. Each takes data and returns the figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..analysis.scores import bimodality
from .plots import SPLIT_COLOURS, score_histogram


def variant_curves(epochs: dict[str, np.ndarray], pearson: dict[str, dict[str, np.ndarray]],
                   null: dict[str, np.ndarray], accuracy: dict[str, np.ndarray],
                   base_accuracy: tuple[np.ndarray, np.ndarray], *, highlight: str, chance: float, n_models: int,
                   base_n: int) -> Figure:
    """Pearson's measure per recorded epoch of several ensembles (``epochs`` label → ``(E,)``), one
    panel per split (``pearson`` split → label → ``(E,)``), the ``highlight`` ensemble thick and its
    independent-errors measure dashed (``null`` split → ``(E,)``); a last panel with every
    ensemble's mean test accuracy (``accuracy`` label → ``(E,)``) and the base's ``(epochs, values)``."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    palette = plt.cm.tab20.colors[::2] + plt.cm.tab20.colors[1::2]  # tab10, then its light shades (the paper: 11)
    colours = {label: palette[i % len(palette)] for i, label in enumerate(epochs)}
    for ax, s in zip(axes[:2], pearson):
        for label, p in pearson[s].items():
            ax.plot(epochs[label], p, marker="o", markersize=3, color=colours[label], label=label,
                    linewidth=2.5 if label == highlight else 1.3)
        ax.plot(epochs[highlight], null[s], color="grey", linestyle="--", label=f"{highlight}, independent errors")
        for value in (0.8, 0.0):  # a uniform and a two-point distribution
            ax.axhline(value, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel("Pearson's measure (lower = more bi-modal)")
        ax.set_title(f"{s}: Pearson's measure per epoch, N={n_models} each")
    for label, a in accuracy.items():
        axes[2].plot(epochs[label], a, marker="o", markersize=3, color=colours[label], label=label,
                     linewidth=2.5 if label == highlight else 1.3)
    base_line, = axes[2].plot(*base_accuracy, marker="o", markersize=3, color="black", linewidth=1.3, linestyle="--")
    axes[2].axhline(chance, color="grey", linestyle=":", linewidth=1)
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("mean test accuracy")
    axes[2].set_title(f"Test accuracy per epoch (variants: N={n_models})")
    handles, names = axes[1].get_legend_handles_labels()
    fig.legend(handles + [base_line], names + [f"base (N={base_n}), accuracy only"], loc="lower center", ncol=4,
               fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


def histogram_grid(panels: dict[str, tuple[np.ndarray, int, int]], *, colour: str = SPLIT_COLOURS["test"],
                   suptitle: str = "", ncols: int = 4) -> Figure:
    """One :func:`score_histogram` per ensemble, in rows of ``ncols``: ``panels`` label →
    ``(scores (M,), N, epoch)``; each title gives the epoch and Pearson's measure."""
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False, sharey=True)
    for ax, (label, (values, n_models, epoch)) in zip(axes.ravel(), panels.items()):
        score_histogram(values, n_models, ax=ax, colour=colour)
        ax.set_title(f"{label}\nepoch {epoch}, Pearson {bimodality(values):.2f}", fontsize="small")
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def correlation_intervals(correlations: dict[tuple[str, str], object], n_images: dict[str, int], *,
                          reference: float, reference_label: str, ylabel: str, title: str) -> Figure:
    """Pearson's r with its confidence interval per ensemble and split: ``correlations`` (label,
    split) → an ``analysis.stats.Correlation``; ``n_images`` split → M; a dotted ``reference`` r."""
    labels = list(dict.fromkeys(label for label, _ in correlations))
    fig, ax = plt.subplots(figsize=(8, 3.8))
    pos = np.arange(len(labels))
    for j, s in enumerate(n_images):
        r = np.array([correlations[label, s].r for label in labels])
        low = np.array([correlations[label, s].low for label in labels])
        high = np.array([correlations[label, s].high for label in labels])
        ax.errorbar(pos + (j - 0.5) * 0.25, r, yerr=[r - low, high - r], fmt="o", capsize=3,
                    color=SPLIT_COLOURS.get(s, "grey"), label=f"{s} images (M={n_images[s]})")
    ax.axhline(reference, color="grey", linestyle=":", linewidth=1)
    ax.annotate(reference_label, (pos[0] - 0.4, reference), textcoords="offset points", xytext=(0, 3), ha="left",
                fontsize="small", color="grey")
    ax.set_xticks(pos, labels, rotation=25, ha="right")
    ax.set_ylabel(ylabel)
    lowest = np.array([c.low for c in correlations.values()])
    ax.set_ylim(min(0.0, float(np.nanmin(lowest)) - 0.05) if np.isfinite(lowest).any() else 0.0, 1.02)
    ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="small", loc="lower left")
    fig.tight_layout()
    return fig


#: Colours of the easiest, hardest and random shares of a split.
SHARE_COLOURS = {"easiest": "#2ca02c", "hardest": "#d62728", "random": "#1f77b4"}


def _share_style(share: str) -> dict:
    """Colour of a moved share by what it holds (easiest, hardest, random); dashed when ranked within
    each class (``'easiest, within class'``)."""
    return {"color": SHARE_COLOURS[share.split(",")[0]], "linestyle": "--" if "," in share else "-"}


def moving_accuracy(epochs: np.ndarray, accuracy: dict[str, np.ndarray], test: np.ndarray, base_epochs: np.ndarray,
                    base_accuracy: dict[str, np.ndarray], base_test: np.ndarray, *, k_moved: int, chance: float,
                    title: str, base_title: str) -> Figure:
    """The moving experiment. Left: accuracy per epoch on each moved share (``accuracy`` share →
    ``(N, E)``; mean, band ± one sd for the shares ranked over the whole set) and the test accuracy
    ``(E,)``; right: the same rows in the base ensemble (``base_accuracy`` share → ``(E_base,)``), up
    to the last epoch on the left. Shares ranked within each class are dashed."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    for w, a in accuracy.items():
        mean, sd = a.mean(0), a.std(0)
        axes[0].plot(epochs, mean, marker="o", markersize=3, label=f"{w} {k_moved} moved", **_share_style(w))
        if "," not in w:
            axes[0].fill_between(epochs, np.clip(mean - sd, 0, 1), np.clip(mean + sd, 0, 1), alpha=0.2,
                                 color=_share_style(w)["color"])
    axes[0].plot(epochs, test, color="black", linestyle=":", linewidth=2,
                 label=f"test set (mean of the {len(accuracy)} runs)")
    axes[0].set_title(title)
    shown = base_epochs <= epochs[-1]
    for w, a in base_accuracy.items():
        axes[1].plot(base_epochs[shown], a[shown], marker="o", markersize=3, label=f"{w} {k_moved}", **_share_style(w))
    axes[1].plot(base_epochs[shown], base_test[shown], color="black", linestyle=":", linewidth=2, label="test set")
    axes[1].set_title(base_title)
    for ax in axes:
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("epoch")
        ax.legend(fontsize="x-small")
    axes[0].set_ylabel("accuracy (fraction of images × networks)")
    fig.tight_layout()
    return fig
