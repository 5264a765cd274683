"""Replica-exchange Hamiltonian Monte Carlo (Baldock & Marzari 2019): R copies of one system, each
held at its own temperature, moved by HMC and swapped between neighbouring temperatures, so that a
copy stuck in a cold valley can leave it by warming up, and the paper's networks as one
stacked-weights model, so that every replica is a row of one batched computation.

The sampler (:func:`replica_exchange`) works on any differentiable ``energy`` that maps an ``(R, D)``
tensor to ``(R,)`` energies. At temperature T it samples exp(−energy/T) within an optional uniform
box. One HMC trajectory draws momenta p ~ N(0, T·I) (the paper's formulation, unit masses), runs L
velocity-Verlet (leapfrog) steps of the Hamiltonian H = energy + |p|²/2 and accepts the end point
with probability min(1, exp(−ΔH/T)) when it lies inside the box. After every ``trajectories``
trajectories the adjacent pairs of one parity (even or odd, drawn at random) try to exchange their
configurations, accepted with min(1, exp((βⱼ − βⱼ₊₁)(Eⱼ − Eⱼ₊₁))), β = 1/T.

The networks (:class:`StackedMLP`, :data:`PAPER_NETWORKS`) keep the weights of R networks as the rows
of one ``(R, D)`` matrix; the energy is the summed cross-entropy over a training set and the prior
a box of half-width σᵢ/2, σᵢ = scale/√(fan-in incl. the bias) (:meth:`StackedMLP.bounds`).
:func:`gradient_trained_minima` trains K networks of the same model by full-batch gradient descent
(the paper's "standard optimisation" reference), and :func:`sample_losses` scores samples on data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ..engine.checks import check_float, check_int, check_int_list

#: The band of acceptance that the step size of every temperature is tuned to during burn-in.
TARGET_ACCEPTANCE = (0.6, 0.7)
#: Each trajectory's step size is the temperature's times a factor drawn uniformly from 1 ± this, so
#: that a fixed number of leapfrog steps never lands on a period of the dynamics (e.g. a Gaussian's):
#: a standard HMC practice that leaves every temperature's distribution unchanged.
STEP_JITTER = 0.5
#: The step size every temperature starts from when it is tuned (dual averaging finds the scale fast).
INITIAL_STEP = 0.05
#: Step-size tuning: dual averaging's shrinkage γ, stabiliser t₀ and decay κ (Hoffman & Gelman's
#: values), and the gain c of the Robbins-Monro window that follows it (see ``_StepSizeTuner``).
_GAMMA, _T0, _KAPPA, _RM_GAIN = 0.05, 10.0, 0.75, 1.0


# --------------------------------------------------------------------------- temperatures

def geometric_ladder(t_min: float, t_max: float, n: int) -> np.ndarray:
    """``(n,)`` temperatures from ``t_min`` to ``t_max`` with a constant ratio (the paper's ladders:
    112 from 10⁻² to 10², its code's default 16 from 10⁻² to 1); ``n = 1`` gives ``[t_min]``."""
    for name, value in (("t_min", t_min), ("t_max", t_max)):
        check_float(name, value, low=0, low_open=True)
    check_int("n", n, 1, why=" (the number of temperatures)")
    if n > 1 and not t_max > t_min:
        raise ValueError(f"t_max must be larger than t_min for n > 1 temperatures, got t_min={t_min}, t_max={t_max}")
    if n == 1:
        return np.array([float(t_min)])
    return float(t_min) * (float(t_max) / float(t_min)) ** (np.arange(n) / (n - 1))


# --------------------------------------------------------------------------- the sampler

@dataclass(frozen=True)
class ReplicaExchangeResult:
    """What :func:`replica_exchange` returns; tensors on the device of ``x0``.

    ``samples`` ``(R, S, D)``: the configuration at each temperature after every iteration past
    burn-in (S = iterations − burn_in); ``energies`` ``(R, S)`` theirs; ``acceptance`` ``(R,)`` the
    fraction of trajectories accepted after burn-in; ``swap_rate`` ``(R − 1,)`` the fraction of
    exchanges between temperatures j and j + 1 accepted after burn-in (NaN for a pair never tried);
    ``step_size`` ``(R,)`` the step size of each temperature after burn-in; ``trace`` ``(R, iterations)``
    the energy at each temperature after every iteration, burn-in included; ``walker``
    ``(R, iterations)`` which of the R starting configurations sits at each temperature then.
    """

    temperatures: torch.Tensor
    samples: torch.Tensor
    energies: torch.Tensor
    acceptance: torch.Tensor
    swap_rate: torch.Tensor
    step_size: torch.Tensor
    trace: torch.Tensor
    walker: torch.Tensor
    burn_in: int


def _check_count(name: str, value: Any, low: int) -> int:
    return check_int(name, value, low)


def _as_tensor(name: str, value: Any, device: torch.device | None = None,
               dtype: torch.dtype | None = None) -> torch.Tensor:
    try:
        t = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value, dtype=float))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be an array of numbers ({err})") from None
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"{name} must hold real numbers, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if device is not None or dtype is not None:
        t = t.to(device=device if device is not None else t.device, dtype=dtype if dtype is not None else t.dtype)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return t


#: What the sampler samples: an (R, D) tensor of configurations to their (R,) energies, differentiable.
Energy = Callable[[torch.Tensor], torch.Tensor]


def _checked_energy(energy: Energy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The energies and gradients at ``x`` (R, D), with the contract of ``energy`` checked."""
    try:
        e, g = _energy_and_grad(energy, x)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise ValueError(f"energy must map an (R, D) tensor to (R,) energies differentiable in it; "
                         f"calling it on x0 failed: {type(err).__name__}: {err}") from None
    if e.shape != (x.shape[0],):
        raise ValueError(f"energy must map an (R, D) tensor to (R,) energies; for R={x.shape[0]} it gave shape "
                         f"{tuple(e.shape)}")
    if not torch.isfinite(e).all() or not torch.isfinite(g).all():
        raise ValueError("x0 must be a configuration of finite energy and gradient (energy(x0) is not finite there)")
    return e, g


def _energy_and_grad(energy: Energy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(R,)`` energies and ``(R, D)`` gradients; the rows are independent, so the gradient of the sum
    is every row's own."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        e = energy(xg)
        if not isinstance(e, torch.Tensor):
            raise TypeError(f"energy returned {type(e).__name__}, not a tensor")
        (g,) = torch.autograd.grad(e.sum(), xg)
    return e.detach().to(x.dtype), g.detach()


class _StepSizeTuner:
    """The step size of every temperature, tuned during burn-in towards the middle of
    :data:`TARGET_ACCEPTANCE` from the Metropolis acceptance probability a of every trajectory, in two
    windows. Dual averaging (Hoffman & Gelman 2014, Alg. 5) finds its scale fast; then Robbins-Monro
    steps log h += c k₀/(k + k₀) (a − target) keep it near the target while every trajectory's jittered
    step h·u and its a are kept, and the step size chosen at the end is the one whose acceptance,
    averaged over the jitter, a logistic fit of a against log(h·u) puts at the target (the last
    Robbins-Monro step where the fit fails). ``updates`` is the count of the second window."""

    def __init__(self, step: torch.Tensor) -> None:
        self.mu, self.error, self.log_step, self.log_mean = step.log(), torch.zeros_like(step), step.log(), step.log()
        self.t, self.second = 0, False
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.target = sum(TARGET_ACCEPTANCE) / 2

    def start_second_window(self) -> None:
        self.log_step, self.second, self.t = self.log_mean.clone(), True, 0

    def update(self, accept_prob: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        a = torch.nan_to_num(accept_prob, nan=0.0)
        self.t += 1
        if not self.second:
            eta = 1.0 / (self.t + _T0)
            self.error = (1 - eta) * self.error + eta * (self.target - a)
            self.log_step = self.mu - math.sqrt(self.t) / _GAMMA * self.error
            weight = self.t ** -_KAPPA
            self.log_mean = weight * self.log_step + (1 - weight) * self.log_mean
        else:
            self.seen.append((step.log(), a))
            self.log_step = self.log_step + _RM_GAIN * (_T0 / (self.t + _T0)) * (a - self.target)
        return self.log_step.exp()

    def final(self) -> torch.Tensor:
        if not self.second:
            return self.log_mean.exp()
        if len(self.seen) < 20:
            return self.log_step.exp()
        z, a = (torch.stack(v, 1) for v in zip(*self.seen))  # (R, k) log steps and acceptances
        return torch.where(*_logistic_root(z, a, self.target, self.log_step)).exp()


def _logistic_root(z: torch.Tensor, a: torch.Tensor, target: float,
                   fallback: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per row: fit a ≈ σ(α + β (z − z̄)) by Newton's method on the cross-entropy (a in [0, 1]), then the
    log step whose acceptance averaged over the jitter factors u is ``target``; returns (ok, root,
    fallback) with ok False where the fit has no negative slope or the root lies outside the steps seen."""
    centre = z.mean(1, keepdim=True)
    zc = z - centre
    coef = torch.zeros(z.shape[0], 2, dtype=z.dtype, device=z.device)
    design = torch.stack([torch.ones_like(zc), zc], -1)                      # (R, k, 2)
    for _ in range(25):
        p = torch.sigmoid(coef[:, :1] + coef[:, 1:] * zc)
        grad = (design * (p - a)[..., None]).sum(1)
        hess = torch.einsum("rki,rkj->rij", design * (p * (1 - p))[..., None], design)
        hess = hess + 1e-6 * torch.eye(2, dtype=z.dtype, device=z.device)
        coef = coef - torch.linalg.solve(hess, grad[..., None])[..., 0].clamp(-10, 10)
    u = torch.linspace(1 - STEP_JITTER, 1 + STEP_JITTER, 41, dtype=z.dtype, device=z.device).log()
    low, high = z.min(1).values - centre[:, 0], z.max(1).values - centre[:, 0]
    lo, hi = low.clone(), high.clone()
    for _ in range(50):  # bisection: the jitter-averaged acceptance falls with the nominal log step
        mid = (lo + hi) / 2
        acc = torch.sigmoid(coef[:, :1] + coef[:, 1:] * (mid[:, None] + u)).mean(1)
        lo, hi = torch.where(acc > target, mid, lo), torch.where(acc > target, hi, mid)
    root = (lo + hi) / 2
    ok = (coef[:, 1] < 0) & torch.isfinite(coef).all(1) & (root > low + 1e-6) & (root < high - 1e-6)
    return ok, root + centre[:, 0], fallback


def _trajectory(energy: Energy, x: torch.Tensor, e: torch.Tensor, g: torch.Tensor,
                temperature: torch.Tensor, step: torch.Tensor, leapfrog: int, bounds: torch.Tensor | None,
                gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """One HMC trajectory of every replica at once: (x, e, g) after it, the Metropolis acceptance
    probability ``(R,)``, whether each replica moved ``(R,)`` and the (jittered) step it used ``(R,)``."""
    R, D = x.shape
    jitter = 1 + STEP_JITTER * (2 * torch.rand(R, generator=gen, device=x.device, dtype=x.dtype) - 1)
    h = (step * jitter)[:, None]
    p = torch.randn(R, D, generator=gen, device=x.device, dtype=x.dtype) * temperature.sqrt()[:, None]
    h_start = e + 0.5 * (p * p).sum(1)
    xn, en, gn = x, e, g
    p = p - 0.5 * h * gn                      # velocity Verlet as leapfrog: half kick, L drifts and kicks
    for step_index in range(leapfrog):
        xn = xn + h * p
        en, gn = _energy_and_grad(energy, xn)
        p = p - (h if step_index < leapfrog - 1 else 0.5 * h) * gn
    log_ratio = -(en + 0.5 * (p * p).sum(1) - h_start) / temperature
    log_ratio = torch.where(torch.isfinite(log_ratio) & torch.isfinite(gn).all(1), log_ratio,
                            torch.full_like(log_ratio, -math.inf))
    if bounds is not None:  # the box prior: a proposal outside it has prior density 0
        log_ratio = torch.where((xn.abs() < bounds).all(1), log_ratio, torch.full_like(log_ratio, -math.inf))
    accept_prob = log_ratio.clamp(max=0).exp()
    move = torch.rand(R, generator=gen, device=x.device, dtype=x.dtype).log() < log_ratio
    return (torch.where(move[:, None], xn, x), torch.where(move, en, e), torch.where(move[:, None], gn, g),
            accept_prob, move, h[:, 0])


def replica_exchange(energy: Energy, x0: Any, temperatures: Any, *,
                     iterations: int, trajectories: int = 10, leapfrog: int = 100, burn_in: int | None = None,
                     step_size: float | Sequence[float] | None = None, bounds: Any = None,
                     seed: int = 0) -> ReplicaExchangeResult:
    """Replica-exchange HMC of exp(−energy/T) (within the box ``bounds``) at every temperature.

    ``energy``: ``(R, D)`` tensor → ``(R,)`` energies, differentiable, each row on its own.
    ``x0``: ``(D,)`` (every replica starts there) or ``(R, D)``. ``temperatures``: ``(R,)``, positive and
    increasing. Each of ``iterations`` iterations runs ``trajectories`` HMC trajectories of ``leapfrog``
    steps at every temperature, then one round of exchanges between neighbours. The first ``burn_in``
    iterations (default: half) are not kept; with ``step_size=None`` the step size of each
    temperature is tuned during them to an acceptance in :data:`TARGET_ACCEPTANCE` (see
    ``_StepSizeTuner``) and then fixed (``burn_in=0`` leaves nothing to tune on: every temperature
    keeps :data:`INITIAL_STEP`), else ``step_size`` (a number or ``(R,)``) is used throughout;
    every trajectory's step is that temperature's times a factor in 1 ± :data:`STEP_JITTER`. ``bounds``:
    ``(D,)`` half-widths of a uniform box prior |x_d| < bounds_d (x0 must lie inside; a proposal outside
    is rejected). ``seed`` seeds every draw. Returns a :class:`ReplicaExchangeResult`.
    """
    if not callable(energy):
        raise ValueError(f"energy must be a function of an (R, D) tensor, got {type(energy).__name__}")
    iterations = _check_count("iterations", iterations, 1)
    trajectories = _check_count("trajectories", trajectories, 1)
    leapfrog = _check_count("leapfrog", leapfrog, 1)
    seed = _check_count("seed", seed, 0)
    device = x0.device if isinstance(x0, torch.Tensor) else torch.device("cpu")
    x = _as_tensor("x0", x0, device)
    temps = _as_tensor("temperatures", temperatures, device, x.dtype)
    if temps.ndim != 1 or temps.numel() == 0:
        raise ValueError(f"temperatures must be a non-empty 1-D array (R,), got shape {tuple(temps.shape)}")
    if (temps <= 0).any() or (temps.numel() > 1 and (temps[1:] <= temps[:-1]).any()):
        raise ValueError(f"temperatures must be positive and strictly increasing, got {temps.tolist()}")
    R = temps.numel()
    if x.ndim == 1 and x.numel() > 0:
        x = x.expand(R, -1)
    if x.ndim != 2 or x.shape[0] != R or x.shape[1] == 0:
        raise ValueError(f"x0 must have shape (D,) or (R, D) with R={R} (one row per temperature), "
                         f"got {tuple(x.shape)}")
    x = x.clone()
    D = x.shape[1]
    if burn_in is None:
        burn_in = iterations // 2
    burn_in = _check_count("burn_in", burn_in, 0)
    if burn_in >= iterations:
        raise ValueError(f"burn_in must be smaller than iterations={iterations} (S = iterations - burn_in samples "
                         f"are kept), got {burn_in}")
    tune = step_size is None and burn_in > 0
    if step_size is None:  # tuned during burn-in; without a burn-in every temperature keeps INITIAL_STEP
        step = torch.full((R,), INITIAL_STEP, device=device, dtype=x.dtype)
    else:
        step = _as_tensor("step_size", step_size, device, x.dtype)
        if step.ndim == 0:
            step = step.expand(R).clone()
        if step.shape != (R,) or (step <= 0).any():
            raise ValueError(f"step_size must be None, a positive number or (R,) positive numbers with R={R}, "
                             f"got shape {tuple(step.shape)}")
    box = None
    if bounds is not None:
        box = _as_tensor("bounds", bounds, device, x.dtype)
        if box.shape != (D,) or (box <= 0).any():
            raise ValueError(f"bounds must be (D,) positive half-widths with D={D}, got shape {tuple(box.shape)}")
        if not (x.abs() < box).all():
            raise ValueError("x0 must lie inside the box |x0| < bounds")
    e, g = _checked_energy(energy, x)

    gen = torch.Generator(device=device).manual_seed(seed)
    beta = 1.0 / temps
    S = iterations - burn_in
    samples = torch.empty(R, S, D, device=device, dtype=x.dtype)
    energies = torch.empty(R, S, device=device, dtype=x.dtype)
    trace = torch.empty(R, iterations, device=device, dtype=x.dtype)
    walker = torch.empty(R, iterations, device=device, dtype=torch.long)
    who = torch.arange(R, device=device)
    accepted = torch.zeros(R, device=device, dtype=x.dtype)
    swaps_tried = torch.zeros(max(R - 1, 0), device=device, dtype=x.dtype)
    swaps_done = torch.zeros_like(swaps_tried)
    tuner = _StepSizeTuner(step) if tune else None
    for it in range(iterations):
        tuning = tune and it < burn_in
        if tuning and it == burn_in // 2 and it > 0:
            tuner.start_second_window()
        for _ in range(trajectories):
            x, e, g, accept_prob, moved, used = _trajectory(energy, x, e, g, temps, step, leapfrog, box, gen)
            if tuning:
                step = tuner.update(accept_prob, used)
            elif it >= burn_in:
                accepted += moved
        if tuning and it == burn_in - 1:
            step = tuner.final()
        if R > 1:  # exchanges between neighbours j, j + 1 of one parity, drawn at random
            low = torch.arange(int(torch.randint(2, (1,), generator=gen, device=device)), R - 1, 2, device=device)
            log_a = (beta[low] - beta[low + 1]) * (e[low] - e[low + 1])
            swap = torch.rand(len(low), generator=gen, device=device, dtype=x.dtype).log() < log_a
            order = torch.arange(R, device=device)
            order[low[swap]], order[low[swap] + 1] = low[swap] + 1, low[swap]
            x, e, g, who = x[order], e[order], g[order], who[order]
            if it >= burn_in:
                swaps_tried[low] += 1
                swaps_done[low] += swap.to(x.dtype)
        trace[:, it], walker[:, it] = e, who
        if it >= burn_in:
            samples[:, it - burn_in], energies[:, it - burn_in] = x, e
    swap_rate = torch.where(swaps_tried > 0, swaps_done / swaps_tried.clamp(min=1),
                            torch.full_like(swaps_tried, math.nan))
    return ReplicaExchangeResult(temperatures=temps, samples=samples, energies=energies,
                                 acceptance=accepted / (S * trajectories), swap_rate=swap_rate, step_size=step,
                                 trace=trace, walker=walker, burn_in=burn_in)


# --------------------------------------------------------------------------- the paper's networks

@dataclass(frozen=True)
class StackedMLP:
    """R fully connected networks of one architecture whose weights are the rows of one ``(R, D)``
    matrix: logistic hidden units, ``sizes = (inputs, hidden..., classes)``, outputs linear into the
    softmax or (``logistic_outputs``) logistic before it. Row layout: layer by layer, the weight
    matrix ``(fan_in, fan_out)`` row-major, then its biases. ``prior_scale`` is the paper's 100 (M(3),
    M(1)) or 2000 (M(3*)) of the box prior σᵢ = scale/√kᵢ (:meth:`bounds`)."""

    sizes: tuple[int, ...]
    logistic_outputs: bool = False
    prior_scale: float = 100.0

    def __post_init__(self) -> None:
        check_int_list("sizes", self.sizes, 1, min_len=2)
        if not self.prior_scale > 0:
            raise ValueError(f"prior_scale must be positive, got {self.prior_scale!r}")

    @property
    def n_params(self) -> int:
        """D, the weights and biases of one network."""
        return sum((a + 1) * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    def fan_in(self) -> torch.Tensor:
        """``(D,)``: the fan-in kᵢ of every parameter's unit, its bias included (``inputs + 1`` for the
        first layer)."""
        return torch.cat([torch.full(((a + 1) * b,), float(a + 1)) for a, b in zip(self.sizes[:-1], self.sizes[1:])])

    def bounds(self) -> torch.Tensor:
        """``(D,)`` half-widths σᵢ/2 of the paper's uniform box prior |wᵢ| < σᵢ/2, σᵢ = scale/√kᵢ."""
        return self.prior_scale / self.fan_in().sqrt() / 2

    def layers(self, theta: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Views ``(R, fan_in, fan_out)`` and ``(R, 1, fan_out)`` of every layer's weights and biases."""
        R, out, at = theta.shape[0], [], 0
        for a, b in zip(self.sizes[:-1], self.sizes[1:]):
            w = theta[:, at:at + a * b].reshape(R, a, b)
            out.append((w, theta[:, at + a * b:at + (a + 1) * b].reshape(R, 1, b)))
            at += (a + 1) * b
        return out

    def logits(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(R, n, classes)``: every network's inputs to the softmax for inputs ``x`` ``(n, inputs)``."""
        layers = self.layers(theta)
        h = x
        for i, (w, b) in enumerate(layers):
            h = torch.baddbmm(b, h, w) if h.ndim == 3 else torch.matmul(h, w) + b
            if i < len(layers) - 1 or self.logistic_outputs:
                h = torch.sigmoid(h)
        return h

    def energy(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(R,)``: the summed cross-entropy −Σₙ log p(yₙ | xₙ, w) of every network (the paper's E(D|w))."""
        logits = self.logits(theta, x)
        return -F.log_softmax(logits, dim=-1).gather(-1, y.expand(theta.shape[0], -1)[..., None]).sum((1, 2))

    def init(self, networks: int, generator: torch.Generator, device: str | torch.device = "cpu") -> torch.Tensor:
        """``(networks, D)`` weights drawn as PyTorch's ``nn.Linear`` does, U(−1/√fan_in, 1/√fan_in)
        (weights' fan-in without the bias), well inside the box."""
        limits = torch.cat([torch.full(((a + 1) * b,), 1 / math.sqrt(a))
                            for a, b in zip(self.sizes[:-1], self.sizes[1:])])
        u = torch.rand(networks, self.n_params, generator=generator)
        return ((2 * u - 1) * limits).to(device)


#: The paper's networks by name: hidden layers of 40 logistic units; M(3*) has logistic outputs and a
#: 20× wider prior (its least training loss is ln(1 + 9/e) ≈ 1.46 per example with 10 classes).
PAPER_NETWORKS: dict[str, dict[str, Any]] = {
    "M(3)": {"hidden": (40, 40, 40), "logistic_outputs": False, "prior_scale": 100.0},
    "M(3*)": {"hidden": (40, 40, 40), "logistic_outputs": True, "prior_scale": 2000.0},
    "M(1)": {"hidden": (40,), "logistic_outputs": False, "prior_scale": 100.0},
}


def paper_network(name: str, inputs: int, classes: int = 10) -> StackedMLP:
    """The paper's network ``name`` (a key of :data:`PAPER_NETWORKS`) for ``inputs`` input pixels."""
    if name not in PAPER_NETWORKS:
        raise ValueError(f"name must be one of {', '.join(PAPER_NETWORKS)}, got {name!r}")
    spec = PAPER_NETWORKS[name]
    return StackedMLP((inputs, *spec["hidden"], classes), spec["logistic_outputs"], spec["prior_scale"])


def gradient_trained_minima(model: StackedMLP, x: torch.Tensor, y: torch.Tensor, *, networks: int = 4,
                            steps: int = 2000, lr: float = 0.01, seed: int = 0) -> torch.Tensor:
    """``(networks, D)``: K networks of ``model`` trained from K initialisations by full-batch Adam on the
    summed cross-entropy of ``(x, y)``, kept inside the box prior (each step projects onto it): the
    stacked-weights counterpart of the paper's reference, a minimum found by standard optimisation.
    Not one of the run store's image classifiers: a method of this module, batched like the sampler."""
    networks = _check_count("networks", networks, 1)
    steps = _check_count("steps", steps, 1)
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    gen = torch.Generator().manual_seed(_check_count("seed", seed, 0))
    box = 0.999 * model.bounds().to(x.device)
    theta = torch.minimum(torch.maximum(model.init(networks, gen, x.device), -box), box).requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        model.energy(theta, x, y).sum().backward()
        opt.step()
        with torch.no_grad():
            theta.copy_(torch.minimum(torch.maximum(theta, -box), box))
    return theta.detach()


@dataclass(frozen=True)
class SampleLosses:
    """Scores of weight samples on one data set (n examples), per temperature r and sample s:
    ``loss`` ``(R, S)`` mean cross-entropy per example, ``error`` ``(R, S)`` fraction misclassified;
    and of each temperature's posterior predictive (the mean of the S samples' softmax outputs):
    ``predictive_loss`` ``(R,)``, ``predictive_error`` ``(R,)``."""

    loss: np.ndarray
    error: np.ndarray
    predictive_loss: np.ndarray
    predictive_error: np.ndarray


def sample_losses(model: StackedMLP, samples: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> SampleLosses:
    """The :class:`SampleLosses` of ``samples`` ``(R, S, D)`` on ``(x, y)``; one batched pass per sample
    index (all R temperatures at once)."""
    if samples.ndim != 3 or samples.shape[2] != model.n_params or 0 in samples.shape:
        raise ValueError(f"samples must have shape (R, S, D={model.n_params}), got {tuple(samples.shape)}")
    R, S, _ = samples.shape
    loss, error = torch.empty(R, S), torch.empty(R, S)
    mean_prob = torch.zeros(R, len(y), model.sizes[-1], device=samples.device)
    with torch.no_grad():
        for s in range(S):
            logp = F.log_softmax(model.logits(samples[:, s], x), dim=-1)
            loss[:, s] = -logp.gather(-1, y.expand(R, -1)[..., None]).mean((1, 2)).cpu()
            error[:, s] = (logp.argmax(-1) != y).float().mean(1).cpu()
            mean_prob += logp.exp() / S
        pred_loss = -mean_prob.gather(-1, y.expand(R, -1)[..., None]).clamp_min(1e-300).log().mean((1, 2))
        pred_error = (mean_prob.argmax(-1) != y).float().mean(1)
    return SampleLosses(loss.numpy(), error.numpy(), pred_loss.cpu().numpy(), pred_error.cpu().numpy())
