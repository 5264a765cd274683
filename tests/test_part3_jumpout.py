"""Tests of equalnets.chapters.part3_jumpout: its parameters (and the notebook's parameters cell), the runs it
asks the store for, the tables and the claims over made-up runs, one tiny end-to-end pass through the store,
the shape of its notebook, and its figures and widget."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from equalnets.chapters import part3_jumpout as p3
from equalnets.engine.checks import ParameterError
from equalnets.engine.config import RunConfig
from equalnets.engine.layers import Jumpout
from equalnets.engine.models import network
from equalnets.engine.store import Run, SplitRecord
from equalnets.engine.train import dropout_layers
from equalnets.figures import dropout as figs

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "part3_jumpout.ipynb"


def as_tuples(value):
    return tuple(value) if isinstance(value, list) else value


# --------------------------------------------------------------------------- parameters


def test_good_values_are_normalised():
    params = p3.Parameters(archs=["mlp"], variants=["none", "jumpout"], cnn_widths=[4, 8], shift_rates=[0, 0.2],
                           dropout_rate=0, sigma=0.2, lr=1)
    assert params.archs == ("mlp",) and params.variants == ("none", "jumpout") and params.cnn_widths == (4, 8)
    assert params.shift_rates == (0.0, 0.2) and params.rate_sigma() == 0.2 and params.lr == 1
    assert p3.Parameters().rate_sigma() == pytest.approx(0.12533, abs=1e-4)  # mean drawn rate 0.1


@pytest.mark.parametrize("change, name", [
    (dict(n_seeds=0), "n_seeds"), (dict(seed=-1), "seed"), (dict(archs=["cnn", "vgg"]), "archs"),
    (dict(archs="cnn"), "archs"), (dict(archs=["cnn", "cnn"]), "archs"), (dict(variants=["none"]), "variants"),
    (dict(variants=["gaussian"]), "variants"), (dict(dropout_rate=1.0), "dropout_rate"),
    (dict(p_min=0.5, p_max=0.4), "p_min"), (dict(sigma=0.0), "sigma"), (dict(dropout_rate=0.7), "dropout_rate"),
    (dict(rescale_power=0.0), "rescale_power"), (dict(q_mode="layer"), "q_mode"), (dict(cnn_widths=[]), "cnn_widths"),
    (dict(cnn_hidden=0), "cnn_hidden"), (dict(mlp_widths="256"), "mlp_widths"), (dict(probe_size=0), "probe_size"),
    (dict(shift_rates=[1.5]), "shift_rates"), (dict(shift_powers=[0]), "shift_powers"),
    (dict(train_per_class=0), "train_per_class"), (dict(lr=-1.0), "lr"), (dict(optimizer="rmsprop"), "optimizer"),
    (dict(dataset="nope"), "dataset"), (dict(epochs=0), "epochs"), (dict(interactive="yes"), "interactive"),
])
def test_a_bad_value_names_the_parameter(change, name):
    with pytest.raises(ParameterError, match=name):
        p3.Parameters(**change)


# --------------------------------------------------------------------------- runs

def test_runs_one_config_per_arch_and_variant_with_seeds_of_its_own():
    params = p3.Parameters(variants=list(p3.VARIANTS), n_seeds=4)
    configs = p3.runs(params)
    assert list(configs) == [p3.run_name(a, v) for a in ("cnn", "mlp") for v in p3.VARIANTS]
    members = [{c.member_seed(k) for k in range(c.n_models)} for c in configs.values()]
    assert len(set().union(*members)) == sum(map(len, members)) == 4 * len(configs)  # no member seed shared
    other = p3.runs(p3.Parameters(variants=list(p3.VARIANTS), seed=1))
    assert not {c.seed for c in configs.values()} & {c.seed for c in other.values()}
    for name, config in configs.items():
        assert p3.variant_of(config) == name.split("/")[1] and config.n_models == 4
        assert config.lr_decay_every == 0 and config.weight_decay == 5e-4 and config.dataset == "fashion-mnist"
        assert config.batch_norm == (config.arch == "cnn")
        assert config.hidden == ((8, 16, 32, 64) if config.arch == "cnn" else (256, 256))
    none, plain, jump = configs["cnn/none"], configs["cnn/dropout"], configs["mlp/jumpout"]
    assert not none.dropout and none.record_active is None
    assert plain.dropout_kind == "standard" and plain.record_active == 500 and plain.jumpout_sigma is None
    assert jump.dropout_kind == "jumpout" and jump.jumpout_power == 0.75 and jump.jumpout_q_mode == "batch"


def test_the_configs_build_networks_with_a_dropout_after_every_relu():
    configs = p3.runs(p3.Parameters(variants=["dropout", "jumpout", "none"]))
    for name, config in configs.items():
        model = network(config, in_channels=1, image_size=32, n_classes=10)
        relus = sum(isinstance(m, nn.ReLU) for m in model.modules())
        assert len(dropout_layers(model)) == (0 if name.endswith("none") else relus)
        assert any(isinstance(m, Jumpout) for m in model.modules()) == name.endswith("jumpout")
        out = model(torch.randn(5, 1, 32, 32))
        assert out.shape == (5, 10)
        out.sum().backward()


# --------------------------------------------------------------------------- made-up runs

def made_up_jumpout_run(config: RunConfig, accuracy: list[float], q_final: list[float], seconds: float) -> Run:
    """A run of ``config`` whose member k has test accuracy ``accuracy[k]`` at the last epoch, ``q⁺`` rising
    linearly to ``q_final`` (one value per dropout layer) and ``seconds`` of training."""
    n, m = len(accuracy), 1000
    epochs = np.asarray(config.recorded_epochs)
    labels = np.arange(m) % 10
    pred = np.tile(((labels + 1) % 10).astype(np.int16), (n, len(epochs), 1))
    for k, acc in enumerate(accuracy):
        pred[k, -1, :round(acc * m)] = labels[:round(acc * m)]
    zeros = np.zeros(pred.shape, np.float16)
    split = SplitRecord(labels=labels, pred=pred, p_label=zeros, margin=zeros, el2n=zeros)
    active = None
    if config.dropout:
        ramp = np.linspace(0.5, 1, len(epochs))[None, :, None]
        active = np.broadcast_to(ramp * np.asarray(q_final)[None, None, :], (n, len(epochs), len(q_final))).copy()
    return Run(config=config, epochs=epochs, train=split, test=split, loss=np.ones((n, config.epochs)),
               classes=tuple("abcdefghij"), path=Path("/nowhere"), active=active, seconds=np.full(n, seconds))


def made_up_jumpout_runs(jumpout_gain: float = 0.1, jumpout_seconds: float = 1.1, variants=None) -> dict[str, Run]:
    configs = p3.runs(p3.Parameters(variants=variants or list(p3.VARIANTS[1:])))
    runs = {}
    for name, config in configs.items():
        arch, variant = name.split("/")
        base = [0.70, 0.71, 0.72]
        acc = [a + (jumpout_gain if variant == "jumpout" else 0.005 if variant == "sampled" else -0.05
                    if variant == "rescaled" else 0.0) for a in base]
        q = [0.6, 0.4, 0.5, 0.45] if arch == "cnn" else [0.5, 0.55]
        runs[name] = made_up_jumpout_run(config, acc, q, jumpout_seconds if variant == "jumpout" else 1.0)
    return runs


def made_up_shifts(v_075: float = 0.2, m_075: float = 0.05) -> pd.DataFrame:
    rows = []
    for rate in (0.1, 0.3):
        for power, m, v in ((1.0, 0.01, 0.3), (0.75, m_075, v_075), (0.5, 0.08, 0.1)):
            rows += [dict(layer="4", rate=rate, power=power, unit=u, mean_shift=(-1) ** u * m,
                          var_ratio=float(np.exp(v))) for u in range(4)]
    return pd.DataFrame(rows)


def test_compare_variants_tables_from_made_up_jumpout_runs():
    runs = made_up_jumpout_runs()
    comparison = p3.compare_variants(runs, {"cnn/dropout": ["4", "9", "14", "19"]})
    results, active = comparison.results, comparison.active
    assert len(results) == 3 * len(runs) and set(results.columns) == {"arch", "variant", "member", "test_acc",
                                                                      "train_seconds"}
    assert p3.accuracies(results, "cnn", "jumpout") == pytest.approx([0.8, 0.81, 0.82])
    cnn_plain = active[(active.arch == "cnn") & (active.variant == "dropout")]
    assert set(cnn_plain.layer) == {"4", "9", "14", "19"} and set(active[active.arch == "mlp"].layer) == {"layer 0",
                                                                                                        "layer 1"}
    assert len(cnn_plain) == 3 * 9 * 4 and cnn_plain.epoch.max() == 8
    summary = p3.summarize(results)
    row = summary.set_index(["arch", "variant"]).loc[("cnn", "jumpout")]
    assert row.acc_mean == pytest.approx(0.81) and row.acc_sd == pytest.approx(0.01) and row.n == 3
    assert p3.time_ratio(summary) == pytest.approx(1.1) and np.isnan(p3.time_ratio(summary, "resnet"))
    table = p3.comparison_table(summary, ["dropout", "jumpout"])
    assert list(table.index) == ["dropout", "jumpout"] and table.loc["jumpout", ("accuracy", "cnn")] == "81.00 ± 1.00"
    act = p3.summarize_active(active, "dropout", 0.1)
    assert act.final[("cnn", "9")] == pytest.approx(0.4) and act.spread["cnn"] == pytest.approx(0.2)
    assert act.on_active[("cnn", "9")] == pytest.approx(0.25) and act.on_active.max() <= Jumpout().max_rate


def test_summarize_with_one_network_and_gain_verdict_rule():
    assert p3.gain_verdict([0.80, 0.81, 0.82], [0.90, 0.91, 0.92])[2] == "reproduced"
    assert p3.gain_verdict([0.80, 0.82, 0.84], [0.81, 0.83, 0.85])[2] == "partly"
    assert p3.gain_verdict([0.80, 0.81], [0.79, 0.80])[2] == "not reproduced"
    with pytest.raises(ValueError, match="at least one"):
        p3.gain_verdict([], [0.5])
    results = pd.DataFrame(dict(arch="cnn", variant=["a", "a", "b"], member=[0, 1, 0],
                                test_acc=[0.5, 0.7, 0.6], train_seconds=[1.0, 3.0, 2.0]))
    s = p3.summarize(results).set_index("variant")
    assert s.loc["a", "acc_mean"] == pytest.approx(0.6) and s.loc["a", "acc_sd"] == pytest.approx(np.sqrt(0.02))
    assert s.loc["b", "acc_sd"] == 0.0 and s.loc["b", "n"] == 1


def test_claims_on_made_up_jumpout_runs():
    table = p3.claims(made_up_jumpout_runs(), made_up_shifts())
    verdicts = dict(zip(table.frame().claim, table.frame().verdict))
    assert len(verdicts) == 8
    assert verdicts["Behind a ReLU, dropout's effective rate p·q⁺ is well below p and differs between layers "
                    "(Modification II)"] == "reproduced"  # q⁺ ≤ 0.6, spread 0.2 in the CNN
    assert next(v for c, v in verdicts.items() if c.startswith("Rescaling")) == "reproduced"
    assert verdicts["Jumpout beats dropout on Fashion-MNIST (CNN with batch norm)"] == "reproduced"
    assert verdicts["Modification I alone improves on dropout (CNN)"] == "partly"  # +0.5 points, SD 1
    assert verdicts["Modification II alone improves on dropout (CNN)"] == "not reproduced"  # no gain
    assert verdicts["Modification III alone improves on dropout (CNN)"] == "not reproduced"
    assert verdicts["Jumpout costs about as much as dropout"] == "reproduced"  # ratio 1.1
    assert "+10.00 points (pooled SD 1.00, N = 3 seeds)" in table.frame()["this book"].tolist()
    assert table.summary() == "5 reproduced, 1 partly, 2 not reproduced"


def test_claims_follow_the_rules_at_their_thresholds():
    worse = p3.claims(made_up_jumpout_runs(jumpout_gain=-0.01, jumpout_seconds=1.4), made_up_shifts(v_075=0.4, m_075=0.01))
    verdicts = dict(zip(worse.frame().claim, worse.frame().verdict))
    assert verdicts["Jumpout beats dropout on Fashion-MNIST (CNN with batch norm)"] == "not reproduced"
    assert verdicts["Jumpout costs about as much as dropout"] == "partly"  # 1.25 < 1.4 ≤ 1.5
    assert next(v for c, v in verdicts.items() if c.startswith("Rescaling")) == "partly"  # only the mean is better
    # without a shift table, 'jumpout' or 'dropout', the claims that need them are left out
    assert len(p3.claims(made_up_jumpout_runs()).rows) == 7
    assert [r["claim"][:20] for r in p3.claims(made_up_jumpout_runs(variants=["dropout", "sampled"])).rows] == \
        ["Behind a ReLU, dropo", "Modification I alone"]
    assert len(p3.claims(made_up_jumpout_runs(variants=["sampled", "jumpout"])).rows) == 1


# --------------------------------------------------------------------------- through the store

def test_a_tiny_chapter_through_the_store(isolated_cache):
    params = p3.Parameters(dataset="digits", train_per_class=10, test_per_class=5, epochs=1, n_seeds=2,
                           archs=["cnn"], variants=["dropout", "jumpout"], cnn_widths=[4], cnn_hidden=8,
                           probe_size=20, shift_rates=[0.1], interactive=False, cache_dir=str(isolated_cache))
    runs, data = p3.open_variant_runs(params)
    assert list(runs) == ["cnn/dropout", "cnn/jumpout"] and len(data.y_train) == 100
    run = runs["cnn/jumpout"]
    assert run.active.shape == (2, 2, 2) and run.seconds.shape == (2,)
    layers = p3.layer_names(runs)
    assert layers["cnn/dropout"] == list(dropout_layers(run.model(0))) == ["4", "9"]
    comparison = p3.compare_variants(runs, layers)
    assert set(comparison.active.layer) == {"4", "9"}
    shifts = p3.moment_shifts(runs, data, params)
    assert set(shifts.layer) == {"4"} and set(shifts.power) == {1.0, 0.75, 0.5}
    table = p3.claims(runs, shifts, dropout_rate=params.dropout_rate)
    assert len(table.rows) == 4
    again, _ = p3.open_variant_runs(params)  # warm: loaded, not trained
    assert np.array_equal(again["cnn/jumpout"].test.pred, run.test.pred)


# --------------------------------------------------------------------------- figures and widget

def test_figures_draw_made_up_tables():
    comparison = p3.compare_variants(made_up_jumpout_runs())
    plain = comparison.active[comparison.active.variant == "dropout"]
    fig = figs.plot_active_by_arch(plain, p=0.1, n_images=100)
    assert len(fig.axes) >= 2 and "N = 3 networks" in fig.axes[0].get_title()
    assert len(figs.plot_comparison(comparison.results, variants=list(p3.VARIANTS[1:])).axes) == 4
    assert figs.plot_moment_shift(made_up_shifts(), n_images=50) is not None


def test_active_fraction_explorer_builds_and_redraws():
    widgets = pytest.importorskip("ipywidgets")
    from equalnets.figures.widgets import active_fraction_explorer

    active = pd.DataFrame(dict(arch="cnn", variant=["dropout"] * 4, member=0, epoch=[0, 1, 0, 1],
                               layer=["4", "4", "9", "9"], q_plus=[0.5, 0.6, 0.4, 0.3]))
    box = active_fraction_explorer(active, p=0.1)
    assert isinstance(box, widgets.VBox)
    box.children[0].children[2].value = "9"  # choosing a layer redraws without error
