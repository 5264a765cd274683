"""Robustness of the learning order (the paper's §3 'Robustness'): hyper-parameter variants of a
base ensemble, and the moving experiment (train without a chosen share of the training set).

A *variant* is the base RunConfig with a few hyper-parameters changed (learning rate, optimizer,
batch size, dropout, L2, width, ...) and its own size (N, epochs, recorded epochs, seed). The
*moving experiment* removes the easiest, the hardest or a random share of the training rows from
training (``RunConfig.train_subset`` is the complement); the store still records every train row,
so the moved rows are followed as held-out examples. Arrays follow ``equalnets.scores``: N
networks, E recorded epochs, M examples.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from . import scores
from .config import ParameterError, RunConfig
from .subsets import WHICH, by_difficulty, complement

#: The fields a variant may change; its size and seed are set by the chapter, not by the variant.
VARIABLE = ("arch", "width", "activation", "dropout", "optimizer", "lr", "momentum", "weight_decay",
            "batch_size", "lr_decay", "lr_decay_every")
#: How a changed field is named in a variant's label.
_NAMES = {"lr": "lr", "momentum": "momentum", "weight_decay": "L2", "batch_size": "batch",
          "lr_decay": "lr decay", "lr_decay_every": "decay every", "width": "width"}


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
    fields_ = {**base.to_dict(), **overrides, "n_models": n_models, "epochs": epochs,
               "record_epochs": record_epochs, "seed": seed}
    config = RunConfig.from_dict(fields_)
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


def variant_configs(base: RunConfig, variants: list[Mapping[str, Any]], *, n_models: int, epochs: int,
                    record_epochs: list[int] | tuple[int, ...] | None = None,
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


def by_difficulty_within(score: np.ndarray, groups: np.ndarray, fraction: float, which: str, *,
                         seed: int = 0) -> np.ndarray:
    """``subsets.by_difficulty`` applied inside every group (e.g. class) and joined: sorted rows.

    Each group of size ``m`` gives ``round(fraction * m)`` rows (at least one), so every class is
    represented as in the data and a score that favours one class cannot pick only that class.
    """
    score, groups = np.asarray(score), np.asarray(groups)
    if groups.shape != score.shape:
        raise ValueError(f"groups must have the shape of score {score.shape}, got {groups.shape}")
    picked = []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        picked.append(idx[by_difficulty(score[idx], fraction, which, seed=seed)])
    return np.sort(np.concatenate(picked))


def moving_configs(config: RunConfig, score: np.ndarray, fraction: float, *,
                   which: tuple[str, ...] = WHICH, seed: int = 0,
                   labels: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, RunConfig]]:
    """For each of ``which`` ('easiest', 'hardest', 'random'): the moved train rows and the config
    that trains on all other rows (``train_subset`` = their complement).

    ``score`` ``(M_train,)`` is the difficulty of every train row, higher = easier (e.g. the base
    ensemble's learning speed); ``fraction`` of the rows are moved (at least one). With ``labels``
    ``(M_train,)`` the rows are ranked within each class (:func:`by_difficulty_within`), else in
    the whole training set.
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
        out[w] = (rows, RunConfig.from_dict({**config.to_dict(), "train_subset": keep.tolist()}))
    return out


def rows_accuracy(pred: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Accuracy of every network at every recorded epoch on ``rows``: ``(N, E, M)`` → ``(N, E)``."""
    pred = np.asarray(pred)
    labels = np.asarray(labels)
    rows = np.asarray(rows)
    if pred.ndim != 3 or labels.shape != (pred.shape[2],):
        raise ValueError(f"pred must be (N, E, M) and labels (M,), got {pred.shape} and {labels.shape}")
    if rows.ndim != 1 or rows.size == 0 or not np.issubdtype(rows.dtype, np.integer):
        raise ValueError(f"rows must be a non-empty 1-D array of example indices, got {rows!r}")
    if rows.min() < 0 or rows.max() >= pred.shape[2]:
        raise ValueError(f"rows must lie in [0, {pred.shape[2]}), got values from {rows.min()} to {rows.max()}")
    return (pred[:, :, rows] == labels[rows]).mean(axis=2)


def pearson_by_epoch(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Pearson's bi-modality measure of the consistency distribution at every recorded epoch:
    ``(N, E, M)`` → ``(E,)`` (``nan`` where every example has the same consistency)."""
    pred = np.asarray(pred)
    if pred.ndim != 3:
        raise ValueError(f"pred must have shape (N, E, M), got {pred.shape}")
    return np.array([scores.bimodality(row) for row in scores.consistency(pred, labels)])


def null_pearson_by_epoch(pred: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """:func:`pearson_by_epoch` of networks that err independently (``scores.independent_errors``):
    the value a non-bi-modal ensemble of the same N and accuracies would give. ``(N, E, M)`` → ``(E,)``."""
    return pearson_by_epoch(scores.independent_errors(pred, labels, seed=seed), labels)


def learning_speed_of(pred: np.ndarray, labels: np.ndarray, *, members: np.ndarray | slice | None = None,
                      epochs: np.ndarray | None = None) -> np.ndarray:
    """Learning speed ``(M,)`` of an ensemble ``(N, E, M)``, optionally of some ``members`` only and
    over some recorded-epoch indices ``epochs`` only (e.g. a sub-ensemble of the size of a variant)."""
    pred = np.asarray(pred)
    if pred.ndim != 3:
        raise ValueError(f"pred must have shape (N, E, M), got {pred.shape}")
    if members is not None:
        pred = pred[members]
    if epochs is not None:
        pred = pred[:, epochs]
    if pred.shape[0] == 0 or pred.shape[1] == 0:
        raise ValueError("members and epochs must select at least one network and one epoch")
    return scores.learning_speed(scores.consistency(pred, labels))


def binomial_halfwidth(p: np.ndarray, k: int, z: float = 1.96) -> np.ndarray:
    """Half-width ``z·sqrt(p(1-p)/k)`` of the normal interval of a proportion ``p`` over ``k``
    examples, floored at ``z·sqrt(0.5·0.5/k)/2`` so that p near 0 or 1 still allows some noise."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer (number of examples), got {k!r}")
    p = np.asarray(p, dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p must lie in [0, 1]")
    return np.maximum(z * np.sqrt(p * (1 - p) / k), z * math.sqrt(0.25 / k) / 2)


def onset(test_accuracy: np.ndarray, epochs: np.ndarray, chance: float, margin: float = 0.05) -> int:
    """Index of the first recorded epoch ≥ 1 at which the mean test accuracy exceeds chance by
    ``margin``: where learning has visibly begun (the last recorded epoch if never)."""
    acc = np.asarray(test_accuracy, dtype=float)
    epochs = np.asarray(epochs)
    if acc.ndim != 1 or acc.shape != epochs.shape or acc.size == 0:
        raise ValueError(f"test_accuracy and epochs must be (E,) arrays of one length, got {acc.shape} and {epochs.shape}")
    hits = np.flatnonzero((epochs >= 1) & (acc >= chance + margin))
    return int(hits[0]) if len(hits) else len(acc) - 1



def speed_correlation(x: np.ndarray, y: np.ndarray, *, n_boot: int = 1000, seed: int = 0):
    """``classic.bootstrap_correlation`` of two learning speeds, or one whose numbers are all ``nan``
    where either is constant (a tiny ensemble that has learnt nothing yet has no order to compare)."""
    from .classic import Correlation, bootstrap_correlation

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim == 1 and x.shape == y.shape and len(x) >= 3 and (x.std() == 0 or y.std() == 0):
        nan = float("nan")
        return Correlation(nan, nan, nan, nan, len(x), 0.95)
    return bootstrap_correlation(x, y, n_boot=n_boot, seed=seed)
