"""Made-up ensembles for the claim rules' tests: a Run built from predictions alone, and ensembles
that support or contradict the paper's claims (an ordered ensemble, independent networks with the same
accuracy curve, an ensemble collapsed to one label).

Predictions are ``(N, E, M)``; epoch 0 is the untrained network. The other records follow from the
predictions: ``p_label`` 0.9 where right and 0.02 where wrong, ``margin`` ±1, ``el2n`` 0.1 or 1.3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from equalnets.engine.config import RunConfig
from equalnets.engine.store import Run, SplitRecord


def split_record(pred: np.ndarray, labels: np.ndarray) -> SplitRecord:
    pred, labels = np.asarray(pred, dtype=np.int16), np.asarray(labels)
    right = pred == labels
    return SplitRecord(labels=labels, pred=pred, p_label=np.where(right, 0.9, 0.02).astype(np.float16),
                       margin=np.where(right, 1.0, -1.0).astype(np.float16),
                       el2n=np.where(right, 0.1, 1.3).astype(np.float16))


def make_run(train_pred: np.ndarray, train_labels: np.ndarray, test_pred: np.ndarray, test_labels: np.ndarray,
             *, n_classes: int | None = None, classes: tuple[str, ...] | None = None, epochs: np.ndarray | None = None,
             config: RunConfig | None = None) -> Run:
    """A Run from predictions ``(N, E, M)`` and labels ``(M,)`` of both splits (``epochs`` default
    0..E-1; the classes, by default, every label seen)."""
    n, e = np.asarray(train_pred).shape[:2]
    epochs = np.arange(e) if epochs is None else np.asarray(epochs)
    if classes is None:
        k = n_classes or int(max(np.max(train_labels), np.max(test_labels), np.max(train_pred), np.max(test_pred))) + 1
        classes = tuple(f"class {c}" for c in range(k))
    config = config or RunConfig(n_models=n, epochs=max(int(epochs[-1]), 1), width=0.25)
    return Run(config=config, epochs=epochs, train=split_record(train_pred, train_labels),
               test=split_record(test_pred, test_labels), loss=np.ones((n, max(int(epochs[-1]), 1)), np.float32),
               classes=classes, path=Path("/nonexistent/made-up-run"))


def _labels(m: int, k: int) -> np.ndarray:
    return np.arange(m) % k


def ordered_predictions(n: int, e: int, m: int, k: int, *, seed: int = 0, jitter: float = 0.5,
                        never: float = 0.2, start: int = 1, agree_wrong: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """What the paper describes: every example has one time at which (almost) every network learns it
    (the same order for all networks, ± ``jitter`` epochs), a ``never`` share is never learnt, and
    before its time an example gets the same wrong label from every network (they agree on mistakes;
    with ``agree_wrong=False`` each network draws its own wrong label at every epoch instead).
    Epoch 0 is chance-like (independent random labels). Returns (pred ``(N, E, M)``, labels ``(M,)``)."""
    rng = np.random.default_rng(seed)
    labels = _labels(m, k)
    learn_at = rng.uniform(start, e - 1, m)
    learn_at[rng.random(m) < never] = np.inf
    wrong = (labels + rng.integers(1, k, m)) % k
    when = learn_at[None, :] + rng.normal(0, jitter, (n, m))
    if not agree_wrong:
        wrong = (labels + rng.integers(1, k, (n, e, m))) % k
    t = np.arange(e)[None, :, None]
    pred = np.where(t >= when[:, None, :], labels, wrong).astype(np.int16)  # wrong: (M,) or (N, E, M)
    pred[:, 0] = rng.integers(0, k, (n, m))
    return pred, labels


def independent_predictions(pred: np.ndarray, labels: np.ndarray, k: int, *, seed: int = 1) -> np.ndarray:
    """Networks with the same accuracy at every epoch as ``pred``'s, each right or wrong on each example
    independently of the others (and wrong with a random other label)."""
    rng = np.random.default_rng(seed)
    acc = (pred == labels).mean(axis=2, keepdims=True)          # (N, E, 1)
    right = rng.random(pred.shape) < acc
    wrong = (labels + rng.integers(1, k, pred.shape)) % k
    return np.where(right, labels, wrong).astype(np.int16)


def collapsed_predictions(pred: np.ndarray, label: int = 0) -> np.ndarray:
    """Every network gives every example one label at every epoch after the first."""
    out = np.array(pred, dtype=np.int16)
    out[:, 1:] = label
    return out


def ordered_run(n: int = 10, e: int = 12, m_train: int = 500, m_test: int = 200, k: int = 5, *, seed: int = 0,
                **kw) -> Run:
    """An ensemble that learns in one order (see :func:`ordered_predictions`), both splits."""
    train_pred, train_labels = ordered_predictions(n, e, m_train, k, seed=seed, **kw)
    test_pred, test_labels = ordered_predictions(n, e, m_test, k, seed=seed + 100, **kw)
    return make_run(train_pred, train_labels, test_pred, test_labels, n_classes=k)


def independent_run(run: Run, *, seed: int = 1) -> Run:
    """Independent networks with ``run``'s accuracy curve (member by member and epoch by epoch)."""
    k = run.n_classes
    return make_run(independent_predictions(run.train.pred, run.train.labels, k, seed=seed), run.train.labels,
                    independent_predictions(run.test.pred, run.test.labels, k, seed=seed + 1), run.test.labels,
                    n_classes=k, epochs=run.epochs, config=run.config)


def collapsed_run(run: Run, label: int = 0) -> Run:
    """``run`` with every network giving every example one label after epoch 0."""
    return make_run(collapsed_predictions(run.train.pred, label), run.train.labels,
                    collapsed_predictions(run.test.pred, label), run.test.labels, n_classes=run.n_classes,
                    epochs=run.epochs, config=run.config)
