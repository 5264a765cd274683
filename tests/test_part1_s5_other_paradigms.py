"""Tests of the §5 chapter (equalnets.chapters.part1_s5_other_paradigms): its parameters, the notebook
that lists them, the classical learners it fits and its claims on made-up ensembles."""

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
from ensembles import make_run
import pytest


from equalnets.analysis import scores
from equalnets.chapters import part1_s5_other_paradigms as s5
from equalnets.engine.checks import ParameterError
from equalnets.figures import paradigms
from equalnets.engine.store import RunStore
from equalnets.methods.classic import CLASSIFIERS

STEM = "part1_s5_other_paradigms"


def test_parameters_good_values():
    params = s5.Parameters(adaboost_k=[5, 1, 5], pca_components=None, n_boot=10)
    assert params.adaboost_k == (5, 1, 5)
    assert s5.runs(params) == {"base": params.base_config()}


@pytest.mark.parametrize("name, value", [("adaboost_k", []), ("adaboost_k", [0, 2]), ("adaboost_k", "1, 2"),
                                         ("adaboost_alpha", 0.0), ("adaboost_alpha", "big"), ("pca_components", 0),
                                         ("pca_components", 2.5), ("classifier_seed", -1), ("n_boot", 0),
                                         ("n_models", 1), ("lr", -0.1)])
def test_parameters_bad_value_names_it(name, value):
    with pytest.raises(ParameterError, match=name):
        s5.Parameters(**{name: value})


def test_beginning_of_learning():
    epochs = np.array([0, 1, 2, 3])
    cons = np.zeros((4, 20))
    cons[2, :2] = 1.0    # epoch 2: the majority right on 10 %
    cons[3] = 1.0        # epoch 3: right on all
    assert s5.beginning_of_learning(cons, epochs) == 2
    cons[2] = 0.0        # no epoch with 5-95 % right: the first trained one
    assert s5.beginning_of_learning(cons, epochs) == 1


def ensemble(n_test: int = 60):
    """A made-up test split of three thirds, 4 networks, epochs 0-2: the first third (easy) right by
    all from epoch 1, the second by 2 then 3 networks, the last by none then 1."""
    labels = np.arange(n_test) % 3
    right = np.zeros((3, n_test), dtype=int)  # networks right per epoch and image
    third = n_test // 3
    right[1, :third], right[2, :third] = 4, 4
    right[1, third:2 * third], right[2, third:2 * third] = 2, 3
    right[2, 2 * third:] = 1
    pred = np.where(np.arange(4)[:, None, None] < right[None], labels, (labels + 1) % 3)  # (4, 3, M)
    return make_run(pred, labels, pred, labels), labels


def learners_for(labels: np.ndarray, zoo_right: np.ndarray, order: np.ndarray | None = None) -> s5.Learners:
    """AdaBoost right on the easy third at every k and on the first min(16, 2k) intermediate images;
    the six classifiers right where ``zoo_right``. ``order`` (a permutation of the images) moves
    AdaBoost's answers to other images: an AdaBoost whose difficulty is unrelated to the CNN's."""
    wrong = (labels + 1) % 3
    boost = np.tile(wrong, (10, 1))
    boost[:, :20] = labels[:20]
    for k in range(1, 11):
        boost[k - 1, 20:20 + min(16, 2 * k)] = labels[20:20 + min(16, 2 * k)]
    if order is not None:
        right = (boost == labels)[:, order]
        boost = np.where(right, labels, wrong)
    zoo = {name: np.where(zoo_right, labels, wrong) for name in CLASSIFIERS}
    zoo["AdaBoost (k=10)"] = boost[-1]
    return s5.Learners(ks=np.array([1, 2, 5, 10]), boost=boost, zoo=zoo, dims=5)


def test_analyse_on_made_up_ensemble():
    run, labels = ensemble()
    a = s5.analyse(run, learners_for(labels, np.arange(60) < 20), n_boot=50)
    np.testing.assert_array_equal(a.groups, np.repeat([0, 1, 2], 20))
    # the learning speed leaves out epoch 0 (scores.speed)
    np.testing.assert_allclose(a.speed, scores.speed(run.test.pred, labels, run.epochs))
    np.testing.assert_allclose(a.by_group[:, 0], 1.0)
    np.testing.assert_allclose(a.by_group[:, 1], [0.1, 0.2, 0.5, 0.8])
    np.testing.assert_allclose(a.cnn_accuracy, (60 + 40 + 40 + 20) / 240)
    assert a.moments == {"epoch 1": 1, "epoch 2": 2} and a.max_k == 10
    assert (a.given["epoch 1", "k-NN"].right, a.given["epoch 1", "k-NN"].wrong) == (1.0, 0.0)
    assert a.given["epoch 1", "k-NN"].base == pytest.approx(1 / 3) and a.given["epoch 1", "k-NN"].p < 1e-10
    assert (a.given["epoch 2", "AdaBoost (k=10)"].right, a.given["epoch 2", "AdaBoost (k=10)"].wrong) == (0.9, 0.0)
    assert int(a.cnn_right["epoch 2"].sum()) == 40 and abs(a.null_r) < a.correlation.r
    assert a.given_table().shape == (2 * 7, 5)


def verdicts(table) -> dict[str, str]:
    return {r["claim"]: r["verdict"] for r in table.rows}


def test_claims_of_learners_that_find_the_cnn_easy_images_easy():
    run, labels = ensemble()
    table = s5.claims(run, learners_for(labels, np.arange(60) < 20), n_boot=50)
    assert len(table.rows) == 8 and all(r["reference"] for r in table.rows)
    assert {r["verdict"] for r in table.rows} == {"reproduced"}, table.frame()
    assert "0.73" in table.rows[4]["rule"]


def test_claims_of_an_adaboost_blind_to_the_cnn_difficulty():
    """AdaBoost as accurate, but right on images unrelated to the CNN's order: every AdaBoost claim fails."""
    run, labels = ensemble()
    blind = learners_for(labels, np.arange(60) < 20, order=np.random.default_rng(2).permutation(60))
    found = verdicts(s5.claims(run, blind, n_boot=50))
    for claim in ("AdaBoost: easy > intermediate > hard at every k", "AdaBoost: easy high and flat in k",
                  "AdaBoost: intermediate rises with k", "AdaBoost: hard low and slowly falling",
                  "AdaBoost's difficulty correlates with the CNN's"):
        assert found[claim] == "not reproduced", claim


def test_claims_of_classifiers_independent_of_the_cnn():
    """Classifiers right on one image in three, unrelated to what the CNN gets right, and one classifier
    better than the CNN: the Fig. 7 rows and the accuracy row fail."""
    run, labels = ensemble()
    table = s5.claims(run, learners_for(labels, np.arange(60) % 3 == 0), n_boot=50)
    found = verdicts(table)
    assert found["Classifiers are right mostly where the CNN is right (epoch 1)"] == "not reproduced"
    assert found["Classifiers are right mostly where the CNN is right (epoch 2)"] == "not reproduced"
    assert found["All six classifiers under-perform the CNN"] == "reproduced"
    assert found["AdaBoost: easy > intermediate > hard at every k"] == "reproduced"  # AdaBoost unchanged
    better = s5.claims(run, learners_for(labels, np.ones(60, bool)), n_boot=50)
    assert better.verdict("All six classifiers under-perform the CNN") == "not reproduced"
    with pytest.raises(ValueError, match="k-NN"):
        s5.claims(run, s5.Learners(ks=np.array([1]), boost=np.zeros((1, 60), int), zoo={}, dims=1))


def test_fit_learners_and_default_claims(tiny_config):
    """claims fits the learners itself from the run's data set (digits: 100 train / 50 test images)."""
    data = RunStore.dataset_for(tiny_config)
    rng = np.random.default_rng(0)
    y_train, y_test = data.y_train.numpy(), data.y_test.numpy()
    pred = {s: rng.integers(0, 10, size=(3, 3, len(y))) for s, y in (("train", y_train), ("test", y_test))}
    run = make_run(pred["train"], y_train, pred["test"], y_test, config=tiny_config)
    learners = s5.fit_learners(run, data, adaboost_k=[3, 1], pca_components=8)
    assert learners.boost.shape == (3, 50) and learners.dims == 8 and 0 < learners.explained <= 1
    assert list(learners.zoo) == [*CLASSIFIERS, "AdaBoost (k=3)"]
    assert "8 principal components" in learners.describe()
    raw = s5.fit_learners(run, SimpleNamespace(x_train=data.x_train, x_test=data.x_test), adaboost_k=[1],
                          pca_components=None)
    assert raw.dims == data.x_train[0].numel() and raw.explained is None
    table = s5.claims(run, adaboost_k=[1, 2], pca_components=8, n_boot=20)
    assert len(table.rows) == 8


def test_figures_draw_from_the_analysis():
    run, labels = ensemble()
    a = s5.analyse(run, learners_for(labels, np.arange(60) < 20), n_boot=20)
    figs = [paradigms.adaboost_by_difficulty(a.ks, a.by_group, a.overall, n_images=60, n_models=run.n_models),
            paradigms.difficulty_scatter(a.boost_score, a.speed, a.groups, a.correlation, max_k=a.max_k),
            paradigms.accuracy_where_cnn_right(a.given, a.names, a.cnn_right, n_models=run.n_models)]
    assert [len(f.axes) for f in figs] == [1, 1, 2]
    plt.close("all")
