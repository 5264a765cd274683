"""Figures of the prediction-depth chapter (IV.1): depth histograms, accuracy per depth, depth against
the Part I scores, the probes of a label-noise ensemble, and the two views of difficulty. (Named
``depth``: ``prediction_depth`` is the name of the contract's function in ``methods.depth``, and a
name in the package means one thing.)"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .plots import SPLIT_COLOURS


def depth_histograms(depth: Mapping[str, np.ndarray], n_layers: int, *, arch: str) -> Figure:
    """Share of (member, example) pairs at each depth 0 … L + 1, one bar set per split; ``depth``
    split → ``(n, M)``."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    levels = np.arange(n_layers + 2)
    width = 0.8 / len(depth)
    for i, (split, d) in enumerate(depth.items()):
        share = np.array([(d == v).mean() for v in levels])
        ax.bar(levels + (i - (len(depth) - 1) / 2) * width, share, width, color=SPLIT_COLOURS.get(split),
               label=f"{split} (n={d.shape[0]} networks × M={d.shape[1]})")
    ax.set_xticks(levels, [str(v) if v <= n_layers else f"{v}\n(none)" for v in levels])
    ax.set(xlabel=f"prediction depth (0 = input, {n_layers} = softmax; {n_layers + 1}: the last probe disagrees)",
           ylabel="share of (network, image) pairs", title=f"Prediction depth of {arch} networks")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def accuracy_by_depth(levels: np.ndarray, accuracy: Mapping[str, np.ndarray], count: Mapping[str, np.ndarray],
                      *, chance: float) -> Figure:
    """Accuracy of the networks' predictions per depth (points where a depth holds ≥ 10 pairs; marker
    area ∝ pairs), one line per split; dotted, chance."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for split, acc in accuracy.items():
        n = np.asarray(count[split])
        keep = n >= 10
        ax.plot(levels[keep], acc[keep], "-", color=SPLIT_COLOURS.get(split), label=f"{split} ({n.sum()} pairs)")
        ax.scatter(levels[keep], acc[keep], s=8 + 200 * n[keep] / n.max(), color=SPLIT_COLOURS.get(split))
    ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
    ax.set(xlabel="prediction depth", ylabel="accuracy of the network", ylim=(-0.02, 1.02),
           title="Accuracy per prediction depth (depths with ≥ 10 pairs)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def depth_relations(effective: Mapping[str, np.ndarray], score_sets: Mapping[str, Mapping[str, np.ndarray]],
                    names: Sequence[str], labels: Mapping[str, str], rho: Mapping[tuple[str, str], float], *,
                    n_members: int) -> Figure:
    """One panel per score of ``names``: its mean (± sd band) over the examples of each effective-depth
    bin (effective depth rounded to the nearest layer), one line per split; ρ in the legend."""
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        for split, eff in effective.items():
            value = np.asarray(score_sets[split][name], float)
            bins = np.rint(eff).astype(int)
            shown = [b for b in np.unique(bins) if (bins == b).sum() >= 5]
            mean = np.array([value[bins == b].mean() for b in shown])
            sd = np.array([value[bins == b].std() for b in shown])
            colour = SPLIT_COLOURS.get(split)
            ax.plot(shown, mean, "o-", ms=3, color=colour, label=f"{split} (M={len(eff)}, ρ {rho[(split, name)]:+.2f})")
            ax.fill_between(shown, mean - sd, mean + sd, color=colour, alpha=0.15)
        ax.set(xlabel=f"effective depth (mean over {n_members} networks)", ylabel=labels[name])
        ax.legend(fontsize="x-small")
    fig.suptitle("Part I's scores against prediction depth (bins with ≥ 5 images; band ± 1 sd)")
    fig.tight_layout()
    return fig


def noise_probes(layers: np.ndarray, shares: Mapping[str, np.ndarray], effective: np.ndarray, flipped: np.ndarray,
                 n_layers: int, *, n_members: int, chance: float) -> Figure:
    """Left: per probed layer, the share of flipped training images whose probe gives the original
    class or the flipped label, and the share of clean images given their label. Right: histogram of
    the effective training-split depth of flipped and clean images."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    styles = {"flipped: original": ("#2ca02c", "-"), "flipped: given": ("#d62728", "-"), "clean: label": ("#1f77b4", "--")}
    for name, share in shares.items():
        colour, ls = styles.get(name, (None, "-"))
        axes[0].plot(layers, share, ls, marker="o", ms=3, color=colour, label=name)
    axes[0].axhline(chance, color="grey", ls=":", lw=1, label="chance")
    axes[0].set(xlabel=f"probed layer (0 = input, {n_layers} = softmax)", ylabel="share of training images",
                ylim=(-0.02, 1.02), title=f"What the k-NN probes say, mean over {n_members} networks")
    axes[0].legend(fontsize="x-small")
    bins = np.arange(-0.25, n_layers + 1.75, 0.5)
    axes[1].hist(effective[~flipped], bins=bins, density=True, alpha=0.6, color="#1f77b4",
                 label=f"clean ({(~flipped).sum()})")
    axes[1].hist(effective[flipped], bins=bins, density=True, alpha=0.6, color="#d62728", label=f"flipped ({flipped.sum()})")
    axes[1].set(xlabel="effective training-split depth", ylabel="density", title="Depth of flipped and clean images")
    axes[1].legend(fontsize="small")
    fig.tight_layout()
    return fig


def two_views(train_depth: np.ndarray, val_depth: np.ndarray, groups: np.ndarray, names: Sequence[str],
              threshold: float, n_layers: int, *, n_members: tuple[int, int]) -> Figure:
    """The two-dimensional view: every training image at (depth when trained on, depth when held out),
    coloured by its group, jittered by less than half a bin; dashed, the threshold of a deep view."""
    fig, ax = plt.subplots(figsize=(6.2, 5.2))
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.12, 0.12, (2, len(train_depth)))
    for g, name in enumerate(names):
        rows = groups == g
        ax.scatter(train_depth[rows] + jitter[0, rows], val_depth[rows] + jitter[1, rows], s=5, alpha=0.5,
                   label=f"{name} ({rows.sum()})")
    for line in (ax.axvline, ax.axhline):
        line(threshold, color="grey", ls="--", lw=1)
    ax.plot([0, n_layers + 1], [0, n_layers + 1], color="grey", lw=0.6, ls=":")
    ax.set(xlabel=f"training-split depth (mean over {n_members[0]} networks that trained on it)",
           ylabel=f"validation-split depth (mean over {n_members[1]} that did not)",
           xlim=(-0.5, n_layers + 1.5), ylim=(-0.5, n_layers + 1.5),
           title=f"Two views of difficulty: M={len(train_depth)} training images")
    ax.legend(fontsize="x-small", markerscale=3, loc="upper left")
    fig.tight_layout()
    return fig


def group_images(images: Mapping[str, np.ndarray], captions: Mapping[str, Sequence[str]]) -> Figure:
    """One row per group: its images (``(n, C, H, W)``, grey levels rescaled per image), each captioned."""
    n = max([1, *(len(v) for v in images.values())])
    fig, axes = plt.subplots(len(images), n, figsize=(1.6 * n, 1.9 * len(images)), squeeze=False)
    for row, (name, imgs) in zip(axes, images.items()):
        for j, ax in enumerate(row):
            ax.axis("off")
            if j >= len(imgs):
                continue
            img = imgs[j].transpose(1, 2, 0)
            img = (img - img.min()) / (img.max() - img.min() + 1e-12)
            ax.imshow(img.squeeze(), cmap="gray" if img.shape[-1] == 1 else None)
            ax.set_title(captions[name][j], fontsize="x-small")
        row[0].text(-0.15, 0.5, name, transform=row[0].transAxes, ha="right", va="center", fontsize="small")
    fig.tight_layout()
    return fig
