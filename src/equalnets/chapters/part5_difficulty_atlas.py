"""V. An atlas of example difficulty: every per-example difficulty score of the literature on the one
base ensemble of Part I, side by side, how far they agree, where they disagree, and the table of all
of them as data.

The chapter trains no network that another chapter already trains. It reads the base ensemble (Part
I's, never retrained here), its prediction depths (Part IV's, :func:`~equalnets.chapters.
part4_prediction_depth.depths_of`, cached in the run store), Part IV's label-noise ensemble and its two
half-split ensembles (through :meth:`Parameters.depth_parameters`: the same parameters give the same
runs). Its own runs are the C-score ensembles: for each subset ratio in ``cscore_ratios``,
``cscore_subsets`` ensembles on random subsets of the training split in which every row is held out
equally often (:func:`equalnets.analysis.subsets.holdout_subsets`); Part IV's halves are the ratio
0.5. The scores are :mod:`equalnets.analysis.atlas`'s; :func:`claims` decides every verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..analysis import atlas as atl
from ..analysis import scores
from ..analysis.claims import ClaimsTable
from ..analysis.subsets import holdout_subsets
from ..engine.checks import ParameterError, check_choice, check_float, check_float_list, check_int
from ..engine.config import RunConfig, derived_seed
from ..engine.data import Dataset
from ..engine.store import SPLITS, Run, RunStore
from . import part4_prediction_depth as pd4
from .base import EnsembleParameters

TITLE = "V. An atlas of example difficulty"
#: The Part IV parameters this chapter hands to :class:`part4_prediction_depth.Parameters` (its probes,
#: its label-noise and half-split ensembles): with the same values, the same runs and depths.
DEPTH_FIELDS = ("k", "metric", "depth_members", "probe_layers", "noise_fraction", "noise_train_per_class",
                "noise_models", "noise_epochs", "half_models", "half_epochs", "fit_optimizer", "fit_lr",
                "fit_batch_size", "fit_dropout")
#: The share of the training split, by C-score, that counts as the easiest in the forgetting claim.
EASIEST = 0.1
#: Smallest Spearman ρ that counts as "predicts" / "tracks" in the claims (besides beating the null).
MIN_RHO = 0.5
#: Smallest area under the ROC curve that counts as "flipped labels sit apart".
MIN_AUC = {"aum": 0.8, "forgetting_events": 0.7}
#: The names of the files of the base run's table that the site offers (beside the executed chapter).
TABLE_STEM = "difficulty-atlas"


@dataclass(frozen=True)
class Parameters(EnsembleParameters):
    """The base ensemble's parameters (see :class:`~equalnets.chapters.base.EnsembleParameters`), Part IV's
    (the probes and the ensembles shared with it: keep them equal to that chapter's), the C-score
    ensembles' and the atlas's own."""

    el2n_epoch: int = 5                      # the early epoch of EL2N (recorded, >= 1)
    k: int = 30                              # Part IV: neighbours of every k-NN probe
    metric: str = "euclidean"                # Part IV: distance of the probes
    depth_members: int | None = 4            # Part IV: members whose depths are computed (None: all)
    probe_layers: tuple[int, ...] | None = None  # Part IV: probed layers (None: every layer)
    noise_fraction: float = 0.2              # Part IV: share of the label-noise ensemble's labels flipped
    noise_train_per_class: int | None = 100  # Part IV: its training images per class
    noise_models: int = 3                    # Part IV: networks of the label-noise ensemble
    noise_epochs: int = 40                   # Part IV: their epochs
    half_models: int = 3                     # Part IV: networks per half-split ensemble (the C-score's ratio 0.5)
    half_epochs: int = 20                    # Part IV: their epochs
    fit_optimizer: str = "adam"              # Part IV: optimizer of the label-noise, half-split and C-score networks
    fit_lr: float = 0.001                    # their learning rate, constant
    fit_batch_size: int = 25                 # their mini-batch size
    fit_dropout: bool = False                # dropout in them
    cscore_ratios: tuple[float, ...] = (0.25, 0.75)  # subset ratios of the C-score ensembles besides the halves' 0.5
    cscore_subsets: int = 4                  # subsets per ratio, each trained by its own ensemble
    cscore_models: int = 1                   # networks per subset
    cscore_epochs: int = 20                  # their epochs
    cleanlab_method: str = "self_confidence"  # cleanlab's label-quality method
    n_boot: int = 1000                       # bootstrap resamples of the Spearman matrix
    n_perm: int = 200                        # permutations of every null
    n_shown: int = 6                         # images shown at each end of a score
    table_dir: str | None = "../book/executed"  # where the table of the base run is written (an existing folder)

    def check(self) -> None:
        check_int("el2n_epoch", self.el2n_epoch, 1, self.epochs, why=" (a training epoch of the base ensemble)")
        if self.record_epochs is not None and self.el2n_epoch not in self.record_epochs:
            raise ParameterError(f"el2n_epoch must be one of the recorded epochs record_epochs={list(self.record_epochs)}, "
                                 f"got {self.el2n_epoch}")
        ratios = check_float_list("cscore_ratios", self.cscore_ratios, low=0, high=1, low_open=True, high_open=True,
                                  min_len=0)
        check_int("cscore_subsets", self.cscore_subsets, 2)
        for r in ratios:
            held = (1 - r) * self.cscore_subsets
            if abs(held - round(held)) > 1e-9:
                raise ParameterError(f"every entry of cscore_ratios must be a multiple of 1/cscore_subsets = "
                                     f"1/{self.cscore_subsets}, got {r:g}")
        if len(set(ratios)) != len(ratios) or 0.5 in ratios:
            raise ParameterError(f"cscore_ratios must be distinct and leave out 0.5 (Part IV's halves), got {list(ratios)}")
        self.set("cscore_ratios", tuple(sorted(ratios)))
        check_int("cscore_models", self.cscore_models, 1)
        check_int("cscore_epochs", self.cscore_epochs, 1)
        check_choice("cleanlab_method", self.cleanlab_method, atl.CLEANLAB_METHODS)
        check_int("n_boot", self.n_boot, 10)
        check_int("n_perm", self.n_perm, 20, why=" (the null's 1st and 99th percentiles need some)")
        check_int("n_shown", self.n_shown, 1)
        if self.table_dir is not None and not isinstance(self.table_dir, str):
            raise ParameterError(f"table_dir must be a folder path or None (write no table), got {self.table_dir!r}")
        self.depth_parameters()  # Part IV's own checks of the shared parameters

    def depth_parameters(self) -> pd4.Parameters:
        """Part IV's prediction-depth parameters with this chapter's values: the base ensemble, the probes
        and the label-noise and half-split ensembles are then the very runs Part IV asks the store for."""
        shared = [n for n in pd4.Parameters.names() if n in self.names() and n not in ("n_perm", "n_shown")]
        return pd4.Parameters(**{n: getattr(self, n) for n in shared})

    def cscore_configs(self, train_labels: np.ndarray) -> dict[str, RunConfig]:
        """The C-score ensembles of every ratio in ``cscore_ratios`` (``'c-score r=0.25 subset 0'``, …):
        Part IV's training protocol (:meth:`part4_prediction_depth.Parameters.fitting`) on the subsets of
        :func:`~equalnets.analysis.subsets.holdout_subsets` of the training split (``train_labels``
        ``(M,)``), each with seeds of its own, recorded at the first and last epoch."""
        fit = self.depth_parameters()
        out = {}
        for ratio in self.cscore_ratios:
            rows = holdout_subsets(train_labels, ratio, self.cscore_subsets,
                                   seed=derived_seed(self.seed, f"c-score folds {ratio:g}"))
            for s, subset in enumerate(rows):
                name = f"c-score r={ratio:g} subset {s}"
                out[name] = fit.fitting(train_subset=[int(i) for i in subset], n_models=self.cscore_models,
                                        epochs=self.cscore_epochs, record_epochs=[0, self.cscore_epochs],
                                        seed=derived_seed(self.seed, name))
        return out


def runs(params: Parameters, dataset: Dataset | None = None) -> dict[str, RunConfig]:
    """The runs this chapter asks the store for: Part IV's (the base ensemble, the label-noise ensemble,
    the two halves; :func:`part4_prediction_depth.runs`) and the C-score ensembles (their subsets need
    the base's training labels: from ``dataset``, loaded here when not given)."""
    base = params.base_config()
    dataset = dataset if dataset is not None else RunStore.dataset_for(base)
    return {**pd4.runs(params.depth_parameters(), dataset),
            **params.cscore_configs(dataset.y_train.cpu().numpy())}


def atlas_configs(configs: Mapping[str, RunConfig]) -> dict[str, RunConfig]:
    """Of :func:`runs`, those the atlas reads (all but Part IV's label-noise run, which only the claims
    read)."""
    return {name: c for name, c in configs.items() if name != "label noise"}


def holdout_groups(configs: Mapping[str, RunConfig], params: Parameters) -> dict[float, list[str]]:
    """Subset ratio → the names (keys of ``configs``, :func:`runs`) of its C-score ensembles: 0.5 the
    two halves, then every ratio of ``cscore_ratios``."""
    return {0.5: ["half A", "half B"],
            **{r: [n for n in configs if n.startswith(f"c-score r={r:g} ")] for r in params.cscore_ratios}}


# --------------------------------------------------------------------------- held-out predictions

def member_probabilities(run: Run, dataset: Dataset, *, device: str = "cpu", batch_size: int = 500) -> np.ndarray:
    """The softmax of every member of a stored run on every train row, then every test row:
    ``(N, M_train + M_test, K)`` float32, from the members' stored weights (:meth:`Run.model`); computed
    once and kept in the run's store as an artifact keyed by the run."""
    store = RunStore(run.path.parent)

    @torch.no_grad()
    def compute() -> dict[str, np.ndarray]:
        x = torch.cat([dataset.x_train, dataset.x_test]).to(device)
        out = []
        for m in range(run.n_models):
            model = run.model(m).to(device)
            out.append(torch.cat([model(x[i:i + batch_size]).float().softmax(dim=1).cpu()
                                  for i in range(0, len(x), batch_size)]).numpy())
        return {"probs": np.stack(out).astype(np.float32)}

    return store.artifact("softmax", {"run": run.config.key, "version": 1}, compute)["probs"]


def trained_mask(run: Run) -> np.ndarray:
    """``(N, M_train)`` bool: which train rows each member of ``run`` trained on (``train_subset``; all
    rows by default)."""
    m = len(run.train.labels)
    rows = np.arange(m) if run.config.train_subset is None else np.asarray(run.config.train_subset)
    mask = np.zeros(m, dtype=bool)
    mask[rows] = True
    return np.broadcast_to(mask, (run.n_models, m)).copy()


# --------------------------------------------------------------------------- the atlas

@dataclass(frozen=True)
class Atlas:
    """Every score of every example of the base run: ``tables`` split → :func:`analysis.atlas.score_table`
    (one row per example); ``holdout_networks`` ratio → networks of the C-score ensembles (each train row
    is held out by a share 1 − ratio of them); ``depth_networks`` the networks whose depths were
    computed; ``el2n_epoch`` the early epoch of EL2N; ``cscore_seconds`` ratio → the training time of
    that ratio's C-score ensembles (their members' stored times, in seconds)."""

    tables: dict[str, pd.DataFrame]
    holdout_networks: dict[float, int]
    depth_networks: int
    el2n_epoch: int
    cscore_seconds: dict[float, float]


def build_atlas(base: Run, depths: Mapping[str, np.ndarray], holdout: Mapping[float, Sequence[Run]],
                probs: Mapping[str, np.ndarray], *, el2n_epoch: int, cleanlab_method: str = "self_confidence") -> Atlas:
    """The atlas of ``base`` from its depths (:func:`part4_prediction_depth.depths_of`), the C-score
    ensembles ``holdout`` (ratio → runs on subsets of the base's training split) and the softmax of
    their members (``probs``: run key → :func:`member_probabilities`)."""
    if not holdout:
        raise ValueError("holdout must hold the C-score ensembles of one subset ratio at least")
    n_train = len(base.train.labels)
    held_probs, held_trained, accuracy = [], [], {s: {} for s in SPLITS}
    for ratio, group in holdout.items():
        if not group:
            raise ValueError(f"holdout[{ratio}] holds no run")
        trained = np.concatenate([trained_mask(r) for r in group])                      # (K, M_train)
        for s in SPLITS:
            pred = np.concatenate([r.split(s).pred[:, -1] for r in group]).astype(np.int64)
            if pred.shape[1] != len(base.split(s).labels):
                raise ValueError(f"the C-score runs of ratio {ratio} record {pred.shape[1]} {s} examples, the base "
                                 f"run {len(base.split(s).labels)}")
            mask = trained if s == "train" else np.zeros_like(pred, dtype=bool)
            accuracy[s][ratio] = scores.holdout_accuracy(pred, base.split(s).labels, mask)
        for r in group:
            if r.config.key not in probs:
                raise ValueError(f"probs lacks the softmax of run {r.config.key} (ratio {ratio})")
            held_probs.append(probs[r.config.key])
        held_trained.append(trained)
    all_probs = np.concatenate(held_probs)                                                  # (H, M_all, K)
    trained = np.concatenate(held_trained)
    tables = {}
    for s in SPLITS:
        part = slice(0, n_train) if s == "train" else slice(n_train, None)
        mask = trained if s == "train" else np.zeros((len(all_probs), all_probs.shape[1] - n_train), dtype=bool)
        tables[s] = atl.score_table(base.split(s), base.epochs, el2n_epoch=el2n_epoch, depth=depths[f"depth_{s}"],
                                    holdout=accuracy[s], pred_probs=atl.held_out_probabilities(all_probs[:, part], mask),
                                    cleanlab_method=cleanlab_method)
    seconds = {ratio: float(sum(np.sum(r.seconds) for r in group if r.seconds is not None))
               for ratio, group in holdout.items()}
    return Atlas(tables=tables, holdout_networks={r: sum(run.n_models for run in g) for r, g in holdout.items()},
                 depth_networks=int(np.shape(depths["depth_train"])[0]), el2n_epoch=el2n_epoch, cscore_seconds=seconds)


def open_runs(params: Parameters, configs: Mapping[str, RunConfig], dataset: Dataset, *, train: bool = True
              ) -> dict[str, Run]:
    """The runs of ``configs`` (:func:`runs`): from the store, the missing members trained first
    (``train``), or only loaded (``FileNotFoundError`` naming a missing run otherwise). ``dataset`` is the
    base run's data set, handed to every run on the same images (the label-noise run has its own)."""
    base = params.base_config()

    def same_data(config: RunConfig) -> bool:
        return all(getattr(config, f) == getattr(base, f) for f in ("dataset", "train_per_class", "test_per_class",
                                                                     "inputs"))

    if train:
        return {name: params.open(config, dataset=dataset if same_data(config) else None)[0]
                for name, config in configs.items()}
    store = params.store()
    out = {}
    for name, config in configs.items():
        try:
            out[name] = store.load(config, dataset if same_data(config) else None)
        except FileNotFoundError:
            raise FileNotFoundError(f"the run store {store.root} lacks the run {name!r} ({config.describe()}); run "
                                    "`python -m equalnets run part5_difficulty_atlas` with the same parameters "
                                    "first") from None
    return out


def atlas_of(params: Parameters, opened: Mapping[str, Run], dataset: Dataset) -> Atlas:
    """The atlas from the opened runs (:func:`open_runs`): the base's depths with Part IV's probe
    parameters (cached), the softmax of every C-score network (cached), then :func:`build_atlas`."""
    groups = holdout_groups(opened, params)
    holdout = {ratio: [opened[n] for n in names] for ratio, names in groups.items()}
    probs = {r.config.key: member_probabilities(r, dataset, device=params.device)
             for group in holdout.values() for r in group}
    depths = pd4.depths_of(params.depth_parameters(), opened["base"], dataset)
    return build_atlas(opened["base"], depths, holdout, probs, el2n_epoch=params.el2n_epoch,
                       cleanlab_method=params.cleanlab_method)


def export_frame(atlas: Atlas, dataset: Dataset, base: Run) -> pd.DataFrame:
    """The table of the scores as data: one row per example of both splits, the columns of
    :data:`analysis.atlas.ID_COLUMNS` (data set, split, row, index in the original file, label, class
    name), then every score (:data:`analysis.atlas.SCORES`) and the holdout accuracy per ratio."""
    parts = []
    for s in SPLITS:
        table = atlas.tables[s]
        labels = np.asarray(base.split(s).labels)
        source = dataset.train_source if s == "train" else dataset.test_source
        if source is None or len(source) != len(table):
            raise ValueError(f"dataset must know the file row of every {s} example (Dataset.{s}_source), got "
                             f"{None if source is None else len(source)} for {len(table)} examples")
        ids = pd.DataFrame({"dataset": dataset.name, "split": s, "row": np.arange(len(table)),
                            "source_index": np.asarray(source, dtype=np.int64), "label": labels.astype(np.int64),
                            "class_name": [base.classes[c] for c in labels]})
        parts.append(pd.concat([ids, table.reset_index(drop=True)], axis=1))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- the claims' statistics

def easiest(c_score: np.ndarray, tiebreak: np.ndarray, share: float = EASIEST) -> np.ndarray:
    """``(M,)`` bool: the ``round(share · M)`` examples the held-out networks find easiest, by C-score
    (``(M,)``, a few distinct values when few networks hold each example out), ties broken by
    ``tiebreak`` ``(M,)`` (high = easy: cleanlab's label quality from the same held-out networks), then
    by row. Examples without a C-score are never chosen."""
    c, t = np.asarray(c_score, dtype=np.float64), np.asarray(tiebreak, dtype=np.float64)
    check_float("share", share, low=0, high=1, low_open=True, high_open=True)
    if c.ndim != 1 or t.shape != c.shape:
        raise ValueError(f"c_score and tiebreak must be (M,) arrays of one length, got {c.shape} and {t.shape}")
    rows = np.flatnonzero(np.isfinite(c))
    if not len(rows):
        raise ValueError("c_score has no finite value")
    order = rows[np.lexsort((rows, -np.nan_to_num(t[rows], nan=-np.inf), -c[rows]))]
    out = np.zeros(len(c), dtype=bool)
    out[order[:max(1, round(share * len(c)))]] = True
    return out


def el2n_early_late(base: Run, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """EL2N of every training example at the recorded ``epoch``, averaged over the first half of the base
    run's networks, and at the last recorded epoch, over the other half: ``((M,), (M,))``. Disjoint
    networks, so that a relation between the two is one of the examples, not of each network's own
    errors persisting."""
    check_int("epoch", epoch, 1)
    if epoch not in base.epochs:
        raise ValueError(f"epoch must be a recorded epoch of the run ({base.epochs.tolist()}), got {epoch}")
    if base.n_models < 2:
        raise ValueError("the base run needs two networks at least (two disjoint groups)")
    half = base.n_models // 2
    el2n = base.train.el2n.astype(np.float64)
    return el2n[:half, list(base.epochs).index(epoch)].mean(axis=0), el2n[half:, -1].mean(axis=0)


def noise_scores(noisy: Run, original: np.ndarray) -> dict[str, np.ndarray]:
    """The label-noise run's training split: ``flipped`` ``(M,)`` (its labels against the ``original``
    ones), and AUM and forgetting events over its recorded training epochs (``epochs`` ``(E',)``)."""
    flipped, given = pd4.flipped_labels(noisy, original), noisy.train.labels
    trained = noisy.epochs >= 1
    correct = noisy.train.pred[:, trained] == given
    return {"flipped": flipped, "aum": scores.aum(noisy.train.margin[:, trained]),
            "forgetting_events": scores.forgetting_events(correct), "epochs": noisy.epochs[trained]}


def claims(atlas: Atlas, base: Run, noisy: Run, original_labels: np.ndarray, *, n_perm: int = 200,
           seed: int = 0) -> ClaimsTable:
    """Every claim of the chapter: on the atlas of the base run (its training split), and on Part IV's
    label-noise run with the ``original_labels`` of its training rows."""
    table = ClaimsTable()
    train = atlas.tables["train"]
    # Toneva et al.: examples that are easy are rarely (never) forgotten.
    easy = easiest(train["c_score"].to_numpy(), train["label_quality"].to_numpy())
    rate = atl.group_rate(train["forgetting_events"].to_numpy(), easy, q=0.01, n_perm=n_perm, seed=seed)
    table.check("Forgetting events are rare for the easiest examples", "unforgettable examples are the easy ones "
                "(Toneva et al. 2019)",
                f"{rate.inside:.2f} forgetting events per image among the {rate.n} easiest training images "
                f"(the top {EASIEST:.0%} by C-score, ties by cleanlab's label quality)",
                "reproduced: the easiest images' mean is at most half the rest's and below the 1st percentile of "
                "random groups of the same size; partly: below that percentile only",
                bool(rate.inside <= 0.5 * rate.outside and rate.inside < rate.null),
                partly=bool(rate.inside < rate.null),
                reference=f"the rest: {rate.outside:.2f}; random groups, 1st percentile: {rate.null:.2f}")
    # Paul et al.: the error early in training (EL2N) already ranks the examples as the end of training does.
    early, late = el2n_early_late(base, atlas.el2n_epoch)
    rel = pd4.relation(early, late, n_perm=n_perm, seed=seed)
    half = base.n_models // 2
    table.check("EL2N early in training predicts difficulty at its end",
                "EL2N scores early in training find the important examples (Paul et al. 2021)",
                f"Spearman ρ(EL2N at epoch {atlas.el2n_epoch} of networks 1-{half}, EL2N at epoch "
                f"{int(base.epochs[-1])} of networks {half + 1}-{base.n_models}) = {rel.rho:+.2f} (n={rel.n})",
                f"reproduced: ρ ≥ {MIN_RHO} and above the 99th percentile of |ρ| with the images permuted; partly: "
                "ρ > 0 and above that percentile only", bool(rel.rho >= MIN_RHO and rel.rho > rel.null99),
                partly=bool(rel.rho > 0 and rel.rho > rel.null99),
                reference=f"permuted images, 99th percentile of |ρ|: {rel.null99:.2f}; stated ρ {MIN_RHO}")
    # Jiang et al.: learning speed is a good proxy of the C-score.
    speed_rel = pd4.relation(train["learning_speed"].to_numpy(), train["c_score"].to_numpy(), n_perm=n_perm, seed=seed)
    table.check("Learning speed tracks the C-score", "learning-speed proxies rank examples like the holdout "
                "C-score (Jiang et al. 2021)",
                f"Spearman ρ(learning speed of the base ensemble, C-score of held-out networks) = {speed_rel.rho:+.2f} "
                f"(n={speed_rel.n})",
                f"reproduced: ρ ≥ {MIN_RHO} and above the 99th percentile of |ρ| with the images permuted; partly: "
                "ρ > 0 and above that percentile only", bool(speed_rel.rho >= MIN_RHO and speed_rel.rho > speed_rel.null99),
                partly=bool(speed_rel.rho > 0 and speed_rel.rho > speed_rel.null99),
                reference=f"permuted images, 99th percentile of |ρ|: {speed_rel.null99:.2f}; stated ρ {MIN_RHO}")
    # Pleiss et al. (AUM) and Toneva et al. (forgetting) on flipped labels.
    noise = noise_scores(noisy, original_labels)
    recorded = ", ".join(str(int(e)) for e in noise["epochs"])
    for name, sign, paper, claim in (
            ("aum", -1, "mislabelled examples have a low area under the margin (Pleiss et al. 2020)",
             "Flipped labels sit at low AUM"),
            ("forgetting_events", +1, "mislabelled examples are forgotten often (Toneva et al. 2019)",
             "Flipped labels are forgotten more often")):
        auc, null = atl.separation(sign * noise[name], noise["flipped"], n_perm=n_perm, seed=seed)
        clean = float(noise[name][~noise["flipped"]].mean())
        table.check(claim, paper,
                    f"P({'lower AUM' if sign < 0 else 'more forgetting events'} for a flipped than a clean image) = "
                    f"{auc:.2f}; mean {float(noise[name][noise['flipped']].mean()):.2f} over "
                    f"{int(noise['flipped'].sum())} flipped images (training epochs recorded: {recorded})",
                    f"reproduced: area under the ROC curve ≥ {MIN_AUC[name]} and above the 99th percentile of the area "
                    "with the flips permuted among the images; partly: above that percentile only"
                    + ("; forgetting needs two recorded training epochs at least" if sign > 0 else ""),
                    bool(auc >= MIN_AUC[name] and auc > null), partly=bool(auc > null),
                    reference=f"clean images' mean {clean:.2f}; permuted flips, 99th percentile: {null:.2f}")
    return table


# --------------------------------------------------------------------------- what the figures show

def shown_pairs(matrix: atl.SpearmanMatrix, k: int = 3) -> list[tuple[str, str, float]]:
    """The pairs of scores whose scatter the chapter shows: the ``k`` that disagree most
    (:func:`analysis.atlas.disagreeing_pairs`)."""
    return atl.disagreeing_pairs(matrix, k)


def extremes_gallery(table: pd.DataFrame, images: np.ndarray, labels: np.ndarray, classes: Sequence[str], n: int,
                     names: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Images at both ends of every score in ``names`` (:func:`analysis.atlas.extreme_rows`), one row
    per end ('<score>: low' / 'high'), and their captions (class, the score's value, the row)."""
    rows_by, captions = {}, {}
    for name in names:
        low, high = atl.extreme_rows(table[name].to_numpy(), n)
        for end, rows in (("low", low), ("high", high)):
            key = f"{atl.SCORES[name].label}: {end}"
            rows_by[key] = np.asarray(images)[rows]
            captions[key] = [f"{classes[labels[i]]}\n{table[name].iloc[i]:.2f} (#{i})" for i in rows]
    return rows_by, captions


def disagreement_gallery(table: pd.DataFrame, pairs: Sequence[tuple[str, str, float]], images: np.ndarray,
                         labels: np.ndarray, classes: Sequence[str], n: int
                         ) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """For every pair (a, b) of ``pairs``: the images that a calls easy and b hard, and those that b calls
    easy and a hard (:func:`analysis.atlas.disagreement_rows`), captioned with both values."""
    rows_by, captions = {}, {}
    for a, b, _ in pairs:
        first, second = atl.disagreement_rows(table[a].to_numpy(), table[b].to_numpy(), atl.SCORES[a].easy,
                                              atl.SCORES[b].easy, n)
        for easy_by, hard_by, rows in ((a, b, first), (b, a, second)):
            key = f"easy by {atl.SCORES[easy_by].label},\nhard by {atl.SCORES[hard_by].label}"
            rows_by[key] = np.asarray(images)[rows]
            captions[key] = [f"{classes[labels[i]]}\n{table[a].iloc[i]:.2f} / {table[b].iloc[i]:.2f}" for i in rows]
    return rows_by, captions


def trajectories(run: Run, split: str) -> dict[str, np.ndarray]:
    """Per example of ``split``, over the recorded epochs ``(E, M)``: ``consistency`` and the mean
    ``p_label`` and ``margin`` over the members (what the explorer draws for a chosen example)."""
    rec = run.split(split)
    return {"consistency": scores.consistency(rec.pred, rec.labels),
            "p_label": rec.p_label.astype(np.float64).mean(axis=0), "margin": rec.margin.astype(np.float64).mean(axis=0)}
