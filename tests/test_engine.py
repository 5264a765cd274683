"""The batched and the sequential engine: same seeds, same predictions; the store uses either."""

import numpy as np
import pytest
import torch
from torch import nn

from equalnets.config import RunConfig
from equalnets.store import RunStore
from equalnets.train import (batch_blocker, resolve_engine, train_member, train_members, use_channels_last)


def _agreement(a, b):
    return float(np.mean([(x[k] == y[k]).mean() for x, y in zip(a, b) for k in x if k.endswith("/pred")]))


def test_batched_equals_sequential_on_the_cpu(tiny_config):
    data = RunStore.dataset_for(tiny_config)
    members = list(range(tiny_config.n_models))
    seq = [train_member(tiny_config, data, m, progress=False) for m in members]
    bat = train_members(tiny_config, data, members, progress=False)
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
    alone = train_members(tiny_config, data, [2], progress=False)[0]
    grouped = train_members(tiny_config, data, [0, 2], progress=False)[1]
    assert _agreement([alone], [grouped]) >= 0.99
    np.testing.assert_allclose(alone["loss"], grouped["loss"], rtol=1e-4)


def test_channels_last_changes_rounding_only(tiny_config):
    data = RunStore.dataset_for(tiny_config)
    nchw = train_member(tiny_config, data, 1, progress=False, channels_last=False)
    cl = train_member(tiny_config, data, 1, progress=False, channels_last=True)
    assert _agreement([nchw], [cl]) >= 0.99
    np.testing.assert_allclose(nchw["loss"], cl["loss"], rtol=1e-4)


def test_channels_last_dropout_draws_the_nchw_mask():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Dropout(0.5))
    fast = use_channels_last(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Dropout(0.5)))
    fast.load_state_dict(model.state_dict())
    x = torch.randn(5, 2, 6, 6)
    torch.manual_seed(7)
    a = model(x)
    torch.manual_seed(7)
    b = fast(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(a, b)
    assert torch.equal(a == 0, b == 0)  # the very same mask


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
    from equalnets.train import DivergenceError
    config = RunConfig.from_dict(tiny_config.to_dict() | {"lr": 1e6, "momentum": 0.0, "epochs": 3})
    with pytest.raises(DivergenceError, match="member .* lower learning rate"):
        train_members(config, RunStore.dataset_for(config), [0, 1], progress=False)


@pytest.fixture
def trained_groups(monkeypatch) -> list[list[int]]:
    """The member groups the store hands to ``train_members``, in order (the real function still runs)."""
    import equalnets.store as store_module

    groups: list[list[int]] = []
    real = store_module.train_members

    def spy(config, dataset, members, **kw):
        groups.append(list(members))
        return real(config, dataset, members, **kw)
    monkeypatch.setattr("equalnets.store.train_members", spy)
    return groups


def test_store_batched_trains_only_missing_members_and_records_the_engine(tiny_config, trained_groups,
                                                                          monkeypatch, capsys):
    store = RunStore()
    run = store.get_or_train(tiny_config, progress=False, engine="sequential")
    info = store.member_info(tiny_config)
    assert all(i["engine"] == "sequential" for i in info)
    for suffix in (".npz", ".sha256"):
        (store.path(tiny_config) / f"member-0001{suffix}").unlink()
    again = store.get_or_train(tiny_config, progress=False, engine="batched")
    assert trained_groups == [[1]]
    assert "trained by" in capsys.readouterr().err  # mixing engines is said, not silent
    assert [i["engine"] for i in store.member_info(tiny_config)] == ["sequential", "batched", "sequential"]
    assert (again.test.pred == run.test.pred).mean() >= 0.99
    # The engine is not part of the run's identity: the run is complete, nothing is retrained.
    monkeypatch.setattr("equalnets.store.train_members", None)
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
