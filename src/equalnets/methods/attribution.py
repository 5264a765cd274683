"""Attribution for piecewise-linear networks: the gradient part and the bias part of f(x) = J(x)·x + b_x.

A network built only from affine layers (Linear, Conv2d) and piecewise-linear maps (ReLU, PReLU,
max- and average-pooling, Flatten) is exactly affine on the polytope around each input x. With
z_ℓ the input of layer ℓ and g_ℓ = ∂f_k/∂z_ℓ the gradient of logit k there,

    f_k(x) = Σ_p g_ℓ[p]·z_ℓ[p] + Σ_{j≥ℓ} g_{j+1}·c_j        for every ℓ,

where c_j is the bias of layer j (zero for the activation and pooling layers). At ℓ = 0 this is
f(x) = J(x)·x + b_x. Bias backpropagation (Wang, Zhou & Bilmes, ICML 2019, Sec. 3 and Alg. 1)
splits the second sum over the features of z_ℓ, β_ℓ[p], so that Σ_p β_ℓ[p] is the bias part:
starting at the output, each unit's accumulated bias (what it received from above plus its own
bias, weighted by the gradient) is shared among the unit's inputs by weights that sum to one. The
rule for those weights is the variant (:data:`BIAS_RULES`).

Gradient, gradient × input and integrated gradients come from Captum, not from this module.
Everything that must be exact (the identity, the bias attributions) runs in float64.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency
from torch import nn
from torch.nn import functional as F

#: Layers the decomposition understands; Dropout and Identity are no-ops in eval mode.
SUPPORTED_LAYERS = (nn.Linear, nn.Conv2d, nn.ReLU, nn.PReLU, nn.MaxPool2d, nn.AvgPool2d,
                    nn.Flatten, nn.Dropout, nn.Identity)
_PASS_THROUGH = (nn.ReLU, nn.PReLU, nn.Dropout, nn.Identity)

#: Rules for sharing a unit's bias among its inputs (weights ≥ 0 that sum to one per unit):
#: ``contribution`` ∝ |W[p,q]·z[q]|, ``weight`` ∝ |W[p,q]|, ``uniform`` equal over the unit's inputs.
BIAS_RULES = ("contribution", "weight", "uniform")


# --------------------------------------------------------------------------- supported networks


def check_piecewise_linear(model: nn.Module) -> None:
    """Raise ``ValueError`` naming the first layer that makes ``model`` not piecewise linear here."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model must be an nn.Sequential, got {type(model).__name__}")
    for i, layer in enumerate(model):
        if not isinstance(layer, SUPPORTED_LAYERS):
            names = ", ".join(t.__name__ for t in SUPPORTED_LAYERS)
            raise ValueError(f"layer {i} ({type(layer).__name__}) is not supported: the "
                             f"decomposition needs piecewise-linear layers ({names})")


# --------------------------------------------------------------------------- decomposition

@dataclass
class LayerSplit:
    """One layer ℓ of the decomposition for a batch: f_k = Σ weight_term + Σ bias part.

    ``z``: the layer's input z_ℓ; ``grad``: ∂f_k/∂z_ℓ; ``weight_term``: grad·z (same shape);
    ``tail_bias``: (N,) the bias of this and all later layers, weighted by the gradient.
    """

    index: int
    name: str
    z: torch.Tensor
    grad: torch.Tensor
    tail_bias: torch.Tensor

    @property
    def weight_term(self) -> torch.Tensor:
        return self.grad * self.z


@dataclass
class Decomposition:
    """The local linear model of logit ``target`` at each input of a batch, layer by layer."""

    model: nn.Sequential            # the float64 copy that was evaluated
    logit: torch.Tensor             # (N,) f_k(x)
    n_classes: int
    layers: list[LayerSplit]        # one per layer, in forward order; layers[0].z is x
    bias_grads: list[torch.Tensor | None]  # per layer: ∂f_k/∂(layer output) where it has a bias

    @property
    def gradient(self) -> torch.Tensor:
        """J(x) for logit k, the input's shape."""
        return self.layers[0].grad

    @property
    def bias(self) -> torch.Tensor:
        """(N,) b_x = f_k(x) − J(x)·x, computed from the biases (not as that difference)."""
        return self.layers[0].tail_bias


def _as_double(model: nn.Module) -> nn.Sequential:
    check_piecewise_linear(model)
    return copy.deepcopy(model).double().eval()


def _targets(target: int | Sequence[int] | torch.Tensor, n: int, n_classes: int) -> torch.Tensor:
    t = torch.as_tensor(target, dtype=torch.long).reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(f"target must be one class or one per image ({n}), got {t.numel()}")
    if (t < 0).any() or (t >= n_classes).any():
        raise ValueError(f"target must lie in [0, {n_classes}), got {t.tolist()}")
    return t.clone()


def _check_input(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[0] == 0:
        raise ValueError("x must be a tensor (N, ...) with at least one image")


def decompose(model: nn.Module, x: torch.Tensor, target: int | Sequence[int] | torch.Tensor) -> Decomposition:
    """The layer-by-layer split of logit ``target`` (one class, or one per image) at ``x`` (N, ...)."""
    _check_input(x)
    net = _as_double(model)
    z = x.detach().double().requires_grad_(True)
    inputs, outputs = [], []
    h = z
    for layer in net:
        inputs.append(h)
        h = layer(h)
        outputs.append(h)
    if h.dim() != 2:
        raise ValueError(f"the model's output must be (N, classes), got shape {tuple(h.shape)}")
    t = _targets(target, len(x), h.shape[1])
    logit = h.gather(1, t[:, None].to(h.device)).squeeze(1)
    with_bias = [i for i, layer in enumerate(net) if getattr(layer, "bias", None) is not None]
    wanted = inputs + [outputs[i] for i in with_bias]
    grads = torch.autograd.grad(logit.sum(), wanted, allow_unused=True)
    in_grads = [g if g is not None else torch.zeros_like(v) for g, v in zip(grads[:len(inputs)], inputs)]
    bias_grads: list[torch.Tensor | None] = [None] * len(net)
    for i, g in zip(with_bias, grads[len(inputs):]):
        bias_grads[i] = g if g is not None else torch.zeros_like(outputs[i])
    # Tail bias: the gradient-weighted bias of every layer from ℓ on.
    tail = torch.zeros(len(x), dtype=torch.float64, device=z.device)
    tails = [tail] * len(net)
    for i in reversed(range(len(net))):
        if bias_grads[i] is not None:
            tail = tail + _bias_term(net[i], bias_grads[i]).flatten(1).sum(1)
        tails[i] = tail
    layers = [LayerSplit(i, type(layer).__name__, inputs[i].detach(), in_grads[i].detach(), tails[i].detach())
              for i, layer in enumerate(net)]
    return Decomposition(net, logit.detach(), h.shape[1], layers, [g.detach() if g is not None else None for g in bias_grads])


def _bias_term(layer: nn.Module, grad_out: torch.Tensor) -> torch.Tensor:
    """grad_out ⊙ bias, the bias broadcast over the layer's output shape (N, ...)."""
    b = layer.bias.detach()
    if isinstance(layer, nn.Conv2d):
        b = b[:, None, None]
    return grad_out * b


def identity_error(model: nn.Module, x: torch.Tensor, targets: Sequence[int] | None = None) -> float:
    """Largest |f_k(x) − Σ_p (g_ℓ[p]·z_ℓ[p] + β_ℓ[p])| over images, layers ℓ and classes k (float64).

    ``targets``: the classes to check (default: every output).
    """
    _check_input(x)
    with torch.no_grad():
        n_classes = _as_double(model)(x[:1].double()).shape[1]
    worst = 0.0
    for k in (range(n_classes) if targets is None else targets):
        d = decompose(model, x, int(k))
        for split in d.layers:
            recon = split.weight_term.flatten(1).sum(1) + split.tail_bias
            worst = max(worst, float((recon - d.logit).abs().max()))
    return worst


def linear_split_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> dict[str, torch.Tensor]:
    """Logits (N, classes) of the full network and of its two local terms: ``'wx'`` = J(x)·x and
    ``'b'`` = b_x, for every class (one backward pass per class)."""
    _check_input(x)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    net = _as_double(model)
    full, wx = [], []
    for start in range(0, len(x), batch_size):
        z = x[start:start + batch_size].detach().double().requires_grad_(True)
        out = net(z)
        rows = []
        for k in range(out.shape[1]):
            (g,) = torch.autograd.grad(out[:, k].sum(), z, retain_graph=k + 1 < out.shape[1])
            rows.append((g * z).flatten(1).sum(1))
        full.append(out.detach())
        wx.append(torch.stack(rows, 1).detach())
    full_t, wx_t = torch.cat(full), torch.cat(wx)
    return {"full": full_t, "wx": wx_t, "b": full_t - wx_t}


def split_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> dict[str, np.ndarray]:
    """Per image, whether the prediction is right from the full logits (``'full'``), from J(x)·x only
    (``'wx'``) and from b_x only (``'b'``): three ``(N,)`` bool arrays."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    logits = linear_split_logits(model, x, batch_size)
    y = y.to(logits["full"].device)
    return {name: (out.argmax(1) == y).cpu().numpy() for name, out in logits.items()}


def split_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> dict[str, float]:
    """Test accuracy (%) predicting from the full logits, from J(x)·x only and from b_x only."""
    return {name: 100.0 * float(right.mean()) for name, right in split_correct(model, x, y, batch_size).items()}


# --------------------------------------------------------------------------- bias backpropagation

def _share_linear(apply: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], kernels: list[torch.Tensor],
                  z: torch.Tensor, total: torch.Tensor, rule: str) -> torch.Tensor:
    """Share ``total`` (the layer's output shape) over the inputs of a linear map with kernel K.

    ``apply(h, K)`` is the map with kernel K and no bias. Unit p gives input q the fraction
    K⁺[p,q]·h[q] / Σ_q' K⁺[p,q']·h[q'] with K⁺ = |K| (or ones), h = |z| (or ones) by ``rule``; a
    unit whose denominator is zero (all its inputs are 0) falls back to the next, coarser rule.
    """
    w_abs, w_one = kernels
    ones = torch.ones_like(z)
    cascade = {"contribution": [(w_abs, z.abs()), (w_abs, ones), (w_one, ones)],
               "weight": [(w_abs, ones), (w_one, ones)],
               "uniform": [(w_one, ones)]}[rule]
    out = torch.zeros_like(z)
    left = total
    for kernel, h in cascade:
        hz = h.detach().clone().requires_grad_(True)
        denom = apply(hz, kernel)
        ok = denom > 0
        ratio = torch.where(ok, left / torch.where(ok, denom, torch.ones_like(denom)), torch.zeros_like(denom))
        (back,) = torch.autograd.grad(denom, hz, ratio)
        out = out + h * back
        left = torch.where(ok, torch.zeros_like(left), left)
        if not bool((left != 0).any()):
            break
    return out


def _share(layer: nn.Module, z: torch.Tensor, total: torch.Tensor, rule: str) -> torch.Tensor:
    """What the inputs z of ``layer`` receive of ``total`` (the layer's output shape)."""
    if isinstance(layer, _PASS_THROUGH):
        return total  # one input per unit: it receives the whole share
    if isinstance(layer, nn.Flatten):
        return total.reshape(z.shape)
    if isinstance(layer, nn.MaxPool2d):
        # The local linear map selects one input per window: that input receives the unit's share.
        zz = z.detach().clone().requires_grad_(True)
        out = F.max_pool2d(zz, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                           ceil_mode=layer.ceil_mode)
        (back,) = torch.autograd.grad(out, zz, total)
        return back
    if isinstance(layer, nn.AvgPool2d):
        apply = lambda h, _k: layer(h)  # noqa: E731 - the pooling's own (non-negative) kernel
        return _share_linear(apply, [None, None], z, total, "weight" if rule == "uniform" else rule)
    if isinstance(layer, nn.Linear):
        w = layer.weight.detach()
        return _share_linear(lambda h, k: F.linear(h, k), [w.abs(), torch.ones_like(w)], z, total, rule)
    if isinstance(layer, nn.Conv2d):
        w = layer.weight.detach()
        return _share_linear(lambda h, k: layer._conv_forward(h, k, None), [w.abs(), torch.ones_like(w)],
                             z, total, rule)
    raise ValueError(f"layer {type(layer).__name__} is not supported")  # unreachable after the check


def bias_backprop(model: nn.Module, x: torch.Tensor, target: int | Sequence[int] | torch.Tensor,
                  rule: str = "contribution") -> list[torch.Tensor]:
    """Bias attributions β_ℓ at the input of every layer ℓ (list in forward order, float64).

    β_ℓ has z_ℓ's shape and Σ β_ℓ = the bias of layers ≥ ℓ weighted by the gradient; β_0 has the
    input's shape and sums to b_x for logit ``target``. ``rule``: one of :data:`BIAS_RULES`.
    """
    if rule not in BIAS_RULES:
        raise ValueError(f"rule must be one of {', '.join(BIAS_RULES)}; got {rule!r}")
    d = decompose(model, x, target)
    received = torch.zeros(len(x), d.n_classes, dtype=torch.float64, device=d.logit.device)
    betas: list[torch.Tensor] = [None] * len(d.model)  # type: ignore[list-item]
    for i in reversed(range(len(d.model))):
        layer = d.model[i]
        total = received
        if d.bias_grads[i] is not None:
            total = total + _bias_term(layer, d.bias_grads[i])
        received = _share(layer, d.layers[i].z, total, rule)
        betas[i] = received.detach()
    return betas


def bias_attribution(model: nn.Module, x: torch.Tensor, target: int | Sequence[int] | torch.Tensor,
                     rule: str = "contribution") -> torch.Tensor:
    """β_0: the bias b_x of logit ``target`` attributed to the input features; x's shape, float64."""
    return bias_backprop(model, x, target, rule)[0]


# --------------------------------------------------------------------------- Captum methods

def _captum_target(target: int | Sequence[int] | torch.Tensor, n: int) -> torch.Tensor:
    t = torch.as_tensor(target, dtype=torch.long).reshape(-1)
    return t.expand(n).clone() if t.numel() == 1 else t


def gradient(model: nn.Module, x: torch.Tensor, target: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
    """∂f_k/∂x (signed), via ``captum.attr.Saliency`` with ``abs=False``."""
    _check_input(x)
    model.eval()
    return Saliency(model).attribute(x.detach().clone().requires_grad_(True), target=_captum_target(target, len(x)),
                                     abs=False).detach()


def gradient_x_input(model: nn.Module, x: torch.Tensor, target: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
    """x ⊙ ∂f_k/∂x via ``captum.attr.InputXGradient``."""
    _check_input(x)
    model.eval()
    return InputXGradient(model).attribute(x.detach().clone().requires_grad_(True),
                                           target=_captum_target(target, len(x))).detach()


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: int | Sequence[int] | torch.Tensor,
                         n_steps: int, baseline: torch.Tensor | float = 0.0,
                         method: str = "riemann_right") -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated gradients with ``n_steps`` from ``baseline`` via ``captum.attr.IntegratedGradients``.

    Returns the attributions (x's shape) and Captum's convergence delta (N,): the completeness
    error Σ attribution − (f(x) − f(baseline)).
    """
    _check_input(x)
    if int(n_steps) < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps!r}")
    model.eval()
    if isinstance(baseline, torch.Tensor) and baseline.dim() == x.dim() - 1:
        baseline = baseline.unsqueeze(0).expand_as(x)
    attr, delta = IntegratedGradients(model).attribute(
        x.detach().clone().requires_grad_(True), baselines=baseline, target=_captum_target(target, len(x)),
        n_steps=int(n_steps), method=method, return_convergence_delta=True)
    return attr.detach(), delta.detach()


# --------------------------------------------------------------------------- methods by name

def method_names(ig_steps: Sequence[int]) -> list[str]:
    """Every method of the comparison: gradient, gradient×input, IG (one per step count), the bias
    rules, and ``random`` (a control)."""
    return (["gradient", "gradient×input"] + [f"IG n={n}" for n in ig_steps]
            + [f"bias ({r})" for r in BIAS_RULES] + ["random"])


def attribute(method: str, model: nn.Module, x: torch.Tensor, target: int | Sequence[int] | torch.Tensor,
              *, baseline: torch.Tensor | float = 0.0, ig_method: str = "riemann_right",
              seed: int = 0) -> torch.Tensor:
    """Attribution of logit ``target`` by ``method`` (a name from :func:`method_names`), float32 on x's device."""
    if method == "gradient":
        out = gradient(model, x, target)
    elif method == "gradient×input":
        out = gradient_x_input(model, x, target)
    elif method.startswith("IG n="):
        out, _ = integrated_gradients(model, x, target, int(method.removeprefix("IG n=")), baseline, ig_method)
    elif method.startswith("bias (") and method.endswith(")"):
        out = bias_attribution(model, x, target, method[len("bias ("):-1])
    elif method == "random":
        g = torch.Generator().manual_seed(seed)
        out = torch.rand(x.shape, generator=g)
    else:
        raise ValueError(f"unknown method {method!r}; expected one of gradient, gradient×input, "
                         f"'IG n=<steps>', {', '.join(f'bias ({r})' for r in BIAS_RULES)}, random")
    return out.to(dtype=torch.float32, device=x.device)


# --------------------------------------------------------------------------- digit flip


def digit_flip(model: nn.Module, x: torch.Tensor, source: int, target: int, methods: Sequence[str],
               n_remove: int, background: torch.Tensor, *, ig_method: str = "riemann_right",
               seed: int = 0) -> pd.DataFrame:
    """The digit-flip test (Shrikumar et al. 2017; the paper's Fig. 3) on images ``x`` of ``source``.

    For each method, score every input feature by attribution(source) − attribution(target), set the
    ``n_remove`` highest-scoring features to ``background`` and record the rise of the log-odds
    f_target − f_source (the log of p_target / p_source). One row per image and method.
    """
    _check_input(x)
    if source == target:
        raise ValueError(f"source and target must differ, got {source} and {target}")
    n_features = x[0].numel()
    if not 1 <= n_remove <= n_features:
        raise ValueError(f"n_remove must be in [1, {n_features}], got {n_remove!r}")
    model.eval()
    blank = background.to(x).expand_as(x[0])
    with torch.no_grad():
        before = model(x)
    odds_before = (before[:, target] - before[:, source]).cpu()
    rows = []
    for m in methods:
        if m == "random":  # one draw, so that the source and target scores do not cancel
            score = attribute(m, model, x, source, seed=seed)
        else:
            kw = dict(baseline=blank, ig_method=ig_method, seed=seed)
            score = attribute(m, model, x, source, **kw) - attribute(m, model, x, target, **kw)
        top = score.flatten(1).topk(n_remove, dim=1).indices
        mask = torch.zeros(len(x), n_features, dtype=torch.bool, device=x.device)
        mask.scatter_(1, top, True)
        mask = mask.view_as(x)
        x_removed = torch.where(mask, blank.expand_as(x), x)
        with torch.no_grad():
            after = model(x_removed)
        odds_after = (after[:, target] - after[:, source]).cpu()
        for i in range(len(x)):
            rows.append({"pair": f"{source}→{target}", "method": m, "image": i,
                         "log-odds before": float(odds_before[i]), "log-odds after": float(odds_after[i]),
                         "rise": float(odds_after[i] - odds_before[i])})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- choosing and summarising

def most_confident_per_class(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_classes: int,
                             per_class: int = 1) -> np.ndarray:
    """Indices of the ``per_class`` correctly classified images of each class with the largest
    softmax probability of their label (classes without a correct image are skipped)."""
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class!r}")
    model.eval()
    with torch.no_grad():
        p = torch.softmax(model(x), 1).cpu()
    y = y.cpu()
    p_label = p.gather(1, y[:, None]).squeeze(1)
    correct = p.argmax(1) == y
    picked = []
    for c in range(n_classes):
        idx = torch.nonzero(correct & (y == c)).flatten()
        order = idx[p_label[idx].argsort(descending=True)]
        picked.extend(order[:per_class].tolist())
    return np.asarray(picked, dtype=np.int64)


def correct_of_class(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cls: int, limit: int) -> torch.Tensor:
    """The first ``limit`` images (in order) of class ``cls`` that ``model`` classifies correctly."""
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1).cpu()
    idx = torch.nonzero((y.cpu() == cls) & (pred == cls)).flatten()[:limit]
    return x[idx.to(x.device)]


def spatial_maps(model: nn.Module, x: torch.Tensor, target: int | Sequence[int] | torch.Tensor,
                 rule: str = "contribution") -> list[dict[str, object]]:
    """Per layer whose input is a feature map (C, H, W): the weight part g_ℓ·z_ℓ and the bias part
    β_ℓ, each summed over channels → (N, H, W) NumPy arrays; ``layer`` names the layer it feeds."""
    d = decompose(model, x, target)
    betas = bias_backprop(model, x, target, rule)
    maps = []
    for split, beta in zip(d.layers, betas):
        feeds = d.model[split.index]
        if split.z.dim() != 4 or not (split.index == 0 or isinstance(feeds, (nn.Conv2d, nn.Flatten))):
            continue
        maps.append({"layer": f"{split.index}: input of {split.name}", "shape": tuple(split.z.shape[1:]),
                     "weight": split.weight_term.sum(1).cpu().numpy(), "bias": beta.sum(1).cpu().numpy()})
    return maps


def rank_agreement(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Spearman rank correlation of two attributions per image: (N, ...) × (N, ...) -> (N,)."""
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    ra = a.flatten(1).double().argsort(1).argsort(1).double()
    rb = b.flatten(1).double().argsort(1).argsort(1).double()
    ra = ra - ra.mean(1, keepdim=True)
    rb = rb - rb.mean(1, keepdim=True)
    return ((ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp_min(1e-12)).cpu().numpy()
