"""Per-example scores of an ensemble (the paper's §2): pure functions, NumPy in, NumPy out.

N networks, E recorded epochs, M examples. Invalid input raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import numpy as np

from ..engine.checks import check_int


def _check_preds(preds: np.ndarray, name: str = "preds") -> np.ndarray:
    preds = np.asarray(preds)
    if preds.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (N, M) or (N, E, M), got {preds.shape}")
    if preds.size == 0:
        raise ValueError(f"{name} must not be empty (N >= 1 networks, M >= 1 examples), got {preds.shape}")
    if not np.issubdtype(preds.dtype, np.integer):
        raise ValueError(f"{name} must hold integer labels, got dtype {preds.dtype}")
    return preds


def consistency(preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fraction of networks that classify each example correctly.

    ``preds`` ``(N, M)`` → ``(M,)``, or ``(N, E, M)`` → ``(E, M)``; ``labels`` ``(M,)``.
    """
    preds = _check_preds(preds)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != preds.shape[-1]:
        raise ValueError(f"labels must have shape ({preds.shape[-1]},) to match preds {preds.shape}, "
                         f"got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or (labels < 0).any():
        raise ValueError("labels must be non-negative integers")
    return (preds == labels).mean(axis=0)


def consensus(preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Largest fraction of networks that agree on one label, per example.

    ``preds`` ``(N, M)`` → ``(M,)``, or ``(N, E, M)`` → ``(E, M)``; labels in ``[0, n_classes)``.
    """
    preds = _check_preds(preds)
    check_int("n_classes", n_classes, 1)
    if preds.min() < 0 or preds.max() >= n_classes:
        raise ValueError(f"preds must lie in [0, n_classes={n_classes}), found "
                         f"[{preds.min()}, {preds.max()}]")
    counts = np.stack([(preds == k).sum(axis=0) for k in range(n_classes)])
    return counts.max(axis=0) / preds.shape[0]


def bimodality(scores: np.ndarray) -> float:
    """Pearson's measure kurtosis − skewness² − 1, with the non-excess kurtosis; lower is more bi-modal.

    ``(M,)`` → float. A two-point distribution gives 0, a uniform 0.8, a Gaussian 2. A constant
    array (e.g. every example at consistency 1) has no shape: the result is ``nan``.
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"scores must have shape (M,), got {x.shape}")
    if x.size < 2:
        raise ValueError(f"scores must hold at least 2 values, got {x.size}")
    centred = x - x.mean()
    var = np.mean(centred ** 2)
    if var <= 1e-12 * max(1.0, float(np.mean(x ** 2))):
        return float("nan")
    skew = np.mean(centred ** 3) / var ** 1.5
    kurt = np.mean(centred ** 4) / var ** 2
    return float(kurt - skew ** 2 - 1.0)


def learning_speed(consistency_by_epoch: np.ndarray, epochs: np.ndarray | None = None) -> np.ndarray:
    """Mean consistency over the epochs given: ``(E, M)`` → ``(M,)``; high means learnt early.

    The caller chooses the epochs (the book's definition, :func:`speed`, gives the training epochs
    ≥ 1). With ``epochs`` ``(E,)`` (increasing, ≥ 1) the mean is over every training epoch from 1 to
    the last, each recorded epoch standing for the epochs since the previous recorded one (its weight
    is that gap), so uneven recordings do not over-weight the early epochs; without, every row weighs
    the same.
    """
    c = np.asarray(consistency_by_epoch, dtype=np.float64)
    if c.ndim != 2 or c.size == 0:
        raise ValueError(f"consistency_by_epoch must be a non-empty (E, M) array, got {c.shape}")
    if np.nanmin(c) < 0 or np.nanmax(c) > 1:
        raise ValueError("consistency_by_epoch must lie in [0, 1]")
    if epochs is None:
        return c.mean(axis=0)
    epochs = np.asarray(epochs, dtype=np.float64)
    if epochs.shape != (c.shape[0],) or (epochs < 1).any() or (np.diff(epochs) <= 0).any():
        raise ValueError(f"epochs must be {c.shape[0]} increasing epoch numbers >= 1 (one per row), got {epochs}")
    weights = np.diff(np.concatenate([[0.0], epochs]))
    return weights @ c / weights.sum()


def speed(pred: np.ndarray, labels: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """The book's learning speed (the paper's §2: consistency averaged over the training epochs):
    ``pred`` ``(N, E, M)`` recorded at ``epochs`` ``(E,)`` → ``(M,)``, :func:`learning_speed` of the
    recorded epochs ≥ 1 weighted by the epochs each stands for. Epoch 0 (the untrained networks) is
    left out."""
    epochs = np.asarray(epochs)
    trained = epochs >= 1
    if not trained.any():
        raise ValueError("epochs must include at least one training epoch (>= 1)")
    return learning_speed(consistency(np.asarray(pred)[:, trained], labels), epochs[trained])


def independent_errors(preds: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """The null of independent networks: each network's predictions shuffled among the examples
    of the same class. ``(N, M)`` or ``(N, E, M)`` → same shape.

    Every network keeps its per-class accuracy and confusions; only *which* examples it gets
    right is made independent of the other networks. Consistency under this null is what the
    paper's argument compares with (binomial-like around the accuracy, not bi-modal).
    """
    preds = _check_preds(preds)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != preds.shape[-1]:
        raise ValueError(f"labels must have shape ({preds.shape[-1]},) to match preds {preds.shape}, "
                         f"got {labels.shape}")
    rng = np.random.default_rng(seed)
    out = preds.copy()
    flat = out.reshape(-1, preds.shape[-1])  # (N·E, M) view: each row is one network at one epoch
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        for row in flat:
            row[idx] = row[rng.permutation(idx)]
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


# --------------------------------------------------------------------------- the difficulty atlas' scores

def _check_records(values: np.ndarray, name: str, *, boolean: bool = False) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 3 or 0 in values.shape:
        raise ValueError(f"{name} must be a non-empty (N, E, M) array (members, epochs, examples), got {values.shape}")
    if boolean and values.dtype != bool:
        raise ValueError(f"{name} must be a bool array (pred == labels), got dtype {values.dtype}")
    if not boolean and not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"{name} must hold numbers, got dtype {values.dtype}")
    return values


def forgetting_events(correct: np.ndarray) -> np.ndarray:
    """Forgetting events (Toneva et al. 2019): ``(N, E, M)`` bool → ``(M,)``, the mean over members of
    the number of steps from correct at one given epoch to wrong at the next."""
    correct = _check_records(correct, "correct", boolean=True)
    return (correct[:, :-1] & ~correct[:, 1:]).sum(axis=1).mean(axis=0)


def epoch_learned(correct: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """The epoch an example is learnt for good (Toneva et al.'s 'iteration learned'): ``(N, E, M)`` bool
    and the ``(E,)`` epoch numbers → ``(M,)``, the mean over members of the first given epoch from
    which the member is correct at every later given epoch; a member wrong at the last given epoch
    counts ``epochs[-1] + 1``."""
    correct = _check_records(correct, "correct", boolean=True)
    epochs = np.asarray(epochs)
    if epochs.shape != (correct.shape[1],) or not np.issubdtype(epochs.dtype, np.number):
        raise ValueError(f"epochs must be a numeric ({correct.shape[1]},) array, one per recorded epoch, "
                         f"got {epochs.shape}")
    if (np.diff(epochs) <= 0).any():
        raise ValueError("epochs must increase")
    # wrong_after[:, e] is True where the member is wrong at some epoch >= e (a reversed cumulative or)
    wrong_after = np.logical_or.accumulate(~correct[:, ::-1], axis=1)[:, ::-1]
    stays = ~wrong_after                                          # correct from e on
    first = np.where(stays.any(axis=1), stays.argmax(axis=1), len(epochs))  # (N, M) index, E = never
    value = np.append(np.asarray(epochs, dtype=float), float(epochs[-1]) + 1)[first]
    return value.mean(axis=0)


def aum(margin: np.ndarray) -> np.ndarray:
    """Area under the margin (Pleiss et al. 2020): ``(N, E, M)`` margins (logit of the label minus the
    largest other logit) → ``(M,)``, their mean over members and epochs."""
    margin = _check_records(margin, "margin").astype(np.float64)
    return margin.mean(axis=(0, 1))


def data_map(p_label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Data-map coordinates (Swayamdipta et al. 2020): ``(N, E, M)`` probabilities of the label →
    ``(confidence, variability)``, each ``(M,)``: the mean over members and epochs, and the mean over
    members of the standard deviation (ddof 0) over epochs."""
    p = _check_records(p_label, "p_label").astype(np.float64)
    if np.nanmin(p) < 0 or np.nanmax(p) > 1:
        raise ValueError("p_label must hold probabilities in [0, 1]")
    return p.mean(axis=(0, 1)), p.std(axis=1).mean(axis=0)


def holdout_accuracy(pred: np.ndarray, labels: np.ndarray, trained: np.ndarray) -> np.ndarray:
    """The C-score's holdout estimate at one subset ratio (Jiang et al. 2021): ``pred`` ``(K, M)``
    int, the final predictions of K networks, each trained on a subset of the rows; ``labels``
    ``(M,)``; ``trained`` ``(K, M)`` bool, whether network k trained on example m → ``(M,)`` float,
    the accuracy on each example of the networks that did not train on it (``nan`` where every
    network did)."""
    pred, labels, trained = np.asarray(pred), np.asarray(labels), np.asarray(trained)
    if pred.ndim != 2 or 0 in pred.shape or not np.issubdtype(pred.dtype, np.integer):
        raise ValueError(f"pred must be a non-empty (K, M) integer array (networks, examples), got {pred.dtype} "
                         f"{pred.shape}")
    if labels.shape != (pred.shape[1],):
        raise ValueError(f"labels must have shape ({pred.shape[1]},) to match pred {pred.shape}, got {labels.shape}")
    if trained.shape != pred.shape or trained.dtype != bool:
        raise ValueError(f"trained must be a bool array of pred's shape {pred.shape}, got {trained.dtype} "
                         f"{trained.shape}")
    held_out = (~trained).sum(axis=0)
    right = ((pred == labels) & ~trained).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(held_out > 0, right / np.maximum(held_out, 1), np.nan)
