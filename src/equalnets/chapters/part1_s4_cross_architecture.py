"""§4.1 Different architectures learn in the same order: the base st-VGG ensemble against ensembles of
other architectures, compared at epochs of equal accuracy, and the claims of the paper's §4.1 (Fig. 4).

The chapter needs the base ensemble of §3 (:meth:`Parameters.base_config`) and one ensemble per
architecture of ``zoo_archs`` (:meth:`Parameters.zoo_configs`: the base's data, optimizer, learning
rate and schedule, a seed of its own), the paper's own small st-VGG among them. :func:`analyse`
computes every number its figures and tables show, on the test images; :func:`claims` decides the
verdicts from the :class:`~equalnets.engine.store.Run` objects alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from ..analysis import compare, scores
from ..analysis.claims import ClaimsTable
from ..analysis.stats import Correlation, bootstrap_correlation, given_reference
from ..engine.checks import (ParameterError, check_choice_list, check_float, check_int, check_probability,
                             check_record_epochs)
from ..engine.config import ARCHITECTURES, SMALL_ARCHS, ZOO_ARCHS, RunConfig, derived_seed
from ..engine.store import Run
from .base import EnsembleParameters

TITLE = "§4.1 cross architecture"
#: The architectures an ensemble of ``zoo_archs`` may have: the spec ones and torchvision's.
COMPARED_ARCHS = tuple(a for a in ARCHITECTURES if a not in SMALL_ARCHS)
#: The paper's learning-speed correlations (Fig. 4a: two halves of ResNets; Fig. 4b: ResNet vs AlexNet)
#: and how far below them a correlation still reproduces them.
PAPER_WITHIN_R, PAPER_ACROSS_R, R_TOLERANCE = 0.99, 0.87, 0.1
#: At matched accuracy, the mass at the corners (and near the diagonal) must be this many times what the
#: same scores give when paired at random within each class.
PAIRING_FACTOR = 1.3
#: Share of the weaker architecture's right images that the stronger one must get right, and the
#: significance level of the tests against independent errors.
CONTAINED, ALPHA = 0.9, 0.01
#: Random pairings within each class that a correlation's reference (its 1 - ALPHA quantile) is drawn from.
N_PERM = 200
#: The paper's own pair of architectures (Supp. C), a claim of its own where both are compared.
SMALL_PAIR = ("st-vgg", "small-st-vgg")


@dataclass(frozen=True)
class Parameters(EnsembleParameters):
    """The base ensemble's parameters (see :class:`~equalnets.chapters.base.EnsembleParameters`) and
    those of the other architectures' ensembles and of their comparison."""

    zoo_archs: tuple[str, ...] = ("small-st-vgg", "resnet-18", "densenet")  # the other architectures
    zoo_width: float = 0.125                  # width multiplier of the torchvision architectures
    zoo_models: int = 10                      # networks per other architecture
    zoo_epochs: int = 8                       # their training epochs
    zoo_record_epochs: tuple[int, ...] | None = None  # their recorded epochs (None: every epoch)
    match_tol: float = 0.01                   # epochs match when mean test accuracies differ by at most this
    n_levels: int = 2                         # matched accuracy levels shown per pair of architectures
    n_boot: int = 1000                        # bootstrap resamples of the examples

    def check(self) -> None:
        self.set("zoo_archs", check_choice_list("zoo_archs", self.zoo_archs, COMPARED_ARCHS))
        if self.arch in self.zoo_archs:
            raise ParameterError(f"zoo_archs must be architectures other than arch={self.arch!r}, "
                                 f"got {list(self.zoo_archs)!r}")
        check_float("zoo_width", self.zoo_width, low=0, low_open=True)
        check_int("zoo_models", self.zoo_models, 2, why=" (the within-architecture baseline splits each "
                                                         "ensemble into two halves)")
        check_int("zoo_epochs", self.zoo_epochs, 1)
        self.set("zoo_record_epochs", check_record_epochs("zoo_record_epochs", self.zoo_record_epochs,
                                                          self.zoo_epochs, epochs_name="zoo_epochs"))
        check_probability("match_tol", self.match_tol)
        check_int("n_levels", self.n_levels, 1)
        check_int("n_boot", self.n_boot, 1)

    def zoo_configs(self) -> dict[str, RunConfig]:
        """Architecture → RunConfig of each other ensemble: the base's data, optimizer, learning rate and
        schedule, with its own N and epochs, and a seed of its own (``derived_seed(seed, arch)``: no
        member shares its initialisation or mini-batch order with a member of another ensemble). The
        torchvision networks have width ``zoo_width``, the spec ones (small st-VGG) the base's. The
        activation is RunConfig's default, relu, whatever the base's (the torchvision networks bring
        their own ReLUs)."""
        base = self.base_config()
        return {name: base.replace(arch=name, width=self.zoo_width if name in ZOO_ARCHS else self.width,
                                   activation="relu", n_models=self.zoo_models, epochs=self.zoo_epochs,
                                   record_epochs=self.zoo_record_epochs, seed=derived_seed(self.seed, name))
                for name in self.zoo_archs}


def runs(params: Parameters) -> dict[str, RunConfig]:
    """The runs this chapter asks the store for: the base ensemble (shared with §3), then one per
    architecture of ``zoo_archs``."""
    return {"base": params.base_config(), **params.zoo_configs()}


@dataclass(frozen=True)
class Analysis:
    """What the figures, the tables and the claims are computed from; test images throughout.

    Every mapping is keyed by ensemble name (the base's architecture first, then the others):
    ``accuracy`` ``(E,)`` mean test accuracy; ``consistency`` ``(E, M)``; ``speed`` ``(M,)``
    learning speed (``scores.speed``: consistency averaged over the training epochs ≥ 1); ``halves``
    the speeds of the two disjoint halves of each ensemble. ``levels`` pair → the matched
    ``(e_a, e_b)`` epoch indices shown; ``agreement`` one row per shown level, beside the same scores
    paired at random within each class (``compare.permute_within_class``); ``correlations``
    ``(kind, a, b)`` → learning-speed correlation, ``kind`` ``'within'`` (two halves of ``a``) or
    ``'across'``; ``null_r`` the same key → the reference of that r: its ``1 - ALPHA`` quantile over
    :data:`N_PERM` pairings of the two speeds at random within each class
    (``compare.pairing_null_r``: what the classes' difficulty alone gives); ``knowledge`` one row per pair;
    ``match_tol`` the tolerance the epochs were matched with.
    """

    names: tuple[str, ...]
    runs: dict[str, Run]
    accuracy: dict[str, np.ndarray]
    consistency: dict[str, np.ndarray]
    chance: float
    pairs: tuple[tuple[str, str], ...]
    levels: dict[tuple[str, str], list[tuple[int, int]]]
    n_matched: dict[str, int]
    agreement: list[dict]
    correlations: dict[tuple[str, str, str], Correlation]
    null_r: dict[tuple[str, str, str], float]
    speed: dict[str, np.ndarray]
    halves: dict[str, tuple[np.ndarray, np.ndarray]]
    knowledge: list[dict]
    match_tol: float

    @property
    def labels(self) -> np.ndarray:
        """``(M,)`` the test labels (the base run's)."""
        return self.runs[self.names[0]].test.labels

    def every_matched(self, a: str, b: str) -> list[tuple[int, int]]:
        """Every matched epoch pair of ensembles ``a`` and ``b`` above chance + 0.1 (not only the levels shown)."""
        return [p for p in compare.match_epochs(self.accuracy[a], self.accuracy[b], self.match_tol)
                if min(self.accuracy[a][p[0]], self.accuracy[b][p[1]]) >= self.chance + 0.1]


def _speeds(pred: np.ndarray, labels: np.ndarray, epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The learning speed ``(M,)`` of a whole ensemble ``(N, E, M)`` and of its two disjoint halves."""
    half = pred.shape[0] // 2
    return (scores.speed(pred, labels, epochs), scores.speed(pred[:half], labels, epochs),
            scores.speed(pred[half:], labels, epochs))


def analyse(base: Run, others: Mapping[str, Run], *, match_tol: float = 0.01, n_levels: int = 2,
            n_boot: int = 1000, seed: int = 0) -> Analysis:
    """Every number of the chapter from the base run and the other architectures' runs (name → Run);
    ``seed`` draws the random pairings and the bootstrap resamples."""
    runs_ = {base.config.arch: base, **others}
    names = tuple(runs_)
    labels = base.test.labels
    acc = {n: r.test.accuracy().mean(0) for n, r in runs_.items()}
    cons = {n: scores.consistency(r.test.pred, r.test.labels) for n, r in runs_.items()}
    chance = 1 / base.n_classes
    pairs = tuple((a, b) for i, a in enumerate(names) for b in names[i + 1:])
    levels = {(a, b): compare.matched_levels(acc[a], acc[b], n_levels=n_levels, tol=match_tol,
                                             min_accuracy=chance + 0.1) for a, b in pairs}
    n_matched = {f"{a} vs {b}": len(compare.match_epochs(acc[a], acc[b], match_tol)) for a, b in pairs}
    agree = []
    for (a, b), found in levels.items():
        for i, j in found:
            real = compare.agreement(cons[a][i], cons[b][j])
            null = compare.agreement(cons[a][i], compare.permute_within_class(cons[b][j], labels, seed=seed))
            h = compare.joint_histogram(cons[a][i], cons[b][j], runs_[a].n_models, runs_[b].n_models)
            rest = np.delete(h.ravel(), [0, h.size - 1]).max()
            agree.append({"pair": f"{a} vs {b}", "epochs": f"{runs_[a].epochs[i]} / {runs_[b].epochs[j]}",
                          "accuracy": (acc[a][i] + acc[b][j]) / 2, **real,
                          "corners": real["both 0"] + real["both 1"],
                          "corners (random pairing)": null["both 0"] + null["both 1"],
                          "near diagonal (random pairing)": null["near diagonal"], "largest other cell": rest,
                          "corners dominate": bool(min(h[0, 0], h[-1, -1]) > rest)})
    speeds = {n: _speeds(r.test.pred, labels, r.epochs) for n, r in runs_.items()}
    corr = {("within", n, n): bootstrap_correlation(*speeds[n][1:], n_boot=n_boot, seed=seed) for n in names}
    corr.update({("across", a, b): bootstrap_correlation(speeds[a][0], speeds[b][0], n_boot=n_boot, seed=seed)
                 for a, b in pairs})
    pairing = {("within", n, n): speeds[n][1:] for n in names}
    pairing.update({("across", a, b): (speeds[a][0], speeds[b][0]) for a, b in pairs})
    null_r = {key: compare.pairing_quantile_r(x, y, labels, q=1 - ALPHA, n_perm=N_PERM, seed=seed)
              for key, (x, y) in pairing.items()}
    return Analysis(names=names, runs=runs_, accuracy=acc, consistency=cons, chance=chance, pairs=pairs,
                    levels=levels, n_matched=n_matched, agreement=agree, correlations=corr, null_r=null_r,
                    speed={n: s[0] for n, s in speeds.items()}, halves={n: s[1:] for n, s in speeds.items()},
                    knowledge=[_knowledge(a, b, acc, cons) for a, b in pairs], match_tol=match_tol)


def _knowledge(a: str, b: str, acc: dict[str, np.ndarray], cons: dict[str, np.ndarray]) -> dict:
    """At the last epoch, how often the stronger majority is right where the weaker one is right or
    wrong, against its accuracy on all images (the base rate of errors independent of the weaker's)."""
    weak, strong = (a, b) if acc[a][-1] <= acc[b][-1] else (b, a)
    given = given_reference(cons[strong][-1] > 0.5, cons[weak][-1] > 0.5)
    return {"weaker": weak, "stronger": strong, "weaker right on": given.n_right,
            "stronger right, given weaker right": given.right, "stronger right, given weaker wrong": given.wrong,
            "stronger right, all images (base rate)": given.base, "lift": given.lift, "Fisher p": given.p}


def final_table(a: Analysis) -> pd.DataFrame:
    """One row per ensemble: N, width, epochs and final test and train accuracy."""
    r = a.runs
    return pd.DataFrame({"networks N": [r[n].n_models for n in a.names], "width": [r[n].config.width for n in a.names],
                         "epochs": [int(r[n].epochs[-1]) for n in a.names],
                         "final test accuracy": [a.accuracy[n][-1] for n in a.names],
                         "final train accuracy": [r[n].train.accuracy().mean(0)[-1] for n in a.names]},
                        index=pd.Index(a.names, name="architecture"))


def levels_table(a: Analysis) -> pd.DataFrame:
    """One row per matched accuracy level shown: the two epochs and their mean test accuracies."""
    return pd.DataFrame([{"first": x, "second": y, "epoch (first)": int(a.runs[x].epochs[i]),
                          "epoch (second)": int(a.runs[y].epochs[j]), "accuracy (first)": a.accuracy[x][i],
                          "accuracy (second)": a.accuracy[y][j]}
                         for (x, y), found in a.levels.items() for i, j in found])


def correlation_table(a: Analysis) -> pd.DataFrame:
    """One row per learning-speed correlation, within (two halves) and across architectures, beside the
    reference of each r (:attr:`Analysis.null_r`)."""
    return pd.DataFrame([{"kind": k, "ensembles": f"{x}: two halves of N={a.runs[x].n_models}" if k == "within"
                          else f"{x} vs {y}", "r": c.r, "p": c.p, "95% CI low": c.low, "95% CI high": c.high,
                          "r, 99th percentile of random pairings": a.null_r[k, x, y]}
                         for (k, x, y), c in a.correlations.items()])


def speed_panels(a: Analysis) -> list[tuple[np.ndarray, np.ndarray, str, str, str]]:
    """The learning-speed scatter's panels ``(x, y, xlabel, ylabel, title)``: the base's two halves,
    then every pair of architectures."""
    base = a.names[0]
    n = a.runs[base].n_models
    c = a.correlations["within", base, base]
    panels = [(*a.halves[base], f"learning speed, {base} (first {n // 2})", f"{base} (other {n - n // 2})",
               f"within: r = {c.r:.2f} [{c.low:.2f}, {c.high:.2f}]")]
    for x, y in a.pairs:
        c = a.correlations["across", x, y]
        panels.append((a.speed[x], a.speed[y], f"learning speed, {x}", y,
                       f"across: r = {c.r:.2f} [{c.low:.2f}, {c.high:.2f}]"))
    return panels


#: What the reference column says of a correlation's reference.
PAIRING_REFERENCE = f"r exceeded by {ALPHA:.0%} of {N_PERM} pairings at random within each class: "


def _pair_of(a: Analysis, pair: tuple[str, str]) -> tuple[str, str] | None:
    """``pair`` as the analysis orders it, or None if one of the two ensembles is absent."""
    return next((p for p in a.pairs if set(p) == set(pair)), None)


def claims(base: Run, others: Mapping[str, Run], *, match_tol: float = 0.01, n_levels: int = 2,
           n_boot: int = 1000, seed: int = 0) -> ClaimsTable:
    """The claims of the paper's §4.1 against the base run and the other architectures' runs. Each rule
    compares with a reference computed here: the same scores paired at random within each class, the
    base rate of the stronger architecture, or the paper's number less :data:`R_TOLERANCE`."""
    a = analyse(base, others, match_tol=match_tol, n_levels=n_levels, n_boot=n_boot, seed=seed)
    table = ClaimsTable()
    rows, know = a.agreement, a.knowledge
    shown = len(rows) > 0

    def at(r: dict) -> str:
        return f"{r['pair']} at {r['accuracy']:.2f}"

    table.check("At matched accuracy the joint distribution peaks at (0, 0) and (1, 1)",
                "an order of magnitude above the rest (Fig. 4c-d)",
                "; ".join(f"{at(r)}: (0,0) {r['both 0']:.2f} + (1,1) {r['both 1']:.2f} = {r['corners']:.2f}, largest "
                          f"other cell {r['largest other cell']:.3f}" for r in rows) or "no matched epochs",
                f"at every shown level both corner cells exceed every other cell and hold >= {PAIRING_FACTOR} x the "
                "corner mass of the random pairing; partly: more than the random pairing at every level",
                shown and all(r["corners dominate"] and r["corners"] >= PAIRING_FACTOR * r["corners (random pairing)"]
                              for r in rows),
                partly=shown and all(r["corners"] > r["corners (random pairing)"] for r in rows),
                reference="same scores paired at random within each class: "
                          + ("; ".join(f"{at(r)}: {r['corners (random pairing)']:.2f}" for r in rows) or "-"))
    table.check("The diagonal is prominent: equally accurate architectures get the same images right",
                "prominent diagonal (Fig. 4c-d)",
                "; ".join(f"{at(r)}: {r['near diagonal']:.2f} within 0.2 of the diagonal" for r in rows)
                or "no matched epochs",
                f"at every shown level the mass within 0.2 of the diagonal is >= 0.6 and >= {PAIRING_FACTOR} x the "
                "random pairing's; partly: above the random pairing's at every level",
                shown and all(r["near diagonal"] >= 0.6
                              and r["near diagonal"] >= PAIRING_FACTOR * r["near diagonal (random pairing)"]
                              for r in rows),
                partly=shown and all(r["near diagonal"] > r["near diagonal (random pairing)"] for r in rows),
                reference="same scores paired at random within each class: "
                          + ("; ".join(f"{at(r)}: {r['near diagonal (random pairing)']:.2f}" for r in rows) or "-"))
    within = {x: a.correlations["within", x, x] for x in a.names}
    low_w = PAPER_WITHIN_R - R_TOLERANCE
    table.check("Learning speed correlates within an architecture (two halves)", f"r = {PAPER_WITHIN_R} (ResNet, Fig. 4a)",
                "; ".join(f"{x}: {c.describe()}" for x, c in within.items()),
                f"r >= {low_w:.2f} (the paper's {PAPER_WITHIN_R} less {R_TOLERANCE}) for every architecture; partly: "
                f"r above the reference for every architecture (permutation p < {ALPHA})",
                all(c.r >= low_w for c in within.values()),
                partly=all(c.r > a.null_r["within", x, x] for x, c in within.items()),
                reference=PAIRING_REFERENCE + ", ".join(f"{x} {a.null_r['within', x, x]:.2f}" for x in a.names))
    across = {(p, q): a.correlations["across", p, q] for p, q in a.pairs}
    low_x = PAPER_ACROSS_R - R_TOLERANCE
    table.check("Learning speed correlates across architectures", f"r = {PAPER_ACROSS_R}, p <= 1e-50 (ResNet vs AlexNet, "
                "Fig. 4b)", "; ".join(f"{p} vs {q}: {c.describe()}" for (p, q), c in across.items()),
                f"r >= {low_x:.2f} (the paper's {PAPER_ACROSS_R} less {R_TOLERANCE}) and p < 1e-10 for every pair; "
                f"partly: r above the reference for every pair (permutation p < {ALPHA})",
                all(c.r >= low_x and c.p < 1e-10 for c in across.values()),
                partly=all(c.r > a.null_r["across", p, q] for (p, q), c in across.items()),
                reference=PAIRING_REFERENCE + ", ".join(f"{p} vs {q} {a.null_r['across', p, q]:.2f}" for p, q in a.pairs))
    table.check("The stronger architecture gets right what the weaker one gets right", "yes (§4.1 discussion)",
                "; ".join(f"{r['stronger']} on {r['weaker']}'s {r['weaker right on']} right images: "
                          f"{r['stronger right, given weaker right']:.2f} (Fisher p = {r['Fisher p']:.1e})"
                          for r in know),
                f"for every pair >= {CONTAINED} of the weaker's right images, and more than on its wrong ones (one-sided "
                f"Fisher exact p < {ALPHA}); partly: p < {ALPHA} for every pair",
                all(r["stronger right, given weaker right"] >= CONTAINED and r["Fisher p"] < ALPHA for r in know),
                partly=all(r["Fisher p"] < ALPHA for r in know),
                reference="errors independent of the weaker's, at the stronger's accuracy (on all images): "
                          + "; ".join(f"{r['stronger']} {r['stronger right, all images (base rate)']:.2f} (on the "
                                      f"weaker's wrong ones: {r['stronger right, given weaker wrong']:.2f})"
                                      for r in know))
    pair = _pair_of(a, SMALL_PAIR)
    if pair is not None:
        c, levels = a.correlations["across", pair[0], pair[1]], [r for r in rows if r["pair"] == " vs ".join(pair)]
        table.check("st-VGG and small st-VGG learn in the same order", "same order (Supp. C; no number)",
                    f"{c.describe()}; corner mass "
                    + (", ".join(f"{r['corners']:.2f} at {r['accuracy']:.2f}" for r in levels) or "no matched epochs"),
                    f"learning-speed r >= {low_x:.2f} (as across architectures) with p < 1e-10, and at every shown level "
                    f"the corner mass >= {PAIRING_FACTOR} x the random pairing's; partly: r above its reference "
                    f"(permutation p < {ALPHA})",
                    c.r >= low_x and c.p < 1e-10 and bool(levels)
                    and all(r["corners"] >= PAIRING_FACTOR * r["corners (random pairing)"] for r in levels),
                    partly=c.r > a.null_r["across", pair[0], pair[1]],
                    reference=f"{PAIRING_REFERENCE}{a.null_r['across', pair[0], pair[1]]:.2f}; corner mass of the "
                              "random pairing: "
                              + (", ".join(f"{r['corners (random pairing)']:.2f}" for r in levels) or "-"))
    return table
