"""Interactive views for JupyterLab (ipywidgets). Each draws with the same function as the static
figure beside it on the site, so what a reader explores is what the book shows."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt

from .plots import SPLIT_COLOURS, score_histogram
from .scores import bimodality
from .store import Run


def epoch_explorer(run: Run) -> widgets.interactive:
    """A slider over the recorded epochs and a score selector; train and test histograms side by side."""
    scores = {"consistency": {s: run.split(s).consistency() for s in ("train", "test")},
              "consensus": {s: run.split(s).consensus(run.n_classes) for s in ("train", "test")}}

    def draw(epoch: int, score: str) -> None:
        idx = int(list(run.epochs).index(epoch))
        fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
        for ax, split in zip(axes, ("train", "test")):
            values = scores[score][split][idx]
            score_histogram(values, run.n_models, ax=ax, colour=SPLIT_COLOURS[split], xlabel=score,
                            title=f"{split}, epoch {epoch}: Pearson {bimodality(values):.2f}, "
                                  f"N={run.n_models}, M={len(values)}")
        fig.tight_layout()
        plt.show()

    return widgets.interactive(
        draw,
        epoch=widgets.SelectionSlider(options=[int(e) for e in run.epochs], value=int(run.epochs[-1]),
                                      description="epoch", continuous_update=False),
        score=widgets.Dropdown(options=list(scores), value="consistency", description="score"))
