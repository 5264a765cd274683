"""Tests of equalnets.trajectories on hand-computed cases and bad input."""

import numpy as np
import pytest

from equalnets.analysis import trajectories as tj


def test_majority_label_hand_computed():
    # 3 networks, 2 epochs, 3 examples
    preds = np.array([[[0, 1, 2], [1, 1, 0]],
                      [[0, 2, 2], [1, 0, 0]],
                      [[1, 2, 0], [2, 2, 1]]])
    # epoch 0: votes (0,0,1) -> 0; (1,2,2) -> 2; (2,2,0) -> 2
    # epoch 1: (1,1,2) -> 1; (1,0,2) tie -> 0 (smallest); (0,0,1) -> 0
    np.testing.assert_array_equal(tj.majority_label(preds, 3), [[0, 2, 2], [1, 0, 0]])
    np.testing.assert_array_equal(tj.majority_label(preds[:, 0], 3), [0, 2, 2])


@pytest.mark.parametrize("preds, n_classes, match", [
    (np.zeros((3,), dtype=int), 2, "preds"),
    (np.zeros((2, 3)), 2, "preds"),
    (np.full((2, 3), 2), 2, "preds"),
    (np.zeros((2, 3), dtype=int), 0, "n_classes"),
    (np.zeros((2, 3), dtype=int), True, "n_classes"),
])
def test_majority_label_bad_input(preds, n_classes, match):
    with pytest.raises(ValueError, match=match):
        tj.majority_label(preds, n_classes)


def test_stacked_counts_hand_computed():
    scores = np.array([0.0, 0.0, 0.5, 1.0])  # N = 2: values 0, 1/2, 1
    groups = np.array([1, 0, 1, 1])
    expected = np.array([[0.25, 0.25], [0.0, 0.25], [0.0, 0.25]])
    np.testing.assert_allclose(tj.stacked_counts(scores, groups, 2, 2), expected)


@pytest.mark.parametrize("kwargs, match", [
    (dict(scores=np.array([0.0, 1.5]), groups=np.array([0, 0])), "scores"),
    (dict(scores=np.array([0.0, 1.0]), groups=np.array([0])), "groups"),
    (dict(scores=np.array([0.0, 1.0]), groups=np.array([0, 2])), "groups"),
    (dict(scores=np.array([0.0, 1.0]), groups=np.array([0, 1]), n_models=0), "n_models"),
])
def test_stacked_counts_bad_input(kwargs, match):
    args = dict(n_models=2, n_groups=2) | kwargs
    with pytest.raises(ValueError, match=match):
        tj.stacked_counts(**args)


def test_epochs_at_fractions():
    epochs = np.arange(26)
    # 0, first trained (1), nearest 2.5 (2: first of the tie), 6.25 -> 6, 12.5 -> 12, 25
    assert tj.epochs_at_fractions(epochs) == [0, 1, 2, 6, 12, 25]
    assert tj.epochs_at_fractions([0, 1, 2]) == [0, 1, 2]
    assert tj.epochs_at_fractions([0, 10, 20], (1.0,), first_trained=False) == [2]
    with pytest.raises(ValueError, match="epochs"):
        tj.epochs_at_fractions([1, 2, 3])
    with pytest.raises(ValueError, match="fractions"):
        tj.epochs_at_fractions([0, 1], (1.5,))


@pytest.mark.parametrize("trajectory, name", [
    ([0.2, 1.0, 1.0, 1.0], "learnt at once"),
    ([0.2, 0.3, 0.3, 0.6, 1.0, 1.0, 1.0], "learnt at once"),       # late, but one step from 0.6 to 1
    ([0.2, 0.0, 0.1, 0.9, 1.0], "dip then rise"),
    ([0.2, 0.15, 0.3, 0.9, 1.0], "learnt at once"),                # 0.15 is no dip: it never gets near 0
    ([0.2] + [0.3] * 10 + [0.5, 0.7, 0.8] + [1.0] * 5, "learnt gradually"),  # a climb, no dip
    ([0.2, 0.1, 0.0, 0.0], "never learnt"),
    ([0.2, 0.3, 0.4, 0.3, 0.3], "unsettled"),                      # never learnt, but never near 0 either
    ([0.2, 0.9, 1.0, 0.3, 0.0], "learnt then forgotten"),
    ([0.2, 0.6, 0.6, 0.4], "unsettled"),
    ([0.2, 1.0, 0.8, 0.8, 0.7, 0.8], "unsettled"),                 # learnt, but settles below 0.9
])
def test_name_behaviour(trajectory, name):
    assert tj.name_behaviour(np.array(trajectory)) == name


def test_name_behaviour_bad_input():
    with pytest.raises(ValueError, match="trajectory"):
        tj.name_behaviour(np.array([0.5]))
    with pytest.raises(ValueError, match="trajectory"):
        tj.name_behaviour(np.array([0.2, 1.2]))
    with pytest.raises(ValueError, match="consistency_by_epoch"):
        tj.name_behaviours(np.zeros(3))


def test_first_learnt_and_class_learnt_epochs():
    assert tj.first_learnt(np.array([0.9, 0.2, 0.5])) == 2  # epoch 0 does not count
    assert tj.first_learnt(np.array([0.9, 0.2])) is None
    cons = np.array([[0.2, 0.2, 0.2, 0.2],
                     [1.0, 0.8, 0.0, 0.2],
                     [1.0, 1.0, 0.4, 0.7]])  # (E=3, M=4)
    labels = np.array([0, 0, 1, 1])          # class 0 learnt at 1; class 1 mean 0.1, 0.55 -> 2
    assert tj.class_learnt_epochs(cons, labels, 3) == [1, 2, None]
    with pytest.raises(ValueError, match="labels"):
        tj.class_learnt_epochs(cons, labels[:3], 2)


def test_cluster_trajectories_separates_patterns():
    rng = np.random.default_rng(0)
    at_once = np.array([0.2, 1.0, 1.0, 1.0, 1.0, 1.0])
    never = np.array([0.2, 0.0, 0.0, 0.0, 0.0, 0.0])
    late = np.array([0.2, 0.0, 0.0, 0.0, 1.0, 1.0])
    traj = np.stack([at_once] * 20 + [never] * 10 + [late] * 5, axis=1)  # (E=6, M=35)
    traj = np.clip(traj + rng.uniform(-0.02, 0.02, traj.shape), 0, 1)
    clusters = tj.cluster_trajectories(traj, 3, random_state=0)
    # ordered from the earliest learnt: at once, late, never
    assert clusters.names == ("learnt at once", "dip then rise", "never learnt")
    np.testing.assert_array_equal(clusters.sizes, [20, 5, 10])
    np.testing.assert_array_equal(clusters.labels[:20], 0)
    assert clusters.labels[clusters.representatives[2]] == 2 and 20 <= clusters.representatives[2] < 30
    assert clusters.fraction("never learnt") == pytest.approx(10 / 35)
    with pytest.raises(ValueError, match="name"):
        clusters.fraction("sometimes")


def test_cluster_trajectories_bad_input():
    with pytest.raises(ValueError, match="k"):
        tj.cluster_trajectories(np.zeros((3, 4)), 5)
    with pytest.raises(ValueError, match="consistency_by_epoch"):
        tj.cluster_trajectories(np.full((3, 4), 2.0), 2)
    with pytest.raises(ValueError, match="recorded epochs"):
        tj.cluster_trajectories(np.zeros((1, 4)), 2)


def test_settled_is_the_mean_over_the_last_quarter():
    assert tj.settled(np.array([0.2, 0.0, 1.0, 1.0, 0.8])) == pytest.approx(0.8)     # last 1 of 4 trained
    assert tj.settled(np.array([0.2] + [0.0] * 4 + [1.0, 0.8] * 2)) == pytest.approx(0.9)  # last 2 of 8
    with pytest.raises(ValueError, match="2 recorded epochs"):
        tj.settled(np.array([0.5]))


def test_transit_times_from_the_last_zero_to_the_first_one():
    cons = np.array([[0.0, 0.0, 0.2, 1.0, 0.5],
                     [0.0, 0.5, 0.0, 1.0, 0.5],
                     [1.0, 0.5, 0.0, 0.0, 0.5],
                     [1.0, 1.0, 1.0, 0.0, 0.5]])   # (E=4, M=5)
    epochs = np.array([1, 2, 4, 8])
    out = tj.transit_times(cons, epochs)
    # ex 0: 0 at 1-2, 1 at 4 -> 4-2; ex 1: 0 at 1, 1 at 8 -> 7; ex 2: 0 at 2-4, 1 at 8 -> 4; ex 3: 1 then 0: none
    np.testing.assert_allclose(out, [2, 7, 4, np.nan, np.nan])
    with pytest.raises(ValueError, match="epochs"):
        tj.transit_times(cons, epochs[::-1])


def test_time_at_zero_weighs_each_recorded_epoch_by_the_epochs_it_stands_for():
    cons = np.array([[0.2, 0.0], [0.0, 0.0], [0.0, 1.0]])   # epochs 0, 1, 5
    np.testing.assert_allclose(tj.time_at_zero(cons, np.diff([0, 0, 1, 5], prepend=0)[1:]), [5, 1])
    np.testing.assert_allclose(tj.time_at_zero(cons, np.array([0, 1, 0])), [1, 1])   # epoch 5 left out
    with pytest.raises(ValueError, match="weights"):
        tj.time_at_zero(cons, np.array([1, 1]))


def test_effective_labels():
    assert tj.effective_labels(np.array([0, 1, 2, 3]), 5) == pytest.approx(4)
    assert tj.effective_labels(np.array([2, 2, 2]), 5) == pytest.approx(1)
    assert 1 < tj.effective_labels(np.array([0, 0, 0, 1]), 2) < 2
    assert np.isnan(tj.effective_labels(np.array([], dtype=int), 2))
    with pytest.raises(ValueError, match="labels"):
        tj.effective_labels(np.array([0, 5]), 5)
