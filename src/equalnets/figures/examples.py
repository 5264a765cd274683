"""Figures of the supplement (classes and individual examples over training, the paper's Fig. 9 and
11): histograms stacked by majority label, per-class curves, clusters of trajectories and their
representative images. Each returns the figure."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..analysis.trajectories import LEARNT, TrajectoryClusters, stacked_counts

#: The colours of the classes and of the clusters (matplotlib's ten, cycled).
PALETTE = plt.get_cmap("tab10").colors


def majority_label_histograms(consistency: np.ndarray, majority: np.ndarray, shown: Sequence[int],
                              epochs: np.ndarray, classes: Sequence[str], n_models: int,
                              collapsed: np.ndarray | None = None) -> Figure:
    """One consistency histogram per recorded-epoch index in ``shown`` (panels), each bar split by
    the images' majority label: ``consistency`` and ``majority`` ``(E, M)``; a panel of an epoch
    flagged in ``collapsed`` ``(E,)`` says so in its title."""
    K, M = len(classes), consistency.shape[1]
    values = np.arange(n_models + 1) / n_models
    fig, axes = plt.subplots(1, len(shown), figsize=(2.6 * len(shown), 3.2), sharey=True, squeeze=False)
    for ax, idx in zip(axes[0], shown):
        table = stacked_counts(consistency[idx], majority[idx], n_models, K)  # (N+1, K)
        bottom = np.zeros(len(values))
        for k in range(K):
            ax.bar(values, table[:, k], width=0.9 / n_models, bottom=bottom, color=PALETTE[k % 10],
                   label=classes[k])
            bottom += table[:, k]
        flag = collapsed is not None and bool(collapsed[idx]) and epochs[idx] > 0
        ax.set_title(f"epoch {epochs[idx]}" + (" (collapsed)" if flag else ""))
        ax.set_xlabel("consistency")
    axes[0, 0].set_ylabel("fraction of train images")
    axes[0, -1].legend(title="majority label", fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(f"Train consistency coloured by the ensemble's majority label: N={n_models} networks, M={M} images")
    fig.tight_layout()
    return fig


def class_curves(epochs: np.ndarray, class_mean: np.ndarray, learnt_at: Sequence[int | None],
                 wrong_labels: np.ndarray, classes: Sequence[str], *, n_models: int, n_images: int,
                 collapsed: np.ndarray | None = None) -> Figure:
    """Left: each class's mean consistency ``class_mean`` ``(K, E)`` per epoch, the legend giving the
    epoch it reaches 0.5 (``learnt_at``, indices or None). Right: ``wrong_labels`` ``(E,)``, the
    effective number of labels among the majority labels of the images the ensemble gets wrong.
    Epochs flagged in ``collapsed`` ``(E,)`` are shaded on both panels."""
    K = len(classes)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    for k in range(K):
        when = "never" if learnt_at[k] is None else f"epoch {epochs[learnt_at[k]]}"
        axes[0].plot(epochs, class_mean[k], marker="o", markersize=3, color=PALETTE[k % 10],
                     label=f"{classes[k]} (≥ 0.5: {when})")
    axes[0].axhline(LEARNT, color="grey", linestyle=":", linewidth=1)
    axes[0].set(xlabel="epoch", ylabel="mean consistency of the class",
                title=f"Mean train consistency per true class, N={n_models}, M={n_images}")
    axes[1].plot(epochs, wrong_labels, marker="o", markersize=3, color="black")
    axes[1].set(xlabel="epoch", ylabel="effective number of labels", ylim=(0, K + 0.5),
                title=f"Labels of the ensemble's mistakes (majority labels of wrong images), K={K}")
    if collapsed is not None and collapsed.any():
        for ax in axes:
            for e in np.asarray(epochs)[np.asarray(collapsed)]:
                ax.axvspan(e - 0.5, e + 0.5, color="grey", alpha=0.15, linewidth=0)
        axes[1].annotate("shaded: collapsed epochs", (0.98, 0.04), xycoords="axes fraction", ha="right",
                         fontsize="small", color="grey")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def trajectory_clusters(epochs: np.ndarray, consistency: np.ndarray, clusters: TrajectoryClusters,
                        labels: np.ndarray, classes: Sequence[str], *, n_models: int,
                        highlight: int | None = None) -> Figure:
    """Left: the trajectory (consistency ``(E, M)`` per epoch) of each cluster's representative
    image and, dashed, that of image ``highlight`` (the largest drop among those learnt then
    forgotten). Right: each cluster's mean and inter-quartile band over its members."""
    M = consistency.shape[1]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for j in range(len(clusters.sizes)):
        rep = clusters.representatives[j]
        axes[0].plot(epochs, consistency[:, rep], marker="o", markersize=3, color=PALETTE[j % 10],
                     label=f"{j}: {clusters.names[j]} (#{rep}, {classes[labels[rep]]})")
        members = consistency[:, clusters.labels == j]
        axes[1].plot(epochs, members.mean(axis=1), color=PALETTE[j % 10],
                     label=f"{j}: {clusters.names[j]}, n={clusters.sizes[j]} ({clusters.sizes[j] / M:.0%})")
        axes[1].fill_between(epochs, np.percentile(members, 25, axis=1), np.percentile(members, 75, axis=1),
                             color=PALETTE[j % 10], alpha=0.15)
    if highlight is not None:
        axes[0].plot(epochs, consistency[:, highlight], linestyle="--", color="black",
                     label=f"largest drop of the per-image 'learnt then forgotten' (#{highlight}, "
                           f"{classes[labels[highlight]]})")
    axes[0].set(xlabel="epoch", ylabel="consistency", title=f"The image closest to each cluster centre, N={n_models}")
    axes[1].set(xlabel="epoch", title=f"Cluster means and inter-quartile bands, M={M} train images")
    for ax in axes:
        ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    fig.tight_layout()
    return fig


def representative_images(images: np.ndarray, clusters: TrajectoryClusters, labels: np.ndarray,
                          classes: Sequence[str], *, n_models: int) -> Figure:
    """The representative image of each cluster (``images`` ``(k, C, H, W)``, normalised; grey
    levels rescaled per image for display), titled with its cluster, behaviour and true class."""
    k = len(images)
    fig, axes = plt.subplots(1, k, figsize=(1.9 * k, 2.3), squeeze=False)
    for j, ax in enumerate(axes[0]):
        img = images[j].transpose(1, 2, 0)
        img = (img - img.min()) / (img.max() - img.min() + 1e-12)  # undo the normalisation for display
        ax.imshow(img.squeeze(), cmap="gray" if img.shape[-1] == 1 else None)
        ax.set_title(f"{j}: {clusters.names[j]}\n{classes[labels[clusters.representatives[j]]]}", fontsize="small")
        ax.axis("off")
    fig.suptitle(f"Representative train images of the {k} trajectory clusters (N={n_models})")
    fig.tight_layout()
    return fig


def cluster_members(epochs: np.ndarray, consistency: np.ndarray, clusters: TrajectoryClusters, cluster: int,
                    start: int, behaviour: np.ndarray, labels: np.ndarray, classes: Sequence[str], *,
                    n_models: int, count: int = 10) -> Figure:
    """The trajectories of ``count`` images of one cluster from its ``start``-th member on, with
    each image's behaviour by the rule, and the cluster's mean trajectory."""
    members = np.flatnonzero(clusters.labels == cluster)[start:start + count]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for m in members:
        ax.plot(epochs, consistency[:, m], marker="o", markersize=2, label=f"#{m} {classes[labels[m]]}: {behaviour[m]}")
    ax.plot(epochs, clusters.centroids[cluster], color="black", linewidth=2, label="cluster mean")
    ax.set(xlabel="epoch", ylabel="consistency", ylim=(-0.05, 1.05),
           title=f"cluster {cluster} ({clusters.names[cluster]}, n={clusters.sizes[cluster]}), N={n_models}")
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig
