"""Tests of the §3 robustness chapter (equalnets.chapters.part1_s3_robustness): its parameters, the
notebook that lists them, the variant and moving-experiment configs, its analysis and its claims on
made-up ensembles."""


import numpy as np
from ensembles import independent_predictions, make_run
import pytest
from itertools import combinations


from equalnets.analysis import scores
from equalnets.chapters import part1_s3_robustness as s3r
from equalnets.engine.checks import ParameterError
from equalnets.engine.config import RunConfig, derived_seed
from equalnets.engine.store import RunStore

STEM = "part1_s3_robustness"
BASE = RunConfig(width=0.25, n_models=10, epochs=25, lr=0.01, momentum=0.9)


# --------------------------------------------------------------------------- parameters and notebook

def listed(value):
    """A value as the notebook writes it (lists), for comparison with a Parameters default (tuples)."""
    return list(value) if isinstance(value, tuple) else value


def test_parameters_good_values_and_runs():
    params = s3r.Parameters(variants=[{"lr": 0.02}, {"dropout": False}], variant_record_epochs=[10, 0, 5],
                            move_record_epochs=[0, 10])
    assert params.variants == ({"lr": 0.02}, {"dropout": False}) and params.variant_record_epochs == (10, 0, 5)
    configs = s3r.runs(params)
    assert list(configs) == ["base", s3r.RERUN, "lr 0.02", "dropout off"]
    assert configs["base"] == params.base_config()
    rerun = configs[s3r.RERUN]
    assert (rerun.n_models, rerun.epochs, rerun.seed, rerun.record_epochs) == (3, 10, derived_seed(0, s3r.RERUN),
                                                                               (0, 5, 10))
    # a variant differs from the re-run in its field and its seed only
    assert rerun.replace(lr=0.02, seed=configs["lr 0.02"].seed) == configs["lr 0.02"]
    assert len({c.key for c in configs.values()}) == 4 and len({c.seed for c in configs.values()}) == 4


def test_the_default_variants_include_depth_and_activation_and_seed_one_works():
    labels = list(s3r.runs(s3r.Parameters()))
    assert "small-st-vgg" in labels and "elu" in labels
    other = s3r.runs(s3r.Parameters(seed=1))                       # `-p seed 1`: a second base seed
    assert other["base"].seed == 1 and other[s3r.RERUN].seed == derived_seed(1, s3r.RERUN)
    assert not {c.key for c in other.values()} & {c.key for c in s3r.runs(s3r.Parameters()).values()}


def test_no_two_compared_ensembles_share_a_member_seed():
    """The base, the re-run, every variant and every moving run (both rankings): disjoint member seeds."""
    params = s3r.Parameters(move_fraction=0.1)
    configs = list(s3r.runs(params).values()) + [c for _, c in s3r.moving_runs(params, run_of(6)).values()]
    assert len(configs) == 2 + len(params.variants) + 5
    for a, b in combinations(configs, 2):
        assert not ({a.member_seed(k) for k in range(a.n_models)} & {b.member_seed(k) for k in range(b.n_models)})


@pytest.mark.parametrize("name, value", [("variant_n_models", 1), ("variant_n_models", 2.0), ("variant_epochs", 0),
                                         ("move_epochs", "10"), ("seed", -1),
                                         ("variant_record_epochs", [0, 11]), ("move_record_epochs", [0, -1]),
                                         ("move_fraction", 0.5), ("move_fraction", "2.5 %"), ("move_within_class", 1),
                                         ("n_boot", 0), ("variants", []), ("variants", [{"n_models": 5}]),
                                         ("variants", [{"lr": 0.01}]), ("variants", ["lr=0.02"]), ("lr", 0.0),
                                         ("n_models", 1)])
def test_parameters_bad_value_names_it(name, value):
    with pytest.raises(ParameterError, match=name):
        s3r.Parameters(**{name: value})


# --------------------------------------------------------------------------- variant and moving configs

def test_variant_config_changes_only_what_it_names_and_sets_size_and_seed():
    v = s3r.variant_config(BASE, {"lr": 0.02}, n_models=3, epochs=10, record_epochs=[0, 5, 10], seed=1)
    assert (v.lr, v.n_models, v.epochs, v.record_epochs, v.seed) == (0.02, 3, 10, (0, 5, 10), 1)
    assert (v.width, v.momentum, v.dataset, v.batch_size) == (BASE.width, BASE.momentum, BASE.dataset, BASE.batch_size)
    assert v.key != BASE.key
    assert s3r.variant_label(BASE, v) == "lr 0.02"
    adam = s3r.variant_config(BASE, {"optimizer": "adam", "lr": 0.001, "momentum": 0.0}, n_models=3, epochs=10, seed=1)
    assert s3r.variant_label(BASE, adam) == "adam, lr 0.001, momentum 0"
    nodrop = s3r.variant_config(BASE, {"dropout": False, "weight_decay": 5e-4}, n_models=3, epochs=10, seed=1)
    assert s3r.variant_label(BASE, nodrop) == "dropout off, L2 0.0005"


@pytest.mark.parametrize("overrides, match", [
    ({"n_models": 5}, "may change only"),            # size is the chapter's, not the variant's
    ({"lr": 0.01}, "changes no hyper-parameter"),    # equal to the base
    ({}, "changes no hyper-parameter"),
    ({"optimizer": "adam"}, "momentum applies to SGD only"),
    ({"lr": -1.0}, "lr must be"),
    ({"optimizer": "rmsprop"}, "optimizer must be one of"),
    ("lr=0.02", "must be a dict"),
])
def test_variant_config_rejects_bad_variants(overrides, match):
    with pytest.raises(ParameterError, match=match):
        s3r.variant_config(BASE, overrides, n_models=3, epochs=10, seed=1)


def test_variant_configs_orders_labels_and_rejects_repeats_and_empty():
    out = s3r.variant_configs(BASE, [{"batch_size": 50}, {"dropout": False}], n_models=3, epochs=4, seed=2)
    assert list(out) == ["batch 50", "dropout off"]
    assert [c.seed for c in out.values()] == [derived_seed(2, "variant batch 50"), derived_seed(2, "variant dropout off")]
    with pytest.raises(ParameterError, match="given twice"):
        s3r.variant_configs(BASE, [{"lr": 0.02}, {"lr": 0.02}], n_models=3, epochs=4, seed=2)
    with pytest.raises(ParameterError, match="non-empty list"):
        s3r.variant_configs(BASE, [], n_models=3, epochs=4, seed=2)


def test_moving_configs_train_on_the_complement_of_the_moved_rows():
    score = np.linspace(0, 1, 200)  # row i has difficulty i: row 199 is the easiest
    moves = s3r.moving_configs(BASE, score, 0.05, seed=3)
    assert list(moves) == ["easiest", "hardest", "random"]
    easy_rows, easy_cfg = moves["easiest"]
    assert easy_rows.tolist() == list(range(190, 200))
    assert moves["hardest"][0].tolist() == list(range(10))
    assert easy_cfg.train_subset == tuple(range(190))
    for rows, cfg in moves.values():
        assert len(rows) == 10 and not set(rows) & set(cfg.train_subset)
        assert len(cfg.train_subset) + len(rows) == 200
    assert len({cfg.key for _, cfg in moves.values()}) == 3
    assert easy_cfg.seed == derived_seed(BASE.seed, "moving easiest") and len({c.seed for _, c in moves.values()}) == 3


def test_moving_configs_bad_input():
    with pytest.raises(ValueError, match="which"):
        s3r.moving_configs(BASE, np.ones(10), 0.1, which=("middle",))
    with pytest.raises(ValueError, match="which"):
        s3r.moving_configs(BASE, np.ones(10), 0.1, which="easiest")
    sub = BASE.replace(train_subset=[0, 1, 2])
    with pytest.raises(ValueError, match="already trains on a subset"):
        s3r.moving_configs(sub, np.ones(10), 0.1)
    with pytest.raises(ValueError, match="nothing is left"):
        s3r.moving_configs(BASE, np.ones(10), 1.0)


def test_moving_configs_within_class_take_the_same_share_of_every_class():
    labels = np.repeat([0, 1], 100)
    score = np.concatenate([np.full(100, 0.9), np.full(100, 0.1)]) + np.tile(np.linspace(0, 0.01, 100), 2)
    whole = s3r.moving_configs(BASE, score, 0.1, which=("hardest",))
    assert set(labels[whole["hardest"][0]]) == {1}                          # over the whole set: one class only
    moves = s3r.moving_configs(BASE, score, 0.1, which=("hardest",), labels=labels)
    assert np.bincount(labels[moves["hardest"][0]]).tolist() == [10, 10]


def test_rows_accuracy_by_hand():
    labels = np.array([0, 1, 2, 0])
    pred = np.array([[[0, 1, 0, 1], [0, 1, 2, 0]],      # network 0 at two recorded epochs
                     [[1, 1, 2, 0], [0, 0, 2, 0]]])     # network 1
    np.testing.assert_allclose(scores.rows_accuracy(pred, labels, np.array([0, 2])), [[0.5, 1.0], [0.5, 1.0]])
    np.testing.assert_allclose(scores.rows_accuracy(pred, labels, np.array([1])), [[1, 1], [1, 0]])
    with pytest.raises(ValueError, match="rows must lie"):
        scores.rows_accuracy(pred, labels, np.array([4]))
    with pytest.raises(ValueError, match="rows must be"):
        scores.rows_accuracy(pred, labels, np.array([], dtype=int))
    with pytest.raises(ValueError, match="pred must be"):
        scores.rows_accuracy(pred[0], labels, np.array([0]))


def test_moved_rows_are_recorded_but_not_trained_on(tiny_config):
    """End to end through the store: a moved row is recorded at every epoch like any train row."""
    store = RunStore()
    base = store.get_or_train(tiny_config, progress=False)
    score = s3r.base_speed(base)["train"]
    moves = s3r.moving_configs(tiny_config, score, 0.1, which=("easiest",), seed=0)
    rows, cfg = moves["easiest"]
    run = store.get_or_train(cfg, progress=False)
    assert run.train.pred.shape == base.train.pred.shape   # every train row recorded
    acc = scores.rows_accuracy(run.train.pred, run.train.labels, rows)
    assert acc.shape == (tiny_config.n_models, len(tiny_config.recorded_epochs))


# --------------------------------------------------------------------------- analysis and claims on made-up runs

M = 200
K = 4
LABELS = np.arange(M) % K
E = 7                                                                # epochs 0..6
LEARNT_AT = 1 + np.random.default_rng(0).permutation(M) * 7 // M    # epoch 1..6, or 7 = never


def ordered(n: int, learnt_at: np.ndarray = LEARNT_AT) -> np.ndarray:
    """``(n, E, M)``: every network right on example i from epoch ``learnt_at[i]`` on, wrong before."""
    right = np.arange(E)[None, :, None] >= learnt_at[None, None, :]
    return np.where(right, LABELS, (LABELS + 1) % K).repeat(n, axis=0)


def run_of(n: int, learnt_at: np.ndarray = LEARNT_AT):
    return make_run(ordered(n, learnt_at), LABELS, ordered(n, learnt_at), LABELS)


def independent_of(run):
    """Networks with ``run``'s accuracy at every epoch, right or wrong on each example independently."""
    return make_run(independent_predictions(run.train.pred, LABELS, K, seed=1), LABELS,
                    independent_predictions(run.test.pred, LABELS, K, seed=2), LABELS)


def moves_of(base, learnt_at: np.ndarray = LEARNT_AT, *, random_always_right: bool = False):
    """The moving experiment's made-up runs (both rankings): every moving run learns in the order
    ``learnt_at``; with ``random_always_right`` the moved random rows are right from epoch 0."""
    out = {}
    for w, (rows, _) in s3r.moving_runs(s3r.Parameters(move_fraction=0.1), base).items():
        when = learnt_at.copy()
        if w == "random" and random_always_right:
            when[rows] = 0
        out[w] = (rows, run_of(4, when))
    return out


VARIANT = "The bi-modal phase appears under every hyper-parameter variant"
ORDER = "Every variant learns the test images in the base's order"
EASY = "Moved easiest images (global ranking, as the paper): classified correctly from the first epoch on"
EASY_WITHIN = "Moved easiest images (within-class ranking): classified correctly from the first epoch on"
HARD = "Moved hardest images (global ranking, as the paper): low at first, then close to 0"
HARD_WITHIN = "Moved hardest images (within-class ranking): low at first, then close to 0"
RANDOM = "Moved random images: accuracy tracks the test accuracy"


def verdicts(variants, moves=None, base=None):
    base = base or run_of(6)
    table = s3r.claims(base, run_of(4), variants, moves or moves_of(base), n_boot=50)
    return table.frame().set_index("claim")["verdict"]


def test_most_bimodal_looks_only_at_judged_epochs():
    pearson = np.array([0.1, 0.0, 0.5, 0.3, np.nan])
    assert s3r.most_bimodal(pearson, np.array([False, False, True, True, True])) == 3
    assert s3r.most_bimodal(np.full(5, np.nan), np.ones(5, bool)) == 4           # nothing finite: last
    run = run_of(4)
    judged = s3r.judged_epochs(run)
    assert not judged[:2].any() and judged[-1]          # learning (test accuracy >= 0.3) begins later
    pred = run.test.pred.copy()
    pred[:, -1] = 0                                      # the last epoch collapsed: not judged
    assert not s3r.judged_epochs(make_run(pred, LABELS, pred, LABELS))[-1]


def test_analyse_variants_same_order_correlates_and_is_bimodal():
    base, rerun = run_of(6), run_of(4)
    va = s3r.analyse_variants(base, rerun, {"same order": run_of(4), "reversed": run_of(4, 7 - LEARNT_AT)},
                              n_boot=50)
    assert list(va.ensembles) == [s3r.RERUN, "same order", "reversed"] and va.variants == ["same order", "reversed"]
    assert va.correlations["same order", "test"].r == pytest.approx(1.0)
    assert va.correlations["reversed", "test"].r < 0
    assert abs(va.null_r["same order"]) < 0.3            # independent networks lose the order
    row = va.table.loc["same order"]
    assert row["bi-modal by the §3 rule"] and row["Pearson (test)"] < row["independent errors"]
    assert va.speed_table().shape == (6, 6) and va.strict() >= 1


def test_claims_table_has_every_rule_with_a_reference():
    table = s3r.claims(run_of(6), run_of(4), {"same order": run_of(4)}, moves_of(run_of(6)), n_boot=50)
    assert [r["claim"] for r in table.rows] == [VARIANT, ORDER, EASY, EASY_WITHIN, HARD, HARD_WITHIN, RANDOM]
    assert all(r["reference"] for r in table.rows)
    assert table.counts()["reproduced"] == 7, table.frame()


def test_bimodal_variants_against_independent_and_collapsed_ones():
    assert verdicts({"same order": run_of(4)})[VARIANT] == "reproduced"
    assert verdicts({"independent": independent_of(run_of(4))})[VARIANT] == "not reproduced"
    collapsed = ordered(4)
    collapsed[:, 1:] = 0                                  # one label from epoch 1 on
    assert verdicts({"collapsed": make_run(collapsed, LABELS, collapsed, LABELS)})[VARIANT] == "not reproduced"


def test_order_against_reversed_and_independent_variants():
    assert verdicts({"same order": run_of(4)})[ORDER] == "reproduced"
    assert verdicts({"reversed": run_of(4, 7 - LEARNT_AT)})[ORDER] == "not reproduced"
    assert verdicts({"independent": independent_of(run_of(4))})[ORDER] == "not reproduced"


@pytest.mark.parametrize("claim", [EASY, EASY_WITHIN, HARD, HARD_WITHIN])
def test_moved_easiest_and_hardest_against_an_unrelated_order(claim):
    base = run_of(6)
    assert verdicts({"same order": run_of(4)}, moves_of(base), base)[claim] == "reproduced"
    unrelated = 1 + np.random.default_rng(5).permutation(M) * 7 // M   # the moving runs learn in another order
    assert verdicts({"same order": run_of(4)}, moves_of(base, unrelated), base)[claim] == "not reproduced"


def test_moved_random_must_track_the_test_accuracy():
    base = run_of(6)
    assert verdicts({"same order": run_of(4)}, moves_of(base), base)[RANDOM] == "reproduced"
    assert verdicts({"same order": run_of(4)}, moves_of(base, random_always_right=True), base)[RANDOM] \
        == "not reproduced"


def test_analyse_moving_and_class_picks():
    base = run_of(6)
    moves = moves_of(base)
    assert list(moves) == ["easiest", "hardest", "random", "easiest, within class", "hardest, within class"]
    assert {w: len(rows) for w, (rows, _) in moves.items()} == {w: 20 for w in moves}
    assert np.bincount(LABELS[moves["easiest, within class"][0]]).tolist() == [5, 5, 5, 5]
    mv = s3r.analyse_moving(base, moves)
    assert (mv.k_moved, mv.first, mv.chance) == (20, 1, 0.25) and mv.judged[mv.start:].all()
    assert mv.table().shape == (E, 7)
    picks = s3r.class_picks(base, {"random": np.array([0, 1, 3])}, 0.1)
    assert list(picks.columns) == ["easiest, whole set", "hardest, whole set", "easiest, within class",
                                   "hardest, within class", "random"]
    assert picks["random"].tolist() == [1, 1, 0, 1] and (picks["easiest, within class"] == 5).all()
