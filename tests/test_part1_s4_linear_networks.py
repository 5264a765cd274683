"""The §4.2 chapter module (equalnets.chapters.part1_s4_linear_networks): its parameters, the notebook
that lists them, its runs, its analysis and its claims on made-up ensembles."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from ensembles import independent_run, make_run

from equalnets.chapters import part1_s4_linear_networks as s42
from equalnets.engine.checks import ParameterError
from equalnets.engine.config import RunConfig, derived_seed
from equalnets.engine.store import Run
from equalnets.figures import plots

STEM = "part1_s4_linear_networks"


def learning_run(arch: str, learnt: np.ndarray, epochs: list[int], n: int = 4, jitter: int = 0,
                 seed: int = 0) -> Run:
    """``n`` networks recorded at ``epochs``; network k is right on example m from epoch ``learnt[m]``
    (shifted by a random whole number of epochs within ± ``jitter``, drawn per network and example) on
    and wrong (the next label) before. Without jitter consistency is 0 or 1 only."""
    labels = np.arange(len(learnt)) % 5
    shift = np.random.default_rng(seed).integers(-jitter, jitter + 1, (n, 1, len(learnt)))
    right = np.asarray(epochs)[None, :, None] >= learnt[None, None, :] + shift          # (N, E, M)
    pred = np.where(right, labels, (labels + 1) % 5)
    config = RunConfig(arch=arch, width=0.25, n_models=n, epochs=epochs[-1], record_epochs=tuple(epochs))
    return make_run(pred, labels, pred, labels, n_classes=5, epochs=np.asarray(epochs), config=config)


LEARNT = np.repeat(np.arange(1, 11), 20)  # 20 of 200 images learnt at each epoch 1..10 (10: at the last)
LINEAR_EPOCHS = [0, 1, 2, 4, 6, 8, 10]


@pytest.fixture
def runs():
    """A base recorded at every epoch and a linear twin recorded at some, which learns the same images
    in the same order two epochs later (so the last 40 never): at equal accuracy, the same images."""
    base = learning_run("st-vgg", LEARNT, list(range(11)))
    return base, learning_run("linear-st-vgg", LEARNT + 2, LINEAR_EPOCHS)


@pytest.fixture
def noisy_base():
    """A base of 10 networks that learn in one order, each a little earlier or later (jitter ± 2
    epochs): consistency takes intermediate values, less bi-modal than an ensemble without jitter."""
    return learning_run("st-vgg", LEARNT, list(range(11)), n=10, jitter=2)


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
    for field in ("dataset", "width", "optimizer", "lr", "momentum", "lr_decay", "lr_decay_every", "batch_size"):
        assert getattr(linear, field) == getattr(configs["base"], field)
    # its own seed: member k of the linear ensemble never starts from member k's draw of the base
    assert linear.seed == derived_seed(params.seed, "linear") != params.seed
    assert s42.Parameters(seed=1).linear_config().seed == derived_seed(1, "linear")


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
    assert list(a.common) == LINEAR_EPOCHS and a.after == [1, 2, 4, 6, 8, 10]
    assert a.index["linear-st-vgg"][4] == 3 and a.index["st-vgg (non-linear)"][4] == 4
    assert a.final_accuracy("st-vgg (non-linear)") == 1.0 and a.final_accuracy("linear-st-vgg") == 0.8
    assert a.pooled_epochs["test"] == a.after and a.pooled_values("linear-st-vgg").shape == (6 * 200,)
    assert a.matched and list(a.moments) == ["lowest matched", "highest matched", "last epoch"]
    # mean accuracy 0.1 e (base) and 0.1 (e - 2) (linear); matched from chance + 0.1 = 0.3 on
    assert a.moments == {"lowest matched": (4, 4), "highest matched": (6, 8), "last epoch": (6, 10)}
    assert a.first == (6, 4)
    assert (a.overlap["non-linear right | linear right"] == 1.0).all()
    assert a.overlap.loc["lowest matched", "non-linear right, all images (base rate)"] == 0.4
    assert a.speed.r > 0.9 and abs(a.null_speed_r) < 0.3 and a.pearson["linear-st-vgg"].shape == (7,)
    # the null pooled over epochs of different accuracies is a mixture, itself fairly bi-modal: the reference
    assert a.null_pooled["test"]["linear-st-vgg"] > 0.5 > a.pooled["test"]["linear-st-vgg"]
    assert a.count("linear-st-vgg", "collapsed") == 0 and len(s42.pooled_table(a)) == 4


def test_collapsed_epochs_are_not_pooled(runs):
    base, linear = runs
    pred = linear.test.pred.copy()
    pred[:, 1] = 0                                            # every linear network: one label at epoch 1
    collapsed = make_run(pred, linear.test.labels, pred, linear.test.labels, n_classes=5, epochs=linear.epochs,
                         config=linear.config)
    a = s42.analyse(base, collapsed, n_boot=20)
    assert a.phases["test"]["linear-st-vgg"].labels[1] == "collapsed" and a.count("linear-st-vgg", "collapsed") == 1
    assert a.pooled_epochs["test"] == [2, 4, 6, 8, 10]


def verdicts(table) -> dict[str, str]:
    return {row["claim"]: row["verdict"] for row in table.rows}


def test_claims_of_a_linear_twin_that_learns_a_subset(runs, noisy_base):
    """Reproduced: every rule but 'strongest at the beginning' (the fixture keeps the overlap complete
    throughout; see the next tests)."""
    table = s42.claims(noisy_base, runs[1], n_boot=200)
    assert len(table.rows) == 7 and all(r["reference"] for r in table.rows)
    found = verdicts(table)
    found.pop("The overlap is strongest at the beginning")
    assert set(found.values()) == {"reproduced"}, table.frame()


def test_claims_of_independent_linear_networks(runs, noisy_base):
    """Linear networks with the linear twin's accuracy at every epoch whose errors are independent:
    neither bi-modal nor contained in what the non-linear ones get right, and no shared order."""
    found = verdicts(s42.claims(noisy_base, independent_run(runs[1], seed=3), n_boot=200))
    assert found["Linear networks are less accurate than non-linear ones"] == "reproduced"
    for claim in ("Linear consistency is bi-modal over training", "Linear networks are more bi-modal than non-linear ones",
                  "What linear networks get right, non-linear ones get right (beginning)",
                  "What linear networks get right, non-linear ones get right (end)",
                  "Linear networks learn in a similar order"):
        assert found[claim] == "not reproduced", claim


def test_claims_of_a_linear_ensemble_that_is_the_base_again(noisy_base):
    """Networks that predict what the base's do: not less accurate, not more bi-modal, the same order."""
    found = verdicts(s42.claims(noisy_base, learning_run("linear-st-vgg", LEARNT, list(range(11)), n=10, jitter=2),
                                n_boot=200))
    assert found["Linear networks are less accurate than non-linear ones"] == "not reproduced"
    assert found["Linear networks are more bi-modal than non-linear ones"] == "not reproduced"
    assert found["Linear networks learn in a similar order"] == "reproduced"


def early_then(order_early: np.ndarray, order_late: np.ndarray) -> np.ndarray:
    """Learning times: the first 80 images of ``order_early`` at epochs 1-4, then the next 80 of
    ``order_late``'s other images at epochs 5-8 in its order; the last 40 never."""
    learnt = np.full(200, 99)
    first = order_early[:80]
    learnt[first] = np.repeat(np.arange(1, 5), 20)
    rest = [m for m in order_late if m not in set(first)]
    learnt[rest[:80]] = np.repeat(np.arange(5, 9), 20)
    return learnt


def test_the_overlap_is_strongest_where_the_linear_networks_first_learn_the_easy_images():
    """Linear networks that learn the base's easiest images first and the rest in a random order:
    contained at the beginning, less so at the end (against a base that never learns its last 40
    images, so that its errors at the end are many enough to measure the lift on)."""
    base = learning_run("st-vgg", np.where(LEARNT > 8, 99, LEARNT), list(range(11)), n=10, jitter=2)
    easy_first = early_then(np.argsort(LEARNT, kind="stable"), np.random.default_rng(5).permutation(200))
    table = s42.claims(base, learning_run("linear-st-vgg", easy_first, LINEAR_EPOCHS), n_boot=200)
    assert table.verdict("The overlap is strongest at the beginning") == "reproduced", table.frame()


def test_the_overlap_is_not_strongest_where_the_linear_networks_start_at_random(noisy_base):
    """Linear networks that learn random images first and the base's order only later."""
    random_first = early_then(np.random.default_rng(5).permutation(200), np.argsort(LEARNT, kind="stable"))
    table = s42.claims(noisy_base, learning_run("linear-st-vgg", random_first, LINEAR_EPOCHS), n_boot=50)
    assert table.verdict("The overlap is strongest at the beginning") == "not reproduced", table.frame()


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
