import math

import numpy as np
import pytest

from equalnets import robustness, scores
from equalnets.config import ParameterError, RunConfig
from equalnets.store import RunStore


BASE = RunConfig(width=0.25, n_models=10, epochs=25, lr=0.01, momentum=0.9)


def test_variant_config_changes_only_what_it_names_and_sets_size_and_seed():
    v = robustness.variant_config(BASE, {"lr": 0.02}, n_models=3, epochs=10, record_epochs=[0, 5, 10], seed=1)
    assert (v.lr, v.n_models, v.epochs, v.record_epochs, v.seed) == (0.02, 3, 10, (0, 5, 10), 1)
    assert (v.width, v.momentum, v.dataset, v.batch_size) == (BASE.width, BASE.momentum, BASE.dataset, BASE.batch_size)
    assert v.key != BASE.key
    assert robustness.variant_label(BASE, v) == "lr 0.02"
    adam = robustness.variant_config(BASE, {"optimizer": "adam", "lr": 0.001, "momentum": 0.0},
                                     n_models=3, epochs=10, seed=1)
    assert robustness.variant_label(BASE, adam) == "adam, lr 0.001, momentum 0"
    nodrop = robustness.variant_config(BASE, {"dropout": False, "weight_decay": 5e-4}, n_models=3, epochs=10, seed=1)
    assert robustness.variant_label(BASE, nodrop) == "dropout off, L2 0.0005"


@pytest.mark.parametrize("overrides, match", [
    ({"n_models": 5}, "may change only"),            # size is the chapter's, not the variant's
    ({"lr": 0.01}, "changes no hyper-parameter"),    # equal to the base
    ({}, "changes no hyper-parameter"),
    ({"optimizer": "adam"}, "momentum applies to SGD only"),
    ({"lr": -1.0}, "lr must be"),
    ({"optimizer": "rmsprop"}, "optimizer must be one of"),
    ("lr=0.02", "must be a dict"),
])
def test_variant_config_rejects_bad_variants(overrides, match):
    with pytest.raises(ParameterError, match=match):
        robustness.variant_config(BASE, overrides, n_models=3, epochs=10, seed=1)


def test_variant_configs_orders_labels_and_rejects_repeats_and_empty():
    out = robustness.variant_configs(BASE, [{"batch_size": 50}, {"dropout": False}], n_models=3, epochs=4, seed=2)
    assert list(out) == ["batch 50", "dropout off"]
    with pytest.raises(ParameterError, match="given twice"):
        robustness.variant_configs(BASE, [{"lr": 0.02}, {"lr": 0.02}], n_models=3, epochs=4, seed=2)
    with pytest.raises(ParameterError, match="non-empty list"):
        robustness.variant_configs(BASE, [], n_models=3, epochs=4, seed=2)


def test_moving_configs_train_on_the_complement_of_the_moved_rows():
    score = np.linspace(0, 1, 200)  # row i has difficulty i: row 199 is the easiest
    moves = robustness.moving_configs(BASE, score, 0.05, seed=3)
    assert list(moves) == ["easiest", "hardest", "random"]
    easy_rows, easy_cfg = moves["easiest"]
    assert easy_rows.tolist() == list(range(190, 200))
    assert moves["hardest"][0].tolist() == list(range(10))
    assert easy_cfg.train_subset == tuple(range(190))
    for rows, cfg in moves.values():
        assert len(rows) == 10 and not set(rows) & set(cfg.train_subset)
        assert len(cfg.train_subset) + len(rows) == 200
    assert len({cfg.key for _, cfg in moves.values()}) == 3


def test_moving_configs_bad_input():
    with pytest.raises(ValueError, match="which"):
        robustness.moving_configs(BASE, np.ones(10), 0.1, which=("middle",))
    with pytest.raises(ValueError, match="which"):
        robustness.moving_configs(BASE, np.ones(10), 0.1, which="easiest")
    sub = RunConfig.from_dict({**BASE.to_dict(), "train_subset": [0, 1, 2]})
    with pytest.raises(ValueError, match="already trains on a subset"):
        robustness.moving_configs(sub, np.ones(10), 0.1)
    with pytest.raises(ValueError, match="nothing is left"):
        robustness.moving_configs(BASE, np.ones(10), 1.0)


def test_rows_accuracy_by_hand():
    labels = np.array([0, 1, 2, 0])
    pred = np.array([[[0, 1, 0, 1], [0, 1, 2, 0]],      # network 0 at two recorded epochs
                     [[1, 1, 2, 0], [0, 0, 2, 0]]])     # network 1
    acc = robustness.rows_accuracy(pred, labels, np.array([0, 2]))
    np.testing.assert_allclose(acc, [[0.5, 1.0], [0.5, 1.0]])
    np.testing.assert_allclose(robustness.rows_accuracy(pred, labels, np.array([1])), [[1, 1], [1, 0]])
    with pytest.raises(ValueError, match="rows must lie"):
        robustness.rows_accuracy(pred, labels, np.array([4]))
    with pytest.raises(ValueError, match="rows must be"):
        robustness.rows_accuracy(pred, labels, np.array([], dtype=int))
    with pytest.raises(ValueError, match="pred must be"):
        robustness.rows_accuracy(pred[0], labels, np.array([0]))


def test_pearson_by_epoch_agreeing_networks_are_bimodal_and_independent_ones_are_not():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 250)
    learnt = rng.random(1000) < 0.5                               # the same half is learnt by every network
    pred = np.where(learnt, labels, (labels + 1) % 4)[None, None].repeat(10, 0)
    pred = np.concatenate([pred, rng.integers(0, 4, size=(10, 1, 1000))], axis=1)  # epoch 1: guessing
    p = robustness.pearson_by_epoch(pred, labels)
    assert p.shape == (2,)
    assert p[0] == pytest.approx(0.0, abs=1e-9)                   # two-point distribution
    assert p[1] > 1.0                                              # binomial: Gaussian-like
    null = robustness.null_pearson_by_epoch(pred, labels, seed=1)
    assert null[0] > 1.0                                           # independent errors destroy the agreement
    with pytest.raises(ValueError, match="shape"):
        robustness.pearson_by_epoch(pred[:, 0], labels)


def test_learning_speed_of_selects_members_and_epochs():
    labels = np.array([0, 0, 0])
    pred = np.array([[[1, 1, 1], [0, 1, 1], [0, 0, 1]],
                     [[1, 1, 1], [1, 1, 1], [1, 1, 1]]])
    np.testing.assert_allclose(robustness.learning_speed_of(pred, labels), [1 / 3, 1 / 6, 0])
    np.testing.assert_allclose(robustness.learning_speed_of(pred, labels, members=slice(0, 1)), [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(robustness.learning_speed_of(pred, labels, members=slice(0, 1), epochs=np.array([2])),
                               [1, 1, 0])
    with pytest.raises(ValueError, match="at least one"):
        robustness.learning_speed_of(pred, labels, members=slice(5, None))


def test_speed_correlation_is_nan_for_constant_speeds_and_a_correlation_otherwise():
    x = np.arange(20.0)
    c = robustness.speed_correlation(x, 2 * x + 1, n_boot=50)
    assert c.r == pytest.approx(1.0) and c.low == pytest.approx(1.0)
    flat = robustness.speed_correlation(x, np.zeros(20), n_boot=50)
    assert math.isnan(flat.r) and flat.n == 20
    with pytest.raises(ValueError, match="same length"):
        robustness.speed_correlation(x, x[:5])


def test_binomial_halfwidth_and_onset():
    np.testing.assert_allclose(robustness.binomial_halfwidth(np.array([0.5]), 100), [1.96 * 0.05])
    assert robustness.binomial_halfwidth(np.array([0.0]), 100)[0] == pytest.approx(1.96 * 0.025)  # floor
    with pytest.raises(ValueError, match="k must"):
        robustness.binomial_halfwidth(np.array([0.5]), 0)
    with pytest.raises(ValueError, match="p must"):
        robustness.binomial_halfwidth(np.array([1.5]), 10)
    epochs = np.array([0, 1, 2, 4])
    assert robustness.onset(np.array([0.2, 0.21, 0.3, 0.5]), epochs, chance=0.2) == 2
    assert robustness.onset(np.array([0.9, 0.2, 0.2, 0.2]), epochs, chance=0.2) == 3  # epoch 0 never counts
    with pytest.raises(ValueError, match="same length|one length"):
        robustness.onset(np.array([0.2]), epochs, chance=0.2)


def test_moved_rows_are_recorded_but_not_trained_on(tiny_config):
    """End to end through the store: a moved row is recorded at every epoch like any train row."""
    store = RunStore()
    base = store.get_or_train(tiny_config, progress=False)
    score = scores.learning_speed(base.train.consistency())
    moves = robustness.moving_configs(tiny_config, score, 0.1, which=("easiest",), seed=0)
    rows, cfg = moves["easiest"]
    run = store.get_or_train(cfg, progress=False)
    assert run.train.pred.shape == base.train.pred.shape   # every train row recorded
    acc = robustness.rows_accuracy(run.train.pred, run.train.labels, rows)
    assert acc.shape == (tiny_config.n_models, len(tiny_config.recorded_epochs))


def test_by_difficulty_within_takes_the_same_share_of_every_class():
    labels = np.repeat([0, 1], 100)
    score = np.concatenate([np.full(100, 0.9), np.full(100, 0.1)]) + np.tile(np.linspace(0, 0.01, 100), 2)
    whole = robustness.by_difficulty_within(score, np.zeros(200, dtype=int), 0.1, "easiest")
    assert set(labels[whole]) == {0}                        # over the whole set: one class only
    rows = robustness.by_difficulty_within(score, labels, 0.1, "easiest")
    assert np.bincount(labels[rows]).tolist() == [10, 10]
    assert rows.tolist() == list(range(90, 100)) + list(range(190, 200))   # the easiest inside each class
    moves = robustness.moving_configs(BASE, score, 0.1, which=("hardest",), labels=labels)
    assert np.bincount(labels[moves["hardest"][0]]).tolist() == [10, 10]
    with pytest.raises(ValueError, match="groups must have the shape"):
        robustness.by_difficulty_within(score, labels[:5], 0.1, "easiest")
