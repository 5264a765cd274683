"""§4.2 Linear networks: the base st-VGG ensemble against its linear twin (identity activations,
average pooling), and the claims of the paper's §4.2 (Fig. 5).

The chapter needs the base ensemble of §3 (:meth:`Parameters.base_config`) and one ensemble of
``linear-<arch>`` networks (:meth:`Parameters.linear_config`: the base's width, data, optimizer,
learning rate and schedule). Both are compared over the epochs both recorded. :func:`analyse`
computes every number its figures and tables show; :func:`claims` decides the verdicts from the two
:class:`~equalnets.engine.store.Run` objects alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..analysis import compare, phases, scores
from ..analysis.claims import ClaimsTable
from ..analysis.stats import Correlation, accuracy_given_reference
from ..engine.checks import check_choice, check_int, check_probability, check_record_epochs
from ..engine.config import SPEC_ARCHS, RunConfig
from ..engine.store import SPLITS, Run
from .base import EnsembleParameters

TITLE = "§4.2 linear networks"


@dataclass(frozen=True)
class Parameters(EnsembleParameters):
    """The base ensemble's parameters (see :class:`~equalnets.chapters.base.EnsembleParameters`;
    ``arch`` is the non-linear architecture, whose ``linear-<arch>`` twin is compared) and those of
    the linear ensemble and of the comparison."""

    linear_models: int = 10                   # N of the linear ensemble
    linear_epochs: int = 20                   # its training epochs
    linear_record_epochs: tuple[int, ...] | None = (0, 1, 2, 3, 4, 6, 8, 10, 13, 16, 20)  # None: every epoch
    match_tol: float = 0.01                   # epochs match when mean test accuracies differ by at most this
    n_boot: int = 1000                        # bootstrap resamples of the examples

    def check(self) -> None:
        check_choice("arch", self.arch, SPEC_ARCHS)  # a spec architecture has a linear twin
        check_int("linear_models", self.linear_models, 2, why=" (consistency compares networks)")
        check_int("linear_epochs", self.linear_epochs, 1)
        self.set("linear_record_epochs", check_record_epochs("linear_record_epochs", self.linear_record_epochs,
                                                             self.linear_epochs, epochs_name="linear_epochs"))
        check_probability("match_tol", self.match_tol)
        check_int("n_boot", self.n_boot, 1)

    def linear_config(self) -> RunConfig:
        """The linear ensemble: ``linear-<arch>`` with the base's width, data, optimizer, learning rate,
        schedule and seed, its own N and epochs. The 'linear-' name forces identity activations and
        average pooling, so the activation field stays at RunConfig's default."""
        return self.base_config().replace(arch=f"linear-{self.arch}", activation="relu", n_models=self.linear_models,
                                          epochs=self.linear_epochs, record_epochs=self.linear_record_epochs)


def runs(params: Parameters) -> dict[str, RunConfig]:
    """The runs this chapter asks the store for: the base ensemble (shared with §3) and the linear one."""
    return {"base": params.base_config(), "linear": params.linear_config()}


@dataclass(frozen=True)
class Analysis:
    """What the figures, the tables and the claims are computed from.

    ``base_name`` / ``linear_name`` name the two ensembles (the keys of the mappings below);
    ``common`` the epochs both recorded and ``after`` those ≥ 1; ``index`` name → epoch → its
    recorded-epoch index in that run. ``accuracy`` name → ``(N, E)`` test accuracy; ``consistency``
    split → name → ``(E, M)``; ``pooled`` split → name → Pearson's measure of the consistency pooled
    over ``after``; ``pearson`` name → ``(E,)`` per test epoch; ``n_bimodal`` name → bi-modal test
    epochs among ``after``. ``moments`` moment → (linear, base) recorded-epoch indices compared
    (``matched`` False where no epochs matched and the first common epoch stands in);
    ``overlap`` one row per moment; ``speed`` the learning-speed correlation over ``common``.
    """

    base_name: str
    linear_name: str
    runs: dict[str, Run]
    common: np.ndarray
    after: list[int]
    index: dict[str, dict[int, int]]
    accuracy: dict[str, np.ndarray]
    consistency: dict[str, dict[str, np.ndarray]]
    pooled: dict[str, dict[str, float]]
    pearson: dict[str, np.ndarray]
    n_bimodal: dict[str, int]
    moments: dict[str, tuple[int, int]]
    matched: bool
    overlap: pd.DataFrame
    speed: Correlation

    def final_accuracy(self, name: str) -> float:
        """Mean test accuracy of ensemble ``name`` at its last recorded epoch."""
        return float(self.accuracy[name][:, -1].mean())

    def pooled_values(self, name: str, split: str = "test") -> np.ndarray:
        """The consistency of ensemble ``name`` on ``split`` at every epoch of ``after``, pooled."""
        return self.consistency[split][name][[self.index[name][e] for e in self.after]].ravel()

    @property
    def first(self) -> tuple[int, int]:
        """The linear and the base epoch of the lowest matched level."""
        i, j = self.moments["lowest matched"]
        return int(self.runs[self.linear_name].epochs[i]), int(self.runs[self.base_name].epochs[j])


def analyse(base: Run, linear: Run, *, match_tol: float = 0.01, n_boot: int = 1000, seed: int = 0) -> Analysis:
    """Every number of the chapter from the two runs; ``seed`` draws the bootstrap resamples."""
    base_name, linear_name = f"{base.config.arch} (non-linear)", linear.config.arch
    runs_ = {base_name: base, linear_name: linear}
    common = np.intersect1d(base.epochs, linear.epochs)  # the base records every epoch, the linear run a subset
    index = {n: {int(e): int(np.flatnonzero(r.epochs == e)[0]) for e in common} for n, r in runs_.items()}
    acc = {n: r.test.accuracy() for n, r in runs_.items()}
    cons = {s: {n: scores.consistency(r.split(s).pred, r.split(s).labels) for n, r in runs_.items()} for s in SPLITS}
    after = [int(e) for e in common if e >= 1]
    pooled = {s: {n: scores.bimodality(cons[s][n][[index[n][e] for e in after]].ravel()) for n in runs_}
              for s in SPLITS}
    levels = compare.matched_levels(acc[linear_name].mean(0), acc[base_name].mean(0), n_levels=2, tol=match_tol,
                                    min_accuracy=1 / base.n_classes + 0.1)
    matched = bool(levels)
    if not matched:  # no accuracy in common: the first common epoch >= 1 stands in, as the paper's epoch 1
        levels = [(index[linear_name][after[0]], index[base_name][after[0]])]
    last = (index[linear_name][after[-1]], index[base_name][after[-1]])
    moments = {"lowest matched": levels[0], "highest matched": levels[-1], "last epoch": last}
    overlap = pd.DataFrame([_overlap(moment, i, j, base, linear, cons["test"][base_name], cons["test"][linear_name])
                            for moment, (i, j) in moments.items()]).set_index("moment")
    pick_b, pick_l = [index[base_name][e] for e in common], [index[linear_name][e] for e in common]
    speed = compare.speed_correlation(cons["test"][base_name][pick_b], cons["test"][linear_name][pick_l],
                                      n_boot=n_boot, seed=seed)
    return Analysis(base_name=base_name, linear_name=linear_name, runs=runs_, common=common, after=after, index=index,
                    accuracy=acc, consistency=cons, pooled=pooled,
                    pearson={n: phases.pearson_by_epoch(r.test.pred, r.test.labels) for n, r in runs_.items()},
                    n_bimodal={n: sum(phases.is_bimodal(cons["test"][n][index[n][e]]) for e in after) for n in runs_},
                    moments=moments, matched=matched, overlap=overlap, speed=speed)


def _overlap(moment: str, i: int, j: int, base: Run, linear: Run, cons_base: np.ndarray,
             cons_linear: np.ndarray) -> dict:
    """At linear epoch index ``i`` and base epoch index ``j``: who gets right what the other gets right."""
    c_base, right = cons_base[j], cons_linear[i] > 0.5
    given_right, given_wrong = accuracy_given_reference(c_base > 0.5, right)
    return {"moment": moment, "linear epoch": int(linear.epochs[i]), "non-linear epoch": int(base.epochs[j]),
            "linear majority right on": int(right.sum()), "non-linear majority right on": int((c_base > 0.5).sum()),
            "non-linear right | linear right": given_right, "non-linear right | linear wrong": given_wrong,
            "linear right | non-linear right": accuracy_given_reference(right, c_base > 0.5)[0]}


def overlay_panels(a: Analysis) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """Moment → (the base's test consistency, the linear majority's right images, panel title): the
    panels of the paper's Fig. 5a-b."""
    base, linear = a.runs[a.base_name], a.runs[a.linear_name]
    mean_base, mean_lin = a.accuracy[a.base_name].mean(0), a.accuracy[a.linear_name].mean(0)
    return {moment: (a.consistency["test"][a.base_name][j], a.consistency["test"][a.linear_name][i] > 0.5,
                     f"{moment}: linear epoch {linear.epochs[i]} ({mean_lin[i]:.2f}),\n"
                     f"non-linear epoch {base.epochs[j]} ({mean_base[j]:.2f})")
            for moment, (i, j) in a.moments.items()}


def claims(base: Run, linear: Run, *, match_tol: float = 0.01, n_boot: int = 1000, seed: int = 0) -> ClaimsTable:
    """The claims of the paper's §4.2 against the base run and the linear run."""
    a = analyse(base, linear, match_tol=match_tol, n_boot=n_boot, seed=seed)
    table = ClaimsTable()
    base_arch, linear_arch, pooled, overlap = a.base_name, a.linear_name, a.pooled, a.overlap
    base_acc, lin_acc = a.final_accuracy(base_arch), a.final_accuracy(linear_arch)
    (first, first_base), last, speed_corr = a.first, a.after[-1], a.speed
    table.check("Linear networks are less accurate than non-linear ones", "0.43 vs 0.56",
                f"{lin_acc:.3f} vs {base_acc:.3f} (final epochs {linear.epochs[-1]} and {base.epochs[-1]})",
                "linear mean test accuracy below the non-linear one by >= 0.03; partly: below",
                lin_acc <= base_acc - 0.03, partly=lin_acc < base_acc)
    pl, pb = pooled["test"][linear_arch], pooled["test"][base_arch]
    table.check("Linear consistency is bi-modal over training", "Pearson 0.055 (Fig. 5c)",
                f"test {pl:.3f}, train {pooled['train'][linear_arch]:.3f}",
                f"pooled measure < {phases.BIMODAL_BELOW} (the phase rule) on both splits; partly: on one",
                max(pooled["train"][linear_arch], pl) < phases.BIMODAL_BELOW,
                partly=min(pooled["train"][linear_arch], pl) < phases.BIMODAL_BELOW)
    table.check("Linear networks are more bi-modal than non-linear ones", "Pearson 0.055 vs 0.22",
                f"test {pl:.3f} vs {pb:.3f}; train {pooled['train'][linear_arch]:.3f} vs {pooled['train'][base_arch]:.3f}",
                "pooled linear measure below the non-linear one on both splits; partly: on one",
                all(pooled[s][linear_arch] < pooled[s][base_arch] for s in pooled),
                partly=any(pooled[s][linear_arch] < pooled[s][base_arch] for s in pooled))
    cf, cl = overlap.loc["lowest matched", "non-linear right | linear right"], overlap.loc["last epoch", "non-linear right | linear right"]
    table.check("What linear networks get right, non-linear ones get right (beginning)", "almost all (Fig. 5a, epoch 1)",
                f"{cf:.1%} of the {overlap.loc['lowest matched', 'linear majority right on']} images "
                f"(linear epoch {first}, non-linear epoch {first_base}, matched accuracy)",
                "fraction >= 0.9; partly: >= 0.75", cf >= 0.9, partly=cf >= 0.75)
    table.check("What linear networks get right, non-linear ones get right (end)", "mostly (Fig. 5b, epoch 140)",
                f"{cl:.1%} of the {overlap.loc['last epoch', 'linear majority right on']} images at epoch {last}",
                "fraction >= 0.8; partly: >= 0.65", cl >= 0.8, partly=cl >= 0.65)
    table.check("The overlap is strongest at the beginning", "more pronounced early (Fig. 5a vs 5b)",
                f"{cf:.1%} at the lowest matched level vs {cl:.1%} at epoch {last}",
                "fraction at the beginning >= at the end; partly: within 0.02 below", cf >= cl, partly=cf >= cl - 0.02)
    table.check("Linear networks learn in a similar order", "similar order (no number)", speed_corr.describe(),
                "learning-speed r >= 0.8; partly: r >= 0.5 with the CI excluding 0",
                speed_corr.r >= 0.8, partly=speed_corr.r >= 0.5 and speed_corr.low > 0)
    return table
