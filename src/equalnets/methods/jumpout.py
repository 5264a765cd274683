"""Jumpout's measurements (Wang, Zhou & Bilmes, ICML 2019, its §3.3): the train/test shift of the
moments that a batch norm after a dropout layer sees.

In training the batch norm sees ``next_layer(dropout(h))``, with the kept units scaled by
``(1 − p)^(−power)``; at test time ``next_layer(h)``. ``power = 1`` (plain dropout) keeps the mean
and not the variance, ``power = 0.5`` the reverse, and Jumpout's 0.75 sits between. The Jumpout
layer itself is :class:`equalnets.engine.layers.Jumpout`; ``q⁺`` per layer is measured by
:func:`equalnets.engine.train.active_fractions`. :func:`gaussian_mismatch` folds a unit's mean and
variance shift into one number, and :func:`step_seconds` times a training step of several networks
taking turns (the cost of a dropout layer, measured in the same run).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..engine.checks import check_probability
from ..engine.layers import DROPOUT_TYPES
from ..engine.train import capture_inputs


def follower(model: nn.Sequential, name: str) -> nn.Sequential:
    """The modules after the layer ``name`` of a ``Sequential`` up to and including the first
    convolution or linear layer: what turns the dropout output into the next pre-activation."""
    names = [n for n, _ in model.named_children()]
    if name not in names:
        raise ValueError(f"name must be a child of the model ({', '.join(names)}), got {name!r}")
    out = []
    for child in list(model.children())[names.index(name) + 1:]:
        out.append(child)
        if isinstance(child, (nn.Conv2d, nn.Linear)):
            return nn.Sequential(*out)
    raise ValueError(f"no convolution or linear layer follows {name!r}")


def _unit_moments(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance per unit (channel) over the batch and any spatial axes, as batch norm
    computes them: ``(n, C, ...) -> (C,), (C,)``."""
    dims = [0] + list(range(2, y.dim()))
    return y.mean(dims), y.var(dims, unbiased=False)


@torch.no_grad()
def moment_shift(h: torch.Tensor, next_layer: nn.Module, *, rate: float, power: float = 1.0,
                 generator: torch.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Train/test mismatch of what a batch norm after ``next_layer`` sees, per unit.

    ``h``: the (post-ReLU) input of a dropout layer, ``(n, ...)``. In training the batch norm
    sees ``next_layer(dropout(h))``, with rate ``rate`` and kept units scaled by
    ``(1 − rate)^(−power)``; at test time ``next_layer(h)``. Returns, per output unit, the mean
    shift in units of the training standard deviation ``(μ_test − μ_train)/σ_train`` and the
    variance ratio ``σ²_test/σ²_train``: ``(C,), (C,)``. Both are 0 and 1 without a mismatch.
    """
    check_probability("rate", rate)
    device = generator.device if generator is not None else h.device
    keep = (torch.rand(h.shape, generator=generator, device=device) >= rate).to(h.dtype).to(h.device)
    m_train, v_train = _unit_moments(next_layer(h * keep * (1 - rate) ** (-power)))
    m_test, v_test = _unit_moments(next_layer(h))
    sd = v_train.clamp_min(1e-12).sqrt()
    return ((m_test - m_train) / sd).cpu().numpy(), (v_test / v_train.clamp_min(1e-12)).cpu().numpy()


def shift_table(model: nn.Sequential, x: torch.Tensor, *, rates: list[float],
                powers: list[float], seed: int = 0) -> pd.DataFrame:
    """:func:`moment_shift` for every dropout layer of ``model`` that feeds a batch norm (its
    follower's next module is ``BatchNorm``), each rate and each rescaling power, on the inputs
    the trained ``model`` gives in eval mode. Columns: ``layer, rate, power, unit, mean_shift,
    var_ratio``; one row per output unit."""
    children = dict(model.named_children())
    names = list(children)
    targets = {}
    for name, module in children.items():
        if not isinstance(module, DROPOUT_TYPES):
            continue
        nxt = follower(model, name)
        after = names.index(name) + len(nxt) + 1
        if after < len(names) and isinstance(children[names[after]], (nn.BatchNorm1d, nn.BatchNorm2d)):
            targets[name] = nxt
    was_training = model.training
    model.eval()
    try:
        inputs = capture_inputs(model, x, {n: children[n] for n in targets})
    finally:
        model.train(was_training)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    rows = []
    for name, nxt in targets.items():
        for rate in rates:
            for power in powers:
                mean_shift, var_ratio = moment_shift(inputs[name], nxt, rate=rate, power=power, generator=gen)
                rows += [dict(layer=name, rate=rate, power=power, unit=u, mean_shift=float(m),
                              var_ratio=float(v)) for u, (m, v) in enumerate(zip(mean_shift, var_ratio))]
    return pd.DataFrame(rows)


def gaussian_mismatch(mean_shift: np.ndarray, var_ratio: np.ndarray) -> np.ndarray:
    """The train/test mismatch of a unit as one number: the KL divergence KL(test ‖ train) between the
    Gaussians with the unit's test and training moments, from :func:`moment_shift`'s ``mean_shift``
    (in training SDs) and ``var_ratio`` (test over training variance), both ``(C,)`` → ``(C,)``:
    ``(var_ratio + mean_shift² − 1 − log var_ratio) / 2``; 0 without a mismatch. It weighs the mean
    shift against the variance shift in one unit (nats), so rescalings can be ranked by it."""
    m, v = np.asarray(mean_shift, dtype=float), np.asarray(var_ratio, dtype=float)
    if m.shape != v.shape:
        raise ValueError(f"mean_shift and var_ratio must have one shape, got {m.shape} and {v.shape}")
    if np.any(v <= 0):
        raise ValueError("var_ratio must be positive")
    return (v + m ** 2 - 1 - np.log(v)) / 2


def step_seconds(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, *, repeats: int = 20,
                 warmup: int = 3, lr: float = 1e-3, threads: int | None = 1) -> pd.DataFrame:
    """Wall seconds of one training step (forward, cross-entropy, backward, SGD update) of each model
    on the batch ``x`` ``(n, ...)``, ``y`` ``(n,)``. The models take turns: ``warmup`` untimed rounds,
    then ``repeats`` timed ones, so that the load of a shared machine falls on all of them alike.
    ``threads``: torch's CPU threads while timing (restored after; None keeps the current number):
    one by default, because threads that wait for each other on a busy machine make a step's time
    a matter of scheduling, not of the work it does. Columns: ``repeat, model, seconds``; one row
    per timed step."""
    if not models:
        raise ValueError("models must name at least one model")
    if int(repeats) < 2 or int(warmup) < 0:
        raise ValueError(f"repeats must be >= 2 and warmup >= 0, got {repeats!r} and {warmup!r}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must hold the same number (>= 1) of examples, got {len(x)} and {len(y)}")
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads!r}")
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _timed_turns(models, x, y, int(repeats), int(warmup), lr)
    finally:
        torch.set_num_threads(before)


def _timed_turns(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, repeats: int, warmup: int,
                 lr: float) -> pd.DataFrame:
    optimizers = {name: torch.optim.SGD(m.parameters(), lr=lr) for name, m in models.items()}
    rows = []
    for r in range(warmup + repeats):
        for name, model in models.items():
            model.train()
            start = time.perf_counter()
            optimizers[name].zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x), y).backward()
            optimizers[name].step()
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)
            seconds = time.perf_counter() - start
            if r >= warmup:
                rows.append({"repeat": r - warmup, "model": name, "seconds": seconds})
    return pd.DataFrame(rows)
