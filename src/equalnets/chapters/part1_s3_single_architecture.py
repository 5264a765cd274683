"""§3 Diversity in a single architecture: the phases of consistency in one ensemble, its consensus,
and the claims of the paper's §3 (Fig. 1-3) against the run.

The chapter needs one run, the base ensemble (:meth:`Parameters.base_config`), which the §3
robustness, §4, §5, §6 and supplement chapters read too. :func:`analyse` computes every number its
figures show; :func:`claims` decides the verdicts from a :class:`~equalnets.engine.store.Run` alone.

Every rule compares the ensemble with a reference computed from the same run: mostly the
*independent-errors null* (``scores.independent_errors``: each network's predictions shuffled among
the images of the same class, so that every network keeps its accuracy and confusions at every
epoch but errs independently of the others). Epochs at which the networks give most images one
label (``phases.collapsed_epochs``) are a phase of their own and never count for or against
bi-modality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..analysis import phases, scores, trajectories
from ..analysis.claims import ClaimsTable
from ..engine.config import RunConfig
from ..engine.store import SPLITS, Run
from .base import EnsembleParameters

TITLE = "§3 single architecture"

#: Draws of the independent-errors null behind the 'more bi-modal than independent errors' rule.
NULL_DRAWS = 20
#: The beginning of learning lasts at most this many epochs from its first one (the paper: 0-10).
BEGINNING_WITHIN = 10
#: An exponential tail describes a histogram when the geometric law of its mean is within this
#: total-variation distance of it.
TAIL_TV = 0.15
#: An easy set: a split whose final mean accuracy reaches this (the end of learning needs 95 % of the
#: examples at consistency 1).
EASY_ACCURACY = phases.END_FRACTION


@dataclass(frozen=True)
class Parameters(EnsembleParameters):
    """The base ensemble's parameters (see :class:`~equalnets.chapters.base.EnsembleParameters`)."""


def runs(params: Parameters) -> dict[str, RunConfig]:
    """The runs this chapter asks the store for: the base ensemble."""
    return {"base": params.base_config()}


@dataclass(frozen=True)
class Analysis:
    """What the figures and the claims are computed from; per split (``'train'``, ``'test'``).

    ``accuracy`` ``(N, E)``; ``consistency`` and ``consensus`` ``(E, M)``; ``phases`` the rule's
    labels per split (collapsed epochs labelled as such, ``phases.split_phases``); ``collapsed``
    ``(E,)`` bool; ``chosen`` phase → recorded-epoch index (found on the training split; a collapsed
    epoch, if any, is shown as its own phase); ``pearson`` ``(E,)``; ``kept`` ``(E,)`` bool, the
    trained epochs that are not collapsed on either split; ``bimodal_index`` the most bi-modal
    epoch (the rule's representative, else the kept epoch of lowest measure, else the last);
    ``null_pred`` ``(N, E, M)`` the independent-errors null; ``null``, ``null_consensus`` and
    ``null_pearson`` its consistency, consensus and measure; ``null_phases`` its phases;
    ``pooled`` / ``null_pooled`` Pearson's measure of the kept epochs pooled.
    """

    epochs: np.ndarray
    n_models: int
    accuracy: dict[str, np.ndarray]
    consistency: dict[str, np.ndarray]
    consensus: dict[str, np.ndarray]
    phases: dict[str, phases.Phases]
    collapsed: dict[str, np.ndarray]
    chosen: dict[str, int]
    pearson: dict[str, np.ndarray]
    kept: np.ndarray
    bimodal_index: int
    null_pred: dict[str, np.ndarray]
    null: dict[str, np.ndarray]
    null_consensus: dict[str, np.ndarray]
    null_pearson: dict[str, np.ndarray]
    null_phases: dict[str, phases.Phases]
    pooled: dict[str, float]
    null_pooled: dict[str, float]

    @property
    def beginning(self) -> list[int]:
        """Recorded-epoch indices the rule calls the beginning of learning (training split)."""
        return [i for i, lab in enumerate(self.phases["train"].labels) if lab == "beginning of learning"]

    def shares(self, split: str, index: int, *, null: bool = False) -> np.ndarray:
        """``(N + 1,)`` share of the examples at each consistency value k/N at one recorded epoch."""
        c = (self.null if null else self.consistency)[split][index]
        return phases.value_shares(c, self.n_models)

    def transit(self, *, null: bool = False) -> np.ndarray:
        """``(M,)`` epochs each training example takes from consistency 0 to 1 over the kept epochs
        (``nan`` where it does not make that move): :func:`~equalnets.analysis.trajectories.transit_times`."""
        c = (self.null if null else self.consistency)["train"]
        if self.kept.sum() < 2:
            return np.full(c.shape[1], np.nan)
        return trajectories.transit_times(c[self.kept], self.epochs[self.kept])


def _pooled(c: np.ndarray, kept: np.ndarray) -> float:
    return scores.bimodality(c[kept].ravel()) if kept.any() else float("nan")


def analyse(run: Run, *, seed: int = 0) -> Analysis:
    """Every number of the chapter from the run; ``seed`` draws the independent-errors null."""
    K, epochs = run.n_classes, run.epochs
    pred = {s: run.split(s).pred for s in SPLITS}
    labels = {s: run.split(s).labels for s in SPLITS}
    cons = {s: scores.consistency(pred[s], labels[s]) for s in SPLITS}
    found = {s: phases.split_phases(pred[s], labels[s], epochs, K) for s in SPLITS}
    collapsed = {s: phases.collapsed_epochs(pred[s], K) for s in SPLITS}
    kept = (epochs >= 1) & ~collapsed["train"] & ~collapsed["test"]
    null_pred = {s: scores.independent_errors(pred[s], labels[s], seed=seed) for s in SPLITS}
    null = {s: scores.consistency(null_pred[s], labels[s]) for s in SPLITS}
    pearson = {s: np.array(found[s].pearson) for s in SPLITS}
    chosen = found["train"].chosen()
    if found["train"].count("collapsed"):
        chosen["collapsed"] = found["train"].labels.index("collapsed")
        chosen = dict(sorted(chosen.items(), key=lambda item: item[1]))
    if found["train"].bimodal is not None:
        k = found["train"].bimodal
    elif kept.any():
        candidates = np.flatnonzero(kept & np.isfinite(pearson["train"]))
        k = int(candidates[np.argmin(pearson["train"][candidates])]) if len(candidates) else len(epochs) - 1
    else:
        k = len(epochs) - 1
    return Analysis(epochs=epochs, n_models=run.n_models, accuracy={s: run.split(s).accuracy() for s in SPLITS},
                    consistency=cons, consensus={s: scores.consensus(pred[s], K) for s in SPLITS}, phases=found,
                    collapsed=collapsed, chosen=chosen, pearson=pearson, kept=kept, bimodal_index=k,
                    null_pred=null_pred, null=null,
                    null_consensus={s: scores.consensus(null_pred[s], K) for s in SPLITS},
                    null_pearson={s: np.array([scores.bimodality(row) for row in null[s]]) for s in SPLITS},
                    null_phases={s: phases.split_phases(null_pred[s], labels[s], epochs, K) for s in SPLITS},
                    pooled={s: _pooled(cons[s], kept) for s in SPLITS},
                    null_pooled={s: _pooled(null[s], kept) for s in SPLITS})


def phase_runs(epochs: np.ndarray, labels: tuple[str, ...]) -> str:
    """The trained epochs' phases as consecutive runs, e.g. ``'1-4 collapsed, 5-6 transition, 7-25
    bi-modality'``."""
    out: list[str] = []
    start = 1
    for i in range(1, len(labels)):
        if i == len(labels) - 1 or labels[i + 1] != labels[i]:
            span = f"{int(epochs[start])}" if start == i else f"{int(epochs[start])}-{int(epochs[i])}"
            out.append(f"{span} {labels[i]}")
            start = i + 1
    return ", ".join(out)


def _epochs(epochs: np.ndarray, idx: list[int] | np.ndarray) -> str:
    idx = list(np.asarray(idx, dtype=int))
    return "none" if not idx else ", ".join(str(int(epochs[i])) for i in idx)


def claims(run: Run, *, seed: int = 0) -> ClaimsTable:
    """The claims of the paper's §3 against ``run`` (any ensemble with recorded epoch 0); ``seed``
    draws the independent-errors null."""
    a = analyse(run, seed=seed)
    table = ClaimsTable()
    epochs, K, N = a.epochs, run.n_classes, run.n_models
    tr, te, kept = a.phases["train"], a.phases["test"], a.kept
    kept_idx = np.flatnonzero(kept)

    # --- initialisation: the shape of the distribution, not its mean (1/K is automatic with balanced classes)
    p0, null0 = a.pearson["train"][0], a.null_pearson["train"][0]
    share0 = phases.top_label_share(run.train.pred[:, 0], K).mean()
    near = bool(np.isfinite(p0) and abs(p0 - null0) <= 0.25 * null0)
    table.check("Initialisation: consistency is spread like independent networks' (a bell around chance)",
                "Gaussian around chance (Fig. 1a); Pearson's measure 2 for a Gaussian",
                f"Pearson {p0:.2f} at epoch 0 (mean consistency {a.consistency['train'][0].mean():.2f}, chance "
                f"{1 / K:.2f}; the networks give on average {share0:.0%} of the images their most frequent label"
                + ("; collapsed, so consistency marks the class)" if a.collapsed["train"][0] else ")"),
                "reproduced: Pearson's measure at epoch 0 (train) within ±25 % of the independent-errors null's and "
                f">= {phases.BIMODAL_BELOW} (far from a two-point law's 0); partly: >= {phases.BIMODAL_BELOW} only",
                near and p0 >= phases.BIMODAL_BELOW, partly=bool(p0 >= phases.BIMODAL_BELOW),
                reference=f"independent errors {null0:.2f}")

    # --- beginning of learning: a short phase with most examples at 0, more than independent networks put there
    begin = a.beginning
    b = begin[0] if begin else None
    short = b is not None and epochs[begin[-1]] - epochs[b] < BEGINNING_WITHIN and epochs[b] <= BEGINNING_WITHIN
    at0 = float(a.shares("train", b)[0]) if b is not None else float("nan")
    null_at0 = float(a.shares("train", b, null=True)[0]) if b is not None else float("nan")
    beyond = bool(1 - at0 <= 0.5 * (1 - null_at0))   # at most half as many examples off 0 as independent networks
    table.check("Beginning of learning: a short phase with most examples at consistency 0",
                "0-10 epochs, most examples at 0 (Fig. 1b)",
                (f"not seen (train epochs {phase_runs(epochs, tr.labels)})" if b is None else f"epochs {_epochs(epochs, begin)}; {at0:.2f} of the images at 0 at epoch {epochs[b]}"),
                f"seen by the phase rule (mode at 0, before any bi-modal epoch, not collapsed), starting by epoch "
                f"{BEGINNING_WITHIN} and lasting < {BEGINNING_WITHIN} epochs; at its first epoch at most half as many "
                "examples off consistency 0 as in the independent-errors null",
                bool(short and beyond),
                reference="not seen" if b is None else f"independent errors: {null_at0:.2f} at 0")

    # --- ... with an exponentially decreasing tail
    if b is not None:
        h = a.shares("train", b)
        geo = phases.geometric_shares(float(h @ np.arange(N + 1)), N)
        tv_geo, tv_null = phases.total_variation(h, geo), phases.total_variation(h, a.shares("train", b, null=True))
    else:
        tv_geo = tv_null = float("nan")
    table.check("Beginning of learning: the histogram decays exponentially from 0",
                "an exponentially decreasing tail (Fig. 1b)",
                "no beginning-of-learning epoch" if b is None else
                f"epoch {epochs[b]}: distance to the exponential (geometric) law of its mean {tv_geo:.2f}",
                f"at the first beginning-of-learning epoch (train) the geometric law of the same mean is within total "
                f"variation {TAIL_TV} of the histogram and closer to it than the independent-errors null's histogram",
                bool(tv_geo <= TAIL_TV and tv_geo < tv_null),
                reference="no epoch to test" if b is None else f"independent errors: distance {tv_null:.2f}")

    # --- bi-modality: the longest phase, beyond what independent networks show
    labels_tr = [lab for lab in tr.labels[1:]]
    counts = {p: labels_tr.count(p) for p in phases.PHASES[1:] if labels_tr.count(p)}
    n_bi, null_bi = tr.count("bi-modality"), a.null_phases["train"].count("bi-modality")
    longest = bool(n_bi and n_bi == max(counts.values()) and list(counts.values()).count(n_bi) == 1)
    table.check("Bi-modality is the longest phase (train)", "most epochs (Fig. 1c, 2)",
                ", ".join(f"{p}: {n}" for p, n in counts.items()) + f" of {len(epochs) - 1} trained epochs",
                "reproduced: bi-modality has strictly the most trained epochs (collapsed epochs are their own label) "
                "and more than the independent-errors null; partly: more than the null only",
                longest and n_bi > null_bi, partly=n_bi > null_bi,
                reference=f"independent errors: {null_bi} bi-modal epochs")

    n_bi_te, null_bi_te = te.count("bi-modality"), a.null_phases["test"].count("bi-modality")
    train_ok, test_ok = n_bi > null_bi, n_bi_te > null_bi_te
    table.check("The test set goes through the same bi-modal phase", "yes (Fig. 1, bottom)",
                f"bi-modal epochs: train {n_bi}, test {n_bi_te} of {len(epochs) - 1}",
                "reproduced: more bi-modal epochs than the independent-errors null on both splits; partly: on one",
                train_ok and test_ok, partly=train_ok or test_ok,
                reference=f"independent errors: train {null_bi}, test {null_bi_te}")

    # --- more bi-modal than independent errors would give, at the most bi-modal epoch (test)
    k = a.bimodal_index
    if kept[k]:
        draws = np.array([scores.bimodality(scores.consistency(
            scores.independent_errors(run.test.pred[:, k], run.test.labels, seed=seed + 1 + d), run.test.labels))
            for d in range(NULL_DRAWS)])
        ours_k, null_mean, null_min = a.pearson["test"][k], float(np.nanmean(draws)), float(np.nanmin(draws))
    else:
        ours_k = null_mean = null_min = float("nan")
    table.check("More bi-modal than independent errors would give", "a Gaussian if the networks erred independently (§3)",
                "every trained epoch collapsed" if not kept[k] else
                f"Pearson {ours_k:.2f} on the test set at epoch {epochs[k]} (the most bi-modal training epoch)",
                f"reproduced: below half the mean of {NULL_DRAWS} independent-errors draws at that epoch (not collapsed); "
                f"partly: below every draw",
                bool(ours_k < 0.5 * null_mean), partly=bool(ours_k < null_min),
                reference="none" if not kept[k] else f"independent errors: mean {null_mean:.2f}, lowest {null_min:.2f}")

    pooled, null_pooled = a.pooled, a.null_pooled
    halves = [pooled[s] < 0.5 * null_pooled[s] for s in SPLITS]
    table.check("Bi-modal over the whole of training (pooled epochs)", "Pearson 0.22 (st-VGG, §4.2)",
                f"train {pooled['train']:.2f}, test {pooled['test']:.2f} (the {int(kept.sum())} trained epochs not collapsed)",
                "reproduced: the pooled measure below half the independent-errors null's on both splits; partly: on one",
                all(halves), partly=any(halves),
                reference=f"independent errors: train {null_pooled['train']:.2f}, test {null_pooled['test']:.2f}")

    # --- consensus rises with training, and beyond what the accuracy alone gives
    mean_agree = a.consensus["test"].mean(1)
    null_agree = a.null_consensus["test"].mean(1)
    if len(kept_idx) >= 2:
        rho = float(stats.spearmanr(epochs[kept_idx], mean_agree[kept_idx]).statistic)
        excess = float((mean_agree - null_agree)[kept_idx].mean())
    else:
        rho = excess = float("nan")
    table.check("Mean consensus increases with training, beyond independent networks'", "increases (Fig. 3)",
                f"Spearman rho(epoch, mean test consensus) = {rho:.2f}; mean consensus above the null's by {excess:.2f} "
                "on average",
                "over the trained epochs not collapsed (test): reproduced: rho >= 0.5 and the mean consensus exceeds the "
                "independent-errors null's by >= 0.05 on average; partly: the excess only",
                bool(rho >= 0.5 and excess >= 0.05), partly=bool(excess >= 0.05),
                reference=f"independent errors: mean consensus {null_agree[kept_idx].mean():.2f}" if len(kept_idx)
                else "no epoch to test")

    last = int(kept_idx[-1]) if len(kept_idx) else len(epochs) - 1
    wrong = a.consistency["test"][last] < 0.5
    if not wrong.any() or not len(kept_idx):
        wrong[:] = False
    agree_wrong = float(a.consensus["test"][last][wrong].mean()) if wrong.any() else float("nan")
    null_wrong = float(a.null_consensus["test"][last][wrong].mean()) if wrong.any() else float("nan")
    table.check("Networks agree on their mistakes", "consensus near 1 even when wrong (Fig. 3)",
                "every trained epoch collapsed" if not len(kept_idx) else
                f"mean consensus {agree_wrong:.2f} on the {int(wrong.sum())} test images most networks get wrong "
                f"(epoch {epochs[last]})",
                "at the last epoch not collapsed: reproduced: >= the independent-errors null's + 0.1; partly: + 0.05",
                bool(agree_wrong >= null_wrong + 0.1), partly=bool(agree_wrong >= null_wrong + 0.05),
                reference=f"independent errors: {null_wrong:.2f}")

    # --- examples move from 0 to 1 rapidly
    transit, null_transit = a.transit(), a.transit(null=True)
    moved = float(np.isfinite(transit).mean())
    fast = float(np.nanmedian(transit)) if np.isfinite(transit).any() else float("nan")
    null_fast = float(np.nanmedian(null_transit)) if np.isfinite(null_transit).any() else float("inf")
    table.check("Examples move from consistency 0 to 1 rapidly", "quite rapidly (§3, phase iii)",
                f"{moved:.2f} of the training images go from 0 to 1; median {fast:.1f} epochs from the last epoch at 0 "
                "to the first at 1",
                "over the trained epochs not collapsed (train): at least 5 % of the images make the move, with a median "
                "time at most half the independent-errors null's (a null with no such move counts as infinitely slow)",
                bool(moved >= 0.05 and fast <= 0.5 * null_fast),
                reference=f"independent errors: {float(np.isfinite(null_transit).mean()):.2f} move, median "
                          f"{null_fast:.1f} epochs")

    # --- end of learning: only on easy sets, where the networks then agree on (almost) everything
    final = {s: float(a.accuracy[s][:, -1].mean()) for s in SPLITS}
    easy = [s for s in SPLITS if final[s] >= EASY_ACCURACY]
    ends = {s: float((a.consistency[s][-1] == 1).mean()) for s in SPLITS}
    null_ends = {s: float((a.null[s][-1] == 1).mean()) for s in SPLITS}
    table.check("End of learning: on an easy set every example reaches consistency 1",
                "only on easy sets: almost 100 % accuracy, uni-modal at 1 (Fig. 1d)",
                f"final accuracy train {final['train']:.2f}, test {final['test']:.2f}; at consistency 1: train "
                f"{ends['train']:.2f}, test {ends['test']:.2f}"
                + ("" if easy else f" (no split reaches accuracy {EASY_ACCURACY}: the phase cannot appear at this scale)"),
                f"every split whose final mean accuracy is >= {EASY_ACCURACY} (an easy set) has >= "
                f"{phases.END_FRACTION:.0%} of its examples at consistency 1 at the last epoch; not reproduced when no "
                "split is that easy",
                bool(easy) and all(ends[s] >= phases.END_FRACTION for s in easy),
                reference=f"independent errors at consistency 1: train {null_ends['train']:.2f}, test {null_ends['test']:.2f}")
    return table
