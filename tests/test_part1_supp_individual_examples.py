"""Tests of the supplement's chapter (equalnets.chapters.part1_supp_individual_examples): its
parameters, the notebook that lists them, its analysis and its claims on made-up ensembles."""

import matplotlib.pyplot as plt
import numpy as np
from ensembles import make_run
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
    """10 networks, epochs 0-5, 40 training images: 24 of class 0, learnt by every network at epoch 1
    (at once), and 16 of class 1, learnt at epoch 4 (after a dip: right by none at epochs 1-3),
    except the last ``forgotten`` images of class 0, learnt at once and forgotten at epoch 5. At
    initialisation 0-3 networks get an image right (so that trajectories differ); wrong predictions
    are the other class."""
    labels = np.repeat([0, 1], [24, 16])
    right = np.zeros((6, 40), dtype=int)  # networks right per epoch and image
    right[0] = np.arange(40) % 4
    right[1:, :24] = 10
    right[4:, 24:] = 10
    if forgotten:
        right[5, 24 - forgotten:24] = 0
    pred = np.where(np.arange(10)[:, None, None] < right[None], labels, 1 - labels)  # (10, 6, 40)
    return make_run(pred, labels, pred, labels, classes=("shirt", "coat"))


def test_analyse_on_made_up_ensemble():
    a = supp.analyse(ensemble(forgotten=2), n_clusters=3)
    assert a.learnt_at == [1, 4] and a.spread == 3 and a.n_never == 0
    assert a.class_order == ["shirt", "coat"]
    # epoch 1: every image's majority label is class 0 (class 1 images are all predicted 0)
    assert a.first_used == 1 and a.labels_used[-1] == 2
    assert a.share["learnt at once"] == 0.55 and a.share["dip then rise"] == 0.4
    assert a.share["learnt then forgotten"] == 0.05 and a.largest_drop in (22, 23)
    assert a.fraction(supp.STEP_PATTERNS) == pytest.approx(0.95)
    assert len(a.clusters.sizes) == 3 and a.shown == [0, 1, 2, 5]


def test_claims_on_made_up_ensembles():
    table = supp.claims(ensemble())
    assert len(table.rows) == 5
    assert [r["verdict"] for r in table.rows] == ["reproduced"] * 5, table.frame()
    # most images forgotten: the step patterns are no longer most, and forgetting no minority
    verdicts = {r["claim"]: r["verdict"] for r in supp.claims(ensemble(forgotten=20)).rows}
    assert verdicts["Most images follow one of three step patterns"] == "not reproduced"
    assert verdicts["'Learnt then forgotten' is a minority"] == "not reproduced"


def test_figures_draw_from_the_analysis():
    run = ensemble(forgotten=2)
    a = supp.analyse(run, n_clusters=3)
    images = np.zeros((3, 1, 4, 4))
    figs = [examples.majority_label_histograms(a.consistency, a.majority, a.shown, a.epochs, a.classes, 10),
            examples.class_curves(a.epochs, a.class_mean, a.learnt_at, a.labels_used, a.classes, n_models=10,
                                  n_images=40),
            examples.trajectory_clusters(a.epochs, a.consistency, a.clusters, a.labels, a.classes, n_models=10,
                                         highlight=a.largest_drop),
            examples.representative_images(images, a.clusters, a.labels, a.classes, n_models=10),
            examples.cluster_members(a.epochs, a.consistency, a.clusters, 0, 0, a.behaviour, a.labels, a.classes,
                                     n_models=10)]
    assert [len(f.axes) for f in figs] == [len(a.shown), 2, 2, 3, 1]
    assert widgets.cluster_explorer(a.epochs, a.consistency, a.clusters, a.behaviour, a.labels, a.classes,
                                    n_models=10) is not None
    plt.close("all")
