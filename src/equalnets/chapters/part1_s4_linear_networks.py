"""§4.2 Linear networks: the base st-VGG ensemble against its linear twin (identity activations,
average pooling), and the claims of the paper's §4.2 (Fig. 5).

The chapter needs the base ensemble of §3 (:meth:`Parameters.base_config`) and one ensemble of
``linear-<arch>`` networks (:meth:`Parameters.linear_config`: the base's width, data, optimizer,
learning rate and schedule). Both are compared over the epochs both recorded. :func:`analyse`
computes every number its figures and tables show; :func:`claims` decides the verdicts from the two
:class:`~equalnets.engine.store.Run` objects alone.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..analysis import compare, phases, scores
from ..analysis.claims import ClaimsTable
from ..analysis.stats import Correlation, bootstrap_correlation, bootstrap_interval, given_reference
from ..engine.checks import check_choice, check_int, check_probability, check_record_epochs
from ..engine.config import SPEC_ARCHS, RunConfig, derived_seed
from ..engine.store import SPLITS, Run
from .base import EnsembleParameters
from .part1_s4_cross_architecture import N_PERM, PAPER_ACROSS_R, R_TOLERANCE

TITLE = "§4.2 linear networks"
#: The least gap in final test accuracy that counts as 'less accurate' (the paper's gap: 0.13), and the
#: significance level of every test against a null.
ACCURACY_GAP, ALPHA = 0.03, 0.01
#: Share of the linear networks' right images that the non-linear ones must get right: at the beginning
#: ('almost always', Fig. 5a) and at the end ('mostly', Fig. 5b).
CONTAINED_BEGINNING, CONTAINED_END = 0.9, 0.8


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
        """The linear ensemble: ``linear-<arch>`` with the base's width, data, optimizer, learning rate and
        schedule, its own N and epochs, and a seed of its own (``derived_seed(seed, 'linear')``: no linear
        network starts from the draw, or sees the mini-batches, of a non-linear one). The 'linear-' name
        forces identity activations and average pooling, so the activation field stays at RunConfig's
        default."""
        return self.base_config().replace(arch=f"linear-{self.arch}", activation="relu", n_models=self.linear_models,
                                          epochs=self.linear_epochs, record_epochs=self.linear_record_epochs,
                                          seed=derived_seed(self.seed, "linear"))


def runs(params: Parameters) -> dict[str, RunConfig]:
    """The runs this chapter asks the store for: the base ensemble (shared with §3) and the linear one."""
    return {"base": params.base_config(), "linear": params.linear_config()}


@dataclass(frozen=True)
class Analysis:
    """What the figures, the tables and the claims are computed from.

    ``base_name`` / ``linear_name`` name the two ensembles (the keys of the mappings below);
    ``common`` the epochs both recorded and ``after`` those ≥ 1; ``index`` name → epoch → its
    recorded-epoch index in that run. ``accuracy`` name → ``(N, E)`` test accuracy; ``consistency``
    split → name → ``(E, M)``; ``phases`` split → name → the phase of every recorded epoch
    (``phases.split_phases``: a collapsed epoch is its own label); ``pooled_epochs`` split → the
    epochs of ``after`` at which neither ensemble is collapsed, over which ``pooled`` (split → name →
    Pearson's measure of the consistency pooled over them), ``null_pooled`` (the same for the
    independent-errors null of each ensemble, ``scores.independent_errors``) and the 95 % bootstrap
    intervals over examples ``diff_interval`` (split → linear minus non-linear) and ``null_interval``
    (split → name → the ensemble minus its null) are computed; ``pearson`` name → ``(E,)`` per test
    epoch. ``moments`` moment → (linear, base) recorded-epoch indices compared (``matched`` False
    where no epochs matched and the first common epoch stands in); ``overlap`` one row per moment;
    ``speed`` the learning-speed correlation over ``common`` (``scores.speed``) and ``null_speed_r``
    its reference, the ``1 - ALPHA`` quantile of r over random pairings of the two speeds within each
    class (``compare.pairing_quantile_r``); ``lift_interval`` the 95 % bootstrap interval over images of the lift
    at the lowest matched level minus the lift at the last epoch.
    """

    base_name: str
    linear_name: str
    runs: dict[str, Run]
    common: np.ndarray
    after: list[int]
    index: dict[str, dict[int, int]]
    accuracy: dict[str, np.ndarray]
    consistency: dict[str, dict[str, np.ndarray]]
    phases: dict[str, dict[str, phases.Phases]]
    pooled_epochs: dict[str, list[int]]
    pooled: dict[str, dict[str, float]]
    null_pooled: dict[str, dict[str, float]]
    diff_interval: dict[str, tuple[float, float]]
    null_interval: dict[str, dict[str, tuple[float, float]]]
    pearson: dict[str, np.ndarray]
    moments: dict[str, tuple[int, int]]
    matched: bool
    overlap: pd.DataFrame
    speed: Correlation
    null_speed_r: float
    lift_interval: tuple[float, float]

    def final_accuracy(self, name: str) -> float:
        """Mean test accuracy of ensemble ``name`` at its last recorded epoch."""
        return float(self.accuracy[name][:, -1].mean())

    def pooled_values(self, name: str, split: str = "test") -> np.ndarray:
        """The consistency of ensemble ``name`` on ``split`` at every epoch of ``pooled_epochs``, pooled (for
        a figure, every epoch of ``after`` where all are collapsed; the measures are then nan)."""
        epochs = self.pooled_epochs[split] or self.after
        return self.consistency[split][name][[self.index[name][e] for e in epochs]].ravel()

    def count(self, name: str, phase: str, split: str = "test") -> int:
        """Recorded epochs ≥ 1 of ensemble ``name`` in ``phase`` on ``split``."""
        return self.phases[split][name].count(phase)

    @property
    def first(self) -> tuple[int, int]:
        """The linear and the base epoch of the lowest matched level."""
        i, j = self.moments["lowest matched"]
        return int(self.runs[self.linear_name].epochs[i]), int(self.runs[self.base_name].epochs[j])


def _pooled_pearson(*by_epoch: np.ndarray) -> float:
    """Pearson's measure of ``(E, M)`` consistency pooled over epochs; given two arrays, the first's
    measure minus the second's (the statistic the bootstrap intervals resample)."""
    values = [scores.bimodality(c.ravel()) for c in by_epoch]
    return values[0] if len(values) == 1 else values[0] - values[1]


def _lift_gap(linear_right: np.ndarray, base_right: np.ndarray) -> float:
    """Lift (``stats.GivenReference.lift``) of the non-linear majority on the linear majority's right
    images at the first of two moments minus at the second: ``(2, M)`` bool each."""
    first, second = (given_reference(base_right[k], linear_right[k]).lift for k in (0, 1))
    return float(first - second)


def analyse(base: Run, linear: Run, *, match_tol: float = 0.01, n_boot: int = 1000, seed: int = 0) -> Analysis:
    """Every number of the chapter from the two runs; ``seed`` draws the null ensembles and the
    bootstrap resamples."""
    base_name, linear_name = f"{base.config.arch} (non-linear)", linear.config.arch
    runs_ = {base_name: base, linear_name: linear}
    common = np.intersect1d(base.epochs, linear.epochs)  # the base records every epoch, the linear run a subset
    index = {n: {int(e): int(np.flatnonzero(r.epochs == e)[0]) for e in common} for n, r in runs_.items()}
    pick = {n: [index[n][int(e)] for e in common] for n in runs_}
    acc = {n: r.test.accuracy() for n, r in runs_.items()}
    cons = {s: {n: scores.consistency(r.split(s).pred, r.split(s).labels) for n, r in runs_.items()} for s in SPLITS}
    nulls = {s: {n: scores.consistency(scores.independent_errors(r.split(s).pred[:, pick[n]], r.split(s).labels,
                                                                 seed=seed + k), r.split(s).labels)
                 for k, (n, r) in enumerate(runs_.items())} for s in SPLITS}   # (len(common), M)
    found = {s: {n: phases.split_phases(r.split(s).pred, r.split(s).labels, r.epochs, r.n_classes)
                 for n, r in runs_.items()} for s in SPLITS}
    after = [int(e) for e in common if e >= 1]
    pooled_epochs = {s: [e for e in after if all(found[s][n].labels[index[n][e]] != "collapsed" for n in runs_)]
                     for s in SPLITS}
    pooled, null_pooled, diff, null_interval = {}, {}, {}, {}
    for s in SPLITS:
        rows = {n: [index[n][e] for e in pooled_epochs[s]] for n in runs_}
        null_rows = [list(common).index(e) for e in pooled_epochs[s]]
        own = {n: cons[s][n][rows[n]] for n in runs_}
        null = {n: nulls[s][n][null_rows] for n in runs_}
        if not pooled_epochs[s]:  # every common epoch collapsed: nothing to pool
            nan = float("nan")
            pooled[s], null_pooled[s] = {n: nan for n in runs_}, {n: nan for n in runs_}
            diff[s], null_interval[s] = (nan, nan), {n: (nan, nan) for n in runs_}
            continue
        pooled[s] = {n: _pooled_pearson(own[n]) for n in runs_}
        null_pooled[s] = {n: _pooled_pearson(null[n]) for n in runs_}
        diff[s] = bootstrap_interval(_pooled_pearson, (own[linear_name], own[base_name]), n_boot=n_boot, seed=seed)
        null_interval[s] = {n: bootstrap_interval(_pooled_pearson, (own[n], null[n]), n_boot=n_boot, seed=seed)
                            for n in runs_}
    levels = compare.matched_levels(acc[linear_name].mean(0), acc[base_name].mean(0), n_levels=2, tol=match_tol,
                                    min_accuracy=1 / base.n_classes + 0.1)
    matched = bool(levels)
    if not matched:  # no accuracy in common: the first common epoch >= 1 stands in, as the paper's epoch 1
        levels = [(index[linear_name][after[0]], index[base_name][after[0]])]
    last = (index[linear_name][after[-1]], index[base_name][after[-1]])
    moments = {"lowest matched": levels[0], "highest matched": levels[-1], "last epoch": last}
    overlap = pd.DataFrame([_overlap(moment, i, j, base, linear, cons["test"][base_name], cons["test"][linear_name])
                            for moment, (i, j) in moments.items()]).set_index("moment")
    labels, epochs = base.test.labels, common
    speeds = [scores.speed(r.test.pred[:, pick[n]], labels, epochs) for n, r in runs_.items()]
    speed = bootstrap_correlation(*speeds, n_boot=n_boot, seed=seed)
    i0, j0 = moments["lowest matched"]
    right = (cons["test"][linear_name][[i0, last[0]]] > 0.5, cons["test"][base_name][[j0, last[1]]] > 0.5)
    lift_interval = bootstrap_interval(_lift_gap, right, n_boot=n_boot, seed=seed)
    return Analysis(base_name=base_name, linear_name=linear_name, runs=runs_, common=common, after=after, index=index,
                    accuracy=acc, consistency=cons, phases=found, pooled_epochs=pooled_epochs, pooled=pooled,
                    null_pooled=null_pooled, diff_interval=diff, null_interval=null_interval,
                    pearson={n: phases.pearson_by_epoch(r.test.pred, r.test.labels) for n, r in runs_.items()},
                    moments=moments, matched=matched, overlap=overlap, speed=speed,
                    null_speed_r=compare.pairing_quantile_r(*speeds, labels, q=1 - ALPHA, n_perm=N_PERM, seed=seed),
                    lift_interval=lift_interval)


def _overlap(moment: str, i: int, j: int, base: Run, linear: Run, cons_base: np.ndarray,
             cons_linear: np.ndarray) -> dict:
    """At linear epoch index ``i`` and base epoch index ``j``: who gets right what the other gets right,
    against the base rate of errors independent of the other's."""
    base_right, right = cons_base[j] > 0.5, cons_linear[i] > 0.5
    given = given_reference(base_right, right)
    return {"moment": moment, "linear epoch": int(linear.epochs[i]), "non-linear epoch": int(base.epochs[j]),
            "linear majority right on": int(right.sum()), "non-linear majority right on": int(base_right.sum()),
            "non-linear right | linear right": given.right, "non-linear right | linear wrong": given.wrong,
            "non-linear right, all images (base rate)": given.base, "lift": given.lift, "Fisher p": given.p,
            "linear right | non-linear right": given_reference(right, base_right).right}


def overlay_panels(a: Analysis) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """Moment → (the base's test consistency, the linear majority's right images, panel title): the
    panels of the paper's Fig. 5a-b."""
    base, linear = a.runs[a.base_name], a.runs[a.linear_name]
    mean_base, mean_lin = a.accuracy[a.base_name].mean(0), a.accuracy[a.linear_name].mean(0)
    return {moment: (a.consistency["test"][a.base_name][j], a.consistency["test"][a.linear_name][i] > 0.5,
                     f"{moment}: linear epoch {linear.epochs[i]} ({mean_lin[i]:.2f}),\n"
                     f"non-linear epoch {base.epochs[j]} ({mean_base[j]:.2f})")
            for moment, (i, j) in a.moments.items()}


def pooled_table(a: Analysis) -> pd.DataFrame:
    """Pearson's measure of the pooled consistency per split and ensemble, beside its independent-errors
    null and the bootstrap interval of the difference; the epochs pooled and the collapsed ones left out."""
    rows = []
    for s in SPLITS:
        for n in a.runs:
            rows.append({"split": s, "ensemble": n, "Pearson, pooled": a.pooled[s][n],
                         "independent-errors null": a.null_pooled[s][n],
                         "ours - null, 95% CI": "{:.3f} to {:.3f}".format(*a.null_interval[s][n]),
                         "epochs pooled": len(a.pooled_epochs[s]),
                         "collapsed epochs (left out)": a.phases[s][n].count("collapsed")})
    return pd.DataFrame(rows).set_index(["split", "ensemble"])


def claims(base: Run, linear: Run, *, match_tol: float = 0.01, n_boot: int = 1000, seed: int = 0) -> ClaimsTable:
    """The claims of the paper's §4.2 against the base run and the linear run. Each rule compares with a
    reference computed here: the non-linear ensemble, the independent-errors null of each ensemble, or
    the base rate of errors independent of the linear networks'."""
    a = analyse(base, linear, match_tol=match_tol, n_boot=n_boot, seed=seed)
    table = ClaimsTable()
    B, L, pooled, overlap = a.base_name, a.linear_name, a.pooled, a.overlap
    base_acc, lin_acc = a.final_accuracy(B), a.final_accuracy(L)
    (first, first_base), last, speed_corr = a.first, a.after[-1], a.speed
    with warnings.catch_warnings():  # networks of one accuracy (made-up runs): scipy warns, p is still defined
        warnings.simplefilter("ignore", RuntimeWarning)
        t = stats.ttest_ind(a.accuracy[L][:, -1], a.accuracy[B][:, -1], equal_var=False, alternative="less")
    p_acc = float(t.pvalue)
    table.check("Linear networks are less accurate than non-linear ones", "0.43 vs 0.56",
                f"{lin_acc:.3f} (final epoch {linear.epochs[-1]}; Welch t-test over the networks, one-sided p = "
                f"{p_acc:.1e})",
                f"linear mean test accuracy below the non-linear one by >= {ACCURACY_GAP} with p < {ALPHA}; partly: "
                "below", lin_acc <= base_acc - ACCURACY_GAP and p_acc < ALPHA, partly=lin_acc < base_acc,
                reference=f"non-linear {base_acc:.3f} (final epoch {base.epochs[-1]})")

    def interval(lo_hi: tuple[float, float]) -> str:
        return f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]"

    bimodal = {s: pooled[s][L] < phases.BIMODAL_BELOW and a.null_interval[s][L][1] < 0 for s in SPLITS}
    table.check("Linear consistency is bi-modal over training", "Pearson 0.055 (Fig. 5c)",
                "; ".join(f"{s} {pooled[s][L]:.3f} (minus the null's: 95% CI {interval(a.null_interval[s][L])}, "
                          f"{len(a.pooled_epochs[s])} epochs)" for s in SPLITS),
                f"pooled measure < {phases.BIMODAL_BELOW} (the phase rule) and the bootstrap CI of ours minus the "
                "null's below 0, on both splits; partly: on one",
                all(bimodal.values()), partly=any(bimodal.values()),
                reference="independent-errors null at the same accuracies: "
                          + ", ".join(f"{s} {a.null_pooled[s][L]:.3f}" for s in SPLITS))
    more = {s: a.diff_interval[s][1] < 0 for s in SPLITS}
    table.check("Linear networks are more bi-modal than non-linear ones", "Pearson 0.055 vs 0.22",
                "; ".join(f"{s} {pooled[s][L]:.3f} (linear minus non-linear: 95% CI {interval(a.diff_interval[s])})"
                          for s in SPLITS),
                "the bootstrap CI of the linear minus the non-linear pooled measure below 0 on both splits; partly: "
                "on one", all(more.values()), partly=any(more.values()),
                reference="non-linear: " + ", ".join(f"{s} {pooled[s][B]:.3f}" for s in SPLITS))

    def contained(moment: str) -> tuple[float, float, float]:
        row = overlap.loc[moment]
        return float(row["non-linear right | linear right"]), float(row["Fisher p"]), float(row["lift"])

    def base_rate(moment: str) -> str:
        row = overlap.loc[moment]
        return (f"errors independent of the linear networks', at the non-linear accuracy: "
                f"{row['non-linear right, all images (base rate)']:.1%} (on the linear wrong ones: "
                f"{row['non-linear right | linear wrong']:.1%})")

    (cf, pf, lf), (cl, pl, ll) = contained("lowest matched"), contained("last epoch")
    table.check("What linear networks get right, non-linear ones get right (beginning)", "almost all (Fig. 5a, epoch 1)",
                f"{cf:.1%} of the {overlap.loc['lowest matched', 'linear majority right on']} images "
                f"(linear epoch {first}, non-linear epoch {first_base}, "
                f"{'matched accuracy' if a.matched else 'no accuracy matched: the first common epoch'}; "
                f"Fisher p = {pf:.1e})",
                f"fraction >= {CONTAINED_BEGINNING} and above the base rate (one-sided Fisher exact p < {ALPHA}); "
                f"partly: p < {ALPHA}", cf >= CONTAINED_BEGINNING and pf < ALPHA, partly=pf < ALPHA,
                reference=base_rate("lowest matched"))
    table.check("What linear networks get right, non-linear ones get right (end)", "mostly (Fig. 5b, epoch 140)",
                f"{cl:.1%} of the {overlap.loc['last epoch', 'linear majority right on']} images at epoch {last} "
                f"(Fisher p = {pl:.1e})",
                f"fraction >= {CONTAINED_END} and above the base rate (one-sided Fisher exact p < {ALPHA}); partly: "
                f"p < {ALPHA}", cl >= CONTAINED_END and pl < ALPHA, partly=pl < ALPHA, reference=base_rate("last epoch"))
    lo, hi = a.lift_interval
    table.check("The overlap is strongest at the beginning", "more pronounced early (Fig. 5a vs 5b)",
                f"lift {lf:.2f} at the lowest matched level ({cf:.1%} contained); the beginning minus the end: 95% CI "
                f"[{lo:.2f}, {hi:.2f}]",
                "lift (the share of the non-linear networks' errors on a random set that they avoid on the linear "
                "right images; 0 for independent errors) larger at the beginning than at the end, the bootstrap CI of "
                "the difference above 0; partly: larger",
                lo > 0, partly=lf > ll, reference=f"lift {ll:.2f} at epoch {last} ({cl:.1%} contained)")
    low = PAPER_ACROSS_R - R_TOLERANCE
    table.check("Linear networks learn in a similar order", "similar order (no number)", speed_corr.describe(),
                f"learning-speed r >= {low:.2f} (as across architectures in §4.1: the paper's {PAPER_ACROSS_R} less "
                f"{R_TOLERANCE}); partly: r above the reference (permutation p < {ALPHA})",
                speed_corr.r >= low, partly=speed_corr.r > a.null_speed_r,
                reference=f"r exceeded by {ALPHA:.0%} of the speeds' pairings at random within each class: "
                          f"{a.null_speed_r:.2f}")
    return table
