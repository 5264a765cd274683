"""§3 Robustness: whether the base ensemble's picture (a bi-modal phase, one order of learning)
survives other hyper-parameters, and the moving experiment (train without a chosen share of the
training set and follow that share as held-out images).

A *variant* is the base RunConfig with a few hyper-parameters changed (learning rate, optimizer,
batch size, dropout, L2, width, ...) and the chapter's own size (N, epochs, recorded epochs, seed);
the *base re-run* keeps the base's hyper-parameters at that size, the yardstick. The *moving
experiment* removes the easiest, the hardest or a random share of the training rows from training
(``RunConfig.train_subset`` is the complement); the store still records every train row, so the
moved rows are followed as held-out examples. Arrays follow :mod:`equalnets.analysis.scores`:
N networks, E recorded epochs, M examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..analysis import phases, scores
from ..analysis.claims import ClaimsTable
from ..analysis.compare import speed_correlation
from ..analysis.stats import Correlation, binomial_halfwidth
from ..analysis.subsets import WHICH, by_difficulty, by_difficulty_within, complement
from ..engine.checks import ParameterError, check_bool, check_float, check_int, check_record_epochs
from ..engine.config import RunConfig
from ..engine.store import SPLITS, Run
from .base import EnsembleParameters

TITLE = "§3 robustness"
#: The label of the base re-run: the base's hyper-parameters at the variants' size and seed.
RERUN = "base re-run"
#: The fields a variant may change; its size and seed are set by the chapter, not by the variant.
VARIABLE = ("arch", "width", "activation", "dropout", "optimizer", "lr", "momentum", "weight_decay",
            "batch_size", "lr_decay", "lr_decay_every")
#: How a changed field is named in a variant's label.
_NAMES = {"lr": "lr", "momentum": "momentum", "weight_decay": "L2", "batch_size": "batch",
          "lr_decay": "lr decay", "lr_decay_every": "decay every", "width": "width"}


@dataclass(frozen=True)
class Parameters(EnsembleParameters):
    """The base ensemble's parameters (read from the store, never retrained here), the variants and
    the moving experiment."""

    variants: tuple[dict[str, Any], ...] = ({"lr": 0.02}, {"optimizer": "adam", "lr": 0.001, "momentum": 0.0},
                                            {"batch_size": 50}, {"dropout": False}, {"weight_decay": 0.0005})
    variant_n_models: int = 3
    variant_epochs: int = 10
    variant_record_epochs: tuple[int, ...] | None = (0, 1, 2, 3, 4, 6, 8, 10)
    variant_seed: int = 1
    move_fraction: float = 0.025
    move_within_class: bool = True
    move_epochs: int = 10
    move_record_epochs: tuple[int, ...] | None = None
    n_boot: int = 1000

    def check(self) -> None:
        check_int("variant_n_models", self.variant_n_models, 2, why=" (consistency compares networks)")
        check_int("variant_epochs", self.variant_epochs, 1)
        check_int("move_epochs", self.move_epochs, 1)
        check_int("variant_seed", self.variant_seed, 0)
        if self.variant_seed == self.seed:
            raise ParameterError(f"variant_seed must differ from the base's seed={self.seed}: a variant network "
                                 "would start from a base network's initial weights")
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
                            record_epochs=self.variant_record_epochs, seed=self.variant_seed)
        except ParameterError as err:
            raise ParameterError(str(err) if "variants" in str(err) else f"variants: {err}") from None
        self.set("variants", tuple(dict(v) for v in self.variants))

    def sized(self, epochs: int, record_epochs: tuple[int, ...] | None) -> RunConfig:
        """The base config at the variants' N and seed, with the given epochs."""
        return self.base_config().replace(n_models=self.variant_n_models, epochs=epochs,
                                          record_epochs=record_epochs, seed=self.variant_seed)


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
    """Label → config of every variant, in the given order; repeated variants are an error."""
    if not isinstance(variants, (list, tuple)) or not variants:
        raise ParameterError(f"variants must be a non-empty list of dicts of hyper-parameters, got {variants!r}")
    out: dict[str, RunConfig] = {}
    for overrides in variants:
        config = variant_config(base, overrides, n_models=n_models, epochs=epochs,
                                record_epochs=record_epochs, seed=seed)
        label = variant_label(base, config)
        if label in out:
            raise ParameterError(f"variant {label!r} is given twice in variants")
        out[label] = config
    return out


def runs(params: Parameters) -> dict[str, RunConfig]:
    """The runs known before anything is trained: ``'base'`` (loaded), the :data:`RERUN` and every
    variant by its label. The moving runs depend on the base run: :func:`moving_runs`."""
    base = params.base_config()
    return {"base": base, RERUN: params.sized(params.variant_epochs, params.variant_record_epochs),
            **variant_configs(base, params.variants, n_models=params.variant_n_models, epochs=params.variant_epochs,
                              record_epochs=params.variant_record_epochs, seed=params.variant_seed)}


def moving_configs(config: RunConfig, score: np.ndarray, fraction: float, *,
                   which: tuple[str, ...] = WHICH, seed: int = 0,
                   labels: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, RunConfig]]:
    """For each of ``which`` ('easiest', 'hardest', 'random'): the moved train rows and the config
    that trains on all other rows (``train_subset`` = their complement).

    ``score`` ``(M_train,)`` is the difficulty of every train row, higher = easier (e.g. the base
    ensemble's learning speed); ``fraction`` of the rows are moved (at least one). With ``labels``
    ``(M_train,)`` the rows are ranked within each class (``subsets.by_difficulty_within``), else
    in the whole training set.
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
        out[w] = (rows, config.replace(train_subset=keep.tolist()))
    return out


def base_speed(base: Run) -> dict[str, np.ndarray]:
    """Split → ``(M,)`` learning speed of the base ensemble, over every recorded epoch (epoch 0 too):
    the order the variants are compared with, and (train) the ranking of the moving experiment."""
    return {s: scores.learning_speed(scores.consistency(base.split(s).pred, base.split(s).labels)) for s in SPLITS}


def moving_runs(params: Parameters, base: Run) -> dict[str, tuple[np.ndarray, RunConfig]]:
    """The moving experiment's runs, which depend on the base run: for each of easiest, hardest and
    random, the moved train rows (ranked by the base's learning speed, within each class when
    ``move_within_class``) and the config that trains on all others."""
    return moving_configs(params.sized(params.move_epochs, params.move_record_epochs), base_speed(base)["train"],
                          params.move_fraction, seed=params.variant_seed,
                          labels=base.train.labels if params.move_within_class else None)


# --------------------------------------------------------------------------- the variants

def most_bimodal(pearson: np.ndarray, epochs: np.ndarray, test_accuracy: np.ndarray, chance: float) -> int:
    """Recorded-epoch index of the lowest Pearson's measure once learning has begun (mean test
    accuracy >= chance + 0.05, :func:`equalnets.analysis.phases.onset`); the last epoch if none."""
    begun = np.arange(len(epochs)) >= phases.onset(test_accuracy, epochs, chance)
    valid = np.flatnonzero(begun & np.isfinite(pearson))
    return int(valid[np.argmin(pearson[valid])]) if len(valid) else len(epochs) - 1


@dataclass(frozen=True)
class VariantAnalysis:
    """What the variant figures, tables and claims are computed from; every dict is keyed by the
    ensemble's label, the :data:`RERUN` first.

    ``pearson`` split → label → ``(E,)`` Pearson's measure per recorded epoch; ``null`` label →
    ``(E,)`` the same networks with independent errors (test); ``null_rerun`` split → ``(E,)`` the
    re-run's; ``accuracy`` label → ``(E,)`` mean test accuracy; ``best`` label → (recorded-epoch
    index, ``(M,)`` test consistency) at the most bi-modal epoch; ``table`` one row per ensemble;
    ``correlations`` (label, split) → Pearson's r of its learning speed with the base's.
    """

    ensembles: dict[str, Run]
    pearson: dict[str, dict[str, np.ndarray]]
    null: dict[str, np.ndarray]
    null_rerun: dict[str, np.ndarray]
    accuracy: dict[str, np.ndarray]
    best: dict[str, tuple[int, np.ndarray]]
    table: pd.DataFrame
    correlations: dict[tuple[str, str], Correlation]

    @property
    def epochs(self) -> dict[str, np.ndarray]:
        """Label → ``(E,)`` recorded epochs of each ensemble."""
        return {label: r.epochs for label, r in self.ensembles.items()}

    @property
    def variants(self) -> list[str]:
        """The variants' labels (every ensemble but the re-run)."""
        return [label for label in self.ensembles if label != RERUN]

    def speed_table(self) -> pd.DataFrame:
        """One row per (ensemble, split): r, its bootstrap interval, p and the number of images."""
        return pd.DataFrame([{"ensemble": lab, "split": s, "r": c.r, "CI low": c.low, "CI high": c.high, "p": c.p,
                              "images": c.n} for (lab, s), c in self.correlations.items()]).set_index(["ensemble", "split"])

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


def analyse_variants(base: Run, rerun: Run, variants: Mapping[str, Run], *, variant_seed: int = 1,
                     n_boot: int = 1000, seed: int = 0) -> VariantAnalysis:
    """Bi-modality and order of learning of the re-run and every variant against the base;
    ``variant_seed`` draws the independent-errors null, ``seed`` the bootstrap."""
    ensembles = {RERUN: rerun, **variants}
    pearson = {s: {label: phases.pearson_by_epoch(r.split(s).pred, r.split(s).labels) for label, r in ensembles.items()}
               for s in SPLITS}
    null_rerun = {s: phases.null_pearson_by_epoch(rerun.split(s).pred, rerun.split(s).labels, seed=variant_seed)
                  for s in SPLITS}
    null = {label: phases.null_pearson_by_epoch(r.test.pred, r.test.labels, seed=variant_seed)
            for label, r in ensembles.items()}
    accuracy = {label: r.test.accuracy().mean(0) for label, r in ensembles.items()}
    rows, best = [], {}
    for label, r in ensembles.items():
        p = pearson["test"][label]
        k = most_bimodal(p, r.epochs, accuracy[label], 1 / base.n_classes)
        c = scores.consistency(r.test.pred[:, k], r.test.labels)
        best[label] = (k, c)
        rows.append({"ensemble": label, "N": r.n_models, "most bi-modal epoch": int(r.epochs[k]),
                     "Pearson (test)": p[k], "independent errors": null[label][k],
                     "bi-modal by the §3 rule": phases.is_bimodal(c),
                     "final test accuracy": float((r.test.pred[:, -1] == r.test.labels).mean())})
    cons = {s: scores.consistency(base.split(s).pred, base.split(s).labels) for s in SPLITS}
    correlations = {(label, s): speed_correlation(scores.consistency(r.split(s).pred, r.split(s).labels), cons[s],
                                                  first_epoch=0, n_boot=n_boot, seed=seed)
                    for label, r in ensembles.items() for s in SPLITS}
    return VariantAnalysis(ensembles=ensembles, pearson=pearson, null=null, null_rerun=null_rerun, accuracy=accuracy,
                           best=best, table=pd.DataFrame(rows).set_index("ensemble"), correlations=correlations)


# --------------------------------------------------------------------------- the moving experiment

@dataclass(frozen=True)
class MovingAnalysis:
    """The moving experiment: for each of easiest, hardest and random, the moved rows and the new
    networks' accuracy on them, beside the same rows in the base ensemble (which trained on them).

    ``epochs`` ``(E,)`` the moving runs' recorded epochs; ``accuracy`` which → ``(N, E)`` on the
    moved rows; ``test`` ``(E,)`` mean test accuracy of the three runs together; ``first`` the index
    of the first recorded epoch >= 1; ``start`` that of the beginning of learning (test accuracy >=
    chance + 0.05); ``base_accuracy`` which → ``(E_base,)`` the base's mean accuracy on the rows.
    """

    epochs: np.ndarray
    moved: dict[str, np.ndarray]
    accuracy: dict[str, np.ndarray]
    test: np.ndarray
    first: int
    start: int
    chance: float
    base_epochs: np.ndarray
    base_accuracy: dict[str, np.ndarray]
    base_test: np.ndarray

    @property
    def k_moved(self) -> int:
        """Images moved per case."""
        return len(self.moved["random"])

    def table(self) -> pd.DataFrame:
        """Mean accuracy on each moved share and on the test set, per recorded epoch."""
        return pd.DataFrame({**{f"moved {w}": a.mean(0) for w, a in self.accuracy.items()}, "test set": self.test},
                            index=pd.Index(self.epochs, name="epoch"))


def analyse_moving(base: Run, moves: Mapping[str, tuple[np.ndarray, Run]]) -> MovingAnalysis:
    """The moving experiment from its runs: ``moves`` which → (moved rows, the run trained without them)."""
    moved = {w: np.asarray(rows) for w, (rows, _) in moves.items()}
    runs_ = {w: r for w, (_, r) in moves.items()}
    epochs = next(iter(runs_.values())).epochs
    test = np.stack([r.test.accuracy().mean(0) for r in runs_.values()]).mean(0)
    chance = 1 / base.n_classes
    return MovingAnalysis(
        epochs=epochs, moved=moved, test=test, chance=chance,
        accuracy={w: scores.rows_accuracy(r.train.pred, r.train.labels, moved[w]) for w, r in runs_.items()},
        first=int(np.flatnonzero(epochs >= 1)[0]), start=phases.onset(test, epochs, chance), base_epochs=base.epochs,
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

def claims(base: Run, rerun: Run, variants: Mapping[str, Run], moves: Mapping[str, tuple[np.ndarray, Run]], *,
           variant_seed: int = 1, n_boot: int = 1000, seed: int = 0) -> ClaimsTable:
    """The claims of the paper's §3 'Robustness' against the base run, the re-run, the variants
    (label → run) and the moving runs (easiest / hardest / random → (moved rows, run))."""
    va = analyse_variants(base, rerun, variants, variant_seed=variant_seed, n_boot=n_boot, seed=seed)
    mv = analyse_moving(base, moves)
    table, bimodal_table, corrs = ClaimsTable(), va.table, va.correlations
    var_rows = bimodal_table.drop(index=RERUN)
    ok = var_rows[(var_rows["Pearson (test)"] < var_rows["independent errors"]) & var_rows["bi-modal by the §3 rule"]]
    table.check("The bi-modal phase appears under every hyper-parameter variant", "same qualitative result (§3, Supp. C)",
                f"{len(ok)} of {len(var_rows)} variants; most bi-modal test Pearson / independent errors: "
                + ", ".join(f"{l} {p:.2f} / {n:.2f}" for l, p, n in zip(var_rows.index, var_rows["Pearson (test)"],
                                                                        var_rows["independent errors"]))
                + f" (base re-run {bimodal_table.loc[RERUN, 'Pearson (test)']:.2f} / "
                  f"{bimodal_table.loc[RERUN, 'independent errors']:.2f})",
                "every variant has an epoch after the beginning of learning that is bi-modal by the §3 rule and below "
                "its networks with independent errors; partly: at least half of them", len(ok) == len(var_rows),
                partly=len(ok) >= len(var_rows) / 2)
    rs = np.array([corrs[l, "test"].r for l in va.variants])
    lows = np.array([corrs[l, "test"].low for l in va.variants])
    ref = corrs[RERUN, "test"].r
    table.check("Every variant learns the test images in the base's order",
                "same order; r = 0.87 across, 0.99 within architectures (§4)",
                ", ".join(f"{l} r = {r_:.2f}" for l, r_ in zip(va.variants, rs)) + f" (base re-run {ref:.2f})",
                "every variant r >= 0.8 with its CI above 0 (test images); partly: every r >= 0.5",
                bool(np.all(rs >= 0.8) and np.all(lows > 0)), partly=bool(np.all(rs >= 0.5)))
    e_acc, h_acc, r_acc = (mv.accuracy[w].mean(0) for w in ("easiest", "hardest", "random"))
    first, start, epochs, test_mean, k_moved = mv.first, mv.start, mv.epochs, mv.test, mv.k_moved
    after = np.arange(start, len(epochs))
    table.check("Moved easiest images: classified correctly from the first epoch on", "accuracy 1 from epoch 1",
                f"{e_acc[first]:.2f} at epoch {epochs[first]}, min {e_acc[after].min():.2f} from epoch "
                f"{epochs[start]}, {e_acc[-1]:.2f} at epoch {epochs[-1]} (test {test_mean[-1]:.2f})",
                "accuracy >= 0.95 at every epoch from the beginning of learning (test accuracy >= chance + 0.05); "
                "partly: above the test accuracy at every such epoch (the order holds, not the level)",
                bool(e_acc[after].min() >= 0.95), partly=bool(np.all(e_acc[after] > test_mean[after])))
    table.check("Moved hardest images: low at first, then close to 0", "0.08 at epoch 1, then → 0",
                f"{h_acc[first]:.2f} at epoch {epochs[first]}, {h_acc[start]:.2f} at epoch {epochs[start]}, "
                f"{h_acc[-1]:.2f} at epoch {epochs[-1]} (test {test_mean[-1]:.2f})",
                "below the test accuracy at every epoch from the beginning of learning and <= 0.1 at the last; "
                "partly: below the test accuracy at every such epoch",
                bool(np.all(h_acc[after] < test_mean[after]) and h_acc[-1] <= 0.1),
                partly=bool(np.all(h_acc[after] < test_mean[after])))
    ep1 = epochs >= 1
    halfw = binomial_halfwidth(test_mean[ep1], k_moved)
    inside = np.abs(r_acc[ep1] - test_mean[ep1]) <= halfw
    table.check("Moved random images: accuracy tracks the test accuracy", "close to the test accuracy throughout",
                f"largest gap {np.abs(r_acc[ep1] - test_mean[ep1]).max():.2f} (95 % binomial half-width for {k_moved} "
                f"images {halfw.min():.2f}-{halfw.max():.2f}); inside at {inside.sum()} of {inside.size} epochs",
                "|moved random - test| within the 95 % binomial half-width at every recorded epoch >= 1; partly: at "
                ">= 75 % of them", bool(inside.all()), partly=bool(inside.mean() >= 0.75))
    return table
