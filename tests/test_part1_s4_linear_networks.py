"""The §4.2 chapter module (equalnets.chapters.part1_s4_linear_networks): its parameters, the notebook
that lists them, its runs, its analysis and its claims on made-up ensembles."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from ensembles import make_run

from equalnets.chapters import part1_s4_linear_networks as s42
from equalnets.engine.checks import ParameterError
from equalnets.engine.config import RunConfig
from equalnets.engine.store import Run
from equalnets.figures import plots

STEM = "part1_s4_linear_networks"


def learning_run(arch: str, learnt: np.ndarray, epochs: list[int], n: int = 4) -> Run:
    """``n`` identical networks recorded at ``epochs``, each right on example m from epoch ``learnt[m]``
    on and wrong (the next label) before: consistency 0 or 1 only."""
    labels = np.arange(len(learnt)) % 5
    right = np.asarray(epochs)[:, None] >= learnt[None, :]              # (E, M)
    pred = np.broadcast_to(np.where(right, labels, (labels + 1) % 5), (n, len(epochs), len(learnt)))
    config = RunConfig(arch=arch, width=0.25, n_models=n, epochs=epochs[-1], record_epochs=tuple(epochs))
    return make_run(pred, labels, pred, labels, n_classes=5, epochs=np.asarray(epochs), config=config)


LEARNT = np.repeat(np.arange(1, 11), 20)  # 20 of 200 images learnt at each epoch 1..10 (10: at the last)


@pytest.fixture
def runs():
    """A base recorded at every epoch and a linear twin recorded at some, which learns the same images
    in the same order two epochs later (so the last 40 never): at equal accuracy, the same images."""
    base = learning_run("st-vgg", LEARNT, list(range(11)))
    return base, learning_run("linear-st-vgg", LEARNT + 2, [0, 1, 2, 4, 6, 8, 10])


# ----------------------------------------------------------------------------- parameters


def test_good_parameters_and_the_linear_twin():
    params = s42.Parameters(arch="small-st-vgg", activation="elu", linear_record_epochs=[0, 5], linear_epochs=5,
                            linear_models=3)
    assert params.linear_record_epochs == (0, 5)
    assert s42.Parameters(linear_record_epochs=None).linear_config().record_epochs is None
    configs = s42.runs(params)
    assert list(configs) == ["base", "linear"] and configs["base"] == params.base_config()
    linear = configs["linear"]
    assert (linear.arch, linear.n_models, linear.epochs, linear.activation) == ("linear-small-st-vgg", 3, 5, "relu")
    for field in ("dataset", "width", "optimizer", "lr", "momentum", "lr_decay", "lr_decay_every", "batch_size", "seed"):
        assert getattr(linear, field) == getattr(configs["base"], field)


@pytest.mark.parametrize("name, value", [
    ("arch", "resnet-18"), ("arch", "linear-st-vgg"), ("linear_models", 1), ("linear_models", "ten"),
    ("linear_epochs", 0), ("linear_record_epochs", [0, 30]), ("linear_record_epochs", [-1]),
    ("linear_record_epochs", "every"), ("match_tol", 1.5), ("match_tol", None), ("n_boot", 0), ("width", 0),
])
def test_a_bad_parameter_is_named(name, value):
    with pytest.raises(ParameterError, match=name):
        s42.Parameters(**{name: value})


# ----------------------------------------------------------------------------- analysis and claims

def test_analysis_compares_the_common_epochs(runs):
    base, linear = runs
    a = s42.analyse(base, linear, n_boot=50)
    assert (a.base_name, a.linear_name) == ("st-vgg (non-linear)", "linear-st-vgg")
    assert list(a.common) == [0, 1, 2, 4, 6, 8, 10] and a.after == [1, 2, 4, 6, 8, 10]
    assert a.index["linear-st-vgg"][4] == 3 and a.index["st-vgg (non-linear)"][4] == 4
    assert a.final_accuracy("st-vgg (non-linear)") == 1.0 and a.final_accuracy("linear-st-vgg") == 0.8
    assert a.pooled_values("linear-st-vgg").shape == (6 * 200,)
    assert a.matched and list(a.moments) == ["lowest matched", "highest matched", "last epoch"]
    # mean accuracy 0.1 e (base) and 0.1 (e - 2) (linear); matched from chance + 0.1 = 0.3 on
    assert a.moments == {"lowest matched": (4, 4), "highest matched": (6, 8), "last epoch": (6, 10)}
    assert a.first == (6, 4)
    assert (a.overlap["non-linear right | linear right"] == 1.0).all()
    assert a.speed.r > 0.9 and a.pearson["linear-st-vgg"].shape == (7,)


def test_claims_of_a_linear_twin_that_learns_a_subset(runs):
    table = s42.claims(*runs, n_boot=50)
    verdicts = {row["claim"]: row["verdict"] for row in table.rows}
    assert len(verdicts) == 7
    assert verdicts["Linear networks are less accurate than non-linear ones"] == "reproduced"
    assert verdicts["What linear networks get right, non-linear ones get right (beginning)"] == "reproduced"
    assert verdicts["What linear networks get right, non-linear ones get right (end)"] == "reproduced"
    assert verdicts["The overlap is strongest at the beginning"] == "reproduced"
    assert verdicts["Linear networks learn in a similar order"] == "reproduced"


def test_without_matched_epochs_the_first_common_epoch_stands_in(runs):
    base, _ = runs
    early = learning_run("linear-st-vgg", np.where(np.arange(200) < 50, 1, 99), [0, 1, 3])  # stuck at 0.25
    a = s42.analyse(base, early, n_boot=20)
    assert not a.matched and a.moments["lowest matched"] == a.moments["highest matched"] == (1, 1)
    assert a.first == (1, 1)
    table = s42.claims(base, early, n_boot=20)
    assert "linear epoch 1, non-linear epoch 1" in table.rows[3]["this book"]


def test_figures_draw_from_the_analysis(runs):
    a = s42.analyse(*runs, n_boot=20)
    panels = s42.overlay_panels(a)
    assert list(panels) == list(a.moments) and panels["last epoch"][1].sum() == 160
    fig = plots.subset_histograms(panels, 4, xlabel="consistency", subset_label="linear majority right")
    assert len(fig.axes) == 3
    fig, ax = plt.subplots()
    plots.curves_by_ensemble({n: (r.epochs, a.accuracy[n].mean(0)) for n, r in a.runs.items()}, ax=ax,
                             ylabel="accuracy", bands={n: acc.std(0) for n, acc in a.accuracy.items()})
    assert len(ax.get_lines()) == 2
    plt.close("all")
