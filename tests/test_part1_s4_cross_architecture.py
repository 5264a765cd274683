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
from equalnets.analysis import scores
from equalnets.engine.config import RunConfig, derived_seed
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


LEARNT = np.repeat(np.arange(1, 9), 25)  # 25 of 200 images learnt at each epoch 1..8


@pytest.fixture
def agreeing():
    """A base (7 epochs: the last 25 images never learnt) and three other architectures (6 epochs) that
    learn the same 200 images in the same order."""
    base = learning_run("st-vgg", LEARNT, n_epochs=7)
    return base, {"small-st-vgg": learning_run("small-st-vgg", LEARNT, n_epochs=6),
                  "resnet-18": learning_run("resnet-18", LEARNT, n_epochs=6),
                  "densenet": learning_run("densenet", LEARNT, n=6, n_epochs=6)}


@pytest.fixture
def unrelated():
    """The same base and three architectures that each learn in an order of their own, unrelated to the
    base's and to each other's, at the same pace (so the accuracies match at every epoch)."""
    base = learning_run("st-vgg", LEARNT, n_epochs=7)
    rng = np.random.default_rng(7)
    return base, {name: learning_run(name, rng.permutation(LEARNT), n_epochs=6)
                  for name in ("small-st-vgg", "resnet-18", "densenet")}


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


def test_runs_share_the_base_protocol_with_seeds_of_their_own():
    params = s41.Parameters(activation="elu", zoo_archs=["small-st-vgg", "resnet-18", "densenet"],
                            zoo_record_epochs=[0, 4])
    configs = s41.runs(params)
    assert list(configs) == ["base", "small-st-vgg", "resnet-18", "densenet"]
    assert configs["base"] == params.base_config()
    for name in params.zoo_archs:
        zoo = configs[name]
        assert (zoo.arch, zoo.width, zoo.n_models, zoo.epochs) == \
            (name, 0.25 if name == "small-st-vgg" else 0.125, 10, 8)
        assert zoo.record_epochs == (0, 4, 8) and zoo.activation == "relu"
        assert zoo.seed == derived_seed(params.seed, name) != params.seed
        for field in ("dataset", "optimizer", "lr", "momentum", "lr_decay", "lr_decay_every", "batch_size"):
            assert getattr(zoo, field) == getattr(configs["base"], field)
    assert s41.runs(s41.Parameters(seed=1))["resnet-18"].seed == derived_seed(1, "resnet-18")


# ----------------------------------------------------------------------------- analysis and claims

def test_analysis_of_agreeing_architectures(agreeing):
    base, others = agreeing
    a = s41.analyse(base, others, n_boot=50)
    assert a.names == ("st-vgg", "small-st-vgg", "resnet-18", "densenet")
    assert len(a.pairs) == 6 and a.pairs[0] == ("st-vgg", "small-st-vgg")
    # accuracy 25 e / 200 at epoch e: matched above chance + 0.1 from epoch 3 (0.375) on
    assert a.levels["st-vgg", "resnet-18"] == [(3, 3), (6, 6)]
    assert a.every_matched("st-vgg", "resnet-18") == [(e, e) for e in range(3, 7)]
    assert all(row["corners dominate"] and row["near diagonal"] == 1.0 for row in a.agreement)
    assert all(row["corners"] > row["corners (random pairing)"] for row in a.agreement)
    assert all(c.r == pytest.approx(1.0) for (kind, _, _), c in a.correlations.items() if kind == "within")
    assert all(c.r > 0.9 for c in a.correlations.values())  # the same order, averaged over other epochs
    assert all(abs(r) < 0.3 for r in a.null_r.values())   # independent errors: no order to share
    # the learning speed is scores.speed: the training epochs >= 1 only
    np.testing.assert_allclose(a.speed["st-vgg"], scores.speed(base.test.pred, base.test.labels, base.epochs))
    assert len(s41.levels_table(a)) == len(a.agreement) == 12
    assert list(s41.final_table(a)["epochs"]) == [7, 6, 6, 6]
    assert len(s41.correlation_table(a)) == 4 + 6 and len(s41.speed_panels(a)) == 1 + 6
    row = a.knowledge[0]  # st-vgg (0.875) is stronger than small st-VGG (0.75)
    assert (row["stronger"], row["stronger right, given weaker right"], row["stronger right, given weaker wrong"]) \
        == ("st-vgg", 1.0, 0.5)
    assert row["stronger right, all images (base rate)"] == 0.875 and row["Fisher p"] < 1e-6


def test_claims_of_agreeing_architectures_are_reproduced(agreeing):
    table = s41.claims(*agreeing, n_boot=50)
    assert len(table.rows) == 6 and table.rows[-1]["claim"] == "st-VGG and small st-VGG learn in the same order"
    assert [r["verdict"] for r in table.rows] == ["reproduced"] * 6, table.frame()
    assert all(r["reference"] for r in table.rows)
    assert "0.89" in table.rows[2]["rule"] and "0.77" in table.rows[3]["rule"]


def test_claims_of_architectures_with_unrelated_orders(unrelated):
    """Each architecture consistent with itself, but in an order unrelated to the others': every claim
    about two architectures fails, the one about halves of one architecture holds."""
    table = s41.claims(*unrelated, n_boot=50)
    verdicts = {row["claim"]: row["verdict"] for row in table.rows}
    assert verdicts.pop("Learning speed correlates within an architecture (two halves)") == "reproduced"
    assert set(verdicts.values()) == {"not reproduced"}, table.frame()


def test_the_supp_c_pair_is_a_claim_only_where_both_are_compared(agreeing):
    base, others = agreeing
    table = s41.claims(base, {"resnet-18": others["resnet-18"]}, n_boot=20)
    assert len(table.rows) == 5 and all(r["verdict"] == "reproduced" for r in table.rows)


def test_claims_without_matched_epochs(agreeing):
    base, _ = agreeing
    others = {"resnet-18": learning_run("resnet-18", np.where(LEARNT + 3 > 4, 99, 1), n_epochs=3)}
    table = s41.claims(base, others, n_boot=20)
    assert all(r["verdict"] in VERDICTS for r in table.rows)
    assert table.rows[0]["this book"] == "no matched epochs" and table.rows[0]["verdict"] == "not reproduced"
    assert table.rows[1]["verdict"] == "not reproduced"


def test_figures_draw_from_the_analysis(agreeing):
    a = s41.analyse(*agreeing, n_boot=20)
    fig = plots.joint_consistency_grid(a.levels, a.consistency, {n: r.epochs for n, r in a.runs.items()}, a.accuracy,
                                       {n: r.n_models for n, r in a.runs.items()})
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 12 + 1  # twelve panels and the colour bar
    assert len(plots.speed_scatter(s41.speed_panels(a)).axes) == 7
    assert len(plots.joint_consistency_grid({("x", "y"): []}, {}, {}, {}, {}).axes) == 1
    plt.close("all")


def test_claims_against_independent_networks():
    """Networks with the base's accuracy curve that err independently: no shared order to find, within
    or across architectures."""
    base = ordered_run(n=6, e=10, m_train=50, m_test=300, seed=3)
    table = s41.claims(base, {"resnet-18": independent_run(base, seed=5)}, n_boot=50)
    verdicts = {row["claim"]: row["verdict"] for row in table.rows}
    assert verdicts["Learning speed correlates within an architecture (two halves)"] == "not reproduced"
    assert verdicts["Learning speed correlates across architectures"] == "not reproduced"
    assert verdicts["The diagonal is prominent: equally accurate architectures get the same images right"] != "reproduced"
    assert verdicts["The stronger architecture gets right what the weaker one gets right"] == "not reproduced"
    assert s41.claims(base, {"resnet-18": ordered_run(n=6, e=10, m_train=50, m_test=300, seed=3)},
                      n_boot=50).verdict("Learning speed correlates within an architecture (two halves)") == "reproduced"
