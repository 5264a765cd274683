"""Shared fixtures: tiny configs that train in well under a second, and an isolated run cache."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch

from equalnets.tools import book
from equalnets.engine.config import RunConfig

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


@contextmanager
def stall_watchdog(seconds: int, what: str) -> Iterator[None]:
    """A TimeoutError in the main thread if the body runs longer than ``seconds`` (SIGALRM), so that a
    stalled browser or kernel fails its test instead of hanging the suite; a no-op off the main thread."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stalled(signum, frame):
        raise TimeoutError(f"{what}: stalled for {seconds} s")
    previous = signal.signal(signal.SIGALRM, stalled)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: tiny networks train faster so (several times so on a busy
    machine), and bit-equal across processes that each use one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# Chromium as root in a container, with nothing to reach outside: no sandbox, no GPU, and none of
# the background traffic (updates, sync, QUIC probes) that would hammer a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-proxy-server"]


def chromium_or_skip() -> tuple[Path, Any]:
    """Debian's Chromium (``$EQUALNETS_CHROMIUM`` names another binary) and Playwright's sync API, for
    the browser tests; without either, the calling test module is skipped with the reason."""
    chromium = Path(os.environ.get("EQUALNETS_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.exists():
        pytest.skip(f"no Chromium at {chromium} (run scripts/get-browser.sh, or set EQUALNETS_CHROMIUM)",
                    allow_module_level=True)
    return chromium, pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                                         "(pip install -r requirements.txt)")
