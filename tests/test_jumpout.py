"""Tests of equalnets.methods.jumpout, the moment shift at a batch norm after dropout: the follower of a
dropout layer, the shift itself, and the table over layers, rates and powers; with q⁺ per layer
(equalnets.engine.train.active_fractions) on the same networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from equalnets.engine.config import RunConfig
from equalnets.engine.models import network
from equalnets.engine.train import active_fractions, dropout_layers
from equalnets.methods.jumpout import follower, gaussian_mismatch, moment_shift, shift_table, step_seconds


def small_cnn() -> nn.Sequential:
    """Two conv blocks (4, 8 channels) and a dense layer of 8, batch norm, plain dropout 0.2: layers 4, 9
    and 14 are dropout, the first two feed a conv / linear layer followed by batch norm."""
    torch.manual_seed(0)
    config = RunConfig(arch="cnn", hidden=(4, 8, 8), batch_norm=True, dropout_p=0.2)
    return network(config, in_channels=1, image_size=16, n_classes=3)


def test_active_fractions_by_layer_and_follower():
    model = small_cnn().train()
    q = active_fractions(model, torch.randn(20, 1, 16, 16))
    assert set(q) == set(dropout_layers(model)) == {"4", "9", "14"}
    assert all(0.0 < v < 1.0 for v in q.values())
    assert model.training  # the mode is restored
    assert isinstance(follower(model, "4")[-1], nn.Conv2d)
    assert [type(m) for m in follower(model, "9")] == [nn.Flatten, nn.Linear]
    with pytest.raises(ValueError, match="name"):
        follower(model, "99")


def test_moment_shift_zero_rate_is_no_shift_and_dropout_inflates_training_variance():
    torch.manual_seed(0)
    h = torch.randn(4000, 64).relu()
    lin = nn.Linear(64, 16)
    m0, v0 = moment_shift(h, lin, rate=0.0)
    assert np.allclose(m0, 0, atol=1e-5) and np.allclose(v0, 1, atol=1e-4)
    # (the mask's generator must not share the seed of h's: same-seeded streams correlate)
    m1, v1 = moment_shift(h, lin, rate=0.4, power=1.0, generator=torch.Generator().manual_seed(7))
    assert np.all(v1 < 1)  # the test-time variance is smaller than the one BN learnt in training
    assert np.abs(m1).max() < 0.15  # the mean is kept, up to sampling noise
    m5, v5 = moment_shift(h, lin, rate=0.4, power=0.5, generator=torch.Generator().manual_seed(7))
    assert np.median(np.abs(m5)) > np.median(np.abs(m1))  # power 0.5 moves the mean instead
    assert np.median(np.abs(np.log(v5))) < np.median(np.abs(np.log(v1)))
    with pytest.raises(ValueError, match="rate"):
        moment_shift(h, lin, rate=1.0)


def test_shift_table_covers_the_layers_that_feed_a_batch_norm():
    model = small_cnn()
    table = shift_table(model, torch.randn(50, 1, 16, 16), rates=[0.1, 0.3], powers=[1.0, 0.75])
    assert set(table.layer) == {"4", "9"}  # the head's dropout feeds the output layer, no BN
    assert len(table) == (8 + 8) * 2 * 2
    assert list(table.columns) == ["layer", "rate", "power", "unit", "mean_shift", "var_ratio"]
    again = shift_table(model, torch.randn(50, 1, 16, 16), rates=[0.1], powers=[1.0])
    assert model.training  # the mode is restored
    assert len(again) == 16


def test_gaussian_mismatch_is_zero_without_a_shift_and_weighs_both_moments():
    assert gaussian_mismatch(np.zeros(3), np.ones(3)) == pytest.approx(np.zeros(3))
    kl = gaussian_mismatch(np.array([0.5, 0.0, 0.0]), np.array([1.0, 2.0, 0.5]))
    assert kl == pytest.approx([0.125, (2 - 1 - np.log(2)) / 2, (0.5 - 1 - np.log(0.5)) / 2])
    with pytest.raises(ValueError, match="positive"):
        gaussian_mismatch(np.zeros(1), np.zeros(1))
    with pytest.raises(ValueError, match="one shape"):
        gaussian_mismatch(np.zeros(2), np.ones(3))


def test_step_seconds_times_every_model_in_turns_and_restores_the_threads():
    threads = torch.get_num_threads()
    models = {"a": small_cnn(), "b": small_cnn()}
    x, y = torch.randn(8, 1, 16, 16), torch.randint(0, 3, (8,))
    table = step_seconds(models, x, y, repeats=3, warmup=1)
    assert len(table) == 6 and list(table.model) == ["a", "b"] * 3 and list(table.repeat) == [0, 0, 1, 1, 2, 2]
    assert (table.seconds > 0).all() and torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="repeats"):
        step_seconds(models, x, y, repeats=1)
    with pytest.raises(ValueError, match="threads"):
        step_seconds(models, x, y, threads=0)
