"""§3 Robustness: whether the base ensemble's picture (a bi-modal phase, one order of learning)
survives other hyper-parameters, and the moving experiment (train without a chosen share of the
training set and follow that share as held-out images).

A *variant* is the base RunConfig with a few hyper-parameters changed (learning rate, optimizer,
batch size, dropout, L2, width, depth, activation, ...) at the chapter's own size (N, epochs,
recorded epochs); the *base re-run* keeps the base's hyper-parameters at that size, the yardstick.
The *moving experiment* removes the easiest, the hardest or a random share of the training rows from
training (``RunConfig.train_subset`` is the complement), ranked by the base's learning speed over
the whole training set as the paper does, and (a variant beside it) within each class; the store
still records every train row, so the moved rows are followed as held-out examples. Every ensemble
the chapter compares has a seed of its own (``engine.config.derived_seed`` of the chapter's seed and
the ensemble's name), so no two of them share a network's initial weights, mini-batches or dropout
masks. Learning speed is the book's one definition (``scores.speed``); epochs at which the networks
give most images one label (``phases.collapsed_epochs``) never count for or against bi-modality.
Arrays follow :mod:`equalnets.analysis.scores`: N networks, E recorded epochs, M examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..analysis import phases, scores
from ..analysis.claims import ClaimsTable
from ..analysis.stats import Correlation, binomial_halfwidth, bootstrap_correlation
from ..analysis.subsets import WHICH, by_difficulty, by_difficulty_within, complement
from ..engine.checks import ParameterError, check_bool, check_float, check_int, check_record_epochs
from ..engine.config import RunConfig, derived_seed
from ..engine.store import SPLITS, Run
from .base import EnsembleParameters

TITLE = "§3 robustness"
#: The label of the base re-run: the base's hyper-parameters at the variants' size, with its own seed.
RERUN = "base re-run"
#: The suffix of the moved shares ranked within each class (the paper ranks the whole training set).
WITHIN = "within class"
#: The fields a variant may change; its size and seed are set by the chapter, not by the variant.
VARIABLE = ("arch", "width", "activation", "dropout", "optimizer", "lr", "momentum", "weight_decay",
            "batch_size", "lr_decay", "lr_decay_every")
#: How a changed field is named in a variant's label.
_NAMES = {"lr": "lr", "momentum": "momentum", "weight_decay": "L2", "batch_size": "batch",
          "lr_decay": "lr decay", "lr_decay_every": "decay every", "width": "width"}
#: A variant learns in the base's order when its r is at most this far below the base re-run's.
ORDER_SLACK = 0.1


@dataclass(frozen=True)
class Parameters(EnsembleParameters):
    """The base ensemble's parameters (read from the store, never retrained here), the variants and
    the moving experiment. Every ensemble's seed derives from ``seed`` and its name."""

    variants: tuple[dict[str, Any], ...] = ({"lr": 0.02}, {"optimizer": "adam", "lr": 0.001, "momentum": 0.0},
                                            {"batch_size": 50}, {"dropout": False}, {"weight_decay": 0.0005},
                                            {"arch": "small-st-vgg"}, {"activation": "elu"})
    variant_n_models: int = 3
    variant_epochs: int = 10
    variant_record_epochs: tuple[int, ...] | None = (0, 1, 2, 3, 4, 6, 8, 10)
    move_fraction: float = 0.025
    move_within_class: bool = True
    move_epochs: int = 10
    move_record_epochs: tuple[int, ...] | None = None
    n_boot: int = 1000

    def check(self) -> None:
        check_int("variant_n_models", self.variant_n_models, 2, why=" (consistency compares networks)")
        check_int("variant_epochs", self.variant_epochs, 1)
        check_int("move_epochs", self.move_epochs, 1)
        self.set("variant_record_epochs", check_record_epochs("variant_record_epochs", self.variant_record_epochs,
                                                              self.variant_epochs, epochs_name="variant_epochs"))
        self.set("move_record_epochs", check_record_epochs("move_record_epochs", self.move_record_epochs,
                                                           self.move_epochs, epochs_name="move_epochs"))
        check_float("move_fraction", self.move_fraction, low=0, high=0.5, low_open=True, high_open=True)
        check_bool("move_within_class", self.move_within_class)
        check_int("n_boot", self.n_boot, 1, why=" (bootstrap resamples)")
        base = self.base_config()
        try:  # every variant built now: a bad one stops here
            variant_configs(base, self.variants, n_models=self.variant_n_models, epochs=self.variant_epochs,
                            record_epochs=self.variant_record_epochs, seed=self.seed)
        except ParameterError as err:
            raise ParameterError(str(err) if "variants" in str(err) else f"variants: {err}") from None
        self.set("variants", tuple(dict(v) for v in self.variants))

    def sized(self, epochs: int, record_epochs: tuple[int, ...] | None, name: str) -> RunConfig:
        """The base config at the variants' N with the given epochs, and the seed of the ensemble
        ``name`` (``derived_seed(seed, name)``)."""
        return self.base_config().replace(n_models=self.variant_n_models, epochs=epochs,
                                          record_epochs=record_epochs, seed=derived_seed(self.seed, name))


def variant_config(base: RunConfig, overrides: Mapping[str, Any], *, n_models: int, epochs: int,
                   record_epochs: list[int] | tuple[int, ...] | None = None, seed: int) -> RunConfig:
    """The base config with ``overrides`` (fields of :data:`VARIABLE`) and the given size and seed.

    A variant must change at least one field; momentum is an SGD setting, so a variant with another
    optimizer must have momentum 0. Bad input raises ``ParameterError`` naming the field.
    """
    if not isinstance(overrides, Mapping):
        raise ParameterError(f"a variant must be a dict of hyper-parameters to change (e.g. {{'lr': 0.02}}), "
                             f"got {overrides!r}")
    unknown = sorted(set(overrides) - set(VARIABLE))
    if unknown:
        raise ParameterError(f"a variant may change only {', '.join(VARIABLE)}; got {unknown[0]!r} "
                             f"in {dict(overrides)!r}")
    config = base.replace(**overrides, n_models=n_models, epochs=epochs, record_epochs=record_epochs, seed=seed)
    if all(getattr(config, k) == getattr(base, k) for k in VARIABLE):
        raise ParameterError(f"the variant {dict(overrides)!r} changes no hyper-parameter of the base")
    if config.optimizer != "sgd" and config.momentum != 0:
        raise ParameterError(f"momentum applies to SGD only; the variant {dict(overrides)!r} uses "
                             f"{config.optimizer} with momentum {config.momentum:g}: add 'momentum': 0.0")
    return config


def variant_label(base: RunConfig, variant: RunConfig) -> str:
    """A short name for what ``variant`` changes, e.g. ``'lr 0.02'``, ``'adam, lr 0.001, momentum 0'``."""
    parts = []
    for name in VARIABLE:
        value = getattr(variant, name)
        if value == getattr(base, name):
            continue
        if name == "dropout":
            parts.append(f"dropout {'on' if value else 'off'}")
        elif name in ("optimizer", "arch", "activation"):
            parts.append(str(value))
        else:
            parts.append(f"{_NAMES[name]} {value:g}")
    if not parts:
        raise ValueError("variant equals the base in every hyper-parameter; nothing to name")
    return ", ".join(parts)


def variant_configs(base: RunConfig, variants: list[Mapping[str, Any]] | tuple[Mapping[str, Any], ...], *,
                    n_models: int, epochs: int, record_epochs: list[int] | tuple[int, ...] | None = None,
                    seed: int) -> dict[str, RunConfig]:
    """Label → config of every variant, in the given order, each with the seed of its label
    (``derived_seed(seed, 'variant <label>')``); repeated variants are an error."""
    if not isinstance(variants, (list, tuple)) or not variants:
        raise ParameterError(f"variants must be a non-empty list of dicts of hyper-parameters, got {variants!r}")
    out: dict[str, RunConfig] = {}
    for overrides in variants:
        config = variant_config(base, overrides, n_models=n_models, epochs=epochs,
                                record_epochs=record_epochs, seed=seed)
        label = variant_label(base, config)
        if label in out:
            raise ParameterError(f"variant {label!r} is given twice in variants")
        out[label] = config.replace(seed=derived_seed(seed, f"variant {label}"))
    return out


def runs(params: Parameters) -> dict[str, RunConfig]:
    """The runs known before anything is trained: ``'base'`` (loaded), the :data:`RERUN` and every
    variant by its label, each with a seed of its own. The moving runs depend on the base run:
    :func:`moving_runs`."""
    base = params.base_config()
    return {"base": base, RERUN: params.sized(params.variant_epochs, params.variant_record_epochs, RERUN),
            **variant_configs(base, params.variants, n_models=params.variant_n_models, epochs=params.variant_epochs,
                              record_epochs=params.variant_record_epochs, seed=params.seed)}


def moving_configs(config: RunConfig, score: np.ndarray, fraction: float, *,
                   which: tuple[str, ...] = WHICH, seed: int = 0,
                   labels: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, RunConfig]]:
    """For each of ``which`` ('easiest', 'hardest', 'random'): the moved train rows and the config
    that trains on all other rows (``train_subset`` = their complement), with a seed of its own
    (``derived_seed(config.seed, 'moving <which>')``, with ``', within class'`` when ranked so).

    ``score`` ``(M_train,)`` is the difficulty of every train row, higher = easier (e.g. the base
    ensemble's learning speed); ``fraction`` of the rows are moved (at least one); ``seed`` breaks
    ties and draws the random share. With ``labels`` ``(M_train,)`` the rows are ranked within each
    class (``subsets.by_difficulty_within``), else in the whole training set (the paper).
    """
    score = np.asarray(score)
    if isinstance(which, str) or not which or any(w not in WHICH for w in which):
        raise ValueError(f"which must be a non-empty tuple of {', '.join(WHICH)}; got {which!r}")
    if config.train_subset is not None:
        raise ValueError("config already trains on a subset (train_subset is set); give the full-data config")
    out = {}
    for w in which:
        rows = (by_difficulty(score, fraction, w, seed=seed) if labels is None
                else by_difficulty_within(score, labels, fraction, w, seed=seed))
        keep = complement(len(score), rows)
        if len(keep) == 0:
            raise ValueError(f"fraction={fraction!r} moves every training row; nothing is left to train on")
        name = f"moving {w}" + ("" if labels is None else f", {WITHIN}")
        out[w] = (rows, config.replace(train_subset=keep.tolist(), seed=derived_seed(config.seed, name)))
    return out


def base_speed(base: Run) -> dict[str, np.ndarray]:
    """Split → ``(M,)`` learning speed of the base ensemble (``scores.speed``: the training epochs ≥ 1,
    each recorded epoch weighted by the epochs it stands for): the order the variants are compared
    with, and (train) the ranking of the moving experiment."""
    return {s: scores.speed(base.split(s).pred, base.split(s).labels, base.epochs) for s in SPLITS}


def moving_runs(params: Parameters, base: Run) -> dict[str, tuple[np.ndarray, RunConfig]]:
    """The moving experiment's runs, which depend on the base run: share → (moved rows, the config
    that trains on all others). The shares are ranked by the base's learning speed over the whole
    training set, as the paper does (``'easiest'``, ``'hardest'``, ``'random'``), and, when
    ``move_within_class``, within each class too (``'easiest, within class'`` and ``'hardest,
    within class'``; a random share needs no ranking)."""
    config = params.base_config().replace(n_models=params.variant_n_models, epochs=params.move_epochs,
                                          record_epochs=params.move_record_epochs)
    speed = base_speed(base)["train"]
    out = moving_configs(config, speed, params.move_fraction, seed=params.seed)
    if params.move_within_class:
        within = moving_configs(config, speed, params.move_fraction, which=("easiest", "hardest"), seed=params.seed,
                                labels=base.train.labels)
        out.update({f"{w}, {WITHIN}": v for w, v in within.items()})
    return out


# --------------------------------------------------------------------------- the variants

def judged_epochs(run: Run, split: str = "test") -> np.ndarray:
    """``(E,)`` bool: the recorded epochs of ``run`` at which learning has begun (mean test accuracy >=
    chance + 0.05, :func:`equalnets.analysis.phases.onset`) and the networks are not collapsed on
    ``split`` (``phases.collapsed_epochs``): the epochs a bi-modality rule may look at."""
    begun = np.arange(len(run.epochs)) >= phases.onset(run.test.accuracy().mean(0), run.epochs, 1 / run.n_classes)
    return begun & ~phases.collapsed_epochs(run.split(split).pred, run.n_classes)


def most_bimodal(pearson: np.ndarray, judged: np.ndarray) -> int:
    """Recorded-epoch index of the lowest Pearson's measure among the ``judged`` epochs
    (:func:`judged_epochs`); the last epoch if none has a finite measure."""
    valid = np.flatnonzero(np.asarray(judged) & np.isfinite(pearson))
    return int(valid[np.argmin(pearson[valid])]) if len(valid) else len(pearson) - 1


@dataclass(frozen=True)
class VariantAnalysis:
    """What the variant figures, tables and claims are computed from; every dict is keyed by the
    ensemble's label, the :data:`RERUN` first.

    ``pearson`` split → label → ``(E,)`` Pearson's measure per recorded epoch; ``null`` label →
    ``(E,)`` the same networks with independent errors (test); ``null_rerun`` split → ``(E,)`` the
    re-run's; ``accuracy`` label → ``(E,)`` mean test accuracy; ``best`` label → (recorded-epoch
    index, ``(M,)`` test consistency) at the most bi-modal judged epoch (:func:`judged_epochs`);
    ``table`` one row per ensemble; ``correlations`` (label, split) → Pearson's r of its learning
    speed with the base's; ``null_r`` label → the same r for its networks with independent errors
    (test images).
    """

    ensembles: dict[str, Run]
    pearson: dict[str, dict[str, np.ndarray]]
    null: dict[str, np.ndarray]
    null_rerun: dict[str, np.ndarray]
    accuracy: dict[str, np.ndarray]
    best: dict[str, tuple[int, np.ndarray]]
    table: pd.DataFrame
    correlations: dict[tuple[str, str], Correlation]
    null_r: dict[str, float]

    @property
    def epochs(self) -> dict[str, np.ndarray]:
        """Label → ``(E,)`` recorded epochs of each ensemble."""
        return {label: r.epochs for label, r in self.ensembles.items()}

    @property
    def variants(self) -> list[str]:
        """The variants' labels (every ensemble but the re-run)."""
        return [label for label in self.ensembles if label != RERUN]

    def speed_table(self) -> pd.DataFrame:
        """One row per (ensemble, split): r, its bootstrap interval, p, the number of images, and (test)
        the r of the same networks with independent errors."""
        return pd.DataFrame([{"ensemble": lab, "split": s, "r": c.r, "CI low": c.low, "CI high": c.high, "p": c.p,
                              "images": c.n, "independent errors r": self.null_r[lab] if s == "test" else np.nan}
                             for (lab, s), c in self.correlations.items()]).set_index(["ensemble", "split"])

    def test_r_range(self) -> tuple[float, float]:
        """Smallest and largest r of the variants on the test images (nan where none is defined)."""
        r = np.array([self.correlations[label, "test"].r for label in self.variants])
        return (float(np.nanmin(r)), float(np.nanmax(r))) if np.isfinite(r).any() else (float("nan"), float("nan"))

    def ratio(self) -> pd.Series:
        """Most bi-modal test Pearson's measure / that of the same networks with independent errors."""
        return self.table["Pearson (test)"] / self.table["independent errors"]

    def strict(self) -> int:
        """How many variants pass §3's stricter test: a measure below half the independent-errors one."""
        return int((self.ratio().drop(index=RERUN) < 0.5).sum())


def analyse_variants(base: Run, rerun: Run, variants: Mapping[str, Run], *, n_boot: int = 1000,
                     seed: int = 0) -> VariantAnalysis:
    """Bi-modality and order of learning of the re-run and every variant against the base; ``seed``
    draws the independent-errors null and the bootstrap."""
    ensembles = {RERUN: rerun, **variants}
    pearson = {s: {label: phases.pearson_by_epoch(r.split(s).pred, r.split(s).labels) for label, r in ensembles.items()}
               for s in SPLITS}
    null_rerun = {s: phases.null_pearson_by_epoch(rerun.split(s).pred, rerun.split(s).labels, seed=seed)
                  for s in SPLITS}
    null = {label: phases.null_pearson_by_epoch(r.test.pred, r.test.labels, seed=seed)
            for label, r in ensembles.items()}
    accuracy = {label: r.test.accuracy().mean(0) for label, r in ensembles.items()}
    rows, best = [], {}
    for label, r in ensembles.items():
        p, judged = pearson["test"][label], judged_epochs(r)
        found = phases.split_phases(r.test.pred, r.test.labels, r.epochs, r.n_classes)
        k = most_bimodal(p, judged)
        c = scores.consistency(r.test.pred[:, k], r.test.labels)
        best[label] = (k, c)
        rows.append({"ensemble": label, "N": r.n_models, "most bi-modal epoch": int(r.epochs[k]),
                     "Pearson (test)": p[k], "independent errors": null[label][k],
                     "bi-modal by the §3 rule": bool(judged[k] and found.labels[k] == "bi-modality"),
                     "collapsed epochs": int(found.count("collapsed")),
                     "final test accuracy": float((r.test.pred[:, -1] == r.test.labels).mean())})
    speed = base_speed(base)
    correlations, null_r = {}, {}
    for label, r in ensembles.items():
        for s in SPLITS:
            correlations[label, s] = bootstrap_correlation(scores.speed(r.split(s).pred, r.split(s).labels, r.epochs),
                                                           speed[s], n_boot=n_boot, seed=seed)
        independent = scores.speed(scores.independent_errors(r.test.pred, r.test.labels, seed=seed), r.test.labels,
                                   r.epochs)
        null_r[label] = (float(np.corrcoef(independent, speed["test"])[0, 1])
                         if independent.std() > 0 and speed["test"].std() > 0 else float("nan"))
    return VariantAnalysis(ensembles=ensembles, pearson=pearson, null=null, null_rerun=null_rerun, accuracy=accuracy,
                           best=best, table=pd.DataFrame(rows).set_index("ensemble"), correlations=correlations,
                           null_r=null_r)


# --------------------------------------------------------------------------- the moving experiment

@dataclass(frozen=True)
class MovingAnalysis:
    """The moving experiment: for each moved share (``'easiest'``, ``'hardest'``, ``'random'``, and the
    within-class ``'easiest, within class'``, ``'hardest, within class'`` where run), the moved rows
    and the new networks' accuracy on them, beside the same rows in the base ensemble (which trained
    on them).

    ``epochs`` ``(E,)`` the moving runs' recorded epochs; ``accuracy`` share → ``(N, E)`` on the
    moved rows; ``test`` ``(E,)`` mean test accuracy of the moving runs together; ``first`` the index
    of the first recorded epoch >= 1; ``start`` that of the beginning of learning (test accuracy >=
    chance + 0.05); ``judged`` ``(E,)`` bool, the epochs from ``start`` on at which no moving run is
    collapsed (on its test split); ``base_accuracy`` share → ``(E_base,)`` the base's mean accuracy
    on the rows.
    """

    epochs: np.ndarray
    moved: dict[str, np.ndarray]
    accuracy: dict[str, np.ndarray]
    test: np.ndarray
    first: int
    start: int
    judged: np.ndarray
    chance: float
    base_epochs: np.ndarray
    base_accuracy: dict[str, np.ndarray]
    base_test: np.ndarray

    @property
    def k_moved(self) -> int:
        """Images moved per share (the random one's)."""
        return len(self.moved["random"])

    def table(self) -> pd.DataFrame:
        """Mean accuracy on each moved share and on the test set, per recorded epoch."""
        return pd.DataFrame({**{f"moved {w}": a.mean(0) for w, a in self.accuracy.items()}, "test set": self.test,
                             "judged": self.judged}, index=pd.Index(self.epochs, name="epoch"))


def analyse_moving(base: Run, moves: Mapping[str, tuple[np.ndarray, Run]]) -> MovingAnalysis:
    """The moving experiment from its runs: ``moves`` share → (moved rows, the run trained without them)."""
    moved = {w: np.asarray(rows) for w, (rows, _) in moves.items()}
    runs_ = {w: r for w, (_, r) in moves.items()}
    epochs = next(iter(runs_.values())).epochs
    test = np.stack([r.test.accuracy().mean(0) for r in runs_.values()]).mean(0)
    chance = 1 / base.n_classes
    start = phases.onset(test, epochs, chance)
    collapsed = np.any([phases.collapsed_epochs(r.test.pred, r.n_classes) for r in runs_.values()], axis=0)
    return MovingAnalysis(
        epochs=epochs, moved=moved, test=test, chance=chance,
        accuracy={w: scores.rows_accuracy(r.train.pred, r.train.labels, moved[w]) for w, r in runs_.items()},
        first=int(np.flatnonzero(epochs >= 1)[0]), start=start,
        judged=(np.arange(len(epochs)) >= start) & ~collapsed, base_epochs=base.epochs,
        base_accuracy={w: scores.rows_accuracy(base.train.pred, base.train.labels, rows).mean(0)
                       for w, rows in moved.items()},
        base_test=base.test.accuracy().mean(0))


def class_picks(base: Run, moved: Mapping[str, np.ndarray], fraction: float, *, seed: int = 0) -> pd.DataFrame:
    """Images per class that each ranking rule picks from the base's training set: the easiest and
    hardest ``fraction`` over the whole set and within each class, and the moved random share."""
    speed, labels = base_speed(base)["train"], base.train.labels
    picks = {**{f"{w}, whole set": by_difficulty(speed, fraction, w, seed=seed) for w in ("easiest", "hardest")},
             **{f"{w}, within class": by_difficulty_within(speed, labels, fraction, w, seed=seed)
                for w in ("easiest", "hardest")},
             "random": moved["random"]}
    return pd.DataFrame({name: np.bincount(labels[rows], minlength=base.n_classes) for name, rows in picks.items()},
                        index=pd.Index(base.classes, name="class of the images picked"))


# --------------------------------------------------------------------------- claims

def _ranking(share: str) -> str:
    return "within-class ranking" if share.endswith(WITHIN) else "global ranking, as the paper"


def claims(base: Run, rerun: Run, variants: Mapping[str, Run], moves: Mapping[str, tuple[np.ndarray, Run]], *,
           n_boot: int = 1000, seed: int = 0) -> ClaimsTable:
    """The claims of the paper's §3 'Robustness' against the base run, the re-run, the variants
    (label → run) and the moving runs (share → (moved rows, run), :func:`moving_runs`' keys)."""
    va = analyse_variants(base, rerun, variants, n_boot=n_boot, seed=seed)
    mv = analyse_moving(base, moves)
    table, bimodal_table, corrs = ClaimsTable(), va.table, va.correlations
    var_rows = bimodal_table.drop(index=RERUN)
    ok = var_rows[(var_rows["Pearson (test)"] < var_rows["independent errors"]) & var_rows["bi-modal by the §3 rule"]]
    rr = bimodal_table.loc[RERUN]
    table.check("The bi-modal phase appears under every hyper-parameter variant", "same qualitative result (§3, Supp. C)",
                f"{len(ok)} of {len(var_rows)} variants; most bi-modal test Pearson: "
                + ", ".join(f"{l} {p:.2f}" for l, p in zip(var_rows.index, var_rows["Pearson (test)"]))
                + f" (base re-run {rr['Pearson (test)']:.2f})",
                "every variant has a judged epoch (learning begun, not collapsed) that the §3 rule calls bi-modal, with "
                "Pearson's measure below that of its networks with independent errors; partly: at least half of them",
                len(ok) == len(var_rows), partly=len(ok) >= len(var_rows) / 2,
                reference="independent errors: " + ", ".join(f"{l} {n:.2f}" for l, n in
                                                             zip(var_rows.index, var_rows["independent errors"])))
    rs = np.array([corrs[l, "test"].r for l in va.variants])
    lows = np.array([corrs[l, "test"].low for l in va.variants])
    nulls = np.array([va.null_r[l] for l in va.variants])
    ref = corrs[RERUN, "test"].r
    beyond = bool(np.all(lows > nulls))
    table.check("Every variant learns the test images in the base's order",
                "same order; r = 0.87 across, 0.99 within architectures (§4)",
                ", ".join(f"{l} r = {r_:.2f}" for l, r_ in zip(va.variants, rs)),
                f"learning speed (scores.speed) against the base's: every variant's r >= the base re-run's r - "
                f"{ORDER_SLACK} and its 95 % CI above the r of its networks with independent errors; partly: the CI "
                "condition only",
                bool(beyond and np.all(rs >= ref - ORDER_SLACK)), partly=beyond,
                reference=f"base re-run r = {ref:.2f}; independent errors: "
                          + ", ".join(f"{l} {n:.2f}" for l, n in zip(va.variants, nulls)))
    first, epochs, test_mean, k_moved, judged = mv.first, mv.epochs, mv.test, mv.k_moved, mv.judged
    when = f"the {int(judged.sum())} judged epochs (from epoch {epochs[mv.start]}, not collapsed)"
    band = binomial_halfwidth(test_mean, k_moved)   # how far random images would stray from the test accuracy
    for share in [w for w in mv.accuracy if w.startswith("easiest")]:
        acc = mv.accuracy[share].mean(0)
        table.check(f"Moved easiest images ({_ranking(share)}): classified correctly from the first epoch on",
                    "accuracy 1 from epoch 1",
                    f"{acc[first]:.2f} at epoch {epochs[first]}, min {acc[judged].min() if judged.any() else np.nan:.2f} "
                    f"over {when}, {acc[-1]:.2f} at epoch {epochs[-1]}",
                    "accuracy >= 0.95 at every judged epoch (learning begun: test accuracy >= chance + 0.05; not "
                    "collapsed); partly: above the test accuracy by more than the 95 % binomial half-width of the "
                    "moved share at every judged epoch (the order holds, not the level)",
                    bool(judged.any() and acc[judged].min() >= 0.95),
                    partly=bool(judged.any() and np.all(acc[judged] > test_mean[judged] + band[judged])),
                    reference=f"test accuracy {test_mean[judged].min() if judged.any() else np.nan:.2f}-"
                              f"{test_mean[judged].max() if judged.any() else np.nan:.2f} over those epochs")
    for share in [w for w in mv.accuracy if w.startswith("hardest")]:
        acc = mv.accuracy[share].mean(0)
        below = bool(judged.any() and np.all(acc[judged] < test_mean[judged] - band[judged]))
        table.check(f"Moved hardest images ({_ranking(share)}): low at first, then close to 0",
                    "0.08 at epoch 1, then → 0",
                    f"{acc[first]:.2f} at epoch {epochs[first]}, max {acc[judged].max() if judged.any() else np.nan:.2f} "
                    f"over {when}, {acc[-1]:.2f} at epoch {epochs[-1]}",
                    "below the test accuracy by more than the 95 % binomial half-width of the moved share at every "
                    "judged epoch, and <= 0.1 at the last; partly: the first condition only",
                    bool(below and acc[-1] <= 0.1), partly=below,
                    reference=f"test accuracy {test_mean[-1]:.2f} at the last epoch")
    r_acc = mv.accuracy["random"].mean(0)
    gap = np.abs(r_acc - test_mean)
    inside = gap[judged] <= band[judged]
    table.check("Moved random images: accuracy tracks the test accuracy", "close to the test accuracy throughout",
                f"largest gap {gap[judged].max() if judged.any() else np.nan:.2f} over {when}; inside the band at "
                f"{inside.sum()} of them",
                "|moved random - test| within the 95 % binomial half-width of the moved share at every judged epoch "
                "(before learning begins or when collapsed both sit near chance); partly: at >= 75 % of them",
                bool(judged.any() and inside.all()), partly=bool(judged.any() and inside.mean() >= 0.75),
                reference=f"95 % binomial half-width for {k_moved} images "
                          f"{band[judged].min() if judged.any() else np.nan:.2f}-"
                          f"{band[judged].max() if judged.any() else np.nan:.2f}")
    return table
