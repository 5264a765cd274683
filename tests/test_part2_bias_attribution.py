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

CLAIMS = ["identity", "only b", "only wx", "no bias", "random", "competitive", "complementary", "rules", "IG steps"]
RISE = {"gradient": 11.0, "gradient×input": 11.0, "IG n=5": 11.0, "IG n=10": 11.0, "bias (contribution)": 10.5,
        "bias (weight)": 10.0, "bias (uniform)": 9.5, "random": 1.0}


def _flip(rise=RISE, networks=10, images=6, rule_noise=0.0):
    """Digit-flip rows: ``networks`` × 2 pairs × ``images`` per method; each network shifts every method by
    the same amount (networks differ, methods keep their order), ``rule_noise`` adds a per-network amount of
    its own to each bias rule (no consistent order among them)."""
    rng = np.random.default_rng(0)
    rows = []
    for k in range(networks):
        shift = rng.normal(0, 1)
        own = {m: rng.normal(0, rule_noise) if m.startswith("bias") else 0.0 for m in rise}
        for pair, method, image in itertools.product(("8→3", "8→6"), rise, range(images)):
            rows.append({"pair": pair, "method": method, "image": image, "network": k,
                         "rise": rise[method] + shift + own[method] + 0.01 * image})
    return pd.DataFrame(rows)


def _agreement(rho=0.2, rho_ig=0.9, deltas=(0.05, 0.01), networks=10, images=6):
    rng = np.random.default_rng(1)
    rows = []
    for k, pair in itertools.product(range(networks), ("8→3", "8→6")):
        jitter = rng.normal(0, 0.02, images)
        for rule in attr.BIAS_RULES:
            rows += [(pair, k, i, f"bias ({rule})", p2.RHO, rho + j) for i, j in enumerate(jitter)]
        rows += [(pair, k, i, "IG n=10", p2.RHO, rho_ig + j) for i, j in enumerate(jitter)]
        for n, d in zip((5, 10), deltas):
            rows += [(pair, k, i, f"IG n={n}", p2.DELTA, d * (1 + rng.uniform(0, 0.2))) for i in range(images)]
    return pd.DataFrame(rows, columns=["pair", "network", "image", "method", "quantity", "value"])


def _motivating(full=0.8, wx=0.7, b=0.3, nobias=0.7, m=1000):
    """Per-image correctness with the given accuracies, the sets nested in the order of their accuracy
    (the more accurate is right on every image the less accurate is right on)."""
    idx = np.arange(m)
    return p2.Motivating(full=idx < full * m, wx=idx < wx * m, b=idx < b * m, nobias=idx < nobias * m, chance=0.1)


IDENTITY = pd.DataFrame({"network": ["MLP", "CNN"], "largest |error|": [1e-15, 3e-15], "largest |logit|": [9.0, 12.0]})
SUPPORT = dict(identity=IDENTITY, motivating=_motivating(), flip=_flip(), agreement=_agreement())
CONTRADICT = {
    "identity": dict(identity=IDENTITY.assign(**{"largest |error|": [1e-15, 1e-6]})),  # float32-sized error
    "only b": dict(motivating=_motivating(b=0.105)),                  # only-b at chance
    "only wx": dict(motivating=_motivating(wx=0.8)),                  # J(x)·x alone as good as the network
    "no bias": dict(motivating=_motivating(nobias=0.85)),             # better without bias
    "random": dict(flip=_flip({**RISE, "random": 11.0})),            # the random control above every rule
    "competitive": dict(flip=_flip({**RISE, "gradient": 30.0, "gradient×input": 30.0, "IG n=5": 30.0, "IG n=10": 30.0})),
    "complementary": dict(agreement=_agreement(rho=0.95)),            # bias ranks pixels like IG does
    "rules": dict(flip=_flip({**RISE, "bias (weight)": 10.5, "bias (uniform)": 10.5}, rule_noise=0.5)),
    "IG steps": dict(agreement=_agreement(deltas=(0.01, 0.01))),       # no gain from more steps
}


def _verdicts(**change):
    table = p2.claims(**{**SUPPORT, **change})
    return dict(zip(CLAIMS, (r["verdict"] for r in table.rows)))


def test_every_claim_is_reproduced_on_a_supporting_case():
    table = p2.claims(**SUPPORT)
    assert len(table.rows) == len(CLAIMS) and [r["verdict"] for r in table.rows] == ["reproduced"] * len(CLAIMS)
    assert all(r["reference"] for r in table.rows)  # every rule states its reference
    assert "1e+05" in table.rows[0]["rule"] and "0.05/3" in table.rows[4]["rule"] and "0.8" in table.rows[5]["rule"]


@pytest.mark.parametrize("claim", CLAIMS)
def test_every_claim_is_not_reproduced_on_a_contradicting_case(claim):
    assert _verdicts(**CONTRADICT[claim])[claim] == "not reproduced"


def test_competitive_with_some_gradient_methods_is_partly():
    assert _verdicts(flip=_flip({**RISE, "IG n=5": 30.0, "IG n=10": 30.0}))["competitive"] == "partly"


def test_complementary_needs_an_informative_rule():
    verdicts = _verdicts(flip=_flip({**RISE, "random": 11.0}))  # unlike the gradient, but no better than random
    assert verdicts["complementary"] == "not reproduced" and verdicts["random"] == "not reproduced"


def test_the_motivating_tests_and_tolerance():
    tests = p2.split_tests(_motivating())
    assert tests.p_b < 1e-20 and tests.p_wx < 1e-20 and tests.p_nobias < 1e-20
    assert p2.mcnemar_p(np.ones(5, bool), np.ones(5, bool)) == 1.0  # no discordant image: nothing to test
    assert p2.identity_tolerance(IDENTITY) == pytest.approx(1e5 * np.finfo(float).eps * 12.0)
    assert p2.identity_tolerance(IDENTITY.assign(**{"largest |logit|": 0.1})) == pytest.approx(1e5 * np.finfo(float).eps)
    with pytest.raises(ValueError, match="bool"):
        p2.Motivating(full=np.ones(3), wx=np.ones(3, bool), b=np.ones(3, bool), nobias=np.ones(3, bool), chance=0.1)
    assert _motivating().percent() == pytest.approx({"full": 80.0, "wx": 70.0, "b": 30.0, "nobias": 70.0})


def test_flip_summary_tests_and_numbers():
    flip = _flip()
    s = p2.flip_summary(flip)
    assert s.pairs == ["8→3", "8→6"] and s.best_bias == {p: "bias (contribution)" for p in s.pairs}
    assert s.gradient_methods == ["gradient", "gradient×input", "IG n=5", "IG n=10"] and s.n_per_box == 60
    numbers = p2.flip_numbers(s)
    assert numbers["p2_pair1"] == "8→6" and numbers["p2_best_bias0"] == "bias (contribution)"
    gain = p2.paired_by_network(flip, "bias (weight)", "random")
    assert len(gain) == 10 and gain.to_numpy() == pytest.approx(np.full(10, 9.0))
    with pytest.raises(ValueError, match="method 'nope'"):
        p2.paired_by_network(flip, "nope", "random")
    assert p2.signed_rank_p(pd.Series(np.zeros(5))) == 1.0 and np.isnan(p2.signed_rank_p(pd.Series([], dtype=float)))
    assert p2.signed_rank_p(pd.Series(-np.arange(1.0, 6.0))) > 0.9
    t = p2.flip_tests(flip, _agreement())
    assert t.alpha_rule == pytest.approx(0.05 / 3) and t.informative() == t.rules == t.complementary()
    assert t.vs_random["bias (weight)"] == (pytest.approx(9.0), pytest.approx(1 / 1024))
    assert t.rho_ig == pytest.approx(0.9, abs=0.02) and t.ig_rho_method == "IG n=10" and t.delta[0] == "IG n=5"
    text = p2.flip_test_numbers(t)
    assert text["p2_n_informative"] == 3 and text["p2_most_competitive"] == 4
    table = p2.agreement_table(_agreement())
    assert set(table["method"]) == {"bias (contribution)", "bias (weight)", "bias (uniform)", "IG n=5", "IG n=10"}
    assert (table["images"] == 60).all()


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
    assert len(identity) == 4 and identity["largest |error|"].max() < p2.identity_tolerance(identity)
    motivating = p2.motivating_accuracy(networks)
    assert set(motivating.percent()) == {"full", "wx", "b", "nobias"} and motivating.n == 30
    assert len(p2.motivating_table(motivating)) == 2
    flip = p2.digit_flip_test(params, networks)
    assert (flip.n_remove, flip.n_features, flip.n_networks) == (13, 64, 2)
    agreement = p2.agreement_rows(params, networks)
    assert set(agreement["quantity"]) == {p2.RHO, p2.DELTA}
    table = p2.claims(identity, motivating, flip.frame, agreement)
    assert len(table.rows) == 9
    maps, labels = p2.input_maps(networks, "digits", 2, params.ig_steps, params.ig_method)
    assert len(labels) == 2 and maps["image"].shape == (2, 8, 8)
    cls = int(networks.data["digits"].y_test[attr.most_confident_per_class(
        networks.models["digits CNN"], networks.data["digits"].x_test, networks.data["digits"].y_test, 10)[0]])
    fig = p2.layer_figure(networks, "digits", cls)
    assert len(fig.axes) == 2 * 5  # the input and the flattened map; image, weight part, three rules
    plt.close("all")
