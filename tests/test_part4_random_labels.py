"""Tests of equalnets.chapters.part4_random_labels: its parameters (and the notebook's parameters cell), the
runs it asks the store for, the analysis and every claim rule on made-up runs (one that supports it, one
that contradicts it), one tiny pass through the store, the Gaussian data set and the figures."""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
import pytest
import scipy.fft
import torch
import yaml

from conftest import ROOT
from ensembles import make_run
from equalnets.chapters import part4_random_labels as rl
from equalnets.engine.checks import ParameterError
from equalnets.engine.config import RunConfig
from equalnets.engine.store import Run
from equalnets.engine.data import GAUSSIAN_VARIANCES, load_dataset
from equalnets.figures import random_labels as figs

matplotlib.use("Agg")
STEM = "part4_random_labels"


def as_tuples(value):
    return tuple(value) if isinstance(value, list) else value


# --------------------------------------------------------------------------- parameters


def test_every_profile_builds_its_parameters():
    for name in ("smoke", "quick", "paper"):
        profile = yaml.safe_load((ROOT / "notebooks" / "profiles" / f"{name}.yaml").read_text())
        values = {**profile.get("defaults", {}), **profile["notebooks"][STEM]}
        rl.Parameters(**{k: as_tuples(v) for k, v in values.items() if k != "device"})


@pytest.mark.parametrize("change, name", [
    (dict(seed=-1), "seed"), (dict(n_models=1), "n_models"), (dict(n_bases=0), "n_bases"),
    (dict(gauss_epochs=0), "gauss_epochs"), (dict(gauss_record_epochs=[0, 99]), "gauss_record_epochs"),
    (dict(pretrain_record_epochs=[50]), "pretrain_record_epochs"), (dict(finetune_epochs=0), "finetune_epochs"),
    (dict(image_dataset="gaussian"), "image_dataset"), (dict(image_dataset="nope"), "image_dataset"),
    (dict(gauss_lr=0.0), "gauss_lr"), (dict(lr=-1), "lr"), (dict(optimizer="rmsprop"), "optimizer"),
    (dict(gauss_hidden=[8]), "gauss_hidden"), (dict(cnn_channels=2), "cnn_channels"),
    (dict(cnn_dense=0), "cnn_dense"), (dict(batch_size=0), "batch_size"), (dict(interactive="yes"), "interactive"),
    (dict(gauss_batch_size=0), "gauss_batch_size"), (dict(gauss_momentum=-1), "gauss_momentum"),
    (dict(image_train_per_class=0), "image_train_per_class"), (dict(gauss_hidden="wide"), "gauss_hidden"),
])
def test_a_bad_value_names_the_parameter(change, name):
    with pytest.raises(ParameterError, match=name):
        rl.Parameters(**change)


# --------------------------------------------------------------------------- runs

def test_runs_halves_and_seeds():
    configs = rl.runs(rl.Parameters(), n_train=1000)
    assert list(configs) == ["gaussian", "random", "real", *rl.MODES]
    a, b = rl.halves(1000)
    assert set(a).isdisjoint(b) and len(a) == len(b) == 500 and set(a) | set(b) == set(range(1000))
    assert configs["random"].train_subset == configs["real"].train_subset == a
    assert all(configs[m].train_subset == b and configs[m].labels == "true" for m in rl.MODES)
    assert configs["random"].labels == "random" and configs["gaussian"].labels == "random"
    assert configs["gaussian"].dataset == "gaussian" and configs["gaussian"].inputs == "unit"
    assert all(c.record_first_layer for n, c in configs.items() if n in rl.ALIGNED)
    assert not any(c.dropout for c in configs.values())
    for mode in rl.MODES[1:]:
        assert configs[mode].init_from == configs["random"].key and configs[mode].init_mode == mode
    assert configs["scratch"].init_from is None
    seeds = [c.member_seed(m) for c in configs.values() for m in range(c.n_models)]
    assert len(set(seeds)) == len(seeds)  # no two runs share a member seed
    with pytest.raises(ParameterError, match="n_train"):
        rl.halves(1)


# --------------------------------------------------------------------------- made-up runs

def filters_with(cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, D)`` filters drawn from N(0, cov)."""
    values, vectors = np.linalg.eigh(cov)
    return rng.standard_normal((n, len(cov))) * np.sqrt(values) @ vectors.T


def layer_run(cov_x: np.ndarray, cov_last: np.ndarray, *, members: int = 3, filters: int = 600,
              seed: int = 0) -> "Run":
    """A run whose members' first layers are isotropic at epoch 0 and drawn from N(0, cov_last) at epoch 1."""
    rng = np.random.default_rng(seed)
    d = len(cov_x)
    layers = np.stack([np.stack([filters_with(np.eye(d), filters, rng), filters_with(cov_last, filters, rng)])
                       for _ in range(members)])
    pred = np.zeros((members, 2, 4), dtype=int)
    run = make_run(pred, np.zeros(4, int), pred, np.zeros(4, int), config=RunConfig(n_models=members, epochs=1))
    return dataclasses.replace(run, first_layer=layers.astype(np.float32))


def fine_run(accuracy: list[list[float]], rows: int = 20) -> "Run":
    """A fine-tuning run on the odd train rows whose member k has training accuracy ``accuracy[k][e]`` on them."""
    n, e = len(accuracy), len(accuracy[0])
    m = 2 * rows
    labels = np.zeros(m, dtype=int)
    pred = np.zeros((n, e, m), dtype=int)
    fit = np.arange(1, m, 2)
    for k, acc in enumerate(accuracy):
        for j, a in enumerate(acc):
            pred[k, j, fit[round(a * rows):]] = 1      # wrong on the rest of the rows it trains on
    pred[:, :, ::2] = 1                                # rows not trained on are ignored
    config = RunConfig(n_models=n, epochs=e - 1, train_subset=tuple(fit.tolist()))
    return make_run(pred, labels, pred[:, :, :4], labels[:4], config=config)


def rising_then_falling(sigma_count: int) -> np.ndarray:
    bump = np.exp(-0.5 * ((np.arange(sigma_count) - sigma_count / 2) / 1.5) ** 2)
    return 0.2 + bump


def made_up(*, gauss_aligned=True, random_aligned=True, real_aligned=True, bump=True,
            speeds=None) -> tuple[dict, dict]:
    """Runs and covariances for claims(): aligned or rotated first layers, f with or without a bump, and
    fine-tuning runs with the given per-member accuracies."""
    cov_g = np.diag(GAUSSIAN_VARIANCES)
    cov_i = np.diag(np.linspace(0.05, 3.0, 9))
    spread = {25: np.linspace(3.0, 0.2, 25), 9: np.linspace(3.0, 0.2, 9)}
    # a layer whose eigenvectors spread over every data direction (the DCT basis): above every random basis
    rot = {d: scipy.fft.dct(np.eye(d), norm="ortho", axis=0) for d in (25, 9)}

    def last(cov_x, aligned, shape=None):
        d = len(cov_x)
        values = shape if shape is not None else spread[d]
        order = np.argsort(np.diag(cov_x))                 # diag(cov_x) ascending: values along sorted σ
        diag = np.empty(d)
        diag[order] = values
        cov = np.diag(diag)
        return cov if aligned else rot[d] @ cov @ rot[d].T

    f_shape = rising_then_falling(9) ** 2 if bump else np.linspace(0.04, 1.0, 9)
    runs = {"gaussian": layer_run(cov_g, last(cov_g, gauss_aligned), filters=1500),
            "random": layer_run(cov_i, last(cov_i, random_aligned, f_shape), filters=3000, seed=1),
            "real": layer_run(cov_i, last(cov_i, real_aligned), seed=2)}
    speeds = speeds or {m: [[0.1, 0.5, 0.6]] * 3 for m in rl.MODES}
    runs.update({m: fine_run(acc) for m, acc in speeds.items()})
    return runs, {"gaussian": cov_g, "images": cov_i}


def verdicts(**kwargs) -> list[str]:
    runs, covs = made_up(**kwargs)
    return [row["verdict"] for row in rl.claims(runs, covs, n_bases=50).rows]


SUPPORT = {"copy": [[0.1, 0.8, 0.9], [0.1, 0.85, 0.9], [0.1, 0.9, 0.95]],
           "covariance": [[0.1, 0.8, 0.9], [0.1, 0.85, 0.9], [0.1, 0.9, 0.95]],
           "first-layer": [[0.1, 0.95, 1.0], [0.1, 0.95, 1.0], [0.1, 1.0, 1.0]],
           "scratch": [[0.1, 0.5, 0.6], [0.1, 0.55, 0.6], [0.1, 0.6, 0.65]],
           "rescaled": [[0.1, 0.5, 0.6]] * 3}
CONTRADICT = {"copy": [[0.1, 0.3, 0.4], [0.1, 0.35, 0.4], [0.1, 0.3, 0.35]],
              "covariance": [[0.1, 0.4, 0.5], [0.1, 0.45, 0.5], [0.1, 0.4, 0.5]],
              "first-layer": [[0.1, 0.2, 0.3], [0.1, 0.2, 0.25], [0.1, 0.25, 0.3]],
              "scratch": [[0.1, 0.5, 0.6], [0.1, 0.55, 0.6], [0.1, 0.6, 0.65]],
              "rescaled": [[0.1, 0.5, 0.6]] * 3}


def test_claims_are_reproduced_on_runs_that_support_them():
    assert verdicts(speeds=SUPPORT) == ["reproduced"] * 7


@pytest.mark.parametrize("row, change", [
    (0, dict(gauss_aligned=False)), (1, dict(random_aligned=False)), (2, dict(real_aligned=False)),
    (3, dict(bump=False)),
])
def test_each_alignment_and_shape_rule_can_fail(row, change):
    got = verdicts(speeds=SUPPORT, **change)
    assert got[row] == "not reproduced"
    assert got[:row] + got[row + 1:] == ["reproduced"] * 6 or row == 1  # row 1's run also carries f


@pytest.mark.parametrize("row", [4, 5, 6])
def test_each_transfer_rule_can_fail(row):
    got = verdicts(speeds=CONTRADICT)
    assert got[row] == "not reproduced"
    assert got[:4] == ["reproduced"] * 4


def test_a_transfer_gain_without_separation_is_partly():
    mixed = dict(SUPPORT, copy=[[0.1, 0.9, 0.9], [0.1, 0.5, 0.55], [0.1, 0.7, 0.7]])
    assert verdicts(speeds=mixed)[4] == "partly"


def test_every_claim_states_its_reference_computed_in_the_same_run():
    runs, covs = made_up(speeds=SUPPORT)
    rows = rl.claims(runs, covs, n_bases=50).rows
    assert all(row["reference"] for row in rows)
    assert all("50 random orthonormal bases" in row["reference"] for row in rows[:3])
    assert all(row["reference"].startswith(("scratch", "copy")) for row in rows[4:])


def test_alignment_measures_the_pooled_layer():
    runs, covs = made_up()
    a = rl.alignment(runs["random"], covs["images"], n_bases=30)
    assert a.data.shape == (2,) and a.random.shape == (2, 30) and a.f.shape == (2, 9)
    assert a.ratio(0) > 0.5 and a.ratio() < 0.2 and a.data[-1] < a.random[-1].min()
    assert np.all(np.diff(a.sigma) >= 0)
    assert rl.pooled_covariance(runs["random"]).shape == (2, 9, 9)
    with pytest.raises(ValueError, match="first layer"):
        rl.alignment(runs["copy"], covs["images"])


def test_transfer_and_faster():
    runs, _ = made_up(speeds=SUPPORT)
    t = rl.transfer(runs)
    assert set(t.accuracy) == set(rl.MODES) and t.accuracy["copy"].shape == (3, 3)
    assert t.accuracy["copy"][0] == pytest.approx([0.1, 0.8, 0.9])
    assert t.speed["scratch"] == pytest.approx([0.55, 0.575, 0.625])
    diff, p = rl.faster(t.speed["copy"], t.speed["scratch"])
    assert diff > 0 and p == pytest.approx(0.05)
    assert rl.faster(np.array([]), np.array([1.0]))[1] == 1.0
    with pytest.raises(ValueError, match="fine-tuning"):
        rl.transfer({"gaussian": runs["gaussian"]})


# --------------------------------------------------------------------------- data and store

def test_the_gaussian_data_set():
    data = load_dataset("gaussian", inputs="unit")
    assert data.x_train.shape == (2000, 1, 5, 5) and data.x_test.shape == (1000, 1, 5, 5)
    assert np.bincount(data.y_train.numpy()).tolist() == [200] * 10
    x = data.x_train.flatten(1).numpy().astype(float)
    assert np.diag(x.T @ x / len(x)) == pytest.approx(GAUSSIAN_VARIANCES, rel=0.15)
    assert torch.equal(load_dataset("gaussian", inputs="unit").x_train, data.x_train)   # one fixed draw
    small = load_dataset("gaussian", inputs="unit", train_per_class=5, test_per_class=2)
    assert len(small.y_train) == 50 and len(small.y_test) == 20
    standard = load_dataset("gaussian", train_per_class=5)
    assert float(standard.x_train.std()) == pytest.approx(1.0, rel=1e-5)


def test_a_tiny_chapter_through_the_store(isolated_cache, one_thread):
    params = rl.Parameters(n_models=2, n_bases=10, gauss_hidden=[16], gauss_epochs=1, gauss_record_epochs=None,
                           image_dataset="digits", image_train_per_class=4, image_test_per_class=1, cnn_channels=5,
                           cnn_dense=4, pretrain_epochs=1, pretrain_record_epochs=None, finetune_epochs=1,
                           interactive=False, cache_dir=str(isolated_cache))
    runs, data = rl.open_label_runs(params)
    assert runs["random"].first_layer.shape == (2, 2, 5, 9) and runs["gaussian"].first_layer.shape == (2, 2, 16, 25)
    covs = rl.data_covariances(data)
    assert covs["images"].shape == (9, 9) and covs["gaussian"].shape == (25, 25)
    table = rl.claims(runs, covs, n_bases=10)
    assert len(table.rows) == 7
    copied, source = runs["copy"].model(0).state_dict(), runs["random"].model(0).state_dict()
    assert set(copied) == set(source) and not torch.equal(copied["0.weight"], source["0.weight"])  # trained on
    again, _ = rl.open_label_runs(params)  # warm: loaded, not trained
    assert np.array_equal(again["copy"].train.pred, runs["copy"].train.pred)


# --------------------------------------------------------------------------- figures

def test_figures_draw_made_up_arrays():
    epochs = np.array([0, 1, 2])
    fig = figs.misalignment_curves({"a": (epochs, np.array([1.0, 0.5, 0.2]), np.ones((3, 10)))}, suptitle="x")
    assert len(fig.axes) == 1
    fig = figs.transfer_functions({"a": (epochs, np.linspace(0.1, 2, 9), np.ones((3, 9))),
                                   "b": (epochs, np.linspace(0.1, 2, 9), np.ones((3, 9)))})
    assert len(fig.axes) == 2
    runs, _ = made_up()
    images = rl.filter_images(runs["random"], -1, n=5)
    assert images.shape == (5, 1, 3, 3)
    assert np.array_equal(images[2].ravel(), runs["random"].first_layer[0, -1, 2])
    with pytest.raises(ValueError, match="fan-in"):
        rl.filter_images(runs["gaussian"])                     # 25 inputs are no 3×3 filter
    fig = figs.filter_rows({"untrained": rl.filter_images(runs["random"], 0), "trained": images}, suptitle="x")
    assert len(fig.axes) == 2 * 12
    colour = figs.filter_rows({"rgb": np.random.default_rng(0).normal(size=(4, 3, 3, 3))})
    assert len(colour.axes) == 4
    acc = {m: np.full((3, 3), 0.5) for m in rl.MODES}
    fig = figs.learning_curves(epochs, acc, {"left": ("scratch", "copy"), "right": ("first-layer",)})
    assert len(fig.axes) == 2
