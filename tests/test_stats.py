"""Tests of equalnets.analysis.stats: hand-checkable cases and bad input."""

import numpy as np
import pytest

from equalnets.analysis import stats


def test_bootstrap_correlation_perfect_and_anti():
    x = np.arange(10.0)
    c = stats.bootstrap_correlation(x, 2 * x + 1, n_boot=200)
    assert c.r == pytest.approx(1.0) and c.low == pytest.approx(1.0) and c.high == pytest.approx(1.0)
    assert c.n == 10 and c.p < 1e-6 and "r = 1.00" in c.describe()
    assert stats.bootstrap_correlation(x, -x, n_boot=50).high == pytest.approx(-1.0)


def test_bootstrap_correlation_ci_contains_r_and_is_reproducible():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    a = stats.bootstrap_correlation(x, y, seed=3)
    b = stats.bootstrap_correlation(x, y, seed=3)
    assert a == b and a.low < a.r < a.high and 0.5 < a.r < 0.9


def test_bootstrap_correlation_of_a_constant_is_undefined():
    c = stats.bootstrap_correlation(np.zeros(5), np.arange(5.0))
    assert c.n == 5 and all(np.isnan(v) for v in (c.r, c.p, c.low, c.high))


@pytest.mark.parametrize("kwargs, match", [(dict(x=np.arange(5.0), y=np.arange(4.0)), "same length"),
                                           (dict(x=np.arange(5.0), y=np.arange(5.0), n_boot=0), "n_boot"),
                                           (dict(x=np.arange(5.0), y=np.arange(5.0), confidence=1.5), "confidence")])
def test_bootstrap_correlation_bad_input(kwargs, match):
    x, y = kwargs.pop("x"), kwargs.pop("y")
    with pytest.raises(ValueError, match=match):
        stats.bootstrap_correlation(x, y, **kwargs)


def test_group_accuracy_by_hand():
    correct = np.array([[1, 1, 0, 0, 1, 0], [1, 0, 1, 0, 1, 1]], dtype=bool)
    groups = np.array([0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(stats.group_accuracy(correct, groups), [[1, 0, 0.5], [0.5, 0.5, 1]])
    assert np.isnan(stats.group_accuracy(correct[0], np.array([0, 0, 0, 0, 2, 2]))[1])
    with pytest.raises(ValueError, match="groups"):
        stats.group_accuracy(correct, groups[:5])


def test_accuracy_given_reference_by_hand():
    correct = np.array([True, True, False, True, False])
    reference = np.array([True, False, False, True, True])
    assert stats.accuracy_given_reference(correct, reference) == pytest.approx((2 / 3, 0.5))
    right, wrong = stats.accuracy_given_reference(correct, np.zeros(5, bool))
    assert np.isnan(right) and wrong == pytest.approx(0.6)
    with pytest.raises(ValueError, match="reference_correct"):
        stats.accuracy_given_reference(correct, reference.astype(int))




def test_binomial_halfwidth():
    assert stats.binomial_halfwidth(np.array([0.5]), 100)[0] == pytest.approx(1.96 * 0.05)
    assert stats.binomial_halfwidth(np.array([0.0]), 100)[0] == pytest.approx(1.96 * 0.05 / 2)  # the floor
    with pytest.raises(ValueError, match="k"):
        stats.binomial_halfwidth(np.array([0.5]), 0)


def test_given_reference_against_independent_errors():
    reference = np.arange(100) < 50
    contained = stats.given_reference(np.arange(100) < 40, reference)        # right only where the reference is
    assert (contained.right, contained.wrong, contained.base) == (0.8, 0.0, 0.4)
    assert (contained.n_right, contained.n_wrong) == (50, 50) and contained.p < 1e-10
    assert contained.lift == pytest.approx((0.8 - 0.4) / 0.6)
    unrelated = stats.given_reference(np.arange(100) % 2 == 0, reference)    # half right on either set
    assert unrelated.right == unrelated.wrong == unrelated.base == 0.5 and unrelated.p > 0.5 and unrelated.lift == 0
    empty = stats.given_reference(np.ones(4, bool), np.zeros(4, bool))
    assert np.isnan(empty.right) and np.isnan(empty.p) and np.isnan(empty.lift)
    with pytest.raises(ValueError, match="reference_correct"):
        stats.given_reference(np.ones(4, bool), np.ones(3, bool))


def test_bootstrap_interval_of_a_paired_statistic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 400))
    low, high = stats.bootstrap_interval(lambda a, b: float(a.mean() - b.mean()), (x + 1, x), n_boot=200)
    assert low == pytest.approx(1.0) and high == pytest.approx(1.0)   # paired: the same examples for both
    low, high = stats.bootstrap_interval(lambda a: float(a.mean()), (x[0],), n_boot=200, seed=1)
    assert low < x[0].mean() < high and high - low < 0.3
    assert np.isnan(stats.bootstrap_interval(lambda a: float("nan"), (x[0],), n_boot=5)[0])
    for kwargs, match in ((dict(samples=(x[0], x[0, :10])), "samples"), (dict(samples=(x[0],), n_boot=0), "n_boot")):
        with pytest.raises(ValueError, match=match):
            stats.bootstrap_interval(lambda a, *b: 0.0, **kwargs)
