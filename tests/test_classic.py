"""Tests of equalnets.methods.classic: hand-checkable cases and bad input."""

import numpy as np
import pytest

from equalnets.methods import classic


@pytest.fixture
def blobs():
    """Three well-separated Gaussian blobs in 5 dimensions: 30 train and 15 test images per class."""
    rng = np.random.default_rng(0)
    centres = np.eye(3, 5) * 6

    def draw(n):
        y = np.repeat(np.arange(3), n)
        return centres[y] + rng.normal(size=(len(y), 5)), y

    return (*draw(30), *draw(15))


def test_zoo_fits_separable_blobs(blobs):
    x_train, y_train, x_test, y_test = blobs
    preds = classic.fit_predict_zoo(x_train, y_train, x_test)
    assert list(preds) == list(classic.CLASSIFIERS)
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
