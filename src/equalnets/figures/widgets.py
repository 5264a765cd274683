"""Interactive views for JupyterLab (ipywidgets). Each draws with the same function as the static
figure beside it on the site, so what a reader explores is what the book shows."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..analysis import scores
from ..engine.store import Run
from .dropout import plot_active_fraction
from .examples import cluster_members
from .plots import SPLIT_COLOURS, joint_consistency_panel, score_histogram


def epoch_explorer(run: Run) -> widgets.interactive:
    """A slider over the recorded epochs and a score selector; train and test histograms side by side."""
    by_score = {"consistency": {s: scores.consistency(run.split(s).pred, run.split(s).labels) for s in ("train", "test")},
                "consensus": {s: scores.consensus(run.split(s).pred, run.n_classes) for s in ("train", "test")}}

    def draw(epoch: int, score: str) -> None:
        idx = int(list(run.epochs).index(epoch))
        fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
        for ax, split in zip(axes, ("train", "test")):
            values = by_score[score][split][idx]
            score_histogram(values, run.n_models, ax=ax, colour=SPLIT_COLOURS[split], xlabel=score,
                            title=f"{split}, epoch {epoch}: Pearson {scores.bimodality(values):.2f}, "
                                  f"N={run.n_models}, M={len(values)}")
        fig.tight_layout()
        plt.show()

    return widgets.interactive(
        draw,
        epoch=widgets.SelectionSlider(options=[int(e) for e in run.epochs], value=int(run.epochs[-1]),
                                      description="epoch", continuous_update=False),
        score=widgets.Dropdown(options=list(by_score), value="consistency", description="score"))


def active_fraction_explorer(active: pd.DataFrame, *, p: float):
    """An ipywidgets view of ``q⁺`` (``Comparison.active`` of
    :func:`equalnets.chapters.part3_jumpout.compare_variants`): pick the architecture, the variant and a
    layer (or all). For JupyterLab; returns the widget box."""
    def options(column: str) -> list[str]:
        return list(dict.fromkeys(active[column]))

    arch = widgets.Dropdown(options=options("arch"), description="arch")
    variant = widgets.Dropdown(options=options("variant"), description="variant")
    layers = sorted(active["layer"].unique(), key=lambda name: (len(name), name))
    layer = widgets.Dropdown(options=["all", *layers], description="layer")
    out = widgets.Output()

    def draw(_=None) -> None:
        sub = active[(active.arch == arch.value) & (active.variant == variant.value)]
        sub = sub if layer.value == "all" else sub[sub.layer == layer.value]
        out.clear_output(wait=True)
        with out:
            if sub.empty:
                print("no such layer in this network")
                return
            plot_active_fraction(sub, p=p, title=f"{arch.value.upper()}, {variant.value}: q⁺ "
                                                 f"(N = {sub.member.nunique()} networks)")
            plt.show()

    for w in (arch, variant, layer):
        w.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([arch, variant, layer]), out])


def matched_pairs_explorer(scores_a: np.ndarray, scores_b: np.ndarray, pairs: list[tuple[int, int]], *,
                           names: tuple[str, str], epochs: tuple[np.ndarray, np.ndarray],
                           accuracy: tuple[np.ndarray, np.ndarray], n_models: tuple[int, int]):
    """A slider over matched epoch pairs ``(e_a, e_b)`` of two ensembles: the joint distribution of
    their consistency (``scores_a`` ``(E_a, M)``, ``scores_b`` ``(E_b, M)``) at each pair, drawn as
    the static figure's panels; ``names``, ``epochs``, ``accuracy`` (mean, ``(E,)``) and ``n_models``
    per ensemble. A label where no pair matched."""
    if not pairs:
        return widgets.Label("no matched epochs")

    def draw(k: int = 0) -> None:
        i, j = pairs[k]
        fig, ax = plt.subplots(figsize=(4.2, 3.6))
        image = joint_consistency_panel(scores_a[i], scores_b[j], *n_models, ax=ax,
                                        xlabel=f"{names[0]}, epoch {epochs[0][i]}",
                                        ylabel=f"{names[1]}, epoch {epochs[1][j]}",
                                        title=f"accuracy {accuracy[0][i]:.2f} / {accuracy[1][j]:.2f}")
        fig.colorbar(image, ax=ax)
        plt.show()

    return widgets.interactive(draw, k=widgets.IntSlider(0, 0, len(pairs) - 1, description="matched pair"))


def class_explorer(draw, classes: dict[str, tuple[str, ...]], *, data: str, cls: int) -> widgets.VBox:
    """Two dropdowns, a data set (a key of ``classes``) and one of its classes, and the figure
    ``draw(data, cls)`` returns for them, redrawn on every change. For JupyterLab; returns the widget box."""
    data_w = widgets.Dropdown(options=list(classes), value=data, description="data")
    class_w = widgets.Dropdown(options=[(c, i) for i, c in enumerate(classes[data])], value=cls, description="class")
    out = widgets.Output()

    def redraw(_change=None) -> None:
        with out:
            out.clear_output(wait=True)
            draw(data_w.value, class_w.value)
            plt.show()

    def on_data(_change) -> None:
        class_w.options = [(c, i) for i, c in enumerate(classes[data_w.value])]
        redraw()

    data_w.observe(on_data, names="value")
    class_w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([data_w, class_w]), out])


def cluster_explorer(epochs, consistency, clusters, behaviour, labels, classes, *, n_models: int) -> widgets.interactive:
    """A cluster selector and a slider over its members: the trajectories of ten of its images at a
    time (:func:`~equalnets.figures.examples.cluster_members`, the static figure's function)."""
    def draw(cluster: int, start: int) -> None:
        cluster_members(epochs, consistency, clusters, cluster, start, behaviour, labels, classes, n_models=n_models)
        plt.show()

    return widgets.interactive(
        draw, cluster=widgets.Dropdown(options=list(range(len(clusters.sizes))), description="cluster"),
        start=widgets.IntSlider(0, 0, max(0, int(clusters.sizes.max()) - 1), 10, description="first image",
                                continuous_update=False))
