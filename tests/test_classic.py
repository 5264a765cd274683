"""Tests of equalnets.classic: hand-checkable cases and bad input."""

import numpy as np
import pytest

from equalnets import classic


@pytest.fixture
def blobs():
    """Three well-separated Gaussian blobs in 5 dimensions: 30 train and 15 test images per class."""
    rng = np.random.default_rng(0)
    centres = np.eye(3, 5) * 6

    def draw(n):
        y = np.repeat(np.arange(3), n)
        return centres[y] + rng.normal(size=(len(y), 5)), y

    return (*draw(30), *draw(15))


def test_difficulty_groups_thirds_by_decreasing_speed():
    speed = np.array([0.1, 0.9, 0.5, 0.8, 0.2, 0.6])
    assert classic.difficulty_groups(speed).tolist() == [2, 0, 1, 0, 2, 1]


def test_difficulty_groups_ties_keep_order_and_sizes_differ_by_one():
    groups = classic.difficulty_groups(np.zeros(7))
    assert groups.tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert classic.difficulty_groups(np.arange(5.0), n_groups=1).tolist() == [0] * 5


@pytest.mark.parametrize("speed, n_groups, match", [(np.zeros((2, 2)), 3, "speed"), (np.array([0.1, np.nan, 0.2]), 3, "speed"),
                                                    (np.zeros(2), 3, "n_groups"), (np.zeros(4), 0, "n_groups"),
                                                    (np.zeros(4), True, "n_groups")])
def test_difficulty_groups_bad_input(speed, n_groups, match):
    with pytest.raises(ValueError, match=match):
        classic.difficulty_groups(speed, n_groups)


def test_bootstrap_correlation_perfect_and_anti():
    x = np.arange(10.0)
    c = classic.bootstrap_correlation(x, 2 * x + 1, n_boot=200)
    assert c.r == pytest.approx(1.0) and c.low == pytest.approx(1.0) and c.high == pytest.approx(1.0)
    assert c.n == 10 and c.p < 1e-6 and "r = 1.00" in c.describe()
    assert classic.bootstrap_correlation(x, -x, n_boot=50).high == pytest.approx(-1.0)


def test_bootstrap_correlation_ci_contains_r_and_is_reproducible():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    a = classic.bootstrap_correlation(x, y, seed=3)
    b = classic.bootstrap_correlation(x, y, seed=3)
    assert a == b and a.low < a.r < a.high and 0.5 < a.r < 0.9


@pytest.mark.parametrize("kwargs, match", [(dict(x=np.zeros(5), y=np.arange(5.0)), "constant"),
                                           (dict(x=np.arange(5.0), y=np.arange(4.0)), "same length"),
                                           (dict(x=np.arange(5.0), y=np.arange(5.0), n_boot=0), "n_boot"),
                                           (dict(x=np.arange(5.0), y=np.arange(5.0), confidence=1.5), "confidence")])
def test_bootstrap_correlation_bad_input(kwargs, match):
    x, y = kwargs.pop("x"), kwargs.pop("y")
    with pytest.raises(ValueError, match=match):
        classic.bootstrap_correlation(x, y, **kwargs)


def test_group_accuracy_by_hand():
    correct = np.array([[1, 1, 0, 0, 1, 0], [1, 0, 1, 0, 1, 1]], dtype=bool)
    groups = np.array([0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(classic.group_accuracy(correct, groups), [[1, 0, 0.5], [0.5, 0.5, 1]])
    assert np.isnan(classic.group_accuracy(correct[0], np.array([0, 0, 0, 0, 2, 2]))[1])
    with pytest.raises(ValueError, match="groups"):
        classic.group_accuracy(correct, groups[:5])


def test_accuracy_given_reference_by_hand():
    correct = np.array([True, True, False, True, False])
    reference = np.array([True, False, False, True, True])
    assert classic.accuracy_given_reference(correct, reference) == pytest.approx((2 / 3, 0.5))
    right, wrong = classic.accuracy_given_reference(correct, np.zeros(5, bool))
    assert np.isnan(right) and wrong == pytest.approx(0.6)
    with pytest.raises(ValueError, match="reference_correct"):
        classic.accuracy_given_reference(correct, reference.astype(int))


def test_zoo_fits_separable_blobs(blobs):
    x_train, y_train, x_test, y_test = blobs
    preds = classic.fit_predict_zoo(x_train, y_train, x_test)
    assert list(preds) == list(classic.ZOO)
    for name, p in preds.items():
        assert p.shape == y_test.shape and (p == y_test).mean() > 0.9, name
    assert list(classic.fit_predict_zoo(x_train, y_train, x_test, names=["k-NN"])) == ["k-NN"]


def test_zoo_bad_input(blobs):
    x_train, y_train, x_test, _ = blobs
    with pytest.raises(ValueError, match="names"):
        classic.fit_predict_zoo(x_train, y_train, x_test, names=["SVM"])
    with pytest.raises(ValueError, match="y_train"):
        classic.fit_predict_zoo(x_train, y_train[:-1], x_test)
    with pytest.raises(ValueError, match="x_test"):
        classic.fit_predict_zoo(x_train, y_train, x_test[:, :3])
    with pytest.raises(ValueError, match="x_train"):
        classic.fit_predict_zoo(x_train.ravel(), y_train, x_test)


def test_adaboost_by_k_shape_and_accuracy(blobs):
    x_train, y_train, x_test, y_test = blobs
    staged = classic.adaboost_by_k(x_train, y_train, x_test, max_k=7, alpha=1.0)
    assert staged.shape == (7, len(y_test))
    assert (staged[-1] == y_test).mean() > 0.9
    # a perfect first learner stops SAMME early: the later rows repeat the final ensemble
    np.testing.assert_array_equal(staged[-1], staged[-2])


def test_adaboost_by_k_bad_input(blobs):
    x_train, y_train, x_test, _ = blobs
    with pytest.raises(ValueError, match="max_k"):
        classic.adaboost_by_k(x_train, y_train, x_test, max_k=0)
    with pytest.raises(ValueError, match="alpha"):
        classic.adaboost_by_k(x_train, y_train, x_test, max_k=3, alpha=-1.0)
    with pytest.raises(ValueError, match="y_train"):
        classic.adaboost_by_k(x_train, y_train.astype(float), x_test, max_k=3)
