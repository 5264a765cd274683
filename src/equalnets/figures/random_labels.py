"""Figures of IV.2 (random labels): the misalignment of a first layer over training against random
bases, the transfer function f(σ) per epoch, the learning curves of the fine-tuning runs, and the
first-layer filters as images. Each takes arrays and returns the figure."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter, ScalarFormatter

#: Colours of the fine-tuning runs (the engine's init modes and the fresh start).
MODE_COLOURS = {"scratch": "#555555", "copy": "#d62728", "rescaled": "#ff7f0e", "covariance": "#2ca02c",
                "first-layer": "#1f77b4"}


def misalignment_curves(panels: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], *, suptitle: str = "") -> Figure:
    """One panel per run: ``(epochs (E,), data (E,), random (E, B))``, the misalignment of Σ_w to the
    data's eigenvectors (line) and to B random orthonormal bases (median, band from the 5th to the 95th
    percentile) per recorded epoch."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.5), squeeze=False)
    for ax, (title, (epochs, data, random)) in zip(axes[0], panels.items()):
        low, mid, high = np.percentile(random, [5, 50, 95], axis=1)
        ax.fill_between(epochs, low, high, color="grey", alpha=0.25, label=f"random bases (5-95 %, B={random.shape[1]})")
        ax.plot(epochs, mid, color="grey", marker=".", label="random bases (median)")
        ax.plot(epochs, data, color="#d62728", marker="o", markersize=3, label="eigenvectors of Σ_x")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel("misalignment of Σ_w")
        ax.set_title(title)
        ax.legend(fontsize="small")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def transfer_functions(panels: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], *, suptitle: str = "") -> Figure:
    """One panel per run: ``(epochs (E,), sigma (D,), f (E, D))``, f(σ) = √(vᵀ Σ_w v) along the data's
    eigen-directions, one line per recorded epoch (dark: early, light: late), σ on a log axis."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.5), squeeze=False)
    for ax, (title, (epochs, sigma, f)) in zip(axes[0], panels.items()):
        colours = cm.viridis(np.linspace(0, 0.9, len(epochs)))
        for k, (epoch, curve) in enumerate(zip(epochs, f)):
            ax.plot(sigma, curve, marker="o", markersize=3, color=colours[k],
                    label=f"epoch {int(epoch)}" if k in (0, len(epochs) - 1) else None)
        ax.set_xscale("log")
        ax.set_xticks([t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20) if sigma.min() <= t <= sigma.max()])
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("σ (√ eigenvalue of Σ_x)")
        ax.set_ylabel("f(σ) = √(vᵀ Σ_w v)")
        ax.set_title(title)
        ax.legend(fontsize="small")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def learning_curves(epochs: np.ndarray, accuracy: Mapping[str, np.ndarray], panels: Mapping[str, tuple[str, ...]], *,
                    suptitle: str = "") -> Figure:
    """Training accuracy per epoch of the fine-tuning runs, mean ± one standard deviation over members:
    ``accuracy`` mode → ``(N, E)``; ``panels`` title → the modes it shows."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False, sharey=True)
    for ax, (title, modes) in zip(axes[0], panels.items()):
        for mode in modes:
            acc = accuracy[mode]
            colour = MODE_COLOURS.get(mode)
            ax.plot(epochs, acc.mean(0), marker="o", markersize=3, color=colour, label=f"{mode} (N={len(acc)})")
            ax.fill_between(epochs, acc.mean(0) - acc.std(0), acc.mean(0) + acc.std(0), color=colour, alpha=0.15)
        ax.set_xlabel("fine-tuning epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.legend(fontsize="small")
    axes[0, 0].set_ylabel("training accuracy (rows trained on)")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def filter_rows(rows: Mapping[str, np.ndarray], *, suptitle: str = "") -> Figure:
    """First-layer filters as small images, one row per entry: title → ``(F, C, k, k)`` (C = 1 grey,
    C = 3 colour); each filter scaled to its own largest |weight| (grey: −max black, 0 mid-grey, +max
    white), so the rows show the filters' shapes, not their norms."""
    n_cols = max(len(f) for f in rows.values())
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(0.75 * n_cols + 1.6, 0.85 * len(rows) + 0.5),
                             squeeze=False)
    for r, (title, filters) in enumerate(rows.items()):
        filters = np.asarray(filters, dtype=float)
        scale = np.abs(filters).reshape(len(filters), -1).max(1).clip(min=1e-12)[:, None, None, None]
        shown = 0.5 + 0.5 * filters / scale                                   # (F, C, k, k) in [0, 1]
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(shown):
                ax.axis("off")
                continue
            image = shown[c].transpose(1, 2, 0)
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
        axes[r, 0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize="small")
    fig.suptitle(suptitle, fontsize="medium")
    fig.tight_layout()
    return fig
