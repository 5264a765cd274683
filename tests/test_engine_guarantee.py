"""The guarantee between the two engines (stated in :mod:`equalnets.engine.train`): members of the
same seeds trained by the sequential and the batched engine are draws of the same distribution of
networks, not the same networks. Tested on a small but real config: Fashion-MNIST tops, st-VGG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equalnets.engine.config import RunConfig
from equalnets.engine.store import RunStore
from equalnets.engine.train import train_members

# 200 train / 200 test images, 6 members, 4 epochs of 2 steps: 0.5 s of CPU per sequential member,
# 5 s for the batched group (one thread).
CONFIG = RunConfig(dataset="fashion-tops", train_per_class=40, test_per_class=40, arch="st-vgg", width=0.25,
                   n_models=6, epochs=4, record_epochs=(0, 4))


@pytest.fixture(scope="module")
def trained() -> dict[str, list]:
    """Both engines' members of CONFIG, trained with one thread (two spin-wait on a busy machine)."""
    data = RunStore.dataset_for(CONFIG)
    members = list(range(CONFIG.n_models))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {"y_test": data.y_test.numpy(),
                **{engine: train_members(CONFIG, data, members, engine=engine, progress=False)
                   for engine in ("sequential", "batched")}}
    finally:
        torch.set_num_threads(before)


def test_first_epoch_losses_agree(trained):
    """Same initialisation, mini-batches and dropout masks: the first steps differ by rounding only."""
    first = {engine: np.array([m.arrays["loss"][0] for m in trained[engine]]) for engine in ("sequential", "batched")}
    np.testing.assert_allclose(first["batched"], first["sequential"], rtol=1e-3)


def test_test_accuracies_have_the_same_mean(trained):
    """Paired by seed, the difference of the final test accuracies (batched - sequential) has mean
    zero: its mean lies within 3 standard errors of the paired differences (plus one test image,
    the resolution of an accuracy, for pairs that still agree exactly). Identical predictions are
    not asked for: rounding that grows under SGD makes the members drift apart."""
    y = trained["y_test"]
    acc = {engine: np.array([(m.arrays["test/pred"][-1] == y).mean() for m in trained[engine]])
           for engine in ("sequential", "batched")}
    diff = acc["batched"] - acc["sequential"]
    standard_error = diff.std(ddof=1) / np.sqrt(len(diff))
    assert abs(diff.mean()) <= 3 * standard_error + 1 / len(y), (acc, diff.mean(), standard_error)
    # The test has power: the spread over seeds dwarfs the allowed difference of the means.
    assert acc["sequential"].std(ddof=1) > 3 * standard_error
