"""The atlas chapter module (Part V): its parameters and runs (Part IV's shared, the C-score ensembles
its own), the atlas of a made-up run, the export frame, the figures, and every claim rule on made-up
data that supports it (→ reproduced) and that contradicts it (→ not reproduced)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ensembles import make_run, ordered_run  # noqa: E402
from equalnets.analysis import atlas as atl  # noqa: E402
from equalnets.chapters import part4_prediction_depth as pd4  # noqa: E402
from equalnets.chapters import part5_difficulty_atlas as pd5  # noqa: E402
from equalnets.engine.checks import ParameterError  # noqa: E402
from equalnets.engine.config import RunConfig  # noqa: E402
from equalnets.engine.data import Dataset, load_dataset  # noqa: E402
from equalnets.engine.store import RunStore  # noqa: E402
from equalnets.figures import atlas as atlas_fig  # noqa: E402
from equalnets.tools import book  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STEM = "part5_difficulty_atlas"
K = 5


# ----------------------------------------------------------------------------- parameters and runs

@pytest.mark.parametrize("profile", book.PROFILES)
def test_the_atlas_asks_for_part4s_very_runs_in_every_profile(profile, monkeypatch):
    """Part IV's base, label-noise and half-split runs, under every profile: the same keys (one training
    serves both chapters), and the depth parameters that key Part IV's cached depths."""
    ours = {k: v for k, v in book.profile_parameters(ROOT, profile, STEM).items() if k != "device"}
    theirs = {k: v for k, v in book.profile_parameters(ROOT, profile, "part4_prediction_depth").items() if k != "device"}
    mine, four = pd5.Parameters(**ours), pd4.Parameters(**theirs)
    labels = np.repeat(np.arange(K), 40)
    data = Dataset("fashion-tops", torch.zeros(len(labels), 1, 4, 4), torch.as_tensor(labels), torch.zeros(5, 1, 4, 4),
                   torch.zeros(5, dtype=torch.long), tuple("abcde"))
    shared = pd4.runs(four, data)
    asked = pd5.runs(mine, data)
    assert {name: c.key for name, c in shared.items()} == {name: asked[name].key for name in shared}
    for field in ("k", "metric", "depth_members", "probe_layers"):
        assert getattr(mine.depth_parameters(), field) == getattr(four, field), field


def test_cscore_ensembles_hold_every_row_out_equally_and_have_their_own_seeds():
    params = pd5.Parameters(cscore_ratios=[0.75, 0.25], cscore_subsets=4, cscore_models=2)
    labels = np.repeat(np.arange(K), 40)
    configs = params.cscore_configs(labels)
    assert len(configs) == 8 and params.cscore_ratios == (0.25, 0.75)
    for ratio, held in ((0.25, 3), (0.75, 1)):
        group = [c for name, c in configs.items() if name.startswith(f"c-score r={ratio:g} ")]
        out = sum(~np.isin(np.arange(len(labels)), c.train_subset) for c in group)
        assert (out == held).all()
        assert all(c.n_models == 2 and c.optimizer == "adam" and not c.dropout and c.record_epochs == (0, 20)
                   for c in group)
    seeds = [c.member_seed(m) for c in configs.values() for m in range(c.n_models)]
    assert len(set(seeds)) == len(seeds)
    groups = pd5.holdout_groups({**configs, "half A": None, "half B": None}, params)
    assert list(groups) == [0.5, 0.25, 0.75] and groups[0.5] == ["half A", "half B"] and len(groups[0.25]) == 4


@pytest.mark.parametrize("field, value, match", [
    ("el2n_epoch", 0, "el2n_epoch"), ("el2n_epoch", 26, "el2n_epoch"), ("cscore_ratios", [0.3], "multiple"),
    ("cscore_ratios", [0.5], "0.5"), ("cscore_ratios", [1.0], "cscore_ratios"), ("cscore_subsets", 1, "cscore_subsets"),
    ("cleanlab_method", "margin", "cleanlab_method"), ("n_perm", 5, "n_perm"), ("table_dir", 3, "table_dir"),
    ("half_models", 1, "half_models"), ("record_epochs", [0, 10, 25], "el2n_epoch")])
def test_bad_parameters_name_the_field(field, value, match):
    with pytest.raises(ParameterError, match=match):
        pd5.Parameters(**{field: value})


# ----------------------------------------------------------------------------- the atlas of made-up runs

def made_up_holdout(base, ratio_rows: dict[float, list[np.ndarray]], seed: int = 0):
    """C-score runs (one network each) on the given train rows of ``base``: right on every held-out image
    whose base learning speed is high, and their made-up softmax."""
    rng = np.random.default_rng(seed)
    labels = {s: base.split(s).labels for s in ("train", "test")}
    easy = {s: base.split(s).pred[:, -1].mean(0) > -1 for s in labels}
    holdout, probs = {}, {}
    for ratio, subsets in ratio_rows.items():
        holdout[ratio] = []
        for i, rows in enumerate(subsets):
            pred = {s: np.where(easy[s], labels[s], (labels[s] + 1) % K)[None, None, :].repeat(2, axis=1)
                    for s in labels}
            config = RunConfig(n_models=1, epochs=1, width=0.25, train_subset=[int(r) for r in rows], seed=100 + i)
            run = make_run(pred["train"], labels["train"], pred["test"], labels["test"], n_classes=K,
                           epochs=np.array([0, 1]), config=config)
            holdout[ratio].append(run)
            probs[config.key] = rng.dirichlet(np.ones(K), (1, len(labels["train"]) + len(labels["test"])))
    return holdout, probs


@pytest.fixture(scope="module")
def made_up_atlas():
    base = ordered_run(n=6, e=8, m_train=100, m_test=40, k=K)
    rows = np.arange(100)
    holdout, probs = made_up_holdout(base, {0.5: [rows[:50], rows[50:]], 0.25: [rows[i::4] for i in range(4)]})
    rng = np.random.default_rng(0)
    depths = {"depth_train": rng.integers(0, 10, (3, 100)), "depth_test": rng.integers(0, 10, (3, 40))}
    return base, pd5.build_atlas(base, depths, holdout, probs, el2n_epoch=3), holdout


def test_build_atlas_tables_and_holdout(made_up_atlas):
    base, result, holdout = made_up_atlas
    assert set(result.tables) == {"train", "test"} and len(result.tables["train"]) == 100
    assert result.holdout_networks == {0.5: 2, 0.25: 4} and result.depth_networks == 3
    train, test = result.tables["train"], result.tables["test"]
    assert list(train.columns) == [*atl.SCORES, "c_score_r25", "c_score_r50"]
    assert np.allclose(train["c_score"], 1.0) and np.allclose(test["c_score"], 1.0)
    # every training image is held out by one half and by three of the four quarter-subsets
    trained = np.concatenate([pd5.trained_mask(r) for r in holdout[0.25]])
    assert ((~trained).sum(0) == 3).all()
    assert train["label_quality"].between(0, 1).all() and test["label_quality"].notna().all()


def test_build_atlas_refuses_missing_pieces(made_up_atlas):
    base, _, holdout = made_up_atlas
    depths = {"depth_train": np.zeros((1, 100)), "depth_test": np.zeros((1, 40))}
    with pytest.raises(ValueError, match="holdout"):
        pd5.build_atlas(base, depths, {}, {}, el2n_epoch=3)
    with pytest.raises(ValueError, match="probs"):
        pd5.build_atlas(base, depths, holdout, {}, el2n_epoch=3)


def test_export_frame_has_one_row_per_example_with_its_file_index(made_up_atlas):
    base, result, _ = made_up_atlas
    data = Dataset("fashion-tops", torch.zeros(100, 1, 2, 2), torch.as_tensor(base.train.labels),
                   torch.zeros(40, 1, 2, 2), torch.as_tensor(base.test.labels), base.classes,
                   train_source=np.arange(100) * 3, test_source=np.arange(40) + 7)
    frame = pd5.export_frame(result, data, base)
    assert len(frame) == 140 and list(frame.columns[:6]) == list(atl.ID_COLUMNS)
    assert (frame["split"] == "train").sum() == 100 and frame["source_index"].iloc[99] == 297
    assert frame["source_index"].iloc[100] == 7 and frame["class_name"].iloc[1] == base.classes[base.train.labels[1]]
    with pytest.raises(ValueError, match="source"):
        pd5.export_frame(result, replace(data, train_source=None), base)


def test_source_index_is_the_row_in_the_original_file():
    data = load_dataset("fashion-tops", train_per_class=3, test_per_class=2)
    from equalnets.engine.data import _fashion_mnist  # the raw files, as a user holds them
    _, ytr, _, yte, _ = _fashion_mnist(None, False)
    tops = np.array([0, 2, 3, 4, 6])
    assert (tops[data.y_train.numpy()] == ytr[data.train_source]).all()
    assert (tops[data.y_test.numpy()] == yte[data.test_source]).all()
    # the first three of every class in file order
    assert sorted(data.train_source.tolist()) == sorted(np.concatenate([np.flatnonzero(ytr == c)[:3] for c in tops]).tolist())
    digits = load_dataset("digits", train_per_class=2, test_per_class=1)
    assert (digits.test_source % 5 == 4).all() and not (digits.train_source % 5 == 4).any()


def test_member_probabilities_are_cached_softmaxes(tiny_config, isolated_cache):
    config = tiny_config.replace(train_subset=list(range(0, 100, 2)), n_models=2, epochs=1)
    store = RunStore(isolated_cache)
    data = store.dataset_for(config)
    run = store.get_or_train(config, progress=False, dataset=data)
    probs = pd5.member_probabilities(run, data)
    assert probs.shape == (2, 150, 10) and np.allclose(probs.sum(-1), 1, atol=1e-5)
    with torch.no_grad():
        direct = run.model(1)(data.x_test[:3]).softmax(1).numpy()
    np.testing.assert_allclose(probs[1, 100:103], direct, atol=1e-5)
    assert list((isolated_cache / "artifacts").glob("softmax-*.npz"))
    np.testing.assert_array_equal(pd5.member_probabilities(run, data), probs)
    mask = pd5.trained_mask(run)
    assert mask.shape == (2, 100) and mask[:, ::2].all() and not mask[:, 1::2].any()


# ----------------------------------------------------------------------------- the claims

def atlas_with(train: pd.DataFrame) -> pd5.Atlas:
    return pd5.Atlas(tables={"train": train, "test": train}, holdout_networks={0.5: 6}, depth_networks=4,
                     el2n_epoch=2, cscore_seconds={0.5: 1.0})


def made_up_claims(*, forgetting: str = "paper", el2n: str = "paper", speed: str = "paper", noise: str = "paper",
                   noise_epochs: np.ndarray | None = None, seed: int = 0):
    """The inputs of :func:`claims`: a training table of 400 images, a base run whose last-epoch EL2N is
    the images' hardness, and a label-noise run of 3 networks on 200 images (40 flipped). Each keyword
    picks the data of one claim: ``'paper'`` behaves as the paper says, ``'against'`` does not."""
    rng = np.random.default_rng(seed)
    m = 400
    hard = rng.random(m)
    c_score = np.clip(1 - hard + rng.normal(0, 0.05, m), 0, 1)
    easy = c_score >= np.quantile(c_score, 0.9)
    forget = np.where(easy, 0.0, rng.poisson(1.0, m)) if forgetting == "paper" else rng.poisson(1.0, m).astype(float)
    speed_v = 1 - hard + rng.normal(0, 0.1, m) if speed == "paper" else rng.random(m)
    train = pd.DataFrame({"c_score": c_score, "forgetting_events": forget, "learning_speed": speed_v,
                          "label_quality": rng.random(m)})
    base = ordered_run(n=4, e=4, m_train=m, m_test=20, k=K)
    # EL2N: 'paper', every network's error follows the images' hardness at every epoch; 'against', each
    # network's error follows a hardness of its own (persistent within a network, unrelated across them)
    own = hard[None, :] if el2n == "paper" else rng.random((4, m))
    el2n = (own[:, None, :] + rng.normal(0, 0.1, base.train.el2n.shape)).astype(np.float16)
    base = replace(base, train=replace(base.train, el2n=el2n))
    # the label-noise run: flipped images wrong (margin -1) at every other recorded epoch, clean ones right
    n, mn = 3, 200
    original = np.arange(mn) % K
    flipped = rng.permutation(mn) < 40
    given = np.where(flipped, (original + 1) % K, original)
    epochs = np.arange(9) if noise_epochs is None else noise_epochs
    e = np.arange(len(epochs))[None, :, None]
    if noise == "paper":      # flipped: learnt and forgotten in turn; clean: right from epoch 1 on
        right = np.where(flipped[None, None, :], (e % 2 == 1), e >= 1)
    else:                     # the flips make no difference: every image learnt at a random epoch for good
        right = e >= rng.integers(1, len(epochs), (n, 1, mn))
    pred = np.where(right, given, (given + 2) % K)
    noisy = make_run(pred, given, pred[:, :, :20], given[:20], n_classes=K, epochs=epochs)
    return atlas_with(train), base, noisy, original


CLAIMS = {"forgetting": "Forgetting events are rare for the easiest examples",
          "el2n": "EL2N early in training predicts difficulty at its end",
          "speed": "Learning speed tracks the C-score",
          "aum": "Flipped labels sit at low AUM",
          "noise_forgetting": "Flipped labels are forgotten more often"}


def test_every_claim_is_reproduced_on_data_that_behave_as_the_papers_say():
    table = pd5.claims(*made_up_claims(), n_perm=100)
    assert {row["claim"] for row in table.rows} == set(CLAIMS.values())
    for claim in CLAIMS.values():
        assert table.verdict(claim) == "reproduced", (claim, table.frame())
    assert all(row["reference"] for row in table.rows)


@pytest.mark.parametrize("knob, claim", [("forgetting", "forgetting"), ("el2n", "el2n"), ("speed", "speed")])
def test_each_atlas_claim_fails_on_data_that_contradict_it(knob, claim):
    table = pd5.claims(*made_up_claims(**{knob: "against"}), n_perm=100)
    assert table.verdict(CLAIMS[claim]) == "not reproduced", table.frame()
    others = [c for k, c in CLAIMS.items() if k != claim]
    assert all(table.verdict(c) == "reproduced" for c in others)


def test_flipped_label_claims_fail_when_the_flips_make_no_difference():
    table = pd5.claims(*made_up_claims(noise="against"), n_perm=100)
    assert table.verdict(CLAIMS["aum"]) == "not reproduced" and table.verdict(CLAIMS["noise_forgetting"]) == "not reproduced"


def test_forgetting_of_flipped_labels_fails_with_one_recorded_training_epoch():
    """Part IV's label-noise run records epochs 0 and the last only: no step between two training
    epochs, so no forgetting event can be counted; the claim says so instead of passing."""
    table = pd5.claims(*made_up_claims(noise_epochs=np.array([0, 40])), n_perm=100)
    assert table.verdict(CLAIMS["noise_forgetting"]) == "not reproduced"
    assert "training epochs recorded: 40" in table.frame().set_index("claim").loc[CLAIMS["noise_forgetting"], "this book"]


def test_el2n_early_and_late_come_from_disjoint_networks():
    base = ordered_run(n=4, e=4, m_train=10, m_test=5, k=K)
    el2n = np.zeros(base.train.el2n.shape, np.float16)
    el2n[:2, 2], el2n[2:, -1] = 1, 2                        # networks 0-1 at epoch 2, networks 2-3 at the end
    early, late = pd5.el2n_early_late(replace(base, train=replace(base.train, el2n=el2n)), 2)
    assert (early == 1).all() and (late == 2).all()
    with pytest.raises(ValueError, match="epoch"):
        pd5.el2n_early_late(base, 7)


def test_easiest_and_noise_scores():
    c = np.r_[np.zeros(50), np.ones(50)]
    quality = np.arange(100.0)
    chosen = pd5.easiest(c, quality)
    assert np.flatnonzero(chosen).tolist() == list(range(90, 100))       # ties at the top broken by the tiebreak
    assert np.flatnonzero(pd5.easiest(c, np.zeros(100))).tolist() == list(range(50, 60))  # then by row
    assert not pd5.easiest(np.r_[np.nan, c[1:]], quality, share=0.99)[0]
    with pytest.raises(ValueError, match="c_score"):
        pd5.easiest(np.full(5, np.nan), np.zeros(5))
    with pytest.raises(ValueError, match="tiebreak"):
        pd5.easiest(c, quality[:5])
    _, _, noisy, original = made_up_claims()
    with pytest.raises(ValueError, match="flipped"):
        pd5.noise_scores(noisy, noisy.train.labels)
    with pytest.raises(ValueError, match="original"):
        pd5.noise_scores(noisy, original[:5])


# ----------------------------------------------------------------------------- figures and galleries

def test_figures_and_galleries_draw(made_up_atlas):
    base, result, _ = made_up_atlas
    matrices = {s: atl.spearman_matrix(t, n_boot=20) for s, t in result.tables.items()}
    fig = atlas_fig.spearman_heatmaps(matrices, n_boot=20)
    assert len(fig.axes) == 4
    pairs = pd5.shown_pairs(matrices["train"], 3)
    assert len(pairs) == 3
    fig = atlas_fig.pair_scatters(result.tables, pairs, matrices)
    assert "ρ" in fig.axes[0].get_title()
    images = np.random.default_rng(0).random((100, 1, 4, 4))
    shown, captions = pd5.extremes_gallery(result.tables["train"], images, base.train.labels, base.classes, 2,
                                           ["consistency", "aum"])
    assert list(shown) == ["consistency (last epoch): low", "consistency (last epoch): high", "AUM (logits): low", "AUM (logits): high"]
    assert all(len(v) == 2 for v in shown.values()) and len(captions["AUM (logits): low"]) == 2
    shown, captions = pd5.disagreement_gallery(result.tables["train"], pairs[:1], images, base.train.labels,
                                               base.classes, 2)
    assert len(shown) == 2
    traj = {s: pd5.trajectories(base, s) for s in ("train", "test")}
    assert traj["train"]["consistency"].shape == (8, 100)
    box = atlas_fig.atlas_explorer(result.tables, {"train": images, "test": images[:40]}, traj, base.epochs,
                                   {"train": base.train.labels, "test": base.test.labels}, base.classes, n_models=6)
    split_w, row_w = box.children[0].children
    x_w, y_w = box.children[1].children
    row_w.value = 5
    y_w.value = "c_score"
    split_w.value = "test"
    assert row_w.max == 39
    plt.close("all")
