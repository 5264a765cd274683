"""The batched and the sequential engine: same seeds, same predictions; the store uses either."""

import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from equalnets.engine.config import RunConfig
from equalnets.engine.store import RunStore
from equalnets.engine.layers import FastDropout, dropout_mask
from equalnets.engine.train import batch_blocker, prepare_model, resolve_engine, train_members


def train_member(config, data, member, **kw):
    """The records of one member trained by the sequential strategy."""
    return train_members(config, data, [member], engine="sequential", **kw)[0].arrays


def train_batched(config, data, members, **kw):
    """The records of ``members`` trained together by the batched strategy."""
    return [t.arrays for t in train_members(config, data, members, engine="batched", **kw)]


def _agreement(a, b):
    return float(np.mean([(x[k] == y[k]).mean() for x, y in zip(a, b) for k in x if k.endswith("/pred")]))


def test_batched_equals_sequential_on_the_cpu(tiny_config):
    data = RunStore.dataset_for(tiny_config)
    members = list(range(tiny_config.n_models))
    seq = [train_member(tiny_config, data, m, progress=False) for m in members]
    bat = train_batched(tiny_config, data, members, progress=False)
    assert len(bat) == len(seq)
    for s, b in zip(seq, bat):
        assert set(s) == set(b)
        for key in s:
            assert s[key].shape == b[key].shape and s[key].dtype == b[key].dtype, key
        # Same initialisation, batches and dropout masks: only rounding differs.
        np.testing.assert_allclose(s["loss"], b["loss"], rtol=1e-4)
        np.testing.assert_allclose(s["test/margin"].astype(float), b["test/margin"].astype(float), atol=0.05)
    assert _agreement(seq, bat) >= 0.99


def test_batched_member_does_not_depend_on_its_group(tiny_config):
    data = RunStore.dataset_for(tiny_config)
    alone = train_batched(tiny_config, data, [2], progress=False)[0]
    grouped = train_batched(tiny_config, data, [0, 2], progress=False)[1]
    assert _agreement([alone], [grouped]) >= 0.99
    np.testing.assert_allclose(alone["loss"], grouped["loss"], rtol=1e-4)


def test_channels_last_changes_rounding_only(tiny_config):
    data = RunStore.dataset_for(tiny_config)
    nchw = train_member(tiny_config, data, 1, progress=False, channels_last=False)
    cl = train_member(tiny_config, data, 1, progress=False, channels_last=True)
    assert _agreement([nchw], [cl]) >= 0.99
    np.testing.assert_allclose(nchw["loss"], cl["loss"], rtol=1e-4)


def test_fast_dropout_draws_the_same_mask_in_either_layout():
    torch.manual_seed(3)
    plain = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Dropout(0.5))
    nchw = prepare_model(copy.deepcopy(plain), channels_last=False)
    cl = prepare_model(copy.deepcopy(plain), channels_last=True)
    assert isinstance(nchw[1], FastDropout) and nchw[1].p == 0.5
    x = torch.randn(5, 2, 6, 6)
    torch.manual_seed(7)
    a = nchw(x)
    torch.manual_seed(7)
    b = cl(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(a, b)
    assert torch.equal(a == 0, b == 0)  # the very same mask
    torch.manual_seed(8)
    assert not torch.equal(nchw(x) == 0, a == 0)  # another seed, another mask


@pytest.mark.parametrize("p, bits", [(0.25, 8), (0.5, 8), (0.3, 32)])
def test_dropout_mask_has_the_right_law(p, bits):
    gen = torch.Generator().manual_seed(0)
    mask = dropout_mask((200, 50, 10), p, generator=gen)
    assert mask.shape == (200, 50, 10) and mask.dtype == torch.float32
    kept = mask != 0
    values = mask[kept].unique()
    assert len(values) == 1 and math.isclose(values.item(), 1 / (1 - p), rel_tol=1e-6)  # 1 / keep
    frac, n = kept.float().mean().item(), mask.numel()
    assert abs(frac - (1 - p)) < 4 * math.sqrt(p * (1 - p) / n)  # within 4 standard errors
    assert abs(mask.mean().item() - 1) < 0.01  # inverted dropout: expectation 1
    again = dropout_mask((200, 50, 10), p, generator=torch.Generator().manual_seed(0))
    assert torch.equal(mask, again)  # the generator decides everything
    # Neighbouring elements are independent: the bytes of one 64-bit word do not move together.
    flat = kept.flatten().float()
    assert abs(torch.corrcoef(torch.stack([flat[:-1], flat[1:]]))[0, 1].item()) < 0.02


def test_dropout_mask_edges_and_bad_p():
    assert torch.equal(dropout_mask((3, 4), 0.0), torch.ones(3, 4))
    assert torch.equal(dropout_mask((3, 4), 1.0), torch.zeros(3, 4))
    assert dropout_mask((0, 4), 0.5).shape == (0, 4)
    assert torch.equal(dropout_mask((2, 3), 1e-12), torch.ones(2, 3))  # below the 32-bit resolution
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="dropout p"):
            dropout_mask((2,), bad)
        with pytest.raises(ValueError, match="dropout p"):
            FastDropout(bad)
    layer = FastDropout(0.5).eval()
    x = torch.randn(4, 3)
    assert layer(x) is x  # identity in eval mode


def test_prepare_model_keeps_the_function_and_the_gradients():
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(12, 5), nn.ReLU(), nn.Dropout(0.5), nn.Linear(5, 2))
    fast = prepare_model(copy.deepcopy(plain))
    assert [type(m).__name__ for m in fast] == ["Conv2d", "ReLU", "MaxPool2d", "ReLU", "Flatten", "Linear",
                                                "ReLU", "FastDropout", "Linear"]
    assert fast[1].inplace and fast[6].inplace and not fast[3].inplace  # in place only after conv/linear
    x = torch.randn(6, 1, 4, 4)
    torch.testing.assert_close(fast.eval()(x), plain.eval()(x))
    plain[7].p = fast[7].p = 0.0  # no masks: one training step must give the same gradients
    for model in (plain, fast):
        model.train()
        model(x).square().sum().backward()
    for a, b in zip(plain.parameters(), fast.parameters()):
        torch.testing.assert_close(a.grad, b.grad)


def test_engine_choice_and_bad_values(tiny_config):
    assert resolve_engine("sequential", tiny_config) == "sequential"
    assert resolve_engine("batched", tiny_config) == "batched"
    assert resolve_engine("auto", tiny_config, "cpu") in ("sequential", "batched")
    with pytest.raises(ValueError, match="engine must be one of"):
        resolve_engine("fast", tiny_config)
    assert batch_blocker(nn.Sequential(nn.Linear(2, 2))) is None
    assert "buffers" in batch_blocker(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))
    assert "Dropout2d" in batch_blocker(nn.Sequential(nn.Dropout2d(0.1)))
    data = RunStore.dataset_for(tiny_config)
    with pytest.raises(ValueError, match="members"):
        train_members(tiny_config, data, [], progress=False)
    with pytest.raises(ValueError, match="members"):
        train_members(tiny_config, data, [0, 0], progress=False)
    with pytest.raises(ValueError, match="members"):
        train_members(tiny_config, data, [tiny_config.n_models], progress=False)


def test_batched_divergence_names_the_member(tiny_config):
    from equalnets.engine.train import DivergenceError
    config = RunConfig.from_dict(tiny_config.to_dict() | {"lr": 1e6, "momentum": 0.0, "epochs": 3})
    with pytest.raises(DivergenceError, match="member .* lower learning rate"):
        train_batched(config, RunStore.dataset_for(config), [0, 1], progress=False)


@pytest.fixture
def trained_groups(monkeypatch) -> list[list[int]]:
    """The member groups the orchestrator hands to ``train_members``, in order (the real function still runs)."""
    import equalnets.engine.ensemble as ensemble

    groups: list[list[int]] = []
    real = ensemble.train_members

    def spy(config, dataset, members, **kw):
        groups.append(list(members))
        return real(config, dataset, members, **kw)
    monkeypatch.setattr("equalnets.engine.ensemble.train_members", spy)
    return groups


def test_store_batched_trains_only_missing_members_and_records_the_engine(tiny_config, trained_groups,
                                                                          monkeypatch, capsys):
    store = RunStore()
    run = store.get_or_train(tiny_config, progress=False, engine="sequential")
    info = store.member_info(tiny_config)
    assert all(i["engine"] == "sequential" for i in info)
    for suffix in (".npz", ".sha256", ".weights.pt"):
        (store.path(tiny_config) / f"member-0001{suffix}").unlink()
    assert trained_groups == [[0], [1], [2]]  # the sequential strategy: one member at a time
    trained_groups.clear()
    again = store.get_or_train(tiny_config, progress=False, engine="batched")
    assert trained_groups == [[1]]
    assert "trained by" in capsys.readouterr().err  # mixing engines is said, not silent
    assert [i["engine"] for i in store.member_info(tiny_config)] == ["sequential", "batched", "sequential"]
    assert (again.test.pred == run.test.pred).mean() >= 0.99
    # The engine is not part of the run's identity: the run is complete, nothing is retrained.
    monkeypatch.setattr("equalnets.engine.ensemble.train_members", None)
    store.get_or_train(tiny_config, progress=False, engine="batched")


def test_store_batched_groups(tiny_config, trained_groups):
    run = RunStore().get_or_train(tiny_config, progress=False, engine="batched", group_size=2)
    assert trained_groups == [[0, 1], [2]]
    assert run.n_models == 3
    with pytest.raises(ValueError, match="group_size"):
        RunStore().get_or_train(RunConfig.from_dict(tiny_config.to_dict() | {"seed": 5}), engine="batched",
                                group_size=0)
    with pytest.raises(ValueError, match="engine"):
        RunStore().get_or_train(RunConfig.from_dict(tiny_config.to_dict() | {"seed": 5}), engine="gpu")


def test_bf16_precision_is_its_own_run_and_trains_alike(tiny_config):
    data = RunStore.dataset_for(tiny_config)
    bf16 = replace(tiny_config, precision="bf16")
    assert bf16.key != tiny_config.key and "bf16" in bf16.describe()
    assert replace(tiny_config, precision="fp32").key == tiny_config.key  # the default, spelled out
    full = train_member(tiny_config, data, 0, progress=False)
    half = train_member(bf16, data, 0, progress=False)
    assert set(half) == set(full)
    assert all(np.isfinite(v.astype(float)).all() for v in half.values())
    assert not np.array_equal(half["test/margin"], full["test/margin"])  # autocast did change the arithmetic
    np.testing.assert_allclose(half["loss"], full["loss"], rtol=0.05)  # ... by bfloat16 rounding only
    # The batched engine runs the same mixed precision.
    batched = train_batched(bf16, data, [0], progress=False)[0]
    np.testing.assert_allclose(batched["loss"], half["loss"], rtol=0.02)
    with pytest.raises(ValueError, match="precision"):
        RunConfig(precision="fp16")
