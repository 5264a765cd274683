"""The difficulty atlas: every per-example difficulty score of one split of one run, side by side in
one table, how far the scores agree (a Spearman matrix with bootstrap intervals), and where they
disagree (pairs and examples chosen by rule). Pure functions: NumPy and pandas in and out.

:data:`SCORES` is the atlas's data dictionary: for each column of the table, its definition, the
paper it comes from, its range and its orientation (``easy`` = +1 where a high value marks an easy
example, -1 where it marks a hard one, 0 where it is neither). N members, E recorded epochs,
M examples, K classes; invalid input raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..engine.checks import check_choice, check_float, check_int
from ..engine.store import SplitRecord
from . import scores


@dataclass(frozen=True)
class Score:
    """One column of the atlas: what it measures, where it comes from, its range and orientation."""

    label: str        # axis label
    definition: str
    source: str       # the paper (or this book's part) that defines it
    range: str
    easy: int         # +1: high = easy; -1: high = hard; 0: neither (ambiguity)


#: The atlas's scores, in display order (the data dictionary of the exported table).
SCORES: dict[str, Score] = {
    "consistency": Score(
        "consistency (last epoch)", "fraction of the base ensemble's networks that classify the example correctly "
        "at the last recorded epoch", "Hacohen, Choshen & Weinshall 2019 (Part I)", "[0, 1], steps of 1/N", +1),
    "learning_speed": Score(
        "learning speed", "mean consistency over the training epochs (recorded epochs >= 1, each weighted by the "
        "epochs it stands for; equalnets.analysis.scores.speed)", "Hacohen, Choshen & Weinshall 2019 (Part I)",
        "[0, 1]", +1),
    "forgetting_events": Score(
        "forgetting events (per network)", "mean over the networks of the number of steps from right at one recorded training "
        "epoch to wrong at the next", "Toneva et al. 2019", "[0, E/2] (E recorded training epochs)", -1),
    "epoch_learned": Score(
        "epoch learnt for good (epoch)", "mean over the networks of the first recorded training epoch from which the "
        "network is right at every later one (last epoch + 1 for a network wrong at the end)",
        "Toneva et al. 2019 ('iteration learned')", "[1, last epoch + 1]", -1),
    "aum": Score(
        "AUM (logits)", "area under the margin: the margin (logit of the label minus the largest other logit) averaged "
        "over the networks and the recorded training epochs", "Pleiss et al. 2020", "real, logits", +1),
    "confidence": Score(
        "data-map confidence", "probability of the label, averaged over the networks and the recorded training "
        "epochs", "Swayamdipta et al. 2020", "[0, 1]", +1),
    "variability": Score(
        "data-map variability", "standard deviation (ddof 0) over the recorded training epochs of the probability "
        "of the label, averaged over the networks (high: ambiguous)", "Swayamdipta et al. 2020", "[0, 0.5]", 0),
    "el2n_early": Score(
        "EL2N (early epoch)", "norm of softmax minus one-hot label, averaged over the networks at one early "
        "epoch (the chapter's el2n_epoch)", "Paul et al. 2021", "[0, sqrt(2)]", -1),
    "prediction_depth": Score(
        "prediction depth (layers)", "the first layer from which every k-NN probe agrees with the network's prediction, "
        "averaged over the probed networks (Part IV)", "Baldock, Maennel & Neyshabur 2021", "[0, L + 1] layers", -1),
    "c_score": Score(
        "C-score (holdout)", "accuracy on the example of networks that did not train on it (ensembles on random "
        "subsets of the training split), averaged over the subset ratios", "Jiang et al. 2021", "[0, 1]", +1),
    "label_quality": Score(
        "cleanlab label quality", "cleanlab.rank.get_label_quality_scores of the label on the held-out networks' "
        "mean softmax (out-of-sample probabilities)", "Northcutt, Jiang & Chuang 2021 (cleanlab)", "[0, 1]", +1),
}

#: The columns of the exported table that are not scores, with their definitions.
ID_COLUMNS: dict[str, str] = {
    "dataset": "the data set's name in the book (e.g. fashion-tops)",
    "split": "train or test",
    "row": "the example's row in the run's split (0-based)",
    "source_index": "the example's index in the data set's original training or test file (0-based, file order)",
    "label": "the label the networks were trained and scored on (0-based class index)",
    "class_name": "the label's class name",
}

#: cleanlab's label-quality methods offered (cleanlab.rank.get_label_quality_scores).
CLEANLAB_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


def ratio_column(ratio: float) -> str:
    """The table's column of the holdout accuracy at one subset ratio, e.g. 0.5 → ``'c_score_r50'``."""
    check_float("ratio", ratio, low=0, high=1, low_open=True, high_open=True)
    return f"c_score_r{round(100 * ratio):02d}"


# --------------------------------------------------------------------------- the scores of one split

def held_out_probabilities(probs: np.ndarray, trained: np.ndarray) -> np.ndarray:
    """Out-of-sample predicted probabilities: ``probs`` ``(H, M, K)`` the softmax of H networks,
    ``trained`` ``(H, M)`` bool whether network h trained on example m → ``(M, K)``, the mean over the
    networks that did not (``nan`` rows where every network did)."""
    probs, trained = np.asarray(probs, dtype=np.float64), np.asarray(trained)
    if probs.ndim != 3 or 0 in probs.shape:
        raise ValueError(f"probs must be a non-empty (H, M, K) array (networks, examples, classes), got {probs.shape}")
    if trained.shape != probs.shape[:2] or trained.dtype != bool:
        raise ValueError(f"trained must be a bool ({probs.shape[0]}, {probs.shape[1]}) array, got {trained.dtype} "
                         f"{trained.shape}")
    weight = (~trained).astype(np.float64)[:, :, None]
    count = weight.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (probs * weight).sum(axis=0) / np.maximum(count, 1), np.nan)


def label_quality(labels: np.ndarray, pred_probs: np.ndarray, method: str = "self_confidence") -> np.ndarray:
    """cleanlab's label-quality score of every example (``cleanlab.rank.get_label_quality_scores``;
    low: the label is likely wrong): ``labels`` ``(M,)``, ``pred_probs`` ``(M, K)`` out-of-sample
    probabilities → ``(M,)`` in [0, 1], ``nan`` where a row of ``pred_probs`` is ``nan``."""
    from cleanlab.rank import get_label_quality_scores  # a kept library, imported where it is used

    check_choice("method", method, CLEANLAB_METHODS)
    labels, probs = np.asarray(labels), np.asarray(pred_probs, dtype=np.float64)
    if probs.ndim != 2 or 0 in probs.shape:
        raise ValueError(f"pred_probs must be a non-empty (M, K) array, got {probs.shape}")
    if labels.shape != (probs.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be ({probs.shape[0]},) integers to match pred_probs, got {labels.dtype} "
                         f"{labels.shape}")
    if labels.min() < 0 or labels.max() >= probs.shape[1]:
        raise ValueError(f"labels must lie in [0, {probs.shape[1]}), got [{labels.min()}, {labels.max()}]")
    known = np.isfinite(probs).all(axis=1)
    out = np.full(len(labels), np.nan)
    if known.any():
        rows = probs[known] / probs[known].sum(axis=1, keepdims=True)
        out[known] = get_label_quality_scores(labels[known], rows, method=method)
    return out


def score_table(record: SplitRecord, epochs: np.ndarray, *, el2n_epoch: int, depth: np.ndarray,
                holdout: Mapping[float, np.ndarray], pred_probs: np.ndarray,
                cleanlab_method: str = "self_confidence") -> pd.DataFrame:
    """Every score of :data:`SCORES` for one split of a run: one row per example (M rows), one column per
    score, then one column per subset ratio of the holdout accuracy (:func:`ratio_column`).

    ``record`` the split's records ``(N, E, M)`` at ``epochs`` ``(E,)`` (epoch 0 = the untrained
    networks, left out of every training score); ``el2n_epoch`` a recorded epoch ≥ 1; ``depth`` ``(D,
    M)`` prediction depths of D probed networks; ``holdout`` ratio → ``(M,)`` holdout accuracy
    (:func:`~equalnets.analysis.scores.holdout_accuracy`); ``pred_probs`` ``(M, K)`` out-of-sample
    probabilities (:func:`held_out_probabilities`).
    """
    epochs = np.asarray(epochs)
    labels = np.asarray(record.labels)
    m = len(labels)
    if epochs.shape != (record.pred.shape[1],):
        raise ValueError(f"epochs must have one entry per recorded epoch ({record.pred.shape[1]}), got {epochs.shape}")
    trained = epochs >= 1
    if not trained.any():
        raise ValueError("epochs must include a training epoch (>= 1)")
    check_int("el2n_epoch", el2n_epoch, 1)
    if el2n_epoch not in set(epochs.tolist()):
        raise ValueError(f"el2n_epoch must be a recorded epoch of the run ({epochs.tolist()}), got {el2n_epoch}")
    depth = np.asarray(depth)
    if depth.ndim != 2 or depth.shape[1] != m or depth.shape[0] == 0:
        raise ValueError(f"depth must be a non-empty (D, {m}) array (probed networks, examples), got {depth.shape}")
    if not holdout:
        raise ValueError("holdout must hold the holdout accuracy at one subset ratio at least")
    for ratio, acc in holdout.items():
        if np.shape(acc) != (m,):
            raise ValueError(f"holdout[{ratio}] must have shape ({m},), got {np.shape(acc)}")
    correct = record.pred[:, trained] == labels
    confidence, variability = scores.data_map(record.p_label[:, trained])
    by_ratio = {ratio_column(r): np.asarray(acc, dtype=float) for r, acc in sorted(holdout.items())}
    stacked = np.stack(list(by_ratio.values()))
    finite = np.isfinite(stacked)  # the mean over the ratios at which some network held the example out
    c_score = np.where(finite.any(0), np.where(finite, stacked, 0).sum(0) / np.maximum(finite.sum(0), 1), np.nan)
    columns = {
        "consistency": scores.consistency(record.pred[:, -1], labels),
        "learning_speed": scores.speed(record.pred, labels, epochs),
        "forgetting_events": scores.forgetting_events(correct),
        "epoch_learned": scores.epoch_learned(correct, epochs[trained]),
        "aum": scores.aum(record.margin[:, trained]),
        "confidence": confidence,
        "variability": variability,
        "el2n_early": record.el2n[:, list(epochs).index(el2n_epoch)].astype(np.float64).mean(axis=0),
        "prediction_depth": depth.astype(np.float64).mean(axis=0),
        "c_score": c_score,
        "label_quality": label_quality(labels, pred_probs, cleanlab_method),
    }
    return pd.DataFrame({**columns, **by_ratio})


# --------------------------------------------------------------------------- agreement

@dataclass(frozen=True)
class SpearmanMatrix:
    """Spearman's ρ of every pair of scores over the ``n`` examples where all are defined, and a
    percentile bootstrap interval over examples: ``rho``, ``low``, ``high`` ``(S, S)``."""

    names: tuple[str, ...]
    rho: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: int
    confidence: float

    def frame(self) -> pd.DataFrame:
        """The matrix as text, 'ρ [low, high]' per cell (the diagonal is 1)."""
        cells = [[("1" if i == j else f"{self.rho[i, j]:+.2f} [{self.low[i, j]:+.2f}, {self.high[i, j]:+.2f}]")
                  for j in range(len(self.names))] for i in range(len(self.names))]
        return pd.DataFrame(cells, index=list(self.names), columns=list(self.names))

    def pair(self, a: str, b: str) -> tuple[float, float, float]:
        """(ρ, low, high) of scores ``a`` and ``b``."""
        i, j = self.names.index(a), self.names.index(b)
        return float(self.rho[i, j]), float(self.low[i, j]), float(self.high[i, j])


def _rank_correlation(values: np.ndarray) -> np.ndarray:
    """Spearman's ρ of the columns of ``values`` ``(M, S)``: Pearson's r of their ranks (``nan`` for a
    constant column)."""
    ranks = stats.rankdata(values, axis=0)
    ranks -= ranks.mean(axis=0)
    norm = np.sqrt((ranks ** 2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = ranks / np.where(norm > 0, norm, np.nan)
    return unit.T @ unit


def spearman_matrix(table: pd.DataFrame, names: Sequence[str] | None = None, *, n_boot: int = 1000,
                    confidence: float = 0.95, seed: int = 0) -> SpearmanMatrix:
    """Spearman's ρ of every pair of the columns ``names`` of ``table`` (default: those of
    :data:`SCORES` present) over the rows where all are finite, with a percentile bootstrap interval
    (``n_boot`` resamples of the rows, the same resample for every pair)."""
    names = [n for n in SCORES if n in table.columns] if names is None else list(names)
    missing = [n for n in names if n not in table.columns]
    if len(names) < 2 or missing:
        raise ValueError(f"names must be two or more columns of table, got {names} (missing: {missing})")
    check_int("n_boot", n_boot, 1)
    check_float("confidence", confidence, low=0, high=1, low_open=True, high_open=True)
    values = table[names].to_numpy(dtype=np.float64)
    values = values[np.isfinite(values).all(axis=1)]
    if len(values) < 3:
        raise ValueError(f"table must have at least 3 rows where every score in {names} is finite, got {len(values)}")
    rng = np.random.default_rng(seed)
    rho = _rank_correlation(values)
    boot = np.stack([_rank_correlation(values[rng.integers(0, len(values), len(values))]) for _ in range(n_boot)])
    tail = (1 - confidence) / 2
    with warnings.catch_warnings():  # a constant score has no ρ in any resample: its interval stays nan
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(boot, [tail, 1 - tail], axis=0)
    return SpearmanMatrix(tuple(names), rho, low, high, len(values), float(confidence))


def disagreeing_pairs(matrix: SpearmanMatrix, k: int = 3) -> list[tuple[str, str, float]]:
    """The ``k`` pairs of difficulty scores (orientation ±1 in :data:`SCORES`) that agree least about
    which examples are easy: ``(a, b, ρ')`` sorted by ρ' = ρ × easy(a) × easy(b) ascending (ρ' = 1:
    the same order of difficulty; ties by the names' order)."""
    check_int("k", k, 1)
    names = [n for n in matrix.names if SCORES.get(n, Score("", "", "", "", 0)).easy != 0]
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            rho = matrix.pair(a, b)[0] * SCORES[a].easy * SCORES[b].easy
            if np.isfinite(rho):
                pairs.append((a, b, float(rho)))
    return sorted(pairs, key=lambda p: p[2])[:k]


# --------------------------------------------------------------------------- examples chosen by rule

def easiness(values: np.ndarray, easy: int) -> np.ndarray:
    """Each example's easiness percentile in (0, 1] by one score: the average rank of ``values`` ``(M,)``
    oriented by ``easy`` (+1 or -1), divided by the number of finite values; ``nan`` stays ``nan``."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must be a non-empty (M,) array, got {values.shape}")
    if easy not in (1, -1):
        raise ValueError(f"easy must be +1 (high = easy) or -1 (high = hard), got {easy!r}")
    out = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    out[finite] = stats.rankdata(easy * values[finite]) / max(int(finite.sum()), 1)
    return out


def extreme_rows(values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The rule for the images at both ends of a score: the ``n`` rows with the lowest and the ``n`` with
    the highest finite ``values`` ``(M,)``, each ordered from the extreme inwards; ties by row index."""
    values = np.asarray(values, dtype=np.float64)
    check_int("n", n, 1)
    if values.ndim != 1:
        raise ValueError(f"values must be an (M,) array, got {values.shape}")
    rows = np.flatnonzero(np.isfinite(values))
    low = rows[np.lexsort((rows, values[rows]))][:n]
    high = rows[np.lexsort((rows, -values[rows]))][:n]
    return low, high


def disagreement_rows(a: np.ndarray, b: np.ndarray, easy_a: int, easy_b: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The rule for the images where two scores disagree most: the ``n`` rows that score ``a`` ranks
    easiest relative to score ``b`` (largest easiness percentile of a minus that of b, :func:`easiness`),
    and the ``n`` that b ranks easiest relative to a; ties by row index."""
    ea, eb = easiness(a, easy_a), easiness(b, easy_b)
    if ea.shape != eb.shape:
        raise ValueError(f"a and b must have the same shape, got {ea.shape} and {eb.shape}")
    gap = ea - eb
    return extreme_rows(gap, n)[1], extreme_rows(-gap, n)[1]


# --------------------------------------------------------------------------- statistics of the claims

@dataclass(frozen=True)
class GroupRate:
    """The mean of a score in a group of ``n`` examples (``inside``), among the rest (``outside``), and
    the ``q``-quantile of the mean in random groups of the same size (``null``)."""

    inside: float
    outside: float
    null: float
    n: int


def group_rate(values: np.ndarray, group: np.ndarray, *, q: float = 0.01, n_perm: int = 200, seed: int = 0) -> GroupRate:
    """The mean of ``values`` ``(M,)`` in the rows where ``group`` ``(M,)`` is True and in the others, and
    the ``q``-quantile of the mean of ``n_perm`` random groups of the same size (its permutation null)."""
    values, group = np.asarray(values, dtype=np.float64), np.asarray(group)
    if values.ndim != 1 or group.shape != values.shape or group.dtype != bool:
        raise ValueError(f"group must be a bool array of values' shape {values.shape}, got {group.dtype} {group.shape}")
    check_float("q", q, low=0, high=1)
    check_int("n_perm", n_perm, 1)
    n = int(group.sum())
    if n == 0 or n == len(values):
        return GroupRate(float("nan"), float("nan"), float("nan"), n)
    rng = np.random.default_rng(seed)
    null = [values[rng.permutation(len(values))[:n]].mean() for _ in range(n_perm)]
    return GroupRate(float(values[group].mean()), float(values[~group].mean()), float(np.quantile(null, q)), n)


def separation(values: np.ndarray, flagged: np.ndarray, *, n_perm: int = 200, seed: int = 0) -> tuple[float, float]:
    """How well ``values`` ``(M,)`` put the ``flagged`` rows above the others: the area under the ROC
    curve (the probability that a flagged row has the higher value, ties counting a half), and the
    99th percentile of the same area when the flags are permuted among the rows."""
    values, flagged = np.asarray(values, dtype=np.float64), np.asarray(flagged)
    if values.ndim != 1 or flagged.shape != values.shape or flagged.dtype != bool:
        raise ValueError(f"flagged must be a bool array of values' shape {values.shape}, got {flagged.dtype} "
                         f"{flagged.shape}")
    check_int("n_perm", n_perm, 1)
    n1 = int(flagged.sum())
    n0 = len(values) - n1
    if n1 == 0 or n0 == 0:
        raise ValueError("flagged must hold both flagged and unflagged rows")
    ranks = stats.rankdata(values)

    def auc(flags: np.ndarray) -> float:
        return float((ranks[flags].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))  # Mann-Whitney U / (n1 n0)

    rng = np.random.default_rng(seed)
    null = [auc(flagged[rng.permutation(len(flagged))]) for _ in range(n_perm)]
    return auc(flagged), float(np.quantile(null, 0.99))
