"""The difficulty atlas's pure functions (equalnets.analysis.atlas): the table of every score of one
split, the Spearman matrix with bootstrap intervals, the pairs and examples chosen by rule, and the
statistics of the claims, on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ensembles import ordered_run, split_record
from equalnets.analysis import atlas, scores


def test_held_out_probabilities_average_only_the_networks_that_did_not_train():
    probs = np.array([[[1.0, 0.0], [0.5, 0.5]],
                      [[0.0, 1.0], [0.2, 0.8]]])                 # (H=2, M=2, K=2)
    trained = np.array([[True, False], [False, True]])
    np.testing.assert_allclose(atlas.held_out_probabilities(probs, trained), [[0.0, 1.0], [0.5, 0.5]])
    out = atlas.held_out_probabilities(probs, np.array([[True, False], [True, False]]))
    assert np.isnan(out[0]).all() and np.allclose(out[1], [0.35, 0.65])
    with pytest.raises(ValueError, match="trained"):
        atlas.held_out_probabilities(probs, trained[:1])
    with pytest.raises(ValueError, match="probs"):
        atlas.held_out_probabilities(probs[0], trained)


def test_label_quality_is_cleanlabs_and_low_for_a_label_the_networks_reject():
    from cleanlab.rank import get_label_quality_scores

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    probs = np.full((30, 3), 0.05)
    probs[np.arange(30), labels] = 0.9
    probs[0] = [0.05, 0.9, 0.05]                                  # example 0: its label 0 looks wrong
    probs = probs / probs.sum(1, keepdims=True)
    quality = atlas.label_quality(labels, probs)
    np.testing.assert_allclose(quality, get_label_quality_scores(labels, probs))
    assert quality[0] == quality.min()
    probs[5] = np.nan
    assert np.isnan(atlas.label_quality(labels, probs)[5])
    for method in atlas.CLEANLAB_METHODS:
        assert np.isfinite(atlas.label_quality(labels, probs, method)[np.arange(30) != 5]).all()
    with pytest.raises(ValueError, match="method"):
        atlas.label_quality(labels, probs, "confidence")
    with pytest.raises(ValueError, match="labels"):
        atlas.label_quality(labels + 3, probs)
    with pytest.raises(ValueError, match="pred_probs"):
        atlas.label_quality(labels, rng.random(30))


def _table_inputs(run, split="train", k=5):
    rec = run.split(split)
    m = len(rec.labels)
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(k), m)
    return dict(el2n_epoch=2, depth=rng.integers(0, 9, (3, m)),
                holdout={0.5: rng.random(m), 0.25: np.where(np.arange(m) % 7 == 0, np.nan, rng.random(m))},
                pred_probs=probs)


def test_score_table_has_every_score_by_its_contract():
    run = ordered_run(n=6, e=8, m_train=60, m_test=30, k=5)
    kw = _table_inputs(run)
    table = atlas.score_table(run.train, run.epochs, **kw)
    assert list(table.columns) == [*atlas.SCORES, "c_score_r25", "c_score_r50"] and len(table) == 60
    rec, trained = run.train, run.epochs >= 1
    correct = rec.pred[:, trained] == rec.labels
    np.testing.assert_allclose(table["consistency"], scores.consistency(rec.pred[:, -1], rec.labels))
    np.testing.assert_allclose(table["learning_speed"], scores.speed(rec.pred, rec.labels, run.epochs))
    np.testing.assert_allclose(table["forgetting_events"], scores.forgetting_events(correct))
    np.testing.assert_allclose(table["epoch_learned"], scores.epoch_learned(correct, run.epochs[trained]))
    np.testing.assert_allclose(table["aum"], scores.aum(rec.margin[:, trained]))
    confidence, variability = scores.data_map(rec.p_label[:, trained])
    np.testing.assert_allclose(table["confidence"], confidence)
    np.testing.assert_allclose(table["variability"], variability)
    np.testing.assert_allclose(table["el2n_early"], rec.el2n[:, 2].astype(float).mean(0))
    np.testing.assert_allclose(table["prediction_depth"], kw["depth"].mean(0))
    both = np.stack([kw["holdout"][0.25], kw["holdout"][0.5]])
    expected = np.where(np.isnan(both[0]), both[1], both.mean(0))  # the mean over the ratios that hold it out
    np.testing.assert_allclose(table["c_score"], expected)
    np.testing.assert_allclose(table["label_quality"], atlas.label_quality(rec.labels, kw["pred_probs"]))


@pytest.mark.parametrize("change, match", [
    (dict(el2n_epoch=0), "el2n_epoch"), (dict(el2n_epoch=99), "el2n_epoch"),
    (dict(depth=np.zeros((2, 5))), "depth"), (dict(holdout={}), "holdout"),
    (dict(holdout={0.5: np.zeros(3)}), "holdout"), (dict(cleanlab_method="x"), "method")])
def test_score_table_bad_input_names_the_argument(change, match):
    run = ordered_run(n=4, e=5, m_train=40, m_test=20, k=5)
    with pytest.raises(ValueError, match=match):
        atlas.score_table(run.train, run.epochs, **{**_table_inputs(run), **change})
    with pytest.raises(ValueError, match="epochs"):
        atlas.score_table(run.train, run.epochs[:3], **_table_inputs(run))


def test_spearman_matrix_by_hand_and_its_intervals():
    rng = np.random.default_rng(0)
    x = rng.random(300)
    table = pd.DataFrame({"consistency": x, "learning_speed": x ** 3, "aum": -x, "c_score": rng.random(300),
                          "confidence": np.r_[np.nan, x[1:]]})
    m = atlas.spearman_matrix(table, n_boot=200, seed=1)
    assert m.names == ("consistency", "learning_speed", "aum", "confidence", "c_score") and m.n == 299
    assert m.pair("consistency", "learning_speed")[0] == pytest.approx(1.0)
    assert m.pair("consistency", "aum")[0] == pytest.approx(-1.0)
    rho, low, high = m.pair("consistency", "c_score")
    assert low <= rho <= high and abs(rho) < 0.2 and high - low > 0.05
    np.testing.assert_allclose(m.rho, m.rho.T)
    assert m.frame().loc["consistency", "aum"].startswith("-1.00 [")
    assert m.pair("aum", "c_score")[0] == pytest.approx(-rho)
    with pytest.raises(ValueError, match="names"):
        atlas.spearman_matrix(table, ["consistency"])
    with pytest.raises(ValueError, match="names"):
        atlas.spearman_matrix(table, ["consistency", "depth"])
    with pytest.raises(ValueError, match="n_boot"):
        atlas.spearman_matrix(table, n_boot=0)


def test_disagreeing_pairs_take_the_orientation_into_account():
    rng = np.random.default_rng(0)
    easy = rng.random(400)
    table = pd.DataFrame({"consistency": easy, "epoch_learned": -easy + 0.01 * rng.random(400),  # agree (hard ↔ easy)
                          "aum": easy + rng.random(400),                                          # agree, loosely
                          "el2n_early": easy,                                                     # disagree fully
                          "variability": rng.random(400)})                                        # no orientation
    pairs = atlas.disagreeing_pairs(atlas.spearman_matrix(table, n_boot=10), 10)
    names = {frozenset(p[:2]) for p in pairs}
    assert all("variability" not in n for n in names) and len(pairs) == 6
    assert pairs[0][2] == pytest.approx(-1.0) and "el2n_early" in pairs[0][:2]
    assert [p[2] for p in pairs] == sorted(p[2] for p in pairs)


def test_extreme_and_disagreement_rows_follow_the_rule():
    values = np.array([3.0, 1.0, np.nan, 1.0, 5.0, 0.0])
    low, high = atlas.extreme_rows(values, 2)
    assert low.tolist() == [5, 1] and high.tolist() == [4, 0]    # ties by row, nan never shown
    a = np.array([0.1, 0.2, 0.3, 0.4, 0.5])                       # high = easy
    b = np.array([1.0, 2.0, 3.0, 4.0, 5.0])                       # high = hard: b calls row 0 easiest, a row 4
    first, second = atlas.disagreement_rows(a, b, +1, -1, 1)
    assert first.tolist() == [4] and second.tolist() == [0]
    tied = atlas.disagreement_rows(a, np.array([1.0, 2.0, 3.0, 5.0, 4.0]), +1, -1, 2)[0]
    assert tied.tolist() == [3, 4]                                # rows 3 and 4 tie: by row
    assert atlas.easiness(np.array([2.0, 1.0]), -1).tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="easy"):
        atlas.easiness(a, 0)
    with pytest.raises(ValueError, match="n"):
        atlas.extreme_rows(values, 0)


def test_group_rate_and_separation():
    values = np.r_[np.zeros(20), np.ones(80)]
    group = np.r_[np.ones(20, bool), np.zeros(80, bool)]
    rate = atlas.group_rate(values, group, n_perm=100)
    assert (rate.inside, rate.outside, rate.n) == (0.0, 1.0, 20) and rate.null > 0.5
    auc, null = atlas.separation(-values, group, n_perm=100)
    assert auc == 1.0 and 0.5 < null < 0.7
    assert atlas.separation(values, group, n_perm=100)[0] == 0.0
    assert atlas.separation(np.zeros(100), group, n_perm=10)[0] == 0.5        # ties count a half
    assert np.isnan(atlas.group_rate(values, np.zeros(100, bool)).inside)
    with pytest.raises(ValueError, match="flagged"):
        atlas.separation(values, np.zeros(100, bool))
    with pytest.raises(ValueError, match="group"):
        atlas.group_rate(values, group.astype(int))


def test_ratio_column():
    assert atlas.ratio_column(0.5) == "c_score_r50" and atlas.ratio_column(0.25) == "c_score_r25"
    with pytest.raises(ValueError, match="ratio"):
        atlas.ratio_column(1.0)


def test_split_record_scores_are_in_range():
    rec = split_record(np.zeros((2, 3, 4), int), np.zeros(4, int))
    table = atlas.score_table(rec, np.arange(3), el2n_epoch=1, depth=np.zeros((1, 4)), holdout={0.5: np.ones(4)},
                              pred_probs=np.tile([0.9, 0.1], (4, 1)))
    assert (table["consistency"] == 1).all() and (table["forgetting_events"] == 0).all()
    assert (table["epoch_learned"] == 1).all() and (table["c_score"] == 1).all()
