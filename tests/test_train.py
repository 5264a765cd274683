import numpy as np
import pytest
import torch
from torch import nn

from equalnets.engine.config import RunConfig
from equalnets.engine.store import RunStore
from equalnets.engine.train import DivergenceError, predict_logits, records_from_logits, step_lr, train_members


def train_member(config, data, member, **kw):
    return train_members(config, data, [member], **kw)[0].arrays


def test_record_predictions_by_hand():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 3))
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(3, 2))
        model[1].bias.zero_()
    x = torch.tensor([[[[2.0, 0.0]]], [[[0.0, 1.0]]]])  # logits (2, 0, 0) and (0, 1, 0)
    y = torch.tensor([0, 2])
    rec = records_from_logits(predict_logits(model, x), y)
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
