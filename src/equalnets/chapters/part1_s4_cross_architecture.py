"""§4.1 Different architectures learn in the same order: the base st-VGG ensemble against ensembles of
other architectures, compared at epochs of equal accuracy, and the claims of the paper's §4.1 (Fig. 4).

The chapter needs the base ensemble of §3 (:meth:`Parameters.base_config`) and one ensemble per
architecture of ``zoo_archs`` (:meth:`Parameters.zoo_configs`: the base's data, optimizer, learning
rate and schedule). :func:`analyse` computes every number its figures and tables show, on the test
images; :func:`claims` decides the verdicts from the :class:`~equalnets.engine.store.Run` objects alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from ..analysis import compare, scores
from ..analysis.claims import ClaimsTable
from ..analysis.stats import Correlation, accuracy_given_reference
from ..engine.checks import (ParameterError, check_choice_list, check_float, check_int, check_probability,
                             check_record_epochs)
from ..engine.config import ARCHITECTURES, SMALL_ARCHS, RunConfig
from ..engine.store import Run
from .base import EnsembleParameters

TITLE = "§4.1 cross architecture"
#: The architectures an ensemble of ``zoo_archs`` may have: the spec ones and torchvision's.
COMPARED_ARCHS = tuple(a for a in ARCHITECTURES if a not in SMALL_ARCHS)


@dataclass(frozen=True)
class Parameters(EnsembleParameters):
    """The base ensemble's parameters (see :class:`~equalnets.chapters.base.EnsembleParameters`) and
    those of the other architectures' ensembles and of their comparison."""

    zoo_archs: tuple[str, ...] = ("resnet-18", "densenet")  # the other architectures
    zoo_width: float = 0.125                  # width multiplier of the other architectures
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
        """Architecture → RunConfig of each other ensemble: the base's data, optimizer, learning rate,
        schedule and seed, with its own width, N and epochs. The activation is RunConfig's default,
        relu, whatever the base's (the torchvision networks bring their own ReLUs)."""
        base = self.base_config()
        return {name: base.replace(arch=name, width=self.zoo_width, activation="relu", n_models=self.zoo_models,
                                   epochs=self.zoo_epochs, record_epochs=self.zoo_record_epochs)
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
    learning speed (recorded epochs ≥ 1); ``halves`` the speeds of the two disjoint halves of each
    ensemble. ``levels`` pair → the matched ``(e_a, e_b)`` epoch indices shown; ``agreement`` one
    row per shown level; ``correlations`` ``(kind, a, b)`` → learning-speed correlation, ``kind``
    ``'within'`` (two halves of ``a``) or ``'across'``; ``knowledge`` one row per pair; ``match_tol``
    the tolerance the epochs were matched with.
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
    # Where the mass lies, against a null that keeps each ensemble's scores but pairs them at random.
    rng = np.random.default_rng(seed)
    agree = []
    for (a, b), found in levels.items():
        for i, j in found:
            real = compare.agreement(cons[a][i], cons[b][j])
            null = compare.agreement(cons[a][i], rng.permutation(cons[b][j]))
            h = compare.joint_histogram(cons[a][i], cons[b][j], runs_[a].n_models, runs_[b].n_models)
            rest = np.delete(h.ravel(), [0, h.size - 1]).max()
            agree.append({"pair": f"{a} vs {b}", "epochs": f"{runs_[a].epochs[i]} / {runs_[b].epochs[j]}",
                          "accuracy": (acc[a][i] + acc[b][j]) / 2, **real,
                          "near diagonal (random pairing)": null["near diagonal"],
                          "both 1 (random pairing)": null["both 1"], "largest other cell": rest,
                          "corners dominate": bool(min(h[0, 0], h[-1, -1]) > rest)})
    halves_cons = {n: compare.disjoint_halves(runs_[n].test.pred, labels) for n in names}
    corr = {("within", n, n): compare.speed_correlation(*halves_cons[n], n_boot=n_boot, seed=seed) for n in names}
    corr.update({("across", a, b): compare.speed_correlation(cons[a], cons[b], n_boot=n_boot, seed=seed)
                 for a, b in pairs})
    return Analysis(names=names, runs=runs_, accuracy=acc, consistency=cons, chance=chance, pairs=pairs,
                    levels=levels, n_matched=n_matched, agreement=agree, correlations=corr,
                    speed={n: scores.learning_speed(cons[n][1:]) for n in names},
                    halves={n: tuple(scores.learning_speed(h[1:]) for h in halves_cons[n]) for n in names},
                    knowledge=[_knowledge(a, b, acc, cons) for a, b in pairs], match_tol=match_tol)


def _knowledge(a: str, b: str, acc: dict[str, np.ndarray], cons: dict[str, np.ndarray]) -> dict:
    """At the last epoch, how often the stronger majority is right where the weaker one is right or wrong."""
    weak, strong = (a, b) if acc[a][-1] <= acc[b][-1] else (b, a)
    right_weak, right_strong = cons[weak][-1] > 0.5, cons[strong][-1] > 0.5
    given_right, given_wrong = accuracy_given_reference(right_strong, right_weak)
    return {"weaker": weak, "stronger": strong, "weaker right on": int(right_weak.sum()),
            "stronger right, given weaker right": given_right, "stronger right, given weaker wrong": given_wrong}


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
    """One row per learning-speed correlation, within (two halves) and across architectures."""
    return pd.DataFrame([{"kind": k, "ensembles": f"{x}: two halves of N={a.runs[x].n_models}" if k == "within"
                          else f"{x} vs {y}", "r": c.r, "p": c.p, "95% CI low": c.low, "95% CI high": c.high}
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


def claims(base: Run, others: Mapping[str, Run], *, match_tol: float = 0.01, n_levels: int = 2,
           n_boot: int = 1000, seed: int = 0) -> ClaimsTable:
    """The claims of the paper's §4.1 against the base run and the other architectures' runs."""
    a = analyse(base, others, match_tol=match_tol, n_levels=n_levels, n_boot=n_boot, seed=seed)
    table = ClaimsTable()
    agree_rows, know_rows = a.agreement, a.knowledge
    n_shown = len(agree_rows)
    dominate = [r["corners dominate"] for r in agree_rows]
    table.check("At matched accuracy the joint distribution peaks at (0, 0) and (1, 1)",
                "an order of magnitude above the rest (Fig. 4c-d)",
                "; ".join(f"{r['pair']} at {r['accuracy']:.2f}: (0,0) {r['both 0']:.2f}, (1,1) {r['both 1']:.2f}, "
                          f"largest other cell {r['largest other cell']:.3f}" for r in agree_rows) or "no matched epochs",
                "at every shown level both corner cells exceed every other cell; partly: at half of them",
                n_shown > 0 and all(dominate), partly=n_shown > 0 and np.mean(dominate) >= 0.5)
    ratio = [r["near diagonal"] / max(r["near diagonal (random pairing)"], 1e-9) for r in agree_rows]
    table.check("The diagonal is prominent: equally accurate architectures get the same images right",
                "prominent diagonal (Fig. 4c-d)",
                "; ".join(f"{r['pair']} at {r['accuracy']:.2f}: {r['near diagonal']:.2f} within 0.2 of the diagonal "
                          f"(random pairing {r['near diagonal (random pairing)']:.2f})" for r in agree_rows)
                or "no matched epochs",
                "at every shown level the mass within 0.2 of the diagonal is >= 0.6 and >= 1.3 x the random pairing's; "
                "partly: above the random pairing's at every level",
                n_shown > 0 and all(r["near diagonal"] >= 0.6 for r in agree_rows) and min(ratio) >= 1.3,
                partly=n_shown > 0 and min(ratio) > 1)
    w = {x: c for (k, x, _), c in a.correlations.items() if k == "within"}
    table.check("Learning speed correlates within an architecture (two halves)", "r = 0.99 (ResNet, Fig. 4a)",
                "; ".join(f"{x}: {c.describe()}" for x, c in w.items()),
                "r >= 0.9 for every architecture; partly: r >= 0.7 and the CI excludes 0",
                all(c.r >= 0.9 for c in w.values()), partly=all(c.r >= 0.7 and c.low > 0 for c in w.values()))
    x = {(p, q): c for (k, p, q), c in a.correlations.items() if k == "across"}
    table.check("Learning speed correlates across architectures", "r = 0.87, p <= 1e-50 (ResNet vs AlexNet, Fig. 4b)",
                "; ".join(f"{p} vs {q}: {c.describe()}" for (p, q), c in x.items()),
                "r >= 0.8 for every pair with p < 1e-10; partly: r >= 0.5 and the CI excludes 0 for every pair",
                all(c.r >= 0.8 and c.p < 1e-10 for c in x.values()),
                partly=all(c.r >= 0.5 and c.low > 0 for c in x.values()))
    table.check("The stronger architecture gets right what the weaker one gets right", "yes (§4.1 discussion)",
                "; ".join(f"{r['stronger']} on {r['weaker']}'s {r['weaker right on']} right images: "
                          f"{r['stronger right, given weaker right']:.2f} (on its wrong ones: "
                          f"{r['stronger right, given weaker wrong']:.2f})" for r in know_rows),
                "for every pair >= 0.9 of the weaker's right images; partly: >= 0.8",
                all(r["stronger right, given weaker right"] >= 0.9 for r in know_rows),
                partly=all(r["stronger right, given weaker right"] >= 0.8 for r in know_rows))
    return table
