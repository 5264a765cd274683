"""Figures of Part II (bias attribution): the digit-flip test per method and per network, and grids of
attribution maps at the input and at every layer. Each returns the figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def flip_boxes(flip: pd.DataFrame, methods: list[str], *, data: str, n_remove: int, n_features: int,
               n_networks: int) -> Figure:
    """One panel per source → target pair: boxes of the rise of the log-odds after removing
    ``n_remove`` features, one per method (``flip``: the digit-flip rows, networks pooled)."""
    pairs = list(dict.fromkeys(flip["pair"]))
    fig, axes = plt.subplots(1, len(pairs), figsize=(6 * len(pairs), 4.8), sharey=True, squeeze=False)
    palette = dict(zip(methods, sns.color_palette("tab10", len(methods))))
    for ax, (pair, part) in zip(axes[0], flip.groupby("pair", sort=False)):
        sns.boxplot(data=part, x="method", y="rise", order=methods, hue="method", palette=palette,
                    legend=False, ax=ax, fliersize=2)
        n = part.groupby("method").size().min()
        ax.set_title(f"{data}: {pair}, N = {n} images per box ({n_networks} networks pooled)")
        ax.set_xlabel("attribution method")
        ax.set_ylabel(f"rise of log-odds (target − source) after removing {n_remove} features")
        ax.tick_params(axis="x", rotation=60)
        ax.axhline(0, color="grey", lw=0.8)
    fig.suptitle(f"Digit-flip test (as in the paper's Fig. 3): {n_remove} of {n_features} pixels set to blank")
    fig.tight_layout()
    return fig


def flip_per_network(per_net: pd.DataFrame, methods: list[str], *, n_networks: int, max_images: int) -> Figure:
    """The median rise per (network, pair, method): one point each, pairs by colour."""
    fig, ax = plt.subplots(figsize=(9, 4))
    sns.stripplot(data=per_net, x="method", y="rise", hue="pair", order=methods, dodge=True, ax=ax, size=6)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(f"Median rise per network: {n_networks} CNNs × {per_net['pair'].nunique()} pairs, "
                 f"each point the median over ≤ {max_images} images")
    ax.set_xlabel("attribution method")
    ax.set_ylabel("median rise of log-odds")
    ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    return fig


def _signed_map(ax: Axes, img: np.ndarray) -> None:
    """``img`` on a symmetric red (for) / blue (against) scale of its own."""
    v = float(np.abs(img).max()) or 1.0
    ax.imshow(img, cmap="RdBu_r", vmin=-v, vmax=v)


def attribution_grid(maps: dict[str, np.ndarray], row_labels: list[str], *, network: str) -> Figure:
    """One row per image, one column per entry of ``maps`` (title → ``(n, H, W)``; the column
    ``'image'`` is drawn in grey, the others as signed maps)."""
    n = len(row_labels)
    fig, axes = plt.subplots(n, len(maps), figsize=(1.6 * len(maps), 1.6 * n), squeeze=False)
    for j, (title, images) in enumerate(maps.items()):
        for i in range(n):
            ax = axes[i, j]
            if title == "image":
                ax.imshow(images[i], cmap="gray_r")
                ax.set_ylabel(row_labels[i], fontsize=8)
            else:
                _signed_map(ax, images[i])
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle(f"{network}: attributions for the image's class, N = {n} images (one per class)", fontsize=10)
    fig.tight_layout()
    return fig


def layer_grid(image: np.ndarray, per_rule: dict[str, list[dict[str, object]]], *, title: str) -> Figure:
    """Rows: the layers with a spatial input (``per_rule``: rule → the layers' ``spatial_maps`` of one
    image); columns: the image, the weight part g·z and the bias part β of each rule."""
    rules = list(per_rule)
    layers = per_rule[rules[0]]
    cols = ["image", "weight part g·z"] + [f"bias part β ({r})" for r in rules]
    fig, axes = plt.subplots(len(layers), len(cols), figsize=(1.9 * len(cols), 1.9 * len(layers)), squeeze=False)
    for i, layer in enumerate(layers):
        panels = [None, layer["weight"][0]] + [per_rule[r][i]["bias"][0] for r in rules]
        for j, (col, img) in enumerate(zip(cols, panels)):
            ax = axes[i, j]
            if img is None:
                c, h, w = layer["shape"]
                ax.imshow(image, cmap="gray_r")
                ax.set_ylabel(f"{layer['layer']}\n{c}×{h}×{w}", fontsize=7)
            else:
                _signed_map(ax, img)
                ax.set_xlabel(f"sum {img.sum():+.2f}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
