"""Figures of §6, where bi-modality breaks: accuracy and Pearson's measure of the random-label
ensemble, the hard data set's way down, and the ensembles trained on the hard and on a random
subset. Collapsed epochs (a phase label of their own, counted neither for nor against bi-modality)
are shaded and their Pearson values crossed out. Each takes data and returns the figure."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .plots import SPLIT_COLOURS, per_epoch_curves, score_histogram

#: Pearson's measure of named distributions, the reference lines of the per-epoch panels.
REFERENCES = {"Gaussian": 2.0, "uniform": 0.8, "two-point": 0.0}
#: Colours of the ensembles trained on part of the training set.
SUBSET_COLOURS = ("#9467bd", "#2ca02c")


def shade_collapsed(ax: Axes, epochs: np.ndarray, collapsed: np.ndarray) -> Axes:
    """Grey bands over the recorded epochs (``(E,)``) at which the ensemble is collapsed onto one
    label (``collapsed`` ``(E,)`` bool)."""
    edges = np.concatenate([[epochs[0] - 0.5], (epochs[1:] + epochs[:-1]) / 2, [epochs[-1] + 0.5]])
    for i in np.flatnonzero(collapsed):
        ax.axvspan(edges[i], edges[i + 1], color="grey", alpha=0.15, linewidth=0)
    return ax


def mark_collapsed(ax: Axes, epochs: np.ndarray, values: np.ndarray, collapsed: np.ndarray, *,
                   label: str | None = "collapsed epoch (not judged)") -> Axes:
    """Black crosses over the points ``values`` ``(E,)`` at the recorded epochs ``(E,)`` flagged in
    ``collapsed`` ``(E,)`` bool."""
    if np.any(collapsed):
        ax.scatter(epochs[collapsed], values[collapsed], marker="x", color="black", s=40, zorder=4, label=label)
    return ax


def random_label_curves(epochs: np.ndarray, accuracy: dict[str, np.ndarray], pearson: dict[str, np.ndarray],
                        collapsed: dict[str, np.ndarray], *, chance: float, n_models: int,
                        null_pearson: dict[str, np.ndarray] | None = None) -> Figure:
    """Left: accuracy per epoch (split → ``(N, E)``; mean, band ± one sd); right: Pearson's measure
    (split → ``(E,)``), dashed its independent-errors null's where given, epochs collapsed on a split
    (split → ``(E,)`` bool) shaded and crossed out on that split's curve."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    per_epoch_curves(epochs, {s: a.mean(0) for s, a in accuracy.items()}, bands={s: a.std(0) for s, a in accuracy.items()},
                     ax=axes[0], references={"chance": chance}, ylabel="accuracy (train: on the random labels)",
                     title=f"Random labels: accuracy, mean ± sd over N={n_models}")
    per_epoch_curves(epochs, pearson, ax=axes[1], ylabel="Pearson's measure (lower = more bi-modal)",
                     references=REFERENCES, title=f"Random labels: bi-modality of consistency, N={n_models}")
    for s, values in (null_pearson or {}).items():
        axes[1].plot(epochs, values, linestyle="--", linewidth=1, color=SPLIT_COLOURS.get(s), label=f"{s}, null")
    shade_collapsed(axes[1], epochs, np.logical_or.reduce(list(collapsed.values())))
    flags = list(collapsed.values())
    for i, s in enumerate(collapsed):  # one legend entry, on the first split with a collapsed epoch
        mark_collapsed(axes[1], epochs, pearson[s], flags[i],
                       label=None if any(np.any(f) for f in flags[:i]) else "collapsed epoch (not judged)")
    axes[1].legend(fontsize="small")
    fig.tight_layout()
    return fig


def hard_set_path(kept_share: np.ndarray, mean_score: np.ndarray, shares: np.ndarray, rescored_at: Sequence[int],
                  classes: Sequence[str], *, m_train: int) -> Figure:
    """The hard set's way down, per iteration: the mean score of the kept rows (``(I + 1,)``, dotted
    lines at the iterations ``rescored_at`` after the first) and each class's share ``(I + 1, K)``,
    against the share of the training set kept ``(I + 1,)``."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    axes[0].plot(100 * kept_share, mean_score, marker="o", markersize=3)
    for it in rescored_at[1:]:
        axes[0].axvline(100 * kept_share[it], color="grey", linestyle=":", linewidth=1)
    axes[0].set_ylabel("mean learning speed (base ensemble)")
    axes[0].set_title(f"Kept rows get harder (dotted: re-scorings), M={m_train}")
    for c, name in enumerate(classes):
        axes[1].plot(100 * kept_share, shares[:, c], label=name)
    axes[1].set_ylabel("share of the kept rows")
    axes[1].set_title(f"Classes in the kept rows, M={m_train} at the start")
    axes[1].legend(fontsize="small")
    for ax in axes:
        ax.invert_xaxis()
        ax.set_xlabel("% of the training set kept")
    fig.tight_layout()
    return fig


def subset_curves(epochs: np.ndarray, accuracy: dict[str, np.ndarray], pearson: dict[str, dict[str, np.ndarray]],
                  base_epochs: np.ndarray, base_pearson: dict[str, np.ndarray], base_accuracy: float,
                  collapsed: dict[str, dict[str, np.ndarray]], *, chance: float, m_test: int, base_n: int) -> Figure:
    """Ensembles trained on subsets (name → ``(N, E)`` test accuracy; name → split → ``(E,)``
    Pearson's measure) against the base (dashed): test accuracy, then Pearson's measure on the
    rows each trained on and on the test set; epochs collapsed (name → split → ``(E,)`` bool) are
    crossed out on their curve and shaded where any ensemble is collapsed."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    colours = dict(zip(accuracy, SUBSET_COLOURS))
    for name, a in accuracy.items():
        axes[0].plot(epochs, a.mean(0), marker="o", markersize=3, color=colours[name], label=f"{name}, N={a.shape[0]}")
        axes[0].fill_between(epochs, a.mean(0) - a.std(0), a.mean(0) + a.std(0), color=colours[name], alpha=0.2)
        for ax, s in zip(axes[1:], ("train", "test")):
            ax.plot(epochs, pearson[name][s], marker="o", markersize=3, color=colours[name], label=name)
    axes[0].axhline(base_accuracy, color="black", linestyle="--", linewidth=1, label=f"base, full set, final (N={base_n})")
    axes[0].axhline(chance, color="grey", linestyle=":", linewidth=1, label="chance")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("test accuracy")
    axes[0].legend(fontsize="small")
    axes[0].set_title(f"Test accuracy, mean ± sd, M={m_test} test images")
    for ax, s in zip(axes[1:], ("train", "test")):
        ax.plot(base_epochs, base_pearson[s], color="black", linestyle="--", linewidth=1, label="base, full set")
        for value in (REFERENCES["uniform"], REFERENCES["Gaussian"]):
            ax.axhline(value, color="grey", linestyle=":", linewidth=1)
        shade_collapsed(ax, epochs, np.logical_or.reduce([c[s] for c in collapsed.values()]))
        flags = [collapsed[name][s] for name in collapsed]
        for i, name in enumerate(collapsed):  # one legend entry, on the first ensemble with a collapsed epoch
            mark_collapsed(ax, epochs, pearson[name][s], flags[i],
                           label=None if any(np.any(f) for f in flags[:i]) else "collapsed epoch (not judged)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("Pearson's measure (lower = more bi-modal)")
        ax.legend(fontsize="small")
        ax.set_title(f"Bi-modality of consistency, {'own training rows' if s == 'train' else 'test set'}")
    fig.tight_layout()
    return fig


def subset_moments(consistency: dict[str, dict[str, np.ndarray]], pearson: dict[str, dict[str, np.ndarray]],
                   epochs: np.ndarray, moments: dict[str, int], n_models: dict[str, int], *, suptitle: str) -> Figure:
    """One row per moment (name → recorded-epoch index), one column per ensemble and split: the
    histograms of ``consistency`` (name → split → ``(E, M)``) with Pearson's measure in the title."""
    columns = [(name, s) for name in consistency for s in ("train", "test")]
    fig, axes = plt.subplots(len(moments), len(columns), figsize=(3.3 * len(columns), 2.8 * len(moments)),
                             sharex=True, squeeze=False)
    for r, (moment, i) in enumerate(moments.items()):
        for c, (name, s) in enumerate(columns):
            score_histogram(consistency[name][s][i], n_models[name], ax=axes[r, c], colour=SPLIT_COLOURS[s],
                            title=f"{name}, {'own train rows' if s == 'train' else 'test'}\n{moment}: epoch "
                                  f"{epochs[i]}, Pearson {pearson[name][s][i]:.2f}")
            if c:
                axes[r, c].set_ylabel("")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
