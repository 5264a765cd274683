"""Tests of equalnets.chapters.part2_bias_attribution: its parameters, its runs, its analysis and its
claims (on made-up tables), and the thinness of its notebook."""

from __future__ import annotations

import itertools

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from equalnets.chapters import part2_bias_attribution as p2
from equalnets.engine.checks import ParameterError
from equalnets.engine.data import DatasetNotFoundError
from equalnets.methods import attribution as attr

matplotlib.use("Agg")
STEM = "part2_bias_attribution"


def _tuples(value):
    """Lists (as a notebook or YAML writes them) as tuples (as the parameters hold them)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


# --------------------------------------------------------------------------- parameters and notebook


def test_good_parameters_are_normalised():
    params = p2.Parameters(cnn_channels=[8], mlp_hidden=[4, 4], flip_pairs=[[1, 7]], ig_steps=[3], lr=1,
                           fashion_train_per_class=None, flip_dataset="mnist")
    assert params.cnn_channels == (8,) and params.flip_pairs == ((1, 7),) and params.lr == 1.0
    assert isinstance(params.lr, float)


@pytest.mark.parametrize("name, value", [
    ("seed", -1), ("num_threads", 1.5), ("digits_epochs", 0), ("fashion_train_per_class", 0), ("lr", 0),
    ("batch_size", True), ("cnn_channels", []), ("mlp_hidden", "128"), ("flip_dataset", "cifar10"),
    ("flip_pairs", [[8, 8]]), ("flip_pairs", [[8, 3, 1]]), ("flip_pairs", [[8, 10]]), ("flip_pairs", []),
    ("flip_networks", 0), ("flip_fraction", 1.5), ("ig_steps", [0]), ("ig_method", "simpson"),
    ("map_classes", 11), ("identity_images", 0), ("interactive", "yes"), ("device", "tpu")])
def test_a_bad_parameter_is_named(name, value):
    with pytest.raises(ParameterError, match=name):
        p2.Parameters(**{name: value})


# --------------------------------------------------------------------------- runs

def test_runs_share_no_member_seeds_and_train_without_dropout_on_raw_inputs():
    params = p2.Parameters(seed=7)
    configs = p2.runs(params)
    assert list(configs) == ["digits MLP", "digits CNN", "fashion-mnist CNN", "fashion-mnist CNN without bias"]
    seeds = {c.member_seed(k) for c in configs.values() for k in range(c.n_models)}
    assert len(seeds) == sum(c.n_models for c in configs.values())
    with_bias, without = configs["fashion-mnist CNN"], configs["fashion-mnist CNN without bias"]
    assert with_bias.bias and not without.bias and with_bias.seed != without.seed
    assert with_bias.replace(bias=False, seed=without.seed) == without
    for c in configs.values():
        assert (c.dropout, c.inputs, c.optimizer, c.lr_decay_every) == (False, "unit", "adam", 0)
        assert c.record_epochs == (0, c.epochs)
    assert configs["digits CNN"].hidden == (16, 32, 64) and configs["digits MLP"].hidden == (128, 64)
    assert configs["digits CNN"].n_models == params.flip_networks and configs["digits MLP"].n_models == 1


def test_the_flip_on_mnist_is_its_own_run_and_falls_back_to_digits(monkeypatch, capsys):
    params = p2.Parameters(flip_dataset="mnist", flip_networks=3, flip_epochs=2)
    configs = p2.runs(params, "mnist")
    assert configs["mnist CNN"].n_models == 3 and configs["mnist CNN"].epochs == 2
    assert configs["digits CNN"].n_models == 1

    def missing(*_args, **_kwargs):
        raise DatasetNotFoundError("no MNIST here")

    monkeypatch.setattr(p2, "load_dataset", missing)
    assert p2.flip_source(params) == ("digits", None)
    assert "falls back" in capsys.readouterr().out
    assert p2.flip_source(p2.Parameters()) == ("digits", None)


# --------------------------------------------------------------------------- claims on made-up tables

RISE = {"gradient": 2.0, "gradient×input": 3.0, "IG n=5": 3.0, "IG n=10": 3.0, "bias (contribution)": 2.8,
        "bias (weight)": 1.0, "bias (uniform)": 0.5, "random": 0.1}


def _flip(rise=RISE, random_wins=()):
    """Digit-flip rows: 2 networks × 2 pairs × 3 images per method; ``random_wins`` (pair, network)
    cases where the random control beats every bias rule."""
    rows = []
    for k, pair, method, image in itertools.product(range(2), ("8→3", "8→6"), rise, range(3)):
        value = 10.0 if method == "random" and (pair, k) in random_wins else rise[method] + 0.01 * image
        rows.append({"pair": pair, "method": method, "image": image, "rise": value, "network": k})
    return pd.DataFrame(rows)


def _agreement(rho=0.3, deltas=(0.02, 0.01)):
    rows = []
    for pair in ("8→3", "8→6"):
        for rule in attr.BIAS_RULES:
            rows.append({"pair": pair, "method": f"bias ({rule})", "compared": f"bias ({rule}) vs gradient×input",
                         "median Spearman ρ": rho, "images": 6})
        for n, d in zip((5, 10), deltas):
            rows.append({"pair": pair, "method": f"IG n={n}", "compared": f"IG n={n}: mean |completeness error|",
                         "median Spearman ρ": np.nan, "images": 6, "IG |delta|": d})
    return pd.DataFrame(rows)


IDENTITY = pd.DataFrame({"network": ["MLP", "CNN"], "largest |error|": [1e-15, 3e-15]})


def test_claims_all_reproduced_on_a_clear_case():
    table = p2.claims(IDENTITY, {"full": 90.0, "wx": 80.0, "b": 30.0, "nobias": 89.0}, _flip(), _agreement())
    assert [r["verdict"] for r in table.rows] == ["reproduced"] * 8
    assert "n = 5, 10" in table.rows[6]["claim"] and "n=5: 0.020, n=10: 0.010" in table.rows[7]["this book"]


def test_claims_partly_and_not_reproduced():
    rise = {**RISE, "bias (weight)": 2.9, "IG n=10": 4.0}  # weight beats contribution, far below IG at n=10
    flip = _flip(rise, random_wins={("8→6", 1)})
    flip.loc[(flip.pair == "8→6") & (flip.method == "bias (contribution)"), "rise"] = 2.95  # another order
    table = p2.claims(pd.DataFrame({"largest |error|": [1e-6]}), {"full": 90.0, "wx": 85.0, "b": 15.0, "nobias": 90.5},
                      flip, _agreement(rho=0.6, deltas=(0.01, 0.02)))
    assert [r["verdict"] for r in table.rows] == [
        "not reproduced",   # identity error 1e-6 > 1e-9
        "partly",           # only-w·x 5 points below, only-b below 2 × chance
        "partly",           # 0.5 points higher without bias
        "partly",           # random wins in 1 of 4 cases
        "not reproduced",   # ρ 0.6
        "not reproduced",   # the best rule differs between the pairs
        "partly",           # ≥ 0.8 × IG at n=5, not at n=10
        "not reproduced"]   # the completeness error grows with n


def test_flip_summary_and_numbers():
    s = p2.flip_summary(_flip(random_wins={("8→3", 0)}))
    assert s.pairs == ["8→3", "8→6"] and s.best_bias == {p: "bias (contribution)" for p in s.pairs}
    assert s.best_grad == {p: "gradient×input" for p in s.pairs} and (s.wins, s.cells, s.n_per_box) == (3, 4, 6)
    numbers = p2.flip_numbers(s)
    assert numbers["p2_pair1"] == "8→6" and numbers["p2_best_bias0"] == "bias (contribution)"
    assert numbers["p2_median_8to3_gradientxinput"] == pytest.approx(3.01)
    assert numbers["p2_median_8to6_IG_n10"] == pytest.approx(3.01)
    assert numbers["p2_bias_min0"] == pytest.approx(2.81) and numbers["p2_bias_wins"] == 3
    rho_best, ig_delta = p2.agreement_summary(_agreement(), s.best_bias)
    assert rho_best == 0.3 and list(ig_delta.values) == pytest.approx([0.02, 0.01])


# --------------------------------------------------------------------------- the chapter on tiny networks

def test_the_chapter_end_to_end_on_tiny_networks(capfd, one_thread):
    params = p2.Parameters(digits_epochs=3, lr=0.01, fashion_train_per_class=5, fashion_test_per_class=3,
                           fashion_epochs=1, cnn_channels=(4,), cnn_dense=8, mlp_hidden=(8,), flip_networks=2,
                           flip_images=2, ig_steps=(2, 3), map_classes=2, identity_images=3, interactive=False)
    networks = p2.open_networks(params)
    assert "training" in capfd.readouterr().err
    assert set(networks.models) == set(p2.runs(params)) and len(networks.flip) == 2
    assert networks.flip[0] is networks.models["digits CNN"] and not networks.flip[0].training
    assert p2.open_networks(params).accuracy == networks.accuracy
    assert "training" not in capfd.readouterr().err  # a warm store trains nothing

    identity = p2.identity_table(networks, params.identity_images)
    assert len(identity) == 4 and identity["largest |error|"].max() < 1e-9
    accuracy = p2.motivating_accuracy(networks)
    assert set(accuracy) == {"full", "wx", "b", "nobias"}
    assert len(p2.motivating_table(accuracy, 30)) == 2
    flip = p2.digit_flip_test(params, networks)
    assert (flip.n_remove, flip.n_features, flip.n_networks) == (13, 64, 2)
    agreement = p2.agreement_table(params, networks)
    table = p2.claims(identity, accuracy, flip.frame, agreement)
    assert len(table.rows) == 8
    maps, labels = p2.input_maps(networks, "digits", 2, params.ig_steps, params.ig_method)
    assert len(labels) == 2 and maps["image"].shape == (2, 8, 8)
    cls = int(networks.data["digits"].y_test[attr.most_confident_per_class(
        networks.models["digits CNN"], networks.data["digits"].x_test, networks.data["digits"].y_test, 10)[0]])
    fig = p2.layer_figure(networks, "digits", cls)
    assert len(fig.axes) == 2 * 5  # the input and the flattened map; image, weight part, three rules
    plt.close("all")
