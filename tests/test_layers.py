"""Tests of equalnets.engine.layers' Jumpout: the rate distribution, the q⁺ normalisation, the
expectation of the output, eval mode, parameter checks and reproducibility. (FastDropout and
dropout_mask are tested with the engine, in test_engine.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from equalnets.engine.checks import ParameterError
from equalnets.engine.config import DROPOUT_KINDS
from equalnets.engine.layers import (Jumpout, active_fraction, expected_rate, make_dropout, sample_rates,
                                     sigma_for_mean_rate)


def half_active(n: int = 4000, d: int = 200, value: float = 2.0) -> torch.Tensor:
    """(n, d) with exactly half of every row zero (the even columns) and the rest ``value``."""
    x = torch.full((n, d), value)
    x[:, ::2] = 0.0
    return x


# --------------------------------------------------------------------------- change 1: rates

def test_sampled_rates_stay_in_bounds_and_have_the_closed_form_mean():
    gen = torch.Generator().manual_seed(0)
    rates = sample_rates(200_000, 0.2, 0.05, 0.4, gen)
    assert float(rates.min()) >= 0.05 and float(rates.max()) <= 0.4 + 1e-7
    assert float(rates.mean()) == pytest.approx(expected_rate(0.2, 0.05, 0.4), abs=2e-3)
    # truncation at p_max really happens with these values, and small rates are the most likely
    assert float((rates == 0.4).float().mean()) == pytest.approx(math.erfc(0.35 / (0.2 * math.sqrt(2))), abs=5e-3)
    hist = torch.histc(rates[rates < 0.4], bins=5, min=0.05, max=0.4)
    assert torch.all(hist[:-1] >= hist[1:])


def test_expected_rate_without_truncation_is_the_half_normal_mean():
    assert expected_rate(0.1, 0.0, 0.99) == pytest.approx(0.1 * math.sqrt(2 / math.pi), rel=1e-6)


def test_sigma_for_mean_rate_inverts_expected_rate():
    sigma = sigma_for_mean_rate(0.2, 0.0, 0.6)
    assert expected_rate(sigma, 0.0, 0.6) == pytest.approx(0.2, abs=1e-9)
    with pytest.raises(ValueError, match="mean"):
        sigma_for_mean_rate(0.7, 0.0, 0.6)


def test_layer_draws_one_rate_per_step_from_the_distribution():
    layer = Jumpout(sample_rate=True, normalize_rate=False, rescale=False, sigma=0.15, p_min=0.02,
                    p_max=0.5, generator=torch.Generator().manual_seed(1))
    x = torch.ones(4, 50)
    drawn = []
    for _ in range(2000):
        layer(x)
        drawn.append(float(layer.last_rate))
    drawn = np.array(drawn)
    assert drawn.min() >= 0.02 and drawn.max() <= 0.5 + 1e-7
    assert drawn.mean() == pytest.approx(expected_rate(0.15, 0.02, 0.5), abs=0.01)


# --------------------------------------------------------------------------- change 2: q⁺

def test_active_fraction_per_batch_and_per_sample():
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, -1.0]])
    assert float(active_fraction(x)) == pytest.approx(0.5)
    assert active_fraction(x, per="sample").flatten().tolist() == pytest.approx([0.25, 0.75])
    with pytest.raises(ValueError, match="per"):
        active_fraction(x, per="layer")


@pytest.mark.parametrize("q_mode", ["batch", "sample"])
def test_normalisation_makes_the_effective_rate_the_intended_one(q_mode):
    torch.manual_seed(0)
    p = 0.2
    x = half_active()  # q⁺ = 0.5 exactly, per batch and per sample
    layer = Jumpout(p, sample_rate=False, normalize_rate=True, rescale=False, q_mode=q_mode)
    out = layer(x)
    active = x > 0
    dropped_active = (active & (out == 0)).float()
    # a fraction p of all units is switched off (effective rate p'·q⁺ = p) ...
    assert float(dropped_active.mean()) == pytest.approx(p, abs=0.005)
    # ... i.e. p/q⁺ = 0.4 of the active ones
    assert float(dropped_active.sum() / active.sum()) == pytest.approx(p / 0.5, abs=0.01)
    assert float(layer.last_q_plus) == pytest.approx(0.5)
    assert float(layer.last_effective_rate) == pytest.approx(0.4)


def test_without_normalisation_only_p_times_q_plus_of_the_layer_is_switched_off():
    torch.manual_seed(0)
    x = half_active()
    out = nn.Dropout(0.2)(x)  # plain dropout: the effective rate is p·q⁺ = 0.1
    assert float(((x > 0) & (out == 0)).float().mean()) == pytest.approx(0.1, abs=0.005)


def test_normalised_rate_is_capped_and_an_all_zero_input_passes_through():
    x = torch.zeros(10, 20)
    x[:, 0] = 1.0  # q⁺ = 0.05, p/q⁺ = 4 → capped at max_rate
    layer = Jumpout(0.2, sample_rate=False, normalize_rate=True, rescale=False, max_rate=0.9)
    layer(x)
    assert float(layer.last_effective_rate) == pytest.approx(0.9)
    zeros = torch.zeros(3, 5)
    assert torch.equal(layer(zeros), zeros)


# --------------------------------------------------------------------------- change 3 and the mean

@pytest.mark.parametrize("kind", ["standard", "sampled", "normalised"])
def test_output_expectation_equals_input_without_rescaling(kind):
    torch.manual_seed(0)
    layer = make_dropout(kind, 0.3, sigma=0.2, p_min=0.0, p_max=0.6)
    x = torch.rand(1, 300) + 0.5  # all active
    mean = torch.stack([layer(x.expand(2000, -1)).mean(0) for _ in range(5)]).mean(0)
    assert torch.allclose(mean, x[0], rtol=0.03)


def test_rescaled_output_expectation_is_the_documented_fraction_of_the_input():
    torch.manual_seed(0)
    p, power = 0.3, 0.75
    layer = Jumpout(p, sample_rate=False, normalize_rate=False, rescale=True, rescale_power=power)
    x = torch.rand(1, 300) + 0.5
    mean = layer(x.expand(20000, -1)).mean(0)
    factor = (1 - p) ** (1 - power)  # ≈ 0.915: the mean is deliberately not kept
    assert torch.allclose(mean, factor * x[0], rtol=0.03)
    assert not torch.allclose(mean, x[0], rtol=0.05)


def test_all_switches_off_is_inverted_dropout():
    torch.manual_seed(0)
    layer = Jumpout(0.25, sample_rate=False, normalize_rate=False, rescale=False)
    out = layer(torch.ones(1000, 100))
    values = torch.unique(out)
    assert len(values) == 2 and values[0] == 0.0 and float(values[1]) == pytest.approx(1 / 0.75)
    assert float((out == 0).float().mean()) == pytest.approx(0.25, abs=0.01)


# --------------------------------------------------------------------------- modes, checks, seeds

@pytest.mark.parametrize("kind", DROPOUT_KINDS)
def test_eval_mode_is_the_identity(kind):
    layer = make_dropout(kind, 0.3).eval()
    x = torch.randn(8, 3, 4, 4).relu()
    assert torch.equal(layer(x), x)


@pytest.mark.parametrize("kwargs, name", [
    (dict(sigma=0.0), "sigma"), (dict(sigma=-1.0), "sigma"), (dict(p_min=0.5, p_max=0.4), "p_min"),
    (dict(p=1.0), "p"), (dict(p=-0.1), "p"), (dict(p_max=1.0), "p_max"), (dict(p_min=-0.1), "p_min"),
    (dict(max_rate=1.0), "max_rate"), (dict(rescale_power=0.0), "rescale_power"),
    (dict(q_mode="layer"), "q_mode"),
])
def test_bad_parameters_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Jumpout(**kwargs)


def test_bad_kind_and_rate_raise_naming_them():
    with pytest.raises(ParameterError, match="kind"):
        make_dropout("gaussian", 0.1)
    with pytest.raises(ParameterError, match="p must"):
        make_dropout("standard", 1.5)


def test_sigma_none_gives_the_mean_rate_p():
    layer = make_dropout("sampled", 0.2, p_min=0.0, p_max=0.6)
    assert expected_rate(layer.sigma, 0.0, 0.6) == pytest.approx(0.2, abs=1e-9)
    assert isinstance(make_dropout("standard", 0.2), nn.Dropout)


def test_reproducible_under_a_generator_and_under_the_global_seed():
    x = torch.rand(64, 32)

    def run(gen=None, seed=None):
        if seed is not None:
            torch.manual_seed(seed)
        layer = Jumpout(generator=gen)
        return torch.stack([layer(x) for _ in range(3)])

    assert torch.equal(run(torch.Generator().manual_seed(3)), run(torch.Generator().manual_seed(3)))
    assert not torch.equal(run(torch.Generator().manual_seed(3)), run(torch.Generator().manual_seed(4)))
    assert torch.equal(run(seed=5), run(seed=5))
