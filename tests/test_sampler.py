"""Tests of equalnets.methods.sampler: replica-exchange HMC on targets whose answer is known (a
Gaussian, a double well, a box), the step-size tuning, the contract's shapes and bad input; the
paper's stacked networks, the gradient-trained minima and the scores of samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from equalnets.methods import sampler as sm


def gaussian(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x * x).sum(1)


def double_well(x: torch.Tensor) -> torch.Tensor:
    """Wells at ±1, barrier 4 at 0."""
    return 4.0 * ((x * x - 1) ** 2).sum(1)


# --------------------------------------------------------------------------- the ladder

def test_geometric_ladder_has_a_constant_ratio_and_the_given_ends():
    t = sm.geometric_ladder(0.01, 100.0, 9)
    assert t.shape == (9,) and t[0] == pytest.approx(0.01) and t[-1] == pytest.approx(100.0)
    assert np.allclose(t[1:] / t[:-1], 10 ** 0.5)
    assert sm.geometric_ladder(0.5, 2.0, 1).tolist() == [0.5]


@pytest.mark.parametrize("args, name", [((0, 1, 3), "t_min"), ((1, float("inf"), 3), "t_max"), ((2, 1, 3), "t_max"),
                                        ((0.1, 1, 0), "n"), ((0.1, 1, 2.5), "n")])
def test_geometric_ladder_rejects_bad_input(args, name):
    with pytest.raises(ValueError, match=name):
        sm.geometric_ladder(*args)


# --------------------------------------------------------------------------- known targets

def test_gaussian_variance_is_proportional_to_temperature():
    """exp(-|x|²/2T) has variance T in every coordinate: within 25 % at each of three temperatures."""
    temps = torch.tensor([0.25, 1.0, 4.0], dtype=torch.float64)
    res = sm.replica_exchange(gaussian, torch.zeros(4, dtype=torch.float64), temps, iterations=200, trajectories=2,
                              leapfrog=8, burn_in=50, seed=1)
    ratio = res.samples.var(dim=1).mean(1) / temps
    assert torch.all((ratio > 0.75) & (ratio < 1.25)), ratio
    assert torch.all(res.samples.mean(dim=(1, 2)).abs() < 0.25 * temps.sqrt())
    assert torch.allclose(res.energies, gaussian(res.samples.reshape(-1, 4)).reshape(3, -1))


def test_replica_exchange_crosses_the_barrier_that_plain_hmc_does_not():
    """Started in the left well: at T = 0.1 (barrier 40 T) the cold replica of the exchange visits both
    wells, plain HMC at the same temperature never leaves the left one."""
    x0 = torch.tensor([-1.0], dtype=torch.float64)
    ladder = torch.tensor(sm.geometric_ladder(0.1, 4.0, 6))
    exchange = sm.replica_exchange(double_well, x0, ladder, iterations=300, trajectories=1, leapfrog=5, burn_in=40,
                                   seed=2)
    cold = exchange.samples[0, :, 0]
    right = (cold > 0).double().mean().item()
    assert 0.1 < right < 0.9 and int(((cold[1:] > 0) != (cold[:-1] > 0)).sum()) >= 10, right
    assert torch.all(exchange.swap_rate > 0.2)
    plain = sm.replica_exchange(double_well, x0, ladder[:1], iterations=300, trajectories=1, leapfrog=5, burn_in=40,
                                seed=2)
    assert torch.all(plain.samples[0, :, 0] < 0) and plain.swap_rate.shape == (0,)


def test_the_box_prior_is_never_left_and_is_sampled_as_a_truncated_density():
    """A linear energy pushes every replica out of the box |x| < 1: no sample leaves it, and at T = 1
    the density exp(x) on (-1, 1) has mean coth(1) - 1."""
    push = lambda x: -x.sum(1)  # noqa: E731
    bounds = torch.ones(3, dtype=torch.float64)
    temps = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    res = sm.replica_exchange(push, torch.zeros(3, dtype=torch.float64), temps, iterations=200, trajectories=2,
                              leapfrog=5, burn_in=50, bounds=bounds, seed=3)
    assert torch.all(res.samples.abs() < 1)
    assert res.samples[1].mean().item() == pytest.approx(1 / math.tanh(1) - 1, abs=0.08)


def test_step_sizes_are_tuned_per_temperature_to_the_acceptance_band():
    """A quartic well stiffens where hot replicas go: each temperature gets its own step size (smaller
    when hotter), and after burn-in each accepts 60-70 % of its trajectories."""
    quartic = lambda x: 0.25 * (x ** 4).sum(1)  # noqa: E731
    temps = torch.tensor([0.1, 1.0, 10.0], dtype=torch.float64)
    res = sm.replica_exchange(quartic, torch.zeros(10, dtype=torch.float64), temps, iterations=300, trajectories=5,
                              leapfrog=4, burn_in=200, seed=4)
    assert torch.all((res.acceptance >= 0.6) & (res.acceptance <= 0.7)), res.acceptance
    assert res.step_size[0] > 2 * res.step_size[-1]


def test_a_given_step_size_is_kept_and_the_result_has_the_contracts_shapes():
    temps = [0.5, 1.0, 2.0, 4.0]
    x0 = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    res = sm.replica_exchange(gaussian, x0, temps, iterations=12, trajectories=1, leapfrog=3, burn_in=2,
                              step_size=0.3, seed=0)
    assert res.samples.shape == (4, 10, 2) and res.energies.shape == (4, 10)
    assert res.acceptance.shape == (4,) and res.swap_rate.shape == (3,)
    assert res.trace.shape == (4, 12) and res.walker.shape == (4, 12)
    assert torch.allclose(res.step_size, torch.full((4,), 0.3, dtype=torch.float64))
    assert torch.all((res.acceptance >= 0) & (res.acceptance <= 1))
    assert sorted(res.walker[:, -1].tolist()) == [0, 1, 2, 3]  # swaps permute the configurations
    again = sm.replica_exchange(gaussian, x0, temps, iterations=12, trajectories=1, leapfrog=3, burn_in=2,
                                step_size=0.3, seed=0)
    assert torch.equal(res.samples, again.samples)  # one seed, one chain


def test_neighbours_at_almost_the_same_temperature_always_swap():
    res = sm.replica_exchange(gaussian, torch.zeros(2, dtype=torch.float64), [1.0, 1.0001], iterations=40,
                              trajectories=1, leapfrog=3, burn_in=10, step_size=0.5, seed=5)
    assert res.swap_rate.item() > 0.95


def test_without_burn_in_every_sample_is_kept_at_the_initial_step_size():
    res = sm.replica_exchange(gaussian, np.zeros(3), np.array([1.0, 2.0]), iterations=6, trajectories=1, leapfrog=2,
                              burn_in=0, seed=0)
    assert res.samples.shape == (2, 6, 3) and res.energies.shape == (2, 6) and res.burn_in == 0
    assert torch.allclose(res.step_size, torch.full((2,), sm.INITIAL_STEP, dtype=torch.float64))


def test_the_default_burn_in_is_half_the_iterations():
    res = sm.replica_exchange(gaussian, torch.zeros(1), [1.0, 2.0], iterations=9, trajectories=1, leapfrog=2, seed=0)
    assert res.burn_in == 4 and res.samples.shape == (2, 5, 1) and res.samples.dtype == torch.float32


@pytest.mark.parametrize("change, name", [
    ({"energy": "not a function"}, "energy"),
    ({"energy": lambda x: x.sum()}, "energy"),                              # not (R,)
    ({"energy": lambda x: torch.ones(x.shape[0])}, "energy"),               # not differentiable in x
    ({"x0": torch.zeros(3, 2)}, "x0"),                                      # R rows expected
    ({"x0": torch.tensor([float("nan"), 0.0])}, "x0"),
    ({"x0": torch.zeros(0)}, "x0"),
    ({"temperatures": [2.0, 1.0]}, "temperatures"),
    ({"temperatures": [0.0, 1.0]}, "temperatures"),
    ({"temperatures": [[1.0, 2.0]]}, "temperatures"),
    ({"temperatures": []}, "temperatures"),
    ({"iterations": 0}, "iterations"),
    ({"iterations": 2.5}, "iterations"),
    ({"trajectories": 0}, "trajectories"),
    ({"leapfrog": 0}, "leapfrog"),
    ({"burn_in": 10}, "burn_in"),
    ({"burn_in": -1}, "burn_in"),
    ({"step_size": -0.1}, "step_size"),
    ({"step_size": [0.1, 0.2, 0.3]}, "step_size"),
    ({"bounds": torch.ones(3)}, "bounds"),
    ({"bounds": torch.tensor([1.0, -1.0])}, "bounds"),
    ({"bounds": torch.tensor([1.0, 0.1]), "x0": torch.tensor([0.0, 0.5])}, "x0"),
    ({"seed": -1}, "seed"),
])
def test_bad_input_is_a_value_error_naming_the_argument(change, name):
    args = {"energy": gaussian, "x0": torch.zeros(2), "temperatures": [1.0, 2.0], "iterations": 10}
    args.update(change)
    energy, x0, temperatures = args.pop("energy"), args.pop("x0"), args.pop("temperatures")
    with pytest.raises(ValueError, match=name):
        sm.replica_exchange(energy, x0, temperatures, **args)


# --------------------------------------------------------------------------- the paper's networks

def test_the_paper_networks_have_its_sizes_and_box_prior():
    m3 = sm.paper_network("M(3)", 256)
    assert m3.sizes == (256, 40, 40, 40, 10) and m3.n_params == 13_970
    assert sm.paper_network("M(1)", 256).n_params == 10_690  # the count CHAPTERS.md gives (for M(3)) is M(1)'s
    bounds = m3.bounds()
    assert bounds.shape == (13_970,)
    assert bounds[0].item() == pytest.approx(50 / math.sqrt(257))
    assert bounds[-1].item() == pytest.approx(50 / math.sqrt(41))
    star = sm.paper_network("M(3*)", 64)
    assert star.logistic_outputs and star.bounds()[0].item() == pytest.approx(1000 / math.sqrt(65))
    assert sm.paper_network("M(1)", 64).sizes == (64, 40, 10)
    with pytest.raises(ValueError, match="name"):
        sm.paper_network("M(2)", 64)


def test_the_stacked_forward_is_every_network_on_its_own():
    model = sm.paper_network("M(3)", 12, classes=4)
    gen = torch.Generator().manual_seed(0)
    theta = 3 * model.init(5, gen)
    x, y = torch.rand(7, 12, generator=gen), torch.randint(4, (7,), generator=gen)
    energy = model.energy(theta, x, y)
    for r in range(5):  # the reference: one network at a time, with torch's own layers
        h = x
        for i, (w, b) in enumerate(model.layers(theta[r:r + 1])):
            h = F.linear(h, w[0].T, b[0, 0])
            h = torch.sigmoid(h) if i < 3 else h
        assert energy[r].item() == pytest.approx(F.cross_entropy(h, y, reduction="sum").item(), rel=1e-5)


def test_logistic_outputs_keep_the_loss_above_its_floor():
    model = sm.paper_network("M(3*)", 8)
    gen = torch.Generator().manual_seed(1)
    theta = 50 * model.init(3, gen)
    x, y = torch.rand(20, 8, generator=gen), torch.randint(10, (20,), generator=gen)
    assert torch.all(model.energy(theta, x, y) >= 20 * math.log(1 + 9 / math.e) - 1e-4)


def test_gradient_trained_minima_fit_the_data_inside_the_box():
    model = sm.paper_network("M(1)", 6, classes=3)
    gen = torch.Generator().manual_seed(2)
    x, y = torch.rand(30, 6, generator=gen), torch.randint(3, (30,), generator=gen)
    start = model.energy(model.init(3, torch.Generator().manual_seed(9)), x, y)
    minima = sm.gradient_trained_minima(model, x, y, networks=3, steps=300, lr=0.05, seed=9)
    assert minima.shape == (3, model.n_params)
    assert torch.all(minima.abs() < model.bounds())
    assert torch.all(model.energy(minima, x, y) < 0.5 * start)
    with pytest.raises(ValueError, match="networks"):
        sm.gradient_trained_minima(model, x, y, networks=0)


def test_sample_losses_score_every_sample_and_the_predictive():
    model = sm.paper_network("M(1)", 5, classes=3)
    gen = torch.Generator().manual_seed(3)
    samples = model.init(6, gen).reshape(2, 3, -1)
    x, y = torch.rand(11, 5, generator=gen), torch.randint(3, (11,), generator=gen)
    s = sm.sample_losses(model, samples, x, y)
    assert s.loss.shape == s.error.shape == (2, 3) and s.predictive_loss.shape == (2,)
    expected = model.energy(samples[1], x, y) / 11
    assert np.allclose(s.loss[1], expected.numpy(), rtol=1e-5)
    one = sm.sample_losses(model, samples[:, :1], x, y)
    assert np.allclose(one.predictive_loss, one.loss[:, 0], rtol=1e-5)
    assert s.predictive_loss[0] <= s.loss[0].mean() + 1e-6  # the mixture's loss is at most the mean loss (Jensen)
    with pytest.raises(ValueError, match="samples"):
        sm.sample_losses(model, samples[0], x, y)
