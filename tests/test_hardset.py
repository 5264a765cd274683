import numpy as np
import pytest

from equalnets.hardset import (bimodality_summary, class_shares, collapsed_epochs, ensemble_rescorer, top_label_share, iterative_hard_subset, removal_counts,
                               subset_config)


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


def test_ensemble_rescorer_trains_on_the_rows(tiny_config):
    rows = np.arange(0, 100, 2)
    config = subset_config(tiny_config, rows)
    assert config.train_subset == tuple(range(0, 100, 2)) and config.key != tiny_config.key
    logged = []
    rescore = ensemble_rescorer(tiny_config, log=logged.append)
    score = rescore(rows)
    assert score.shape == (50,) and ((score >= 0) & (score <= 1)).all()
    assert "rescored 50 rows" in logged[0]
    # the run is stored: a second call loads it and gives the same scores
    np.testing.assert_array_equal(rescore(rows), score)


def test_top_label_share_and_collapsed_epochs():
    one_class = np.zeros((2, 10), dtype=int)
    spread = np.tile(np.arange(5), (2, 2))
    assert top_label_share(one_class, 5).tolist() == [1.0, 1.0]
    assert top_label_share(spread, 5).tolist() == [0.2, 0.2]
    preds = np.stack([one_class, spread, spread], axis=1)        # (N=2, E=3, M=10)
    assert top_label_share(preds, 5).shape == (2, 3)
    assert collapsed_epochs(preds, 5).tolist() == [True, False, False]
    half = spread.copy(); half[0, :6] = 0                          # one network gives 6 of 10 one label
    assert collapsed_epochs(np.stack([half], axis=1), 5).tolist() == [False]   # mean 0.4 <= 0.5
    assert collapsed_epochs(np.stack([half], axis=1), 5, share=0.3).tolist() == [True]


def test_collapse_bad_input():
    with pytest.raises(ValueError, match="preds must be a non-empty"):
        top_label_share(np.zeros((0, 3), dtype=int), 5)
    with pytest.raises(ValueError, match="n_classes"):
        top_label_share(np.zeros((2, 3), dtype=int), 0)
    with pytest.raises(ValueError, match=r"\[0, n_classes=2\)"):
        top_label_share(np.full((2, 3), 2), 2)
    with pytest.raises(ValueError, match="integer labels"):
        top_label_share(np.zeros((2, 3)), 2)
    with pytest.raises(ValueError, match=r"\(N, E, M\)"):
        collapsed_epochs(np.zeros((2, 3), dtype=int), 2)
    with pytest.raises(ValueError, match="share"):
        collapsed_epochs(np.zeros((2, 2, 3), dtype=int), 2, share=1.0)


def test_bimodality_summary_leaves_out_collapsed_epochs():
    rng = np.random.default_rng(0)
    bell = rng.binomial(10, 0.5, size=200) / 10           # Pearson ~1.8
    two_point = np.repeat([0.0, 1.0], 100)                # Pearson 0, bi-modal by the rule
    cons = np.stack([bell, two_point, bell])
    epochs = np.array([0, 1, 2])
    summary = bimodality_summary(cons, epochs, np.array([False, True, False]))
    assert summary.n_bimodal(exclude_collapsed=False) == 1 and summary.n_bimodal() == 0
    assert summary.min_pearson(exclude_collapsed=False) < 0.01 and summary.min_pearson() > 1.5
    with pytest.raises(ValueError, match="collapsed must have shape"):
        bimodality_summary(cons, epochs, np.array([False, True]))
    assert np.isnan(bimodality_summary(cons, epochs, np.array([False, True, True])).min_pearson())
