import numpy as np
import pytest

from equalnets.analysis.compare import match_epochs


def test_match_epochs_pairs_within_tolerance():
    a = np.array([0.2, 0.4, 0.5, 0.6])
    b = np.array([0.21, 0.395, 0.58, 0.7])
    assert match_epochs(a, b, tol=0.01) == [(0, 0), (1, 1)]
    assert (3, 2) in match_epochs(a, b, tol=0.02)


def test_match_epochs_averages_members():
    a = np.array([[0.2, 0.5], [0.4, 0.7]])  # (N=2, E=2): means 0.3, 0.6
    assert match_epochs(a, np.array([0.6]), tol=0.001) == [(1, 0)]


@pytest.mark.parametrize("a, b, tol, name", [
    (np.array([]), np.array([0.5]), 0.01, "acc_a"),
    (np.array([0.5]), np.array([1.5]), 0.01, "acc_b"),
    (np.array([0.5]), np.array([0.5]), -1, "tol"),
])
def test_match_epochs_bad_input(a, b, tol, name):
    with pytest.raises(ValueError, match=name):
        match_epochs(a, b, tol)


from equalnets.analysis import compare
from equalnets.analysis.stats import Correlation


def test_matched_levels_spreads_over_the_accuracy_range():
    a = np.array([0.2, 0.3, 0.5, 0.7, 0.8])
    b = np.array([0.2, 0.29, 0.45, 0.505, 0.6, 0.695, 0.8])
    # the chance-level pair (0, 0) is dropped by min_accuracy; matched: (1, 1), (2, 3), (3, 5), (4, 6)
    assert compare.matched_levels(a, b, n_levels=2, tol=0.01, min_accuracy=0.25) == [(1, 1), (4, 6)]
    assert compare.matched_levels(a, b, n_levels=3, tol=0.01, min_accuracy=0.25) == [(1, 1), (3, 5), (4, 6)]
    assert compare.matched_levels(a, b, n_levels=10, tol=0.01, min_accuracy=0.25) == [(1, 1), (2, 3), (3, 5), (4, 6)]
    assert compare.matched_levels(a, b, n_levels=2, tol=0.01)[0] == (0, 0)
    assert compare.matched_levels(np.array([0.9]), np.array([0.1]), tol=0.01) == []


def test_matched_levels_keeps_the_closest_partner():
    a = np.array([0.5])
    b = np.array([0.509, 0.501, 0.495])
    assert compare.matched_levels(a, b, n_levels=1, tol=0.01) == [(0, 1)]


@pytest.mark.parametrize("kwargs, name", [(dict(n_levels=0), "n_levels"), (dict(min_accuracy=2.0), "min_accuracy"),
                                          (dict(tol=-0.1), "tol")])
def test_matched_levels_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        compare.matched_levels(np.array([0.5]), np.array([0.5]), **kwargs)


def test_joint_histogram_counts_pairs():
    a = np.array([0, 0, 0.5, 1, 1])   # N_a = 2
    b = np.array([0, 0, 1 / 3, 1, 2 / 3])  # N_b = 3
    h = compare.joint_histogram(a, b, 2, 3)
    assert h.shape == (3, 4)
    assert h.sum() == pytest.approx(1)
    assert h[0, 0] == pytest.approx(0.4) and h[1, 1] == pytest.approx(0.2)
    assert h[2, 3] == pytest.approx(0.2) and h[2, 2] == pytest.approx(0.2)


@pytest.mark.parametrize("a, b, n_a, n_b, name", [
    (np.array([0.5]), np.array([0.5, 1]), 2, 2, "scores_b"),
    (np.array([]), np.array([]), 2, 2, "scores_a"),
    (np.array([1.5]), np.array([1.0]), 2, 2, "scores_a"),
    (np.array([0.5]), np.array([0.5]), 0, 2, "n_a"),
    (np.array([0.3]), np.array([0.5]), 2, 2, "multiples"),
])
def test_joint_histogram_bad_input(a, b, n_a, n_b, name):
    with pytest.raises(ValueError, match=name):
        compare.joint_histogram(a, b, n_a, n_b)


def test_agreement_fractions():
    a = np.array([0, 0, 1, 1, 0.5, 0])
    b = np.array([0, 1, 1, 0.9, 0.1, 0.1])
    got = compare.agreement(a, b, near=0.2)
    assert got["both 0"] == pytest.approx(1 / 6) and got["both 1"] == pytest.approx(1 / 6)
    assert got["opposite corners"] == pytest.approx(1 / 6)
    assert got["near diagonal"] == pytest.approx(4 / 6)  # (0,0), (1,1), (1,0.9), (0,0.1)
    with pytest.raises(ValueError, match="near"):
        compare.agreement(a, b, near=-1)


def test_disjoint_halves_use_different_networks():
    labels = np.array([0, 1])
    preds = np.zeros((4, 1, 2), dtype=int)
    preds[:2] = labels  # the first two networks are always right, the other two predict 0
    first, second = compare.disjoint_halves(preds, labels)
    np.testing.assert_array_equal(first, [[1.0, 1.0]])
    np.testing.assert_array_equal(second, [[1.0, 0.0]])
    with pytest.raises(ValueError, match="preds"):
        compare.disjoint_halves(preds[:1], labels)


def test_speed_correlation_skips_the_untrained_epoch_and_allows_different_epoch_counts():
    rng = np.random.default_rng(0)
    speed = rng.uniform(size=200)
    ca = np.stack([rng.uniform(size=200), speed, speed])            # epoch 0 is noise
    cb = np.stack([rng.uniform(size=200), speed ** 2, speed, speed])
    got = compare.speed_correlation(ca, cb, n_boot=50)
    assert isinstance(got, Correlation) and got.n == 200
    assert got.r > 0.95 and got.low > 0.9 and got.p < 1e-50
    assert compare.speed_correlation(ca, cb, first_epoch=0, n_boot=50).r < got.r


@pytest.mark.parametrize("ca, cb, kwargs, name", [
    (np.ones((2, 3)), np.ones(3), {}, "consistency_b"),
    (np.ones((2, 3)), np.ones((2, 4)), {}, "same M"),
    (np.ones((2, 3)), np.ones((2, 3)), dict(first_epoch=2), "first_epoch"),
])
def test_speed_correlation_bad_input(ca, cb, kwargs, name):
    with pytest.raises(ValueError, match=name):
        compare.speed_correlation(ca, cb, **kwargs)


def test_permute_within_class_keeps_every_class_s_values():
    labels = np.arange(30) % 3
    values = np.vstack([np.arange(30.0), -np.arange(30.0)])
    shuffled = compare.permute_within_class(values, labels, seed=1)
    assert not np.array_equal(shuffled, values)
    for cls in range(3):
        np.testing.assert_array_equal(np.sort(shuffled[0, labels == cls]), values[0, labels == cls])
    np.testing.assert_array_equal(shuffled[1], -shuffled[0])    # one permutation for every row
    with pytest.raises(ValueError, match="labels"):
        compare.permute_within_class(values, labels[:10])


def test_pairing_null_r_keeps_what_the_classes_explain():
    labels = np.arange(300) % 3
    rng = np.random.default_rng(0)
    x = labels + rng.normal(0, 1, 300)          # a class effect and an order within each class
    null = compare.pairing_null_r(x, x, labels, n_perm=50)
    assert null.shape == (50,) and 0.3 < null.mean() < 0.6 < np.corrcoef(x, x)[0, 1]
    assert np.isnan(compare.pairing_null_r(np.zeros(5), np.arange(5.0), np.zeros(5, int), n_perm=3)).all()
    with pytest.raises(ValueError, match="n_perm"):
        compare.pairing_null_r(x, x, labels, n_perm=0)


def test_pairing_quantile_r_is_the_quantile_of_the_random_pairings():
    labels = np.arange(300) % 3
    x = labels + np.random.default_rng(1).normal(0, 1, 300)
    null = compare.pairing_null_r(x, x, labels, n_perm=50, seed=4)
    assert compare.pairing_quantile_r(x, x, labels, q=0.99, n_perm=50, seed=4) == pytest.approx(np.quantile(null, 0.99))
    assert np.isnan(compare.pairing_quantile_r(np.zeros(5), np.arange(5.0), np.zeros(5, int), q=0.99, n_perm=3))
