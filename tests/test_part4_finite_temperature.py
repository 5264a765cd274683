"""Tests of equalnets.chapters.part4_finite_temperature: its parameters and notebook, the stratified
subsets, the annealing rule, the cache of the sampler's results, every claim on made-up samplings
(one that supports it, one that contradicts it) and the figures."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from equalnets.chapters import part4_finite_temperature as ft
from equalnets.engine.checks import ParameterError
from equalnets.figures import finite_temperature as figures
from equalnets.methods import sampler

matplotlib.use("Agg")
STEM = "part4_finite_temperature"
LADDER = sampler.geometric_ladder(0.01, 100.0, 9)  # T = 1 is index 4


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def made_up(model: str = "M(3)", size: int = 50, test=None, train=None, validation=None, minima: float = 2.0,
            spread: float = 0.01, samples: int = 10, seed: int = 0) -> ft.Sampling:
    """A Sampling whose mean losses per temperature are the given curves (R = 9 on LADDER), each sample
    the curve plus a little noise; ``minima`` the K = 4 minima's test loss."""
    rng = np.random.default_rng(seed)
    R = len(LADDER)
    test = np.asarray(test if test is not None else np.linspace(1, 3, R), dtype=float)
    curves = {"train": np.asarray(train if train is not None else np.geomspace(0.001, 4, R)),
              "validation": np.asarray(validation if validation is not None else test), "test": test}
    loss = {s: c[:, None] + spread * rng.standard_normal((R, samples)) for s, c in curves.items()}
    error = {s: np.full((R, samples), 0.3) for s in curves}
    return ft.Sampling(model=model, size=size, temperatures=LADDER, loss=loss, error=error,
                       predictive_loss={s: c - 0.1 for s, c in curves.items()},
                       predictive_error={s: np.full(R, 0.3) for s in curves},
                       minima_loss={"train": np.zeros(4), "validation": np.full(4, minima),
                                    "test": minima + np.array([0.0, 0.1, 0.2, 0.3])},
                       minima_error={s: np.full(4, 0.3) for s in curves}, acceptance=np.full(R, 0.65),
                       swap_rate=np.full(R - 1, 0.1), step_size=np.full(R, 0.01),
                       trace=np.abs(rng.standard_normal((R, 6))) + 1, burn_in=3)


def verdict(table, start: str) -> str:
    rows = [r for r in table.rows if r["claim"].startswith(start)]
    assert len(rows) == 1, [r["claim"] for r in table.rows]
    return rows[0]["verdict"]


# --------------------------------------------------------------------------- parameters and notebook


def test_good_parameters_are_normalised():
    params = ft.Parameters(samplings=[["M(1)", 20]], t_min=1, t_max=2, minima_lr=1)
    assert params.samplings == (("M(1)", 20),) and isinstance(params.t_min, float)
    assert np.allclose(params.temperatures()[[0, -1]], [1, 2])


@pytest.mark.parametrize("name, value", [
    ("dataset", "cifar10"), ("samplings", []), ("samplings", [["M(2)", 50]]), ("samplings", [["M(3)", 55]]),
    ("samplings", [["M(3)", 50], ["M(3)", 50]]), ("samplings", "M(3)"), ("validation_share", 1.0), ("t_min", 0),
    ("t_max", 0.001), ("n_temperatures", 1), ("iterations", 1), ("burn_in", 0), ("burn_in", 60),
    ("trajectories", 0), ("leapfrog", 0), ("minima_networks", 0), ("minima_steps", 0), ("minima_lr", -1.0),
    ("seed", -1), ("num_threads", 1.5), ("device", "tpu")])
def test_a_bad_parameter_is_named(name, value):
    with pytest.raises(ParameterError, match=name if name != "samplings" else "samplings"):
        ft.Parameters(**{name: value})


# --------------------------------------------------------------------------- data

def test_stratified_subsets_are_nested_balanced_and_disjoint_from_the_held_out_images():
    labels = np.repeat(np.arange(4), 30)
    train, validation, test = ft.stratified_split(labels, [8, 40], 0.5, seed=3)
    assert set(train[8]) <= set(train[40])
    assert np.bincount(labels[train[40]]).tolist() == [10] * 4 and np.bincount(labels[train[8]]).tolist() == [2] * 4
    held = np.concatenate([validation, test])
    assert not set(held) & set(train[40]) and len(held) + 40 == len(labels) and len(set(held)) == len(held)
    assert np.bincount(labels[validation]).tolist() == [10] * 4
    with pytest.raises(ParameterError, match="samplings"):
        ft.stratified_split(labels, [120], 0.5, seed=0)


def test_load_splits_on_the_digits():
    splits = ft.load_splits(ft.Parameters(samplings=[["M(3)", 50], ["M(1)", 100]]))
    assert splits.inputs == 64 and splits.classes == 10 and sorted(splits.train) == [50, 100]
    x, y = splits.train[50]
    assert x.shape == (50, 64) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert len(splits.validation[1]) + len(splits.test[1]) + 100 == 1797


# --------------------------------------------------------------------------- analysis

@pytest.mark.parametrize("curve, pick", [([5, 4, 3, 2, 1], 4), ([3, 1, 2, 4, 5], 1), ([1, 5, 4, 6, 7], 2),
                                         ([2, 2, 2], 0), ([1, 2, 3], 0)])
def test_annealing_cools_until_the_validation_loss_rises(curve, pick):
    assert ft.annealing_pick(np.array(curve, dtype=float)) == pick


def test_batch_standard_error():
    values = np.array([[1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0, 0.0]])
    se = ft.batch_standard_error(values, batches=5)
    assert se[0] == 0 and se[1] == pytest.approx(np.std([0, 1, 0, 1, 0], ddof=1) / math.sqrt(5))
    assert ft.batch_standard_error(np.ones((3, 1))).tolist() == [0, 0, 0]


def test_run_samplings_computes_once_and_then_reads_the_store(tmp_path, monkeypatch):
    params = ft.Parameters(samplings=[["M(1)", 20]], n_temperatures=2, iterations=3, burn_in=1, trajectories=1,
                           leapfrog=2, minima_networks=2, minima_steps=3, cache_dir=str(tmp_path))
    splits = ft.load_splits(params)
    (first,) = ft.run_samplings(params, splits, log=lambda line: None)
    assert first.loss["test"].shape == (2, 2) and first.minima_loss["test"].shape == (2,)
    assert first.trace.shape == (2, 3) and first.label == "M(1) on D20"

    def fail(*args, **kwargs):
        raise AssertionError("a warm run computes nothing")

    monkeypatch.setattr(sampler, "replica_exchange", fail)
    monkeypatch.setattr(sampler, "gradient_trained_minima", fail)
    (again,) = ft.run_samplings(params, splits, log=lambda line: None)
    assert np.array_equal(again.loss["test"], first.loss["test"])


def test_summary_table_reads_the_samplings():
    table = ft.sampling_table([made_up(test=[3, 2.5, 2, 1.5, 1, 1.5, 2, 2.5, 3])])
    row = table.iloc[0]
    assert row["best T (test)"] == pytest.approx(1.0) and row["test loss at best T"] == pytest.approx(1, abs=0.05)
    assert row["annealing pick T"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- claims: one that holds, one that fails

VALLEY = [3.0, 2.6, 2.2, 1.8, 1.0, 1.6, 2.4, 3.0, 4.0]   # minimum at T = 1
RISING = [1.0, 1.2, 1.5, 1.8, 2.2, 2.6, 3.0, 3.5, 4.0]   # best at the coldest


def test_sampling_beats_optimisation_holds_and_fails():
    assert verdict(ft.claims([made_up(test=VALLEY, minima=1.5)]), "Sampling the posterior") == "reproduced"
    assert verdict(ft.claims([made_up(test=VALLEY, minima=0.5)]), "Sampling the posterior") == "not reproduced"


def test_m3_minimum_near_one_holds_and_fails():
    assert verdict(ft.claims([made_up(test=VALLEY)]), "M(3)'s test loss has a minimum") == "reproduced"
    assert verdict(ft.claims([made_up(test=RISING)]), "M(3)'s test loss has a minimum") == "not reproduced"
    noisy = made_up(test=[1.1, 1.2, 1.3, 1.4, 1.0, 1.5, 2, 3, 4], spread=2.0)  # within the noise of the coldest
    assert verdict(ft.claims([noisy]), "M(3)'s test loss has a minimum") == "not reproduced"


def test_m3_star_best_at_low_temperature_holds_and_fails():
    holds = ft.claims([made_up("M(3*)", test=RISING), made_up(test=VALLEY)])
    assert verdict(holds, "M(3*)") == "reproduced"
    fails = ft.claims([made_up("M(3*)", test=VALLEY), made_up(test=VALLEY)])
    assert verdict(fails, "M(3*)") == "not reproduced"


def test_annealing_rule_holds_and_fails():
    assert verdict(ft.claims([made_up(test=VALLEY)]), "Annealing rule") == "reproduced"
    # the validation loss rises on cooling at T = 10, far above the test set's best temperature
    misled = made_up(test=VALLEY, validation=[3, 2.6, 2.2, 1.8, 1.0, 1.6, 2.4, 2.0, 4.0], minima=0.5)
    assert verdict(ft.claims([misled]), "Annealing rule") == "not reproduced"


def test_transition_above_the_uninformed_classifier_holds_and_fails():
    assert verdict(ft.claims([made_up()]), "As T rises") == "reproduced"
    never_worse = made_up(train=np.geomspace(0.001, 1.5, 9))  # stays below ln 10 at the hottest
    assert verdict(ft.claims([never_worse]), "As T rises") == "not reproduced"


def test_every_claim_states_its_reference_computed_in_the_same_run():
    table = ft.claims([made_up(test=VALLEY), made_up("M(3*)", test=RISING), made_up("M(1)", test=VALLEY)])
    assert len(table.rows) == 5 and all(row["reference"] for row in table.rows)
    assert "minima" in table.rows[0]["reference"] and "coldest" in table.rows[1]["reference"]
    assert "ln 10 = 2.30" in table.rows[-1]["reference"]


def test_claims_leave_out_the_networks_not_sampled():
    table = ft.claims([made_up("M(3*)", test=RISING)])
    assert [r["claim"].split()[0] for r in table.rows] == ["M(3*)", "Annealing"]


# --------------------------------------------------------------------------- figures

def test_every_figure_draws():
    samplings = [made_up(test=VALLEY), made_up("M(3*)", 500, test=RISING), made_up("M(1)", test=VALLEY)]
    for fig in (figures.loss_against_temperature(samplings, suptitle="x"), figures.error_against_temperature(samplings),
                figures.sampler_rates(samplings), figures.energy_traces(samplings)):
        assert fig.axes
        plt.close(fig)
