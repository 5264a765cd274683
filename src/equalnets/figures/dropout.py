"""Figures of Part III (Jumpout): q⁺ per layer over training, the drawn rates, the moment shift at the
batch norm input, and the accuracy and time of every dropout variant. Each returns the figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


def plot_active_fraction(active: pd.DataFrame, *, p: float, ax=None, title: str | None = None):
    """``q⁺`` of each dropout layer over the epochs (mean over the networks, band: min–max), with the
    base rate ``p`` and, on a second axis, the effective rate ``p·q⁺`` of plain dropout.
    ``active``: rows of one arch and variant (``Comparison.active`` of
    :func:`equalnets.chapters.part3_jumpout.compare_variants`). Returns the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.4))
    layers = sorted(active["layer"].unique(), key=lambda name: (len(name), name))
    sns.lineplot(data=active, x="epoch", y="q_plus", hue="layer", hue_order=layers, marker="o",
                 errorbar=("pi", 100), ax=ax)
    ax.set_ylim(0, 1)
    ax.set_xlabel("epoch (0 = untrained)")
    ax.set_ylabel("active fraction q⁺ of the dropout input")
    right = ax.secondary_yaxis("right", functions=(lambda q: p * q, lambda e: e / p))
    right.set_ylabel(f"effective rate p·q⁺ (p = {p:g})")
    n = active["member"].nunique()
    ax.set_title(title or f"q⁺ per layer (N = {n} network{'s' if n > 1 else ''})")
    ax.legend(title="layer", fontsize=8)
    return ax.figure


def plot_rate_distribution(rates: np.ndarray, *, p: float, sigma: float, p_min: float, p_max: float,
                           ax=None):
    """Histogram of drawn rates with their mean and the fixed rate ``p``. Returns the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(rates, bins=60, density=True, color="tab:blue", alpha=0.7)
    ax.axvline(float(np.mean(rates)), color="tab:blue", ls="--", label=f"mean {np.mean(rates):.3f}")
    ax.axvline(p, color="k", ls=":", label=f"plain dropout p = {p:g}")
    ax.set_xlabel("dropout rate drawn for one layer and step")
    ax.set_ylabel("density")
    ax.set_title(f"min(p_min + |N(0, σ)|, p_max), σ = {sigma:.3f}, "
                 f"[{p_min:g}, {p_max:g}] (N = {len(rates):,})", fontsize=9)
    ax.legend(fontsize=8)
    return ax.figure


def plot_moment_shift(table: pd.DataFrame, *, axes=None, n_images: int | None = None):
    """Median over units of |mean shift| (in training SDs) and of |log variance ratio| against
    the rate, one line per rescaling power. ``table``: output of
    :func:`equalnets.methods.jumpout.shift_table`. Returns
    the figure."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    df = table.assign(abs_mean_shift=table.mean_shift.abs(), abs_log_var=np.log(table.var_ratio).abs())
    df = df.groupby(["layer", "rate", "power"], as_index=False)[["abs_mean_shift", "abs_log_var"]].median()
    df["rescaling"] = df.power.map(lambda a: f"(1−p)^−{a:g}")
    kw = dict(x="rate", hue="rescaling", style="layer", marker="o")
    sns.lineplot(data=df, y="abs_mean_shift", ax=axes[0], **kw)
    sns.lineplot(data=df, y="abs_log_var", ax=axes[1], legend=False, **kw)
    where = f", {n_images} images" if n_images else ""
    axes[0].set(xlabel="dropout rate p", ylabel="median |μ_test − μ_train| / σ_train",
                title=f"Mean shift at the batch norm input{where}")
    axes[1].set(xlabel="dropout rate p", ylabel="median |log(σ²_test / σ²_train)|",
                title=f"Variance shift at the batch norm input{where}")
    axes[0].legend(fontsize=7)
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_comparison(results: pd.DataFrame, *, variants: list[str], axes=None):
    """Test accuracy (points: networks; bar: mean ± SD) and training time per variant, one column
    per architecture. ``results``: ``Comparison.results``. Returns the figure."""
    archs = list(dict.fromkeys(results.arch))
    if axes is None:
        _, axes = plt.subplots(2, len(archs), figsize=(5 * len(archs), 6.4), squeeze=False)
    n = results.member.nunique()
    for j, arch in enumerate(archs):
        df = results[results.arch == arch].assign(acc=lambda d: 100 * d.test_acc)
        for i, (col, label) in enumerate((("acc", "test accuracy (%)"), ("train_seconds", "training time (s)"))):
            ax = axes[i][j]
            sns.pointplot(data=df, x="variant", y=col, order=variants, errorbar="sd", capsize=0.2,
                          linestyle="none", color="k", ax=ax)
            sns.stripplot(data=df, x="variant", y=col, order=variants, hue="variant",
                          hue_order=variants, legend=False, alpha=0.6, ax=ax)
            ax.set(xlabel="", ylabel=label, title=f"{arch.upper()}: {label.split(' (')[0]} (N = {n} networks, mean ± SD)")
            ax.tick_params(axis="x", labelrotation=20)
    axes[0][0].figure.tight_layout()
    return axes[0][0].figure


def plot_active_by_arch(active: pd.DataFrame, *, p: float, n_images: int):
    """:func:`plot_active_fraction` side by side, one panel per architecture of ``active`` (rows of one
    variant), measured on ``n_images`` images. Returns the figure."""
    archs = list(dict.fromkeys(active.arch))
    fig, axes = plt.subplots(1, len(archs), figsize=(5.5 * len(archs), 3.6), squeeze=False)
    for ax, arch in zip(axes[0], archs):
        rows = active[active.arch == arch]
        plot_active_fraction(rows, p=p, ax=ax, title=f"{arch.upper()}, {rows.variant.iloc[0]}: q⁺ per layer "
                                                     f"(N = {rows.member.nunique()} networks, {n_images} images)")
    fig.tight_layout()
    return fig
