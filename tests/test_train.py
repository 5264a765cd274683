import numpy as np
import pytest
import torch
from torch import nn

from equalnets.config import RunConfig
from equalnets.store import RunStore
from equalnets.train import DivergenceError, fit_model, record_predictions, step_lr, train_member


def test_record_predictions_by_hand():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 3))
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(3, 2))
        model[1].bias.zero_()
    x = torch.tensor([[[[2.0, 0.0]]], [[[0.0, 1.0]]]])  # logits (2, 0, 0) and (0, 1, 0)
    y = torch.tensor([0, 2])
    rec = record_predictions(model, x, y)
    np.testing.assert_array_equal(rec["pred"], [0, 1])
    p0 = np.exp(2) / (np.exp(2) + 2)
    np.testing.assert_allclose(rec["p_label"].astype(float), [p0, 1 / (np.e + 2)], rtol=1e-3)
    np.testing.assert_allclose(rec["margin"].astype(float), [2.0, -1.0], rtol=1e-3)
    el2n0 = np.sqrt((1 - p0) ** 2 + 2 * ((1 - p0) / 2) ** 2)
    assert float(rec["el2n"][0]) == pytest.approx(el2n0, rel=1e-3)


def test_step_schedule_is_independent_of_length():
    assert step_lr(0.05, 0, 1.8, 20) == 0.05
    assert step_lr(0.05, 19, 1.8, 20) == 0.05
    assert step_lr(0.05, 20, 1.8, 20) == pytest.approx(0.05 / 1.8)
    assert step_lr(0.05, 45, 1.8, 20) == pytest.approx(0.05 / 1.8 ** 2)


def test_snapshot_equals_shorter_run(tiny_config):
    """Epoch e of a long run is exactly a fresh run trained for e epochs (same seeds, CPU)."""
    data = RunStore.dataset_for(tiny_config)
    long = train_member(RunConfig.from_dict(tiny_config.to_dict() | {"epochs": 3}), data, 0, progress=False)
    short = train_member(RunConfig.from_dict(tiny_config.to_dict() | {"epochs": 2}), data, 0, progress=False)
    np.testing.assert_array_equal(long["test/pred"][:3], short["test/pred"])
    np.testing.assert_array_equal(long["train/margin"][:3], short["train/margin"])


def test_divergence_is_an_error_naming_the_config(tiny_config):
    config = RunConfig.from_dict(tiny_config.to_dict() | {"lr": 1e6, "momentum": 0.0, "epochs": 3})
    with pytest.raises(DivergenceError, match="lower learning rate"):
        train_member(config, RunStore.dataset_for(config), 0, progress=False)


def test_fit_model_learns_and_validates():
    torch.manual_seed(0)
    x = torch.randn(200, 1, 2, 2)
    y = (x.flatten(1).sum(1) > 0).long()
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    losses = fit_model(model, x, y, epochs=5, lr=0.5, batch_size=20, progress=False)
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="epochs"):
        fit_model(model, x, y, epochs=0, lr=0.1)
