import numpy as np
import pytest

from equalnets.analysis import scores


def test_consistency_hand_computed():
    preds = np.array([[0, 1, 2, 1],
                      [0, 1, 0, 2],
                      [1, 1, 0, 2]])
    labels = np.array([0, 1, 2, 2])
    np.testing.assert_allclose(scores.consistency(preds, labels), [2 / 3, 1, 1 / 3, 2 / 3])


def test_consistency_with_epoch_axis():
    preds = np.array([[[0, 1], [0, 0]], [[1, 1], [0, 0]]])  # (N=2, E=2, M=2)
    out = scores.consistency(preds, np.array([0, 1]))
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out, [[0.5, 1.0], [1.0, 0.0]])


def test_consensus_hand_computed():
    preds = np.array([[0, 1, 2], [0, 2, 1], [1, 2, 0], [0, 2, 2]])
    np.testing.assert_allclose(scores.consensus(preds, 3), [0.75, 0.75, 0.5])
    assert scores.consensus(preds[:, None, :].repeat(4, axis=1), 3).shape == (4, 3)


@pytest.mark.parametrize("values, expected", [
    (np.array([0.0, 1.0] * 50), 0.0),      # two-point
    (np.array([0.0, 0.0, 0.0, 1.0] * 50), 0.0),  # any two-point distribution
])
def test_bimodality_two_point(values, expected):
    assert scores.bimodality(values) == pytest.approx(expected, abs=1e-12)


def test_bimodality_reference_distributions():
    rng = np.random.default_rng(0)
    assert scores.bimodality(rng.uniform(size=400_000)) == pytest.approx(0.8, abs=0.01)
    assert scores.bimodality(rng.normal(size=400_000)) == pytest.approx(2.0, abs=0.03)
    # exact uniform on a fine grid: kurtosis 9/5 - 1 = 0.8
    assert scores.bimodality(np.linspace(0, 1, 100_001)) == pytest.approx(0.8, abs=1e-4)


def test_bimodality_constant_is_nan():
    assert np.isnan(scores.bimodality(np.ones(10)))


def test_learning_speed():
    c = np.array([[0.0, 1.0, 0.5], [1.0, 1.0, 0.5]])
    np.testing.assert_allclose(scores.learning_speed(c), [0.5, 1.0, 0.5])


def test_independent_errors_keeps_per_class_accuracy():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 20)
    preds = np.where(rng.uniform(size=(5, 60)) < 0.7, labels, (labels + 1) % 3)
    null = scores.independent_errors(preds, labels, seed=0)
    assert null.shape == preds.shape
    for cls in range(3):
        np.testing.assert_array_equal((null[:, labels == cls] == cls).sum(1), (preds[:, labels == cls] == cls).sum(1))
    assert not np.array_equal(null, preds)
    identical = np.tile(preds[:1], (5, 1))  # identical networks: perfectly bi-modal...
    assert scores.bimodality(scores.consistency(identical, labels)) == pytest.approx(0.0, abs=1e-12)
    # ...but independent ones are not
    assert scores.bimodality(scores.consistency(scores.independent_errors(identical, labels), labels)) > 0.5


@pytest.mark.parametrize("call, name", [
    (lambda: scores.consistency(np.zeros((0, 3), int), np.zeros(3, int)), "preds"),
    (lambda: scores.consistency(np.zeros((2, 3), int), np.zeros(4, int)), "labels"),
    (lambda: scores.consistency(np.zeros((2, 3), int), -np.ones(3, int)), "labels"),
    (lambda: scores.consistency(np.zeros(3, int), np.zeros(3, int)), "preds"),
    (lambda: scores.consistency(np.zeros((2, 3)), np.zeros(3, int)), "preds"),
    (lambda: scores.consensus(np.array([[0, 3]]), 3), "preds"),
    (lambda: scores.consensus(np.array([[0, 1]]), 0), "n_classes"),
    (lambda: scores.bimodality(np.array([])), "scores"),
    (lambda: scores.bimodality(np.ones((2, 2))), "scores"),
    (lambda: scores.learning_speed(np.ones(3)), "consistency_by_epoch"),
    (lambda: scores.learning_speed(np.full((2, 2), 2.0)), "consistency_by_epoch"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_forgetting_events_and_epoch_learned_by_hand():
    # member 0: right, wrong, right, right; member 1: wrong, right, wrong, wrong (example 0);
    # example 1: always right for both
    c = np.array([[[1, 1], [0, 1], [1, 1], [1, 1]],
                  [[0, 1], [1, 1], [0, 1], [0, 1]]], dtype=bool)
    np.testing.assert_allclose(scores.forgetting_events(c), [(1 + 1) / 2, 0])
    epochs = np.array([1, 2, 5, 10])
    # member 0 learns example 0 for good at epoch 5; member 1 is wrong at the end: 10 + 1
    np.testing.assert_allclose(scores.epoch_learned(c, epochs), [(5 + 11) / 2, 1])
    with pytest.raises(ValueError, match="correct"):
        scores.forgetting_events(c.astype(int))
    with pytest.raises(ValueError, match="epochs"):
        scores.epoch_learned(c, epochs[:3])
    with pytest.raises(ValueError, match="correct"):
        scores.epoch_learned(np.zeros((2, 0, 3), bool), np.array([]))


def test_aum_and_data_map_by_hand():
    margin = np.array([[[1.0, -2.0], [3.0, -2.0]], [[-1.0, 0.0], [1.0, 0.0]]])  # (N=2, E=2, M=2)
    np.testing.assert_allclose(scores.aum(margin), [1.0, -1.0])
    p = np.array([[[0.2, 1.0], [0.6, 1.0]], [[0.4, 0.0], [0.4, 0.5]]])
    confidence, variability = scores.data_map(p)
    np.testing.assert_allclose(confidence, [0.4, 0.625])
    np.testing.assert_allclose(variability, [(0.2 + 0.0) / 2, (0.0 + 0.25) / 2])
    with pytest.raises(ValueError, match="p_label"):
        scores.data_map(p + 1)
    with pytest.raises(ValueError, match="margin"):
        scores.aum(margin[0])


def test_learning_speed_weights_uneven_epochs_and_speed_leaves_out_epoch_0():
    c = np.array([[0.0, 1.0], [1.0, 1.0]])          # recorded at epochs 1 and 4
    np.testing.assert_allclose(scores.learning_speed(c), [0.5, 1.0])
    np.testing.assert_allclose(scores.learning_speed(c, np.array([1, 4])), [0.75, 1.0])  # epoch 4 stands for 2-4
    pred = np.array([[[1, 0], [0, 0], [0, 0]], [[1, 1], [0, 1], [0, 0]]])  # (N=2, E=3, M=2), labels 0
    labels = np.array([0, 0])
    np.testing.assert_allclose(scores.speed(pred, labels, np.array([0, 1, 3])), [1.0, (0.5 + 2 * 1.0) / 3])
    with pytest.raises(ValueError, match="epochs"):
        scores.learning_speed(c, np.array([0, 4]))
    with pytest.raises(ValueError, match="training epoch"):
        scores.speed(pred[:, :1], labels, np.array([0]))


def test_holdout_accuracy_counts_only_the_networks_that_did_not_train_on_the_example():
    pred = np.array([[0, 1, 1],
                     [0, 0, 1],
                     [1, 1, 1]])
    labels = np.array([0, 1, 2])
    trained = np.array([[True, False, False],
                        [False, False, True],
                        [True, True, True]])
    # example 0: held out by network 1 (right); example 1: by 0 (right) and 1 (wrong); example 2: by 0 (wrong)
    np.testing.assert_allclose(scores.holdout_accuracy(pred, labels, trained), [1.0, 0.5, 0.0])
    assert np.isnan(scores.holdout_accuracy(pred, labels, np.ones_like(trained)))[0]
    with pytest.raises(ValueError, match="trained"):
        scores.holdout_accuracy(pred, labels, trained.astype(int))
    with pytest.raises(ValueError, match="labels"):
        scores.holdout_accuracy(pred, labels[:2], trained)
    with pytest.raises(ValueError, match="pred"):
        scores.holdout_accuracy(pred.astype(float), labels, trained)
