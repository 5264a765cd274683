"""Figures of §5 (other learning paradigms): classical learners' accuracy against the CNN ensemble's
difficulty of each test image (the paper's Fig. 6 and 7). Each returns the figure."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..analysis.stats import Correlation, GivenReference
from ..analysis.subsets import GROUP_NAMES


def adaboost_by_difficulty(ks: np.ndarray, by_group: np.ndarray, overall: np.ndarray, *, n_images: int,
                           n_models: int) -> Figure:
    """AdaBoost's accuracy against its number of weak learners ``ks`` ``(K,)``, one curve per CNN
    difficulty third (``by_group`` ``(K, 3)``, easiest first), dashed on all images (``overall``)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for g, name in enumerate(GROUP_NAMES):
        ax.plot(ks, by_group[:, g], marker="o", label=f"{name} third (CNN)")
    ax.plot(ks, overall, color="black", linestyle="--", label="all test images")
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("number of weak linear learners k")
    ax.set_ylabel("AdaBoost test accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"AdaBoost accuracy by CNN difficulty, M={n_images} test images (thirds by N={n_models} CNNs)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def difficulty_scatter(boost_score: np.ndarray, speed: np.ndarray, groups: np.ndarray, correlation: Correlation, *,
                       max_k: int, seed: int = 0) -> Figure:
    """Each image's AdaBoost score (fraction of k = 1..``max_k`` right) against its CNN learning
    speed, both ``(M,)``, coloured by the CNN's third (``groups``) and jittered by ±0.01 (drawn with
    ``seed``) so that ties show; the title gives ``correlation``."""
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    jitter = np.random.default_rng(seed).uniform(-0.01, 0.01, size=(2, len(speed)))
    for g, name in enumerate(GROUP_NAMES):
        sel = groups == g
        ax.scatter(boost_score[sel] + jitter[0, sel], speed[sel] + jitter[1, sel], s=8, alpha=0.4,
                   label=f"{name} third")
    ax.legend(fontsize="small", title="CNN difficulty", loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_xlabel(f"AdaBoost score (fraction of k = 1..{max_k} correct)")
    ax.set_ylabel("CNN learning speed")
    ax.set_title(f"AdaBoost vs CNN difficulty, M={len(speed)} test images\n{correlation.describe()}", fontsize="small")
    fig.tight_layout()
    return fig


def accuracy_where_cnn_right(given: Mapping[tuple[str, str], GivenReference], names: Sequence[str],
                             cnn_right: Mapping[str, np.ndarray], *, n_models: int) -> Figure:
    """Per moment (one panel each), every classifier's accuracy among the images the CNN majority
    gets right and among those it gets wrong, with a black tick at its accuracy on all images (what it
    would get on either set if its errors were independent of the CNN's): ``given`` (moment, name) →
    :class:`~equalnets.analysis.stats.GivenReference`; ``cnn_right`` moment → ``(M,)`` bool, the
    images the CNN majority gets right then."""
    fig, axes = plt.subplots(1, len(cnn_right), figsize=(6 * len(cnn_right), 4), sharey=True, squeeze=False)
    pos = np.arange(len(names))
    for ax, (m, right_mask) in zip(axes[0], cnn_right.items()):
        ax.bar(pos - 0.2, [given[m, n].right for n in names], 0.4, color="#1f77b4", label="CNN majority right")
        ax.bar(pos + 0.2, [given[m, n].wrong for n in names], 0.4, color="#d62728", label="CNN majority wrong")
        ax.scatter(pos, [given[m, n].base for n in names], marker="_", s=900, color="black", zorder=3,
                   label="all images (independent errors)")
        ax.set_xticks(pos, names, rotation=35, ha="right")
        n_right = int(right_mask.sum())
        ax.set_title(f"{m}: CNN right on {n_right}, wrong on {len(right_mask) - n_right} of M={len(right_mask)}")
        ax.set_ylim(0, 1.25)
        ax.legend(fontsize="small", ncol=2, loc="upper center")
    axes[0, 0].set_ylabel("fraction classified correctly")
    fig.suptitle(f"Accuracy of each classifier among test images the N={n_models} CNNs get right / wrong")
    fig.tight_layout()
    return fig
