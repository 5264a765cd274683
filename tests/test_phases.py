import numpy as np
import pytest

from equalnets.analysis.phases import (split_phases, bimodality_summary, collapsed_epochs, find_phases, is_bimodal,
                                      null_pearson_by_epoch, onset, pearson_by_epoch, top_label_share)


def synthetic_trajectory() -> np.ndarray:
    """Consistency of 1,000 examples over 6 epochs: chance, beginning, bi-modal ×3, end."""
    rng = np.random.default_rng(0)
    m = 1000
    chance = rng.binomial(10, 0.2, m) / 10
    beginning = np.where(rng.uniform(size=m) < 0.8, 0.0, rng.uniform(0, 0.5, m).round(1))
    bimodal = [np.where(rng.uniform(size=m) < f, 1.0, 0.0) for f in (0.3, 0.5, 0.7)]
    end = np.where(rng.uniform(size=m) < 0.97, 1.0, 0.9)
    return np.stack([chance, beginning, *bimodal, end])


def test_phases_found_by_rule():
    phases = find_phases(synthetic_trajectory(), np.arange(6))
    assert phases.labels == ("initialisation", "beginning of learning", "bi-modality", "bi-modality",
                             "bi-modality", "end of learning")
    assert phases.chosen() == {"initialisation": 0, "beginning of learning": 1, "bi-modality": 3,
                               "end of learning": 5}
    assert phases.count("bi-modality") == 3


def test_is_bimodal():
    assert is_bimodal(np.array([0.0, 1.0] * 10))
    assert not is_bimodal(np.linspace(0, 1, 11))
    assert not is_bimodal(np.ones(10))


def test_find_phases_bad_input():
    with pytest.raises(ValueError, match="consistency_by_epoch"):
        find_phases(np.zeros((3, 4)), np.arange(2))
    with pytest.raises(ValueError, match="epochs"):
        find_phases(np.zeros((2, 4)), np.array([1, 2]))


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
    # a collapsed epoch is its own phase: never bi-modal, whichever epochs are counted
    assert summary.n_bimodal(exclude_collapsed=False) == 0 and summary.n_bimodal() == 0
    assert bimodality_summary(cons, epochs, np.zeros(3, bool)).n_bimodal() == 1
    assert summary.min_pearson(exclude_collapsed=False) < 0.01 and summary.min_pearson() > 1.5
    with pytest.raises(ValueError, match="collapsed must have shape"):
        bimodality_summary(cons, epochs, np.array([False, True]))
    assert np.isnan(bimodality_summary(cons, epochs, np.array([False, True, True])).min_pearson())


def test_pearson_by_epoch_agreeing_networks_are_bimodal_and_independent_ones_are_not():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 250)
    learnt = rng.random(1000) < 0.5                               # the same half is learnt by every network
    pred = np.where(learnt, labels, (labels + 1) % 4)[None, None].repeat(10, 0)
    pred = np.concatenate([pred, rng.integers(0, 4, size=(10, 1, 1000))], axis=1)  # epoch 1: guessing
    p = pearson_by_epoch(pred, labels)
    assert p.shape == (2,)
    assert p[0] == pytest.approx(0.0, abs=1e-9)                   # two-point distribution
    assert p[1] > 1.0                                              # binomial: Gaussian-like
    null = null_pearson_by_epoch(pred, labels, seed=1)
    assert null[0] > 1.0                                           # independent errors destroy the agreement
    with pytest.raises(ValueError, match="shape"):
        pearson_by_epoch(pred[:, 0], labels)


def test_onset_is_the_first_trained_epoch_above_chance():
    epochs = np.array([0, 1, 2, 4])
    assert onset(np.array([0.2, 0.21, 0.3, 0.5]), epochs, chance=0.2) == 2
    assert onset(np.array([0.9, 0.2, 0.2, 0.2]), epochs, chance=0.2) == 3  # epoch 0 never counts
    with pytest.raises(ValueError, match="same length|one length"):
        onset(np.array([0.2]), epochs, chance=0.2)


def test_a_collapsed_epoch_is_its_own_phase():
    rng = np.random.default_rng(1)
    labels = np.arange(200) % 4
    right = rng.random((6, 3, 200)) < np.array([0.25, 0.5, 0.5])[None, :, None]
    pred = np.where(right, labels, (labels + 1) % 4)
    pred[:, 1] = 2                                           # epoch 1: every network gives one label
    found = split_phases(pred, labels, np.array([0, 1, 2]), 4)
    assert found.labels[1] == "collapsed" and found.count("collapsed") == 1 and found.bimodal != 1
    assert find_phases(np.stack([np.full(200, 0.25), np.repeat([0.0, 1.0], 100)]), np.array([0, 1])).labels[1] \
        == "bi-modality"
    with pytest.raises(ValueError, match="collapsed"):
        find_phases(np.zeros((2, 5)), np.array([0, 1]), np.array([True]))


def test_value_shares_geometric_law_and_total_variation():
    from equalnets.analysis.phases import geometric_shares, total_variation, value_shares
    np.testing.assert_allclose(value_shares(np.array([0.0, 0.0, 0.5, 1.0]), 2), [0.5, 0.25, 0.25])
    law = geometric_shares(1.0, 10)
    assert law.sum() == pytest.approx(1) and law @ np.arange(11) == pytest.approx(1.0)
    np.testing.assert_allclose(law[1:] / law[:-1], law[1] / law[0])          # a constant ratio: exponential
    assert law[1] / law[0] < 1 and geometric_shares(5.0, 10) == pytest.approx(np.full(11, 1 / 11))
    np.testing.assert_array_equal(geometric_shares(0.0, 4), [1, 0, 0, 0, 0])
    assert total_variation(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 1.0
    assert total_variation(law, law) == 0.0
    with pytest.raises(ValueError, match="mean"):
        geometric_shares(11.0, 10)
    with pytest.raises(ValueError, match="consistency"):
        value_shares(np.array([1.5]), 2)
    with pytest.raises(ValueError, match="p and q"):
        total_variation(np.ones(2), np.ones(3))
