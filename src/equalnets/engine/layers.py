"""Dropout layers: the engine's dropout with cheap masks, and Jumpout (Wang, Zhou & Bilmes, ICML 2019).

:class:`FastDropout` is ``nn.Dropout`` with masks from :func:`dropout_mask` (the engine swaps it in
for every ``nn.Dropout``). :class:`Jumpout` is dropout for the output of a ReLU with the paper's
three changes, each switchable:

1. **Sampled rate** (its §3.1): at every training step each layer draws its rate from a
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
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .checks import check_choice, check_float, check_probability
from .config import DROPOUT_KINDS, Q_MODES

#: Which of Jumpout's switches each dropout kind (``RunConfig.dropout_kind``) turns on.
JUMPOUT_FLAGS = {
    "sampled": dict(sample_rate=True, normalize_rate=False, rescale=False),
    "normalised": dict(sample_rate=False, normalize_rate=True, rescale=False),
    "rescaled": dict(sample_rate=False, normalize_rate=False, rescale=True),
    "jumpout": dict(sample_rate=True, normalize_rate=True, rescale=True),
}


def dropout_mask(shape: Sequence[int], p: float, *, device: str | torch.device | None = None,
                 dtype: torch.dtype = torch.float32, generator: torch.Generator | None = None) -> torch.Tensor:
    """An inverted-dropout mask of ``shape``: 0 with probability ``p``, else ``1 / (1 - p)``.

    Drawn in row-major (NCHW) order from full-range 64-bit random integers cut into 8-bit uniform
    integers (32-bit where ``(1 - p) * 256`` is not a whole number), compared with a threshold.
    On the CPU this is ~5x cheaper than ``bernoulli_``, which draws one 32-bit number per element
    from the Mersenne twister. The keep probability is exact for p = 0.25 and 0.5 (st-VGG's) and
    within 2**-33 otherwise, and the scale is the reciprocal of the keep probability actually
    used, so the mask's expectation is exactly 1.
    """
    p = check_probability("dropout p", p, open_high=False)
    shape = tuple(int(s) for s in shape)
    n = math.prod(shape)
    if p == 0 or n == 0:
        return torch.ones(shape, dtype=dtype, device=device)
    if p == 1:
        return torch.zeros(shape, dtype=dtype, device=device)
    keep = 1.0 - p
    bits = 8 if (keep * 256).is_integer() else 32
    threshold = round(keep * 2 ** bits)  # P(uniform integer < threshold) = threshold / 2**bits
    if threshold >= 2 ** bits:  # p below the 32-bit resolution: nothing is dropped
        return torch.ones(shape, dtype=dtype, device=device)
    words = torch.empty(-(-n * bits // 64), dtype=torch.int64, device=device)
    words.random_(-2 ** 63, None, generator=generator)  # every 64-bit pattern equally likely
    if bits == 8:
        kept = words.view(torch.uint8)[:n] < threshold
    else:  # int32 is uniform on [-2**31, 2**31): shift the threshold by -2**31
        kept = words.view(torch.int32)[:n] < threshold - 2 ** 31
    return kept.view(shape).to(dtype).mul_(2 ** bits / threshold)


class FastDropout(nn.Module):
    """Dropout with :func:`dropout_mask`'s cheap masks from the device's global generator, drawn in
    NCHW order whatever the input's memory layout (so a channels-last network draws the masks of
    the same network in NCHW); identity in eval mode, like ``nn.Dropout``.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = check_probability("dropout p", p, open_high=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * dropout_mask(x.shape, self.p, device=x.device, dtype=x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


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
    check_choice("per", per, Q_MODES)
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
        check_probability("p", p)
        check_probability("p_min", p_min)
        check_probability("p_max", p_max)
        check_probability("max_rate", max_rate)
        check_float("sigma", sigma, low=0, low_open=True)
        if p_min > p_max:
            raise ValueError(f"p_min must be <= p_max, got p_min={p_min!r} > p_max={p_max!r}")
        check_float("rescale_power", rescale_power, low=0, high=1, low_open=True)
        check_choice("q_mode", q_mode, Q_MODES)
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


def make_dropout(kind: str, p: float, *, sigma: float | None = None, p_min: float = 0.0, p_max: float = 0.6,
                 rescale_power: float = 0.75, q_mode: str = "batch") -> nn.Module:
    """One dropout layer of a kind of :data:`~equalnets.engine.config.DROPOUT_KINDS`: ``standard`` →
    ``nn.Dropout(p)``, the others → :class:`Jumpout` with the switches of :data:`JUMPOUT_FLAGS`
    (``sigma=None``: the σ whose mean drawn rate is ``p``, :func:`sigma_for_mean_rate`)."""
    check_choice("kind", kind, DROPOUT_KINDS)
    if kind == "standard":
        return nn.Dropout(check_probability("p", p))
    if sigma is None:
        sigma = sigma_for_mean_rate(p, p_min, p_max)
    return Jumpout(p, sigma=sigma, p_min=p_min, p_max=p_max, rescale_power=rescale_power, q_mode=q_mode,
                   **JUMPOUT_FLAGS[kind])


#: The dropout layers of the package's networks: where dropout's input, and its q⁺, is measured.
DROPOUT_TYPES = (nn.Dropout, FastDropout, Jumpout)
