import numpy as np
import pytest

from equalnets.analysis.subsets import (by_difficulty, by_difficulty_within, class_shares, complement,
                                       difficulty_groups, holdout_subsets, iterative_hard_subset, removal_counts)


def test_easiest_and_hardest_pick_the_extremes():
    score = np.array([0.1, 0.9, 0.5, 1.0, 0.0, 0.7, 0.3, 0.2, 0.8, 0.6])
    assert by_difficulty(score, 0.2, "easiest").tolist() == [1, 3]
    assert by_difficulty(score, 0.2, "hardest").tolist() == [0, 4]
    rand = by_difficulty(score, 0.5, "random", seed=1)
    assert len(rand) == 5 and len(set(rand)) == 5
    assert by_difficulty(score, 0.5, "random", seed=1).tolist() == rand.tolist()


def test_ties_are_broken_at_random_not_by_position():
    score = np.ones(1000)
    picked = by_difficulty(score, 0.1, "easiest", seed=0)
    assert picked.max() > 500  # with positional tie-breaking every pick would be < 100


def test_complement_and_bad_input():
    assert complement(5, np.array([1, 3])).tolist() == [0, 2, 4]
    with pytest.raises(ValueError, match="rows must lie"):
        complement(3, np.array([3]))
    for args, match in [((np.ones((2, 2)), 0.1, "easiest"), "1-D"), ((np.array([np.nan]), 0.1, "easiest"), "NaN"),
                        ((np.ones(4), 0.0, "easiest"), "fraction"), ((np.ones(4), 1.5, "easiest"), "fraction"),
                        ((np.ones(4), 0.5, "middle"), "which")]:
        with pytest.raises(ValueError, match=match):
            by_difficulty(*args)


def test_difficulty_groups_thirds_by_decreasing_speed():
    speed = np.array([0.1, 0.9, 0.5, 0.8, 0.2, 0.6])
    assert difficulty_groups(speed).tolist() == [2, 0, 1, 0, 2, 1]


def test_difficulty_groups_ties_keep_order_and_sizes_differ_by_one():
    groups = difficulty_groups(np.zeros(7))
    assert groups.tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert difficulty_groups(np.arange(5.0), n_groups=1).tolist() == [0] * 5


@pytest.mark.parametrize("speed, n_groups, match", [(np.zeros((2, 2)), 3, "speed"), (np.array([0.1, np.nan, 0.2]), 3, "speed"),
                                                    (np.zeros(2), 3, "n_groups"), (np.zeros(4), 0, "n_groups"),
                                                    (np.zeros(4), True, "n_groups")])
def test_difficulty_groups_bad_input(speed, n_groups, match):
    with pytest.raises(ValueError, match=match):
        difficulty_groups(speed, n_groups)


def test_by_difficulty_within_takes_the_same_share_of_every_class():
    labels = np.repeat([0, 1], 100)
    score = np.concatenate([np.full(100, 0.9), np.full(100, 0.1)]) + np.tile(np.linspace(0, 0.01, 100), 2)
    whole = by_difficulty_within(score, np.zeros(200, dtype=int), 0.1, "easiest")
    assert set(labels[whole]) == {0}                        # over the whole set: one class only
    rows = by_difficulty_within(score, labels, 0.1, "easiest")
    assert np.bincount(labels[rows]).tolist() == [10, 10]
    assert rows.tolist() == list(range(90, 100)) + list(range(190, 200))   # the easiest inside each class
    with pytest.raises(ValueError, match="groups must have the shape"):
        by_difficulty_within(score, labels[:5], 0.1, "easiest")


def test_removal_counts_reach_the_target():
    assert removal_counts(100, 0.02, 0.2) == [2] * 40
    assert sum(removal_counts(2500, 0.02, 0.2)) == 2000
    assert removal_counts(10, 0.3, 0.2) == [3, 3, 2]  # the last iteration removes only what is left
    assert removal_counts(10, 0.01, 0.5) == [1] * 5    # at least one row per iteration


@pytest.mark.parametrize("args, match", [((0, 0.02, 0.2), "n must"), ((10, 0.0, 0.2), "step"),
                                         ((10, 0.02, 1.0), "keep"), ((10, True, 0.2), "step")])
def test_removal_counts_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        removal_counts(*args)


def test_fixed_score_keeps_the_hardest():
    score = np.random.default_rng(0).permutation(100).astype(float)  # distinct: no ties
    hard = iterative_hard_subset(score, step=0.02, keep=0.2)
    assert hard.iterations == 40 and hard.rescored_at == (0,)
    assert hard.rows.tolist() == sorted(np.argsort(score)[:20].tolist())
    assert len(hard.kept_after(0)) == 100 and len(hard.kept_after(10)) == 80
    assert hard.kept_after(40).tolist() == hard.rows.tolist()
    removed = np.concatenate(hard.removed)
    assert len(np.unique(removed)) == 80 and not set(removed) & set(hard.rows)
    # each iteration removes easier rows than the next one (the score is fixed)
    assert all(score[a].min() > score[b].max() for a, b in zip(hard.removed, hard.removed[1:]))


def test_rescoring_changes_what_is_kept():
    score = np.arange(20, dtype=float)  # row 19 easiest under the initial score
    calls = []

    def rescore(rows):
        calls.append(rows.copy())
        return -rows.astype(float)  # after rescoring, low row numbers are the easiest

    hard = iterative_hard_subset(score, step=0.1, keep=0.5, rescore=rescore, rescore_every=2)
    assert hard.rescored_at == (0, 2, 4)
    assert [len(c) for c in calls] == [16, 12]
    assert sorted(np.concatenate(hard.removed[:2]).tolist()) == [16, 17, 18, 19]  # the initial easiest
    assert sorted(hard.removed[2].tolist()) == [0, 1]   # the rescored easiest
    assert hard.rows.tolist() == [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    # without rescoring the same call keeps the lowest initial scores
    assert iterative_hard_subset(score, step=0.1, keep=0.5).rows.tolist() == list(range(10))


def test_iterative_hard_subset_bad_input():
    with pytest.raises(ValueError, match="score must be"):
        iterative_hard_subset(np.ones((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        iterative_hard_subset(np.array([1.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="rescore function"):
        iterative_hard_subset(np.arange(10.0), rescore_every=2)
    with pytest.raises(ValueError, match="rescore_every"):
        iterative_hard_subset(np.arange(10.0), rescore_every=-1)
    with pytest.raises(ValueError, match="one per kept row"):
        iterative_hard_subset(np.arange(10.0), step=0.1, keep=0.5, rescore=lambda rows: np.ones(3), rescore_every=1)
    hard = iterative_hard_subset(np.arange(10.0), step=0.1, keep=0.5)
    with pytest.raises(ValueError, match="iteration"):
        hard.kept_after(6)


def test_class_shares():
    labels = np.array([0, 0, 1, 2, 2, 2])
    assert class_shares(labels, np.array([0, 3, 4, 5]), 3).tolist() == [0.25, 0.0, 0.75]
    with pytest.raises(ValueError, match="empty"):
        class_shares(labels, np.array([], dtype=int), 3)
    with pytest.raises(ValueError, match="rows must lie"):
        class_shares(labels, np.array([6]), 3)
    with pytest.raises(ValueError, match="labels must lie"):
        class_shares(labels, np.array([0]), 2)


@pytest.mark.parametrize("ratio, n_subsets, held", [(0.75, 4, 1), (0.25, 4, 3), (0.5, 2, 1), (0.4, 5, 3)])
def test_holdout_subsets_hold_every_row_out_equally_often(ratio, n_subsets, held):
    labels = np.repeat(np.arange(5), 40)
    subsets = holdout_subsets(labels, ratio, n_subsets, seed=3)
    assert len(subsets) == n_subsets
    counts = np.zeros(len(labels), int)
    for rows in subsets:
        assert (np.diff(rows) > 0).all()
        assert np.bincount(labels[rows], minlength=5).tolist() == [round(40 * ratio)] * 5  # ratio of every class
        counts += ~np.isin(np.arange(len(labels)), rows)
    assert (counts == held).all()
    assert [r.tolist() for r in holdout_subsets(labels, ratio, n_subsets, seed=3)] == [r.tolist() for r in subsets]
    if n_subsets == 2:
        assert not set(subsets[0]) & set(subsets[1])


@pytest.mark.parametrize("ratio, n_subsets, match", [(0.3, 4, "multiple of 1/n_subsets"), (1.0, 4, "ratio"),
                                                     (0.5, 1, "n_subsets")])
def test_holdout_subsets_bad_input(ratio, n_subsets, match):
    with pytest.raises(ValueError, match=match):
        holdout_subsets(np.arange(20) % 2, ratio, n_subsets)
