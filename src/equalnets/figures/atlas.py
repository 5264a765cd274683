"""Figures of the difficulty atlas (Part V): the Spearman matrix of every score with its bootstrap
intervals, the scatter of the pairs of scores that disagree most, and, in JupyterLab, an explorer that
sets any two scores against each other and shows a chosen example's image and trajectory. The
galleries of images use :func:`equalnets.figures.depth.group_images`."""

from __future__ import annotations

from typing import Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..analysis.atlas import SCORES, SpearmanMatrix
from .plots import SPLIT_COLOURS


def _short(name: str) -> str:
    return SCORES[name].label if name in SCORES else name


def spearman_heatmaps(matrices: Mapping[str, SpearmanMatrix], *, n_boot: int) -> Figure:
    """One heatmap per split (``matrices`` split → :class:`~equalnets.analysis.atlas.SpearmanMatrix`):
    Spearman's ρ of every pair of scores, its bootstrap interval written under it."""
    fig, axes = plt.subplots(len(matrices), 1, figsize=(13, 10 * len(matrices)), squeeze=False)
    for ax, (split, m) in zip(axes[:, 0], matrices.items()):
        image = ax.imshow(m.rho, cmap="coolwarm", vmin=-1, vmax=1)
        labels = [_short(n) for n in m.names]
        ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize="small")
        ax.set_yticks(range(len(labels)), labels, fontsize="small")
        ax.grid(False)
        for i in range(len(m.names)):
            for j in range(len(m.names)):
                text = "1" if i == j else f"{m.rho[i, j]:+.2f}\n[{m.low[i, j]:+.2f}, {m.high[i, j]:+.2f}]"
                ax.text(j, i, text, ha="center", va="center", fontsize=6,
                        color="white" if np.isfinite(m.rho[i, j]) and abs(m.rho[i, j]) > 0.6 else "black")
        ax.set_title(f"{split} split: Spearman ρ of every pair of scores over M={m.n} images, "
                     f"{m.confidence:.0%} bootstrap interval ({n_boot} resamples of the images)")
        fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="Spearman ρ")
    fig.tight_layout()
    return fig


def score_scatter(ax: Axes, x: np.ndarray, y: np.ndarray, *, colour: str, label: str, size: float = 4,
                  alpha: float = 0.35) -> Axes:
    """One split's examples at their values of two scores (the static figure's and the explorer's panel)."""
    ax.scatter(x, y, s=size, alpha=alpha, color=colour, label=label, linewidths=0)
    return ax


def pair_scatters(tables: Mapping[str, pd.DataFrame], pairs: Sequence[tuple[str, str, float]],
                  matrices: Mapping[str, SpearmanMatrix]) -> Figure:
    """The scatter of each pair ``(a, b, ρ')`` of scores (the pairs that disagree most), every example of
    every split in ``tables``, with each split's Spearman ρ in the title."""
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.0 * len(pairs), 4.4), squeeze=False)
    for ax, (a, b, _) in zip(axes[0], pairs):
        for split, table in tables.items():
            score_scatter(ax, table[a], table[b], colour=SPLIT_COLOURS[split], label=f"{split} (M={len(table)})")
        rho = ", ".join(f"{s} ρ {matrices[s].pair(a, b)[0]:+.2f}" for s in tables)
        ax.set(xlabel=_short(a), ylabel=_short(b), title=f"{_short(a)}\nvs {_short(b)}\n{rho}")
        ax.legend(fontsize="x-small", markerscale=3)
    fig.tight_layout()
    return fig


def _image(ax: Axes, image: np.ndarray, title: str) -> None:
    img = np.asarray(image).transpose(1, 2, 0)
    img = (img - img.min()) / (img.max() - img.min() + 1e-12)
    ax.imshow(img.squeeze(), cmap="gray" if img.shape[-1] == 1 else None)
    ax.set_title(title, fontsize="small")
    ax.axis("off")


def example_trajectory(ax: Axes, epochs: np.ndarray, curves: Mapping[str, np.ndarray], *, n_models: int,
                       title: str) -> Axes:
    """A chosen example's curves over the recorded epochs (``curves`` name → ``(E,)``, e.g. consistency and
    the mean probability of the label)."""
    for name, values in curves.items():
        ax.plot(epochs, values, marker="o", markersize=3, label=name)
    ax.set(xlabel="epoch", ylabel=f"value (N={n_models} networks)", ylim=(-0.05, 1.05), title=title)
    ax.legend(fontsize="x-small")
    return ax


def atlas_explorer(tables: Mapping[str, pd.DataFrame], images: Mapping[str, np.ndarray],
                   trajectories: Mapping[str, Mapping[str, np.ndarray]], epochs: np.ndarray,
                   labels: Mapping[str, np.ndarray], classes: Sequence[str], *, n_models: int) -> widgets.VBox:
    """For JupyterLab: pick a split and two scores → their scatter (:func:`score_scatter`); pick an example
    (its row) → it is marked there, with its image and its trajectory (:func:`example_trajectory`;
    ``trajectories`` split → name → ``(E, M)``). ``images`` split → ``(M, C, H, W)``."""
    names = [n for n in SCORES if n in next(iter(tables.values())).columns]
    split_w = widgets.ToggleButtons(options=list(tables), description="split")
    x_w = widgets.Dropdown(options=[(_short(n), n) for n in names], value=names[0], description="x score")
    y_w = widgets.Dropdown(options=[(_short(n), n) for n in names], value=names[-1], description="y score")
    row_w = widgets.BoundedIntText(value=0, min=0, max=len(next(iter(tables.values()))) - 1, description="example")
    out = widgets.Output()

    def redraw(_change=None) -> None:
        split, table = split_w.value, tables[split_w.value]
        row_w.max = len(table) - 1
        i = min(row_w.value, len(table) - 1)
        with out:
            out.clear_output(wait=True)
            fig, (ax_s, ax_i, ax_t) = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1.3, 0.7, 1.2]})
            score_scatter(ax_s, table[x_w.value], table[y_w.value], colour=SPLIT_COLOURS[split],
                          label=f"{split} (M={len(table)})")
            ax_s.scatter([table[x_w.value].iloc[i]], [table[y_w.value].iloc[i]], s=120, marker="*", color="black",
                         label=f"example {i}")
            ax_s.set(xlabel=_short(x_w.value), ylabel=_short(y_w.value))
            ax_s.legend(fontsize="x-small")
            _image(ax_i, images[split][i], f"{split} #{i}: {classes[labels[split][i]]}")
            curves = {name: values[:, i] for name, values in trajectories[split].items() if name != "margin"}
            example_trajectory(ax_t, epochs, curves, n_models=n_models, title="over training")
            fig.tight_layout()
            plt.show()

    for w in (split_w, x_w, y_w, row_w):
        w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([split_w, row_w]), widgets.HBox([x_w, y_w]), out])
