import pytest

from equalnets.engine.checks import ParameterError, check_device
from equalnets.engine.config import OPTIONAL_FIELDS, RunConfig


def test_hash_is_stable_and_covers_every_field(tiny_config):
    assert RunConfig.from_dict(tiny_config.to_dict()).key == tiny_config.key
    # Pinned: if this changes, every user's cache is silently invalidated; bump FORMAT_VERSION instead.
    assert RunConfig().key == RunConfig().key and len(RunConfig().key) == 16
    changes = dict(dataset="fashion-tops", train_per_class=11, test_per_class=6, labels="random",
                   arch="st-vgg", width=0.5, activation="elu", dropout=False, optimizer="adam", lr=0.1,
                   momentum=0.5, weight_decay=1e-4, batch_size=50, lr_decay=2.0, lr_decay_every=10,
                   epochs=3, record_epochs=(1,), n_models=4, seed=1)
    assert set(changes) == set(tiny_config.to_dict())
    assert set(changes) | set(OPTIONAL_FIELDS) == {f for f in RunConfig.__dataclass_fields__}
    keys = {tiny_config.key}
    for field, value in changes.items():
        keys.add(RunConfig.from_dict(tiny_config.to_dict() | {field: value}).key)
    assert len(keys) == len(changes) + 1


def test_int_and_float_spellings_are_one_run():
    assert RunConfig(width=1, lr=1).key == RunConfig(width=1.0, lr=1.0).key


def test_recorded_epochs():
    assert RunConfig(epochs=3).recorded_epochs == (0, 1, 2, 3)
    assert RunConfig(epochs=10, record_epochs=(5, 2)).recorded_epochs == (0, 2, 5, 10)


@pytest.mark.parametrize("field, value", [
    ("dataset", "imagenet"), ("arch", "resnet"), ("n_models", "20"), ("n_models", 0), ("epochs", 0),
    ("epochs", 2.5), ("width", 0), ("lr", -0.1), ("optimizer", "lbfgs"), ("batch_size", True),
    ("record_epochs", (200,)), ("labels", "noisy"), ("dropout", "yes"), ("momentum", -1),
])
def test_bad_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        RunConfig(**{field: value})


def test_unknown_field_and_device():
    with pytest.raises(ValueError, match="unknown RunConfig field"):
        RunConfig.from_dict({"n_model": 3})
    assert check_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="device"):
        check_device("tpu")


def test_train_subset_is_sorted_hashed_and_checked():
    import numpy as np

    a = RunConfig(train_subset=[5, 3, 1])
    assert a.train_subset == (1, 3, 5)
    assert RunConfig(train_subset=np.array([1, 5, 3])) == a  # numpy indices, any order: one run
    assert a.key != RunConfig().key and RunConfig.from_dict(a.to_dict()) == a
    assert "train_subset" not in RunConfig().to_dict()  # unset, it leaves older runs' keys alone
    for bad in ([], [1, 1], [-1], [1.5], "rows", [True]):
        with pytest.raises(ParameterError, match="train_subset"):
            RunConfig(train_subset=bad)


def test_train_subset_row_beyond_the_split_is_a_clear_error(tiny_config):
    import torch

    from equalnets.engine.train import fit_rows

    config = RunConfig.from_dict({**tiny_config.to_dict(), "train_subset": [0, 99]})
    x, y = torch.zeros(10, 1, 2, 2), torch.zeros(10, dtype=torch.long)
    with pytest.raises(ValueError, match="row 99.*10 rows"):
        fit_rows(config, x, y)
    assert fit_rows(RunConfig.from_dict({**tiny_config.to_dict(), "train_subset": [2, 4]}), x, y)[0].shape[0] == 2
