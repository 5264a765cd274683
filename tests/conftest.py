"""Shared fixtures: tiny configs that train in well under a second, and an isolated run cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from equalnets import book
from equalnets.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]

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


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> Path:
    """A copy of the repository with every notebook of the table of contents executed under the
    `smoke` profile and the site built strictly (warnings are errors), with its own run cache.
    Built once per test session and shared by test_book.py and test_browser.py."""
    root = tmp_path_factory.mktemp("book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root / name)
    ignore = shutil.ignore_patterns(".git", ".venv", "_build", "executed", ".cache", ".pytest_cache", "__pycache__")
    for folder in ("book", "notebooks"):
        shutil.copytree(ROOT / folder, root / folder, ignore=ignore)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EQUALNETS_CACHE", str(root / "runs"))
        book.build_book(root, "smoke", strict=True)
    return root
