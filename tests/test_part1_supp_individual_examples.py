"""Tests of the supplement's chapter (equalnets.chapters.part1_supp_individual_examples): its
parameters, the notebook that lists them, its analysis and its claims on made-up ensembles."""

import matplotlib.pyplot as plt
import numpy as np
from ensembles import independent_run, make_run, ordered_run
import pytest


from equalnets.chapters import part1_supp_individual_examples as supp
from equalnets.engine.checks import ParameterError
from equalnets.figures import examples, widgets

STEM = "part1_supp_individual_examples"


@pytest.mark.parametrize("name, value", [("n_models", 1), ("width", "wide"), ("arch", "vgg"), ("interactive", 1)])
def test_parameters_bad_value_names_it(name, value):
    with pytest.raises(ParameterError, match=name):
        supp.Parameters(**{name: value})


def ensemble(forgotten: int = 0):
    """10 networks, epochs 0-8, 40 training images of three classes: 20 of class 0, learnt by every
    network at epoch 1 (at once), and 20 of class 1, learnt at epoch 5 (after a dip: right by none at
    epochs 1-4), except the last ``forgotten`` images of class 0, learnt at once and forgotten at epoch
    7. At initialisation 0-3 networks get an image right (so that trajectories differ). Wrong
    predictions go to class 2 (class 0 and 2 share the predictions: no epoch is collapsed)."""
    labels = np.repeat([0, 1], [20, 20])
    right = np.zeros((9, 40), dtype=int)  # networks right per epoch and image
    right[0] = np.arange(40) % 4
    right[1:, :20] = 10
    right[5:, 20:] = 10
    if forgotten:
        right[7:, 20 - forgotten:20] = 0
    pred = np.where(np.arange(10)[:, None, None] < right[None], labels, 2)  # (10, 9, 40)
    return make_run(pred, labels, pred, labels, classes=("shirt", "coat", "dress"))


def staged(*, class_times=(1, 3, 5, 7, 9), spread=1.5, early="spread", forgotten=0.0, never=0.1, seed=0):
    """10 networks, epochs 0-13, 400 training images of K = 5 classes (the same draw for the test
    split). Image m is learnt by every network at ``class_times[its class] + U(0, spread)`` (± 0.3
    epochs per network) and stays learnt; a ``never`` share is never learnt; a ``forgotten`` share of
    the images learnt in the first half is wrong again from epoch 11 on. Before an image is learnt
    every network gives it one wrong label of its own: until epoch 6 one of labels 0-2 (``early=
    'three'``) or the same as later (``'spread'``: any other label); no epoch is collapsed."""
    rng = np.random.default_rng(seed)
    n, e, m, k = 10, 14, 400, 5
    labels = np.arange(m) % k
    learn_at = np.asarray(class_times, dtype=float)[labels] + rng.uniform(0, spread, m)
    learn_at[rng.random(m) < never] = np.inf
    late = (labels + rng.integers(1, k, m)) % k
    first3 = np.array([[1, 2], [0, 2], [0, 1], [0, 1], [0, 1]])[labels, rng.integers(0, 2, m)]
    wrong = np.where(np.arange(e)[:, None] < e // 2, first3 if early == "three" else late, late)   # (E, M)
    when = learn_at[None, :] + rng.normal(0, 0.3, (n, m))
    pred = np.where(np.arange(e)[None, :, None] >= when[:, None, :], labels, wrong).astype(np.int16)
    gone = np.flatnonzero((learn_at < e / 2) & (rng.random(m) < forgotten))
    pred[:, 11:, gone] = late[gone]
    pred[:, 0] = rng.integers(0, k, (n, m))
    return make_run(pred, labels, pred, labels, n_classes=k)


def verdict(run, claim):
    return supp.claims(run).verdict(claim)


CLASSES = "Classes are learnt one after another"
FEWER = "Early on, the networks' mistakes use fewer labels"
STEPS = "Most images follow one of three step patterns"
FORGOTTEN = "'Learnt then forgotten' is a minority"
ZERO = "The longer an image stays at consistency 0, the later it is learnt"


def test_analyse_on_made_up_ensemble():
    a = supp.analyse(ensemble(forgotten=2), n_clusters=3)
    assert not a.collapsed[1:].any() and a.rows.tolist() == list(range(9))
    assert a.learnt_at == [1, 5, None] and a.spread == 9 - 1 and a.n_never == 1   # "dress" has no image: never
    assert a.class_order == ["shirt", "coat", "dress"]
    assert a.wrong_labels[1] == pytest.approx(1) and a.wrong_labels[-1] == pytest.approx(1)   # all mistakes: 2
    assert np.isnan(supp.analyse(ensemble(), n_clusters=3).wrong_labels[-1])                  # no mistake left
    assert a.share["learnt at once"] == 0.45 and a.share["dip then rise"] == 0.5
    assert a.share["learnt then forgotten"] == 0.05 and a.largest_drop in (18, 19)
    assert a.fraction(supp.STEP_PATTERNS) == pytest.approx(0.95)
    assert len(a.clusters.sizes) == 3 and a.shown == [0, 1, 2, 4, 8]


def test_collapsed_epochs_are_left_out_of_the_trajectories():
    run = staged()
    pred = run.train.pred.copy()
    pred[:, 1:3] = 4                                   # epochs 1-2: every network gives one label
    made = make_run(pred, run.train.labels, pred, run.test.labels, n_classes=5)
    a = supp.analyse(made)
    assert a.collapsed[1:3].all() and a.rows.tolist() == [0] + list(range(3, 14))
    assert a.trajectories.shape == (12, 400) and a.first_trained == 3
    assert all(i is None or i >= 3 for i in a.learnt_at)


def test_claims_table_has_every_rule_with_a_reference():
    table = supp.claims(staged(early="three", forgotten=0.03))
    assert [r["claim"] for r in table.rows] == [CLASSES, FEWER, STEPS, FORGOTTEN, ZERO]
    assert all(r["reference"] for r in table.rows)
    assert table.counts()["reproduced"] == 5, table.frame()


def test_classes_one_after_another_against_permuted_classes():
    assert verdict(staged(), CLASSES) == "reproduced"
    assert verdict(staged(class_times=(1,) * 5, spread=9), CLASSES) == "not reproduced"   # the class does not matter


def test_fewer_labels_early_needs_fewer_labels_in_the_mistakes():
    assert verdict(staged(early="three"), FEWER) == "reproduced"
    assert verdict(staged(early="spread"), FEWER) == "not reproduced"
    run = staged(early="spread")
    pred = run.train.pred.copy()
    pred[:, 1] = 4                                     # one label at epoch 1: collapsed, left out
    assert verdict(make_run(pred, run.train.labels, pred, run.test.labels, n_classes=5), FEWER) == "not reproduced"


def test_step_patterns_against_independent_networks():
    run = staged()
    assert verdict(run, STEPS) == "reproduced"
    assert verdict(independent_run(run), STEPS) == "not reproduced"


def test_learnt_then_forgotten_must_be_a_few():
    assert verdict(staged(forgotten=0.05), FORGOTTEN) == "reproduced"
    assert verdict(staged(forgotten=0.6), FORGOTTEN) == "not reproduced"     # most of the early ones
    assert verdict(staged(), FORGOTTEN) == "not reproduced"                  # none at all


def test_time_at_zero_against_independent_networks():
    run = ordered_run()                                  # wrong by all networks (consistency 0) until learnt
    assert verdict(run, ZERO) == "reproduced"
    assert verdict(independent_run(run), ZERO) == "not reproduced"


def test_figures_draw_from_the_analysis():
    run = ensemble(forgotten=2)
    a = supp.analyse(run, n_clusters=3)
    images = np.zeros((3, 1, 4, 4))
    figs = [examples.majority_label_histograms(a.consistency, a.majority, a.shown, a.epochs, a.classes, 10),
            examples.class_curves(a.epochs, a.class_mean, a.learnt_at, a.wrong_labels, a.classes, n_models=10,
                                  n_images=40, collapsed=np.arange(9) == 2),
            examples.trajectory_clusters(a.trajectory_epochs, a.trajectories, a.clusters, a.labels, a.classes,
                                         n_models=10, highlight=a.largest_drop),
            examples.representative_images(images, a.clusters, a.labels, a.classes, n_models=10),
            examples.cluster_members(a.trajectory_epochs, a.trajectories, a.clusters, 0, 0, a.behaviour, a.labels,
                                     a.classes, n_models=10)]
    assert [len(f.axes) for f in figs] == [len(a.shown), 2, 2, 3, 1]
    assert widgets.cluster_explorer(a.trajectory_epochs, a.trajectories, a.clusters, a.behaviour, a.labels,
                                    a.classes, n_models=10) is not None
    plt.close("all")


def test_an_ensemble_collapsed_at_every_trained_epoch_earns_nothing():
    run = staged(early="three", forgotten=0.03)
    pred = run.train.pred.copy()
    pred[:, 1:] = 4
    table = supp.claims(make_run(pred, run.train.labels, pred, run.test.labels, n_classes=5))
    assert table.counts() == {"reproduced": 0, "partly": 0, "not reproduced": 5}
    assert all(r["this book"].startswith("every trained epoch is collapsed") for r in table.rows)
