"""The §4.1 chapter module (equalnets.chapters.part1_s4_cross_architecture): its parameters, the
notebook that lists them, its runs, its analysis and its claims on made-up ensembles."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from ensembles import independent_run, make_run, ordered_run

from equalnets.analysis.claims import VERDICTS
from equalnets.chapters import part1_s4_cross_architecture as s41
from equalnets.engine.checks import ParameterError
from equalnets.engine.config import RunConfig
from equalnets.engine.store import Run
from equalnets.figures import plots

STEM = "part1_s4_cross_architecture"


def learning_run(arch: str, learnt: np.ndarray, n: int = 4, n_epochs: int = 10) -> Run:
    """``n`` identical networks of ``arch`` recorded at epochs 0..n_epochs, each right on example m
    from epoch ``learnt[m]`` on (never if beyond the last) and wrong (the next label) before."""
    labels = np.arange(len(learnt)) % 5
    right = np.arange(n_epochs + 1)[:, None] >= learnt[None, :]         # (E, M)
    pred = np.broadcast_to(np.where(right, labels, (labels + 1) % 5), (n, n_epochs + 1, len(learnt)))
    config = RunConfig(arch=arch, width=0.125 if arch in ("resnet-18", "densenet") else 0.25, n_models=n,
                       epochs=n_epochs)
    return make_run(pred, labels, pred, labels, n_classes=5, config=config)


@pytest.fixture
def agreeing():
    """A base and two other architectures that learn the same 200 images in the same order."""
    learnt = np.repeat(np.arange(1, 9), 25)  # 25 images learnt at each epoch 1..8 (8: never, for 6 epochs)
    base = learning_run("st-vgg", learnt, n_epochs=10)
    return base, {"resnet-18": learning_run("resnet-18", learnt, n_epochs=6),
                  "densenet": learning_run("densenet", learnt, n=6, n_epochs=6)}


# ----------------------------------------------------------------------------- parameters


def test_good_parameters_are_kept_and_lists_become_tuples():
    params = s41.Parameters(zoo_archs=["densenet", "small-st-vgg"], zoo_record_epochs=[0, 2, 4], zoo_epochs=4,
                            n_levels=3, match_tol=0.02)
    assert params.zoo_archs == ("densenet", "small-st-vgg") and params.zoo_record_epochs == (0, 2, 4)
    assert params.values()["n_levels"] == 3


@pytest.mark.parametrize("name, value", [
    ("zoo_archs", "resnet-18"), ("zoo_archs", []), ("zoo_archs", ["vgg16"]), ("zoo_archs", ["st-vgg"]),
    ("zoo_archs", ["densenet", "densenet"]), ("zoo_archs", ["mlp"]), ("zoo_width", 0), ("zoo_width", "wide"),
    ("zoo_models", 1), ("zoo_models", 2.0), ("zoo_epochs", 0), ("zoo_record_epochs", [0, 9]),
    ("zoo_record_epochs", "all"), ("match_tol", 1.0), ("match_tol", -0.01), ("n_levels", 0), ("n_boot", 0),
    ("n_boot", True), ("n_models", 1), ("device", "tpu"),
])
def test_a_bad_parameter_is_named(name, value):
    with pytest.raises(ParameterError, match=name):
        s41.Parameters(**{name: value})


def test_runs_share_the_base_training_and_differ_in_architecture_and_size():
    params = s41.Parameters(activation="elu", zoo_record_epochs=[0, 4])
    configs = s41.runs(params)
    assert list(configs) == ["base", "resnet-18", "densenet"]
    assert configs["base"] == params.base_config()
    for name in params.zoo_archs:
        zoo = configs[name]
        assert (zoo.arch, zoo.width, zoo.n_models, zoo.epochs) == (name, 0.125, 10, 8)
        assert zoo.record_epochs == (0, 4, 8) and zoo.activation == "relu"
        for field in ("dataset", "optimizer", "lr", "momentum", "lr_decay", "lr_decay_every", "batch_size", "seed"):
            assert getattr(zoo, field) == getattr(configs["base"], field)


# ----------------------------------------------------------------------------- analysis and claims

def test_analysis_of_agreeing_architectures(agreeing):
    base, others = agreeing
    a = s41.analyse(base, others, n_boot=50)
    assert a.names == ("st-vgg", "resnet-18", "densenet")
    assert a.pairs == (("st-vgg", "resnet-18"), ("st-vgg", "densenet"), ("resnet-18", "densenet"))
    # accuracy 25 e / 200 at epoch e: matched above chance + 0.1 from epoch 3 (0.375) on
    assert a.levels["st-vgg", "resnet-18"] == [(3, 3), (6, 6)]
    assert a.every_matched("st-vgg", "resnet-18") == [(e, e) for e in range(3, 7)]
    assert all(row["corners dominate"] and row["near diagonal"] == 1.0 for row in a.agreement)
    assert all(c.r == pytest.approx(1.0) for (kind, _, _), c in a.correlations.items() if kind == "within")
    assert all(c.r > 0.9 for c in a.correlations.values())  # the same order, averaged over other epochs
    assert len(s41.levels_table(a)) == len(a.agreement) == 6
    assert list(s41.final_table(a)["epochs"]) == [10, 6, 6]
    assert len(s41.correlation_table(a)) == 3 + 3 and len(s41.speed_panels(a)) == 1 + 3
    assert all(row["stronger right, given weaker right"] == 1.0 for row in a.knowledge)


def test_claims_of_agreeing_architectures_are_reproduced(agreeing):
    table = s41.claims(*agreeing, n_boot=50)
    assert len(table.rows) == 5
    assert [r["verdict"] for r in table.rows] == ["reproduced"] * 5


def test_claims_without_matched_epochs(agreeing):
    base, _ = agreeing
    late = np.repeat(np.arange(1, 9), 25) + 3  # nothing learnt in the first epochs
    others = {"resnet-18": learning_run("resnet-18", np.where(late > 4, 99, 1), n_epochs=3)}
    table = s41.claims(base, others, n_boot=20)
    assert all(r["verdict"] in VERDICTS for r in table.rows)
    assert table.rows[0]["this book"] == "no matched epochs" and table.rows[0]["verdict"] == "not reproduced"
    assert table.rows[1]["verdict"] == "not reproduced"


def test_figures_draw_from_the_analysis(agreeing):
    a = s41.analyse(*agreeing, n_boot=20)
    fig = plots.joint_consistency_grid(a.levels, a.consistency, {n: r.epochs for n, r in a.runs.items()}, a.accuracy,
                                       {n: r.n_models for n, r in a.runs.items()})
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 6 + 1  # six panels and the colour bar
    assert len(plots.speed_scatter(s41.speed_panels(a)).axes) == 4
    assert len(plots.joint_consistency_grid({("x", "y"): []}, {}, {}, {}, {}).axes) == 1
    plt.close("all")


def test_claims_against_independent_networks():
    """Networks with the base's accuracy curve that err independently: no shared order to find."""
    base = ordered_run(n=6, e=10, m_train=50, m_test=300, seed=3)
    table = s41.claims(base, {"resnet-18": independent_run(base, seed=5)}, n_boot=50)
    verdicts = {row["claim"]: row["verdict"] for row in table.rows}
    assert verdicts["Learning speed correlates within an architecture (two halves)"] == "not reproduced"
    assert verdicts["Learning speed correlates across architectures"] == "not reproduced"
    assert verdicts["The diagonal is prominent: equally accurate architectures get the same images right"] != "reproduced"
