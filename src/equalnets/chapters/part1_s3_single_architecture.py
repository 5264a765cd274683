"""§3 Diversity in a single architecture: the phases of consistency in one ensemble, its consensus,
and the claims of the paper's §3 (Fig. 1-3) against the run.

The chapter needs one run, the base ensemble (:meth:`Parameters.base_config`), which the §3
robustness, §4, §5, §6 and supplement chapters read too. :func:`analyse` computes every number its
figures show; :func:`claims` decides the verdicts from a :class:`~equalnets.engine.store.Run` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..analysis import phases, scores
from ..analysis.claims import ClaimsTable
from ..engine.config import RunConfig
from ..engine.store import SPLITS, Run
from .base import EnsembleParameters

TITLE = "§3 single architecture"


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
    labels per split; ``chosen`` phase → recorded-epoch index (found on the training split);
    ``pearson`` ``(E,)``; ``bimodal_index`` the most bi-modal epoch (the last if none);
    ``null`` ``(M,)`` consistency of the independent-errors null at that epoch; ``pooled``
    Pearson's measure of every recorded epoch ≥ 1 pooled.
    """

    epochs: np.ndarray
    accuracy: dict[str, np.ndarray]
    consistency: dict[str, np.ndarray]
    consensus: dict[str, np.ndarray]
    phases: dict[str, phases.Phases]
    chosen: dict[str, int]
    pearson: dict[str, np.ndarray]
    bimodal_index: int
    null: dict[str, np.ndarray]
    pooled: dict[str, float]


def analyse(run: Run, *, seed: int = 0) -> Analysis:
    """Every number of the chapter from the run; ``seed`` draws the independent-errors null."""
    cons = {s: scores.consistency(run.split(s).pred, run.split(s).labels) for s in SPLITS}
    found = {s: phases.find_phases(cons[s], run.epochs) for s in SPLITS}
    chosen = found["train"].chosen()
    k = chosen.get("bi-modality", len(run.epochs) - 1)
    null = {s: scores.consistency(scores.independent_errors(run.split(s).pred[:, k], run.split(s).labels, seed=seed),
                                  run.split(s).labels) for s in SPLITS}
    return Analysis(epochs=run.epochs, accuracy={s: run.split(s).accuracy() for s in SPLITS}, consistency=cons,
                    consensus={s: scores.consensus(run.split(s).pred, run.n_classes) for s in SPLITS}, phases=found,
                    chosen=chosen, pearson={s: np.array(found[s].pearson) for s in SPLITS}, bimodal_index=k, null=null,
                    pooled={s: scores.bimodality(cons[s][1:].ravel()) for s in SPLITS})


def claims(run: Run, *, seed: int = 0) -> ClaimsTable:
    """The claims of the paper's §3 against ``run`` (any ensemble with recorded epoch 0)."""
    a = analyse(run, seed=seed)
    table = ClaimsTable()
    epochs, pearson, cons, agree = a.epochs, a.pearson, a.consistency, a.consensus
    K, tr, te, k = run.n_classes, a.phases["train"], a.phases["test"], a.bimodal_index
    c0 = cons["train"][0]
    null0 = scores.bimodality(scores.consistency(scores.independent_errors(run.train.pred[:, 0], run.train.labels,
                                                                           seed=seed), run.train.labels))
    table.check("Initialisation: consistency is a bell around chance", "Gaussian around chance (Fig. 1a)",
                f"mean {c0.mean():.2f} (chance {1 / K:.2f}), Pearson {pearson['train'][0]:.2f} "
                f"(independent networks: {null0:.2f}, a Gaussian: 2)",
                "reproduced: |mean - 1/K| <= 0.05 and Pearson >= 0.75 x that of independent networks; "
                "partly: mean near chance and not bi-modal (Pearson >= 0.7)",
                abs(c0.mean() - 1 / K) <= 0.05 and pearson["train"][0] >= 0.75 * null0,
                partly=abs(c0.mean() - 1 / K) <= 0.05 and pearson["train"][0] >= phases.BIMODAL_BELOW)
    b = tr.beginning
    table.check("Beginning of learning: a short phase with most mass at 0", "0-10 epochs (Fig. 1b)",
                "not seen" if b is None else
                f"epochs {[int(e) for e, lab in zip(epochs, tr.labels) if lab == 'beginning of learning']}",
                "seen, and its first epoch <= 10", b is not None and epochs[b] <= 10, partly=b is not None)
    counts = {p: tr.count(p) for p in phases.PHASES[1:]}
    longest = max(counts, key=counts.get)
    table.check("Bi-modality is the longest phase (train)", "most epochs (Fig. 1c, 2)",
                ", ".join(f"{p}: {n}" for p, n in counts.items() if n), "bi-modality has the most recorded epochs",
                longest == "bi-modality", partly=counts["bi-modality"] > 0)
    table.check("The test set goes through the same bi-modal phase", "yes (Fig. 1, bottom)",
                f"bi-modal test epochs: {te.count('bi-modality')} of {len(epochs) - 1}",
                "bi-modal epochs on both splits; partly if only on one",
                tr.count("bi-modality") > 0 and te.count("bi-modality") > 0,
                partly=tr.count("bi-modality") > 0 or te.count("bi-modality") > 0)
    null_test = scores.bimodality(a.null["test"])
    table.check("More bi-modal than independent errors would give", "Gaussian expected if independent (§3)",
                f"Pearson test {pearson['test'][k]:.2f} vs null {null_test:.2f} at epoch {epochs[k]}",
                "measure of the ensemble < half that of the independent-errors null (test)",
                pearson["test"][k] < 0.5 * null_test, partly=pearson["test"][k] < null_test)
    pooled = a.pooled
    table.check("Bi-modal over the whole of training (pooled epochs)", "Pearson 0.22 (st-VGG, §4.2)",
                f"train {pooled['train']:.2f}, test {pooled['test']:.2f}",
                "pooled measure < 0.7 (the phase rule) on both splits",
                max(pooled.values()) < phases.BIMODAL_BELOW, partly=min(pooled.values()) < phases.BIMODAL_BELOW)
    rho = stats.spearmanr(epochs, agree["test"].mean(1)).statistic
    table.check("Mean consensus increases with training", "increases (Fig. 3)",
                f"Spearman rho(epoch, mean test consensus) = {rho:.2f}", "rho >= 0.5", rho >= 0.5, partly=rho > 0)
    wrong = cons["test"][-1] < 0.5
    agree_wrong = agree["test"][-1][wrong].mean() if wrong.any() else float("nan")
    null_agree = (scores.consensus(scores.independent_errors(run.test.pred[:, -1], run.test.labels, seed=seed), K)[wrong]
                  .mean() if wrong.any() else float("nan"))
    table.check("Networks agree on their mistakes", "consensus near 1 even when wrong (Fig. 3)",
                f"mean consensus {agree_wrong:.2f} on test images most networks get wrong (null {null_agree:.2f})",
                "above the independent-errors null by >= 0.1 at the last epoch", agree_wrong >= null_agree + 0.1,
                partly=agree_wrong > null_agree)
    end_te = te.end is not None
    table.check("End of learning only on easy sets: not on the test set", "train may reach it; test does not",
                f"train: {'epoch ' + str(epochs[tr.end]) if tr.end is not None else 'not reached'}; "
                f"test: {'reached' if end_te else 'not reached'}",
                "test never reaches >= 95 % of examples at consistency 1", not end_te)
    return table
