"""§6 When bi-modality breaks: ensembles trained on random labels, and on the hard data set (the
easiest rows of the training set removed again and again), against the base ensemble and a random
share of the training set.

The hard set starts from the base ensemble's learning speed and is re-scored every
``rescore_every`` iterations by new ensembles trained, through the run store, on the rows still
kept (:func:`ensemble_rescorer`); ``equalnets.analysis.subsets.iterative_hard_subset`` does the
iterating. Both experiments meet ensembles that give (almost) every image one label, early in
training or on an unbalanced subset; consistency then marks an image's class, not its difficulty,
and looks bi-modal for that reason alone. Such *collapsed* epochs
(``equalnets.analysis.phases.collapsed_epochs``) are left out of the verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from ..analysis import phases, scores
from ..analysis.claims import ClaimsTable
from ..analysis.subsets import HardSet, Rescore, by_difficulty, class_shares, iterative_hard_subset
from ..engine.checks import check_choice, check_float, check_int, check_record_epochs
from ..engine.config import OPTIMIZERS, RunConfig
from ..engine.store import SPLITS, Run
from .base import ChapterParameters, EnsembleParameters

TITLE = "§6 when bi-modality breaks"
#: The two ensembles trained on part of the training set: the hard set and its random control.
HARD, RANDOM = "hard 20 %", "random 20 %"


@dataclass(frozen=True)
class Parameters(EnsembleParameters):
    """The base ensemble's parameters (read from the store, never retrained here), the random-label
    ensemble's, the hard set's and those of the ensembles trained on part of the training set."""

    random_train_per_class: int | None = 100
    random_test_per_class: int | None = 100
    random_width: float = 0.25
    random_models: int = 10
    random_epochs: int = 40
    random_record_epochs: tuple[int, ...] | None = (0, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 36, 40)
    random_optimizer: str = "adam"
    random_lr: float = 0.001
    random_momentum: float = 0.0
    random_lr_decay_every: int = 0
    random_batch_size: int = 25
    hard_step: float = 0.02
    hard_keep: float = 0.2
    rescore_every: int = 20
    rescore_models: int = 4
    rescore_epochs: int = 15
    rescore_record_epochs: tuple[int, ...] | None = (0, 3, 6, 9, 12, 15)
    subset_models: int = 6
    subset_epochs: int = 25
    subset_batch_size: int = 25
    subset_record_epochs: tuple[int, ...] | None = (0, 1, 2, 3, 4, 6, 8, 10, 13, 16, 20, 25)

    def check(self) -> None:
        for name in ("random_train_per_class", "random_test_per_class"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1, why=" or None (as the base)")
        check_float("random_width", self.random_width, low=0, low_open=True)
        for kind in ("random", "rescore", "subset"):
            check_int(f"{kind}_models", getattr(self, f"{kind}_models"), 2, why=" (consistency compares networks)")
            check_int(f"{kind}_epochs", getattr(self, f"{kind}_epochs"), 1)
            self.set(f"{kind}_record_epochs", check_record_epochs(
                f"{kind}_record_epochs", getattr(self, f"{kind}_record_epochs"), getattr(self, f"{kind}_epochs"),
                epochs_name=f"{kind}_epochs"))
        check_choice("random_optimizer", self.random_optimizer, OPTIMIZERS)
        check_float("random_lr", self.random_lr, low=0, low_open=True)
        check_float("random_momentum", self.random_momentum, low=0)
        check_int("random_lr_decay_every", self.random_lr_decay_every, 0, why=" (0: constant)")
        check_int("random_batch_size", self.random_batch_size, 1)
        check_int("subset_batch_size", self.subset_batch_size, 1)
        for name in ("hard_step", "hard_keep"):
            check_float(name, getattr(self, name), low=0, high=1, low_open=True, high_open=True)
        check_int("rescore_every", self.rescore_every, 0, why=" (0: never re-score)")
        runs(self)  # every config built now: a bad one stops here
        rescoring_config(self)
        subset_template(self)


def runs(params: Parameters) -> dict[str, RunConfig]:
    """The runs known before anything is trained: ``'base'`` (loaded) and ``'random labels'``
    (dropout removed, as in the paper's Supp. A). The ensembles trained on part of the training set
    depend on the base run: :func:`hard_set` (the re-scoring ones) and :func:`subset_runs`."""
    base = params.base_config()
    return {"base": base, "random labels": base.replace(
        labels="random", dropout=False,
        train_per_class=params.random_train_per_class if params.random_train_per_class is not None
        else params.train_per_class,
        test_per_class=params.random_test_per_class if params.random_test_per_class is not None
        else params.test_per_class,
        width=params.random_width, n_models=params.random_models, epochs=params.random_epochs,
        record_epochs=params.random_record_epochs, optimizer=params.random_optimizer, lr=params.random_lr,
        momentum=params.random_momentum, lr_decay_every=params.random_lr_decay_every,
        batch_size=params.random_batch_size)}


def rescoring_config(params: Parameters) -> RunConfig:
    """The base protocol with the re-scoring ensembles' N, epochs and batch; each is trained on the
    rows still kept (:func:`ensemble_rescorer`)."""
    return params.base_config().replace(n_models=params.rescore_models, epochs=params.rescore_epochs,
                                        record_epochs=params.rescore_record_epochs, batch_size=params.subset_batch_size)


def subset_template(params: Parameters) -> RunConfig:
    """The base protocol with the subset ensembles' N, epochs and batch; :func:`subset_runs` trains
    it on the hard set and on a random share of the same size."""
    return params.base_config().replace(n_models=params.subset_models, epochs=params.subset_epochs,
                                        record_epochs=params.subset_record_epochs, batch_size=params.subset_batch_size)


def ensemble_rescorer(config: RunConfig, params: ChapterParameters, *,
                      log: Callable[[str], None] | None = print) -> Rescore:
    """A ``rescore`` for ``subsets.iterative_hard_subset``: train ``config`` on the given rows (through
    the chapter's run store, so a rerun loads it) and return their learning speed, the consistency of
    each row averaged over the recorded epochs."""
    store = params.store()
    dataset = store.dataset_for(config)

    def rescore(rows: np.ndarray) -> np.ndarray:
        run = store.get_or_train(config.replace(train_subset=[int(r) for r in rows]), dataset=dataset,
                                 **params.train_options())
        cons = scores.consistency(run.train.pred, run.train.labels)[:, rows]   # (E, k): the rows trained on
        if log is not None:
            log(f"rescored {len(rows)} rows with N={run.n_models} networks trained on them "
                f"({run.path.name}): final accuracy on those rows {cons[-1].mean():.3f}")
        return scores.learning_speed(cons)

    return rescore


def difficulty(base: Run) -> np.ndarray:
    """``(M_train,)``: the base ensemble's learning speed on every training image (over every
    recorded epoch), the hard set's first score; higher = easier."""
    return scores.learning_speed(scores.consistency(base.train.pred, base.train.labels))


def hard_set(params: Parameters, base: Run, *, log: Callable[[str], None] | None = print) -> HardSet:
    """The hard data set: the easiest ``hard_step`` removed again and again until ``hard_keep``
    remains, starting from :func:`difficulty`, re-scored every ``rescore_every`` iterations by an
    ensemble of :func:`rescoring_config` trained on the kept rows."""
    rescore = ensemble_rescorer(rescoring_config(params), params, log=log)
    return iterative_hard_subset(difficulty(base), step=params.hard_step, keep=params.hard_keep, rescore=rescore,
                                 rescore_every=params.rescore_every, seed=params.seed)


def subset_runs(params: Parameters, base: Run, hard: HardSet) -> dict[str, tuple[np.ndarray, RunConfig]]:
    """:data:`HARD` and :data:`RANDOM`: the train rows of the hard set and of a random share of the
    training set of the same size, each with the :func:`subset_template` trained only on them."""
    random_rows = by_difficulty(difficulty(base), len(hard.rows) / len(base.train.labels), "random", seed=params.seed)
    template = subset_template(params)
    return {name: (rows, template.replace(train_subset=[int(r) for r in rows]))
            for name, rows in ((HARD, hard.rows), (RANDOM, random_rows))}


# --------------------------------------------------------------------------- analysis

@dataclass(frozen=True)
class EnsembleSummary:
    """One ensemble through Pearson's measure, collapsed epochs flagged.

    ``rows`` the number of train rows it trained on; ``consistency`` split → ``(E, M)``, on the
    train rows it trained on and the test set; ``accuracy`` split → ``(N, E)`` over the whole split;
    ``collapsed`` ``(E,)`` (on the test set); ``summary`` split → ``phases.BimodalitySummary``.
    """

    n_models: int
    epochs: np.ndarray
    rows: int
    consistency: dict[str, np.ndarray]
    accuracy: dict[str, np.ndarray]
    collapsed: np.ndarray
    summary: dict[str, phases.BimodalitySummary]

    @property
    def pearson(self) -> dict[str, np.ndarray]:
        """Split → ``(E,)`` Pearson's measure per recorded epoch."""
        return {s: x.pearson for s, x in self.summary.items()}

    def collapsed_trained(self) -> np.ndarray:
        """The recorded epochs >= 1 that are collapsed."""
        return self.epochs[self.collapsed & (self.epochs >= 1)]


def summarise(run: Run, rows: np.ndarray | None = None) -> EnsembleSummary:
    """:class:`EnsembleSummary` of ``run``, trained on the train ``rows`` (None: all of them)."""
    cons = {s: scores.consistency(run.split(s).pred, run.split(s).labels) for s in SPLITS}
    if rows is not None:
        cons["train"] = cons["train"][:, rows]
    collapsed = phases.collapsed_epochs(run.test.pred, run.n_classes)
    return EnsembleSummary(n_models=run.n_models, epochs=run.epochs, rows=cons["train"].shape[1], consistency=cons,
                           accuracy={s: run.split(s).accuracy() for s in SPLITS}, collapsed=collapsed,
                           summary={s: phases.bimodality_summary(c, run.epochs, collapsed) for s, c in cons.items()})


def middle_epoch(random: EnsembleSummary) -> int:
    """Recorded-epoch index (>= 1) whose mean training consistency is nearest the paper's 0.8."""
    after = np.flatnonzero(random.epochs >= 1)
    return int(after[np.argmin(np.abs(random.consistency["train"][after].mean(1) - 0.8))])


def random_label_epochs(random: EnsembleSummary) -> dict[str, int]:
    """Three epochs chosen by rule (recorded-epoch indices): the first recorded epoch >= 1, the
    :func:`middle_epoch` and the last; an epoch chosen twice (short runs) is shown once."""
    chosen = {"first epoch": int(np.flatnonzero(random.epochs >= 1)[0]),
              "mean train consistency ≈ 0.8": middle_epoch(random), "last epoch": len(random.epochs) - 1}
    return {k: v for i, (k, v) in enumerate(chosen.items()) if v not in list(chosen.values())[:i]}


def random_label_table(random: EnsembleSummary, chosen: Mapping[str, int]) -> pd.DataFrame:
    """Mean consistency and Pearson's measure of both splits at the ``chosen`` epochs."""
    cons, pearson = random.consistency, random.pearson
    return pd.DataFrame({"epoch": [int(random.epochs[i]) for i in chosen.values()],
                         "mean consistency (train)": [cons["train"][i].mean() for i in chosen.values()],
                         "Pearson (train)": [pearson["train"][i] for i in chosen.values()],
                         "mean consistency (test)": [cons["test"][i].mean() for i in chosen.values()],
                         "Pearson (test)": [pearson["test"][i] for i in chosen.values()],
                         "collapsed": [bool(random.collapsed[i]) for i in chosen.values()]},
                        index=pd.Index(list(chosen), name="epoch chosen as"))


def kept_path(hard: HardSet, score: np.ndarray, labels: np.ndarray,
              n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hard set's way down, after each of its iterations 0..I: the share of the training set
    kept ``(I + 1,)``, the mean ``score`` of the kept rows ``(I + 1,)`` and their class shares
    ``(I + 1, K)``."""
    kept = [hard.kept_after(i) for i in range(hard.iterations + 1)]
    return (np.array([len(k) for k in kept]) / hard.n_total, np.array([score[k].mean() for k in kept]),
            np.stack([class_shares(labels, k, n_classes) for k in kept]))


def one_shot_overlap(hard: HardSet, score: np.ndarray, *, seed: int = 0) -> float:
    """Share of the hard set that is also among the hardest rows of its size by ``score`` alone."""
    one_shot = by_difficulty(score, len(hard.rows) / len(score), "hardest", seed=seed)
    return len(np.intersect1d(hard.rows, one_shot)) / len(hard.rows)


def summary_table(ensembles: Mapping[str, EnsembleSummary]) -> pd.DataFrame:
    """One row per ensemble (named by what it trained on): its size, final accuracies, collapsed
    epochs, lowest Pearson's measure and bi-modal epochs per split, without and with the collapsed."""
    table = {"train rows": [e.rows for e in ensembles.values()], "N": [e.n_models for e in ensembles.values()],
             "epochs": [int(e.epochs[-1]) for e in ensembles.values()],
             "final test accuracy": [e.accuracy["test"][:, -1].mean() for e in ensembles.values()],
             "final train accuracy (own rows)": [e.consistency["train"][-1].mean() for e in ensembles.values()],
             "recorded epochs >= 1": [int(e.summary["train"].trained.sum()) for e in ensembles.values()],
             "collapsed": [e.summary["train"].n_collapsed for e in ensembles.values()]}
    for s in SPLITS:
        sums = [e.summary[s] for e in ensembles.values()]
        table[f"min Pearson, {s}"] = [x.min_pearson() for x in sums]
        table[f"min Pearson, {s} (all epochs)"] = [x.min_pearson(False) for x in sums]
        table[f"bi-modal epochs, {s}"] = [x.n_bimodal() for x in sums]
        table[f"bi-modal epochs, {s} (all epochs)"] = [x.n_bimodal(False) for x in sums]
    return pd.DataFrame(table, index=pd.Index(list(ensembles), name="trained on"))


def moments(arms: Mapping[str, EnsembleSummary]) -> dict[str, int]:
    """Recorded-epoch indices of the beginning (the first epoch >= 1 at which no ensemble of
    ``arms`` is collapsed, else the first >= 1) and the end of training."""
    epochs = next(iter(arms.values())).epochs
    usable = np.flatnonzero((epochs >= 1) & ~np.logical_or.reduce([a.collapsed for a in arms.values()]))
    return {"beginning": int(usable[0]) if len(usable) else int(np.flatnonzero(epochs >= 1)[0]),
            "end": len(epochs) - 1}


# --------------------------------------------------------------------------- claims

def claims(base: Run, random: Run, arms: Mapping[str, tuple[np.ndarray, Run]]) -> ClaimsTable:
    """The claims of the paper's §6 against the base run, the random-label run and the :data:`HARD`
    and :data:`RANDOM` subset runs (name → (train rows it trained on, run))."""
    b, rl = summarise(base), summarise(random)
    sub = {name: summarise(r, rows) for name, (rows, r) in arms.items()}
    K, rl_epochs, rl_sum, rl_cons, rl_pearson = base.n_classes, rl.epochs, rl.summary, rl.consistency, rl.pearson
    base_min = {s: b.summary[s].min_pearson() for s in SPLITS}
    base_acc = b.accuracy["test"][:, -1].mean()
    rl_mid = middle_epoch(rl)
    table = ClaimsTable()
    rl_final = float(rl.accuracy["train"][:, -1].mean())
    table.check("Random labels, no dropout: the networks memorise the training set", "training accuracy 100 %",
                f"mean training accuracy {rl_final:.3f} after {int(rl_epochs[-1])} epochs (N={random.n_models}, "
                f"{len(random.train.labels)} images)",
                "reproduced: >= 0.95; partly: >= 0.6 (well above chance 1/K)", rl_final >= 0.95, partly=rl_final >= 0.6)
    for s, paper_min in (("train", 1.07), ("test", 1.35)):
        x = rl_sum[s]
        table.check(f"Random labels: consistency is never bi-modal ({s})", f"minimum Pearson {paper_min}",
                    f"minimum Pearson {x.min_pearson():.2f} over {int(x.kept.sum())} epochs not collapsed, "
                    f"{x.n_bimodal()} bi-modal (all {int(x.trained.sum())} epochs: {x.min_pearson(False):.2f}, "
                    f"{x.n_bimodal(False)}); base, true labels: {base_min[s]:.2f}",
                    "over the epochs not collapsed: reproduced: no bi-modal epoch by the §3 rule and minimum Pearson "
                    ">= 0.8 (a uniform); partly: no bi-modal epoch",
                    x.n_bimodal() == 0 and x.min_pearson() >= 0.8, partly=x.n_bimodal() == 0)
    mid_train = rl_cons["train"][rl_mid]
    table.check("Random labels: a single bell on the training set while learning",
                "Gaussian-like, centred near 0.8 (Fig. 8b)",
                f"epoch {int(rl_epochs[rl_mid])}: mean {mid_train.mean():.2f}, Pearson {rl_pearson['train'][rl_mid]:.2f}, "
                f"{(mid_train == 0).mean():.1%} of images at 0",
                "reproduced: at the epoch with mean nearest 0.8, mean within 0.1 of 0.8, Pearson >= 1 and < 5 % of "
                "images at consistency 0; partly: Pearson >= 0.8",
                abs(mid_train.mean() - 0.8) <= 0.1 and rl_pearson["train"][rl_mid] >= 1 and (mid_train == 0).mean() < 0.05,
                partly=rl_pearson["train"][rl_mid] >= 0.8)
    te_last = rl_cons["test"][-1]
    table.check("Random labels: nothing generalises to the test set", "test consistency a bell near 0 (Fig. 8b)",
                f"mean test consistency {te_last.mean():.2f} (chance 1/K = {1 / K:.2f}), "
                f"Pearson {rl_pearson['test'][-1]:.2f}",
                "reproduced: mean within 0.05 of chance 1/K (the level of guessing with K classes) and not bi-modal "
                "at the last epoch", abs(te_last.mean() - 1 / K) <= 0.05 and not phases.is_bimodal(te_last),
                partly=abs(te_last.mean() - 1 / K) <= 0.1)
    acc_h, acc_r = float(sub[HARD].accuracy["test"][:, -1].mean()), float(sub[RANDOM].accuracy["test"][:, -1].mean())
    table.check("Training on the hard 20 % costs much more test accuracy than a random 20 %",
                "0.56 → 0.30 (hard) vs 0.47 (random)", f"{base_acc:.2f} → {acc_h:.2f} (hard) vs {acc_r:.2f} (random)",
                "reproduced: hard below random by >= 0.1 and random keeps >= 75 % of the base accuracy "
                "(the paper: 84 %); partly: hard below random",
                acc_h <= acc_r - 0.1 and acc_r >= 0.75 * base_acc, partly=acc_h < acc_r)
    hs, rs = sub[HARD].summary, sub[RANDOM].summary
    hb = {s: hs[s].n_bimodal() for s in SPLITS}
    rb = {s: rs[s].n_bimodal() for s in SPLITS}
    enough = int(hs["train"].kept.sum()) >= 3   # a verdict on fewer epochs not collapsed would rest on noise
    table.check("Hard 20 %: no bi-modal phase", "phase 3 absent (Fig. 8d)",
                f"bi-modal epochs (train / test) among those not collapsed: hard {hb['train']} / {hb['test']} of "
                f"{int(hs['train'].kept.sum())}, random {rb['train']} / {rb['test']} of {int(rs['train'].kept.sum())}; "
                f"over all epochs: hard {hs['train'].n_bimodal(False)} / {hs['test'].n_bimodal(False)}, random "
                f"{rs['train'].n_bimodal(False)} / {rs['test'].n_bimodal(False)} of {int(hs['train'].trained.sum())}; "
                f"min Pearson hard {hs['train'].min_pearson(False):.2f} / {hs['test'].min_pearson(False):.2f}, "
                f"random {rs['train'].min_pearson(False):.2f} / {rs['test'].min_pearson(False):.2f}",
                "needs >= 3 epochs of the hard ensemble not collapsed; over those: reproduced: no bi-modal epoch on "
                "either split; partly: fewer bi-modal epochs than the random control",
                enough and hb["train"] + hb["test"] == 0,
                partly=enough and hb["train"] + hb["test"] < rb["train"] + rb["test"])
    return table
