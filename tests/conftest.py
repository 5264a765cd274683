"""Shared fixtures: tiny configs that train in well under a second, and an isolated run cache."""

from __future__ import annotations

import pytest
import torch

from equalnets.config import RunConfig

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """No test reads or writes the user's run cache."""
    monkeypatch.setenv("EQUALNETS_CACHE", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture
def tiny_config() -> RunConfig:
    """3 small networks, 2 epochs, on 100 train / 50 test 8×8 digits."""
    return RunConfig(dataset="digits", train_per_class=10, test_per_class=5, arch="small-st-vgg",
                     width=0.25, n_models=3, epochs=2, lr=0.05, momentum=0.9)
