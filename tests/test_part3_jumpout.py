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
from scipy import stats
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
    linearly to ``q_final`` (one value per dropout layer, member k's 1 % above member k−1's) and ``seconds``
    of training."""
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
        member = 1 + 0.01 * np.arange(n)[:, None, None]
        active = ramp * member * np.asarray(q_final)[None, None, :]
    return Run(config=config, epochs=epochs, train=split, test=split, loss=np.ones((n, config.epochs)),
               classes=tuple("abcdefghij"), path=Path("/nowhere"), active=active, seconds=np.full(n, seconds))


GAINS = {"jumpout": 0.1, "sampled": 0.05, "normalised": 0.05, "rescaled": 0.05}
Q_FINAL = {"cnn": [0.6, 0.4, 0.5, 0.45], "mlp": [0.4, 0.6]}


def made_up_jumpout_runs(gains=None, q_final=None, jumpout_seconds: float = 1.1, variants=None) -> dict[str, Run]:
    """Three networks per run at 70, 71, 72 % for plain dropout, each other variant ``gains[variant]``
    above (both architectures), ``q⁺`` ending at ``q_final[arch]`` per layer."""
    gains, q_final = {**GAINS, **(gains or {})}, {**Q_FINAL, **(q_final or {})}
    configs = p3.runs(p3.Parameters(variants=variants or list(p3.VARIANTS[1:])))
    runs = {}
    for name, config in configs.items():
        arch, variant = name.split("/")
        acc = [a + gains.get(variant, 0.0) for a in (0.70, 0.71, 0.72)]
        runs[name] = made_up_jumpout_run(config, acc, q_final[arch], jumpout_seconds if variant == "jumpout" else 1.0)
    return runs


def made_up_shifts(v_075: float = 0.2, m_075: float = 0.05, units: int = 12) -> pd.DataFrame:
    """A shift table: per unit, mean shift ±m and log variance ratio v (± 1 % from unit to unit) for the powers
    1 (0.01, 0.3), 0.75 (``m_075``, ``v_075``) and 0.5 (0.08, 0.1)."""
    rows = []
    for rate in (0.1, 0.3):
        for power, m, v in ((1.0, 0.01, 0.3), (0.75, m_075, v_075), (0.5, 0.08, 0.1)):
            rows += [dict(layer="4", rate=rate, power=power, unit=u, mean_shift=(-1) ** u * m * (1 + 0.01 * u),
                          var_ratio=float(np.exp(v * (1 + 0.01 * u)))) for u in range(units)]
    return pd.DataFrame(rows)


def made_up_costs(ratio: float = 1.05, repeats: int = 20) -> pd.DataFrame:
    """Step times: dropout 10 ms ± 2 % (turn by turn), jumpout ``ratio`` times that ± 2 %."""
    rng = np.random.default_rng(0)
    base = 0.010 * (1 + 0.02 * rng.standard_normal(repeats))
    jump = ratio * base * (1 + 0.02 * rng.standard_normal(repeats))
    return pd.DataFrame({"repeat": np.tile(np.arange(repeats), 2), "model": ["dropout"] * repeats + ["jumpout"] * repeats,
                         "seconds": np.concatenate([base, jump])})


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
    assert act.final[("cnn", "9")] == pytest.approx(0.404) and act.spread["cnn"] == pytest.approx(0.202)
    assert act.on_active[("cnn", "9")] == pytest.approx(0.1 / 0.404) and act.on_active.max() <= Jumpout().max_rate


def test_summarize_with_one_network_and_the_gain_test():
    g = p3.gain_test([0.80, 0.81, 0.82], [0.90, 0.91, 0.92])
    assert g.gain == pytest.approx(0.1) and g.p < 1e-3 and g.low < 0.1 < g.high and g.n_a == g.n_b == 3
    # Welch: se = 0.01 · sqrt(2/3), df = 4
    assert g.detectable == pytest.approx(stats.t.ppf(0.95, 4) * 0.01 * np.sqrt(2 / 3))
    assert p3.gain_test([0.80, 0.82, 0.84], [0.81, 0.83, 0.85]).p > 0.05
    assert np.isnan(p3.gain_test([0.80], [0.9, 0.91]).p)
    assert "+10.00 points" in g.describe() and "N = 3 + 3" in g.describe()
    with pytest.raises(ValueError, match="at least one"):
        p3.gain_test([], [0.5])
    results = pd.DataFrame(dict(arch="cnn", variant=["a", "a", "b"], member=[0, 1, 0],
                                test_acc=[0.5, 0.7, 0.6], train_seconds=[1.0, 3.0, 2.0]))
    s = p3.summarize(results).set_index("variant")
    assert s.loc["a", "acc_mean"] == pytest.approx(0.6) and s.loc["a", "acc_sd"] == pytest.approx(np.sqrt(0.02))
    assert s.loc["b", "acc_sd"] == 0.0 and s.loc["b", "n"] == 1


CLAIMS = ["layers", "rescaling", "jumpout cnn", "jumpout mlp", "I", "II", "III", "cost"]
CONTRADICT = {
    "layers": dict(q_final={"cnn": [0.5] * 4, "mlp": [0.5, 0.5]}),       # every layer as active as the others
    "rescaling": dict(shifts=made_up_shifts(m_075=0.5)),                 # 0.75 moves the mean too far
    "jumpout cnn": dict(gains={"jumpout": 0.0}),                         # no gain (both architectures)
    "jumpout mlp": dict(gains={"jumpout": -0.01}),
    "I": dict(gains={"sampled": 0.0}),
    "II": dict(gains={"normalised": -0.02}),
    "III": dict(gains={"rescaled": 0.0}),
    "cost": dict(costs=made_up_costs(ratio=1.5)),                       # half as slow again
}


def _verdicts(gains=None, q_final=None, shifts=None, costs=None):
    table = p3.claims(made_up_jumpout_runs(gains, q_final), made_up_shifts() if shifts is None else shifts,
                      costs=made_up_costs() if costs is None else costs)
    return dict(zip(CLAIMS, table.frame().verdict)), table


def test_every_claim_is_reproduced_on_a_supporting_case():
    verdicts, table = _verdicts()
    assert list(verdicts.values()) == ["reproduced"] * len(CLAIMS) and len(table.rows) == len(CLAIMS)
    assert all(r["reference"] for r in table.rows)
    assert "p < 0.01" in table.rows[0]["rule"] and "1.2" in table.rows[0]["rule"] and "1.25" in table.rows[-1]["rule"]
    assert "+10.00 points" in table.rows[2]["this book"]


@pytest.mark.parametrize("claim", CLAIMS)
def test_every_claim_is_not_reproduced_on_a_contradicting_case(claim):
    verdicts, _ = _verdicts(**CONTRADICT[claim])
    assert verdicts[claim] == "not reproduced"
    if claim in ("jumpout cnn", "I", "II", "III"):
        assert sum(v == "not reproduced" for v in verdicts.values()) == (2 if claim == "jumpout cnn" else 1)


def test_layers_differing_in_one_architecture_only_is_partly():
    verdicts, _ = _verdicts(q_final={"mlp": [0.5, 0.52]})  # the MLP's layers differ by 4 %
    assert verdicts["layers"] == "partly"


def test_the_shift_layer_and_cost_tests():
    st = p3.shift_test(made_up_shifts(), 0.12)
    assert st.rate == 0.1 and st.units == 12 and st.p < 0.05 and st.median[0.75] < st.median[1.0]
    with pytest.raises(ValueError, match="powers"):
        p3.shift_test(made_up_shifts().query("power != 0.75"), 0.1)
    comparison = p3.compare_variants(made_up_jumpout_runs())
    tests = {t.arch: t for t in p3.layer_tests(comparison.active, "dropout")}
    assert tests["cnn"].ratio == pytest.approx(1.5) and tests["cnn"].p < 1e-6 and tests["mlp"].ratio == pytest.approx(1.5)
    c = p3.cost_test(made_up_costs(ratio=1.05))
    assert c.ratio == pytest.approx(1.05, abs=0.02) and c.low < c.ratio < c.high and c.p < 1e-6 and c.repeats == 20
    with pytest.raises(ValueError, match="jumpout"):
        p3.cost_test(made_up_costs().query("model == 'dropout'"))


def test_claims_leave_out_what_they_are_not_given():
    assert len(p3.claims(made_up_jumpout_runs()).rows) == 6  # no shift table, no timings
    assert [r["claim"][:20] for r in p3.claims(made_up_jumpout_runs(variants=["dropout", "sampled"])).rows] == \
        ["The same dropout rat", "Modification I alone"]
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
    costs = p3.step_costs(params, data, repeats=3)
    assert len(costs) == 6 and set(costs.model) == {"dropout", "jumpout"} and (costs.seconds > 0).all()
    table = p3.claims(runs, shifts, dropout_rate=params.dropout_rate, costs=costs)
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
