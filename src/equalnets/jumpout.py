"""Jumpout (Wang, Zhou & Bilmes, ICML 2019): dropout for ReLU networks, with three changes.

1. **Sampled rate** (paper §3.1): at every training step each layer draws its rate from a
   truncated half-normal, ``p = min(p_min + |N(0, σ)|, p_max)``, so small rates are the most
   likely ones.
2. **Normalised rate** (§3.2): after a ReLU only a fraction ``q⁺`` of the units is active, and
   dropping a zero changes nothing, so a rate ``p`` switches off only ``p·q⁺`` of the layer.
   Jumpout divides the rate by the measured ``q⁺`` so that the fraction switched off is ``p``.
3. **Rescaled outputs** (§3.3): plain (inverted) dropout multiplies the kept units by
   ``1/(1 − p)``, which keeps the mean of the next layer's input but not its variance; the batch
   normalisation that follows then sees different statistics in training and at test time.
   Jumpout multiplies by ``(1 − p)^(−0.75)``, a compromise between ``(1 − p)^(−1)`` (mean kept)
   and ``(1 − p)^(−0.5)`` (variance kept) (Algorithm 1 of the paper).

The module also holds the small networks of the book's Part III, whose dropout layer is a
parameter, the forward-hook helpers that measure ``q⁺`` per layer, the train/test moment shift
of a dropout layer followed by a weighted layer (what the batch norm after it sees), and the
training loop that compares the variants over seeds.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .train import fit_model, predict_logits

#: The dropout variants compared in the chapter: plain dropout, each change alone, all three.
VARIANTS = ("none", "dropout", "sampled", "normalised", "rescaled", "jumpout")
#: Which of Jumpout's switches each variant turns on (``dropout`` and ``none`` are not Jumpout).
VARIANT_FLAGS = {
    "sampled": dict(sample_rate=True, normalize_rate=False, rescale=False),
    "normalised": dict(sample_rate=False, normalize_rate=True, rescale=False),
    "rescaled": dict(sample_rate=False, normalize_rate=False, rescale=True),
    "jumpout": dict(sample_rate=True, normalize_rate=True, rescale=True),
}
Q_MODES = ("batch", "sample")
ARCHITECTURES = ("cnn", "mlp")


def _check_rate(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")


def expected_rate(sigma: float, p_min: float, p_max: float) -> float:
    """Mean of ``min(p_min + |N(0, σ)|, p_max)``, in closed form.

    With ``a = p_max − p_min`` and ``Y = σ|Z|``: ``E[min(Y, a)] = σ√(2/π)(1 − e^{−a²/2σ²})
    + a·erfc(a / σ√2)``.
    """
    a = p_max - p_min
    return p_min + sigma * math.sqrt(2 / math.pi) * (1 - math.exp(-a * a / (2 * sigma * sigma))) \
        + a * math.erfc(a / (sigma * math.sqrt(2)))


def sigma_for_mean_rate(mean: float, p_min: float = 0.0, p_max: float = 0.6) -> float:
    """The σ whose truncated half-normal rate has the given mean (bisection on
    :func:`expected_rate`, which grows with σ towards ``p_max``)."""
    if not p_min < mean < p_max:
        raise ValueError(f"mean must lie strictly between p_min={p_min!r} and p_max={p_max!r}, got {mean!r}")
    lo, hi = 1e-9, 1.0
    while expected_rate(hi, p_min, p_max) < mean:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expected_rate(mid, p_min, p_max) < mean else (lo, mid)
    return (lo + hi) / 2


def sample_rates(n: int, sigma: float, p_min: float, p_max: float,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` draws of the truncated half-normal rate ``min(p_min + |N(0, σ)|, p_max)``: ``(n,)``."""
    z = torch.randn(n, generator=generator, device=generator.device if generator else "cpu")
    return (p_min + sigma * z.abs()).clamp(max=p_max)


def active_fraction(x: torch.Tensor, per: str = "batch") -> torch.Tensor:
    """Fraction ``q⁺`` of strictly positive entries: a scalar (``per='batch'``) or one per sample,
    shaped to broadcast against ``x`` (``per='sample'``: ``(n, 1, …, 1)``)."""
    if per not in Q_MODES:
        raise ValueError(f"per must be one of {Q_MODES}, got {per!r}")
    positive = (x > 0).to(x.dtype)
    if per == "batch":
        return positive.mean()
    return positive.flatten(1).mean(1).view(-1, *([1] * (x.dim() - 1)))


class Jumpout(nn.Module):
    """Dropout for the output of a ReLU, with Jumpout's three changes each switchable.

    ``p``: the rate when ``sample_rate`` is off. ``sample_rate``: draw the rate of each layer
    at each training step from ``min(p_min + |N(0, sigma)|, p_max)`` (change 1).
    ``normalize_rate``: divide the rate by the input's fraction of active units ``q⁺``
    (change 2), measured over the whole mini-batch (``q_mode='batch'``, as the paper's abstract
    and Algorithm 1 do: one rate per layer and batch) or per sample (``q_mode='sample'``, the
    finer option the earlier arXiv version mentions); the normalised rate is capped at
    ``max_rate`` (the paper leaves p/q⁺ ≥ 1 unspecified; this is the book's guard).
    ``rescale``: multiply the kept units by ``(1 − rate)^(−rescale_power)`` (change 3; the paper
    uses 0.75) instead of ``(1 − rate)^(−1)``; with it on, the expectation of the output is
    ``(1 − rate)^(1 − rescale_power)`` times the input, not the input itself.

    With every switch off this is inverted dropout with rate ``p``, like :class:`torch.nn.Dropout`.
    In eval mode it is the identity. Randomness (the rate and the mask) comes from ``generator``
    when one is given (the mask is drawn on the generator's device), otherwise from torch's
    global generator, so ``torch.manual_seed`` makes a run reproducible.

    After each training forward pass, ``last_rate`` (the drawn rate, before normalisation),
    ``last_q_plus`` and ``last_effective_rate`` (mean rate applied after normalisation) hold the
    values used, as detached tensors.
    """

    def __init__(self, p: float = 0.1, *, sample_rate: bool = True, normalize_rate: bool = True,
                 rescale: bool = True, sigma: float = 0.1, p_min: float = 0.0, p_max: float = 0.6,
                 rescale_power: float = 0.75, q_mode: str = "batch", max_rate: float = 0.9,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        _check_rate("p", p)
        _check_rate("p_min", p_min)
        _check_rate("p_max", p_max)
        _check_rate("max_rate", max_rate)
        if not (isinstance(sigma, (int, float)) and sigma > 0):
            raise ValueError(f"sigma must be > 0, got {sigma!r}")
        if p_min > p_max:
            raise ValueError(f"p_min must be <= p_max, got p_min={p_min!r} > p_max={p_max!r}")
        if not (isinstance(rescale_power, (int, float)) and 0 < rescale_power <= 1):
            raise ValueError(f"rescale_power must be in (0, 1], got {rescale_power!r}")
        if q_mode not in Q_MODES:
            raise ValueError(f"q_mode must be one of {Q_MODES}, got {q_mode!r}")
        self.p, self.sample_rate, self.normalize_rate, self.rescale = p, sample_rate, normalize_rate, rescale
        self.sigma, self.p_min, self.p_max = sigma, p_min, p_max
        self.rescale_power, self.q_mode, self.max_rate = rescale_power, q_mode, max_rate
        self.generator = generator
        self.last_rate: torch.Tensor | None = None
        self.last_q_plus: torch.Tensor | None = None
        self.last_effective_rate: torch.Tensor | None = None

    def extra_repr(self) -> str:
        flags = [name for name in ("sample_rate", "normalize_rate", "rescale") if getattr(self, name)]
        rate = (f"sigma={self.sigma}, p_min={self.p_min}, p_max={self.p_max}" if self.sample_rate
                else f"p={self.p}")
        return f"{rate}, on=[{', '.join(flags)}], power={self.rescale_power}, q_mode={self.q_mode}"

    def draw_rate(self) -> torch.Tensor:
        """The rate of this step before normalisation: drawn (change 1) or the fixed ``p``."""
        if self.sample_rate:
            return sample_rates(1, self.sigma, self.p_min, self.p_max, self.generator)[0]
        return torch.tensor(float(self.p))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        rate = self.draw_rate().to(x.device, x.dtype)
        self.last_rate = rate
        if self.normalize_rate:
            q = active_fraction(x.detach(), self.q_mode)
            self.last_q_plus = q.mean()
            # No active unit: nothing to drop, rate 0 (and no division by zero).
            rate = torch.where(q > 0, rate / q.clamp_min(1e-12), torch.zeros_like(q))
            rate = rate.clamp(max=self.max_rate)
        self.last_effective_rate = rate.mean()
        power = self.rescale_power if self.rescale else 1.0
        gen = self.generator
        noise = torch.rand(x.shape, generator=gen, device=gen.device if gen else x.device,
                           dtype=x.dtype).to(x.device)
        keep = (noise >= rate).to(x.dtype)
        return x * keep * (1 - rate) ** (-power)


def make_dropout(variant: str, *, p: float = 0.1, sigma: float = 0.1, p_min: float = 0.0,
                 p_max: float = 0.6, rescale_power: float = 0.75, q_mode: str = "batch",
                 max_rate: float = 0.9) -> nn.Module:
    """One dropout layer of a :data:`VARIANTS` name: ``none`` → identity, ``dropout`` →
    :class:`torch.nn.Dropout`, the others → :class:`Jumpout` with the flags of :data:`VARIANT_FLAGS`."""
    if variant == "none":
        return nn.Identity()
    if variant == "dropout":
        _check_rate("p", p)
        return nn.Dropout(p)
    if variant not in VARIANT_FLAGS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return Jumpout(p, sigma=sigma, p_min=p_min, p_max=p_max, rescale_power=rescale_power,
                   q_mode=q_mode, max_rate=max_rate, **VARIANT_FLAGS[variant])


def dropout_factory(variant: str, **kwargs) -> Callable[[], nn.Module]:
    """A zero-argument function that builds a fresh layer of ``variant`` (checked now)."""
    make_dropout(variant, **kwargs)
    return partial(make_dropout, variant, **kwargs)


# --------------------------------------------------------------------------- networks

def build_cnn(in_channels: int, image_size: int, n_classes: int, *,
              dropout: Callable[[], nn.Module], widths: tuple[int, ...] = (8, 16, 32),
              hidden: int = 64) -> nn.Sequential:
    """A small CNN with batch norm; each block is conv3×3 → BN → ReLU → max-pool → dropout.

    Every dropout layer thus sits after a ReLU and feeds a weighted layer followed by batch
    norm (the next conv, or flatten → linear → BN), the setting of the paper's §3.3; the head is
    linear → BN → ReLU → dropout → linear.
    """
    if not widths:
        raise ValueError("widths must name at least one block")
    layers: list[nn.Module] = []
    channels, size = in_channels, image_size
    for width in widths:
        layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                   nn.ReLU(), nn.MaxPool2d(2), dropout()]
        channels, size = width, size // 2
    layers += [nn.Flatten(), nn.Linear(channels * size * size, hidden, bias=False),
               nn.BatchNorm1d(hidden), nn.ReLU(), dropout(), nn.Linear(hidden, n_classes)]
    return nn.Sequential(*layers)


def build_mlp(in_features: int, n_classes: int, *, dropout: Callable[[], nn.Module],
              widths: tuple[int, ...] = (256, 256), batch_norm: bool = False) -> nn.Sequential:
    """A ReLU MLP on flattened images: (linear → [BN] → ReLU → dropout) per width, then linear."""
    if not widths:
        raise ValueError("widths must name at least one hidden layer")
    layers: list[nn.Module] = [nn.Flatten()]
    features = in_features
    for width in widths:
        layers.append(nn.Linear(features, width, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers += [nn.ReLU(), dropout()]
        features = width
    layers.append(nn.Linear(features, n_classes))
    return nn.Sequential(*layers)


def build_network(arch: str, *, in_channels: int, image_size: int, n_classes: int,
                  dropout: Callable[[], nn.Module], cnn_widths: tuple[int, ...] = (8, 16, 32),
                  cnn_hidden: int = 64, mlp_widths: tuple[int, ...] = (256, 256)) -> nn.Sequential:
    """``'cnn'`` (:func:`build_cnn`) or ``'mlp'`` (:func:`build_mlp`, without batch norm)."""
    if arch == "cnn":
        return build_cnn(in_channels, image_size, n_classes, dropout=dropout,
                         widths=tuple(cnn_widths), hidden=cnn_hidden)
    if arch == "mlp":
        return build_mlp(in_channels * image_size * image_size, n_classes, dropout=dropout,
                         widths=tuple(mlp_widths))
    raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")


# --------------------------------------------------------------------------- measurements

DROPOUT_TYPES = (nn.Dropout, Jumpout)


def dropout_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The dropout layers of ``model`` (``nn.Dropout`` or :class:`Jumpout`) by module name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, DROPOUT_TYPES)}


def relu_layers(model: nn.Sequential) -> dict[str, nn.Module]:
    """The ReLU modules of a ``Sequential`` by name: where dropout's input is made."""
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.ReLU)}


@torch.no_grad()
def capture_inputs(model: nn.Module, x: torch.Tensor,
                   layers: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    """The input of each module in ``layers`` during one forward pass of ``x`` (forward
    pre-hooks; ``model`` keeps its train/eval mode)."""
    seen: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_pre_hook(lambda mod, args, name=name: seen.__setitem__(name, args[0].detach()))
               for name, m in layers.items()]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


@torch.no_grad()
def active_fractions(model: nn.Module, x: torch.Tensor, *, train_mode: bool = False) -> dict[str, float]:
    """``q⁺`` of the input of every dropout layer on the batch ``x``, by layer name.

    Measured in eval mode by default (batch norm with its running statistics, dropout off), so
    the number depends on the weights only; ``train_mode=True`` measures what the layers see in
    training (batch statistics, earlier dropout on), and restores the mode afterwards.
    """
    was_training = model.training
    model.train(train_mode)
    try:
        inputs = capture_inputs(model, x, dropout_layers(model))
    finally:
        model.train(was_training)
    return {name: float(active_fraction(h)) for name, h in inputs.items()}


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
    _check_rate("rate", rate)
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


# --------------------------------------------------------------------------- experiments

@dataclass
class Comparison:
    """Results of :func:`compare_variants`.

    ``results``: one row per (arch, variant, seed) with ``test_acc`` and ``train_seconds``;
    ``active``: ``q⁺`` per (arch, variant, seed, epoch, layer) on a probe batch, epoch 0 being
    the untrained network; ``models``: the trained networks by (arch, variant, seed).
    """

    results: pd.DataFrame
    active: pd.DataFrame
    models: dict[tuple[str, str, int], nn.Module] = field(repr=False, default_factory=dict)


def compare_variants(data, *, archs: list[str], variants: list[str], seeds: list[int],
                     epochs: int, lr: float, batch_size: int = 100, optimizer: str = "sgd",
                     momentum: float = 0.9, weight_decay: float = 0.0, p: float = 0.1,
                     sigma: float = 0.1, p_min: float = 0.0, p_max: float = 0.6,
                     rescale_power: float = 0.75, q_mode: str = "batch",
                     cnn_widths: tuple[int, ...] = (8, 16, 32), cnn_hidden: int = 64,
                     mlp_widths: tuple[int, ...] = (256, 256), probe_size: int = 500,
                     device: str = "cpu", progress: bool = True) -> Comparison:
    """Train every (arch, variant, seed) on ``data`` (a :class:`equalnets.data.Dataset`) and
    measure its test accuracy, its training time (without the ``q⁺`` probes) and ``q⁺`` of each
    dropout layer after every epoch on the first ``probe_size`` training images.

    ``torch.manual_seed(seed)`` fixes the initial weights and the dropout masks of a run; the
    order of the mini-batches comes from ``fit_model``'s own generator with the same seed.
    """
    for arch in archs:
        if arch not in ARCHITECTURES:
            raise ValueError(f"archs must be among {ARCHITECTURES}, got {arch!r}")
    for variant in variants:
        if variant not in VARIANTS:
            raise ValueError(f"variants must be among {VARIANTS}, got {variant!r}")
    if not seeds:
        raise ValueError("seeds must not be empty")
    data = data.to(device)
    probe = data.x_train[:probe_size]
    results, active, models = [], [], {}
    runs = [(a, v, s) for a in archs for v in variants for s in seeds]
    for arch, variant, seed in tqdm(runs, desc="runs", disable=not progress):
        factory = dropout_factory(variant, p=p, sigma=sigma, p_min=p_min, p_max=p_max,
                                  rescale_power=rescale_power, q_mode=q_mode)
        torch.manual_seed(seed)
        model = build_network(arch, in_channels=data.in_channels, image_size=data.image_size,
                              n_classes=data.n_classes, dropout=factory, cnn_widths=cnn_widths,
                              cnn_hidden=cnn_hidden, mlp_widths=mlp_widths).to(device)
        probe_seconds = 0.0

        def record(epoch: int, net: nn.Module) -> None:
            nonlocal probe_seconds
            start = time.perf_counter()
            for layer, q in active_fractions(net, probe).items():
                active.append(dict(arch=arch, variant=variant, seed=seed, epoch=epoch, layer=layer, q_plus=q))
            probe_seconds += time.perf_counter() - start

        record(0, model)
        start = time.perf_counter()
        fit_model(model, data.x_train, data.y_train, epochs=epochs, lr=lr, batch_size=batch_size,
                  optimizer=optimizer, momentum=momentum, weight_decay=weight_decay, seed=seed,
                  progress=False, on_epoch=record)
        seconds = time.perf_counter() - start - probe_seconds
        pred = predict_logits(model, data.x_test).argmax(1)
        acc = float((pred == data.y_test).float().mean())
        results.append(dict(arch=arch, variant=variant, seed=seed, test_acc=acc, train_seconds=seconds))
        models[(arch, variant, seed)] = model
    return Comparison(pd.DataFrame(results), pd.DataFrame(active), models)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (ddof=1; 0 for one seed) of test accuracy and training time
    per (arch, variant), with the number of seeds: ``(runs) -> (arch × variant)``."""
    g = results.groupby(["arch", "variant"], sort=False)
    out = g.agg(acc_mean=("test_acc", "mean"), acc_sd=("test_acc", "std"),
                seconds_mean=("train_seconds", "mean"), seconds_sd=("train_seconds", "std"),
                n=("seed", "count")).reset_index()
    return out.fillna({"acc_sd": 0.0, "seconds_sd": 0.0})


def gain_verdict(a: np.ndarray, b: np.ndarray) -> tuple[float, float, str]:
    """Gain of ``b`` over ``a`` (mean difference) against their pooled standard deviation, and
    the verdict: ``reproduced`` when the gain exceeds the pooled SD, ``partly`` when it is
    positive but within it, else ``not reproduced``. ``(n_a,), (n_b,) -> (gain, pooled, verdict)``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 1 or b.size < 1:
        raise ValueError("a and b must each hold at least one value")
    gain = float(b.mean() - a.mean())
    var_a = a.var(ddof=1) if a.size > 1 else 0.0
    var_b = b.var(ddof=1) if b.size > 1 else 0.0
    pooled = float(math.sqrt((var_a + var_b) / 2))
    verdict = "reproduced" if gain > pooled else ("partly" if gain > 0 else "not reproduced")
    return gain, pooled, verdict


# --------------------------------------------------------------------------- figures

def plot_active_fraction(active: pd.DataFrame, *, p: float, ax=None, title: str | None = None):
    """``q⁺`` of each dropout layer over the epochs (mean over seeds, band: min–max), with the
    base rate ``p`` and, on a second axis, the effective rate ``p·q⁺`` of plain dropout.
    ``active``: rows of one arch and variant. Returns the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.4))
    layers = sorted(active["layer"].unique(), key=lambda name: (len(name), name))
    sns.lineplot(data=active, x="epoch", y="q_plus", hue="layer", hue_order=layers, marker="o",
                 errorbar=("pi", 100), ax=ax)
    ax.set_ylim(0, 1)
    ax.set_xlabel("epoch (0 = untrained)")
    ax.set_ylabel("active fraction q⁺ of the dropout input")
    right = ax.secondary_yaxis("right", functions=(lambda q: p * q, lambda e: e / p))
    right.set_ylabel(f"effective rate p·q⁺ (p = {p:g})")
    n = active["seed"].nunique()
    ax.set_title(title or f"q⁺ per layer (N = {n} seed{'s' if n > 1 else ''})")
    ax.legend(title="layer", fontsize=8)
    return ax.figure


def plot_rate_distribution(rates: np.ndarray, *, p: float, sigma: float, p_min: float, p_max: float,
                           ax=None):
    """Histogram of drawn rates with their mean and the fixed rate ``p``. Returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(rates, bins=60, density=True, color="tab:blue", alpha=0.7)
    ax.axvline(float(np.mean(rates)), color="tab:blue", ls="--", label=f"mean {np.mean(rates):.3f}")
    ax.axvline(p, color="k", ls=":", label=f"plain dropout p = {p:g}")
    ax.set_xlabel("dropout rate drawn for one layer and step")
    ax.set_ylabel("density")
    ax.set_title(f"min(p_min + |N(0, σ)|, p_max), σ = {sigma:.3f}, "
                 f"[{p_min:g}, {p_max:g}] (N = {len(rates):,})", fontsize=9)
    ax.legend(fontsize=8)
    return ax.figure


def plot_moment_shift(table: pd.DataFrame, *, axes=None, n_images: int | None = None):
    """Median over units of |mean shift| (in training SDs) and of |log variance ratio| against
    the rate, one line per rescaling power. ``table``: output of :func:`shift_table`. Returns
    the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    df = table.assign(abs_mean_shift=table.mean_shift.abs(), abs_log_var=np.log(table.var_ratio).abs())
    df = df.groupby(["layer", "rate", "power"], as_index=False)[["abs_mean_shift", "abs_log_var"]].median()
    df["rescaling"] = df.power.map(lambda a: f"(1−p)^−{a:g}")
    kw = dict(x="rate", hue="rescaling", style="layer", marker="o")
    sns.lineplot(data=df, y="abs_mean_shift", ax=axes[0], **kw)
    sns.lineplot(data=df, y="abs_log_var", ax=axes[1], legend=False, **kw)
    where = f", {n_images} images" if n_images else ""
    axes[0].set(xlabel="dropout rate p", ylabel="median |μ_test − μ_train| / σ_train",
                title=f"Mean shift at the batch norm input{where}")
    axes[1].set(xlabel="dropout rate p", ylabel="median |log(σ²_test / σ²_train)|",
                title=f"Variance shift at the batch norm input{where}")
    axes[0].legend(fontsize=7)
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_comparison(results: pd.DataFrame, *, variants: list[str], axes=None):
    """Test accuracy (points: seeds; bar: mean ± SD) and training time per variant, one column
    per architecture. Returns the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    archs = list(dict.fromkeys(results.arch))
    if axes is None:
        _, axes = plt.subplots(2, len(archs), figsize=(5 * len(archs), 6.4), squeeze=False)
    n = results.seed.nunique()
    for j, arch in enumerate(archs):
        df = results[results.arch == arch].assign(acc=lambda d: 100 * d.test_acc)
        for i, (col, label) in enumerate((("acc", "test accuracy (%)"), ("train_seconds", "training time (s)"))):
            ax = axes[i][j]
            sns.pointplot(data=df, x="variant", y=col, order=variants, errorbar="sd", capsize=0.2,
                          linestyle="none", color="k", ax=ax)
            sns.stripplot(data=df, x="variant", y=col, order=variants, hue="variant",
                          hue_order=variants, legend=False, alpha=0.6, ax=ax)
            ax.set(xlabel="", ylabel=label, title=f"{arch.upper()}: {label.split(' (')[0]} (N = {n} seeds, mean ± SD)")
            ax.tick_params(axis="x", labelrotation=20)
    axes[0][0].figure.tight_layout()
    return axes[0][0].figure


def active_fraction_explorer(active: pd.DataFrame, *, p: float):
    """An ipywidgets view of ``q⁺`` (output of :func:`compare_variants`' ``active``): pick the
    architecture, the variant and a layer (or all). For JupyterLab; returns the widget box."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def options(column: str) -> list[str]:
        return list(dict.fromkeys(active[column]))

    arch = widgets.Dropdown(options=options("arch"), description="arch")
    variant = widgets.Dropdown(options=options("variant"), description="variant")
    layers = sorted(active["layer"].unique(), key=lambda name: (len(name), name))
    layer = widgets.Dropdown(options=["all", *layers], description="layer")
    out = widgets.Output()

    def draw(_=None) -> None:
        sub = active[(active.arch == arch.value) & (active.variant == variant.value)]
        sub = sub if layer.value == "all" else sub[sub.layer == layer.value]
        out.clear_output(wait=True)
        with out:
            if sub.empty:
                print("no such layer in this network")
                return
            plot_active_fraction(sub, p=p, title=f"{arch.value.upper()}, {variant.value}: q⁺ "
                                                 f"(N = {sub.seed.nunique()} seeds)")
            plt.show()

    for w in (arch, variant, layer):
        w.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([arch, variant, layer]), out])
